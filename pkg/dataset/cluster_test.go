package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// TestClusterReports loads the rollup tests' generated data set into the
// private 2 × 2 ClickHouse cluster (pixelctl migrate -cluster's schema)
// through the consumer's insert (chstore.Insert into the Distributed events,
// synchronously), and checks that every shipped query and audience gives
// the same rows there as on the single server. Then: a retried insert is
// stored once (replicated block de-duplication), and the registry written
// through one node reads the same on another.
func TestClusterReports(t *testing.T) {
	f := rollups(t)
	c := devstacktest.Cluster(t)
	o := devstacktest.ClusterDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nodeConn := func(s, r int) chstore.Conn {
		no := o
		no.Addr = []string{c.Node(s, r).Addr()}
		return devstacktest.Open(t, no)
	}
	// localCount is the events of events_local on one node, each copy of
	// a sorting key once (FINAL), or why they cannot be counted: a node
	// just started again may not answer yet, which a poll waits out rather
	// than fails on. A server started again merges again (SYSTEM STOP
	// MERGES does not survive a restart), and merges collapse the data
	// set's replays: raw counts then fall by design.
	localCount := func(ctx context.Context, s, r int) (uint64, error) {
		no := o
		no.Addr = []string{c.Node(s, r).Addr()}
		conn, err := chstore.Open(ctx, no)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		var n uint64
		err = conn.QueryRow(ctx, "SELECT count() FROM events_local FINAL").Scan(&n)
		return n, err
	}
	// As on the single server, merges of events are stopped so that both
	// hold the same parts' rows (the shipped queries are exact anyway).
	for s := range c.Shards() {
		for r := range c.Replicas() {
			if err := nodeConn(s, r).Exec(ctx, "SYSTEM STOP MERGES events_local"); err != nil {
				t.Fatal(err)
			}
		}
	}
	in := nodeConn(0, 0)  // writes
	out := nodeConn(1, 1) // reads
	start := time.Now()
	n, err := Insert(ctx, in, f.p, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d events into the cluster in %s: %.0f rows/s (batches of 10 000, insert_distributed_sync)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	// The same insert into a single server, for comparison, and what an
	// event costs on its disk.
	{
		so := devstacktest.Database(t)
		sconn := devstacktest.Open(t, so)
		start := time.Now()
		if _, err := Insert(ctx, sconn, f.p, 10_000); err != nil {
			t.Fatal(err)
		}
		t.Logf("the same events into a single server in %s: %.0f rows/s", time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
		if err := sconn.Exec(ctx, "OPTIMIZE TABLE events FINAL"); err != nil {
			t.Fatal(err)
		}
		var rows, comp, uncomp uint64
		if err := sconn.QueryRow(ctx, "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active").Scan(&rows, &comp, &uncomp); err != nil {
			t.Fatal(err)
		}
		t.Logf("single server, events after OPTIMIZE FINAL: %d rows, %.1f bytes per event compressed, %.1f uncompressed (%.1fx)", rows, float64(comp)/float64(rows), float64(uncomp)/float64(rows), float64(uncomp)/float64(comp))
		var all uint64
		if err := sconn.QueryRow(ctx, "SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = currentDatabase() AND active").Scan(&all); err != nil {
			t.Fatal(err)
		}
		t.Logf("single server, every table (rollups included): %.1f bytes per event compressed", float64(all)/float64(rows))
	}
	if n != f.n {
		t.Fatalf("inserted %d events, the single server holds %d", n, f.n)
	}
	if got := devstacktest.QueryUint64(t, out, "SELECT count() FROM events"); got != uint64(n) {
		t.Fatalf("the cluster's events holds %d rows right after the insert, want %d: the insert was not synchronous", got, n)
	}
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for _, conn := range []chstore.Conn{f.conn, in} {
		if _, err := LoadSpend(ctx, conn, f.p, now); err != nil {
			t.Fatal(err)
		}
	}

	queries, err := analysis.Queries()
	if err != nil {
		t.Fatal(err)
	}
	aud, err := analysis.QueriesIn("queries/audiences")
	if err != nil {
		t.Fatal(err)
	}
	compared, nonEmpty := 0, 0
	for _, q := range append(queries, aud...) {
		for _, px := range f.p.Config().Pixels {
			values := map[string]string{}
			for _, p := range q.Params {
				switch p.Name {
				case "pixel":
					values["pixel"] = px.ID
				case "from":
					values["from"] = ranges[0][0]
				case "to":
					values["to"] = ranges[0][1]
				case "tz":
					values["tz"] = px.TimeZone
				case "pattern":
					values["pattern"] = "%"
				default:
					if !p.HasDefault {
						t.Fatalf("query %s: no value for its parameter %s", q.Name, p.Name)
					}
				}
			}
			single, err := q.Run(ctx, f.conn, values)
			if err != nil {
				t.Fatalf("%s on the single server: %v", q.Name, err)
			}
			cluster, err := q.Run(ctx, out, values)
			if err != nil {
				t.Fatalf("%s on the cluster: %.400v", q.Name, err)
			}
			compared++
			if len(single.Rows) > 0 {
				nonEmpty++
			}
			if !reflect.DeepEqual(single.Columns, cluster.Columns) || !reflect.DeepEqual(single.Rows, cluster.Rows) {
				t.Errorf("%s %v: the cluster's answer differs\n single  %v\n cluster %v", q.Name, values, head(single.Rows), head(cluster.Rows))
			}
		}
	}
	if nonEmpty < compared*3/4 {
		t.Errorf("only %d of %d answers have rows: the comparison says little", nonEmpty, compared)
	}
	t.Logf("%d answers compared (%d queries × %d pixels), %d with rows", compared, len(queries)+len(aud), len(f.p.Config().Pixels), nonEmpty)

	t.Run("retried insert stored once", func(t *testing.T) {
		ctx := devstacktest.Context(t)
		cfg := DefaultConfig(99, 40)
		var rows chstore.Rows
		all := Generate(cfg).All()
		for i := range all {
			rows.Append(&all[i])
		}
		before := devstacktest.QueryUint64(t, out, "SELECT count() FROM events")
		for range 2 { // the consumer's retry after a lost answer: the same rows, in the same order
			if err := chstore.Insert(ctx, in, &rows, ""); err != nil {
				t.Fatal(err)
			}
		}
		if got := devstacktest.QueryUint64(t, out, "SELECT count() FROM events"); got != before+uint64(rows.Len()) {
			t.Fatalf("events grew by %d rows for a batch of %d inserted twice", got-before, rows.Len())
		}
		// And every replica has its shard's rows (replication, not only the
		// replica the insert reached).
		for s := range c.Shards() {
			devstacktest.WaitFor(t, fmt.Sprintf("the replicas of shard %d", s+1), 30*time.Second, func() (bool, string) {
				a, errA := localCount(ctx, s, 0)
				b, errB := localCount(ctx, s, 1)
				if err := errors.Join(errA, errB); err != nil {
					return false, err.Error()
				}
				return a == b && a > 0, fmt.Sprintf("%d and %d rows", a, b)
			})
		}
	})

	t.Run("registry across nodes", func(t *testing.T) {
		ctx := devstacktest.Context(t)
		if err := Register(ctx, in, f.p.Config().Pixels); err != nil {
			t.Fatal(err)
		}
		for _, px := range f.p.Config().Pixels {
			devstacktest.WaitFor(t, "pixel "+px.ID+" on another node", 30*time.Second, func() (bool, string) {
				p, err := registry.NewStore(out).Get(ctx, px.ID)
				if err != nil {
					return false, err.Error()
				}
				return p.TimeZone == px.TimeZone, p.TimeZone
			})
		}
	})

	// The consumer's promise on the cluster: an insert succeeds with a
	// replica of each shard up, and fails (the consumer retries, commits
	// nothing) while a whole shard is down.
	t.Run("insert with a replica down, refused with a shard down", func(t *testing.T) {
		// Four restarts of a server and the catch-ups between them: more
		// than devstacktest.Context's minute on a loaded machine.
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		var rows chstore.Rows
		all := Generate(DefaultConfig(98, 20)).All()
		for i := range all {
			rows.Append(&all[i])
		}
		reader := nodeConn(0, 1) // up all along
		stop := func(s, r int) {
			if err := c.Node(s, r).Stop(30 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		startNode := func(s, r int) {
			if err := c.Node(s, r).Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		shardCounts := func(when string) {
			a, errA := localCount(ctx, 0, 1)
			b, errB := localCount(ctx, 1, 1)
			t.Logf("%s: shard 1 replica 2 holds %d rows, shard 2 replica 2 %d (%v)", when, a, b, errors.Join(errA, errB))
		}
		shardCounts("before")
		stop(1, 0)
		if err := chstore.Insert(ctx, in, &rows, ""); err != nil {
			t.Fatalf("insert with replica 1 of shard 2 down: %v", err)
		}
		shardCounts("after the insert with replica 1 of shard 2 down")
		// What the cluster must hold from now on, each event once: read
		// with shard 2 on the replica that took the insert.
		want := devstacktest.QueryUint64(t, reader, "SELECT count() FROM events FINAL")
		// Replica 1 comes back and fetches the part, so that the shard's
		// rows are on both replicas before the whole shard goes down.
		startNode(1, 0)
		devstacktest.WaitFor(t, "replica 1 of shard 2 to catch up", 60*time.Second, func() (bool, string) {
			a, errA := localCount(ctx, 1, 0)
			b, errB := localCount(ctx, 1, 1)
			if err := errors.Join(errA, errB); err != nil {
				return false, err.Error()
			}
			return a == b, fmt.Sprintf("%d and %d events", a, b)
		})
		stop(1, 0)
		stop(1, 1)
		if err := chstore.Insert(ctx, in, &rows, ""); err == nil {
			t.Fatal("an insert with shard 2 down succeeded: it cannot have stored shard 2's rows")
		} else {
			t.Logf("with shard 2 down: %.200v", err)
		}
		// The failed insert may have stored shard 1's part; the same block
		// again is dropped by its hash, so the count is exact.
		startNode(1, 0)
		startNode(1, 1)
		shardCounts("shard 2 back")
		defer func() {
			if t.Failed() {
				log, _ := os.ReadFile(filepath.Join(c.Node(1, 1).Dir, "log", "err.log"))
				if len(log) > 3000 {
					log = log[len(log)-3000:]
				}
				t.Logf("shard 2 replica 2's err.log:\n%s", log)
			}
		}()
		devstacktest.WaitFor(t, "the cluster's events with shard 2 back", 30*time.Second, func() (bool, string) {
			var n uint64
			if err := reader.QueryRow(ctx, "SELECT count() FROM events FINAL").Scan(&n); err != nil {
				return false, err.Error()
			}
			if n == want {
				return true, ""
			}
			local, err := localCount(ctx, 1, 1)
			return false, fmt.Sprintf("%d events, want %d; shard 2 replica 2 holds %d (%v)", n, want, local, err)
		})
	})
}

func head(rows [][]string) [][]string {
	if len(rows) > 5 {
		return rows[:5]
	}
	return rows
}
