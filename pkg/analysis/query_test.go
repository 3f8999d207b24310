package analysis_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// at is a time on January day of 2026, as Unix seconds. The private test
// server runs in UTC, so a day here is a UTC day.
func at(day, hour, minute, second int) int64 {
	return time.Date(2026, 1, day, hour, minute, second, 0, time.UTC).Unix()
}

// ev is an events row with what the queries read; received_at follows ts.
func ev(id, pixel, visitor, session, name string, ts int64) row {
	return row{EventID: id, PixelID: pixel, VisitorID: visitor, SessionID: session, Event: name, TS: ts, ReceivedAt: ts + 1}
}

// insertQueryRows inserts rows and then the rows marked as replayed again, as a
// Kafka replay would: the copies share every column with the originals.
func insertQueryRows(t *testing.T, conn chstore.Conn, rows []row, replayed ...string) {
	t.Helper()
	if err := chstore.Insert(testContext(t), conn, buildRows(rows), ""); err != nil {
		t.Fatal(err)
	}
	var again []row
	for _, r := range rows {
		for _, id := range replayed {
			if r.EventID == id {
				again = append(again, r)
			}
		}
	}
	if len(again) != len(replayed) {
		t.Fatalf("replayed ids %v: %d rows found", replayed, len(again))
	}
	if err := chstore.Insert(testContext(t), conn, buildRows(again), ""); err != nil {
		t.Fatal(err)
	}
	if n, d := queryUint64(t, conn, "SELECT count() FROM events"), queryUint64(t, conn, "SELECT uniqExact(event_id) FROM events"); n != d+uint64(len(replayed)) {
		t.Fatalf("%d rows, %d distinct: the duplicates are not stored", n, d)
	}
}

// runQuery runs a shipped query and returns its result as TSV with names.
func runQuery(t *testing.T, conn chstore.Conn, name string, params map[string]string) string {
	t.Helper()
	q, err := analysis.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Run(testContext(t), conn, params)
	if err != nil {
		t.Fatalf("%s %v: %v", name, params, err)
	}
	var b bytes.Buffer
	if err := res.WriteTSV(&b, true); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func checkQuery(t *testing.T, conn chstore.Conn, name string, params map[string]string, want ...string) {
	t.Helper()
	got := runQuery(t, conn, name, params)
	if w := strings.Join(want, "\n") + "\n"; got != w {
		t.Errorf("%s %v:\n got:\n%s\nwant:\n%s", name, params, got, w)
	}
}

// rollupRE finds a read of a rollup (schemas/clickhouse/0008-0011).
var rollupRE = regexp.MustCompile(`FROM (daily_stats|sessions|page_views|visitors)\b`)

func TestShippedQueries(t *testing.T) {
	qs, err := analysis.Queries()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
		if q.Title == "" || q.Doc == "" || len(q.Params) == 0 {
			t.Errorf("query %s: title %q, %d bytes of doc, %d params; want all three", q.Name, q.Title, len(q.Doc), len(q.Params))
		}
		// Over raw events a query de-duplicates by event id; the rollups
		// hold states that copies of an event do not change.
		if !strings.Contains(q.SQL, "LIMIT 1 BY event_id") && !strings.Contains(q.SQL, "GROUP BY event_id") && !rollupRE.MatchString(q.SQL) {
			t.Errorf("query %s does not de-duplicate by event_id", q.Name)
		}
	}
	if got := strings.Join(names, " "); got != "conversions engaged funnel pages retargeting" {
		t.Fatalf("queries %q", got)
	}
	if _, err := analysis.Lookup("nope"); err == nil || !strings.Contains(err.Error(), "conversions, engaged, funnel, pages, retargeting") {
		t.Fatalf("Lookup of an unknown name: %v", err)
	}
}

func TestQueryFunnel(t *testing.T) {
	conn := open(t, devstacktest.Database(t))
	t0 := at(10, 10, 0, 0)
	rows := []row{
		// v1: every step in order.
		ev("a1", "shop", "v1", "s1", "PageView", t0),
		ev("a2", "shop", "v1", "s1", "AddToCart", t0+60),
		ev("a3", "shop", "v1", "s1", "Purchase", t0+120),
		// v2: viewed and added.
		ev("b1", "shop", "v2", "s2", "PageView", t0),
		ev("b2", "shop", "v2", "s2", "AddToCart", t0+300),
		ev("b3", "shop", "v2", "s2", "PageView", t0+400),
		// v3: viewed only.
		ev("c1", "shop", "v3", "s3", "PageView", t0+5),
		// v4: added before viewing, then bought without adding again.
		ev("d1", "shop", "v4", "s4", "AddToCart", t0),
		ev("d2", "shop", "v4", "s4", "PageView", t0+100),
		ev("d3", "shop", "v4", "s4", "Purchase", t0+200),
		// v5: bought without viewing: not in the funnel.
		ev("e1", "shop", "v5", "s5", "Purchase", t0),
		// v6: added to the cart after the range ended.
		ev("f1", "shop", "v6", "s6", "PageView", at(11, 23, 0, 0)),
		ev("f2", "shop", "v6", "s6", "AddToCart", at(12, 0, 30, 0)),
		// v7: added an hour after viewing, bought the next day.
		ev("g1", "shop", "v7", "s7", "PageView", t0),
		ev("g2", "shop", "v7", "s7", "AddToCart", t0+3600),
		ev("g3", "shop", "v7", "s8", "Purchase", t0+86400),
		// Another pixel, and one whose visitors never viewed a page.
		ev("h1", "other", "v8", "s9", "PageView", t0),
		ev("h2", "other", "v8", "s9", "Purchase", t0+10),
		ev("i1", "carts-only", "v9", "s10", "AddToCart", t0),
	}
	insertQueryRows(t, conn, rows, "a1", "a3", "a3", "c1", "g2")

	checkQuery(t, conn, "funnel", map[string]string{"from": "2026-01-10", "to": "2026-01-11"},
		"pixel_id\tviewed\tadded_to_cart\tpurchased",
		"other\t1\t0\t0",
		"shop\t6\t3\t2",
	)
	// Within ten minutes v7 gets no further than the first step.
	checkQuery(t, conn, "funnel", map[string]string{"from": "2026-01-10", "to": "2026-01-11", "window": "600"},
		"pixel_id\tviewed\tadded_to_cart\tpurchased",
		"other\t1\t0\t0",
		"shop\t6\t2\t1",
	)
	// The first day alone: v7's purchase is outside.
	checkQuery(t, conn, "funnel", map[string]string{"from": "2026-01-10", "to": "2026-01-10"},
		"pixel_id\tviewed\tadded_to_cart\tpurchased",
		"other\t1\t0\t0",
		"shop\t5\t3\t1",
	)
}

func TestQueryRetargeting(t *testing.T) {
	conn := open(t, devstacktest.Database(t))
	view := func(id, pixel, visitor string, ts int64, ids ...string) row {
		r := ev(id, pixel, visitor, "s", "ViewContent", ts)
		r.ContentIDs = ids
		return r
	}
	rows := []row{
		// v1 viewed two products (twice one of them) and did not buy.
		view("a1", "shop", "v1", at(10, 10, 0, 0), "sku-b", "sku-a"),
		view("a2", "shop", "v1", at(10, 9, 0, 0), "sku-a"),
		// v2 bought two days later.
		view("b1", "shop", "v2", at(10, 10, 0, 0), "sku-c"),
		ev("b2", "shop", "v2", "s", "Purchase", at(12, 10, 0, 0)),
		// v3 bought eight days later: too late.
		view("c1", "shop", "v3", at(10, 10, 0, 0), "sku-d"),
		ev("c2", "shop", "v3", "s", "Purchase", at(18, 10, 1, 0)),
		// v4 bought between two views: the last view counts.
		view("d1", "shop", "v4", at(10, 8, 0, 0), "sku-e"),
		ev("d2", "shop", "v4", "s", "Purchase", at(11, 11, 0, 0)),
		view("d3", "shop", "v4", at(11, 12, 0, 0), "sku-f"),
		// v5 viewed no content ids, v6 only pages: not viewers.
		view("e1", "shop", "v5", at(10, 10, 0, 0)),
		ev("f1", "shop", "v6", "s", "PageView", at(10, 10, 0, 0)),
		// v7 viewed before the range, v8 after it, v9 on another pixel.
		view("g1", "shop", "v7", at(9, 23, 59, 59), "sku-g"),
		view("h1", "shop", "v8", at(12, 0, 0, 0), "sku-h"),
		view("i1", "other", "v9", at(10, 10, 0, 0), "sku-i"),
		// v10 viewed late on the last day and bought on the seventh day after.
		view("j1", "shop", "v10", at(11, 23, 0, 0), "sku-j"),
		ev("j2", "shop", "v10", "s", "Purchase", at(18, 22, 0, 0)),
	}
	insertQueryRows(t, conn, rows, "a1", "a1", "b2", "d3")

	params := map[string]string{"pixel": "shop", "from": "2026-01-10", "to": "2026-01-11"}
	checkQuery(t, conn, "retargeting", params,
		"visitor_id\tlast_view\tcontent_ids",
		"v1\t2026-01-10 10:00:00\t['sku-a','sku-b']",
		"v3\t2026-01-10 10:00:00\t['sku-d']",
		"v4\t2026-01-11 12:00:00\t['sku-e','sku-f']",
	)
	// Over ten days v3's purchase counts.
	params["days"] = "10"
	checkQuery(t, conn, "retargeting", params,
		"visitor_id\tlast_view\tcontent_ids",
		"v1\t2026-01-10 10:00:00\t['sku-a','sku-b']",
		"v4\t2026-01-11 12:00:00\t['sku-e','sku-f']",
	)
	// Values are bound, never spliced into the SQL.
	checkQuery(t, conn, "retargeting", map[string]string{"pixel": "shop' OR pixel_id != '", "from": "2026-01-01", "to": "2026-01-31"},
		"visitor_id\tlast_view\tcontent_ids",
	)
}

func TestQueryArgs(t *testing.T) {
	q, err := analysis.Lookup("conversions")
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args(map[string]string{"pixel": "shop", "from": "2026-01-10", "to": "2026-01-11", "tz": "UTC"})
	want := map[string]any{"pixel": "shop", "from": "2026-01-10", "to": "2026-01-11", "tz": "UTC", "bots": uint64(0), "by": "day", "event": "Purchase"}
	if err != nil || len(args) != len(q.Bind) || len(args) == 0 {
		t.Fatalf("Args = %v, %v; want %d arguments", args, err, len(q.Bind))
	}
	for i, name := range q.Bind {
		if args[i] != want[name] {
			t.Fatalf("Args = %v; argument %d is -%s, want %v: the defaults and the values in the order of the placeholders", args, i, name, want[name])
		}
	}
	for _, tc := range []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"pixel": "shop", "tz": "UTC", "from": "2026-01-10"}, "needs -to"},
		{map[string]string{"pixel": "shop", "tz": "UTC", "from": "2026-01-10", "to": "tomorrow"}, "-to: \"tomorrow\" is not a date"},
		{map[string]string{"pixel": "shop", "tz": "UTC", "from": "2026-02-30", "to": "2026-03-01"}, "-from"},
		{map[string]string{"pixel": "shop", "tz": "UTC", "from": "2026-01-10", "to": "2026-01-11", "nope": "x"}, "no parameter -nope"},
	} {
		if _, err := q.Args(tc.values); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Args(%v) = %v, want an error containing %q", tc.values, err, tc.want)
		}
	}
	f, err := analysis.Lookup("funnel")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"-1", "4294967296", "1e3", "ten"} {
		if _, err := f.Args(map[string]string{"from": "2026-01-10", "to": "2026-01-11", "window": bad}); err == nil {
			t.Errorf("window %q accepted", bad)
		}
	}
}
