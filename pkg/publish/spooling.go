package publish

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/logging"
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
// The guard bounds the time an event spends only in memory: every tick it
// spools the batch of a worker whose write Kafka has not acknowledged within
// Config.SpoolAfter of the batch's first arrival, moves that worker's queue
// to the spool, and marks Kafka as not answering — a hung broker is found by
// that bound, not by the produce timeout. While the spool refuses writes (a
// full disk, an I/O error, MaxBytes reached) it checks once a second whether
// it takes them again.
//
// Order: the spool is replayed in the order it was written. Around the moment
// spooling begins, events a worker was still trying to write reach the spool
// after events that Publish appended directly, and while the spool refuses
// writes and Kafka answers, new events go to Kafka before the spooled ones;
// so one visitor's events may be reordered across the start and the end of
// an outage. Within the spool, and outside outages, they keep their order.
type spooler struct {
	spool    *spool.Spool
	mu       sync.Mutex
	spooling atomic.Bool
	wake     chan struct{}

	// badErr is the error of the last append the spool refused (nil while
	// it takes them); badUntil (Unix ns) spares the disk attempts that
	// would fail the same way for a moment after a refusal.
	badMu    sync.Mutex
	badErr   error
	badUntil atomic.Int64

	replayStart atomic.Int64 // Unix ns when the replayer's write in flight began; 0: none

	errLog, commitLog, replayLog *logging.Throttle

	spooled, replayed, ackedAfterSpool, dropSpoolFull, dropSpoolError *metrics.Counter
}

// How long a refusing spool is spared, and how often the guard checks
// whether it takes writes again.
const (
	spoolRetryAfter = 100 * time.Millisecond
	spoolProbeEvery = time.Second
	probeBytes      = 64 << 10 // about the largest event
)

func (p *Publisher) initSpooler(sp *spool.Spool, m *metrics.Set) {
	if sp == nil {
		return
	}
	p.spool = sp
	p.wake = make(chan struct{}, 1)
	p.errLog = logging.NewThrottle(10 * time.Second)
	p.commitLog = logging.NewThrottle(10 * time.Second)
	p.replayLog = logging.NewThrottle(30 * time.Second)
	p.spooled = m.Counter("pixel_publish_spooled_total", "Events written to the disk spool because Kafka could not take them in time.")
	p.replayed = m.Counter("pixel_publish_replayed_total", "Events moved from the disk spool to Kafka.")
	p.ackedAfterSpool = m.Counter("pixel_publish_acked_after_spool_total", "Events Kafka acknowledged after they were spooled for missing -publish-spool-after; the spool sends them again (removed downstream by event_id).")
	p.dropSpoolFull = m.Counter("pixel_publish_dropped_total", "Events dropped before reaching Kafka, by reason.", "reason", "spool_full")
	p.dropSpoolError = m.Counter("pixel_publish_dropped_total", "Events dropped before reaching Kafka, by reason.", "reason", "spool_error")
	m.GaugeFunc("pixel_publish_spooling", "1 while events go to the disk spool instead of straight to Kafka.", func() float64 {
		if p.spooling.Load() {
			return 1
		}
		return 0
	})
	m.GaugeFunc("pixel_spool_writable", "1 while the disk spool takes writes; 0 after it refused one (full, or a disk error) until it takes them again.", func() float64 {
		if p.spoolErr() != nil {
			return 0
		}
		return 1
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
	m.CounterFunc("pixel_spool_fsync_errors_total", "fsync calls of the spool that failed.", func() float64 { return float64(sp.Stats().FsyncErrors) })
	m.CounterFunc("pixel_spool_write_errors_total", "Writes of spool segments that failed (full disk, I/O error).", func() float64 { return float64(sp.Stats().WriteErrors) })
	m.CounterFunc("pixel_spool_cursor_errors_total", "Writes of the spool's cursor file that failed (the commit held in memory; retried).", func() float64 { return float64(sp.Stats().CursorErrors) })
	m.CounterFunc("pixel_spool_delete_errors_total", "Deletions of replayed spool segments that failed (retried).", func() float64 { return float64(sp.Stats().DeleteErrors) })
	if n := sp.Records(); n > 0 {
		// An earlier run left events behind: they go first.
		p.spooling.Store(true)
		p.log.Info().Int64("events", n).Int64("bytes", sp.Bytes()).Msg("found events spooled by an earlier run; replaying them to Kafka first")
	}
}

// spoolErr returns why the spool refused the last append, or nil while it
// takes them.
func (p *Publisher) spoolErr() error {
	if p.spool == nil {
		return nil
	}
	p.badMu.Lock()
	defer p.badMu.Unlock()
	return p.badErr
}

// spoolResult records the outcome of an append: a refusal makes the spool
// "bad" until an append or the guard's check succeeds.
func (p *Publisher) spoolResult(err error) {
	if err != nil && errors.Is(err, spool.ErrSync) {
		err = nil // written: it counts as spooled, and fsync errors are counted by the spool
	}
	p.badMu.Lock()
	was := p.badErr
	p.badErr = err
	p.badMu.Unlock()
	switch {
	case err != nil:
		p.badUntil.Store(time.Now().Add(spoolRetryAfter).UnixNano())
		if was == nil {
			p.log.Error().Err(err).Bool("kafka_answers", p.healthy.Load()).Msg("the disk spool refuses writes; while Kafka does not answer, new events are dropped and /readyz is unready")
		}
	case was != nil:
		p.badUntil.Store(0)
		p.log.Info().Msg("the disk spool takes writes again")
	}
}

// refusing returns the spool's last refusal while appends are being spared.
func (p *Publisher) refusing() error {
	if until := p.badUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return p.spoolErr()
	}
	return nil
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

// spoolOne appends one event to the spool; the caller keeps m.
func (p *Publisher) spoolOne(m *Message) error {
	if err := p.refusing(); err != nil {
		return err
	}
	p.mu.Lock()
	p.startSpooling("publish queue full")
	err := p.spool.Append(m.Key, m.Value, m.Time)
	p.mu.Unlock()
	p.spoolResult(err)
	if err != nil && !errors.Is(err, spool.ErrSync) {
		return err
	}
	p.spooled.Inc()
	return nil
}

// spoolOrDrop appends recs to the spool in order and counts what it refuses
// as dropped.
func (p *Publisher) spoolOrDrop(recs []spool.Record, why string) {
	if n, err := p.spoolRecords(recs, why); n < len(recs) {
		p.countDropped(len(recs)-n, err)
	}
}

// spoolRecords appends recs in order and returns how many the spool took
// (a prefix of recs) and, when not all, its error.
func (p *Publisher) spoolRecords(recs []spool.Record, why string) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	if err := p.refusing(); err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startSpooling(why)
	err := p.spool.AppendBatch(recs)
	if err == nil || errors.Is(err, spool.ErrSync) {
		p.spoolResult(err)
		p.spooled.Add(uint64(len(recs)))
		return len(recs), nil
	}
	if !errors.Is(err, spool.ErrFull) {
		p.spoolResult(err)
		return 0, err
	}
	// All or nothing did not fit: keep as many as fit, in order.
	for i, r := range recs {
		if err := p.spool.Append(r.Key, r.Value, r.Time); err != nil && !errors.Is(err, spool.ErrSync) {
			p.spoolResult(err)
			p.spooled.Add(uint64(i))
			return i, err
		}
	}
	p.spoolResult(nil)
	p.spooled.Add(uint64(len(recs)))
	return len(recs), nil
}

// countDropped counts n events that could be kept neither by Kafka nor by
// the spool, which refused them with err.
func (p *Publisher) countDropped(n int, err error) {
	if n <= 0 {
		return
	}
	if errors.Is(err, spool.ErrFull) {
		p.dropSpoolFull.Add(uint64(n))
	} else {
		p.dropSpoolError.Add(uint64(n))
	}
	if ok, held := p.errLog.Allow(); ok {
		p.log.Error().Err(err).Uint64("dropped_spool_full_total", p.dropSpoolFull.Load()).
			Uint64("dropped_spool_error_total", p.dropSpoolError.Load()).Int("lines_held_back", held).
			Msg("events dropped: Kafka does not take them and the disk spool refuses them")
	}
}

// guard bounds the time events spend only in memory (see spooler) and
// checks a refusing spool, until Close ends.
func (p *Publisher) guard() {
	defer p.bg.Done()
	tick := time.NewTicker(p.guardTick())
	defer tick.Stop()
	var lastProbe time.Time
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		now := time.Now()
		for _, w := range p.workers {
			p.guardWorker(w, now)
		}
		if start := p.replayStart.Load(); start != 0 && now.Sub(time.Unix(0, start)) >= p.cfg.SpoolAfter {
			p.healthy.Store(false)
		}
		if p.spoolErr() != nil && now.Sub(lastProbe) >= spoolProbeEvery {
			lastProbe = now
			if err := p.spool.CheckWritable(probeBytes); err == nil {
				p.spoolResult(nil)
			}
		}
	}
}

// guardTick is how often the guard looks: a fifth of SpoolAfter, so that it
// acts on a batch one tick before the batch's first event is SpoolAfter old.
func (p *Publisher) guardTick() time.Duration { return max(p.cfg.SpoolAfter/5, 2*time.Millisecond) }

// guardWorker spools w's batch before its first event has waited SpoolAfter
// for Kafka's acknowledgement, and then w's queue, which waits behind that
// write.
func (p *Publisher) guardWorker(w *worker, now time.Time) {
	due := p.cfg.SpoolAfter - p.guardTick()
	w.mu.Lock()
	overdue := w.batch != nil && now.Sub(w.started) >= due
	if overdue {
		p.healthy.Store(false) // Kafka does not answer in time
	}
	if w.batch != nil && !w.guarded && now.Sub(w.oldest) >= due {
		// Once per batch, what Kafka has not acknowledged yet. What the
		// spool refuses stays with the worker, which spools it again or
		// counts it as dropped if Kafka fails it.
		w.guarded = true
		w.spare = w.spare[:0]
		for i, st := range w.state[:len(w.batch)] {
			if st == pending {
				w.spare = append(w.spare, w.batch[i])
			}
		}
		n, _ := p.spoolRecords(w.spare, "Kafka has not acknowledged events within -publish-spool-after")
		for i := 0; n > 0; i++ {
			if w.state[i] == pending {
				w.state[i] = taken
				w.pending--
				n--
			}
		}
	}
	stuck := overdue && w.settled()
	w.mu.Unlock()
	if !stuck || !p.spooling.Load() {
		return
	}
	// Kafka does not answer in time: what the spool refuses cannot be kept.
	p.drainQueue(w.queue, func(recs []spool.Record) { p.spoolOrDrop(recs, "spooling") })
}

// replay moves the spool to Kafka while spooling, and ends spooling once the
// spool is empty. It stops when Close begins; the spool keeps the rest.
func (p *Publisher) replay() {
	defer p.bg.Done()
	prod := newProducer(p.kafka)
	recs := make([]spool.Record, 0, p.cfg.BatchSize)
	todo := make([]int32, 0, p.cfg.BatchSize)
	var written []bool
	backoff := retryBackoff
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
			if ok, held := p.replayLog.Allow(); ok {
				p.log.Error().Err(err).Int("lines_held_back", held).Msg("cannot read the disk spool; retrying")
			}
			p.sleep(time.Second)
			continue
		}
		if len(recs) == 0 {
			p.commit(cur) // past skipped damage, if any
			p.mu.Lock()
			if p.spool.Records() == 0 {
				p.spooling.Store(false)
				p.log.Info().Msg("disk spool drained; publishing straight to Kafka again")
			}
			p.mu.Unlock()
			p.sleep(10 * time.Millisecond)
			continue
		}
		// Write the batch, retrying what Kafka did not acknowledge, before
		// the next one: a key's events stay in order.
		todo = todo[:0]
		for i := range recs {
			todo = append(todo, int32(i))
		}
		written = append(written[:0], make([]bool, len(recs))...)
		for len(todo) > 0 {
			start := time.Now()
			p.replayStart.Store(start.UnixNano())
			done, err := prod.produce(recs, todo)
			p.replayStart.Store(0)
			p.acked.Add(uint64(len(done)))
			p.replayed.Add(uint64(len(done)))
			if err == nil {
				if failures > 0 {
					p.log.Info().Int("failed_attempts", failures).Int64("spooled", p.spool.Records()).Msg("Kafka takes events again; replaying the disk spool")
				}
				failures, backoff = 0, retryBackoff
				p.healthy.Store(true)
				p.writeSeconds.ObserveSince(start)
				p.commit(cur)
				break
			}
			for _, i := range done {
				written[i] = true
			}
			kept := todo[:0]
			for _, i := range todo {
				if !written[i] {
					kept = append(kept, i)
				}
			}
			todo = kept
			p.failedWrites.Inc()
			p.healthy.Store(false)
			if failures++; failures == 1 || failures%30 == 0 {
				p.log.Warn().Err(err).Int("attempt", failures).Int64("spooled", p.spool.Records()).Msg("Kafka still cannot take the spooled events; retrying")
			}
			p.sleep(backoff)
			backoff = min(2*backoff, 2*time.Second)
			select {
			case <-p.stop:
				return // not committed: the spool keeps the batch for the next start
			default:
			}
		}
	}
}

// commit commits the spool up to cur. An error there (a cursor that cannot
// be written, a segment that cannot be deleted) does not undo the commit; it
// is logged, throttled.
func (p *Publisher) commit(cur spool.Cursor) {
	if err := p.spool.Commit(cur); err != nil {
		if ok, held := p.commitLog.Allow(); ok {
			p.log.Error().Err(err).Int("lines_held_back", held).Msg("the spool's progress could not be written to disk; replay goes on, and a restart may send up to one segment again")
		}
	}
}

// sleep waits d or until Close begins.
func (p *Publisher) sleep(d time.Duration) {
	select {
	case <-p.stop:
	case <-time.After(d):
	}
}
