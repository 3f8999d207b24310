package devstack_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// TestClickHouseCluster starts a 2 × 2 cluster with its ZooKeeper, checks
// that every node knows the cluster and its macros, and that a replica
// stopped and started again catches up with what was written meanwhile.
func TestClickHouseCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := devstack.StartClickHouseCluster(ctx, devstack.ClickHouseClusterConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("2 × 2 cluster and ZooKeeper answering in %s", time.Since(start).Round(time.Millisecond))
	if len(c.Addrs()) != 4 || c.Name() != "pixel" {
		t.Fatalf("cluster %s with nodes %v", c.Name(), c.Addrs())
	}
	conn := func(s, r int) chstore.Conn {
		cn, err := chstore.Open(ctx, chstore.Options{Addr: []string{c.Node(s, r).Addr()}, Database: "default"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cn.Close() })
		return cn
	}
	for s := range 2 {
		for r := range 2 {
			var shard, replica string // 18.16 has no getMacro
			if err := conn(s, r).QueryRow(ctx, "SELECT anyIf(substitution, macro = 'shard'), anyIf(substitution, macro = 'replica') FROM system.macros").Scan(&shard, &replica); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("s%dr%d", s+1, r+1); shard != fmt.Sprint(s+1) || replica != want {
				t.Errorf("node (%d, %d) has macros shard=%s replica=%s", s, r, shard, replica)
			}
			n := devstacktest.QueryUint64(t, conn(s, r), "SELECT count() FROM system.clusters WHERE cluster = 'pixel'")
			if n != 4 {
				t.Errorf("node (%d, %d) sees %d replicas in cluster pixel", s, r, n)
			}
		}
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS x ON CLUSTER pixel",
		"CREATE TABLE IF NOT EXISTS x.t ON CLUSTER pixel (v UInt32) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/x/t', '{replica}') ORDER BY v",
	} {
		if err := conn(0, 0).Exec(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	// Replica 2 of shard 1 is down while rows are written to replica 1.
	down := c.Node(0, 1)
	if err := down.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := conn(0, 0).Exec(ctx, "INSERT INTO x.t SELECT number FROM system.numbers LIMIT 1000"); err != nil {
		t.Fatal(err)
	}
	if err := down.Start(ctx); err != nil {
		t.Fatal(err)
	}
	back := conn(0, 1)
	devstacktest.WaitFor(t, "the restarted replica to catch up", 60*time.Second, func() (bool, string) {
		n := devstacktest.QueryUint64(t, back, "SELECT count() FROM x.t")
		return n == 1000, fmt.Sprintf("%d rows", n)
	})
	// The other shard has its own copy of the table, empty.
	if n := devstacktest.QueryUint64(t, conn(1, 0), "SELECT count() FROM x.t"); n != 0 {
		t.Errorf("shard 2 holds %d rows of shard 1's table", n)
	}
}
