package publish_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/publish"
)

// The tests run the Publisher against franz-go's kfake broker in-process and
// read what arrived with kafka-go's Reader, a client independent of the writer.

const (
	topic      = "pixel.events"
	partitions = 4
	waitLimit  = 30 * time.Second // bounds every poll; a healthy run needs a fraction
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	devstacktest.WaitFor(t, what, waitLimit, cond)
}

type publisher struct {
	*publish.Publisher
	metrics *metrics.Set
}

func newPublisher(t *testing.T, cfg publish.Config) *publisher {
	t.Helper()
	cfg.Topic = topic
	if cfg.Linger == 0 {
		cfg.Linger = time.Millisecond
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 2 * time.Second
	}
	m := metrics.NewSet()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	p, err := publish.New(cfg, log, m)
	if err != nil {
		t.Fatal(err)
	}
	return &publisher{Publisher: p, metrics: m}
}

// metric returns the value of one series, e.g. `pixel_publish_dropped_total{reason="shutdown"}`.
func (p *publisher) metric(t *testing.T, series string) float64 {
	t.Helper()
	var b bytes.Buffer
	if err := p.metrics.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&b)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v
		}
	}
	t.Fatalf("metric %s not found in:\n%s", series, b.String())
	return 0
}

// Message i has the key visitor-<i%keys> and a value that names its key and
// sequence number, padded to various lengths.
func keyOf(i, keys int) string { return "visitor-" + strconv.Itoa(i%keys) }

func valueOf(i, keys int) string {
	return fmt.Sprintf("%s %d %s", keyOf(i, keys), i, strings.Repeat("x", i%200))
}

// publishRange publishes messages from..to-1 and returns how many were queued.
func (p *publisher) publishRange(from, to, keys int) int {
	queued := 0
	for i := from; i < to; i++ {
		m := p.Acquire()
		m.Key = append(m.Key, keyOf(i, keys)...)
		m.Value = append(m.Value, valueOf(i, keys)...)
		if p.Publish(m) {
			queued++
		}
	}
	return queued
}

type received struct {
	partition int
	offset    int64
	key       string
	seq       int
	value     string
	headers   []kafka.Header
}

// readAll reads every message of the topic, partition by partition, with
// kafka-go's Reader (no consumer group).
func readAll(t *testing.T, brokers []string) []received {
	t.Helper()
	// Its own transport: kafka.DefaultTransport would keep connections and
	// metadata of an earlier broker on the same address.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: transport}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(testContext(t), req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	var out []received
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("list offsets of partition %d: %v", po.Partition, po.Error)
		}
		if po.LastOffset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, Topic: topic, Partition: po.Partition,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		})
		for {
			m, err := r.ReadMessage(testContext(t))
			if err != nil {
				t.Fatalf("read partition %d: %v", po.Partition, err)
			}
			rec := received{partition: m.Partition, offset: m.Offset, key: string(m.Key), value: string(m.Value), headers: m.Headers}
			f := strings.Fields(rec.value)
			if len(f) < 2 || f[0] != rec.key {
				t.Fatalf("partition %d offset %d: key %q with value %q", m.Partition, m.Offset, rec.key, rec.value)
			}
			if rec.seq, err = strconv.Atoi(f[1]); err != nil {
				t.Fatalf("partition %d offset %d: value %q: %v", m.Partition, m.Offset, rec.value, err)
			}
			out = append(out, rec)
			if m.Offset == po.LastOffset-1 {
				break
			}
		}
		_ = r.Close()
	}
	return out
}

// checkDelivered checks that got holds exactly the messages from..to-1, each
// once with its value and the format header, every key in one partition
// (murmur2, as Java clients choose) and in publish order.
func checkDelivered(t *testing.T, got []received, from, to, keys int) {
	t.Helper()
	checkDeliveredOrder(t, got, from, to, keys, true)
}

// checkDeliveredOrder is checkDelivered, with the per-key order checked only
// when ordered is set.
func checkDeliveredOrder(t *testing.T, got []received, from, to, keys int, ordered bool) {
	t.Helper()
	seen := map[int]bool{}
	partitionOf := map[string]int{}
	lastSeq := map[string]int{}
	balancer := &kafka.Murmur2Balancer{}
	for _, r := range got {
		if seen[r.seq] {
			t.Fatalf("message %d arrived twice", r.seq)
		}
		seen[r.seq] = true
		if r.seq < from || r.seq >= to || r.value != valueOf(r.seq, keys) || r.key != keyOf(r.seq, keys) {
			t.Fatalf("unexpected message %+v", r)
		}
		if len(r.headers) != 1 || r.headers[0].Key != event.Header || string(r.headers[0].Value) != event.Version {
			t.Fatalf("message %d has headers %v, want exactly %s: %s", r.seq, r.headers, event.Header, event.Version)
		}
		if p, ok := partitionOf[r.key]; ok && p != r.partition {
			t.Fatalf("key %s in partitions %d and %d", r.key, p, r.partition)
		}
		partitionOf[r.key] = r.partition
		if want := balancer.Balance(kafka.Message{Key: []byte(r.key)}, 0, 1, 2, 3); r.partition != want {
			t.Fatalf("key %s in partition %d; murmur2 puts it in %d", r.key, r.partition, want)
		}
		if last, ok := lastSeq[r.key]; ordered && ok && r.seq < last {
			t.Fatalf("key %s: message %d after %d", r.key, r.seq, last)
		}
		lastSeq[r.key] = r.seq
	}
	if len(seen) != to-from {
		t.Fatalf("%d messages arrived, want %d", len(seen), to-from)
	}
	if len(partitionOf) > 1 {
		used := map[int]bool{}
		for _, p := range partitionOf {
			used[p] = true
		}
		if len(used) < 2 {
			t.Fatalf("%d keys all in one partition", len(partitionOf))
		}
	}
}

func TestPublishDeliversEveryMessage(t *testing.T) {
	const n, keys = 5000, 23
	cluster := devstacktest.Broker(t, partitions, topic)
	brokers := cluster.ListenAddrs()
	p := newPublisher(t, publish.Config{Brokers: brokers, BatchSize: 64})
	if err := p.Probe(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if p.Ready() != nil {
		t.Fatal("not healthy after a successful probe")
	}
	if q := p.publishRange(0, n, keys); q != n {
		t.Fatalf("queued %d of %d", q, n)
	}
	if err := p.Close(testContext(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if a := p.metric(t, "pixel_publish_acked_total"); a != n {
		t.Fatalf("acked_total = %v, want %d", a, n)
	}
	for _, reason := range []string{"queue_full", "shutdown"} {
		if d := p.metric(t, fmt.Sprintf("pixel_publish_dropped_total{reason=%q}", reason)); d != 0 {
			t.Fatalf("dropped %v (%s)", d, reason)
		}
	}
	checkDelivered(t, readAll(t, brokers), 0, n, keys)
}

func TestPublishQueueFullDropsAndStaysBounded(t *testing.T) {
	port, err := devstack.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	const queueSize, workers, batchSize = 16, 2, 8
	p := newPublisher(t, publish.Config{
		Brokers: []string{"127.0.0.1:" + strconv.Itoa(port)}, QueueSize: queueSize, Workers: workers, BatchSize: batchSize,
	})
	if err := p.Probe(testContext(t)); err == nil {
		t.Fatal("probe of a closed port succeeded")
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n, keys = 100_000, 50
	queued := 0
	for i := range n {
		m := p.Acquire()
		m.Key = append(m.Key, keyOf(i, keys)...)
		m.Value = append(m.Value, strings.Repeat("v", 1024)...)
		if p.Publish(m) {
			queued++
		}
		if p.QueueLen() > queueSize {
			t.Fatalf("queue holds %d messages, more than its size %d", p.QueueLen(), queueSize)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	// Every message is either in the queue, in a worker's batch, or dropped.
	if limit := queueSize + workers*batchSize; queued > limit || queued == 0 {
		t.Fatalf("queued %d messages; want 1..%d with a queue of %d and %d workers of %d", queued, limit, queueSize, workers, batchSize)
	}
	if d := p.metric(t, `pixel_publish_dropped_total{reason="queue_full"}`); d != float64(n-queued) {
		t.Fatalf("dropped{queue_full} = %v, want %d", d, n-queued)
	}
	// 100 MB went through Publish; what stays is the queue and the pool.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Fatalf("heap grew by %d bytes for a queue of %d", grown, queueSize)
	}
	if p.Ready() == nil {
		t.Fatal("healthy without a broker")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil {
		t.Fatal("Close without a broker returned no error")
	}
	if d := p.metric(t, `pixel_publish_dropped_total{reason="shutdown"}`); d != float64(queued) {
		t.Fatalf("dropped{shutdown} = %v, want the %d queued", d, queued)
	}
	if a := p.metric(t, "pixel_publish_acked_total"); a != 0 {
		t.Fatalf("acked %v without a broker", a)
	}
}

// seedCluster starts a kfake broker on port (0: any) with the test topic.
func seedCluster(t *testing.T, port int) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(partitions), kfake.SeedTopics(partitions, topic)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestPublishBrokerDownThenUp(t *testing.T) {
	const n1, n2, keys = 200, 600, 11
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	first := seedCluster(t, port)
	brokers := first.ListenAddrs()
	p := newPublisher(t, publish.Config{Brokers: brokers, BatchSize: 32})
	if err := p.Probe(testContext(t)); err != nil {
		t.Fatal(err)
	}
	p.publishRange(0, n1, keys)
	waitFor(t, "the first messages acknowledged", func() (bool, string) {
		a := p.metric(t, "pixel_publish_acked_total")
		return a == n1, fmt.Sprintf("%v acked", a)
	})
	checkDelivered(t, readAll(t, brokers), 0, n1, keys)

	first.Close()
	if q := p.publishRange(n1, n1+n2, keys); q != n2 {
		t.Fatalf("queued %d of %d while Kafka is down", q, n2)
	}
	waitFor(t, "writes to fail", func() (bool, string) {
		e := p.metric(t, "pixel_publish_errors_total")
		return e > 0 && p.Ready() != nil, fmt.Sprintf("%v errors, ready: %v", e, p.Ready())
	})
	if a := p.metric(t, "pixel_publish_acked_total"); a != n1 {
		t.Fatalf("acked %v, want %d: nothing can be acknowledged while Kafka is down", a, n1)
	}

	second := seedCluster(t, port) // same address, empty topic
	waitFor(t, "the queued messages acknowledged by the new broker", func() (bool, string) {
		a := p.metric(t, "pixel_publish_acked_total")
		return a == n1+n2 && p.Ready() == nil, fmt.Sprintf("%v acked, ready: %v", a, p.Ready())
	})
	if err := p.Close(testContext(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkDelivered(t, readAll(t, second.ListenAddrs()), n1, n1+n2, keys)
	if d := p.metric(t, `pixel_publish_dropped_total{reason="shutdown"}`); d != 0 {
		t.Fatalf("dropped %v at shutdown", d)
	}
}

func TestPublishCloseDeadlineWhileDown(t *testing.T) {
	const n, keys = 300, 7
	cluster := seedCluster(t, 0)
	p := newPublisher(t, publish.Config{Brokers: cluster.ListenAddrs(), BatchSize: 16})
	if err := p.Probe(testContext(t)); err != nil {
		t.Fatal(err)
	}
	cluster.Close()
	if q := p.publishRange(0, n, keys); q != n {
		t.Fatalf("queued %d of %d", q, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := p.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Close = %v, want a deadline error", err)
	}
	acked := p.metric(t, "pixel_publish_acked_total")
	dropped := p.metric(t, `pixel_publish_dropped_total{reason="shutdown"}`)
	if acked != 0 || dropped != n {
		t.Fatalf("acked %v, dropped{shutdown} %v; want 0 and %d", acked, dropped, n)
	}
}
