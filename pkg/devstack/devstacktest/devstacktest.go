// Package devstacktest gives tests the servers they run against: this test
// binary's private ClickHouse, ClickHouse cluster and Apache Kafka broker
// (each started once, on first use, and stopped by RunTests), a fresh
// migrated database per test, and an in-process
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

// server is a server this test binary shares between its tests: started
// on first use in a temporary directory of its own, stopped and removed by
// RunTests.
type server[T any] struct {
	once sync.Once
	v    T
	dir  string
	err  error
	stop func(T) error
}

// get returns the server, starting it with start in a new directory
// (pixel-<name>-*) on first use, to be stopped with stop; a failed start
// fails every test that asks.
func (s *server[T]) get(t testing.TB, what, name string, start func(ctx context.Context, dir string) (T, error), stop func(T) error) T {
	t.Helper()
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "pixel-"+name+"-"); s.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if s.v, s.err = start(ctx, s.dir); s.err == nil {
			s.stop = stop
		}
	})
	if s.err != nil {
		t.Fatalf("%s: %v", what, s.err)
	}
	return s.v
}

// close stops the server if it was started and removes its directory.
func (s *server[T]) close() {
	if s.stop != nil {
		_ = s.stop(s.v)
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// The test binary's shared servers.
var (
	sharedClickHouse server[*devstack.ClickHouse]
	sharedCluster    server[*devstack.ClickHouseCluster]
	sharedKafka      server[*devstack.Kafka]
)

// RunTests runs a package's tests and then stops the shared servers they
// started (ClickHouse, the ClickHouse cluster, Apache Kafka). Call it from
// TestMain: os.Exit(devstacktest.RunTests(m)).
func RunTests(m *testing.M) int {
	code := m.Run()
	sharedKafka.close()
	sharedCluster.close()
	sharedClickHouse.close()
	return code
}

// ClickHouse returns this test binary's private ClickHouse server, starting
// it on first use. A missing clickhouse-server fails the test: `make test`
// installs it.
func ClickHouse(t testing.TB) *devstack.ClickHouse {
	t.Helper()
	return sharedClickHouse.get(t, "private ClickHouse", "clickhouse", func(ctx context.Context, dir string) (*devstack.ClickHouse, error) {
		ch, err := devstack.NewClickHouse(dir, 0, 0)
		if err != nil {
			return nil, err
		}
		return ch, ch.Start(ctx)
	}, func(ch *devstack.ClickHouse) error { return ch.Stop(30 * time.Second) })
}

// Cluster returns this test binary's private ClickHouse cluster (2 shards ×
// 2 replicas and ZooKeeper, devstack.StartClickHouseCluster), starting it on
// first use; RunTests stops it. Tests that stop a node must start it again
// before they end.
func Cluster(t testing.TB) *devstack.ClickHouseCluster {
	t.Helper()
	return sharedCluster.get(t, "private ClickHouse cluster", "chcluster", func(ctx context.Context, dir string) (*devstack.ClickHouseCluster, error) {
		return devstack.StartClickHouseCluster(ctx, devstack.ClickHouseClusterConfig{Dir: dir})
	}, (*devstack.ClickHouseCluster).Close)
}

// Kafka returns this test binary's Apache Kafka broker (one broker, 4
// partitions per topic, devstack.StartKafka), starting it on first use;
// RunTests stops it. The tests that share it use topics and consumer
// groups of their own; a test that stops a broker starts one of its own.
func Kafka(t testing.TB) *devstack.Kafka {
	t.Helper()
	return sharedKafka.get(t, "Apache Kafka", "kafka", func(ctx context.Context, dir string) (*devstack.Kafka, error) {
		return devstack.StartKafka(ctx, devstack.KafkaConfig{Dir: dir, Brokers: 1, Partitions: 4})
	}, (*devstack.Kafka).Close)
}

// ClusterDatabase creates a fresh database on the test cluster, applies the
// migrations to it ON CLUSTER (pixelctl migrate -cluster) and returns the
// options that reach it through every node.
func ClusterDatabase(t testing.TB) chstore.Options {
	t.Helper()
	c := Cluster(t)
	o := chstore.Options{Addr: c.Addrs(), Database: dbName(t), Cluster: c.Name()}
	// Every ON CLUSTER statement waits for all four nodes through
	// ZooKeeper; 0004's 34 column additions alone took over a minute in a
	// make test run with the other packages' servers beside them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Migrate is idempotent: a statement a loaded node dropped (a
	// connection closed mid-DDL) is tried again, until the deadline.
	for {
		_, err := chstore.Migrate(ctx, o)
		if err == nil {
			return o
		}
		if ctx.Err() != nil {
			t.Fatalf("migrate %s on cluster %s: %v", o.Database, c.Name(), err)
		}
		t.Logf("migrate %s on cluster %s, once more: %v", o.Database, c.Name(), err)
		time.Sleep(time.Second)
	}
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
