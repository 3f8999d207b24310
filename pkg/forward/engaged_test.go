package forward

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

func hb(visitor, session, pv string, ms int64, at int64) *event.Event {
	e := &event.Event{EventID: []byte("e-" + pv), PixelID: []byte("px"), VisitorID: []byte(visitor), SessionID: []byte(session),
		Name: []byte("PageEngagement"), TS: at / 1000, TSMs: at, ReceivedAt: at / 1000, EngagedMs: ms}
	e.Tracking[event.PageViewID] = []byte(pv)
	return e
}

const t0 = 1_800_000_000_000 // ms

func TestTrackerGoal(t *testing.T) {
	tests := []struct {
		name string
		goal int
		evs  []*event.Event
		want []bool // per event: did it trigger
	}{
		{"one page over the default goal", 0,
			[]*event.Event{hb("v", "s", "a", 30000, t0), hb("v", "s", "a", 60001, t0+1)},
			[]bool{false, true}},
		{"exactly the goal is not over it", 0,
			[]*event.Event{hb("v", "s", "a", 60000, t0)},
			[]bool{false}},
		{"sum of the maxima of two pages", 60,
			[]*event.Event{hb("v", "s", "a", 40000, t0), hb("v", "s", "a", 10000, t0+1), hb("v", "s", "b", 20000, t0+2), hb("v", "s", "b", 20001, t0+3)},
			[]bool{false, false, false, true}},
		{"once per session", 10,
			[]*event.Event{hb("v", "s", "a", 11000, t0), hb("v", "s", "b", 50000, t0+1), hb("v", "s2", "c", 11000, t0+2)},
			[]bool{true, false, true}},
		{"no session id is not counted", 10,
			[]*event.Event{hb("v", "", "a", 50000, t0)},
			[]bool{false}},
		{"pixel goal", 5,
			[]*event.Event{hb("v", "s", "a", 5001, t0)},
			[]bool{true}},
		{"sessions of two visitors apart", 10,
			[]*event.Event{hb("v1", "s", "a", 6000, t0), hb("v2", "s", "a2", 6000, t0+1)},
			[]bool{false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(0)
			for i, e := range tc.evs {
				if got := tr.Observe(e, tc.goal); got != tc.want[i] {
					t.Errorf("event %d: triggered %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestTrackerBounded(t *testing.T) {
	tr := NewTracker(100)
	for i := range 1000 {
		tr.Observe(hb("v", string(rune('a'+i%26))+strings.Repeat("x", i/26), "pv", 1000, t0+int64(i)), 60)
	}
	if tr.Len() > 100 {
		t.Errorf("tracker holds %d sessions, cap 100", tr.Len())
	}
	// Idle sessions go once event time moves past SessionIdle.
	tr.Observe(hb("late", "s", "pv", 1000, t0+SessionIdle+2000), 60)
	if tr.Len() != 1 {
		t.Errorf("tracker holds %d sessions after the idle time, want 1", tr.Len())
	}
	// An event older than the idle window is not counted: its session may
	// have been forgotten, and counting it could emit twice.
	if tr.Observe(hb("old", "s", "pv", 100000, t0), 60) {
		t.Error("an event older than the idle window triggered")
	}
}

func TestEngagedVisit(t *testing.T) {
	e := hb("v", "s", "a", 70000, t0)
	e.Value, e.Currency, e.OrderID = 3, []byte("EUR"), []byte("o")
	ev := EngagedVisit(e)
	if string(ev.Name) != destination.EngagedVisit || ev.Value != 0 || ev.Currency != nil || ev.OrderID != nil || ev.TSMs != e.TSMs {
		t.Errorf("engaged visit %+v", ev)
	}
	id := string(ev.EventID)
	// sha256("px|v|s")[:16] in hex.
	if id != EngagedEventID([]byte("px"), []byte("v"), []byte("s")) || len(id) != 35 || !strings.HasPrefix(id, "ev-") {
		t.Errorf("event id %q", id)
	}
	if id != "ev-7ffe7bf463236cf73b241916a2999827" { // printf 'px|v|s' | sha256sum | cut -c1-32
		t.Errorf("event id %q, want the first 32 hex digits of SHA-256(px|v|s)", id)
	}
	if string(e.Name) != "PageEngagement" || string(e.EventID) != "e-a" {
		t.Error("EngagedVisit changed its trigger")
	}
	var back event.Event
	if err := event.Parse(event.AppendJSON(nil, ev), &back); err != nil {
		t.Errorf("engaged visit does not round-trip: %v", err)
	}
}

// FuzzTrackerReplay: whatever the events, replaying them (shuffled, each
// twice) never makes the tracker report a session twice, and a session is
// reported only when its sum of page maxima is over the goal.
func FuzzTrackerReplay(f *testing.F) {
	f.Add([]byte{1, 2, 3, 200, 9, 4, 7, 250}, uint64(1), uint8(10))
	f.Add([]byte{0, 0, 0, 255, 255, 255}, uint64(7), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, goal uint8) {
		var evs []*event.Event
		for i := 0; i+2 < len(data) && len(evs) < 200; i += 3 {
			visitor := string('a' + rune(data[i]%3))
			session := string('s' + rune(data[i]/3%2))
			pv := string('p' + rune(data[i+1]%4))
			ms := int64(data[i+2]) * 500
			evs = append(evs, hb(visitor, session, pv, ms, t0+int64(i)*1000))
		}
		g := int(goal%60) + 1
		// The truth: the sum of page maxima per session.
		sum := map[string]map[string]int64{}
		for _, e := range evs {
			k := string(e.VisitorID) + "|" + string(e.SessionID)
			if sum[k] == nil {
				sum[k] = map[string]int64{}
			}
			pv := string(e.Tracking[event.PageViewID])
			sum[k][pv] = max(sum[k][pv], e.EngagedMs)
		}
		replay := append(append([]*event.Event(nil), evs...), evs...)
		rand.New(rand.NewPCG(seed, seed^0x9e3779b9)).Shuffle(len(replay), func(i, j int) { replay[i], replay[j] = replay[j], replay[i] })
		tr := NewTracker(0)
		emitted := map[string]int{}
		for _, e := range replay {
			if tr.Observe(e, g) {
				emitted[string(e.VisitorID)+"|"+string(e.SessionID)]++
			}
		}
		for k, pages := range sum {
			var total int64
			for _, ms := range pages {
				total += ms
			}
			want := 0
			if total > int64(g)*1000 {
				want = 1
			}
			if emitted[k] != want {
				t.Errorf("session %s (sum %d ms, goal %d s) emitted %d times, want %d", k, total, g, emitted[k], want)
			}
		}
	})
}
