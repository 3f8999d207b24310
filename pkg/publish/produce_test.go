package publish_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pixel-pipeline/pixel/pkg/publish"
)

// observeBatches records, for every produce request the broker receives, the
// record batch of each partition, and lets the broker handle the request.
func observeBatches(c *kfake.Cluster) (batches func() []kmsg.RecordBatch) {
	var mu sync.Mutex
	var seen []kmsg.RecordBatch
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, t := range r.(*kmsg.ProduceRequest).Topics {
			for _, p := range t.Partitions {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(p.Records); err == nil {
					seen = append(seen, b)
				}
			}
		}
		return nil, nil, false
	})
	return func() []kmsg.RecordBatch {
		mu.Lock()
		defer mu.Unlock()
		return append([]kmsg.RecordBatch(nil), seen...)
	}
}

// TestPublishCompression: with each -publish-compression codec, the record
// batches say so in their attributes and every event reads back intact.
func TestPublishCompression(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec int16
	}{{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			const n, keys = 1500, 19
			cluster := seedCluster(t, 0)
			batches := observeBatches(cluster)
			p := newPublisher(t, publish.Config{Brokers: cluster.ListenAddrs(), BatchSize: 256, Compression: tc.name})
			if q := p.publishRange(0, n, keys); q != n {
				t.Fatalf("queued %d of %d", q, n)
			}
			if err := p.Close(testContext(t)); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if a := p.metric(t, "pixel_publish_acked_total"); a != n {
				t.Fatalf("acked_total = %v, want %d", a, n)
			}
			bs := batches()
			if len(bs) == 0 {
				t.Fatal("the broker saw no record batch")
			}
			for _, b := range bs {
				if b.Attributes&7 != tc.codec {
					t.Fatalf("a batch with attributes %#x, want compression %d", b.Attributes, tc.codec)
				}
			}
			checkDelivered(t, readAll(t, cluster.ListenAddrs()), 0, n, keys)
		})
	}
}

// TestPublishSplitsLargeBatches: a worker's batch larger than BatchBytes in
// one partition goes out as several record batches of at most BatchBytes,
// one after the other, in order. (The worker's batch counts the values'
// bytes only, so with one key each batch of BatchBytes of values is larger
// than BatchBytes once encoded, and must be split.)
func TestPublishSplitsLargeBatches(t *testing.T) {
	const n, keys, batchBytes = 3000, 1, 4096
	cluster := seedCluster(t, 0)
	batches := observeBatches(cluster)
	p := newPublisher(t, publish.Config{Brokers: cluster.ListenAddrs(), Workers: 1, BatchSize: 1000, BatchBytes: batchBytes})
	if q := p.publishRange(0, n, keys); q != n {
		t.Fatalf("queued %d of %d", q, n)
	}
	if err := p.Close(testContext(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	bs := batches()
	for _, b := range bs {
		if size := int(b.Length) + 12; size > batchBytes {
			t.Fatalf("a record batch of %d bytes (%d records), more than BatchBytes %d", size, b.NumRecords, batchBytes)
		}
	}
	if len(bs) < n*100/batchBytes {
		t.Fatalf("%d record batches for %d events of about 100 bytes each, in batches of at most %d bytes", len(bs), n, batchBytes)
	}
	checkDelivered(t, readAll(t, cluster.ListenAddrs()), 0, n, keys)
}

// partitionOf is where the publisher puts key among the test's partitions.
func partitionOf(key string) int32 {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	return int32((&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(key)}, ids...))
}

// oneBatch is a config whose one worker writes the n events published at
// once as one batch.
func oneBatch(brokers []string, n int) publish.Config {
	return publish.Config{Brokers: brokers, Workers: 1, BatchSize: n, Linger: 5 * time.Second}
}

// TestPublishPartitionErrorRetriesThatPartition: when the broker fails one
// partition of a produce request, the events of the other partitions count
// as acknowledged at once and only the failed partition's are written again
// (without a spool, until Kafka takes them): each event arrives once, in
// order.
func TestPublishPartitionErrorRetriesThatPartition(t *testing.T) {
	const n, keys = 400, 23
	cluster := seedCluster(t, 0)
	const failed = 2
	cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{failed}, Err: kerr.NotEnoughReplicas, Count: 2})
	batches := observeBatches(cluster)
	p := newPublisher(t, oneBatch(cluster.ListenAddrs(), n))
	if q := p.publishRange(0, n, keys); q != n {
		t.Fatalf("queued %d of %d", q, n)
	}
	waitFor(t, "every event acknowledged", func() (bool, string) {
		a := p.metric(t, "pixel_publish_acked_total")
		return a == n, fmt.Sprintf("%v acked", a)
	})
	if err := p.Close(testContext(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if e := p.metric(t, "pixel_publish_errors_total"); e != 2 {
		t.Fatalf("errors_total = %v, want the 2 faulted attempts", e)
	}
	inFailed := 0
	for i := range n {
		if partitionOf(keyOf(i, keys)) == failed {
			inFailed++
		}
	}
	// The broker saw the whole batch once, and the failed partition's
	// records twice more.
	records := 0
	for _, b := range batches() {
		records += int(b.NumRecords)
	}
	if want := n + 2*inFailed; records != want {
		t.Fatalf("the broker was sent %d records, want %d: %d events, %d of them in partition %d sent twice again", records, want, n, inFailed, failed)
	}
	checkDelivered(t, readAll(t, cluster.ListenAddrs()), 0, n, keys)
}

// TestPublishPartitionErrorSpoolsThatPartition: with a spool, the events of
// a partition that keeps failing go to the spool after the attempts, the
// others count as acknowledged; once the partition takes writes again, the
// replayer delivers the spooled ones: each event arrives once.
func TestPublishPartitionErrorSpoolsThatPartition(t *testing.T) {
	const n, keys = 300, 23
	cluster := seedCluster(t, 0)
	const failed = 1
	fault := cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{failed}, Err: kerr.NotEnoughReplicas, Count: -1})
	cfg := spoolConfig(cluster.ListenAddrs(), t.TempDir())
	one := oneBatch(nil, n)
	cfg.Workers, cfg.BatchSize, cfg.Linger = one.Workers, one.BatchSize, one.Linger
	p := newPublisher(t, cfg)
	if q := p.publishRange(0, n, keys); q != n {
		t.Fatalf("queued %d of %d", q, n)
	}
	inFailed := 0
	for i := range n {
		if partitionOf(keyOf(i, keys)) == failed {
			inFailed++
		}
	}
	waitFor(t, "the failed partition's events spooled", func() (bool, string) {
		s, a := p.metric(t, "pixel_publish_spooled_total"), p.metric(t, "pixel_publish_acked_total")
		return s == float64(inFailed) && a == float64(n-inFailed), fmt.Sprintf("spooled %v, acked %v", s, a)
	})
	fault.Remove()
	waitFor(t, "the spool replayed", func() (bool, string) {
		r, s := p.metric(t, "pixel_publish_replayed_total"), p.metric(t, "pixel_publish_spooling")
		return r == float64(inFailed) && s == 0, fmt.Sprintf("replayed %v, spooling %v", r, s)
	})
	if err := p.Close(testContext(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if a := p.metric(t, "pixel_publish_acked_total"); a != n {
		t.Fatalf("acked_total = %v, want %d", a, n)
	}
	checkDeliveredOrder(t, readAll(t, cluster.ListenAddrs()), 0, n, keys, false)
}

// TestPublishFollowsMovedLeaders: with three brokers, a batch goes out as
// one request per partition leader; when every partition's leader moves,
// the next write is answered NOT_LEADER by the old leaders, and the retry,
// with fresh metadata, reaches the new ones: nothing is spooled (the spool
// would take what the attempts could not write), every event arrives once,
// in order.
func TestPublishFollowsMovedLeaders(t *testing.T) {
	const n1, n2, keys = 500, 500, 29
	cluster, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	// kfake places leaders at random: all four on one broker one time in
	// 27. Spread them, so that a batch always goes to several leaders.
	for pt := range int32(partitions) {
		if err := cluster.MoveTopicPartition(topic, pt, pt%3); err != nil {
			t.Fatal(err)
		}
	}
	brokers := cluster.ListenAddrs()
	p := newPublisher(t, spoolConfig(brokers, t.TempDir()))
	p.publishRange(0, n1, keys)
	waitFor(t, "the first events acknowledged", func() (bool, string) {
		a := p.metric(t, "pixel_publish_acked_total")
		return a == n1, fmt.Sprintf("%v acked", a)
	})
	leaders := leadersOf(t, brokers)
	if distinct := len(uniq(leaders)); distinct < 2 {
		t.Fatalf("the partitions' leaders %v are %d broker(s); the test needs several", leaders, distinct)
	}
	for pt, node := range leaders {
		if err := cluster.MoveTopicPartition(topic, int32(pt), (node+1)%3); err != nil {
			t.Fatal(err)
		}
	}
	if moved := leadersOf(t, brokers); moved[0] == leaders[0] {
		t.Fatalf("leaders %v did not move from %v", moved, leaders)
	}
	p.publishRange(n1, n1+n2, keys)
	waitFor(t, "the events after the move acknowledged", func() (bool, string) {
		a := p.metric(t, "pixel_publish_acked_total")
		return a == n1+n2, fmt.Sprintf("%v acked", a)
	})
	if err := p.Close(testContext(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s := p.metric(t, "pixel_publish_spooled_total"); s != 0 {
		t.Fatalf("%v events spooled: the retry did not find the new leaders", s)
	}
	checkDelivered(t, readAll(t, brokers), 0, n1+n2, keys)
}

// leadersOf returns the leader of each partition of the test topic, asked
// with a fresh client.
func leadersOf(t *testing.T, brokers []string) []int32 {
	t.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: transport}
	resp, err := client.Metadata(testContext(t), &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].Error != nil {
		t.Fatalf("metadata: %v %+v", err, resp)
	}
	leaders := make([]int32, partitions)
	for _, p := range resp.Topics[0].Partitions {
		leaders[p.ID] = int32(p.Leader.ID)
	}
	return leaders
}

func uniq(ids []int32) map[int32]bool {
	m := map[int32]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}
