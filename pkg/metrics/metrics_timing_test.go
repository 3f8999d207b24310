package metrics

import (
	"io"
	"testing"
)

// The hot path's updates: a counter per hit, a histogram per batch write.

func BenchmarkCounterInc(b *testing.B) {
	c := NewSet().Counter("c_total", "C.")
	b.ReportAllocs()
	for b.Loop() {
		c.Inc()
	}
}

func BenchmarkCounterIncParallel(b *testing.B) {
	c := NewSet().Counter("c_total", "C.")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

func BenchmarkGaugeSet(b *testing.B) {
	g := NewSet().Gauge("g", "G.")
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		g.Set(i)
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewSet().Histogram("h", "H.", LatencyBuckets)
	b.ReportAllocs()
	v := 0.0
	for b.Loop() {
		v += 0.0001
		if v > 2 {
			v = 0
		}
		h.Observe(v)
	}
}

func BenchmarkHistogramObserveParallel(b *testing.B) {
	h := NewSet().Histogram("h", "H.", LatencyBuckets)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := 0.0
		for pb.Next() {
			v += 0.0001
			if v > 2 {
				v = 0
			}
			h.Observe(v)
		}
	})
}

// BenchmarkWritePrometheus is one scrape of a set the size of the
// collector's: 40 counters, 10 gauges, 3 histograms.
func BenchmarkWritePrometheus(b *testing.B) {
	s := NewSet()
	for i := range 40 {
		s.Counter("c_total", "C.", "reason", string(rune('a'+i%26))+string(rune('a'+i/26))).Add(uint64(i))
	}
	for i := range 10 {
		s.Gauge("g", "G.", "partition", string(rune('0'+i))).Set(int64(i))
	}
	for _, name := range []string{"h1", "h2", "h3"} {
		h := s.Histogram(name, "H.", LatencyBuckets)
		h.Observe(0.003)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WritePrometheus(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
