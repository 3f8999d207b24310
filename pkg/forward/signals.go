package forward

import (
	"container/list"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/gate"
)

// DefaultMaxVisitors bounds the visitors whose browser signals a pipeline
// remembers: at about 100 bytes each, 200,000 hold about 20 MB.
const DefaultMaxVisitors = 200_000

// browserSignals remembers, for each visitor of a pipeline's pixel, whether
// their latest browser event said no to ad use: a denied consent signal or
// Global Privacy Control. A server event carries only what the backend
// sent, and a backend rarely knows the browser's consent banner or its GPC
// header; so a server event of a visitor whose browser said no is refused
// for the same reason, until a later browser event of theirs says yes.
//
// It sees the events in the order the pipeline reads them: a server event
// read before any browser event of its visitor is judged on its own
// signals (the pipeline cannot wait for a browser copy that may never
// come). Not safe for concurrent use: each pipeline owns one.
type browserSignals struct {
	max       int
	byVisitor map[string]*list.Element // of *refusal
	lru       list.List                // front: most recently seen
}

type refusal struct {
	visitor, reason string
}

func newBrowserSignals(max int) *browserSignals {
	if max <= 0 {
		max = DefaultMaxVisitors
	}
	return &browserSignals{max: max, byVisitor: map[string]*list.Element{}}
}

// observe notes a browser event's signals; other events change nothing.
func (s *browserSignals) observe(e *event.Event) {
	if string(e.Tracking[event.Channel]) != "browser" || len(e.VisitorID) == 0 {
		return
	}
	_, reason := gate.Check(e, gate.Options{})
	switch reason {
	case gate.Consent, gate.GPC:
		if el, ok := s.byVisitor[string(e.VisitorID)]; ok {
			el.Value.(*refusal).reason = reason
			s.lru.MoveToFront(el)
			return
		}
		s.byVisitor[string(e.VisitorID)] = s.lru.PushFront(&refusal{visitor: string(e.VisitorID), reason: reason})
		if s.lru.Len() > s.max {
			oldest := s.lru.Back()
			s.lru.Remove(oldest)
			delete(s.byVisitor, oldest.Value.(*refusal).visitor)
		}
	case "":
		if el, ok := s.byVisitor[string(e.VisitorID)]; ok {
			s.lru.Remove(el)
			delete(s.byVisitor, string(e.VisitorID))
		}
	}
	// A bot's event says nothing of the visitor's consent.
}

// refuse returns why a server event must not leave (the reason its
// visitor's latest browser event gave), or "".
func (s *browserSignals) refuse(e *event.Event) string {
	if string(e.Tracking[event.Channel]) != "server" {
		return ""
	}
	if el, ok := s.byVisitor[string(e.VisitorID)]; ok {
		return el.Value.(*refusal).reason
	}
	return ""
}
