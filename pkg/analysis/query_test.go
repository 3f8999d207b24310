package analysis_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// The private test server runs in UTC, so a day here is a UTC day.
var day10 = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC).Unix()

// at is a time on January day of 2026, as Unix seconds.
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
		if !strings.Contains(q.SQL, "LIMIT 1 BY event_id") && !strings.Contains(q.SQL, "GROUP BY event_id, event") {
			t.Errorf("query %s does not de-duplicate by event_id", q.Name)
		}
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "conversions cpa engaged funnel") || !strings.Contains(got, "roas") {
		t.Fatalf("queries %q", got)
	}
	if _, err := analysis.Lookup("nope"); err == nil || !strings.Contains(err.Error(), "conversions, cpa, engaged, funnel") {
		t.Fatalf("Lookup of an unknown name: %v", err)
	}
}

func TestQueryConversions(t *testing.T) {
	conn := open(t, devstacktest.Database(t))
	rows := []row{
		ev("c1", "shop", "v1", "s1", "Purchase", at(10, 10, 0, 0)),
		ev("c2", "shop", "v2", "s2", "Purchase", at(10, 11, 0, 0)),
		ev("c3", "shop", "v1", "s3", "Purchase", at(11, 23, 59, 59)),
		ev("c4", "shop", "v3", "s4", "Purchase", at(12, 0, 0, 0)),   // after the range
		ev("c5", "shop", "v3", "s4", "Purchase", at(9, 23, 59, 59)), // before it
		ev("c6", "other", "v9", "s9", "Purchase", at(10, 12, 0, 0)),
		ev("p1", "shop", "v1", "s1", "PageView", at(10, 9, 0, 0)),
		ev("l1", "shop", "v4", "s5", "Lead", at(10, 9, 30, 0)),
		ev("l2", "shop", "v5", "s6", "Lead", at(10, 9, 40, 0)),
	}
	values := map[string]float64{"c1": 19.9, "c2": 30.05, "c3": 5, "c4": 1000, "c5": 1000, "c6": 100, "l2": 0.5}
	for i := range rows {
		rows[i].Value = values[rows[i].EventID]
		rows[i].Currency = "EUR"
	}
	// c2 was replayed once, c3 twice: each still counts once.
	insertQueryRows(t, conn, rows, "c2", "c3", "c3", "l1")

	checkQuery(t, conn, "conversions", map[string]string{"from": "2026-01-10", "to": "2026-01-11"},
		"pixel_id\tday\tconversions\trevenue",
		"other\t2026-01-10\t1\t100",
		"shop\t2026-01-10\t2\t49.95",
		"shop\t2026-01-11\t1\t5",
	)
	checkQuery(t, conn, "conversions", map[string]string{"from": "2026-01-10", "to": "2026-01-10", "event": "Lead"},
		"pixel_id\tday\tconversions\trevenue",
		"shop\t2026-01-10\t2\t0.5",
	)
	checkQuery(t, conn, "conversions", map[string]string{"from": "2026-01-13", "to": "2026-01-31"},
		"pixel_id\tday\tconversions\trevenue",
	)
}

func TestQueryEngaged(t *testing.T) {
	conn := open(t, devstacktest.Database(t))
	t0 := at(10, 10, 0, 0)
	goal := func(r row, props string) row { r.Props = props; return r }
	rows := []row{
		// v1: 59 seconds.
		ev("a1", "shop", "v1", "s1", "PageView", t0),
		ev("a2", "shop", "v1", "s1", "PageView", t0+59),
		// v2: a minute in one session, 200 s in another.
		ev("b1", "shop", "v2", "s2", "PageView", t0),
		ev("b2", "shop", "v2", "s2", "PageView", t0+60),
		ev("b3", "shop", "v2", "s3", "PageView", t0+1000),
		ev("b4", "shop", "v2", "s3", "AddToCart", t0+1100),
		ev("b5", "shop", "v2", "s3", "PageView", t0+1200),
		// v3: the tag's one-minute goal after 5 s of events.
		ev("c1", "shop", "v3", "s4", "PageView", t0),
		goal(ev("c2", "shop", "v3", "s4", "Engaged", t0+5), `{"seconds":"60"}`),
		// v4: a 30-second goal and 10 s of events.
		goal(ev("d1", "shop", "v4", "s5", "Engaged", t0), `{"seconds":"30"}`),
		ev("d2", "shop", "v4", "s5", "PageView", t0+10),
		// v5: an Engaged event without seconds; v6: seconds as a number.
		ev("e1", "shop", "v5", "s6", "Engaged", t0),
		goal(ev("f1", "shop", "v6", "s7", "Engaged", t0), `{"seconds":90,"page":"/a"}`),
		// v7: ten minutes without a session id: not a session; v8: a goal without one.
		ev("g1", "shop", "v7", "", "PageView", t0),
		ev("g2", "shop", "v7", "", "PageView", t0+600),
		goal(ev("h1", "shop", "v8", "", "Engaged", t0), `{"seconds":"120"}`),
		// v9: long, but another pixel.
		ev("i1", "other", "v9", "s8", "PageView", t0),
		ev("i2", "other", "v9", "s8", "PageView", t0+3600),
		// v10: 70 s, but the session started before the range, which cuts it
		// to its last event.
		ev("j1", "shop", "v10", "s9", "PageView", day10-30),
		ev("j2", "shop", "v10", "s9", "PageView", day10+40),
	}
	insertQueryRows(t, conn, rows, "a2", "b2", "c2", "c2", "e1")

	params := map[string]string{"pixel": "shop", "from": "2026-01-10", "to": "2026-01-11"}
	checkQuery(t, conn, "engaged", params,
		"visitor_id\tengaged_sessions\tlongest_seconds",
		"v2\t2\t200",
		"v3\t1\t5",
		"v5\t1\t0",
		"v6\t1\t0",
		"v8\t1\t0",
	)
	params["min_seconds"] = "30"
	checkQuery(t, conn, "engaged", params,
		"visitor_id\tengaged_sessions\tlongest_seconds",
		"v1\t1\t59",
		"v2\t2\t200",
		"v3\t1\t5",
		"v4\t1\t10",
		"v5\t1\t0",
		"v6\t1\t0",
		"v8\t1\t0",
	)
	checkQuery(t, conn, "engaged", map[string]string{"pixel": "other", "from": "2026-01-10", "to": "2026-01-10"},
		"visitor_id\tengaged_sessions\tlongest_seconds",
		"v9\t1\t3600",
	)
}

func TestQueryArgs(t *testing.T) {
	q, err := analysis.Lookup("conversions")
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args(map[string]string{"from": "2026-01-10", "to": "2026-01-11"})
	if err != nil || fmt.Sprint(args) != "[Purchase 2026-01-10 2026-01-11]" {
		t.Fatalf("Args = %v, %v; want the default event and both dates, in the order of the placeholders", args, err)
	}
	for _, tc := range []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"from": "2026-01-10"}, "needs -to"},
		{map[string]string{"from": "2026-01-10", "to": "tomorrow"}, "-to: \"tomorrow\" is not a date"},
		{map[string]string{"from": "2026-02-30", "to": "2026-03-01"}, "-from"},
		{map[string]string{"from": "2026-01-10", "to": "2026-01-11", "pixel": "x"}, "no parameter -pixel"},
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
		if _, err := f.Args(map[string]string{"pixel": "shop", "tz": "UTC", "from": "2026-01-10", "to": "2026-01-11", "window": bad}); err == nil || !strings.Contains(err.Error(), "-window") {
			t.Errorf("window %q: %v, want an error about -window", bad, err)
		}
	}
}
