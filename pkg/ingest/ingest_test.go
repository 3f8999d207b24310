package ingest_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pixel-pipeline/pixel/pkg/batch"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/ingest"
)

// newBroker starts a broker with the events topic and its dead-letter topic.
func newBroker(t *testing.T) []string {
	t.Helper()
	return devstacktest.Broker(t, partitions, topic, dlqTopic).ListenAddrs()
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
	conn := openDB(t, devstacktest.Database(t))
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
	// Every partition was read to its end.
	for p := range partitions {
		if l := in.metric(t, fmt.Sprintf("pixel_consumer_partition_lag{partition=\"%d\"}", p)); l != 0 {
			t.Errorf("partition %d: lag %v after reading everything", p, l)
		}
	}
	if l := in.metric(t, "pixel_consumer_lag"); l != 0 {
		t.Errorf("lag %v after reading everything", l)
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
	conn := openDB(t, devstacktest.Database(t))
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
	conn := openDB(t, devstacktest.Database(t))
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
	conn := openDB(t, devstacktest.Database(t))
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

// Messages that are not valid events go to the dead-letter topic with their
// original key, value and headers, plus headers that say why and where from;
// the valid ones around them arrive once, and the offsets move past both.
func TestIngestDeadLetters(t *testing.T) {
	brokers := newBroker(t)
	conn := openDB(t, devstacktest.Database(t))
	var msgs []kafka.Message
	wantReason := map[int64]string{} // by offset: every message shares one key, so one partition
	wantInvalid := map[string]int{}
	nValid := 0
	valid := func() {
		_, v := testEvent("ok", nValid)
		msgs = append(msgs, kafka.Message{Key: []byte("same-key"), Value: v})
		nValid++
	}
	bad := func(p poison) {
		p.msg.Key = []byte("same-key")
		wantReason[int64(len(msgs))] = p.reason
		wantInvalid[p.reason]++
		msgs = append(msgs, p.msg)
	}
	for _, p := range poisons() {
		// Valid events before and after each bad one.
		for range 3 {
			valid()
		}
		bad(p)
	}
	valid()
	// A whole batch of invalid messages (MaxRows is 7) inserts nothing but
	// is dead-lettered and committed all the same.
	for range 8 {
		bad(poison{"syntax", kafka.Message{Value: []byte("{}garbage")}})
	}
	produce(t, brokers, msgs)

	in := start(t, testConfig(brokers, "g-dead", batch.Policy{MaxRows: 7, MaxAge: 50 * time.Millisecond}), conn)
	waitFor(t, "valid events inserted and every offset committed", func() (bool, string) {
		c := countRows(t, conn)
		off := committed(t, brokers, "g-dead")
		return c.distinct == uint64(nValid) && committedTotal(off) == int64(len(msgs)),
			fmt.Sprintf("%d distinct of %d valid; committed %v of %d messages", c.distinct, nValid, off, len(msgs))
	})
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := countRows(t, conn); c.rows != uint64(nValid) {
		t.Fatalf("%d rows, want %d", c.rows, nValid)
	}

	// The dead-letter topic holds each bad message once, byte for byte.
	source := map[int64]kafka.Message{}
	for _, m := range readTopic(t, brokers, topic) {
		source[m.Offset] = m
	}
	dead := readTopic(t, brokers, dlqTopic)
	if len(dead) != len(wantReason) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(wantReason))
	}
	seen := map[int64]bool{}
	for _, d := range dead {
		offset, _ := header(d, ingest.HeaderSourceOffset)
		off, err := strconv.ParseInt(offset, 10, 64)
		reason, isBad := wantReason[off]
		if err != nil || !isBad || seen[off] {
			t.Fatalf("dead letter with %s %q: not one bad message's offset, or twice", ingest.HeaderSourceOffset, offset)
		}
		seen[off] = true
		src := source[off]
		if !bytes.Equal(d.Key, src.Key) || !bytes.Equal(d.Value, src.Value) {
			t.Errorf("offset %d: dead letter key %q value %.40q, want the original %q %.40q", off, d.Key, d.Value, src.Key, src.Value)
		}
		for _, h := range []struct{ key, want string }{
			{ingest.HeaderSourceTopic, topic},
			{ingest.HeaderSourcePartition, strconv.Itoa(src.Partition)},
			{ingest.HeaderSourceTimestamp, strconv.FormatInt(src.Time.UnixMilli(), 10)},
		} {
			if got, _ := header(d, h.key); got != h.want {
				t.Errorf("offset %d: header %s = %q, want %q", off, h.key, got, h.want)
			}
		}
		if got, _ := header(d, ingest.HeaderError); !strings.HasPrefix(got, reason+": event: ") {
			t.Errorf("offset %d: header %s = %q, want the reason %q and the error", off, ingest.HeaderError, got, reason)
		}
		// The original headers stay.
		for _, h := range src.Headers {
			if got, ok := header(d, h.Key); !ok || got != string(h.Value) {
				t.Errorf("offset %d: original header %s = %q is %q in the dead letter", off, h.Key, h.Value, got)
			}
		}
	}
	if got, _ := header(dead[0], ingest.HeaderTruncated); got != "" {
		t.Errorf("dead letter truncated (%s) although it fits", got)
	}

	for reason, want := range wantInvalid {
		for _, name := range []string{"pixel_consumer_invalid_total", "pixel_consumer_dead_letters_total"} {
			if got := in.metric(t, fmt.Sprintf("%s{reason=%q}", name, reason)); got != float64(want) {
				t.Errorf("%s{reason=%q} = %v, want %d", name, reason, got, want)
			}
		}
	}
	if got := in.metric(t, "pixel_consumer_rows_inserted_total"); got != float64(nValid) {
		t.Errorf("rows_inserted_total = %v, want %d", got, nValid)
	}
	if got := in.metric(t, "pixel_consumer_dead_letter_errors_total"); got != 0 {
		t.Errorf("dead_letter_errors_total = %v", got)
	}
	if got := in.metric(t, "pixel_consumer_last_insert_timestamp_seconds"); got < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last_insert_timestamp_seconds = %v", got)
	}
}

// While the dead-letter topic cannot take a batch's bad messages, the batch
// is not committed and the partition does not move on; a shutdown then gives
// up and commits nothing. Once the topic exists the consumer goes on by
// itself, without inserting the batch's rows again. The lag gauges show
// where the consumer stands: at most two batches are in flight, so fetching
// stops behind the second, which is stored meanwhile but not committed.
func TestIngestDeadLetterTopicUnavailable(t *testing.T) {
	brokers := devstacktest.Broker(t, partitions, topic).ListenAddrs() // no dead-letter topic
	conn := openDB(t, devstacktest.Database(t))
	const group = "g-dlq-down"
	// One partition: 5 valid events, a bad one at offset 5, 10 valid ones.
	const n = 16
	var msgs []kafka.Message
	for i := range n {
		_, v := testEvent("dd", i)
		if i == 5 {
			v = []byte("not json")
		}
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: v})
	}
	produce(t, brokers, msgs)
	part := readTopic(t, brokers, topic)[0].Partition
	partLag := fmt.Sprintf("pixel_consumer_partition_lag{partition=\"%d\"}", part)
	// A batch is 6 messages: the first one ends with the bad message.
	cfg := testConfig(brokers, group, batch.Policy{MaxRows: 6, MaxAge: time.Hour})

	waitDeadLetterErrors := func(in *running) {
		t.Helper()
		waitFor(t, "dead-letter writes to fail", func() (bool, string) {
			e := in.metric(t, "pixel_consumer_dead_letter_errors_total")
			return e >= 2 && in.Ready() != nil, fmt.Sprintf("%v errors, ready %v", e, in.Ready())
		})
	}
	waitRows := func(want uint64) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d rows in ClickHouse", want), func() (bool, string) {
			c := countRows(t, conn)
			return c.rows == want, fmt.Sprintf("%d rows", c.rows)
		})
	}

	// The first consumer inserts the batch's 5 rows and then waits for the
	// dead-letter topic; the second batch (offsets 6-11) is stored meanwhile,
	// not committed, and fetching stops. At shutdown it gives up.
	first := startFlushing(t, cfg, conn, 300*time.Millisecond)
	waitDeadLetterErrors(first)
	waitRows(5 + 6)
	if off := committed(t, brokers, group); committedTotal(off) != 0 {
		t.Fatalf("committed %v although the dead letter was not written", off)
	}
	waitFor(t, "the second batch to be fetched", func() (bool, string) {
		l, sum := first.metric(t, partLag), first.metric(t, "pixel_consumer_lag")
		return l == n-12 && sum == n-12, fmt.Sprintf("partition lag %v, total lag %v; want %d messages after offset 11", l, sum, n-12)
	})
	if err := first.stop(t); err == nil || !strings.Contains(err.Error(), "dead letters") {
		t.Fatalf("Run = %v, want an error about the dead letters it could not write", err)
	}
	if off := committed(t, brokers, group); committedTotal(off) != 0 {
		t.Fatalf("committed %v after giving up", off)
	}
	if r := first.metric(t, "pixel_consumer_rows_inserted_total"); r != 5+6 {
		t.Fatalf("rows_inserted_total = %v after the first consumer gave up; want 11, the two batches in flight", r)
	}

	// The second one replays the batches, and recovers when the topic appears.
	second := start(t, cfg, conn)
	waitDeadLetterErrors(second)
	if off := committed(t, brokers, group); committedTotal(off) != 0 {
		t.Fatalf("committed %v although the dead letter was not written", off)
	}
	createTopic(t, brokers, dlqTopic)
	waitFor(t, "two batches committed and the rest fetched", func() (bool, string) {
		off := committed(t, brokers, group)
		p := second.metric(t, "pixel_consumer_batch_pending")
		return committedTotal(off) == 12 && p == n-12, fmt.Sprintf("committed %v, %v pending", off, p)
	})
	if second.Ready() != nil {
		t.Fatal("not ready after the dead letter was written")
	}
	if l, sum := second.metric(t, partLag), second.metric(t, "pixel_consumer_lag"); l != 0 || sum != 0 {
		t.Fatalf("partition lag %v, total lag %v after fetching everything", l, sum)
	}
	// Its retries wrote the dead letter again and again, never the rows.
	if r := second.metric(t, "pixel_consumer_rows_inserted_total"); r != 5+6 {
		t.Fatalf("rows_inserted_total = %v, want 11: each batch inserted once", r)
	}
	if err := second.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if off := committed(t, brokers, group); committedTotal(off) != n {
		t.Fatalf("committed %v, want all %d", off, n)
	}
	// The replay stored the first two batches' rows a second time (until a
	// merge collapses the copies); every query that de-duplicates by
	// event_id sees each once.
	if r := second.metric(t, "pixel_consumer_rows_inserted_total"); r != n-1 {
		t.Fatalf("rows_inserted_total = %v, want every valid row once: %d", r, n-1)
	}
	if c := countRows(t, conn); c.rows < n-1 || c.rows > 11+n-1 || c.distinct != n-1 {
		t.Fatalf("%d rows, %d distinct; want %d distinct in at most %d rows", c.rows, c.distinct, n-1, 11+n-1)
	}
	var unique uint64
	if err := conn.QueryRow(testContext(t), "SELECT count() FROM events_unique").Scan(&unique); err != nil || unique != n-1 {
		t.Fatalf("events_unique holds %d rows (%v), want %d", unique, err, n-1)
	}
	dead := readTopic(t, brokers, dlqTopic)
	if len(dead) != 1 || string(dead[0].Value) != "not json" {
		t.Fatalf("dead letters %v, want the one bad message once", dead)
	}
	if off, _ := header(dead[0], ingest.HeaderSourceOffset); off != "5" {
		t.Fatalf("dead letter from offset %s, want 5", off)
	}
}

// A bad message larger than the dead-letter topic accepts is cut to fit and
// marked, rather than blocking its partition.
func TestIngestDeadLetterTooLargeForTopic(t *testing.T) {
	brokers := devstacktest.Broker(t, partitions, topic).ListenAddrs()
	createTopic(t, brokers, dlqTopic, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "10000"})
	conn := openDB(t, devstacktest.Database(t))
	big := bytes.Repeat([]byte("x"), 20000)
	_, v0 := testEvent("big", 0)
	_, v1 := testEvent("big", 1)
	msgs := []kafka.Message{{Key: []byte("k"), Value: v0}, {Key: []byte("k"), Value: big}, {Key: []byte("k"), Value: v1}}
	produce(t, brokers, msgs)
	in := start(t, testConfig(brokers, "g-big", batch.Policy{MaxRows: 100, MaxAge: 50 * time.Millisecond}), conn)
	waitFor(t, "2 events inserted and 3 messages committed", func() (bool, string) {
		c := countRows(t, conn)
		off := committed(t, brokers, "g-big")
		return c.distinct == 2 && committedTotal(off) == 3, fmt.Sprintf("%d distinct, committed %v", c.distinct, off)
	})
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	dead := readTopic(t, brokers, dlqTopic)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	d := dead[0]
	if n, _ := header(d, ingest.HeaderTruncated); n != "20000" {
		t.Fatalf("header %s = %q, want the original length 20000", ingest.HeaderTruncated, n)
	}
	if len(d.Value) == 0 || len(d.Value) >= 10000 || !bytes.HasPrefix(big, d.Value) {
		t.Fatalf("dead letter value of %d bytes: want a prefix of the original that fits 10000", len(d.Value))
	}
	if e, _ := header(d, ingest.HeaderError); !strings.HasPrefix(e, "syntax: ") {
		t.Fatalf("header %s = %q", ingest.HeaderError, e)
	}
	if n := in.metric(t, "pixel_consumer_dead_letters_truncated_total"); n != 1 {
		t.Fatalf("dead_letters_truncated_total = %v", n)
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
		return e >= 3 && in.Ready() != nil, fmt.Sprintf("%v insert errors, ready %v", e, in.Ready())
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
	if in.Ready() != nil {
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
			return e >= 1 && in.Ready() != nil, fmt.Sprintf("%v insert errors", e)
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

// A second member joining takes partitions from the first in a rebalance:
// the first drains (inserts and commits what it holds through the ending
// generation) before giving them up, so nothing is lost and nothing is
// read twice.
func TestIngestRebalanceDrainsBeforeHandingOver(t *testing.T) {
	const n1, n2 = 400, 600
	brokers := newBroker(t)
	conn := openDB(t, devstacktest.Database(t))
	const group = "g-rebalance"
	// Batches that never fill nor age: only a drain flushes them.
	cfg := testConfig(brokers, group, batch.Policy{MaxRows: 1_000_000, MaxAge: time.Hour})
	produce(t, brokers, testMessages("rb", 0, n1))
	first := start(t, cfg, conn)
	waitFor(t, "the first member to hold every message", func() (bool, string) {
		p := first.metric(t, "pixel_consumer_batch_pending")
		return p == n1, fmt.Sprintf("%v pending", p)
	})
	if c := countRows(t, conn); c.rows != 0 {
		t.Fatalf("%d rows before any batch was due", c.rows)
	}

	second := start(t, cfg, conn)
	waitFor(t, "the first member's batch stored and committed at the rebalance", func() (bool, string) {
		c := countRows(t, conn)
		off := committed(t, brokers, group)
		return c.rows == n1 && committedTotal(off) == n1, fmt.Sprintf("%d rows, committed %v", c.rows, off)
	})
	// Both members now read: new messages reach both, and each holds its own.
	produce(t, brokers, testMessages("rb", n1, n1+n2))
	waitFor(t, "both members to hold the new messages", func() (bool, string) {
		p1, p2 := first.metric(t, "pixel_consumer_batch_pending"), second.metric(t, "pixel_consumer_batch_pending")
		return p1 > 0 && p2 > 0 && p1+p2 == n2, fmt.Sprintf("%v and %v pending", p1, p2)
	})
	if err := first.stop(t); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if err := second.stop(t); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if c := countRows(t, conn); c.distinct != n1+n2 {
		t.Fatalf("%d distinct event ids, want %d", c.distinct, n1+n2)
	}
	if off := committed(t, brokers, group); committedTotal(off) != n1+n2 {
		t.Fatalf("committed %v, want %d messages", off, n1+n2)
	}
	if r := first.metric(t, "pixel_consumer_rows_inserted_total") + second.metric(t, "pixel_consumer_rows_inserted_total"); r != n1+n2 {
		t.Fatalf("%v rows inserted by the two members, want each of %d once", r, n1+n2)
	}
}

// A member that cannot store what it holds when a rebalance takes its
// partitions (here the dead-letter topic is missing) gives the batches up
// after its drain time without committing them; the member that gets the
// partitions reads them again, and once the topic exists every event
// arrives and every offset is committed.
func TestIngestRebalanceGivesUpWhatItCannotStore(t *testing.T) {
	brokers := devstacktest.Broker(t, partitions, topic).ListenAddrs() // no dead-letter topic
	conn := openDB(t, devstacktest.Database(t))
	const group = "g-rebalance-stuck"
	msgs := testMessages("rs", 0, 200)
	for i := range msgs {
		if i%20 == 3 {
			msgs[i].Value = []byte("not json") // in every partition
		}
	}
	produce(t, brokers, msgs)
	cfg := testConfig(brokers, group, batch.Policy{MaxRows: 1000, MaxAge: 50 * time.Millisecond})
	first := start(t, cfg, conn)
	waitFor(t, "dead-letter writes to fail", func() (bool, string) {
		e := first.metric(t, "pixel_consumer_dead_letter_errors_total")
		return e >= 1, fmt.Sprintf("%v errors", e)
	})
	second := start(t, cfg, conn)
	// The rebalance completes once the first member gave up its batch: then
	// the second one holds what it fetched of its partitions, and fails to
	// store it in turn.
	waitFor(t, "the second member to hold a batch it cannot store", func() (bool, string) {
		p, e := second.metric(t, "pixel_consumer_batch_pending"), second.metric(t, "pixel_consumer_dead_letter_errors_total")
		return p > 0 && e > 0, fmt.Sprintf("%v pending, %v dead-letter errors", p, e)
	})
	if off := committed(t, brokers, group); committedTotal(off) != 0 {
		t.Fatalf("committed %v although no dead letter was written", off)
	}
	createTopic(t, brokers, dlqTopic)
	waitFor(t, "every valid event stored and every offset committed", func() (bool, string) {
		c := countRows(t, conn)
		off := committed(t, brokers, group)
		return c.distinct == 190 && committedTotal(off) == 200, fmt.Sprintf("%d distinct, committed %v", c.distinct, off)
	})
	for _, in := range []*running{first, second} {
		if err := in.stop(t); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	seen := map[string]bool{}
	for _, d := range readTopic(t, brokers, dlqTopic) {
		off, _ := header(d, ingest.HeaderSourceOffset)
		part, _ := header(d, ingest.HeaderSourcePartition)
		if string(d.Value) != "not json" {
			t.Fatalf("dead letter %q", d.Value)
		}
		seen[part+"/"+off] = true
	}
	if len(seen) != 10 {
		t.Fatalf("%d distinct dead letters, want the 10 bad messages", len(seen))
	}
}

// With partitions led by different brokers, each leader gets its own fetch
// requests, and every event arrives once.
func TestIngestPartitionsOnSeveralLeaders(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(partitions, topic, dlqTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// kfake picks each partition's leader at random, so all four could land
	// on one broker (one run in 27): spread them over the three.
	for p := int32(0); p < partitions; p++ {
		if err := c.MoveTopicPartition(topic, p, p%3); err != nil {
			t.Fatal(err)
		}
	}
	brokers := c.ListenAddrs()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	md, err := client.Metadata(testContext(t), &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int]bool{}
	for _, p := range md.Topics[0].Partitions {
		leaders[p.Leader.ID] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("the partitions have %d leader(s); the test needs several", len(leaders))
	}
	conn := openDB(t, devstacktest.Database(t))
	const n = 2000
	produce(t, brokers, testMessages("ml", 0, n))
	in := start(t, testConfig(brokers, "g-leaders", batch.Policy{MaxRows: 300, MaxAge: 100 * time.Millisecond}), conn)
	waitAll(t, brokers, "g-leaders", conn, n)
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r := in.metric(t, "pixel_consumer_rows_inserted_total"); r != n {
		t.Fatalf("rows_inserted_total = %v, want %d", r, n)
	}
}

// A committed offset the partition does not have (records deleted by
// retention, or a topic recreated) makes the broker answer
// OFFSET_OUT_OF_RANGE: the consumer starts the partition again at its first
// offset, as a new group does, and loses nothing that is there.
func TestIngestOffsetOutOfRangeStartsAtTheFirstOffset(t *testing.T) {
	const n = 500
	brokers := newBroker(t)
	conn := openDB(t, devstacktest.Database(t))
	const group = "g-out-of-range"
	produce(t, brokers, testMessages("oor", 0, n))
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	var commits []kafka.OffsetCommit
	for p := range partitions {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: 1_000_000})
	}
	resp, err := client.OffsetCommit(testContext(t), &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topic: commits}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("commit partition %d: %v", p.Partition, p.Error)
		}
	}
	in := start(t, testConfig(brokers, group, batch.Policy{MaxRows: 100, MaxAge: 50 * time.Millisecond}), conn)
	waitAll(t, brokers, group, conn, n)
	if err := in.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
