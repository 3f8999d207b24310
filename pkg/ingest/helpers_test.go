package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/batch"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/ingest"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// The tests run the Ingester against real servers: this binary's private
// ClickHouse (devstack) and an in-process Kafka-protocol broker (kfake).
func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

const (
	topic      = "pixel.events"
	dlqTopic   = "pixel.events.dlq"
	partitions = 4
	// waitLimit bounds every poll; a healthy run needs a small fraction of it.
	waitLimit = 30 * time.Second
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after waitLimit with
// cond's last description of what it saw.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	devstacktest.WaitFor(t, what, waitLimit, cond)
}

// testEvent is event i of a test: its id is unique, its key (the visitor)
// spreads the events over the partitions.
func testEvent(prefix string, i int) (key, value []byte) {
	e := event.Event{
		EventID:    fmt.Appendf(nil, "%s-%06d", prefix, i),
		PixelID:    []byte("px-test"),
		VisitorID:  fmt.Appendf(nil, "visitor-%d", i%17),
		Name:       []byte("PageView"),
		TS:         1_700_000_000 + int64(i),
		ReceivedAt: 1_700_000_000 + int64(i),
		URL:        fmt.Appendf(nil, "https://shop.example/p/%d?q=\"ü\"", i),
		Value:      float64(i) / 4,
	}
	if i%3 == 0 {
		e.ContentIDs = [][]byte{[]byte("sku-1"), fmt.Appendf(nil, "sku-%d", i)}
		e.Props = []byte(`{"color":"red"}`)
	}
	return e.VisitorID, event.AppendJSON(nil, &e)
}

// poison is a message that is not a valid event, and the reason it is not.
type poison struct {
	reason string
	msg    kafka.Message
}

// poisons are invalid messages of every kind the consumer dead-letters.
func poisons() []poison {
	_, valid := testEvent("poison-version", 0)
	ev := func(fields string) []byte {
		return []byte(`{"event_id":"p","pixel_id":"p","visitor_id":"v","event":"PageView","ts":1700000000,"received_at":1700000000` + fields + `}`)
	}
	value := func(v []byte) kafka.Message { return kafka.Message{Value: v} }
	return []poison{
		{"syntax", value([]byte("not json at all"))},
		{"syntax", value([]byte(`{"event_id":"x","pixel_id":"p"`))},
		{"syntax", value(valid[:len(valid)/2])},
		{"syntax", kafka.Message{Value: []byte("\x00\xff binary"), Headers: []kafka.Header{{Key: "trace-id", Value: []byte("t-1")}}}},
		{"type", value([]byte(`{"event_id":42,"pixel_id":"p","visitor_id":"v","event":"PageView","ts":1700000000,"received_at":1700000000}`))},
		{"type", value(ev(`,"received_at":"yesterday"`))},
		{"missing", value([]byte(`{"event_id":"x","pixel_id":"p","event":"PageView","ts":1700000000,"received_at":1700000000}`))},
		{"missing", value([]byte(`{"event_id":"x","pixel_id":"p","visitor_id":"v","event":"PageView","received_at":1700000000}`))},
		{"range", value(ev(`,"received_at":99999999999`))},
		{"range", value(ev(`,"ts":1`))},
		{"range", value(ev(`,"value":1e300`))},
		{"size", value(ev(`,"url":"` + strings.Repeat("u", event.MaxStringLen+1) + `"`))},
		{"size", value(ev(`,"content_ids":[` + strings.Repeat(`"a",`, event.MaxContentIDs) + `"a"]`))},
		{"size", value(ev(`,"event_id":"` + strings.Repeat("e", event.MaxEventIDLen+1) + `"`))},
		{"version", kafka.Message{Value: valid, Headers: []kafka.Header{{Key: event.Header, Value: []byte("2")}}}},
	}
}

func testMessages(prefix string, from, to int) []kafka.Message {
	msgs := make([]kafka.Message, 0, to-from)
	for i := from; i < to; i++ {
		k, v := testEvent(prefix, i)
		msgs = append(msgs, kafka.Message{Key: k, Value: v, Headers: []kafka.Header{{Key: event.Header, Value: []byte(event.Version)}}})
	}
	return msgs
}

// produce writes msgs to the topic with kafka-go's Writer, keyed like the
// collector does (murmur2 of the visitor id).
func produce(t *testing.T, brokers []string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		BatchBytes:   4 << 20,
		Balancer:     &kafka.Murmur2Balancer{},
		BatchTimeout: time.Millisecond,
		BatchSize:    1000,
		RequiredAcks: kafka.RequireAll,
	}
	defer w.Close()
	if err := w.WriteMessages(testContext(t), msgs...); err != nil {
		t.Fatalf("produce %d messages: %v", len(msgs), err)
	}
}

// committed returns the group's committed offset of every partition (-1 or
// missing: nothing committed).
func committed(t *testing.T, brokers []string, group string) map[int]int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	resp, err := client.OffsetFetch(testContext(t), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	out := map[int]int64{}
	if errors.Is(resp.Error, kafka.GroupIdNotFound) {
		// kfake answers so for a group that has not joined yet, or left
		// without committing; Kafka answers with offsets of -1.
		return out
	}
	if resp.Error != nil {
		t.Fatalf("offset fetch: %v", resp.Error)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch of partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// committedTotal is the number of messages the group committed: offsets start
// at 0 in every partition and kfake writes no control records here.
func committedTotal(offsets map[int]int64) int64 {
	var n int64
	for _, o := range offsets {
		n += max(o, 0)
	}
	return n
}

// readTopic returns every message of a topic, partition by partition.
func readTopic(t *testing.T, brokers []string, name string) []kafka.Message {
	t.Helper()
	ctx := testContext(t)
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	var reqs []kafka.OffsetRequest
	for p := range partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{name: reqs}})
	if err != nil {
		t.Fatalf("list offsets of %s: %v", name, err)
	}
	var out []kafka.Message
	for _, po := range resp.Topics[name] {
		if po.Error != nil {
			t.Fatalf("list offsets of %s/%d: %v", name, po.Partition, po.Error)
		}
		if po.LastOffset <= 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: name, Partition: po.Partition, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
		for range po.LastOffset {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", name, po.Partition, err)
			}
			out = append(out, m)
		}
		_ = r.Close()
	}
	return out
}

// createTopic creates a topic with the test's partition count.
func createTopic(t *testing.T, brokers []string, name string, configs ...kafka.ConfigEntry) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	resp, err := client.CreateTopics(testContext(t), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: name, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs},
	}})
	if err == nil {
		err = resp.Errors[name]
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

type counts struct{ rows, distinct uint64 }

func countRows(t *testing.T, conn chstore.Conn) counts {
	t.Helper()
	var c counts
	if err := conn.QueryRow(testContext(t), "SELECT count(), uniqExact(event_id) FROM events").Scan(&c.rows, &c.distinct); err != nil {
		t.Fatalf("count events: %v", err)
	}
	return c
}

func testConfig(brokers []string, group string, p batch.Policy) ingest.Config {
	if p.MaxBytes == 0 {
		p.MaxBytes = 64 << 20
	}
	return ingest.Config{
		Brokers:       brokers,
		Topic:         topic,
		Group:         group,
		Batch:         p,
		InsertTimeout: 5 * time.Second,
		MaxBackoff:    200 * time.Millisecond,
	}
}

// running is an Ingester whose Run goroutine the test controls.
type running struct {
	*ingest.Ingester
	metrics *metrics.Set
	cancel  context.CancelFunc
	done    chan error
}

func start(t *testing.T, cfg ingest.Config, conn chstore.Conn) *running {
	t.Helper()
	return startFlushing(t, cfg, conn, 20*time.Second)
}

// startFlushing starts an Ingester whose final flush may take flushTimeout.
func startFlushing(t *testing.T, cfg ingest.Config, conn chstore.Conn, flushTimeout time.Duration) *running {
	t.Helper()
	m := metrics.NewSet()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("group", cfg.Group).Logger()
	r := &running{Ingester: ingest.New(cfg, conn, log, m), metrics: m, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.Run(ctx, flushTimeout) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stop cancels Run and returns its error: a graceful shutdown.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after its context was cancelled")
		return nil
	}
}

// metric returns the value of one series, e.g. `pixel_consumer_invalid_total{reason="syntax"}`.
func (r *running) metric(t *testing.T, series string) float64 {
	t.Helper()
	var b bytes.Buffer
	if err := r.metrics.WritePrometheus(&b); err != nil {
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
