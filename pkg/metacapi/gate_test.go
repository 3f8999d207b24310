package metacapi

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
		{"no signals: consent assumed", func(e *event.Event) {}, GateOptions{}, ""},
		{"consent granted", func(e *event.Event) { e.Tracking[event.Consent] = []byte("granted") }, GateOptions{}, ""},
		{"consent denied (cookieless)", func(e *event.Event) { e.Tracking[event.Consent] = []byte("denied") }, GateOptions{}, RefuseConsent},
		{"ad_storage denied", func(e *event.Event) { e.Tracking[event.AdStorage] = []byte("denied") }, GateOptions{}, RefuseConsent},
		{"ad_user_data denied", func(e *event.Event) { e.Tracking[event.AdUserData] = []byte("denied") }, GateOptions{}, RefuseConsent},
		{"analytics_storage denied only", func(e *event.Event) { e.Tracking[event.AnalyticsStorage] = []byte("denied") }, GateOptions{}, ""},
		{"all Google signals granted", func(e *event.Event) {
			e.Tracking[event.AdStorage], e.Tracking[event.AdUserData] = []byte("granted"), []byte("granted")
		}, GateOptions{}, ""},
		{"gpc honoured", func(e *event.Event) { e.GPC = true }, GateOptions{HonorGPC: true}, RefuseGPC},
		{"gpc not honoured", func(e *event.Event) { e.GPC = true }, GateOptions{}, ""},
		{"dnt is not gpc", func(e *event.Event) { e.DNT = true }, GateOptions{HonorGPC: true}, ""},
		{"opted out", func(e *event.Event) { e.VisitorID = []byte("gone") }, GateOptions{OptedOut: optedOut}, RefuseOptOut},
		{"not opted out", func(e *event.Event) {}, GateOptions{OptedOut: optedOut}, ""},
		{"bot", func(e *event.Event) { e.IsBot = true }, GateOptions{}, RefuseBot},
		{"consent before gpc before optout before bot", func(e *event.Event) {
			e.Tracking[event.Consent], e.GPC, e.IsBot, e.VisitorID = []byte("denied"), true, true, []byte("gone")
		}, GateOptions{HonorGPC: true, OptedOut: optedOut}, RefuseConsent},
		{"gpc before optout and bot", func(e *event.Event) { e.GPC, e.IsBot, e.VisitorID = true, true, []byte("gone") }, GateOptions{HonorGPC: true, OptedOut: optedOut}, RefuseGPC},
		{"optout before bot", func(e *event.Event) { e.IsBot, e.VisitorID = true, []byte("gone") }, GateOptions{OptedOut: optedOut}, RefuseOptOut},
	} {
		e := purchase("x")
		tc.edit(e)
		ok, reason := Allowed(e, tc.opts)
		if ok != (tc.reason == "") || reason != tc.reason {
			t.Errorf("%s: Allowed = %v, %q; want reason %q", tc.name, ok, reason, tc.reason)
		}
	}
}
