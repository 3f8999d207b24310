package ingest

import (
	"strconv"
	"sync"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// partitionLag is how far behind the end of each partition the consumer
// was at the last message it fetched from it: HighWaterMark − offset − 1,
// from the fetch response that carried the message. A partition's gauge,
// pixel_consumer_partition_lag{partition="N"}, appears the first time one
// of its messages arrives; pixel_consumer_lag is their sum.
//
// The values are this member's view: a partition that a rebalance gave to
// another member keeps the lag it had when this one last fetched from it.
type partitionLag struct {
	m *metrics.Set
	// gauges is written by the fetch loop only, under mu; the loop reads
	// it without mu, the scrape (sum) under mu.
	mu     sync.Mutex
	gauges map[int]*metrics.Gauge
}

func newPartitionLag(m *metrics.Set) *partitionLag {
	l := &partitionLag{m: m, gauges: map[int]*metrics.Gauge{}}
	m.GaugeFunc("pixel_consumer_lag", "Messages behind the end of the partitions this consumer fetched from: the sum of pixel_consumer_partition_lag.", l.sum)
	return l
}

// observe records the lag at a fetched message.
func (l *partitionLag) observe(partition int, offset, highWaterMark int64) {
	g := l.gauges[partition]
	if g == nil {
		g = l.m.Gauge("pixel_consumer_partition_lag", "Messages behind the end of the partition at the last message fetched from it (high-water mark − offset − 1).",
			"partition", strconv.Itoa(partition))
		l.mu.Lock()
		l.gauges[partition] = g
		l.mu.Unlock()
	}
	g.Set(max(highWaterMark-offset-1, 0))
}

func (l *partitionLag) sum() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, g := range l.gauges {
		n += g.Load()
	}
	return float64(n)
}
