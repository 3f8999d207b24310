package audience_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/audience"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// population is a small hand-made pixel "px": each visitor is named after
// what the rules should make of them.
var population = []ev{
	// engaged-no-purchase. Two page views of one session, 40 s (the larger
	// of its heartbeats) and 25 s: 65 s engaged. The email changed: the
	// latest counts.
	{id: "e1", visitor: "eng", session: "s1", pageView: "pv1", name: "PageView", daysAgo: 10, email: sha("old@example.com")},
	{id: "e2", visitor: "eng", session: "s1", pageView: "pv1", name: "PageEngagement", daysAgo: 2, engagedMs: 20000},
	{id: "e3", visitor: "eng", session: "s1", pageView: "pv1", name: "PageEngagement", daysAgo: 2, sec: 20, engagedMs: 40000},
	{id: "e4", visitor: "eng", session: "s1", pageView: "pv2", name: "PageEngagement", daysAgo: 2, sec: 60, engagedMs: 25000,
		email: sha("new@example.com"), emailGoogle: sha("new@example.com"), phone: sha("16505551212"), phoneGoogle: sha("+16505551212"), ext: "user-42"},
	// 30 s and 35 s in two sessions: no session reaches 60 s.
	{id: "e5", visitor: "short", session: "s2", pageView: "pv3", name: "PageEngagement", daysAgo: 3, engagedMs: 30000, email: sha("short@example.com")},
	{id: "e6", visitor: "short", session: "s3", pageView: "pv4", name: "PageEngagement", daysAgo: 1, engagedMs: 35000},
	// The tag's Engaged goal for 60 s; the email was given long before the window.
	{id: "e7", visitor: "goal", session: "s4", name: "Engaged", daysAgo: 4, props: `{"seconds":60}`},
	{id: "e8", visitor: "goal", session: "s0", name: "PageView", daysAgo: 150, email: sha("goal@example.com")},
	// A goal of 10 s does not reach 60.
	{id: "e9", visitor: "goal10", session: "s5", name: "Engaged", daysAgo: 4, props: `{"seconds":10}`, email: sha("goal10@example.com")},
	// Engaged, but bought.
	{id: "e10", visitor: "engbuyer", session: "s6", pageView: "pv5", name: "PageEngagement", daysAgo: 5, engagedMs: 70000},
	{id: "e11", visitor: "engbuyer", session: "s6", name: "Purchase", daysAgo: 5, sec: 10, email: sha("buyer@example.com")},
	// Engaged 40 days ago: outside a 30-day window.
	{id: "e12", visitor: "engold", session: "s7", pageView: "pv6", name: "PageEngagement", daysAgo: 40, engagedMs: 90000, email: sha("old2@example.com")},
	// Engaged, with identifiers, but excluded.
	{id: "e13", visitor: "denied", session: "s8", pageView: "pv7", name: "PageEngagement", daysAgo: 6, engagedMs: 70000, consent: "granted", email: sha("d@example.com")},
	{id: "e14", visitor: "denied", session: "s9", name: "PageView", daysAgo: 1, consent: "denied"},
	{id: "e15", visitor: "regranted", session: "s10", pageView: "pv8", name: "PageEngagement", daysAgo: 6, engagedMs: 70000, consent: "denied", email: sha("r@example.com")},
	{id: "e16", visitor: "regranted", session: "s11", name: "PageView", daysAgo: 1, consent: "granted"},
	{id: "e17", visitor: "nouserdata", session: "s12", pageView: "pv9", name: "PageEngagement", daysAgo: 6, engagedMs: 70000, consent: "granted", adUserData: "denied", email: sha("u@example.com")},
	{id: "e18", visitor: "nopersonal", session: "s13", pageView: "pv10", name: "PageEngagement", daysAgo: 6, engagedMs: 70000, adPersonalization: "denied", email: sha("p@example.com")},
	{id: "e19", visitor: "gpc", session: "s14", pageView: "pv11", name: "PageEngagement", daysAgo: 6, engagedMs: 70000, gpc: true, email: sha("g@example.com")},
	{id: "e20", visitor: "bot", session: "s15", pageView: "pv12", name: "PageEngagement", daysAgo: 6, engagedMs: 70000, bot: true, email: sha("b@example.com")},
	// A grant and a denial in the same millisecond: excluded.
	{id: "e23", visitor: "tie", session: "s18", pageView: "pv15", name: "PageEngagement", daysAgo: 6, engagedMs: 70000, consent: "granted", email: sha("t@example.com")},
	{id: "e24", visitor: "tie", session: "s18", name: "PageView", daysAgo: 6, consent: "denied"},
	// Engaged, then asked to be forgotten (pixel.erasures, by visitor id
	// and by email): these events arrived after the erasure.
	{id: "e25", visitor: "erased", session: "s19", pageView: "pv16", name: "PageEngagement", daysAgo: 6, engagedMs: 70000, email: sha("e@example.com")},
	{id: "e26", visitor: "erasedmail", session: "s20", pageView: "pv17", name: "PageEngagement", daysAgo: 6, engagedMs: 70000},
	{id: "e27", visitor: "erasedmail", session: "s20", name: "InitiateCheckout", daysAgo: 6, email: sha("gone@example.com")},
	// Engaged, no identifier: a member that no customer list can hold.
	{id: "e21", visitor: "noid", session: "s16", pageView: "pv13", name: "PageEngagement", daysAgo: 6, engagedMs: 61000},
	// Another pixel's visitor is never in px's audiences.
	{id: "e22", pixel: "other", visitor: "elsewhere", session: "s17", pageView: "pv14", name: "PageEngagement", daysAgo: 6, engagedMs: 70000},

	// cart-abandoners (purchase_days 7).
	{id: "c1", visitor: "cart", name: "AddToCart", daysAgo: 5},
	{id: "c2", visitor: "cartbought", name: "AddToCart", daysAgo: 5},
	{id: "c3", visitor: "cartbought", name: "Purchase", daysAgo: 4, contentIDs: []string{"sku-9"}},
	{id: "c3", visitor: "cartbought", name: "Purchase", daysAgo: 4, contentIDs: []string{"sku-9"}},                    // a replay
	{id: "c3", visitor: "cartbought", name: "Purchase", daysAgo: 4, contentIDs: []string{"sku-9"}, channel: "server"}, // its server copy
	{id: "c4", visitor: "cartlate", name: "AddToCart", daysAgo: 20},
	{id: "c5", visitor: "cartlate", name: "Purchase", daysAgo: 10},
	{id: "c6", visitor: "cartagain", name: "Purchase", daysAgo: 10},
	{id: "c7", visitor: "cartagain", name: "AddToCart", daysAgo: 3},
	{id: "c8", visitor: "cartold", name: "AddToCart", daysAgo: 31},
	// A server copy of c9 with another visitor id: the server's counts
	// (the backend's copy wins, schemas/README.md), inserted before or after
	// the browser's.
	{id: "c9", visitor: "cartbrowser", name: "AddToCart", daysAgo: 2},
	{id: "c9", visitor: "cartserver", name: "AddToCart", daysAgo: 2, channel: "server"},
	{id: "c10", visitor: "cartserver2", name: "AddToCart", daysAgo: 2, channel: "server"},
	{id: "c10", visitor: "cartbrowser2", name: "AddToCart", daysAgo: 2},

	// viewed-not-bought.
	{id: "p1", visitor: "viewer", name: "ViewContent", daysAgo: 2, contentIDs: []string{"sku-2", "sku-1"}},
	{id: "p2", visitor: "viewer", name: "ViewContent", daysAgo: 1, contentIDs: []string{"sku-3", "sku-1"}},
	{id: "p3", visitor: "viewer", name: "Purchase", daysAgo: 100, contentIDs: []string{"sku-3"}},
	{id: "p4", visitor: "viewedall", name: "ViewContent", daysAgo: 2, contentIDs: []string{"sku-4"}},
	{id: "p5", visitor: "viewedall", name: "Purchase", daysAgo: 1, contentIDs: []string{"sku-4"}},
	{id: "p6", visitor: "viewedold", name: "ViewContent", daysAgo: 45, contentIDs: []string{"sku-5"}},
	{id: "p7", visitor: "viewednothing", name: "ViewContent", daysAgo: 1},

	// visited-pages. 23:30 UTC on the last day is the next day in Paris;
	// 23:30 UTC 30 days before the last day is the window's first day there.
	{id: "w5", visitor: "tzlate", name: "PageView", daysAgo: 0, sec: 41400, url: "https://shop.example/pricing"},
	{id: "w6", visitor: "tzearly", name: "PageView", daysAgo: 30, sec: 41400, url: "https://shop.example/pricing"},
	{id: "w1", visitor: "pricing", name: "PageView", daysAgo: 3, url: "https://shop.example/pricing"},
	{id: "w2", visitor: "pricing", name: "PageView", daysAgo: 2, url: "https://shop.example/pricing?plan=pro"},
	{id: "w2", visitor: "pricing", name: "PageView", daysAgo: 2, url: "https://shop.example/pricing?plan=pro"}, // a replay
	{id: "w3", visitor: "about", name: "PageView", daysAgo: 2, url: "https://shop.example/about"},
	{id: "w4", visitor: "buyonpricing", name: "Purchase", daysAgo: 2, url: "https://shop.example/pricing"},
}

// member is what a test checks of a member: the rule's own columns, the
// exclusion and the email hash.
type member struct {
	values   string // the rule's own columns, joined by |
	excluded string
	email    string
}

func members(a *audience.Audience) map[string]member {
	out := map[string]member{}
	for _, m := range a.Members {
		out[m.VisitorID] = member{strings.Join(m.Values, "|"), m.Excluded, m.EmailSHA256}
	}
	return out
}

func TestRules(t *testing.T) {
	conn := devstacktest.Open(t, devstacktest.Database(t))
	insert(t, conn, population)
	ctx := devstacktest.Context(t)
	erase(t, conn, "visitor_id", "erased")
	erase(t, conn, "email_sha256", sha("gone@example.com"))
	engaged := map[string]member{
		"eng":        {"65", "", sha("new@example.com")},
		"goal":       {"0", "", sha("goal@example.com")},
		"denied":     {"70", "consent", sha("d@example.com")},
		"regranted":  {"70", "", sha("r@example.com")},
		"nouserdata": {"70", "consent", sha("u@example.com")},
		"nopersonal": {"70", "consent", sha("p@example.com")},
		"gpc":        {"70", "gpc", sha("g@example.com")},
		"bot":        {"70", "bot", sha("b@example.com")},
		"tie":        {"70", "consent", sha("t@example.com")},
		"erased":     {"70", "optout", sha("e@example.com")},
		"erasedmail": {"70", "optout", sha("gone@example.com")},
		"noid":       {"61", "", ""},
	}
	with := func(m map[string]member, k string, v member) map[string]member {
		out := map[string]member{k: v}
		for x, y := range m {
			if x != k {
				out[x] = y
			}
		}
		return out
	}

	tests := []struct {
		rule    string
		params  map[string]string
		columns []string
		want    map[string]member
	}{
		{"engaged-no-purchase", nil, []string{"engaged_seconds"}, engaged},
		// A pixel that flags GPC (records it) does not honour it: exported.
		{"engaged-no-purchase", map[string]string{"gpc_mode": "flag"}, []string{"engaged_seconds"}, with(engaged, "gpc", member{"70", "", sha("g@example.com")})},
		{"engaged-no-purchase", map[string]string{"seconds": "10", "days": "45"}, []string{"engaged_seconds"}, map[string]member{
			"eng": {"65", "", sha("new@example.com")}, "goal": {"0", "", sha("goal@example.com")},
			"goal10": {"0", "", sha("goal10@example.com")}, "short": {"35", "", sha("short@example.com")},
			"engold": {"90", "", sha("old2@example.com")},
			"denied": {"70", "consent", sha("d@example.com")}, "regranted": {"70", "", sha("r@example.com")},
			"nouserdata": {"70", "consent", sha("u@example.com")}, "nopersonal": {"70", "consent", sha("p@example.com")},
			"gpc": {"70", "gpc", sha("g@example.com")}, "bot": {"70", "bot", sha("b@example.com")}, "noid": {"61", "", ""},
			"tie":    {"70", "consent", sha("t@example.com")},
			"erased": {"70", "optout", sha("e@example.com")}, "erasedmail": {"70", "optout", sha("gone@example.com")},
		}},
		{"cart-abandoners", nil, []string{"last_cart"}, map[string]member{
			"cart":        {"2026-11-25 12:00:00", "", ""},
			"cartlate":    {"2026-11-10 12:00:00", "", ""},
			"cartagain":   {"2026-11-27 12:00:00", "", ""},
			"cartserver":  {"2026-11-28 12:00:00", "", ""},
			"cartserver2": {"2026-11-28 12:00:00", "", ""},
		}},
		{"viewed-not-bought", nil, []string{"product_ids"}, map[string]member{
			"viewer": {"['sku-1','sku-2']", "", ""},
		}},
		{"purchasers", nil, []string{"purchases", "last_purchase"}, map[string]member{
			"engbuyer":     {"1|2026-11-25 12:00:10", "", sha("buyer@example.com")},
			"cartbought":   {"1|2026-11-26 12:00:00", "", ""},
			"cartlate":     {"1|2026-11-20 12:00:00", "", ""},
			"cartagain":    {"1|2026-11-20 12:00:00", "", ""},
			"viewer":       {"1|2026-08-22 12:00:00", "", ""},
			"viewedall":    {"1|2026-11-29 12:00:00", "", ""},
			"buyonpricing": {"1|2026-11-28 12:00:00", "", ""},
		}},
		{"purchasers", map[string]string{"days": "7"}, []string{"purchases", "last_purchase"}, map[string]member{
			"engbuyer":     {"1|2026-11-25 12:00:10", "", sha("buyer@example.com")},
			"cartbought":   {"1|2026-11-26 12:00:00", "", ""},
			"viewedall":    {"1|2026-11-29 12:00:00", "", ""},
			"buyonpricing": {"1|2026-11-28 12:00:00", "", ""},
		}},
		{"visited-pages", map[string]string{"pattern": "%/pricing%"}, []string{"visits", "last_visit"}, map[string]member{
			"pricing": {"2|2026-11-28 12:00:00", "", ""},
			"tzlate":  {"1|2026-11-30 23:30:00", "", ""},
		}},
		// The pixel's days: Paris is an hour ahead of UTC in November.
		{"visited-pages", map[string]string{"pattern": "%/pricing%", "tz": "Europe/Paris"}, []string{"visits", "last_visit"}, map[string]member{
			"pricing": {"2|2026-11-28 13:00:00", "", ""},
			"tzearly": {"1|2026-11-01 00:30:00", "", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			params := map[string]string{"pixel": "px", "to": lastDay, "tz": "UTC"}
			for k, v := range tt.params {
				params[k] = v
			}
			a, err := audience.Run(ctx, conn, tt.rule, params)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Columns, tt.columns) {
				t.Errorf("columns %q, want %q", a.Columns, tt.columns)
			}
			if got := members(a); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("params %v:\n got %v\nwant %v", tt.params, got, tt.want)
			}
		})
	}

	// The latest identifiers of each kind, from events of all time.
	a, err := audience.Run(ctx, conn, "engaged-no-purchase", map[string]string{"pixel": "px", "to": lastDay, "tz": "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range a.Members {
		if m.VisitorID != "eng" {
			continue
		}
		want := audience.Member{VisitorID: "eng", Values: []string{"65"},
			EmailSHA256: sha("new@example.com"), EmailGoogleSHA256: sha("new@example.com"),
			PhoneSHA256: sha("16505551212"), PhoneGoogleSHA256: sha("+16505551212"), ExternalID: "user-42"}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("eng: got %+v\nwant %+v", m, want)
		}
	}
}

func TestRulesLoad(t *testing.T) {
	rules, err := audience.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rules {
		names = append(names, r.Name)
	}
	want := []string{"cart-abandoners", "engaged-no-purchase", "purchasers", "viewed-not-bought", "visited-pages"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("rules %q, want %q", names, want)
	}
	if _, err := audience.Lookup("everyone"); err == nil || !strings.Contains(err.Error(), "cart-abandoners") {
		t.Errorf("Lookup of an unknown rule: %v; want an error naming the rules", err)
	}
}

// A window outside Meta's 1 to 180 days is refused before any query runs
// (a nil connection would panic otherwise).
func TestRunRefusesWindow(t *testing.T) {
	for _, days := range []string{"0", "181", "-1", "x"} {
		_, err := audience.Run(devstacktest.Context(t), nil, "purchasers", map[string]string{"pixel": "px", "to": lastDay, "tz": "UTC", "days": days})
		if err == nil || !strings.Contains(err.Error(), "from 1 to 180") {
			t.Errorf("days %s: %v; want an error about 1 to 180 days", days, err)
		}
	}
}
