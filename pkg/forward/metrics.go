package forward

import (
	"strconv"
	"sync"

	"github.com/pixel-pipeline/pixel/pkg/gate"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// Outcomes of forward_events_total.
const (
	OutcomeSent     = "sent"     // built into a request (once per event)
	OutcomeAccepted = "accepted" // the platform took it
	OutcomeRefused  = "refused"  // the platform refused it for good: dead-lettered
	OutcomeRetried  = "retried"  // in a request sent again (once per retry)
	OutcomeSkipped  = "skipped"  // left out by the builder (forward_skipped_total says why)
)

// destMetrics are one destination's series. They outlive its pipeline: a
// restarted pipeline (a changed destination) counts on in the same series.
type destMetrics struct {
	set         *metrics.Set
	id, kind    string
	sent        *metrics.Counter
	accepted    *metrics.Counter
	refused     *metrics.Counter
	retried     *metrics.Counter
	skipped     *metrics.Counter
	gated       map[string]*metrics.Counter
	engaged     *metrics.Counter
	lag         *metrics.Gauge
	deadLetters *metrics.Counter

	mu       sync.Mutex
	skips    map[string]*metrics.Counter // by reason, registered when first seen
	requests map[string]*metrics.Counter // by status
}

func newDestMetrics(m *metrics.Set, id, kind string) *destMetrics {
	ev := func(outcome string) *metrics.Counter {
		return m.Counter("forward_events_total", "Events by destination and outcome: sent (built into a request), accepted, refused (dead-lettered), retried (in a request sent again), skipped (left out by the builder).",
			"destination", id, "kind", kind, "outcome", outcome)
	}
	d := &destMetrics{
		set: m, id: id, kind: kind,
		sent: ev(OutcomeSent), accepted: ev(OutcomeAccepted), refused: ev(OutcomeRefused), retried: ev(OutcomeRetried), skipped: ev(OutcomeSkipped),
		gated:       map[string]*metrics.Counter{},
		engaged:     m.Counter("forward_engaged_total", "Engaged visits found (sessions whose engaged time passed the pixel's goal), by destination.", "destination", id),
		lag:         m.Gauge("forward_lag", "Messages of the topic not yet committed by the destination's pipeline (high watermark minus committed offset, summed over the partitions it read).", "destination", id),
		deadLetters: m.Counter("forward_dead_letters_total", "Refused events the dead-letter topic acknowledged, by destination.", "destination", id),
		skips:       map[string]*metrics.Counter{},
		requests:    map[string]*metrics.Counter{},
	}
	for _, r := range gate.Reasons {
		d.gated[r] = m.Counter("forward_gated_total", "Events the consent gate kept from the destination, by reason (consent, gpc, optout, bot).", "destination", id, "reason", r)
	}
	return d
}

func (d *destMetrics) skip(reason string) {
	d.counter(d.skips, "forward_skipped_total", "Events left out because the platform would refuse them (too_old, no_click_id, ...), by destination and reason.", "reason", reason).Inc()
	d.skipped.Inc()
}

func (d *destMetrics) request(status int) {
	s := "network"
	if status != 0 {
		s = strconv.Itoa(status)
	}
	d.counter(d.requests, "forward_requests_total", "Requests sent to the destination, by HTTP status of the answer (network: none came).", "status", s).Inc()
}

// counter is the destination's series of name with label=value, registered
// on first use (the reasons and statuses are not known in advance) and
// kept in cache.
func (d *destMetrics) counter(cache map[string]*metrics.Counter, name, help, label, value string) *metrics.Counter {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := cache[value]
	if c == nil {
		c = d.set.Counter(name, help, "destination", d.id, label, value)
		cache[value] = c
	}
	return c
}
