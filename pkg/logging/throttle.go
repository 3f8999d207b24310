package logging

import (
	"sync"
	"time"
)

// Throttle lets a repeating log line through once per interval and counts
// the ones it held back, so that an error that repeats for every event (a
// full disk, a broker that is away) logs one line per interval with a count
// instead of one per event. The zero value lets every line through; a nil
// *Throttle too.
type Throttle struct {
	Every time.Duration

	mu   sync.Mutex
	last time.Time
	held int
}

// NewThrottle returns a Throttle that lets one line through per every.
func NewThrottle(every time.Duration) *Throttle { return &Throttle{Every: every} }

// Allow reports whether a line may be logged now and, when it may, how many
// were held back since the last one.
func (t *Throttle) Allow() (ok bool, held int) {
	if t == nil {
		return true, 0
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < t.Every {
		t.held++
		return false, 0
	}
	t.last = now
	held, t.held = t.held, 0
	return true, held
}
