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
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/ingest"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// The tests run the Ingester against real servers: this binary's private
// ClickHouse (devstack) and an in-process Kafka-protocol broker (kfake).
func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

const (
	topic      = "pixel.events"
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
	deadline := time.Now().Add(waitLimit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
