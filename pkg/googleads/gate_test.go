package googleads

import (
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

func TestAllowed(t *testing.T) {
	optedOut := func(e *event.Event) bool { return string(e.VisitorID) == "gone" }
	for _, tc := range []struct {
		name   string
		edit   func(e *event.Event)
		opts   GateOptions
		reason string
	}{
		{name: "granted", edit: func(e *event.Event) {}},
		{name: "nothing stated", edit: func(e *event.Event) { e.Tracking[event.AdUserData], e.Tracking[event.AdPersonalization] = nil, nil }},
		{name: "bot", edit: func(e *event.Event) { e.IsBot = true }, reason: ReasonBot},
		{name: "bot before consent", edit: func(e *event.Event) { e.IsBot = true; e.Tracking[event.Consent] = []byte("denied") }, reason: ReasonBot},
		{name: "recorded cookieless", edit: func(e *event.Event) { e.Tracking[event.Consent] = []byte("denied") }, reason: ReasonConsent},
		{name: "ad_storage denied", edit: func(e *event.Event) { e.Tracking[event.AdStorage] = []byte("denied") }, reason: ReasonConsent},
		{name: "ad_user_data denied", edit: func(e *event.Event) { e.Tracking[event.AdUserData] = []byte("denied") }, reason: ReasonConsent},
		{name: "ad_personalization denied", edit: func(e *event.Event) { e.Tracking[event.AdPersonalization] = []byte("denied") }, reason: ReasonConsent},
		{name: "analytics_storage denied is not about ads", edit: func(e *event.Event) { e.Tracking[event.AnalyticsStorage] = []byte("denied") }},
		{name: "upper-case is not a value the tag writes", edit: func(e *event.Event) { e.Tracking[event.AdUserData] = []byte("DENIED") }},
		{name: "GPC honoured", edit: func(e *event.Event) { e.GPC = true }, opts: GateOptions{HonourGPC: true}, reason: ReasonGPC},
		{name: "GPC not honoured", edit: func(e *event.Event) { e.GPC = true }},
		{name: "DNT is not GPC", edit: func(e *event.Event) { e.DNT = true }, opts: GateOptions{HonourGPC: true}},
		{name: "opted out", edit: func(e *event.Event) { e.VisitorID = []byte("gone") }, opts: GateOptions{OptedOut: optedOut}, reason: ReasonOptOut},
		{name: "opted out before GPC", edit: func(e *event.Event) { e.VisitorID = []byte("gone"); e.GPC = true }, opts: GateOptions{OptedOut: optedOut, HonourGPC: true}, reason: ReasonOptOut},
		{name: "someone else opted out", edit: func(e *event.Event) {}, opts: GateOptions{OptedOut: optedOut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := purchase()
			e.Tracking[event.AdPersonalization] = []byte("granted")
			tc.edit(e)
			ok, reason := Allowed(e, tc.opts)
			if ok != (tc.reason == "") || reason != tc.reason {
				t.Fatalf("Allowed = %v %q, want reason %q", ok, reason, tc.reason)
			}
		})
	}
}

func TestAllowedAllocs(t *testing.T) {
	e := purchase()
	if n := testing.AllocsPerRun(100, func() { Allowed(e, GateOptions{HonourGPC: true}) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
