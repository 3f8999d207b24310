//go:build !race

package publish

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// TestEnqueueAllocatesNothing: what the collector's handler pays per event,
// Acquire, fill the key and value, Publish, allocates nothing once the pool
// holds messages. The one worker takes the first event and lingers (an hour,
// and its batch never fills), so nothing else runs while allocations are
// counted; BenchmarkPublishEnqueue measures the same with the workers
// writing.
func TestEnqueueAllocatesNothing(t *testing.T) {
	const runs = 1000
	p, err := New(Config{
		Brokers: []string{"127.0.0.1:1"}, Topic: "pixel.events", Workers: 1,
		QueueSize: 2 * runs, BatchSize: 1 << 20, BatchBytes: 1 << 30, Linger: time.Hour,
	}, zerolog.Nop(), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = p.Close(ctx) // nothing listens there: the queue is dropped
	}()
	key, value := []byte("sc8cPxnWCqTSehxeTpAuZA"), make([]byte, 700)
	warm := make([]*Message, runs+10)
	for i := range warm {
		warm[i] = p.Acquire()
		warm[i].Value = append(warm[i].Value[:0], value...)
	}
	for _, m := range warm {
		p.release(m)
	}
	queued := 0
	n := testing.AllocsPerRun(runs, func() {
		m := p.Acquire()
		m.Key = append(m.Key[:0], key...)
		m.Value = append(m.Value[:0], value...)
		if p.Publish(m) {
			queued++
		}
	})
	if queued != runs+1 { // AllocsPerRun runs once more to warm up
		t.Fatalf("%d of %d events queued", queued, runs+1)
	}
	if n != 0 {
		t.Fatalf("%v allocations per event, want 0", n)
	}
}
