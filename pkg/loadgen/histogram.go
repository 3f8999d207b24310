package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// HistogramMax is the largest duration a Histogram tells apart; longer ones
// are counted in its last bucket (Max still reports them exactly).
const HistogramMax = 60 * time.Second

// Precision of the histograms, as log2 of the buckets per doubling of the
// value. A value is reported as the middle of its bucket, so the error is at
// most 1/2^bits of it: 0.2% for latencyBits (between 2 and 3 significant
// digits, from 1µs to 60s) and 3% for the per-second timeline.
const (
	latencyBits  = 9
	timelineBits = 5
)

// Histogram counts durations in log-linear buckets (HdrHistogram's layout):
// exact nanoseconds below 512ns, then 256 buckets per power of two up to
// HistogramMax. Its memory is fixed when it is made (7360 counters, 58 kB)
// and Record neither allocates nor locks. A Histogram is not safe for
// concurrent use: give each goroutine its own and Merge them.
type Histogram struct {
	bits     uint8
	counts   []uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max time.Duration
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram { return newHistogram(latencyBits) }

func newHistogram(b uint8) *Histogram {
	return &Histogram{bits: b, counts: make([]uint64, bucketIndex(uint64(HistogramMax), b)+1)}
}

// bucketIndex is the bucket of v nanoseconds: v itself below 2^b, then
// 2^(b-1) buckets per power of two.
func bucketIndex(v uint64, b uint8) int {
	n := bits.Len64(v)
	if n <= int(b) {
		return int(v)
	}
	shift := n - int(b)
	half := 1 << (b - 1)
	return 1<<b + (shift-1)*half + int(v>>shift) - half
}

// bucketBounds returns the lowest value of bucket i and its width.
func bucketBounds(i int, b uint8) (lo, width uint64) {
	sub := 1 << b
	if i < sub {
		return uint64(i), 1
	}
	half := sub / 2
	j := i - sub
	shift := j/half + 1
	return uint64(j%half+half) << shift, 1 << shift
}

// Record counts one duration; negative ones count as 0.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	v := d
	if v > HistogramMax {
		v = HistogramMax
	}
	h.counts[bucketIndex(uint64(v), h.bits)]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Count is the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the longest recorded duration, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Min is the shortest recorded duration, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Mean is the average recorded duration, exactly (not from the buckets).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the duration below or at which a share q (0..1) of the
// recorded durations lie (nearest rank), as the middle of its bucket; 0 when
// empty. Quantile(1) is Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lo, w := bucketBounds(i, h.bits)
			d := time.Duration(lo + w/2)
			return min(max(d, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds the counts of o, which must have the same precision, to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if o.bits != h.bits {
		panic("loadgen: merging histograms of different precision")
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.n, h.sum, h.min, h.max = 0, 0, 0, 0
}

// Summary returns the usual percentiles of h.
func (h *Histogram) Summary() LatencySummary {
	return LatencySummary{
		Count: h.n,
		Min:   h.min,
		Mean:  h.Mean(),
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		P999:  h.Quantile(0.999),
		Max:   h.max,
	}
}

// LatencySummary is the digest of a Histogram. Durations are nanoseconds in
// JSON.
type LatencySummary struct {
	Count uint64        `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}
