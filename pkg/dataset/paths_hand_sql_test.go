package dataset

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// pathEvent is one event of the hand-checked path population.
type pathEvent struct {
	pixel, name, visitor, id, at string // at: RFC 3339 with milliseconds
	cents                        int64
	currency, channel            string
	utm                          string // "source/medium/campaign"
	bot                          bool
}

func (h pathEvent) event() event.Event {
	ts, err := time.Parse(time.RFC3339Nano, h.at)
	if err != nil {
		panic(err)
	}
	e := event.Event{
		EventID: []byte(h.id), PixelID: []byte(h.pixel), VisitorID: []byte(h.visitor), SessionID: []byte("s-" + h.visitor),
		Name: []byte(h.name), TS: ts.Unix(), TSMs: ts.UnixMilli(), ReceivedAt: ts.Unix() + 1,
		Value: float64(h.cents) / 100, Currency: []byte(h.currency), IsBot: h.bot,
	}
	if h.channel == "" {
		h.channel = "browser"
	}
	e.Tracking[event.Channel] = []byte(h.channel)
	if h.utm != "" {
		u := strings.Split(h.utm, "/")
		e.Tracking[event.UTMSource], e.Tracking[event.UTMMedium], e.Tracking[event.UTMCampaign] = []byte(u[0]), []byte(u[1]), []byte(u[2])
	}
	return e
}

// The hand-checked pixels: one per report, so that each report's visitors
// are only the ones written for it.
var pathPixels = []Pixel{
	{ID: "px-attr", TimeZone: "Europe/Paris"},
	{ID: "px-fun", TimeZone: "America/New_York"},
	{ID: "px-ttc", TimeZone: "Europe/Paris"},
	{ID: "px-ab", TimeZone: "Europe/Paris"},
	{ID: "px-ret", TimeZone: "Europe/Paris"},
	{ID: "px-ret-ny", TimeZone: "America/New_York"},
}

const (
	brand  = "google/cpc/brand"
	spring = "google/cpc/spring_sale"
	retarg = "facebook/paid_social/retargeting"
	weekly = "newsletter/email/weekly"
	old    = "newsletter/email/old"
)

// pathEvents is small enough to check every answer by hand; the comments
// (and the expected rows in TestPathReportsHandChecked) say why.
var pathEvents = []pathEvent{
	// Attribution, px-attr, Paris days 2026-11-02 to 11-08, 30 days back.
	// a1: a touch exactly 30 days before the purchase (counts) and one a
	// millisecond earlier (does not): one touch, all the credit.
	{pixel: "px-attr", name: "PageView", visitor: "a1", id: "a1-0", at: "2026-10-03T09:59:59.999Z", utm: old},
	{pixel: "px-attr", name: "PageView", visitor: "a1", id: "a1-1", at: "2026-10-03T10:00:00.000Z", utm: brand},
	{pixel: "px-attr", name: "PageView", visitor: "a1", id: "a1-2", at: "2026-11-02T09:59:00.000Z"}, // no campaign: not a touch
	{pixel: "px-attr", name: "Purchase", visitor: "a1", id: "a1-c", at: "2026-11-02T10:00:00.000Z", cents: 10000, currency: "EUR"},
	// a2: two touches before a purchase (half each by position), one after
	// it (not a touch of it). Then a replayed purchase with three touches
	// within 30 days: 40% / 20% / 40%.
	{pixel: "px-attr", name: "PageView", visitor: "a2", id: "a2-1", at: "2026-11-03T08:00:00.000Z", utm: retarg},
	{pixel: "px-attr", name: "PageView", visitor: "a2", id: "a2-2", at: "2026-11-03T09:00:00.000Z", utm: spring},
	{pixel: "px-attr", name: "Purchase", visitor: "a2", id: "a2-c", at: "2026-11-03T10:00:00.000Z", cents: 5000, currency: "EUR"},
	{pixel: "px-attr", name: "PageView", visitor: "a2", id: "a2-3", at: "2026-11-03T11:00:00.000Z", utm: weekly},
	{pixel: "px-attr", name: "Purchase", visitor: "a2", id: "a2-d", at: "2026-11-06T10:00:00.000Z", cents: 3000, currency: "EUR"},
	{pixel: "px-attr", name: "Purchase", visitor: "a2", id: "a2-d", at: "2026-11-06T10:00:00.000Z", cents: 3000, currency: "EUR"},
	// a3: four touches (40 / 10 / 10 / 40) of a purchase in USD whose
	// server copy says 12.00, the browser's 10.00: the server's counts.
	{pixel: "px-attr", name: "PageView", visitor: "a3", id: "a3-1", at: "2026-11-04T08:00:00.000Z", utm: brand},
	{pixel: "px-attr", name: "PageView", visitor: "a3", id: "a3-2", at: "2026-11-04T08:10:00.000Z", utm: spring},
	{pixel: "px-attr", name: "PageView", visitor: "a3", id: "a3-3", at: "2026-11-04T08:20:00.000Z", utm: retarg},
	{pixel: "px-attr", name: "PageView", visitor: "a3", id: "a3-4", at: "2026-11-04T08:30:00.000Z", utm: weekly},
	{pixel: "px-attr", name: "Purchase", visitor: "a3", id: "a3-c", at: "2026-11-04T09:00:00.000Z", cents: 1000, currency: "USD"},
	{pixel: "px-attr", name: "Purchase", visitor: "a3", id: "a3-c", at: "2026-11-04T09:00:05.000Z", cents: 1200, currency: "USD", channel: "server"},
	// a4: no touch at all: direct. 00:30 on the 2nd in Paris is in the
	// range, 00:30 on the 9th is not.
	{pixel: "px-attr", name: "Purchase", visitor: "a4", id: "a4-c", at: "2026-11-01T23:30:00.000Z", cents: 500, currency: "EUR"},
	{pixel: "px-attr", name: "Purchase", visitor: "a4", id: "a4-d", at: "2026-11-05T12:00:00.000Z", cents: 2000, currency: "EUR"},
	{pixel: "px-attr", name: "Purchase", visitor: "a4", id: "a4-e", at: "2026-11-08T23:30:00.000Z", cents: 99900, currency: "EUR"},

	// Funnel, px-fun, New York days 2026-11-02 and 11-03 (EST, UTC-5),
	// PageView → ViewContent → AddToCart → Purchase within an hour.
	// f1: all four in order.
	{pixel: "px-fun", name: "PageView", visitor: "f1", id: "f1-1", at: "2026-11-02T15:00:00.000Z"},
	{pixel: "px-fun", name: "ViewContent", visitor: "f1", id: "f1-2", at: "2026-11-02T15:01:00.000Z"},
	{pixel: "px-fun", name: "AddToCart", visitor: "f1", id: "f1-3", at: "2026-11-02T15:02:00.000Z"},
	{pixel: "px-fun", name: "Purchase", visitor: "f1", id: "f1-4", at: "2026-11-02T15:03:00.000Z"},
	// f2: the cart before the product view: ViewContent is its furthest
	// step; without ViewContent as a step it goes to the end.
	{pixel: "px-fun", name: "PageView", visitor: "f2", id: "f2-1", at: "2026-11-02T15:00:00.000Z"},
	{pixel: "px-fun", name: "AddToCart", visitor: "f2", id: "f2-2", at: "2026-11-02T15:01:00.000Z"},
	{pixel: "px-fun", name: "ViewContent", visitor: "f2", id: "f2-3", at: "2026-11-02T15:02:00.000Z"},
	{pixel: "px-fun", name: "Purchase", visitor: "f2", id: "f2-4", at: "2026-11-02T15:03:00.000Z"},
	// f3: viewed a product before any page view: only the page view.
	{pixel: "px-fun", name: "ViewContent", visitor: "f3", id: "f3-1", at: "2026-11-02T15:00:00.000Z"},
	{pixel: "px-fun", name: "PageView", visitor: "f3", id: "f3-2", at: "2026-11-02T15:01:00.000Z"},
	// f4: the cart 3601 s after the page view: outside the hour.
	{pixel: "px-fun", name: "PageView", visitor: "f4", id: "f4-1", at: "2026-11-02T15:00:00.000Z"},
	{pixel: "px-fun", name: "ViewContent", visitor: "f4", id: "f4-2", at: "2026-11-02T15:30:00.000Z"},
	{pixel: "px-fun", name: "AddToCart", visitor: "f4", id: "f4-3", at: "2026-11-02T16:00:01.000Z"},
	// f5: the page view at 23:30 on the 1st in New York: before the range.
	{pixel: "px-fun", name: "PageView", visitor: "f5", id: "f5-1", at: "2026-11-02T04:30:00.000Z"},
	{pixel: "px-fun", name: "ViewContent", visitor: "f5", id: "f5-2", at: "2026-11-02T05:10:00.000Z"},
	// f6: the product view at 00:05 on the 4th in New York: after it.
	{pixel: "px-fun", name: "PageView", visitor: "f6", id: "f6-1", at: "2026-11-04T04:50:00.000Z"},
	{pixel: "px-fun", name: "ViewContent", visitor: "f6", id: "f6-2", at: "2026-11-04T05:05:00.000Z"},
	// f7: the product view exactly 3600 s after the page view: inside.
	{pixel: "px-fun", name: "PageView", visitor: "f7", id: "f7-1", at: "2026-11-03T15:00:00.000Z"},
	{pixel: "px-fun", name: "ViewContent", visitor: "f7", id: "f7-2", at: "2026-11-03T16:00:00.000Z"},

	// Time to convert, px-ttc, Paris days 2026-11-02 to 11-08.
	// t1: 1 h less 1 ms: < 1 h. t2: exactly 1 h: 1-6 h.
	{pixel: "px-ttc", name: "PageView", visitor: "t1", id: "t1-1", at: "2026-11-02T10:00:00.000Z"},
	{pixel: "px-ttc", name: "Purchase", visitor: "t1", id: "t1-2", at: "2026-11-02T10:59:59.999Z"},
	{pixel: "px-ttc", name: "PageView", visitor: "t2", id: "t2-1", at: "2026-11-02T10:00:00.000Z"},
	{pixel: "px-ttc", name: "Purchase", visitor: "t2", id: "t2-2", at: "2026-11-02T11:00:00.000Z"},
	// t3: first seen 62 days before (> 30 d); 30 days back it was first
	// seen 3 days before (3-7 d).
	{pixel: "px-ttc", name: "PageView", visitor: "t3", id: "t3-1", at: "2026-09-01T10:00:00.000Z"},
	{pixel: "px-ttc", name: "PageView", visitor: "t3", id: "t3-2", at: "2026-10-30T10:00:00.000Z"},
	{pixel: "px-ttc", name: "Purchase", visitor: "t3", id: "t3-3", at: "2026-11-02T10:00:00.000Z"},
	// t4: bought before the range: a repeat buyer, not counted; 5 days
	// back that earlier purchase is not seen, nor a page view: 0 h.
	{pixel: "px-ttc", name: "PageView", visitor: "t4", id: "t4-1", at: "2026-10-20T09:00:00.000Z"},
	{pixel: "px-ttc", name: "Purchase", visitor: "t4", id: "t4-2", at: "2026-10-20T10:00:00.000Z"},
	{pixel: "px-ttc", name: "Purchase", visitor: "t4", id: "t4-3", at: "2026-11-03T10:00:00.000Z"},
	// t5: a purchase without a page view: 0 h.
	{pixel: "px-ttc", name: "Purchase", visitor: "t5", id: "t5-1", at: "2026-11-04T10:00:00.000Z"},
	// t6: the browser's copy 10 s under a day (6-24 h), the server's 10 s
	// over (1-3 d): the server's counts.
	{pixel: "px-ttc", name: "PageView", visitor: "t6", id: "t6-1", at: "2026-11-05T10:00:00.000Z"},
	{pixel: "px-ttc", name: "Purchase", visitor: "t6", id: "t6-2", at: "2026-11-06T09:59:50.000Z"},
	{pixel: "px-ttc", name: "Purchase", visitor: "t6", id: "t6-2", at: "2026-11-06T10:00:10.000Z", channel: "server"},
	// A bot converts in no time.
	{pixel: "px-ttc", name: "Purchase", visitor: "t9", id: "t9-1", at: "2026-11-04T10:00:00.000Z", bot: true},

	// Abandoners, px-ab, Paris days 2026-11-02 to 11-04, 7 days.
	// b1: bought exactly 7 days after; b2: a millisecond later (abandoned).
	{pixel: "px-ab", name: "AddToCart", visitor: "b1", id: "b1-1", at: "2026-11-02T10:00:00.000Z"},
	{pixel: "px-ab", name: "Purchase", visitor: "b1", id: "b1-2", at: "2026-11-09T10:00:00.000Z"},
	{pixel: "px-ab", name: "AddToCart", visitor: "b2", id: "b2-1", at: "2026-11-02T10:00:00.000Z"},
	{pixel: "px-ab", name: "Purchase", visitor: "b2", id: "b2-2", at: "2026-11-09T10:00:00.001Z"},
	// b3: bought before adding: abandoned.
	{pixel: "px-ab", name: "Purchase", visitor: "b3", id: "b3-1", at: "2026-11-02T09:00:00.000Z"},
	{pixel: "px-ab", name: "AddToCart", visitor: "b3", id: "b3-2", at: "2026-11-02T10:00:00.000Z"},
	// b4: bought after the day's first add (not abandoned on the 2nd, nor
	// in the total); added again on the 3rd and did not buy after.
	{pixel: "px-ab", name: "AddToCart", visitor: "b4", id: "b4-1", at: "2026-11-02T10:00:00.000Z"},
	{pixel: "px-ab", name: "Purchase", visitor: "b4", id: "b4-2", at: "2026-11-02T10:30:00.000Z"},
	{pixel: "px-ab", name: "AddToCart", visitor: "b4", id: "b4-3", at: "2026-11-02T11:00:00.000Z"},
	{pixel: "px-ab", name: "AddToCart", visitor: "b4", id: "b4-4", at: "2026-11-03T10:00:00.000Z"},
	// b5: added at 00:30 on the 3rd in Paris, bought that morning.
	{pixel: "px-ab", name: "AddToCart", visitor: "b5", id: "b5-1", at: "2026-11-02T23:30:00.000Z"},
	{pixel: "px-ab", name: "Purchase", visitor: "b5", id: "b5-2", at: "2026-11-03T08:00:00.000Z"},
	// b6: added at 23:30 on the 1st in Paris: before the range.
	{pixel: "px-ab", name: "AddToCart", visitor: "b6", id: "b6-1", at: "2026-11-01T22:30:00.000Z"},

	// Retention, px-ret, Paris days 2026-10-19 to 11-08, 7 days back.
	// Paris leaves summer time on Sunday 2026-10-25 at 01:00 UTC.
	// r1: first seen on Sunday the 25th at 23:30 (CET); back on Monday the
	// 26th at 00:30, still Sunday in UTC: week 1 in Paris.
	{pixel: "px-ret", name: "PageView", visitor: "r1", id: "r1-1", at: "2026-10-25T22:30:00.000Z"},
	{pixel: "px-ret", name: "PageView", visitor: "r1", id: "r1-2", at: "2026-10-25T23:30:00.000Z"},
	// r2: first seen on the 25th at 02:30 summer time; back in week 2.
	{pixel: "px-ret", name: "PageView", visitor: "r2", id: "r2-1", at: "2026-10-25T00:30:00.000Z"},
	{pixel: "px-ret", name: "PageView", visitor: "r2", id: "r2-2", at: "2026-11-02T10:00:00.000Z"},
	// r3: first seen on Monday the 26th at 01:30 (Sunday in UTC): the
	// cohort of the 26th.
	{pixel: "px-ret", name: "PageView", visitor: "r3", id: "r3-1", at: "2026-10-26T00:30:00.000Z"},
	// r4: seen within the 7 days before the range: in no cohort.
	{pixel: "px-ret", name: "PageView", visitor: "r4", id: "r4-1", at: "2026-10-14T10:00:00.000Z"},
	{pixel: "px-ret", name: "PageView", visitor: "r4", id: "r4-2", at: "2026-10-20T10:00:00.000Z"},
	// r5: the first day of the range, back the next week.
	{pixel: "px-ret", name: "PageView", visitor: "r5", id: "r5-1", at: "2026-10-19T10:00:00.000Z"},
	{pixel: "px-ret", name: "PageView", visitor: "r5", id: "r5-2", at: "2026-10-27T10:00:00.000Z"},
	// r9: a bot, counted only with bots=1.
	{pixel: "px-ret", name: "PageView", visitor: "r9", id: "r9-1", at: "2026-10-20T10:00:00.000Z", bot: true},
	// px-ret-ny, New York days 2026-10-26 to 11-08; New York leaves summer
	// time on Sunday 2026-11-01 at 06:00 UTC.
	// n1: first seen on Sunday the 1st at 23:30 EST (Monday in UTC), back
	// on Monday at 00:30: the cohort of 10-26, active in week 1.
	{pixel: "px-ret-ny", name: "PageView", visitor: "n1", id: "n1-1", at: "2026-11-02T04:30:00.000Z"},
	{pixel: "px-ret-ny", name: "PageView", visitor: "n1", id: "n1-2", at: "2026-11-02T05:30:00.000Z"},
	// n2: 01:30 on the 1st twice, summer then winter time: one week.
	{pixel: "px-ret-ny", name: "PageView", visitor: "n2", id: "n2-1", at: "2026-11-01T05:30:00.000Z"},
	{pixel: "px-ret-ny", name: "PageView", visitor: "n2", id: "n2-2", at: "2026-11-01T06:30:00.000Z"},
}

// The oracle's rows, formatted as the reports print them.

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

func funnelLines(rows []FunnelStep) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d\t%s\t%d\t%s\t%d\t%s", r.Step, r.Event, r.Visitors, fmtFloat(r.Share), r.Dropped, fmtFloat(r.Rate)))
	}
	return out
}

func timeLines(rows []TimeBucket) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s\t%d\t%s\t%s\t%s", r.Bucket, r.Converters, fmtFloat(r.Share), fmtFloat(round(r.MedianHours, 2)), fmtFloat(round(r.MeanHours, 2))))
	}
	return out
}

// creditLines sorts as the report does: campaigns by credit, most first,
// then the totals.
func creditLines(m map[CreditKey]Credit) []string {
	keys := make([]CreditKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if (a.Source == "Total") != (b.Source == "Total") {
			return b.Source == "Total"
		}
		if ca, cb := round(m[a].Conversions, 6), round(m[b].Conversions, 6); ca != cb {
			return ca > cb
		}
		return fmt.Sprint(a) < fmt.Sprint(b)
	})
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", k.Source, k.Medium, k.Campaign, k.Currency, fmtFloat(round(m[k].Conversions, 6)), fmtFloat(round(m[k].Revenue, 2))))
	}
	return out
}

func abandonLines(rows []AbandonDay) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s\t%d\t%d\t%s", r.Day, r.Visitors, r.Abandoners, fmtFloat(float64(r.Abandoners)/float64(r.Visitors))))
	}
	return out
}

func retentionLines(rows []RetentionRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s\t%d\t%d\t%s\t%d", r.Cohort, r.Week, r.Visitors, fmtFloat(float64(r.Visitors)/float64(r.CohortVisitors)), r.CohortVisitors))
	}
	return out
}

// sqlLines runs a shipped report and returns its rows as tab-separated text.
func sqlLines(t *testing.T, ctx context.Context, conn chstore.Conn, name string, values map[string]string) []string {
	t.Helper()
	q, err := analysis.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Run(ctx, conn, values)
	if err != nil {
		t.Fatalf("%s %v: %v", name, values, err)
	}
	var out []string
	for _, r := range res.Rows {
		out = append(out, strings.Join(r, "\t"))
	}
	return out
}

func pixelOf(id string) Pixel {
	for _, p := range pathPixels {
		if p.ID == id {
			return p
		}
	}
	panic(id)
}

// TestPathReportsHandChecked checks the oracle and the SQL of each path
// report against answers worked out by hand from pathEvents.
func TestPathReportsHandChecked(t *testing.T) {
	evs := make([]event.Event, len(pathEvents))
	for i, h := range pathEvents {
		evs[i] = h.event()
	}
	p := FromEvents(pathPixels, evs)
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx := devstacktest.Context(t)
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES events"); err != nil {
		t.Fatal(err)
	}
	if _, err := Insert(ctx, conn, p, 0); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		values map[string]string // pixel, from, to and the report's own
		oracle []string
		want   []string
	}{
		{"funnel", params(pixelOf("px-fun"), "2026-11-02", "2026-11-03", "window", "3600", "steps", "PageView,ViewContent,AddToCart,Purchase"),
			funnelLines(p.FunnelReport("px-fun", []string{"PageView", "ViewContent", "AddToCart", "Purchase"}, time.Hour, "2026-11-02", "2026-11-03")),
			[]string{
				"1\tPageView\t6\t1\t0\t0",                                      // all but f5
				"2\tViewContent\t4\t0.6666666666666666\t2\t0.3333333333333333", // f1, f2, f4, f7
				"3\tAddToCart\t1\t0.16666666666666666\t3\t0.75",                // f1
				"4\tPurchase\t1\t0.16666666666666666\t0\t0",
			}},
		// Without ViewContent, f2 goes to the end; f4's cart is still too
		// late.
		{"funnel", params(pixelOf("px-fun"), "2026-11-02", "2026-11-03", "window", "3600", "steps", " PageView, AddToCart,Purchase"),
			funnelLines(p.FunnelReport("px-fun", []string{"PageView", "AddToCart", "Purchase"}, time.Hour, "2026-11-02", "2026-11-03")),
			[]string{
				"1\tPageView\t6\t1\t0\t0",
				"2\tAddToCart\t2\t0.3333333333333333\t4\t0.6666666666666666",
				"3\tPurchase\t2\t0.3333333333333333\t0\t0",
			}},
		{"time-to-convert", params(pixelOf("px-ttc"), "2026-11-02", "2026-11-08"),
			timeLines(p.TimeToConvert("px-ttc", "Purchase", "2026-11-02", "2026-11-08", 90)),
			[]string{
				"< 1 h\t2\t0.4\t0.5\t0.5", // t1 (1 h - 1 ms) and t5 (0)
				"1-6 h\t1\t0.2\t1\t1",     // t2
				"6-24 h\t0\t0\t0\t0",
				"1-3 d\t1\t0.2\t24\t24", // t6, 24 h 10 s
				"3-7 d\t0\t0\t0\t0",
				"7-14 d\t0\t0\t0\t0",
				"14-30 d\t0\t0\t0\t0",
				"> 30 d\t1\t0.2\t1488\t1488", // t3, 62 days
				"Total\t5\t1\t1\t302.8",      // median t2; mean 5 450 409 999 ms / 5
			}},
		{"time-to-convert", params(pixelOf("px-ttc"), "2026-11-02", "2026-11-08", "lookback_days", "5"),
			timeLines(p.TimeToConvert("px-ttc", "Purchase", "2026-11-02", "2026-11-08", 5)),
			[]string{
				"< 1 h\t3\t0.5\t0\t0.33", // t1, t4 (0 h: nothing seen before), t5
				"1-6 h\t1\t0.16666666666666666\t1\t1",
				"6-24 h\t0\t0\t0\t0",
				"1-3 d\t1\t0.16666666666666666\t24\t24",
				"3-7 d\t1\t0.16666666666666666\t72\t72", // t3, first seen on 10-30
				"7-14 d\t0\t0\t0\t0",
				"14-30 d\t0\t0\t0\t0",
				"> 30 d\t0\t0\t0\t0",
				"Total\t6\t1\t1\t16.33", // median (t1 + t2) / 2; mean 352 809 999 ms / 6
			}},
		{"attribution", params(pixelOf("px-attr"), "2026-11-02", "2026-11-08", "model", "position"),
			creditLines(p.Attribution("px-attr", "Purchase", "position", 30, "2026-11-02", "2026-11-08")),
			[]string{
				"(direct)\t(none)\t(none)\tEUR\t2\t25",             // a4's two purchases in the range
				"google\tcpc\tbrand\tEUR\t1\t100",                  // a1's one touch
				"facebook\tpaid_social\tretargeting\tEUR\t0.9\t37", // a2: 50% of 50 + 40% of 30
				"google\tcpc\tspring_sale\tEUR\t0.7\t31",           // 50% of 50 + 20% of 30
				"google\tcpc\tbrand\tUSD\t0.4\t4.8",                // a3: 40% of the server's 12
				"newsletter\temail\tweekly\tEUR\t0.4\t12",          // 40% of 30
				"newsletter\temail\tweekly\tUSD\t0.4\t4.8",         // 40% of 12
				"facebook\tpaid_social\tretargeting\tUSD\t0.1\t1.2",
				"google\tcpc\tspring_sale\tUSD\t0.1\t1.2",
				"Total\t\t\tEUR\t5\t205",
				"Total\t\t\tUSD\t1\t12",
			}},
		{"attribution", params(pixelOf("px-attr"), "2026-11-02", "2026-11-08", "model", "linear"),
			creditLines(p.Attribution("px-attr", "Purchase", "linear", 30, "2026-11-02", "2026-11-08")),
			[]string{
				"(direct)\t(none)\t(none)\tEUR\t2\t25",
				"google\tcpc\tbrand\tEUR\t1\t100",
				"facebook\tpaid_social\tretargeting\tEUR\t0.833333\t35", // 1/2 of 50 + 1/3 of 30
				"google\tcpc\tspring_sale\tEUR\t0.833333\t35",
				"newsletter\temail\tweekly\tEUR\t0.333333\t10",
				"facebook\tpaid_social\tretargeting\tUSD\t0.25\t3",
				"google\tcpc\tbrand\tUSD\t0.25\t3",
				"google\tcpc\tspring_sale\tUSD\t0.25\t3",
				"newsletter\temail\tweekly\tUSD\t0.25\t3",
				"Total\t\t\tEUR\t5\t205",
				"Total\t\t\tUSD\t1\t12",
			}},
		{"attribution", params(pixelOf("px-attr"), "2026-11-02", "2026-11-08", "model", "first"),
			creditLines(p.Attribution("px-attr", "Purchase", "first", 30, "2026-11-02", "2026-11-08")),
			[]string{
				"(direct)\t(none)\t(none)\tEUR\t2\t25",
				"facebook\tpaid_social\tretargeting\tEUR\t2\t80",
				"google\tcpc\tbrand\tEUR\t1\t100",
				"google\tcpc\tbrand\tUSD\t1\t12",
				"Total\t\t\tEUR\t5\t205",
				"Total\t\t\tUSD\t1\t12",
			}},
		// 29 days back a1's touch is too old: direct.
		{"attribution", params(pixelOf("px-attr"), "2026-11-02", "2026-11-08", "lookback_days", "29"),
			creditLines(p.Attribution("px-attr", "Purchase", "last", 29, "2026-11-02", "2026-11-08")),
			[]string{
				"(direct)\t(none)\t(none)\tEUR\t3\t125",
				"google\tcpc\tspring_sale\tEUR\t1\t50",
				"newsletter\temail\tweekly\tEUR\t1\t30",
				"newsletter\temail\tweekly\tUSD\t1\t12",
				"Total\t\t\tEUR\t5\t205",
				"Total\t\t\tUSD\t1\t12",
			}},
		{"abandoners", params(pixelOf("px-ab"), "2026-11-02", "2026-11-04"),
			abandonLines(p.AbandonersByDay("px-ab", "AddToCart", "Purchase", 7, "2026-11-02", "2026-11-04")),
			[]string{
				"2026-11-02\t4\t2\t0.5", // b1-b4; b2 and b3 abandoned
				"2026-11-03\t2\t1\t0.5", // b4 (abandoned), b5
				"Total\t5\t2\t0.4",
			}},
		{"retention", params(pixelOf("px-ret"), "2026-10-19", "2026-11-08", "weeks", "2", "lookback_days", "7"),
			retentionLines(p.Retention("px-ret", 2, 7, "2026-10-19", "2026-11-08")),
			[]string{
				"2026-10-19\t0\t3\t1\t3", // r1, r2, r5
				"2026-10-19\t1\t2\t0.6666666666666666\t3",
				"2026-10-19\t2\t1\t0.3333333333333333\t3",
				"2026-10-26\t0\t1\t1\t1", // r3
				"2026-10-26\t1\t0\t0\t1", // its week 2 starts after the range
				"Total\t0\t4\t1\t4",
				"Total\t1\t2\t0.5\t4",
				"Total\t2\t1\t0.3333333333333333\t3",
			}},
		{"retention", params(pixelOf("px-ret-ny"), "2026-10-26", "2026-11-08", "weeks", "8", "lookback_days", "7"),
			retentionLines(p.Retention("px-ret-ny", 8, 7, "2026-10-26", "2026-11-08")),
			[]string{
				"2026-10-26\t0\t2\t1\t2",
				"2026-10-26\t1\t1\t0.5\t2",
				"Total\t0\t2\t1\t2",
				"Total\t1\t1\t0.5\t2",
			}},
	} {
		got := sqlLines(t, ctx, conn, tc.name, tc.values)
		want := strings.Join(tc.want, "\n")
		if o := strings.Join(tc.oracle, "\n"); o != want {
			t.Errorf("oracle of %s %v:\n%s\nwant\n%s", tc.name, tc.values, o, want)
		}
		if g := strings.Join(got, "\n"); g != want {
			t.Errorf("%s %v:\n%s\nwant\n%s", tc.name, tc.values, g, want)
		}
	}

	// Bots count with bots=1: r9 joins the cohort of 10-19 (only week 0).
	got := sqlLines(t, ctx, conn, "retention", params(pixelOf("px-ret"), "2026-10-19", "2026-10-25", "weeks", "0", "lookback_days", "7", "bots", "1"))
	if want := []string{"2026-10-19\t0\t4\t1\t4", "Total\t0\t4\t1\t4"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("retention with bots: %q, want %q", got, want)
	}
	// An unknown model fails rather than crediting nothing.
	q, err := analysis.Lookup("attribution")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Run(ctx, conn, params(pixelOf("px-attr"), "2026-11-02", "2026-11-08", "model", "data-driven")); err == nil {
		t.Error("attribution with model data-driven: no error")
	}
}
