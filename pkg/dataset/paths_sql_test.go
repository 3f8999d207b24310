package dataset

import (
	"context"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// The path reports (funnel, time-to-convert, attribution, abandoners,
// retention) run through pkg/analysis on the private ClickHouse, and their
// rows must equal the oracle's (oracle_paths.go): counts exactly, shares and
// rates exactly (both sides divide the same integers), rounded figures to
// their rounding, fractional credit to 1e-9 relative.

// report runs the shipped query name with values and returns its rows as
// maps from column name to text, checking the columns are want.
func report(t *testing.T, ctx context.Context, conn chstore.Conn, name string, values map[string]string, want ...string) []map[string]string {
	t.Helper()
	q, err := analysis.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Run(ctx, conn, values)
	if err != nil {
		t.Fatalf("%s %v: %v", name, values, err)
	}
	if !reflect.DeepEqual(res.Columns, want) {
		t.Fatalf("%s: columns %v, want %v", name, res.Columns, want)
	}
	out := make([]map[string]string, len(res.Rows))
	for i, r := range res.Rows {
		m := map[string]string{}
		for j, c := range res.Columns {
			m[c] = r[j]
		}
		out[i] = m
	}
	return out
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return f
}

func count(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a count", s)
	}
	return n
}

// near reports whether got is want within abs plus rel of want.
func near(got, want, abs, rel float64) bool {
	return math.Abs(got-want) <= abs+rel*math.Abs(want)
}

func params(px Pixel, from, to string, kv ...string) map[string]string {
	m := map[string]string{"pixel": px.ID, "tz": px.TimeZone, "from": from, "to": to}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func checkFunnel(t *testing.T, ctx context.Context, conn chstore.Conn, p *Population, px Pixel, from, to string, window time.Duration, steps ...string) {
	t.Helper()
	v := params(px, from, to, "window", strconv.Itoa(int(window/time.Second)))
	v["steps"] = strings.Join(steps, ",")
	rows := report(t, ctx, conn, "funnel", v, "step", "event", "visitors", "visitors_share", "dropped", "dropped_rate")
	var got []FunnelStep
	for _, r := range rows {
		got = append(got, FunnelStep{Step: count(t, r["step"]), Event: r["event"], Visitors: count(t, r["visitors"]),
			Share: num(t, r["visitors_share"]), Dropped: count(t, r["dropped"]), Rate: num(t, r["dropped_rate"])})
	}
	want := p.FunnelReport(px.ID, steps, window, from, to)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("funnel %v:\n got %v\nwant %v", v, got, want)
	}
}

func checkTimeToConvert(t *testing.T, ctx context.Context, conn chstore.Conn, p *Population, px Pixel, from, to string, lookback int) {
	t.Helper()
	v := params(px, from, to, "lookback_days", strconv.Itoa(lookback))
	rows := report(t, ctx, conn, "time-to-convert", v, "bucket", "converters", "converters_share", "median_hours", "mean_hours")
	want := p.TimeToConvert(px.ID, "Purchase", from, to, lookback)
	if len(rows) != len(want) {
		t.Fatalf("time-to-convert %v: %d rows, want %d", v, len(rows), len(want))
	}
	for i, r := range rows {
		w := want[i]
		// Hours are rounded to 2 decimals.
		if r["bucket"] != w.Bucket || count(t, r["converters"]) != w.Converters || num(t, r["converters_share"]) != w.Share ||
			!near(num(t, r["median_hours"]), w.MedianHours, 0.005+1e-9, 0) || !near(num(t, r["mean_hours"]), w.MeanHours, 0.005+1e-9, 0) {
			t.Errorf("time-to-convert %v row %d: got %v, want %+v", v, i, r, w)
		}
	}
	if total := want[len(want)-1].Converters; total == 0 {
		t.Errorf("time-to-convert %v: no converters; the test wants some", v)
	}
}

func checkAttribution(t *testing.T, ctx context.Context, conn chstore.Conn, p *Population, px Pixel, from, to, model string, lookback int) {
	t.Helper()
	v := params(px, from, to, "model", model, "lookback_days", strconv.Itoa(lookback))
	rows := report(t, ctx, conn, "attribution", v, "source", "medium", "campaign", "currency", "conversions", "revenue")
	want := p.Attribution(px.ID, "Purchase", model, lookback, from, to)
	got := map[CreditKey]Credit{}
	totals := 0
	for i, r := range rows {
		k := CreditKey{r["source"], r["medium"], r["campaign"], r["currency"]}
		if _, dup := got[k]; dup {
			t.Errorf("attribution %v: two rows for %v", v, k)
		}
		got[k] = Credit{num(t, r["conversions"]), num(t, r["revenue"])}
		if k.Source == "Total" {
			totals++
		} else if totals > 0 {
			t.Errorf("attribution %v: row %d (%v) after a Total row", v, i, k)
		}
	}
	if len(got) != len(want) {
		t.Errorf("attribution %v: %d rows, oracle %d:\n got %v\nwant %v", v, len(got), len(want), got, want)
	}
	whole := model == "first" || model == "last"
	for k, w := range want {
		g, ok := got[k]
		// Credit is rounded to 6 decimals, revenue to cents; whole credit
		// and totals give exact cents.
		okC := near(g.Conversions, w.Conversions, 5e-7, 1e-9)
		okR := near(g.Revenue, w.Revenue, 0.005, 1e-9)
		if whole || k.Source == "Total" {
			okR = math.Round(g.Revenue*100) == math.Round(w.Revenue*100)
		}
		if !ok || !okC || !okR {
			t.Errorf("attribution %v %v: got %+v, want %+v", v, k, g, w)
		}
	}
	if len(want) < 6 {
		t.Errorf("attribution %v: only %d rows; the test wants campaigns, direct and totals", v, len(want))
	}
}

func checkAbandoners(t *testing.T, ctx context.Context, conn chstore.Conn, p *Population, px Pixel, from, to string, days int) {
	t.Helper()
	v := params(px, from, to, "days", strconv.Itoa(days))
	rows := report(t, ctx, conn, "abandoners", v, "day", "visitors", "abandoners", "abandoned_rate")
	var got []AbandonDay
	for _, r := range rows {
		d := AbandonDay{Day: r["day"], Visitors: count(t, r["visitors"]), Abandoners: count(t, r["abandoners"])}
		if rate := num(t, r["abandoned_rate"]); rate != float64(d.Abandoners)/float64(d.Visitors) {
			t.Errorf("abandoners %v: %v has rate %v", v, d, rate)
		}
		got = append(got, d)
	}
	want := p.AbandonersByDay(px.ID, "AddToCart", "Purchase", days, from, to)
	if !reflect.DeepEqual(got, want) || want[len(want)-1].Abandoners == 0 {
		t.Errorf("abandoners %v:\n got %v\nwant %v", v, got, want)
	}
}

func checkRetention(t *testing.T, ctx context.Context, conn chstore.Conn, p *Population, px Pixel, from, to string, weeks, lookback int) {
	t.Helper()
	v := params(px, from, to, "weeks", strconv.Itoa(weeks), "lookback_days", strconv.Itoa(lookback))
	rows := report(t, ctx, conn, "retention", v, "cohort", "week", "visitors", "visitors_share", "cohort_visitors")
	var got []RetentionRow
	for _, r := range rows {
		c := RetentionRow{Cohort: r["cohort"], Week: count(t, r["week"]), Visitors: count(t, r["visitors"]), CohortVisitors: count(t, r["cohort_visitors"])}
		if share := num(t, r["visitors_share"]); share != float64(c.Visitors)/float64(c.CohortVisitors) {
			t.Errorf("retention %v: %v has share %v", v, c, share)
		}
		got = append(got, c)
	}
	want := p.Retention(px.ID, weeks, lookback, from, to)
	if !reflect.DeepEqual(got, want) || len(want) < 4 {
		t.Errorf("retention %v:\n got %v\nwant %v", v, got, want)
	}
}

// TestPathReportsMatchOracle inserts a generated population (replays,
// browser and server copies, bots, visitors without consent) and checks
// every path report against the oracle on both pixels, over the whole
// range and over one that starts in the middle (so that look-backs reach
// before it); then again once the table's parts are merged.
func TestPathReportsMatchOracle(t *testing.T) {
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx := devstacktest.Context(t)
	// Merges would collapse copies whenever they run; stopped, every
	// stored row is read by the queries (see TestInsertMatchesOracle).
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES events"); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(11, 1000)
	cfg.Days = 28 // four weeks of cohorts
	p := Generate(cfg)
	n, err := Insert(ctx, conn, p, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d events", n)
	p = FromEvents(cfg.Pixels, p.All())

	checkAll := func(t *testing.T) {
		for _, px := range cfg.Pixels {
			t.Run(px.ID, func(t *testing.T) { checkPaths(t, ctx, conn, p, px, cfg) })
		}
	}
	checkAll(t)
	// Merged, ReplacingMergeTree keeps one row of the copies that share a
	// sorting key (replays; a browser and a server copy of one UTC day, the
	// server's, inserted last): the answers stay the same.
	before := devstacktest.QueryUint64(t, conn, "SELECT count() FROM events")
	for _, stmt := range []string{"SYSTEM START MERGES events", "OPTIMIZE TABLE events FINAL"} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	after := devstacktest.QueryUint64(t, conn, "SELECT count() FROM events")
	if after >= before {
		t.Fatalf("OPTIMIZE FINAL left %d of %d rows; the test wants merged copies", after, before)
	}
	t.Logf("merged: %d rows of %d", after, before)
	t.Run("merged", checkAll)
}

func checkPaths(t *testing.T, ctx context.Context, conn chstore.Conn, p *Population, px Pixel, cfg Config) {
	first := cfg.Start.Format(time.DateOnly)
	last := cfg.Start.AddDate(0, 0, cfg.Days).Format(time.DateOnly) // sessions may end after the start range
	mid := cfg.Start.AddDate(0, 0, 9).Format(time.DateOnly)         // a Wednesday
	midEnd := cfg.Start.AddDate(0, 0, 20).Format(time.DateOnly)
	checkFunnel(t, ctx, conn, p, px, first, last, 7*24*time.Hour, "PageView", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase")
	checkFunnel(t, ctx, conn, p, px, mid, midEnd, 30*time.Second, "PageView", "ViewContent", "AddToCart")
	checkFunnel(t, ctx, conn, p, px, first, last, 24*time.Hour, "ViewContent", "Purchase")

	checkTimeToConvert(t, ctx, conn, p, px, first, last, 90)
	checkTimeToConvert(t, ctx, conn, p, px, mid, midEnd, 2)

	for _, model := range []string{"first", "last", "linear", "position"} {
		checkAttribution(t, ctx, conn, p, px, first, last, model, 30)
		checkAttribution(t, ctx, conn, p, px, mid, midEnd, model, 1)
	}

	checkAbandoners(t, ctx, conn, p, px, first, last, 7)
	checkAbandoners(t, ctx, conn, p, px, mid, midEnd, 1)

	checkRetention(t, ctx, conn, p, px, first, last, 8, 30)
	checkRetention(t, ctx, conn, p, px, mid, last, 2, 3)
}
