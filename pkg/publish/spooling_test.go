package publish_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/publish"
	"github.com/pixel-pipeline/pixel/pkg/spool"
)

// A broker address with nothing listening yet, and a way to start kfake there.
func downBroker(t *testing.T) (addr string, start func() *kfake.Cluster) {
	t.Helper()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port), func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(partitions, topic))
		if err != nil {
			t.Fatalf("start kfake on port %d: %v", port, err)
		}
		t.Cleanup(c.Close)
		return c
	}
}

func spoolConfig(brokers []string, dir string) publish.Config {
	return publish.Config{
		Brokers:   brokers,
		BatchSize: 64,
		SpoolDir:  dir,
		Spool:     spool.Options{SegmentBytes: 64 << 10, Fsync: spool.Never},
		// Long, so that a slow run (-race) does not spool events that
		// Kafka acknowledges after all; TestHungBroker tests the bound.
		SpoolAfter: 10 * time.Second,
	}
}

func TestSpoolWhileKafkaIsDownThenDrain(t *testing.T) {
	const n1, n2, keys = 3000, 2000, 31
	addr, startBroker := downBroker(t)
	p := newPublisher(t, spoolConfig([]string{addr}, t.TempDir()))

	// Kafka is down: every event is taken (spooled), none dropped, and the
	// publisher stays ready for the load balancer.
	if got := p.publishRange(0, n1, keys); got != n1 {
		t.Fatalf("%d of %d events taken while Kafka is down", got, n1)
	}
	waitFor(t, "every event in the spool", func() (bool, string) {
		s := p.metric(t, "pixel_publish_spooled_total")
		return s == n1 && p.QueueLen() == 0, fmt.Sprintf("spooled %v, queued %d", s, p.QueueLen())
	})
	if p.Ready() != nil || p.KafkaHealthy() {
		t.Fatalf("Ready() = %v, KafkaHealthy %v while Kafka is down with room in the spool", p.Ready(), p.KafkaHealthy())
	}
	if v := p.metric(t, "pixel_publish_spooling"); v != 1 {
		t.Fatalf("pixel_publish_spooling = %v", v)
	}

	// Kafka comes back: the spool drains in order, then events go direct.
	startBroker()
	waitFor(t, "the spool to drain", func() (bool, string) {
		r, s := p.metric(t, "pixel_publish_replayed_total"), p.metric(t, "pixel_publish_spooling")
		return r == n1 && s == 0, fmt.Sprintf("replayed %v, spooling %v", r, s)
	})
	if got := p.publishRange(n1, n1+n2, keys); got != n2 {
		t.Fatalf("%d of %d events taken after Kafka came back", got, n2)
	}
	if err := p.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	// Events a worker held while its write failed reach the spool after
	// events that Publish appended directly once spooling began, so the
	// per-key order is not checked across the outage (see spooling.go).
	checkDeliveredOrder(t, readAll(t, []string{addr}), 0, n1+n2, keys, false)
	if v := p.metric(t, "pixel_spool_records"); v != 0 {
		t.Fatalf("pixel_spool_records = %v after the drain", v)
	}
}

func TestSpoolSurvivesRestart(t *testing.T) {
	const n, keys = 2500, 17
	addr, startBroker := downBroker(t)
	dir := t.TempDir()

	first := newPublisher(t, spoolConfig([]string{addr}, dir))
	if got := first.publishRange(0, n, keys); got != n {
		t.Fatalf("%d of %d taken", got, n)
	}
	// Close with Kafka down: nothing is dropped, the spool keeps it all.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = first.Close(ctx)
	if d := first.metric(t, `pixel_publish_dropped_total{reason="shutdown"}`); d != 0 {
		t.Fatalf("%v events dropped at shutdown with a spool", d)
	}

	startBroker()
	second := newPublisher(t, spoolConfig([]string{addr}, dir))
	waitFor(t, "the earlier run's spool to be replayed", func() (bool, string) {
		r := second.metric(t, "pixel_publish_replayed_total")
		return r >= n && second.metric(t, "pixel_publish_spooling") == 0, fmt.Sprintf("replayed %v", r)
	})
	if err := second.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	checkDeliveredOrder(t, readAll(t, []string{addr}), 0, n, keys, false)
}

func TestSpoolFullDropsAndTurnsUnready(t *testing.T) {
	addr, startBroker := downBroker(t)
	cfg := spoolConfig([]string{addr}, t.TempDir())
	cfg.Spool.MaxBytes = 64 << 10 // about 200 of these events
	cfg.Spool.SegmentBytes = 16 << 10
	cfg.QueueSize = 64 // so that Publish itself meets the full spool
	p := newPublisher(t, cfg)

	const n, keys = 2000, 5
	taken := p.publishRange(0, n, keys)
	waitFor(t, "the spool to fill", func() (bool, string) {
		d := p.metric(t, `pixel_publish_dropped_total{reason="spool_full"}`)
		s := p.metric(t, "pixel_publish_spooled_total")
		return d > 0 && d+s == n && p.QueueLen() == 0, fmt.Sprintf("dropped %v, spooled %v, queued %d", d, s, p.QueueLen())
	})
	if taken == n {
		t.Fatalf("all %d events reported as taken with a 64 KiB spool", n)
	}
	if p.Ready() == nil {
		t.Fatal("Healthy with a full spool: /readyz must turn unready")
	}
	if b := p.metric(t, "pixel_spool_bytes"); b > float64(cfg.Spool.MaxBytes) {
		t.Fatalf("spool holds %v bytes, more than its %d", b, cfg.Spool.MaxBytes)
	}
	spooled := int(p.metric(t, "pixel_publish_spooled_total"))

	startBroker()
	waitFor(t, "the spool to drain and the publisher to recover", func() (bool, string) {
		return p.Ready() == nil && p.metric(t, "pixel_publish_spooling") == 0, fmt.Sprintf("ready: %v", p.Ready())
	})
	if err := p.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if got := len(readAll(t, []string{addr})); got != spooled {
		t.Fatalf("%d events in Kafka, want the %d that were spooled", got, spooled)
	}
}

// TestHungBroker: the broker keeps its connections but stops answering
// produce requests. Events must not wait in memory for kafka-go's produce
// timeout: within SpoolAfter every event is on disk, Close returns without
// waiting for the hung writes, and the next start delivers them all.
func TestHungBroker(t *testing.T) {
	const before, during, keys = 300, 1000, 17
	cluster := seedCluster(t, 0)
	var hung atomic.Bool
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return nil, nil, hung.Load() // handled with no answer: the client waits
	})
	dir := t.TempDir()
	cfg := spoolConfig(cluster.ListenAddrs(), dir)
	cfg.SpoolAfter = 100 * time.Millisecond
	cfg.WriteTimeout = time.Minute // far beyond every wait of this test
	p := newPublisher(t, cfg)
	if err := p.Probe(testContext(t)); err != nil {
		t.Fatal(err)
	}
	p.publishRange(0, before, keys)
	waitFor(t, "the first events acknowledged", func() (bool, string) {
		a := p.metric(t, "pixel_publish_acked_total")
		return a == before, fmt.Sprintf("acked %v", a)
	})

	hung.Store(true)
	if got := p.publishRange(before, before+during, keys); got != during {
		t.Fatalf("%d of %d events taken while the broker hangs", got, during)
	}
	waitFor(t, "every event published during the hang on disk", func() (bool, string) {
		s := p.metric(t, "pixel_publish_spooled_total")
		return s >= during && p.QueueLen() == 0, fmt.Sprintf("spooled %v, queued %d", s, p.QueueLen())
	})
	if p.KafkaHealthy() {
		t.Fatal("KafkaHealthy while no write has been acknowledged for longer than SpoolAfter")
	}
	if err := p.Ready(); err != nil {
		t.Fatalf("Ready() = %v with room in the spool", err)
	}
	// Close does not wait for the hung writes: its deadline is not reached,
	// so nothing is reported lost.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close while the broker hangs: %v", err)
	}
	if d := p.metric(t, `pixel_publish_dropped_total{reason="shutdown"}`); d != 0 {
		t.Fatalf("dropped %v at shutdown", d)
	}

	// The broker answers again; the next start replays the spool.
	hung.Store(false)
	p2 := newPublisher(t, cfg)
	waitFor(t, "the spool replayed", func() (bool, string) {
		r, s := p2.metric(t, "pixel_publish_replayed_total"), p2.metric(t, "pixel_publish_spooling")
		return r >= during && s == 0, fmt.Sprintf("replayed %v, spooling %v", r, s)
	})
	if err := p2.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, r := range readAll(t, cluster.ListenAddrs()) {
		seen[r.seq] = true
	}
	for i := range before + during {
		if !seen[i] {
			t.Fatalf("event %d never reached Kafka", i)
		}
	}
}
