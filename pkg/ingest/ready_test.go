package ingest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pixel-pipeline/pixel/pkg/batch"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// brokerAt starts a broker on a fixed loopback port that keeps its topics and
// committed offsets in dir, so that one started again on the port is the same
// broker back after an outage.
func brokerAt(t *testing.T, port int, dir string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.Ports(port),
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(partitions),
		kfake.SeedTopics(partitions, topic, dlqTopic),
		kfake.DataDir(dir),
	)
	if err != nil {
		t.Fatalf("start kfake on port %d: %v", port, err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitReadiness waits until Ready's answer satisfies ok.
func waitReadiness(t *testing.T, in *running, what string, ok func(error) bool) {
	t.Helper()
	waitFor(t, what, func() (bool, string) {
		err := in.Ready()
		return ok(err), fmt.Sprintf("Ready() = %v", err)
	})
}

// A consumer that cannot fetch from Kafka is not doing its job: it is unready
// from its start until it first reached Kafka, and while Kafka is away, and
// says so; it is ready again, and goes on, once Kafka is back.
func TestIngestReadyFollowsKafka(t *testing.T) {
	const n1, n2 = 60, 40
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	brokers, dir := []string{addr}, t.TempDir()
	conn := openDB(t, devstacktest.Database(t))
	const group = "g-ready"
	in := start(t, testConfig(brokers, group, batch.Policy{MaxRows: 100, MaxAge: 50 * time.Millisecond}), conn)

	// Nothing listens on the port yet.
	if err := in.Ready(); err == nil || !strings.Contains(err.Error(), "has not reached Kafka at "+addr) {
		t.Fatalf("Ready() = %v before any broker ran; want an error saying it has not reached Kafka at %s", err, addr)
	}
	broker := brokerAt(t, port, dir)
	waitReadiness(t, in, "ready once the broker runs", func(err error) bool { return err == nil })
	produce(t, brokers, testMessages("ready", 0, n1))
	waitAll(t, brokers, group, conn, n1)

	broker.Close()
	waitReadiness(t, in, "unready while the broker is stopped", func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "cannot fetch from Kafka at "+addr+" ")
	})
	t.Logf("while the broker was stopped: not ready: %v", in.Ready())

	brokerAt(t, port, dir)
	// The test's own clients share kafka-go's default transport, whose
	// pooled connections died with the broker.
	kafka.DefaultTransport.(*kafka.Transport).CloseIdleConnections()
	waitReadiness(t, in, "ready again once the broker is back", func(err error) bool { return err == nil })
	produce(t, brokers, testMessages("ready", n1, n1+n2))
	waitAll(t, brokers, group, conn, n1+n2)
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
