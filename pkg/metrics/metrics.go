// Package metrics is a small, allocation-free set of counters, gauges and
// histograms written in the Prometheus text exposition format. Updates are
// single atomic operations, safe on the hot path.
package metrics

import (
	"bufio"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Counter only goes up.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Load returns the current value.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge goes up and down.
type Gauge struct{ v atomic.Int64 }

// Set sets the value.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Add adds n (which may be negative).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Load returns the current value.
func (g *Gauge) Load() int64 { return g.v.Load() }

// Histogram counts observations into fixed buckets.
type Histogram struct {
	upper  []float64
	counts []atomic.Uint64 // one per bucket plus +Inf
	sum    atomic.Uint64   // float64 bits
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.upper, v)
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// ObserveSince records the seconds elapsed since start.
func (h *Histogram) ObserveSince(start time.Time) { h.Observe(time.Since(start).Seconds()) }

// Count returns how many values were observed.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// LatencyBuckets suit request and insert latencies in seconds.
var LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// SizeBuckets suit batch sizes in rows.
var SizeBuckets = []float64{1, 10, 100, 1000, 5000, 10000, 50000, 100000, 500000}

type kind int

const (
	kindCounter kind = iota
	kindGauge
	kindHistogram
)

type series struct {
	labels    string // `{a="b"}` or ""
	counter   *Counter
	gauge     *Gauge
	gaugeFunc func() float64
	hist      *Histogram
}

type family struct {
	name, help string
	kind       kind
	series     []*series
}

// Set is a registry of metric families, written in registration order.
type Set struct {
	mu       sync.Mutex
	families []*family
	byName   map[string]*family
}

// NewSet returns an empty registry.
func NewSet() *Set { return &Set{byName: map[string]*family{}} }

func (s *Set) add(name, help string, k kind, labels []string, sr *series) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.byName[name]
	if f == nil {
		f = &family{name: name, help: help, kind: k}
		s.byName[name] = f
		s.families = append(s.families, f)
	}
	if f.kind != k {
		panic("metrics: " + name + " registered with two types")
	}
	sr.labels = formatLabels(labels)
	f.series = append(f.series, sr)
}

// formatLabels turns "k1", "v1", "k2", "v2" into {k1="v1",k2="v2"}.
func formatLabels(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	if len(kv)%2 != 0 {
		panic("metrics: labels must come in key, value pairs")
	}
	b := []byte{'{'}
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, kv[i]...)
		b = append(b, '=')
		b = appendLabelValue(b, kv[i+1])
	}
	return string(append(b, '}'))
}

// appendLabelValue appends v as a quoted label value. The exposition format
// knows only three escapes (\\, \" and \n) and takes every other byte as it is;
// strconv.Quote's \t or \x01 would make the whole scrape fail to parse.
func appendLabelValue(b []byte, v string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, v, true)
	return append(b, '"')
}

// appendEscaped appends s with backslash and line feed escaped, and the
// double quote too when quote is set (label values; HELP text leaves it).
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// Counter registers and returns a counter; labels are key, value pairs.
func (s *Set) Counter(name, help string, labels ...string) *Counter {
	c := new(Counter)
	s.add(name, help, kindCounter, labels, &series{counter: c})
	return c
}

// Gauge registers and returns a gauge.
func (s *Set) Gauge(name, help string, labels ...string) *Gauge {
	g := new(Gauge)
	s.add(name, help, kindGauge, labels, &series{gauge: g})
	return g
}

// GaugeFunc registers a gauge whose value is read from fn at scrape time.
func (s *Set) GaugeFunc(name, help string, fn func() float64, labels ...string) {
	s.add(name, help, kindGauge, labels, &series{gaugeFunc: fn})
}

// CounterFunc registers a counter whose value is read from fn at scrape time
// (for counters kept elsewhere, such as a library's statistics).
func (s *Set) CounterFunc(name, help string, fn func() float64, labels ...string) {
	s.add(name, help, kindCounter, labels, &series{gaugeFunc: fn})
}

// Histogram registers and returns a histogram with the given bucket upper bounds.
func (s *Set) Histogram(name, help string, buckets []float64, labels ...string) *Histogram {
	h := &Histogram{upper: buckets, counts: make([]atomic.Uint64, len(buckets)+1)}
	s.add(name, help, kindHistogram, labels, &series{hist: h})
	return h
}

// WritePrometheus writes every metric in the text exposition format 0.0.4.
func (s *Set) WritePrometheus(w io.Writer) error {
	// Copy the families and their series lists under the lock: a series
	// may be registered at any time, also while another goroutine writes.
	s.mu.Lock()
	families := make([]family, len(s.families))
	for i, f := range s.families {
		families[i] = *f
	}
	s.mu.Unlock()
	bw := bufio.NewWriter(w)
	var b []byte
	for _, f := range families {
		b = append(b[:0], "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = appendEscaped(b, f.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, [...]string{" counter\n", " gauge\n", " histogram\n"}[f.kind]...)
		for _, sr := range f.series {
			b = sr.append(b, f.name)
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func (sr *series) append(b []byte, name string) []byte {
	line := func(b []byte, suffix, labels string, v float64) []byte {
		b = append(b, name...)
		b = append(b, suffix...)
		b = append(b, labels...)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		return append(b, '\n')
	}
	switch {
	case sr.counter != nil:
		return line(b, "", sr.labels, float64(sr.counter.Load()))
	case sr.gauge != nil:
		return line(b, "", sr.labels, float64(sr.gauge.Load()))
	case sr.gaugeFunc != nil:
		return line(b, "", sr.labels, sr.gaugeFunc())
	}
	h := sr.hist
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.upper) {
			le = strconv.FormatFloat(h.upper[i], 'g', -1, 64)
		}
		b = line(b, "_bucket", withLabel(sr.labels, "le", le), float64(cum))
	}
	b = line(b, "_sum", sr.labels, math.Float64frombits(h.sum.Load()))
	return line(b, "_count", sr.labels, float64(cum))
}

func withLabel(labels, k, v string) string {
	pair := k + "=" + string(appendLabelValue(nil, v))
	if labels == "" {
		return "{" + pair + "}"
	}
	return labels[:len(labels)-1] + "," + pair + "}"
}

// RegisterProcess adds the process gauges an operator expects: resident
// memory, goroutines, Go heap and start time.
func (s *Set) RegisterProcess() {
	start := float64(time.Now().Unix())
	s.GaugeFunc("process_start_time_seconds", "Start time of the process since the Unix epoch.", func() float64 { return start })
	s.GaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.", func() float64 { return float64(RSS()) })
	s.GaugeFunc("go_goroutines", "Number of goroutines that currently exist.", func() float64 { return float64(runtime.NumGoroutine()) })
	s.GaugeFunc("go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", func() float64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapInuse)
	})
}

// RSS returns the resident set size of this process in bytes (Linux), or 0.
func RSS() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var fields [2]int64
	n := 0
	for _, c := range data {
		if c == ' ' {
			n++
			if n == 2 {
				break
			}
			continue
		}
		if c >= '0' && c <= '9' {
			fields[n] = fields[n]*10 + int64(c-'0')
		}
	}
	return fields[1] * int64(os.Getpagesize())
}
