package devstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

func TestClickHouseClusterExplore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := devstack.StartClickHouseCluster(ctx, devstack.ClickHouseClusterConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("cluster up in %s: %v zk %s", time.Since(start), c.Addrs(), c.ZooKeeper().Addr())
	conn, err := chstore.Open(ctx, chstore.Options{Addr: []string{c.Addrs()[0]}, Database: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS dbx ON CLUSTER pixel",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	conn2, err := chstore.Open(ctx, chstore.Options{Addr: []string{c.Addrs()[0]}, Database: "dbx"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS tl ON CLUSTER pixel (x String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/dbx/tl', '{replica}') ORDER BY x",
		"CREATE TABLE IF NOT EXISTS t ON CLUSTER pixel AS tl ENGINE = Distributed(pixel, dbx, tl, cityHash64(x))",
	} {
		if err := conn2.Exec(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	rows, err := conn.Query(ctx, "SELECT database, name, engine FROM system.tables WHERE name IN ('t','tl')")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, e string
		rows.Scan(&a, &b, &e)
		t.Log(a, b, e)
	}
}
