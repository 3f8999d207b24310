package dataset

import (
	"reflect"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// hand is one event of the hand-checked population.
type hand struct {
	name, pixel, visitor, session, id, at string // at: RFC 3339
	cents                                 int64
	currency, channel, pv, campaign       string
	engagedMs                             int64
	bot                                   bool
}

func (h hand) event() event.Event {
	ts, err := time.Parse(time.RFC3339, h.at)
	if err != nil {
		panic(err)
	}
	e := event.Event{
		EventID: []byte(h.id), PixelID: []byte(h.pixel), VisitorID: []byte(h.visitor), SessionID: []byte(h.session),
		Name: []byte(h.name), TS: ts.Unix(), ReceivedAt: ts.Unix(), Value: float64(h.cents) / 100, Currency: []byte(h.currency),
		EngagedMs: h.engagedMs, IsBot: h.bot,
	}
	if h.channel == "" {
		h.channel = "browser"
	}
	e.Tracking[event.Channel] = []byte(h.channel)
	e.Tracking[event.PageViewID] = []byte(h.pv)
	if h.campaign != "" {
		e.Tracking[event.UTMSource], e.Tracking[event.UTMMedium], e.Tracking[event.UTMCampaign] = []byte("google"), []byte("cpc"), []byte(h.campaign)
	}
	return e
}

// handPopulation is small enough to check every answer by hand; the
// comments say why each answer is what it is.
func handPopulation() *Population {
	pixels := []Pixel{{ID: "px-a", TimeZone: "Europe/Paris"}, {ID: "px-b", TimeZone: "America/New_York"}}
	var evs []event.Event
	for _, h := range []hand{
		// v1 lands from spring at 21:00 Paris.
		{name: "PageView", pixel: "px-a", visitor: "v1", session: "s1", id: "p1", at: "2026-11-02T20:00:00Z", pv: "pv1", campaign: "spring"},
		// e1: the server's copy comes first in the stream, at 23:59:50 on the
		// 2nd in Paris; the browser's copy is on the 3rd, 00:30 Paris. The
		// server's copy wins: the purchase is on the 2nd.
		{name: "Purchase", pixel: "px-a", visitor: "v1", session: "s1", id: "e1", at: "2026-11-02T22:59:50Z", cents: 1000, currency: "EUR", channel: "server"},
		{name: "Purchase", pixel: "px-a", visitor: "v1", session: "s1", id: "e1", at: "2026-11-02T23:30:00Z", cents: 1000, currency: "EUR", pv: "pv2"},
		// e2: only the server's copy, in USD.
		{name: "Purchase", pixel: "px-a", visitor: "v2", session: "s3", id: "e2", at: "2026-11-03T10:00:00Z", cents: 550, currency: "USD", channel: "server"},
		// e3: replayed, byte-identical.
		{name: "Purchase", pixel: "px-a", visitor: "v1", session: "s2", id: "e3", at: "2026-11-03T12:00:00Z", cents: 2000, currency: "EUR", pv: "pv3"},
		{name: "Purchase", pixel: "px-a", visitor: "v1", session: "s2", id: "e3", at: "2026-11-03T12:00:00Z", cents: 2000, currency: "EUR", pv: "pv3"},
		// A bot's purchase counts nowhere.
		{name: "Purchase", pixel: "px-a", visitor: "v9", id: "e4", at: "2026-11-03T12:00:00Z", cents: 99900, currency: "EUR", bot: true},
		{name: "PageEngagement", pixel: "px-a", visitor: "v9", id: "h9", at: "2026-11-03T12:01:00Z", pv: "pv9", engagedMs: 100_000, bot: true},

		// Engaged time on px-a: s1 = 45 s (the largest of pv1) + 20 s of
		// pv2 = 65 s; s2 = 59 s; s3 = 61 s (a replayed heartbeat changes
		// nothing).
		{name: "PageEngagement", pixel: "px-a", visitor: "v1", session: "s1", id: "h1", at: "2026-11-02T20:00:15Z", pv: "pv1", engagedMs: 15_000},
		{name: "PageEngagement", pixel: "px-a", visitor: "v1", session: "s1", id: "h2", at: "2026-11-02T20:00:30Z", pv: "pv1", engagedMs: 30_000},
		{name: "PageEngagement", pixel: "px-a", visitor: "v1", session: "s1", id: "h3", at: "2026-11-02T20:00:45Z", pv: "pv1", engagedMs: 45_000},
		{name: "PageEngagement", pixel: "px-a", visitor: "v1", session: "s1", id: "h4", at: "2026-11-02T23:30:20Z", pv: "pv2", engagedMs: 20_000},
		{name: "PageEngagement", pixel: "px-a", visitor: "v1", session: "s2", id: "h5", at: "2026-11-03T12:01:00Z", pv: "pv3", engagedMs: 59_000},
		{name: "PageEngagement", pixel: "px-a", visitor: "v2", session: "s3", id: "h6", at: "2026-11-03T09:59:00Z", pv: "pv4", engagedMs: 61_000},
		{name: "PageEngagement", pixel: "px-a", visitor: "v2", session: "s3", id: "h6", at: "2026-11-03T09:59:00Z", pv: "pv4", engagedMs: 61_000},

		// Funnels on px-b (ViewContent, AddToCart, Purchase within an hour):
		// v3 buys 2 h after viewing: level 2. v4 goes through: level 3. v5
		// only adds to cart: level 0. v6 views twice; the second view starts
		// the chain that reaches the cart 40 minutes later: level 2.
		{name: "ViewContent", pixel: "px-b", visitor: "v3", id: "f1", at: "2026-11-03T01:00:00Z"},
		{name: "AddToCart", pixel: "px-b", visitor: "v3", id: "f2", at: "2026-11-03T01:30:00Z"},
		{name: "Purchase", pixel: "px-b", visitor: "v3", id: "e5", at: "2026-11-03T03:00:00Z", cents: 725, currency: "USD"}, // 22:00 on the 2nd in New York
		{name: "ViewContent", pixel: "px-b", visitor: "v4", id: "f3", at: "2026-11-03T05:00:00Z"},
		{name: "AddToCart", pixel: "px-b", visitor: "v4", id: "f4", at: "2026-11-03T05:10:00Z"},
		{name: "Purchase", pixel: "px-b", visitor: "v4", id: "e6", at: "2026-11-03T05:20:00Z", cents: 100, currency: "USD"}, // 00:20 on the 3rd in New York
		{name: "AddToCart", pixel: "px-b", visitor: "v5", id: "f5", at: "2026-11-03T06:00:00Z"},
		{name: "ViewContent", pixel: "px-b", visitor: "v6", id: "f6", at: "2026-11-03T07:00:00Z"},
		{name: "ViewContent", pixel: "px-b", visitor: "v6", id: "f7", at: "2026-11-03T07:50:00Z"},
		{name: "AddToCart", pixel: "px-b", visitor: "v6", id: "f8", at: "2026-11-03T08:30:00Z"},
	} {
		evs = append(evs, h.event())
	}
	return FromEvents(pixels, evs)
}

func TestOracleHandChecked(t *testing.T) {
	p := handPopulation()
	day := p.ConversionsByDay("Purchase")
	wantDay := map[DayKey]Conversions{
		{"px-a", "2026-11-02"}: {Count: 1, Converters: 1, Revenue: map[string]int64{"EUR": 1000}},
		{"px-a", "2026-11-03"}: {Count: 2, Converters: 2, Revenue: map[string]int64{"EUR": 2000, "USD": 550}},
		{"px-b", "2026-11-02"}: {Count: 1, Converters: 1, Revenue: map[string]int64{"USD": 725}},
		{"px-b", "2026-11-03"}: {Count: 1, Converters: 1, Revenue: map[string]int64{"USD": 100}},
	}
	if !reflect.DeepEqual(day, wantDay) {
		t.Errorf("ConversionsByDay:\n got %v\nwant %v", day, wantDay)
	}

	// e1 and e3 follow v1's spring click; e2, e5 and e6 had no touch.
	camp := p.ConversionsByCampaign("Purchase", 30*24*time.Hour)
	wantCamp := map[CampaignKey]Conversions{
		{"px-a", "google", "cpc", "spring"}: {Count: 2, Converters: 1, Revenue: map[string]int64{"EUR": 3000}},
		{Pixel: "px-a"}:                     {Count: 1, Converters: 1, Revenue: map[string]int64{"USD": 550}},
		{Pixel: "px-b"}:                     {Count: 2, Converters: 2, Revenue: map[string]int64{"USD": 825}},
	}
	if !reflect.DeepEqual(camp, wantCamp) {
		t.Errorf("ConversionsByCampaign(30 days):\n got %v\nwant %v", camp, wantCamp)
	}
	// With an hour's lookback the click, 3 hours before e1, is too old.
	camp = p.ConversionsByCampaign("Purchase", time.Hour)
	if c := camp[CampaignKey{Pixel: "px-a"}]; c.Count != 3 || len(camp) != 2 {
		t.Errorf("ConversionsByCampaign(1 hour) = %v, want every px-a purchase direct", camp)
	}

	from, to := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	if n := p.UniqueConverters("px-a", "Purchase", from, to); n != 2 {
		t.Errorf("UniqueConverters(px-a) = %d, want 2 (v1, v2; not the bot)", n)
	}
	if got := p.Funnel("px-b", []string{"ViewContent", "AddToCart", "Purchase"}, time.Hour, from, to); !reflect.DeepEqual(got, []int{3, 3, 1}) {
		t.Errorf("Funnel = %v, want [3 3 1]", got)
	}
	if v, s := p.Engagement("px-a", 60*time.Second); v != 2 || s != 2 {
		t.Errorf("Engagement(60 s) = %d visitors, %d sessions; want 2, 2 (s1 of v1, s3 of v2)", v, s)
	}
	if v, s := p.Engagement("px-a", 64*time.Second); v != 1 || s != 1 {
		t.Errorf("Engagement(64 s) = %d visitors, %d sessions; want 1, 1 (s1)", v, s)
	}
	if got := p.Abandoners("px-b", "AddToCart", "Purchase", 7*24*time.Hour, to); !reflect.DeepEqual(got, []string{"v5", "v6"}) {
		t.Errorf("Abandoners = %v, want [v5 v6]", got)
	}
}
