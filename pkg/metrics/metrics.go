// Package metrics is the registry of every metric a process exports: the
// counters, gauges and histograms the pipeline updates on its hot path, kept
// by the Prometheus Go client (github.com/prometheus/client_golang), which
// also writes the text exposition format and the process and Go runtime
// metrics. Updates are single atomic operations and allocate nothing.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// Counter only goes up. It is one atomic integer that callers can read back
// (the Prometheus client's own counter cannot be read without building a
// protobuf message); the Set exports it as a counter read at scrape time.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Load returns the current value.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge goes up and down; like Counter, an atomic integer read at scrape time.
type Gauge struct{ v atomic.Int64 }

// Set sets the value.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Add adds n (which may be negative).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Load returns the current value.
func (g *Gauge) Load() int64 { return g.v.Load() }

// Histogram counts observations into fixed buckets (Prometheus `le` buckets).
type Histogram struct{ h prometheus.Histogram }

// Observe records one value.
func (h *Histogram) Observe(v float64) { h.h.Observe(v) }

// ObserveSince records the seconds elapsed since start.
func (h *Histogram) ObserveSince(start time.Time) { h.h.Observe(time.Since(start).Seconds()) }

// LatencyBuckets suit request and insert latencies in seconds.
var LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// SizeBuckets suit batch sizes in rows.
var SizeBuckets = []float64{1, 10, 100, 1000, 5000, 10000, 50000, 100000, 500000}

// Set is a registry of metrics. It writes them sorted by name, and the
// series of one name sorted by their labels.
type Set struct {
	reg *prometheus.Registry

	mu    sync.Mutex
	types map[string]string // metric name → "counter", "gauge" or "histogram"
}

// NewSet returns an empty registry.
func NewSet() *Set { return &Set{reg: prometheus.NewRegistry(), types: map[string]string{}} }

// register adds one series. Mistakes in the program — one name with two
// types or two help texts, a series registered twice, an odd label list —
// panic here rather than fail a scrape later.
func (s *Set) register(name, typ string, c prometheus.Collector) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.types[name]; ok && t != typ {
		panic("metrics: " + name + " registered as a " + t + " and as a " + typ)
	}
	if err := s.reg.Register(c); err != nil {
		panic(fmt.Sprintf("metrics: cannot register %s: %v", name, err))
	}
	s.types[name] = typ
}

// labels turns "k1", "v1", "k2", "v2" into a label map.
func labels(kv []string) prometheus.Labels {
	if len(kv)%2 != 0 {
		panic("metrics: labels must come in key, value pairs")
	}
	if len(kv) == 0 {
		return nil
	}
	l := make(prometheus.Labels, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// Counter registers and returns a counter; kv are label keys and values,
// in pairs.
func (s *Set) Counter(name, help string, kv ...string) *Counter {
	c := new(Counter)
	s.CounterFunc(name, help, func() float64 { return float64(c.Load()) }, kv...)
	return c
}

// Gauge registers and returns a gauge.
func (s *Set) Gauge(name, help string, kv ...string) *Gauge {
	g := new(Gauge)
	s.GaugeFunc(name, help, func() float64 { return float64(g.Load()) }, kv...)
	return g
}

// GaugeFunc registers a gauge whose value is read from fn at scrape time.
func (s *Set) GaugeFunc(name, help string, fn func() float64, kv ...string) {
	s.register(name, "gauge", prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels(kv)}, fn))
}

// CounterFunc registers a counter whose value is read from fn at scrape time
// (for counters kept elsewhere, such as a library's statistics).
func (s *Set) CounterFunc(name, help string, fn func() float64, kv ...string) {
	s.register(name, "counter", prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels(kv)}, fn))
}

// Histogram registers and returns a histogram with the given bucket upper bounds.
func (s *Set) Histogram(name, help string, buckets []float64, kv ...string) *Histogram {
	h := &Histogram{prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: labels(kv), Buckets: buckets})}
	s.register(name, "histogram", h.h)
	return h
}

// RegisterProcess adds the process and Go runtime metrics an operator
// expects, among them process_resident_memory_bytes,
// process_start_time_seconds, go_goroutines and go_memstats_heap_inuse_bytes.
func (s *Set) RegisterProcess() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
}

// WritePrometheus writes every metric in the text exposition format 0.0.4.
// When a collector fails (the process metrics cannot read /proc), the
// others are still written and the error is returned.
func (s *Set) WritePrometheus(w io.Writer) error {
	families, gatherErr := s.reg.Gather()
	bw := bufio.NewWriter(w)
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(bw, f); err != nil {
			return fmt.Errorf("cannot write metrics: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write metrics: %w", err)
	}
	if gatherErr != nil {
		return fmt.Errorf("cannot gather every metric (the others were written): %w", gatherErr)
	}
	return nil
}
