package loadgen_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

// Percentiles agree with a sorted reference, within the promised precision,
// on data spread from 1µs to 60s and on a narrow, realistic cluster.
func TestHistogramPercentilesMatchSortedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, gen := range map[string]func() time.Duration{
		"log-uniform 1µs..60s": func() time.Duration {
			return time.Duration(math.Exp(rng.Float64()*math.Log(60e9/1e3)) * 1e3)
		},
		"loopback latencies": func() time.Duration {
			d := 80*time.Microsecond + time.Duration(rng.ExpFloat64()*float64(40*time.Microsecond))
			if rng.IntN(1000) == 0 {
				d += 200 * time.Millisecond // a rare stall
			}
			return d
		},
		"sub-microsecond": func() time.Duration { return time.Duration(rng.IntN(2000)) },
	} {
		h := loadgen.NewHistogram()
		a, b := loadgen.NewHistogram(), loadgen.NewHistogram()
		ref := make([]time.Duration, 200_000)
		var sum float64
		for i := range ref {
			d := gen()
			ref[i] = d
			sum += float64(d)
			h.Record(d)
			if i%2 == 0 {
				a.Record(d)
			} else {
				b.Record(d)
			}
		}
		a.Merge(b)
		slices.Sort(ref)
		for _, q := range []float64{0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999} {
			want := ref[int(math.Ceil(q*float64(len(ref))))-1]
			got := h.Quantile(q)
			if diff := math.Abs(float64(got - want)); diff > float64(want)/500 {
				t.Errorf("%s: p%v = %s, sorted reference %s (off by %.3f%%)", name, q*100, got, want, 100*diff/float64(want))
			}
			if merged := a.Quantile(q); merged != got {
				t.Errorf("%s: p%v of merged halves %s, of all %s", name, q*100, merged, got)
			}
		}
		if h.Max() != ref[len(ref)-1] || h.Min() != ref[0] || h.Quantile(1) != h.Max() || h.Count() != uint64(len(ref)) {
			t.Errorf("%s: min %s max %s count %d, want %s %s %d", name, h.Min(), h.Max(), h.Count(), ref[0], ref[len(ref)-1], len(ref))
		}
		if mean := time.Duration(math.Round(sum / float64(len(ref)))); h.Mean() != mean {
			t.Errorf("%s: mean %s, want %s", name, h.Mean(), mean)
		}
		s := h.Summary()
		if s.P50 != h.Quantile(0.5) || s.P999 != h.Quantile(0.999) || s.Max != h.Max() || s.Count != h.Count() {
			t.Errorf("%s: summary %+v", name, s)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	h := loadgen.NewHistogram()
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Error("an empty histogram reports values")
	}
	h.Record(-time.Second)
	h.Record(2 * time.Minute)
	if h.Min() != 0 || h.Max() != 2*time.Minute || h.Quantile(0.5) != 0 {
		t.Errorf("negative and beyond-range values: min %s max %s p50 %s", h.Min(), h.Max(), h.Quantile(0.5))
	}
	if got := h.Quantile(0.99); got < loadgen.HistogramMax-loadgen.HistogramMax/500 {
		t.Errorf("a value beyond HistogramMax is reported as %s", got)
	}
	h.Reset()
	if h.Count() != 0 || h.Max() != 0 || h.Quantile(0.9) != 0 {
		t.Error("Reset left values behind")
	}
	if n := testing.AllocsPerRun(1000, func() { h.Record(123 * time.Microsecond) }); n != 0 {
		t.Errorf("Record allocates %.1f times", n)
	}
}
