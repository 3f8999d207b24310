package ingest_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/batch"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

func newBroker(t *testing.T) []string {
	t.Helper()
	return devstack.TestBroker(t, partitions, topic).ListenAddrs()
}

func openDB(t *testing.T, o chstore.Options) chstore.Conn {
	t.Helper()
	conn, err := chstore.Open(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// waitAll waits until every one of n events is in ClickHouse and committed.
func waitAll(t *testing.T, brokers []string, group string, conn chstore.Conn, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events inserted and committed", n), func() (bool, string) {
		c := countRows(t, conn)
		off := committed(t, brokers, group)
		return c.distinct == uint64(n) && committedTotal(off) == int64(n),
			fmt.Sprintf("%d rows, %d distinct, committed %v", c.rows, c.distinct, off)
	})
}

func TestIngestEveryEventExactlyOnce(t *testing.T) {
	const n = 3000
	brokers := newBroker(t)
	conn := openDB(t, devstack.TestDatabase(t))
	produce(t, brokers, testMessages("a", 0, n))

	in := start(t, testConfig(brokers, "g-once", batch.Policy{MaxRows: 100, MaxAge: 200 * time.Millisecond}), conn)
	waitAll(t, brokers, "g-once", conn, n)
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if c := countRows(t, conn); c.rows != n || c.distinct != n {
		t.Fatalf("%d rows, %d distinct event ids; want %d of each", c.rows, c.distinct, n)
	}
	// Batching by count: at most MaxRows per insert, so at least n/MaxRows of them.
	if b := in.metric(t, "pixel_consumer_batches_total"); b < n/100 {
		t.Fatalf("%v batches for %d rows with MaxRows 100; want at least %d", b, n, n/100)
	}
	if r := in.metric(t, "pixel_consumer_rows_inserted_total"); r != n {
		t.Fatalf("rows_inserted_total = %v, want %d", r, n)
	}
	if r := in.metric(t, "pixel_consumer_batch_rows_bucket{le=\"100\"}"); r != in.metric(t, "pixel_consumer_batch_rows_count") {
		t.Fatalf("a batch held more than MaxRows rows")
	}
	// The content arrived too, not only the ids.
	var sumValue float64
	var withIDs uint64
	var maxTS uint32
	if err := conn.QueryRow(testContext(t), "SELECT sum(value), countIf(length(content_ids) = 2), max(toUInt32(ts)) FROM events").Scan(&sumValue, &withIDs, &maxTS); err != nil {
		t.Fatal(err)
	}
	if want := float64(n*(n-1)/2) / 4; sumValue != want || withIDs != n/3 || maxTS != 1_700_000_000+n-1 {
		t.Fatalf("sum(value) %v, %d rows with content ids, max ts %d; want %v, %d, %d", sumValue, withIDs, maxTS, want, n/3, 1_700_000_000+n-1)
	}
}

func TestIngestFlushesByAge(t *testing.T) {
	const n = 25
	brokers := newBroker(t)
	conn := openDB(t, devstack.TestDatabase(t))
	// A batch that never fills: only its age can flush it.
	in := start(t, testConfig(brokers, "g-age", batch.Policy{MaxRows: 1_000_000, MaxAge: 100 * time.Millisecond}), conn)
	produce(t, brokers, testMessages("age", 0, n))
	waitAll(t, brokers, "g-age", conn, n)
	if b := in.metric(t, "pixel_consumer_batches_total"); b < 1 {
		t.Fatalf("batches_total = %v", b)
	}
	// A second trickle, while the ingester keeps running.
	produce(t, brokers, testMessages("age", n, 2*n))
	waitAll(t, brokers, "g-age", conn, 2*n)
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestIngestGracefulShutdownFlushesPartialBatch(t *testing.T) {
	const n = 40
	brokers := newBroker(t)
	conn := openDB(t, devstack.TestDatabase(t))
	in := start(t, testConfig(brokers, "g-shutdown", batch.Policy{MaxRows: 1_000_000, MaxAge: time.Hour}), conn)
	produce(t, brokers, testMessages("sd", 0, n))
	waitFor(t, "the batch to hold every message", func() (bool, string) {
		p := in.metric(t, "pixel_consumer_batch_pending")
		return p == n, fmt.Sprintf("%v pending", p)
	})
	if c := countRows(t, conn); c.rows != 0 || committedTotal(committed(t, brokers, "g-shutdown")) != 0 {
		t.Fatal("the batch was flushed before its limits were reached")
	}
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := countRows(t, conn); c.rows != n || c.distinct != n {
		t.Fatalf("after shutdown %d rows, %d distinct; want %d", c.rows, c.distinct, n)
	}
	if off := committed(t, brokers, "g-shutdown"); committedTotal(off) != n {
		t.Fatalf("after shutdown committed %v, want %d messages in total", off, n)
	}
	if b := in.metric(t, "pixel_consumer_batches_total"); b != 1 {
		t.Fatalf("batches_total = %v, want the one final batch", b)
	}
}

func TestIngestRestartResumesFromCommittedOffsets(t *testing.T) {
	const n1, n2 = 500, 700
	brokers := newBroker(t)
	conn := openDB(t, devstack.TestDatabase(t))
	cfg := testConfig(brokers, "g-restart", batch.Policy{MaxRows: 50, MaxAge: 50 * time.Millisecond})

	produce(t, brokers, testMessages("r", 0, n1))
	first := start(t, cfg, conn)
	waitFor(t, "the first ingester to insert part of the data", func() (bool, string) {
		c := countRows(t, conn)
		return c.rows >= 100, fmt.Sprintf("%d rows", c.rows)
	})
	if err := first.stop(t); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	// Everything the first one inserted is committed, nothing more.
	c := countRows(t, conn)
	if off := committed(t, brokers, "g-restart"); committedTotal(off) != int64(c.rows) {
		t.Fatalf("after a graceful stop: %d rows in ClickHouse but %v committed", c.rows, off)
	}

	// More data while no consumer runs, then a new member of the same group.
	produce(t, brokers, testMessages("r", n1, n1+n2))
	second := start(t, cfg, conn)
	waitAll(t, brokers, "g-restart", conn, n1+n2)
	if err := second.stop(t); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	// Graceful shutdowns commit what they inserted: no replays, no duplicates.
	if c := countRows(t, conn); c.rows != n1+n2 || c.distinct != n1+n2 {
		t.Fatalf("%d rows, %d distinct event ids; want %d of each", c.rows, c.distinct, n1+n2)
	}
	if e := second.metric(t, "pixel_consumer_commit_errors_total"); e != 0 {
		t.Fatalf("%v commit errors", e)
	}
}

func TestIngestSkipsInvalidMessages(t *testing.T) {
	brokers := newBroker(t)
	conn := openDB(t, devstack.TestDatabase(t))
	_, valid := testEvent("ok", 0)
	bad := []struct {
		reason string
		value  []byte
		format string
	}{
		{"syntax", []byte("not json at all"), ""},
		{"syntax", []byte(`{"event_id":"x","pixel_id":"p"`), ""},
		{"syntax", valid[:len(valid)/2], ""},
		{"type", []byte(`{"event_id":42,"pixel_id":"p","visitor_id":"v","event":"PageView","received_at":1}`), ""},
		{"type", []byte(`{"event_id":"x","pixel_id":"p","visitor_id":"v","event":"PageView","received_at":"yesterday"}`), ""},
		{"missing", []byte(`{"event_id":"x","pixel_id":"p","event":"PageView","received_at":1}`), ""},
		{"range", []byte(`{"event_id":"x","pixel_id":"p","visitor_id":"v","event":"PageView","received_at":99999999999}`), ""},
		{"version", valid, "2"},
	}
	var msgs []kafka.Message
	wantInvalid := map[string]int{}
	nValid := 0
	for i, b := range bad {
		// Valid events before and after each bad one, on the same key so that
		// they share its partition.
		for range 3 {
			_, v := testEvent("ok", nValid)
			msgs = append(msgs, kafka.Message{Key: []byte("same-key"), Value: v})
			nValid++
		}
		m := kafka.Message{Key: []byte("same-key"), Value: b.value}
		if b.format != "" {
			m.Headers = []kafka.Header{{Key: "pixel-format", Value: []byte(b.format)}}
		}
		msgs = append(msgs, m)
		wantInvalid[b.reason]++
		if i == len(bad)-1 {
			k, v := testEvent("ok", nValid)
			msgs = append(msgs, kafka.Message{Key: k, Value: v})
			nValid++
		}
	}
	// A whole batch of invalid messages (MaxRows is 7) inserts nothing but
	// is committed all the same.
	for range 8 {
		msgs = append(msgs, kafka.Message{Key: []byte("same-key"), Value: []byte("{}garbage")})
		wantInvalid["syntax"]++
	}
	produce(t, brokers, msgs)

	in := start(t, testConfig(brokers, "g-invalid", batch.Policy{MaxRows: 7, MaxAge: 50 * time.Millisecond}), conn)
	waitFor(t, "valid events inserted and every offset committed", func() (bool, string) {
		c := countRows(t, conn)
		off := committed(t, brokers, "g-invalid")
		return c.distinct == uint64(nValid) && committedTotal(off) == int64(len(msgs)),
			fmt.Sprintf("%d distinct of %d valid; committed %v of %d messages", c.distinct, nValid, off, len(msgs))
	})
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := countRows(t, conn); c.rows != uint64(nValid) {
		t.Fatalf("%d rows, want %d", c.rows, nValid)
	}
	for reason, want := range wantInvalid {
		if got := in.metric(t, fmt.Sprintf("pixel_consumer_invalid_total{reason=%q}", reason)); got != float64(want) {
			t.Errorf("invalid_total{reason=%q} = %v, want %d", reason, got, want)
		}
	}
	if got := in.metric(t, "pixel_consumer_rows_inserted_total"); got != float64(nValid) {
		t.Errorf("rows_inserted_total = %v, want %d", got, nValid)
	}
}

// Offsets move only after ClickHouse acknowledged the rows: while the server
// is down nothing is committed, and after it is back every row arrives once.
func TestIngestCommitsOnlyAfterInsert(t *testing.T) {
	const n1, n2 = 200, 300
	ch, err := devstack.NewClickHouse(filepath.Join(t.TempDir(), "clickhouse"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ch.Kill)
	o := chstore.Options{Addr: []string{ch.Addr()}, Database: "pixel_outage"}
	if _, err := chstore.Migrate(testContext(t), o); err != nil {
		t.Fatal(err)
	}
	conn := openDB(t, o)
	brokers := newBroker(t)
	const group = "g-outage"
	in := start(t, testConfig(brokers, group, batch.Policy{MaxRows: 50, MaxAge: 100 * time.Millisecond}), conn)

	produce(t, brokers, testMessages("o", 0, n1))
	waitAll(t, brokers, group, conn, n1)
	before := committed(t, brokers, group)

	t.Log("all in; stopping ClickHouse")
	if err := ch.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Log("stopped")
	produce(t, brokers, testMessages("o", n1, n1+n2))
	waitFor(t, "inserts to fail while ClickHouse is down", func() (bool, string) {
		e := in.metric(t, "pixel_consumer_insert_errors_total")
		return e >= 3 && !in.Ready(), fmt.Sprintf("%v insert errors, ready %v", e, in.Ready())
	})
	if after := committed(t, brokers, group); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("offsets moved while ClickHouse was down: %v, then %v", before, after)
	}
	if r := in.metric(t, "pixel_consumer_rows_inserted_total"); r != n1 {
		t.Fatalf("rows_inserted_total = %v while ClickHouse was down, want %d", r, n1)
	}

	t.Log("starting ClickHouse")
	if err := ch.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	t.Log("started")
	waitAll(t, brokers, group, conn, n1+n2)
	t.Log("all in")
	if !in.Ready() {
		t.Fatal("not ready after inserts succeeded again")
	}
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := countRows(t, conn); c.rows != n1+n2 || c.distinct != n1+n2 {
		t.Fatalf("%d rows, %d distinct; want %d of each", c.rows, c.distinct, n1+n2)
	}
}

// A shutdown while ClickHouse is down keeps retrying the last batch for the
// flush timeout: when ClickHouse comes back in time the batch is inserted and
// committed; when it does not, Run reports it and commits nothing.
func TestIngestShutdownWhileClickHouseDown(t *testing.T) {
	const n = 20
	ch, err := devstack.NewClickHouse(filepath.Join(t.TempDir(), "clickhouse"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ch.Kill)
	o := chstore.Options{Addr: []string{ch.Addr()}, Database: "pixel_down"}
	if _, err := chstore.Migrate(testContext(t), o); err != nil {
		t.Fatal(err)
	}
	conn := openDB(t, o)
	ch.Kill()

	brokers := newBroker(t)
	const group = "g-down"
	cfg := testConfig(brokers, group, batch.Policy{MaxRows: 1_000_000, MaxAge: 50 * time.Millisecond})
	produce(t, brokers, testMessages("d", 0, n))
	waitFailing := func(in *running) {
		t.Helper()
		waitFor(t, "inserts to fail", func() (bool, string) {
			e := in.metric(t, "pixel_consumer_insert_errors_total")
			return e >= 1 && !in.Ready(), fmt.Sprintf("%v insert errors", e)
		})
	}

	// ClickHouse stays down: the flush gives up after its timeout.
	first := startFlushing(t, cfg, conn, 300*time.Millisecond)
	waitFailing(first)
	if err := first.stop(t); err == nil {
		t.Fatal("Run returned no error although its last batch was not inserted")
	}
	if off := committed(t, brokers, group); committedTotal(off) != 0 {
		t.Fatalf("committed %v without ClickHouse", off)
	}

	// ClickHouse comes back while the final flush retries.
	second := startFlushing(t, cfg, conn, waitLimit)
	waitFailing(second)
	second.cancel()
	if err := ch.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := second.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := countRows(t, conn); c.rows != n || c.distinct != n {
		t.Fatalf("%d rows, %d distinct; want %d of each", c.rows, c.distinct, n)
	}
	if off := committed(t, brokers, group); committedTotal(off) != n {
		t.Fatalf("committed %v, want %d messages", off, n)
	}
}
