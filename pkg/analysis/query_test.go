package analysis_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
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
		if !strings.Contains(q.SQL, "LIMIT 1 BY event_id") && !strings.Contains(q.SQL, "GROUP BY event_id, event") && !rollupRE.MatchString(q.SQL) {
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
		if _, err := f.Args(map[string]string{"pixel": "shop", "tz": "UTC", "from": "2026-01-10", "to": "2026-01-11", "window": bad}); err == nil || !strings.Contains(err.Error(), "-window") {
			t.Errorf("window %q: %v, want an error about -window", bad, err)
		}
	}
}
