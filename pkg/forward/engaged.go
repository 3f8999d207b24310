package forward

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// DefaultEngagementSeconds is the engaged-visit goal of a pixel whose
// Settings.EngagementSeconds is 0 (unset), as in schemas/queries/engaged.sql.
const DefaultEngagementSeconds = 60

// Limits of the engaged-visit tracker.
const (
	// SessionIdle is how long after its last event a session is forgotten:
	// the tag's session cookie ends after 30 minutes of inactivity, and
	// the slack covers heartbeats that arrive late (a beacon on page hide,
	// partitions read at different speeds).
	SessionIdle = 30*60*1000 + 10*60*1000 // ms of event time
	// DefaultMaxSessions bounds the sessions tracked at once: at about
	// 300 bytes a session, 200,000 of them hold about 60 MB.
	DefaultMaxSessions = 200_000
	// maxPages bounds the page views of one session that are counted: a
	// visit of more page views than this is engaged long before.
	maxPages = 256
)

// Tracker finds engaged visits: per session (pixel_id, visitor_id,
// session_id) it keeps the largest engaged_ms seen of each page view and
// their sum, and reports the first event that takes the sum strictly over
// the goal. It reports a session at most once while it remembers it, and a
// session is remembered until SessionIdle of event time has passed after
// its newest event (or the tracker is full and it is the least recently
// seen): replays, copies and reordering of a session's events change no
// maximum, so they never report it twice.
//
// A Tracker is not safe for concurrent use: each pipeline owns one.
type Tracker struct {
	max      int
	sessions map[string]*list.Element // of *session, by session key
	lru      list.List                // front: most recently seen
	newest   int64                    // the newest event time seen, ms
}

type session struct {
	key     string
	pages   map[string]int64 // page view → its largest engaged_ms
	sum     int64
	last    int64 // newest event time of the session, ms
	emitted bool
}

// NewTracker returns a tracker that remembers at most max sessions
// (0: DefaultMaxSessions).
func NewTracker(max int) *Tracker {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &Tracker{max: max, sessions: map[string]*list.Element{}}
}

// Len is the number of sessions remembered.
func (t *Tracker) Len() int { return t.lru.Len() }

// Observe counts e toward its session's engaged time and reports whether e
// is the event that takes the session over goalSeconds (0: the default of
// 60). Events without a session id (a visitor without a cookie) or without
// engaged time are not counted.
func (t *Tracker) Observe(e *event.Event, goalSeconds int) bool {
	if len(e.SessionID) == 0 || len(e.VisitorID) == 0 || e.EngagedMs <= 0 {
		return false
	}
	if goalSeconds <= 0 {
		goalSeconds = DefaultEngagementSeconds
	}
	ms := e.Millis()
	t.newest = max(t.newest, ms)
	t.expire()
	if ms < t.newest-SessionIdle {
		// Older than anything remembered: its session may have been
		// forgotten already, and counting it again could report it twice.
		return false
	}
	key := sessionKey(e)
	var s *session
	if el, ok := t.sessions[key]; ok {
		t.lru.MoveToFront(el)
		s = el.Value.(*session)
	} else {
		s = &session{key: key, pages: map[string]int64{}}
		t.sessions[key] = t.lru.PushFront(s)
		for t.lru.Len() > t.max {
			t.remove(t.lru.Back())
		}
	}
	s.last = max(s.last, ms)
	if s.emitted {
		return false
	}
	// A page view is its page_view_id; an event of no page view (a server
	// event, the pixel GIF) is a page view of its own, keyed by its event
	// id, as pixel.page_views keys it: its copies count once.
	pv := e.Tracking[event.PageViewID]
	if len(pv) == 0 {
		pv = e.EventID
	}
	old, seen := s.pages[string(pv)]
	if !seen && len(s.pages) >= maxPages {
		return false
	}
	if e.EngagedMs <= old {
		return false
	}
	s.pages[string(pv)] = e.EngagedMs
	s.sum += e.EngagedMs - old
	if s.sum > int64(goalSeconds)*1000 {
		s.emitted = true
		s.pages = nil // nothing more to count
		return true
	}
	return false
}

// expire forgets the sessions idle for SessionIdle of event time.
func (t *Tracker) expire() {
	for el := t.lru.Back(); el != nil; el = t.lru.Back() {
		if el.Value.(*session).last >= t.newest-SessionIdle {
			// Not every idle session is at the back (an old event moves
			// its session to the front), but the back is the one most
			// likely idle; the rest go when they reach it or the cap.
			return
		}
		t.remove(el)
	}
}

func (t *Tracker) remove(el *list.Element) {
	s := t.lru.Remove(el).(*session)
	delete(t.sessions, s.key)
}

func sessionKey(e *event.Event) string {
	k := make([]byte, 0, len(e.PixelID)+len(e.VisitorID)+len(e.SessionID)+2)
	k = append(k, e.PixelID...)
	k = append(k, '|')
	k = append(k, e.VisitorID...)
	k = append(k, '|')
	k = append(k, e.SessionID...)
	return string(k)
}

// EngagedEventID is the event id of a session's engaged visit: "ev-" and
// the first 32 hex digits of SHA-256(pixel_id "|" visitor_id "|"
// session_id). The same session always gets the same id, so a replay is
// de-duplicated by the platform (Meta by event id; Google by the order id
// the forwarder sets to it).
func EngagedEventID(pixelID, visitorID, sessionID []byte) string {
	h := sha256.New()
	h.Write(pixelID)
	h.Write([]byte{'|'})
	h.Write(visitorID)
	h.Write([]byte{'|'})
	h.Write(sessionID)
	sum := h.Sum(nil)
	return "ev-" + hex.EncodeToString(sum[:16])
}

// EngagedVisit returns the engaged-visit conversion that trigger set off:
// a copy of it named EngagedVisit, with the deterministic event id and
// without value, currency, order or content ids. Like trigger, the copy
// borrows the trigger's message memory for its other fields.
func EngagedVisit(trigger *event.Event) *event.Event {
	c := *trigger
	c.Name = []byte(destination.EngagedVisit)
	c.EventID = []byte(EngagedEventID(trigger.PixelID, trigger.VisitorID, trigger.SessionID))
	c.Value, c.Currency, c.OrderID, c.ContentIDs, c.Props = 0, nil, nil, nil, nil
	return &c
}
