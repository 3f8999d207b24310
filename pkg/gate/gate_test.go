package gate

import (
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

func purchase() *event.Event {
	return &event.Event{EventID: []byte("e1"), PixelID: []byte("px1"), VisitorID: []byte("v1"), Name: []byte("Purchase"), Value: 10}
}

func TestCheck(t *testing.T) {
	optedOut := func(e *event.Event) bool { return string(e.VisitorID) == "gone" }
	for _, tc := range []struct {
		name   string
		edit   func(e *event.Event)
		opts   Options
		reason string
	}{
		{"no signals: consent assumed", func(e *event.Event) {}, Options{}, ""},
		{"consent granted", func(e *event.Event) { e.Tracking[event.Consent] = []byte("granted") }, Options{}, ""},
		{"consent denied (cookieless)", func(e *event.Event) { e.Tracking[event.Consent] = []byte("denied") }, Options{}, Consent},
		{"ad_storage denied", func(e *event.Event) { e.Tracking[event.AdStorage] = []byte("denied") }, Options{}, Consent},
		{"ad_user_data denied", func(e *event.Event) { e.Tracking[event.AdUserData] = []byte("denied") }, Options{}, Consent},
		{"analytics_storage denied only", func(e *event.Event) { e.Tracking[event.AnalyticsStorage] = []byte("denied") }, Options{}, ""},
		{"ad_personalization denied only: measured, not personalised", func(e *event.Event) { e.Tracking[event.AdPersonalization] = []byte("denied") }, Options{}, ""},
		{"Denied is not denied (the column holds the site's lower-case word)", func(e *event.Event) { e.Tracking[event.Consent] = []byte("Denied") }, Options{}, ""},
		{"all Google signals granted", func(e *event.Event) {
			e.Tracking[event.AdStorage], e.Tracking[event.AdUserData] = []byte("granted"), []byte("granted")
		}, Options{}, ""},
		{"gpc", func(e *event.Event) { e.GPC = true }, Options{}, GPC},
		{"dnt is not gpc", func(e *event.Event) { e.DNT = true }, Options{}, ""},
		{"opted out", func(e *event.Event) { e.VisitorID = []byte("gone") }, Options{OptedOut: optedOut}, OptOut},
		{"not opted out", func(e *event.Event) {}, Options{OptedOut: optedOut}, ""},
		{"bot", func(e *event.Event) { e.IsBot = true }, Options{}, Bot},
		{"consent before gpc before optout before bot", func(e *event.Event) {
			e.Tracking[event.Consent], e.GPC, e.IsBot, e.VisitorID = []byte("denied"), true, true, []byte("gone")
		}, Options{OptedOut: optedOut}, Consent},
		{"gpc before optout and bot", func(e *event.Event) { e.GPC, e.IsBot, e.VisitorID = true, true, []byte("gone") }, Options{OptedOut: optedOut}, GPC},
		{"optout before bot", func(e *event.Event) { e.IsBot, e.VisitorID = true, []byte("gone") }, Options{OptedOut: optedOut}, OptOut},
	} {
		e := purchase()
		tc.edit(e)
		ok, reason := Check(e, tc.opts)
		if ok != (tc.reason == "") || reason != tc.reason {
			t.Errorf("%s: Check = %v, %q; want reason %q", tc.name, ok, reason, tc.reason)
		}
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	e := purchase()
	e.Tracking[event.Consent] = []byte("granted")
	if n := testing.AllocsPerRun(100, func() { Check(e, Options{}) }); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}
