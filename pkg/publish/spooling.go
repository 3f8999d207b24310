package publish

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/spool"
)

// spooler is the Publisher's disk spool and the state around it.
//
// While spooling is set, every event goes to the spool (Publish appends it
// directly, workers move what is queued), so the spool holds one ordered
// stream. The replayer writes it to Kafka batch by batch, committing what Kafka
// acknowledged, and clears spooling once the spool is empty. mu makes "append"
// and "the spool is empty: stop spooling" exclusive, so no event is left behind
// in the spool when the publisher goes back to the queue.
//
// Order: the spool is replayed in the order it was written. Around the moment
// spooling begins, events a worker was still trying to write reach the spool
// after events that Publish appended directly, so one visitor's events may be
// reordered across the start of an outage; within the spool, and outside
// outages, they keep their order.
type spooler struct {
	spool     *spool.Spool
	mu        sync.Mutex
	spooling  atomic.Bool
	spoolFull atomic.Bool
	wake      chan struct{}

	spooled, replayed, dropSpoolFull, dropSpoolError *metrics.Counter
}

func (p *Publisher) initSpooler(sp *spool.Spool, m *metrics.Set) {
	if sp == nil {
		return
	}
	p.spool = sp
	p.wake = make(chan struct{}, 1)
	p.spooled = m.Counter("pixel_publish_spooled_total", "Events written to the disk spool because Kafka could not take them.")
	p.replayed = m.Counter("pixel_publish_replayed_total", "Events moved from the disk spool to Kafka.")
	p.dropSpoolFull = m.Counter("pixel_publish_dropped_total", "Events dropped before reaching Kafka, by reason.", "reason", "spool_full")
	p.dropSpoolError = m.Counter("pixel_publish_dropped_total", "Events dropped before reaching Kafka, by reason.", "reason", "spool_error")
	m.GaugeFunc("pixel_publish_spooling", "1 while events go to the disk spool instead of straight to Kafka.", func() float64 {
		if p.spooling.Load() {
			return 1
		}
		return 0
	})
	m.GaugeFunc("pixel_spool_bytes", "Bytes of the disk spool's live segments.", func() float64 { return float64(sp.Bytes()) })
	m.GaugeFunc("pixel_spool_records", "Events in the disk spool not yet acknowledged by Kafka.", func() float64 { return float64(sp.Records()) })
	m.GaugeFunc("pixel_spool_oldest_age_seconds", "Age of the oldest event in the disk spool.", func() float64 {
		if t := sp.Oldest(); !t.IsZero() {
			return time.Since(t).Seconds()
		}
		return 0
	})
	m.CounterFunc("pixel_spool_corrupt_records_total", "Damaged spool records skipped by the reader.", func() float64 { return float64(sp.Stats().CorruptRecords) })
	m.CounterFunc("pixel_spool_torn_bytes_total", "Bytes of a torn last record truncated when the spool was opened.", func() float64 { return float64(sp.Stats().TornBytes) })
	m.CounterFunc("pixel_spool_fsyncs_total", "fsync calls made by the spool.", func() float64 { return float64(sp.Stats().Fsyncs) })
	m.CounterFunc("pixel_spool_fsync_errors_total", "Background fsyncs of the spool that failed.", func() float64 { return float64(sp.Stats().FsyncErrors) })
	if n := sp.Records(); n > 0 {
		// An earlier run left events behind: they go first.
		p.spooling.Store(true)
		p.log.Info().Int64("events", n).Int64("bytes", sp.Bytes()).Msg("found events spooled by an earlier run; replaying them to Kafka first")
	}
}

// startSpooling switches to the spool; mu must be held.
func (p *Publisher) startSpooling(why string) {
	if p.spooling.Swap(true) {
		return
	}
	p.log.Warn().Str("reason", why).Msg("Kafka cannot take events now; writing them to the disk spool")
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// spoolOne appends one event to the spool.
func (p *Publisher) spoolOne(m *Message) bool {
	p.mu.Lock()
	p.startSpooling("publish queue full")
	err := p.spool.Append(m.Key, m.Value, m.Received)
	p.mu.Unlock()
	p.release(m)
	return p.countSpooled(1, err)
}

// spoolBatch moves queued events to the spool, in order.
func (p *Publisher) spoolBatch(batch []*Message) {
	recs := make([]spool.Record, len(batch))
	for i, m := range batch {
		recs[i] = spool.Record{Key: m.Key, Value: m.Value, Time: m.Received}
	}
	p.spoolRecords(recs, "spooling")
}

// spoolUnsent moves the messages Kafka did not acknowledge to the spool.
func (p *Publisher) spoolUnsent(msgs []kafka.Message, err error) {
	recs := make([]spool.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = spool.Record{Key: m.Key, Value: m.Value, Time: m.Time}
	}
	p.spoolRecords(recs, "write failed: "+err.Error())
}

func (p *Publisher) spoolRecords(recs []spool.Record, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startSpooling(why)
	err := p.spool.AppendBatch(recs)
	if !errors.Is(err, spool.ErrFull) {
		p.countSpooled(len(recs), err)
		return
	}
	// All or nothing did not fit: keep as many as fit, in order.
	for i, r := range recs {
		if err := p.spool.Append(r.Key, r.Value, r.Time); err != nil {
			p.countSpooled(len(recs)-i, err)
			return
		}
		p.countSpooled(1, nil)
	}
}

// countSpooled counts n events that were, or (on err) were not, spooled.
func (p *Publisher) countSpooled(n int, err error) bool {
	switch {
	case err == nil:
		p.spooled.Add(uint64(n))
		return true
	case errors.Is(err, spool.ErrFull):
		if !p.spoolFull.Swap(true) {
			p.log.Error().Int64("bytes", p.spool.Bytes()).Msg("the disk spool is full: dropping events until Kafka takes some; /readyz is unready")
		}
		p.dropSpoolFull.Add(uint64(n))
	default:
		p.dropSpoolError.Add(uint64(n))
		p.log.Error().Err(err).Int("events", n).Msg("cannot write to the disk spool; events dropped")
	}
	return false
}

// replay moves the spool to Kafka while spooling, and ends spooling once the
// spool is empty. It stops when Close begins; the spool keeps the rest.
func (p *Publisher) replay() {
	defer p.wg.Done()
	recs := make([]spool.Record, 0, p.cfg.BatchSize)
	msgs := make([]kafka.Message, 0, p.cfg.BatchSize)
	backoff := 100 * time.Millisecond
	failures := 0
	for {
		if !p.spooling.Load() {
			select {
			case <-p.stop:
				return
			case <-p.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		select {
		case <-p.stop:
			return
		default:
		}
		var cur spool.Cursor
		var err error
		recs, cur, err = p.spool.ReadBatch(recs[:0], p.cfg.BatchSize, p.cfg.BatchBytes)
		if err != nil {
			p.log.Error().Err(err).Msg("cannot read the disk spool; retrying")
			p.sleep(time.Second)
			continue
		}
		if len(recs) == 0 {
			if err := p.spool.Commit(cur); err != nil { // past skipped damage, if any
				p.log.Error().Err(err).Msg("cannot commit the spool cursor")
			}
			p.mu.Lock()
			if p.spool.Records() == 0 {
				p.spooling.Store(false)
				p.spoolFull.Store(false)
				p.log.Info().Msg("disk spool drained; publishing straight to Kafka again")
			}
			p.mu.Unlock()
			p.sleep(10 * time.Millisecond)
			continue
		}
		msgs = msgs[:0]
		for _, r := range recs {
			msgs = append(msgs, kafka.Message{Key: r.Key, Value: r.Value, Headers: p.headers, Time: r.Time})
		}
		start := time.Now()
		if err := p.writer.WriteMessages(context.Background(), msgs...); err != nil {
			p.failedWrites.Inc()
			p.healthy.Store(false)
			p.spool.Rewind()
			if failures++; failures == 1 || failures%30 == 0 {
				p.log.Warn().Err(err).Int("attempt", failures).Int64("spooled", p.spool.Records()).Msg("Kafka still cannot take the spooled events; retrying")
			}
			p.sleep(backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		if failures > 0 {
			p.log.Info().Int("failed_attempts", failures).Int64("spooled", p.spool.Records()).Msg("Kafka takes events again; replaying the disk spool")
		}
		failures, backoff = 0, 100*time.Millisecond
		p.healthy.Store(true)
		p.writeSeconds.ObserveSince(start)
		p.acked.Add(uint64(len(msgs)))
		p.replayed.Add(uint64(len(msgs)))
		if err := p.spool.Commit(cur); err != nil {
			p.log.Error().Err(err).Msg("cannot commit the spool cursor; those events may be sent again after a restart")
		}
		p.spoolFull.Store(false)
	}
}

// sleep waits d or until Close begins.
func (p *Publisher) sleep(d time.Duration) {
	select {
	case <-p.stop:
	case <-time.After(d):
	}
}
