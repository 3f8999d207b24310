package chstore_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-faster/city"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// TestMigrateCluster applies every migration ON CLUSTER to the private
// 2 × 2 cluster, twice, and once more after a partial run, and checks the
// cluster schema on every node: sharded tables as <t>_local
// Replicated*MergeTree and Distributed <t>, global tables replicated, the
// views on the local tables.
func TestMigrateCluster(t *testing.T) {
	o := devstacktest.ClusterDatabase(t) // the first run
	ctx := testContext(t)
	res, err := chstore.Migrate(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.Current != 13 {
		t.Fatalf("second migrate applied %d migrations and is at %d; want none and 13", len(res.Applied), res.Current)
	}
	c := devstacktest.Cluster(t)
	want := map[string]string{
		"schema_migrations": "ReplicatedMergeTree",
		"events_local":      "ReplicatedReplacingMergeTree", "events": "Distributed",
		"daily_stats_local": "ReplicatedAggregatingMergeTree", "daily_stats": "Distributed",
		"sessions_local": "ReplicatedAggregatingMergeTree", "sessions": "Distributed",
		"page_views_local": "ReplicatedAggregatingMergeTree", "page_views": "Distributed",
		"visitors_local": "ReplicatedAggregatingMergeTree", "visitors": "Distributed",
		"pixels": "ReplicatedReplacingMergeTree", "erasures": "ReplicatedMergeTree",
		"ad_spend": "ReplicatedReplacingMergeTree", "users": "ReplicatedReplacingMergeTree",
		"api_tokens": "ReplicatedReplacingMergeTree", "destinations": "ReplicatedReplacingMergeTree",
		"events_unique": "View", "daily_stats_mv": "MaterializedView", "sessions_mv": "MaterializedView",
		"page_views_mv": "MaterializedView", "visitors_mv": "MaterializedView",
	}
	var wantList []string
	for k, v := range want {
		wantList = append(wantList, k+" "+v)
	}
	sort.Strings(wantList)
	for _, addr := range c.Addrs() {
		no := o
		no.Addr = []string{addr}
		conn := open(t, no)
		rows, err := conn.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var n, e string
			if err := rows.Scan(&n, &e); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(n, ".inner") {
				got = append(got, n+" "+e)
			}
		}
		rows.Close()
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(wantList) {
			t.Errorf("node %s tables\n %v\nwant\n %v", addr, got, wantList)
		}
		// The Distributed table has the local table's columns, the
		// tracking ones included.
		if n := queryUint64(t, conn, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'events'"); n != queryUint64(t, conn, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'events_local'") || n < 40 {
			t.Errorf("node %s: events has %d columns, not those of events_local", addr, n)
		}
		// 0003 requires 22.2: skipped on 18.16, not recorded.
		if n := queryUint64(t, conn, "SELECT uniqExact(version) FROM schema_migrations"); n != 12 {
			t.Errorf("node %s: schema_migrations holds %d versions, want 12", addr, n)
		}
	}

	// A run that died after migration 8: the later records are gone and
	// their statements run again.
	conn := open(t, o)
	if err := conn.Exec(ctx, "ALTER TABLE schema_migrations ON CLUSTER "+o.Cluster+" DELETE WHERE version > 8"); err != nil {
		t.Fatal(err)
	}
	devstacktest.WaitFor(t, "the mutation of schema_migrations", 30*time.Second, func() (bool, string) {
		n := queryUint64(t, conn, "SELECT count() FROM schema_migrations")
		return n == 7, fmt.Sprintf("%d records", n)
	})
	res, err = chstore.Migrate(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 5 || res.Current != 13 {
		t.Fatalf("migrate after a partial run applied %d migrations, at %d; want 5 and 13", len(res.Applied), res.Current)
	}

	measureClusterInserts(t, o)
}

// measureClusterInserts compares the consumer's two ways of a committed
// insert into the cluster on the generated data set, batch by batch in
// turn: chstore.Insert into the Distributed events with
// insert_distributed_sync, and the batch split by the same sharding key in
// Go (CityHash64 as ClickHouse's cityHash64, modulo the shards) and each
// part inserted into events_local on a replica of its shard. It checks that
// the split puts every row where the Distributed table does.
func measureClusterInserts(t *testing.T, o chstore.Options) {
	ctx := testContext(t)
	c := devstacktest.Cluster(t)
	conn := open(t, o)
	var local []chstore.Conn
	for s := range c.Shards() {
		no := o
		no.Addr = []string{c.Node(s, 0).Addr()}
		local = append(local, open(t, no))
	}
	cfg := dataset.DefaultConfig(7, 900)
	var all chstore.Rows
	parts := make([]chstore.Rows, c.Shards())
	var dist, split time.Duration
	n := 0
	flush := func() {
		start := time.Now()
		if err := chstore.Insert(ctx, conn, &all, ""); err != nil {
			t.Fatal(err)
		}
		dist += time.Since(start)
		start = time.Now()
		for s := range parts {
			if err := chstore.InsertLocal(ctx, local[s], "events_local", &parts[s]); err != nil {
				t.Fatal(err)
			}
			parts[s].Reset()
		}
		split += time.Since(start)
		n += all.Len()
		all.Reset()
	}
	if err := dataset.Generate(cfg).Events(func(e *event.Event) error {
		all.Append(e)
		parts[city.CH64(e.VisitorID)%uint64(len(parts))].Append(e)
		if all.Len() == 10_000 {
			flush()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	flush()
	t.Logf("%d events in batches of 10 000, one client: Distributed with insert_distributed_sync %.0f rows/s, split per shard into events_local %.0f rows/s",
		n, float64(n)/dist.Seconds(), float64(n)/split.Seconds())
	for s, lc := range local {
		if wrong := queryUint64(t, lc, fmt.Sprintf("SELECT count() FROM events_local WHERE cityHash64(visitor_id) %% %d != %d", len(local), s)); wrong != 0 {
			t.Errorf("shard %d holds %d rows of another shard: the split in Go differs from the Distributed table's", s+1, wrong)
		}
	}
}
