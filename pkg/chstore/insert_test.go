package chstore_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// row is one events row as plain Go values.
type row struct {
	EventID, PixelID, VisitorID, SessionID, Event string
	TS, ReceivedAt                                int64
	URL, Referrer                                 string
	Value                                         float64
	Currency, OrderID                             string
	ContentIDs                                    []string
	IP, UserAgent, Props                          string
}

func (r row) event() event.Event {
	b := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	e := event.Event{
		EventID: b(r.EventID), PixelID: b(r.PixelID), VisitorID: b(r.VisitorID), SessionID: b(r.SessionID),
		Name: b(r.Event), TS: r.TS, ReceivedAt: r.ReceivedAt, URL: b(r.URL), Referrer: b(r.Referrer),
		Value: r.Value, Currency: b(r.Currency), OrderID: b(r.OrderID),
		IP: b(r.IP), UserAgent: b(r.UserAgent), Props: b(r.Props),
	}
	for _, id := range r.ContentIDs {
		e.ContentIDs = append(e.ContentIDs, []byte(id))
	}
	return e
}

// testRows covers every column with the values that break naive code:
// unicode, quotes and escapes, control bytes, empty optional fields, the
// DateTime limits and float edge cases.
var testRows = []row{
	{
		EventID: "e1-purchase", PixelID: "px-shop", VisitorID: "v-Ünïcödé", SessionID: "s-1", Event: "Purchase",
		TS: 1_700_000_000, ReceivedAt: 1_700_000_002,
		URL:      "https://shop.example/checkout?q=a&b=ü#frag",
		Referrer: "https://search.example/?q=\"pixel\"+'tracking'",
		Value:    19.99, Currency: "EUR", OrderID: "order-42",
		ContentIDs: []string{"sku-1", "sku-2", "日本語", ""},
		IP:         "2001:db8::1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" \\back\\slash",
		Props: `{"color":"red","size":42,"nested":{"a":[1,2,"x\"y"]},"emoji":"🎉"}`,
	},
	{
		// Only the required fields; every optional one empty or zero.
		EventID: "e2-minimal", PixelID: "px", VisitorID: "v2", Event: "PageView", ReceivedAt: 1,
	},
	{
		EventID: "e3-edges", PixelID: "px-'quote'", VisitorID: "v3", Event: "Lead\twith\ttabs",
		TS: event.MaxTime, ReceivedAt: event.MaxTime,
		URL:      "line1\nline2\r\nNUL\x00end \x01\x1f",
		Value:    math.MaxFloat64,
		Currency: "USD", ContentIDs: []string{strings.Repeat("long-id-", 1000)},
		IP: "203.0.113.7", UserAgent: strings.Repeat("ü", 5000),
		Props: `{}`,
	},
	{EventID: "e4-negative", PixelID: "px", VisitorID: "v4", Event: "Refund", TS: 86400, ReceivedAt: 86401, Value: -0.000001},
	{EventID: "e5-tiny", PixelID: "px", VisitorID: "v5", Event: "Custom", TS: 1, ReceivedAt: 2, Value: math.SmallestNonzeroFloat64, ContentIDs: []string{"only"}},
	{EventID: "e6-big", PixelID: "px", VisitorID: "v5", Event: "Custom", ReceivedAt: 3, Value: 1e300},
}

func selectRows(t *testing.T, conn chstore.Conn) []row {
	t.Helper()
	rows, err := conn.Query(testContext(t), `SELECT event_id, pixel_id, visitor_id, session_id, event, ts, received_at,
		url, referrer, value, currency, order_id, content_ids, ip, user_agent, props FROM events ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		var ts, received time.Time
		if err := rows.Scan(&r.EventID, &r.PixelID, &r.VisitorID, &r.SessionID, &r.Event, &ts, &received,
			&r.URL, &r.Referrer, &r.Value, &r.Currency, &r.OrderID, &r.ContentIDs, &r.IP, &r.UserAgent, &r.Props); err != nil {
			t.Fatal(err)
		}
		r.TS, r.ReceivedAt = ts.Unix(), received.Unix()
		if len(r.ContentIDs) == 0 {
			r.ContentIDs = nil
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func buildRows(rs []row) *chstore.Rows {
	var out chstore.Rows
	var e event.Event
	for _, r := range rs {
		e = r.event()
		out.Append(&e)
		// The event's memory is reused right after Append in the ingester.
		for _, b := range [][]byte{e.EventID, e.URL, e.Props, e.UserAgent} {
			for i := range b {
				b[i] = '#'
			}
		}
	}
	return &out
}

func TestInsertEveryColumnReadsBackExactly(t *testing.T) {
	o := devstacktest.Database(t)
	conn := open(t, o)
	rows := buildRows(testRows)
	if err := chstore.Insert(testContext(t), conn, rows, ""); err != nil {
		t.Fatal(err)
	}
	got := selectRows(t, conn)
	if len(got) != len(testRows) {
		t.Fatalf("read %d rows, want %d", len(got), len(testRows))
	}
	for i := range testRows {
		if !reflect.DeepEqual(got[i], testRows[i]) {
			t.Errorf("row %d differs:\n got %+v\nwant %+v", i, got[i], testRows[i])
		}
	}
}

func TestInsertEmptyIsNoop(t *testing.T) {
	o := devstacktest.Database(t)
	conn := open(t, o)
	if err := chstore.Insert(testContext(t), conn, &chstore.Rows{}, ""); err != nil {
		t.Fatal(err)
	}
	if n := queryUint64(t, conn, "SELECT count() FROM events"); n != 0 {
		t.Fatalf("%d rows after an empty insert", n)
	}
}

// A failed insert leaves Rows as it was: the ingester retries with the same
// Rows, and the driver's batch is rebuilt from them on every attempt. A retry
// may store rows twice (ClickHouse can keep a block although the insert
// failed); the copies are byte-identical and collapse by event_id.
func TestInsertRetrySameRows(t *testing.T) {
	o := devstacktest.Database(t)
	conn := open(t, o)
	rows := buildRows(testRows)
	n := uint64(len(testRows))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := chstore.Insert(cancelled, conn, rows, ""); err == nil {
		t.Fatal("insert with a cancelled context succeeded")
	}
	if c := queryUint64(t, conn, "SELECT count() FROM events"); c != 0 {
		t.Fatalf("%d rows after an insert that never started", c)
	}

	// A materialized view that throws fails the insert at the server, after
	// the block was sent and, as ClickHouse does, written to the table.
	ctx := testContext(t)
	if err := conn.Exec(ctx, "CREATE MATERIALIZED VIEW refuse ENGINE = Memory AS SELECT throwIf(event_id = 'e3-edges') AS x FROM events"); err != nil {
		t.Fatal(err)
	}
	// The ingester names every attempt of a batch with the same token.
	token := "pixel.events/0:0-5/" + rows.Digest()
	if err := chstore.Insert(ctx, conn, rows, token); err == nil || !strings.Contains(err.Error(), "throwIf") {
		t.Fatalf("insert through a throwing view: err = %v", err)
	}
	if err := conn.Exec(ctx, "DROP TABLE refuse"); err != nil {
		t.Fatal(err)
	}

	if err := chstore.Insert(ctx, conn, rows, token); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if rows.Len() != len(testRows) {
		t.Fatalf("Rows holds %d rows after inserts, want %d", rows.Len(), len(testRows))
	}
	if c := queryUint64(t, conn, "SELECT count() FROM events"); c != n && c != 2*n {
		t.Fatalf("%d rows after a failed insert and a retry of %d", c, n)
	}
	if d := queryUint64(t, conn, "SELECT uniqExact(event_id) FROM events"); d != n {
		t.Fatalf("%d distinct event ids, want %d", d, n)
	}
	// Duplicates are identical in every column, so ReplacingMergeTree
	// collapses them on merge, and what is left equals the source exactly.
	if err := conn.Exec(ctx, "OPTIMIZE TABLE events FINAL"); err != nil {
		t.Fatal(err)
	}
	got := selectRows(t, conn)
	if !reflect.DeepEqual(got, testRows) {
		t.Fatalf("after the retry and a merge:\n got %+v\nwant %+v", got, testRows)
	}
}

// Rows spanning several arena chunks, reused after Reset, arrive intact.
func TestInsertLargeBatchAfterReset(t *testing.T) {
	o := devstacktest.Database(t)
	conn := open(t, o)
	var rows chstore.Rows
	for round := range 2 {
		rows.Reset()
		var wantURLs []string // ordered by event_id
		for i := range 300 {
			r := row{EventID: fmt.Sprintf("%c-%04d", 'a'+round, i),
				PixelID: "px", VisitorID: "v", Event: "PageView", ReceivedAt: int64(1 + round),
				URL: strings.Repeat(string(rune('A'+(i+7*round)%26)), 10_000+(i+131*round)%300*97)}
			wantURLs = append(wantURLs, r.URL)
			e := r.event()
			rows.Append(&e)
		}
		if rows.Bytes() < 3<<20 {
			t.Fatalf("batch of %d bytes does not span several chunks", rows.Bytes())
		}
		if err := chstore.Insert(testContext(t), conn, &rows, ""); err != nil {
			t.Fatal(err)
		}
		got, err := conn.Query(testContext(t), "SELECT url FROM events WHERE received_at = toDateTime(?) ORDER BY event_id", 1+round)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for ; got.Next(); n++ {
			var url string
			if err := got.Scan(&url); err != nil {
				t.Fatal(err)
			}
			if url != wantURLs[n] {
				t.Fatalf("round %d: url %d corrupted (%d bytes, want %d)", round, n, len(url), len(wantURLs[n]))
			}
		}
		got.Close()
		if err := got.Err(); err != nil || n != len(wantURLs) {
			t.Fatalf("round %d: read %d urls (%v), want %d", round, n, err, len(wantURLs))
		}
	}
}

// The columns of migration 0004 read back as appended, and an event without
// milliseconds gets ts_ms = ts * 1000.
func TestInsertTrackingColumnsReadBack(t *testing.T) {
	o := devstacktest.Database(t)
	conn := open(t, o)
	full := testRows[0].event()
	full.TSMs, full.EngagedMs, full.ClickTSMs = full.TS*1000+123, 61_500, 1_699_999_000_456
	full.GPC, full.DNT, full.IsBot = true, false, true
	for i, n := range event.TrackingColumns {
		full.Tracking[i] = []byte("v:" + n + "-ü")
	}
	plain := testRows[1].event()
	plain.TS = 1_700_000_001
	var rows chstore.Rows
	rows.Append(&full)
	rows.Append(&plain)
	if err := chstore.Insert(testContext(t), conn, &rows, ""); err != nil {
		t.Fatal(err)
	}
	q := "SELECT ts_ms, engaged_ms, click_ts_ms, gpc, dnt, is_bot, " + strings.Join(event.TrackingColumns[:], ", ") +
		" FROM events WHERE event_id IN ('e1-purchase', 'e2-minimal') ORDER BY event_id"
	res, err := conn.Query(testContext(t), q)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var got [][]any
	for res.Next() {
		var tsMs, clickMs uint64
		var engaged uint32
		var gpc, dnt, bot uint8
		texts := make([]string, event.NumTracking)
		dest := []any{&tsMs, &engaged, &clickMs, &gpc, &dnt, &bot}
		for i := range texts {
			dest = append(dest, &texts[i])
		}
		if err := res.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		got = append(got, []any{tsMs, engaged, clickMs, gpc, dnt, bot, texts})
	}
	if len(got) != 2 {
		t.Fatalf("read %d rows, want 2", len(got))
	}
	want := make([]string, event.NumTracking)
	for i, n := range event.TrackingColumns {
		want[i] = "v:" + n + "-ü"
	}
	if w := []any{uint64(full.TSMs), uint32(61_500), uint64(full.ClickTSMs), uint8(1), uint8(0), uint8(1), want}; !reflect.DeepEqual(got[0], w) {
		t.Errorf("full row:\n got %v\nwant %v", got[0], w)
	}
	if w := []any{uint64(1_700_000_001_000), uint32(0), uint64(0), uint8(0), uint8(0), uint8(0), make([]string, event.NumTracking)}; !reflect.DeepEqual(got[1], w) {
		t.Errorf("row without tracking fields:\n got %v\nwant %v", got[1], w)
	}
}
