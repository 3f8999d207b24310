package loadgen

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is what one Run measured. It marshals to JSON as is; durations are
// nanoseconds there (the field names say so).
type Result struct {
	Target      string    `json:"target"` // the pixel's URL without query
	Mode        string    `json:"mode"`   // "open" (constant rate) or "closed" (maximum throughput)
	Rate        float64   `json:"rate"`   // the schedule, requests/s; 0 in closed loop
	Connections int       `json:"connections"`
	Seed        uint64    `json:"seed"`
	Start       time.Time `json:"start"`
	// Elapsed runs from the start of the schedule to the last answer.
	Elapsed time.Duration `json:"elapsed_ns"`

	// Sent counts the requests tried (hit numbers taken from the schedule);
	// each ends as Completed (an HTTP answer, any status), as a transport
	// error or, when the run was cancelled, as Canceled.
	Sent      int64 `json:"sent"`
	Completed int64 `json:"completed"`
	Canceled  int64 `json:"canceled"`
	// Late counts requests that were more than LateAfter overdue when a
	// connection became free to send them (open loop: the connections could
	// not keep up with the schedule); MaxLag is the longest such delay.
	// Their latency includes it.
	Late   int64         `json:"late"`
	MaxLag time.Duration `json:"max_lag_ns"`
	// Retries counts requests sent a second time because their kept-alive
	// connection turned out closed.
	Retries int64 `json:"retries"`

	Status map[int]int64 `json:"status"` // answers by HTTP status code (0: not a valid code)
	Errors ErrorCounts   `json:"errors"`

	// Valid and Malformed split the hits by whether the collector must
	// accept them; Events splits the valid ones by event, MalformedKinds
	// the bad ones by the collector's invalid-reason label.
	Valid          HitCounts            `json:"valid"`
	Malformed      HitCounts            `json:"malformed"`
	Events         map[string]HitCounts `json:"events"`
	MalformedKinds map[string]HitCounts `json:"malformed_kinds"`
	// WithCookies counts requests that carried a _pxid cookie set by an
	// earlier answer.
	WithCookies int64 `json:"with_cookies"`

	// EventIDs (with Mix.EventIDs) are the eids of the valid hits answered
	// 200, sorted: exactly the rows the pipeline must store.
	// UncertainEventIDs are those of valid hits whose request failed in
	// transport or was cancelled: the collector may or may not have them.
	EventIDs          []string `json:"event_ids,omitempty"`
	UncertainEventIDs []string `json:"uncertain_event_ids,omitempty"`

	// AchievedRate is Completed divided by Elapsed.
	AchievedRate float64 `json:"achieved_rate"`
	// Latency of the answered requests: in open loop from the scheduled
	// send time (corrected for coordinated omission), in closed loop from
	// the actual one.
	Latency LatencySummary `json:"latency"`
	// Histogram holds the latencies behind Latency, to merge runs.
	Histogram *Histogram `json:"-"`
	// Timeline has one entry per second of the run, by completion time.
	Timeline []Second `json:"timeline"`
}

// ErrorCounts are transport errors by kind.
type ErrorCounts struct {
	Timeout int64 `json:"timeout"` // no answer within Config.Timeout
	Refused int64 `json:"refused"` // connection refused: nothing listens
	Closed  int64 `json:"closed"`  // connection reset or closed before the answer was complete
	Other   int64 `json:"other"`
}

// Total is the number of transport errors.
func (e ErrorCounts) Total() int64 { return e.Timeout + e.Refused + e.Closed + e.Other }

// HitCounts follow hits of one kind: Sent = OK + Failed.
type HitCounts struct {
	Sent   int64 `json:"sent"`
	OK     int64 `json:"ok"`     // answered 200
	Failed int64 `json:"failed"` // another status, a transport error or cancelled
}

func (c *HitCounts) add(o HitCounts) {
	c.Sent += o.Sent
	c.OK += o.OK
	c.Failed += o.Failed
}

// Second is one second of the run.
type Second struct {
	Second   int           `json:"second"`   // from the start
	Requests int64         `json:"requests"` // finished in this second: answers and errors
	OK       int64         `json:"ok"`       // answered 200
	Errors   int64         `json:"errors"`   // transport errors
	P50      time.Duration `json:"p50_ns"`   // of the answers, within 3%
	P99      time.Duration `json:"p99_ns"`
}

// stats are one worker's counters, merged into the Result at the end.
type stats struct {
	hist                      *Histogram
	sent, completed, canceled int64
	late, retries             int64
	maxLag                    time.Duration
	status                    [600]int64
	errs                      ErrorCounts
	valid, malformed          HitCounts
	events                    [5]HitCounts
	kinds                     []HitCounts // by MalformedKinds
	withCookies               int64
	okIDs, uncertainIDs       []uint64
}

func newStats() stats {
	return stats{hist: NewHistogram(), kinds: make([]HitCounts, len(MalformedKinds))}
}

func (s *stats) countError(err error) {
	switch classify(err) {
	case "refused":
		s.errs.Refused++
	case "timeout":
		s.errs.Timeout++
	case "closed":
		s.errs.Closed++
	default:
		s.errs.Other++
	}
}

// second accumulates one second of the timeline.
type second struct {
	requests, ok, errors int64
	hist                 *Histogram
}

// timeline gathers the seconds the workers flush.
type timeline struct {
	mu   sync.Mutex
	secs []second
}

func (t *timeline) add(s int, a *second) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.secs) <= s {
		t.secs = append(t.secs, second{})
	}
	d := &t.secs[s]
	if d.hist == nil {
		d.hist = newHistogram(timelineBits)
	}
	d.requests += a.requests
	d.ok += a.ok
	d.errors += a.errors
	d.hist.Merge(a.hist)
}

// result merges the workers' stats.
func (r *runner) result(workers []*worker) *Result {
	cfg := r.cfg
	res := &Result{
		Target:         strings.TrimSuffix(cfg.Target, "/") + cfg.Path,
		Mode:           "closed",
		Rate:           cfg.Rate,
		Connections:    cfg.Connections,
		Seed:           cfg.Seed,
		Start:          r.start,
		Status:         map[int]int64{},
		Events:         map[string]HitCounts{},
		MalformedKinds: map[string]HitCounts{},
		Histogram:      NewHistogram(),
	}
	if r.open {
		res.Mode = "open"
	}
	end := r.start
	var events [5]HitCounts
	kinds := make([]HitCounts, len(MalformedKinds))
	var ok, uncertain []uint64
	for _, w := range workers {
		s := &w.st
		if w.end.After(end) {
			end = w.end
		}
		res.Histogram.Merge(s.hist)
		res.Sent += s.sent
		res.Completed += s.completed
		res.Canceled += s.canceled
		res.Late += s.late
		res.Retries += s.retries
		res.MaxLag = max(res.MaxLag, s.maxLag)
		for code, n := range s.status {
			if n > 0 {
				res.Status[code] += n
			}
		}
		res.Errors.Timeout += s.errs.Timeout
		res.Errors.Refused += s.errs.Refused
		res.Errors.Closed += s.errs.Closed
		res.Errors.Other += s.errs.Other
		res.Valid.add(s.valid)
		res.Malformed.add(s.malformed)
		for k := range events {
			events[k].add(s.events[k])
		}
		for k := range kinds {
			kinds[k].add(s.kinds[k])
		}
		res.WithCookies += s.withCookies
		ok = append(ok, s.okIDs...)
		uncertain = append(uncertain, s.uncertainIDs...)
	}
	for k, name := range EventNames {
		if events[k].Sent > 0 {
			res.Events[name] = events[k]
		}
	}
	for k, name := range MalformedKinds {
		if kinds[k].Sent > 0 {
			res.MalformedKinds[name] = kinds[k]
		}
	}
	res.EventIDs = r.eventIDs(ok)
	res.UncertainEventIDs = r.eventIDs(uncertain)
	res.Elapsed = end.Sub(r.start)
	if res.Elapsed > 0 {
		res.AchievedRate = float64(res.Completed) / res.Elapsed.Seconds()
	}
	res.Latency = res.Histogram.Summary()
	for s, a := range r.timeline.secs {
		sec := Second{Second: s, Requests: a.requests, OK: a.ok, Errors: a.errors}
		if a.hist != nil {
			sec.P50, sec.P99 = a.hist.Quantile(0.5), a.hist.Quantile(0.99)
		}
		res.Timeline = append(res.Timeline, sec)
	}
	return res
}

// eventIDs formats hit numbers as eids, in order: the numbers are
// zero-padded, so numeric order is string order.
func (r *runner) eventIDs(idx []uint64) []string {
	if len(idx) == 0 {
		return nil
	}
	slices.Sort(idx)
	out := make([]string, len(idx))
	buf := make([]byte, 0, 64)
	for k, i := range idx {
		buf = append(buf[:0], r.cfg.Mix.EventIDPrefix...)
		buf = appendPadded(buf, i, 12)
		out[k] = string(buf)
	}
	return out
}

// WriteSummary writes the result for a person: rate, answers, errors and
// latency percentiles.
func (res *Result) WriteSummary(w io.Writer) error {
	var b strings.Builder
	mode := "closed loop (as fast as possible)"
	if res.Mode == "open" {
		mode = "open loop at " + strconv.FormatFloat(res.Rate, 'f', -1, 64) + " requests/s"
	}
	fmt.Fprintf(&b, "loadgen: %s against %s, %d connections, seed %d, %s\n",
		mode, res.Target, res.Connections, res.Seed, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "  requests  %d sent, %d answered, %.1f/s achieved", res.Sent, res.Completed, res.AchievedRate)
	if res.Mode == "open" {
		fmt.Fprintf(&b, ", %d late (max lag %s)", res.Late, res.MaxLag.Round(time.Microsecond))
	}
	if res.Canceled > 0 {
		fmt.Fprintf(&b, ", %d cancelled", res.Canceled)
	}
	if res.Retries > 0 {
		fmt.Fprintf(&b, ", %d retried on a new connection", res.Retries)
	}
	b.WriteString("\n  status   ")
	codes := make([]int, 0, len(res.Status))
	for c := range res.Status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	if len(codes) == 0 {
		b.WriteString(" none")
	}
	for _, c := range codes {
		fmt.Fprintf(&b, " %d: %d", c, res.Status[c])
	}
	e := res.Errors
	fmt.Fprintf(&b, "\n  errors    %d (timeout %d, refused %d, closed %d, other %d)\n", e.Total(), e.Timeout, e.Refused, e.Closed, e.Other)
	fmt.Fprintf(&b, "  hits      valid %d (%d answered 200), malformed %d (%d answered 200), %d with cookies\n",
		res.Valid.Sent, res.Valid.OK, res.Malformed.Sent, res.Malformed.OK, res.WithCookies)
	b.WriteString("  events   ")
	for _, name := range EventNames {
		if c, ok := res.Events[name]; ok {
			fmt.Fprintf(&b, " %s %d", name, c.Sent)
		}
	}
	l := res.Latency
	from := "from the actual send time"
	if res.Mode == "open" {
		from = "from the scheduled send time"
	}
	fmt.Fprintf(&b, "\n  latency   p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s  (%s)\n",
		fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.Max), fmtDur(l.Mean), from)
	if res.EventIDs != nil || res.UncertainEventIDs != nil {
		fmt.Fprintf(&b, "  eids      %d answered 200, %d uncertain (transport error)\n", len(res.EventIDs), len(res.UncertainEventIDs))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtDur rounds d to three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d >= 100*time.Second:
		return d.Round(time.Second).String()
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond).String()
	case d >= 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond).String()
	default:
		return d.Round(10 * time.Nanosecond).String()
	}
}
