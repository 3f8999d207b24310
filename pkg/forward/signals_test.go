package forward

import (
	"fmt"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/gate"
)

func onChannel(channel, visitor string, edit func(e *event.Event)) *event.Event {
	e := &event.Event{VisitorID: []byte(visitor), Name: []byte("Purchase")}
	e.Tracking[event.Channel] = []byte(channel)
	if edit != nil {
		edit(e)
	}
	return e
}

func TestBrowserSignals(t *testing.T) {
	gpc := func(e *event.Event) { e.GPC = true }
	denied := func(e *event.Event) { e.Tracking[event.AdUserData] = []byte("denied") }
	bot := func(e *event.Event) { e.IsBot = true }
	for _, tc := range []struct {
		name   string
		seen   []*event.Event
		server *event.Event
		want   string
	}{
		{"no browser event: the server event on its own", nil, onChannel("server", "v", nil), ""},
		{"browser GPC", []*event.Event{onChannel("browser", "v", gpc)}, onChannel("server", "v", nil), gate.GPC},
		{"browser ad_user_data denied", []*event.Event{onChannel("browser", "v", denied)}, onChannel("server", "v", nil), gate.Consent},
		{"denied, then granted later", []*event.Event{onChannel("browser", "v", denied), onChannel("browser", "v", nil)}, onChannel("server", "v", nil), ""},
		{"granted, then GPC later", []*event.Event{onChannel("browser", "v", nil), onChannel("browser", "v", gpc)}, onChannel("server", "v", nil), gate.GPC},
		{"a bot's event changes nothing", []*event.Event{onChannel("browser", "v", gpc), onChannel("browser", "v", bot)}, onChannel("server", "v", nil), gate.GPC},
		{"another visitor's GPC", []*event.Event{onChannel("browser", "w", gpc)}, onChannel("server", "v", nil), ""},
		{"a server event's own signals are not remembered", []*event.Event{onChannel("server", "v", gpc)}, onChannel("server", "v", nil), ""},
		{"a browser event is not refused by memory (the gate judges it)", []*event.Event{onChannel("browser", "v", gpc)}, onChannel("browser", "v", nil), ""},
	} {
		s := newBrowserSignals(0)
		for _, e := range tc.seen {
			s.observe(e)
		}
		if got := s.refuse(tc.server); got != tc.want {
			t.Errorf("%s: refuse = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBrowserSignalsBounded(t *testing.T) {
	s := newBrowserSignals(3)
	for i := range 5 {
		s.observe(onChannel("browser", fmt.Sprint("v", i), func(e *event.Event) { e.GPC = true }))
	}
	if len(s.byVisitor) != 3 || s.lru.Len() != 3 {
		t.Fatalf("remembers %d visitors (%d in the list), want 3", len(s.byVisitor), s.lru.Len())
	}
	if s.refuse(onChannel("server", "v0", nil)) != "" || s.refuse(onChannel("server", "v4", nil)) != gate.GPC {
		t.Error("the least recently seen visitor should be forgotten first")
	}
}
