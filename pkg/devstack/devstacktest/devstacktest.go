// Package devstacktest gives tests the servers they run against: this test
// binary's private ClickHouse (devstack.ClickHouse, started once, stopped by
// RunTests), a fresh migrated database per test, and an in-process
// Kafka-protocol broker (kfake). Only tests import it, so neither the testing
// package nor kfake is linked into a binary that make run or production runs.
package devstacktest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

// The test binary's private ClickHouse, started on first use.
var shared struct {
	once sync.Once
	ch   *devstack.ClickHouse
	dir  string
	err  error
}

// RunTests runs a package's tests and then stops the private ClickHouse they
// started. Call it from TestMain: os.Exit(devstacktest.RunTests(m)).
func RunTests(m *testing.M) int {
	code := m.Run()
	if sharedCluster.c != nil {
		_ = sharedCluster.c.Close()
		_ = os.RemoveAll(sharedCluster.dir)
	}
	if shared.ch != nil {
		_ = shared.ch.Stop(30 * time.Second)
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

// ClickHouse returns this test binary's private ClickHouse server, starting
// it on first use. A missing clickhouse-server fails the test: `make test`
// installs it.
func ClickHouse(t testing.TB) *devstack.ClickHouse {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "pixel-clickhouse-")
		if shared.err != nil {
			return
		}
		shared.ch, shared.err = devstack.NewClickHouse(shared.dir, 0, 0)
		if shared.err != nil {
			return
		}
		shared.err = shared.ch.Start(context.Background())
		if shared.err != nil {
			shared.ch = nil
		}
	})
	if shared.err != nil {
		t.Fatalf("private ClickHouse: %v", shared.err)
	}
	return shared.ch
}

// The test binary's private ClickHouse cluster, started on first use.
var sharedCluster struct {
	once sync.Once
	c    *devstack.ClickHouseCluster
	dir  string
	err  error
}

// Cluster returns this test binary's private ClickHouse cluster (2 shards ×
// 2 replicas and ZooKeeper, devstack.StartClickHouseCluster), starting it on
// first use; RunTests stops it. Tests that stop a node must start it again
// before they end.
func Cluster(t testing.TB) *devstack.ClickHouseCluster {
	t.Helper()
	sharedCluster.once.Do(func() {
		sharedCluster.dir, sharedCluster.err = os.MkdirTemp("", "pixel-chcluster-")
		if sharedCluster.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sharedCluster.c, sharedCluster.err = devstack.StartClickHouseCluster(ctx, devstack.ClickHouseClusterConfig{Dir: sharedCluster.dir})
	})
	if sharedCluster.err != nil {
		t.Fatalf("private ClickHouse cluster: %v", sharedCluster.err)
	}
	return sharedCluster.c
}

// ClusterDatabase creates a fresh database on the test cluster, applies the
// migrations to it ON CLUSTER (pixelctl migrate -cluster) and returns the
// options that reach it through every node.
func ClusterDatabase(t testing.TB) chstore.Options {
	t.Helper()
	c := Cluster(t)
	o := chstore.Options{Addr: c.Addrs(), Database: dbName(t), Cluster: c.Name()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := chstore.Migrate(ctx, o); err != nil {
		t.Fatalf("migrate %s on cluster %s: %v", o.Database, c.Name(), err)
	}
	return o
}

func dbName(t testing.TB) string {
	name := strings.ToLower(nonIdent.ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t_%s_%06d", name, rand.IntN(1_000_000))
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// Database creates a fresh database on the test ClickHouse, applies the
// migrations to it and returns the options that reach it.
func Database(t testing.TB) chstore.Options {
	t.Helper()
	ch := ClickHouse(t)
	o := chstore.Options{Addr: []string{ch.Addr()}, Database: dbName(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := chstore.Migrate(ctx, o); err != nil {
		t.Fatalf("migrate %s: %v", o.Database, err)
	}
	return o
}

// Broker starts an in-process Kafka-protocol broker (kfake) with the given
// topics and partitions; it stops when the test ends.
func Broker(t testing.TB, partitions int, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(partitions),
		kfake.SeedTopics(int32(partitions), topics...),
	)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}
