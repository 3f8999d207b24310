package chstore_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
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
}
