// Package publish hands encoded events to Kafka. A bounded queue sits in front
// of a few workers that drain it in batches; each batch is encoded into one
// Kafka record batch per partition and written as one produce request per
// partition leader (produce.go), synchronously, so every event is known to be
// acknowledged by Kafka or not. The queue is split by key, one part per
// worker, so that one key's events are written one batch after the other and
// stay in order in their partition.
//
// Publish never blocks and memory never grows without bound. With a spool
// (Config.SpoolDir), whatever Kafka cannot take — a failed write, a full
// queue, an event not acknowledged within Config.SpoolAfter of its arrival —
// goes to the local disk spool, and from then on every new event is appended
// there directly until a replayer has moved the whole spool to Kafka in order
// (see spooling.go). Without a spool, a full queue drops the event.
//
// Every event handed to Publish ends in one of three places: acknowledged by
// Kafka (pixel_publish_acked_total), written to the spool
// (pixel_publish_spooled_total; it is replayed later), or dropped and counted
// by reason (pixel_publish_dropped_total{reason}). An event may be in the
// first two at once: one spooled because Kafka took too long, then
// acknowledged after all, is sent again from the spool (duplicates are removed
// downstream by event_id).
package publish

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/pixel-pipeline/pixel/internal/kafkawire"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/kafkadefault"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/spool"
)

// Config configures a Publisher. Zero fields take the defaults in DefaultConfig.
type Config struct {
	Brokers      []string
	Topic        string
	QueueSize    int           // messages waiting for Kafka, split evenly among the workers
	Workers      int           // concurrent batch writes; each owns the keys that hash to it
	BatchSize    int           // messages per write
	BatchBytes   int           // bytes of values per write (one event may pass it), and most bytes of one partition's record batch
	Linger       time.Duration // how long a worker lets events gather after the first before writing them
	WriteTimeout time.Duration // per produce request
	Compression  string        // none, gzip, snappy, lz4, zstd

	SpoolDir   string        // local disk spool for what Kafka cannot take; empty: no spool
	Spool      spool.Options // its limits and fsync policy (Dir is SpoolDir)
	SpoolAfter time.Duration // with a spool: an event Kafka has not acknowledged this long after it arrived is spooled too
}

// DefaultConfig returns the defaults written down in the README.
func DefaultConfig() Config {
	return Config{
		Brokers:      []string{kafkadefault.Broker},
		Topic:        kafkadefault.Topic,
		QueueSize:    16384,
		Workers:      2,
		BatchSize:    4096,
		BatchBytes:   1 << 20,
		Linger:       5 * time.Millisecond,
		WriteTimeout: 5 * time.Second,
		Compression:  "none",
		SpoolAfter:   250 * time.Millisecond,
	}
}

// Message is one encoded event on its way to Kafka. Get one with Acquire, fill
// Key and Value (append into them to reuse their capacity) and Time, when the
// event arrived, and Publish it; the Publisher owns it from then on. Its
// Record is the one shape of an event on the publish path: what the spool
// stores and, with the format header, what is written to Kafka. Time feeds the
// queue metrics, the SpoolAfter bound and the Kafka record's timestamp; zero
// means now.
type Message struct {
	spool.Record
}

// Publisher is a bounded asynchronous producer.
type Publisher struct {
	cfg     Config
	log     zerolog.Logger
	kafka   *kafkaClient
	workers []*worker
	pool    sync.Pool

	stop    chan struct{} // closed by Close: drain the queue and exit
	abandon chan struct{} // closed when Close's deadline passed: give up retrying
	done    chan struct{} // closed at the end of Close: the guard exits
	working sync.WaitGroup
	bg      sync.WaitGroup // the replayer and the guard
	healthy atomic.Bool    // Kafka took the last write (or the start-up probe) and no write is overdue

	spooler // the disk spool, the replayer and the guard; zero when Config.SpoolDir is empty

	acked, failedWrites, dropFull, dropShutdown *metrics.Counter
	batchSize, writeSeconds, queueWait          *metrics.Histogram
	queueAge                                    *metrics.Gauge
	inflight                                    atomic.Int64
}

// worker is one of the goroutines that write batches to Kafka, with its part
// of the queue and the batch it is writing, which the guard may spool.
type worker struct {
	queue  chan *Message
	prod   *producer
	wake   chan struct{} // Publish wakes a lingering worker whose queue holds a full batch
	wakeAt atomic.Int64  // from how many queued events on; math.MaxInt64 while not lingering

	recs   []spool.Record // the records of the batch being handled
	todo   []int32        // the indices of those still to write
	unsent []spool.Record // those Kafka did not acknowledge

	mu      sync.Mutex
	busy    bool           // holds events taken from the queue
	batch   []spool.Record // being written to Kafka; nil while none is
	state   []recordState  // of each record of batch
	pending int            // how many of batch are pending
	oldest  time.Time      // earliest Time in batch
	started time.Time      // when the write of batch began
	guarded bool           // the guard tried to spool batch (it does so once)
	spare   []spool.Record // the guard's and Close's, to spool records of batch
}

// recordState is where a record of a worker's batch is.
type recordState uint8

const (
	pending recordState = iota // only in memory: neither acknowledged nor taken
	acked                      // acknowledged by Kafka
	taken                      // spooled, or counted as dropped, by the guard or Close
)

// settled reports whether all of w's batch was taken care of; mu held.
func (w *worker) settled() bool { return w.batch != nil && w.pending == 0 }

// New starts a Publisher's workers. Register its metrics in m.
func New(cfg Config, log zerolog.Logger, m *metrics.Set) (*Publisher, error) {
	def := DefaultConfig()
	orDefault(&cfg.QueueSize, def.QueueSize)
	orDefault(&cfg.Workers, def.Workers)
	orDefault(&cfg.BatchSize, def.BatchSize)
	orDefault(&cfg.BatchBytes, def.BatchBytes)
	orDefault(&cfg.Linger, def.Linger)
	orDefault(&cfg.WriteTimeout, def.WriteTimeout)
	orDefault(&cfg.SpoolAfter, def.SpoolAfter)
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("publish: brokers and topic are required")
	}
	codec, err := compression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	headers := []kafkawire.Header{{Key: event.Header, Value: []byte(event.Version)}}
	var sp *spool.Spool
	if cfg.SpoolDir != "" {
		opt := cfg.Spool
		opt.Dir = cfg.SpoolDir
		if sp, err = spool.Open(opt); err != nil {
			return nil, err
		}
	}
	p := &Publisher{
		cfg:     cfg,
		log:     log,
		kafka:   newKafkaClient(cfg, codec, headers),
		workers: make([]*worker, cfg.Workers),
		stop:    make(chan struct{}),
		abandon: make(chan struct{}),
		done:    make(chan struct{}),

		acked:        m.Counter("pixel_publish_acked_total", "Events acknowledged by Kafka."),
		failedWrites: m.Counter("pixel_publish_errors_total", "Batch writes to Kafka that failed (they are retried)."),
		dropFull:     m.Counter("pixel_publish_dropped_total", "Events dropped before reaching Kafka, by reason.", "reason", "queue_full"),
		dropShutdown: m.Counter("pixel_publish_dropped_total", "Events dropped before reaching Kafka, by reason.", "reason", "shutdown"),
		batchSize:    m.Histogram("pixel_publish_batch_size", "Events per batch written to Kafka.", metrics.SizeBuckets),
		writeSeconds: m.Histogram("pixel_publish_write_seconds", "Time to write one batch to Kafka, retries included.", metrics.LatencyBuckets),
		queueWait:    m.Histogram("pixel_publish_queue_wait_seconds", "Time events waited in the publish queue.", metrics.LatencyBuckets),
		queueAge:     m.Gauge("pixel_publish_queue_age_seconds", "Age of the oldest event of the last batch taken from the queue (seconds)."),
	}
	p.initSpooler(sp, m)
	p.pool.New = func() any { return &Message{spool.Record{Key: make([]byte, 0, 32), Value: make([]byte, 0, 1024)}} }
	m.GaugeFunc("pixel_publish_queue_depth", "Events waiting in the publish queue.", func() float64 { return float64(p.QueueLen()) })
	m.GaugeFunc("pixel_publish_inflight", "Events in batches being written to Kafka, not yet acknowledged.", func() float64 { return float64(p.inflight.Load()) })
	capacity := 0
	for i := range p.workers {
		// Split QueueSize exactly; every worker gets room for at least one.
		size := max(cfg.QueueSize/cfg.Workers, 1)
		if i < cfg.QueueSize%cfg.Workers {
			size++
		}
		capacity += size
		w := &worker{queue: make(chan *Message, size), prod: newProducer(p.kafka), wake: make(chan struct{}, 1)}
		w.wakeAt.Store(math.MaxInt64)
		p.workers[i] = w
		p.working.Add(1)
		go p.work(w)
	}
	m.GaugeFunc("pixel_publish_queue_capacity", "Capacity of the publish queue.", func() float64 { return float64(capacity) })
	if sp != nil {
		p.bg.Add(2)
		go p.replay()
		go p.guard()
	}
	return p, nil
}

// orDefault replaces a zero or negative setting with its default.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// compression returns the codec of a Config.Compression; nil for none.
func compression(name string) (compress.Codec, error) {
	switch name {
	case "", "none":
		return nil, nil
	case "gzip":
		return compress.Gzip.Codec(), nil
	case "snappy":
		return compress.Snappy.Codec(), nil
	case "lz4":
		return compress.Lz4.Codec(), nil
	case "zstd":
		return compress.Zstd.Codec(), nil
	}
	return nil, fmt.Errorf("publish: unknown compression %q; use none, gzip, snappy, lz4 or zstd", name)
}

// How a worker retries a write that failed: after retryBackoff, doubling up
// to maxBackoff. Without a spool it retries until Kafka takes the events or
// Close gives up; with one, spoolAttempts attempts in all (kafka-go's Writer
// made 3 too), enough for a leader that moved, and then the events go to the
// spool, whose replayer retries for as long as it takes. The guard spools
// them sooner when the attempts take longer than Config.SpoolAfter.
const (
	retryBackoff  = 100 * time.Millisecond
	maxBackoff    = 5 * time.Second
	spoolAttempts = 3
)

// Probe asks the brokers for the topic's metadata; the Publisher counts as
// healthy once this or a write succeeded.
func (p *Publisher) Probe(ctx context.Context) error {
	client := &kafka.Client{Addr: p.kafka.addr, Timeout: 5 * time.Second}
	resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{p.cfg.Topic}})
	if err != nil {
		return fmt.Errorf("cannot reach Kafka at %v: %w; check -kafka-brokers", p.cfg.Brokers, err)
	}
	for _, t := range resp.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %q: %w; create it (make run and the tests create it) or check -kafka-topic", t.Name, t.Error)
		}
	}
	p.healthy.Store(true)
	return nil
}

// Ready reports nil while the publisher can keep new events: while Kafka
// answers, or while the disk spool takes them. Otherwise it says why: a load
// balancer should then send traffic to another collector.
func (p *Publisher) Ready() error {
	if p.healthy.Load() {
		return nil
	}
	if p.spool == nil {
		return errors.New("no answer from Kafka and no disk spool")
	}
	if err := p.spoolErr(); err != nil {
		return fmt.Errorf("no answer from Kafka, and the disk spool cannot keep events: %w", err)
	}
	return nil
}

// KafkaHealthy reports whether Kafka took the last write and no write has
// been waiting for its acknowledgement longer than Config.SpoolAfter.
func (p *Publisher) KafkaHealthy() bool { return p.healthy.Load() }

// Acquire returns an empty Message from the pool.
func (p *Publisher) Acquire() *Message { return p.pool.Get().(*Message) }

func (p *Publisher) release(m *Message) {
	m.Key = m.Key[:0]
	m.Value = m.Value[:0]
	m.Time = time.Time{}
	p.pool.Put(m)
}

// Publish hands m on without blocking and reports whether it was kept:
// queued for Kafka or, while spooling or when the queue is full, appended to
// the disk spool (written to the file before Publish returns). While the
// spool refuses writes, the event is queued for Kafka all the same, and
// counted as dropped only if Kafka fails it too (or the queue is full).
// Either way the Publisher owns m. Publish must not be called after Close.
func (p *Publisher) Publish(m *Message) bool {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	var spoolErr error
	if p.spool != nil && p.spooling.Load() {
		if spoolErr = p.spoolOne(m); spoolErr == nil {
			p.release(m)
			return true
		}
		// The disk refuses it; Kafka may take it (out of order, but kept).
	}
	w := p.queueOf(m.Key)
	select {
	case w.queue <- m:
		if int64(len(w.queue)) >= w.wakeAt.Load() {
			select {
			case w.wake <- struct{}{}: // the worker's batch is full: write it now
			default:
			}
		}
		return true
	default:
	}
	if p.spool != nil && spoolErr == nil {
		if spoolErr = p.spoolOne(m); spoolErr == nil {
			p.release(m)
			return true
		}
	}
	if spoolErr != nil {
		p.countDropped(1, spoolErr)
	} else {
		p.dropFull.Inc()
	}
	p.release(m)
	return false
}

// queueOf returns the queue of the worker that owns key: a key always goes
// through the same worker, which writes its batches one after the other, so
// two batches holding the same key are never in flight at once. (With a
// shared queue, two workers raced each other and a later batch of a key could
// reach its partition before an earlier one, above all while retrying.)
func (p *Publisher) queueOf(key []byte) *worker {
	return p.workers[murmur2(key)%uint32(len(p.workers))]
}

// QueueLen is the number of messages waiting.
func (p *Publisher) QueueLen() int {
	n := 0
	for _, w := range p.workers {
		n += len(w.queue)
	}
	return n
}

// Close stops the workers after they wrote everything queued, or when ctx
// ends. With a spool it returns as soon as nothing is left only in memory:
// what Kafka has not acknowledged within Config.SpoolAfter is in the spool
// already, so a hung broker does not hold the shutdown. When ctx ends, what
// is still unwritten goes to the spool (or, without one, is counted as
// dropped). The spool keeps what it holds for the next start. Call Close
// after the last Publish returned.
func (p *Publisher) Close(ctx context.Context) error {
	close(p.stop)
	workersDone := make(chan struct{})
	go func() { p.working.Wait(); close(workersDone) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case <-workersDone:
			break wait
		case <-tick.C:
			if p.spool != nil && p.onlyOnDisk() {
				break wait
			}
		case <-ctx.Done():
			close(p.abandon)
			lost := p.spillAll()
			// Workers in a backoff wait return at once now; one blocked
			// in a write to a hung broker is not waited for.
			select {
			case <-workersDone:
			case <-time.After(100 * time.Millisecond):
			}
			if lost > 0 || p.dropShutdown.Load() > 0 {
				err = fmt.Errorf("publish: %w before the queue was written to Kafka; %d events lost", ctx.Err(), p.dropShutdown.Load())
				p.log.Error().Uint64("events", p.dropShutdown.Load()).Msg("shutdown deadline passed; events not written to Kafka or the spool are lost")
			}
			break wait
		}
	}
	// The replayer stops between batches; one blocked in a write to a hung
	// broker is not waited for long: what it holds is still in the spool.
	bgDone := make(chan struct{})
	go func() { p.bg.Wait(); close(bgDone) }()
	close(p.done)
	for giveUp := time.Now().Add(2 * time.Second); time.Now().Before(giveUp); {
		if start := p.replayStart.Load(); start != 0 && time.Since(time.Unix(0, start)) >= p.cfg.SpoolAfter {
			break // blocked in a write to a hung broker
		}
		select {
		case <-bgDone:
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	// A write still in flight (to a hung broker) keeps its connection
	// until it ends; what it holds is in the spool or counted already.
	p.kafka.close()
	if p.spool != nil {
		if n := p.spool.Records(); n > 0 {
			p.log.Info().Int64("events", n).Int64("bytes", p.spool.Bytes()).Msg("events left in the spool for the next start")
		}
		if serr := p.spool.Close(); serr != nil && err == nil {
			err = fmt.Errorf("publish: closing the spool: %w", serr)
		}
	}
	return err
}

// onlyOnDisk reports whether every event the Publisher holds in memory is
// also in the spool: the queues are empty and each batch being written was
// spooled by the guard.
func (p *Publisher) onlyOnDisk() bool {
	if p.QueueLen() > 0 {
		return false
	}
	for _, w := range p.workers {
		w.mu.Lock()
		pending := w.busy && !w.settled()
		w.mu.Unlock()
		if pending {
			return false
		}
	}
	return true
}

// spill, at Close's deadline, moves every event still only in memory — in
// the queues and in batches being written — to the spool, or counts it as
// dropped without one. It returns how many were dropped.
func (p *Publisher) spillAll() int {
	before := p.dropShutdown.Load()
	for _, w := range p.workers {
		w.mu.Lock()
		if w.batch != nil && !w.settled() {
			w.spare = w.takePending(w.spare[:0])
			p.spill(w.spare)
		}
		w.mu.Unlock()
		p.drainQueue(w.queue, p.spill)
	}
	return int(p.dropShutdown.Load() - before)
}

// spill moves recs to the spool at Close's deadline, counting what it
// refuses as dropped, or counts them all as dropped without a spool.
func (p *Publisher) spill(recs []spool.Record) {
	if p.spool == nil {
		p.dropShutdown.Add(uint64(len(recs)))
		return
	}
	p.spoolOrDrop(recs, "shutdown deadline")
}

// work drains w's queue in batches until Close.
func (p *Publisher) work(w *worker) {
	defer p.working.Done()
	batch := make([]*Message, 0, p.cfg.BatchSize)
	w.recs = make([]spool.Record, 0, p.cfg.BatchSize)
	w.todo = make([]int32, 0, p.cfg.BatchSize)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		var first *Message
		select {
		case first = <-w.queue:
		case <-p.stop:
			select {
			case first = <-w.queue:
			default:
				return
			}
		}
		w.setBusy(true)
		batch = append(batch[:0], first)
		size := len(first.Value)
		batch, size = drain(w.queue, batch, size, p.cfg.BatchSize, p.cfg.BatchBytes)
		if len(batch) < p.cfg.BatchSize && size < p.cfg.BatchBytes {
			// Let events gather instead of waking for each one: one
			// write of many events costs Kafka and us far less than many
			// writes of few. The batch is written after Linger, or as
			// soon as the queue holds the rest of a full one (counted in
			// events of the size seen so far), whichever comes first.
			avg := size/len(batch) + 1
			need := max(min(p.cfg.BatchSize-len(batch), (p.cfg.BatchBytes-size)/avg), 1)
			select {
			case <-w.wake: // left from an earlier batch
			default:
			}
			w.wakeAt.Store(int64(need))
			if len(w.queue) < need { // else Publish may have missed wakeAt
				linger.Reset(p.cfg.Linger)
				select {
				case <-linger.C:
				case <-w.wake:
					linger.Stop()
				case <-p.stop:
					linger.Stop()
				}
			}
			w.wakeAt.Store(math.MaxInt64)
			batch, _ = drain(w.queue, batch, size, p.cfg.BatchSize, p.cfg.BatchBytes)
		}
		oldest := p.observeQueue(batch)
		w.recs = records(w.recs[:0], batch)
		toKafka := w.recs
		if p.spool != nil && p.spooling.Load() {
			// What the spool refuses goes to Kafka, which may answer
			// while the disk does not.
			n, _ := p.spoolRecords(toKafka, "spooling")
			toKafka = toKafka[n:]
		}
		if len(toKafka) > 0 {
			p.write(w, toKafka, oldest)
		}
		for i, m := range batch {
			p.release(m)
			batch[i] = nil
		}
		w.setBusy(false)
	}
}

func (w *worker) setBusy(busy bool) {
	w.mu.Lock()
	w.busy = busy
	w.mu.Unlock()
}

// drain appends what queue holds to batch without waiting, up to the limits.
func drain(queue chan *Message, batch []*Message, size, maxCount, maxBytes int) ([]*Message, int) {
	for len(batch) < maxCount && size < maxBytes {
		select {
		case m := <-queue:
			batch = append(batch, m)
			size += len(m.Value)
		default:
			return batch, size
		}
	}
	return batch, size
}

// observeQueue records how long the batch's events waited in the queue and
// returns the earliest arrival among them.
func (p *Publisher) observeQueue(batch []*Message) time.Time {
	now := time.Now()
	oldest := now
	for _, m := range batch {
		if !m.Time.IsZero() && m.Time.Before(oldest) {
			oldest = m.Time
		}
	}
	wait := now.Sub(oldest)
	p.queueAge.Set(int64(wait / time.Second))
	p.queueWait.Observe(wait.Seconds())
	return oldest
}

// begin records that w writes batch from start on, for the guard; end that
// it is done.
func (w *worker) begin(batch []spool.Record, oldest, start time.Time) {
	w.mu.Lock()
	w.batch, w.oldest, w.started, w.guarded = batch, oldest, start, false
	w.state = append(w.state[:0], make([]recordState, len(batch))...) // all pending
	w.pending = len(batch)
	w.mu.Unlock()
}

func (w *worker) end() {
	w.mu.Lock()
	w.batch, w.guarded = nil, false
	w.mu.Unlock()
}

// pendingIndices returns the indices of the records of w's batch still to
// write, in order.
func (w *worker) pendingIndices() []int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.todo = w.todo[:0]
	for i, st := range w.state[:len(w.batch)] {
		if st == pending {
			w.todo = append(w.todo, int32(i))
		}
	}
	return w.todo
}

// ack records that Kafka acknowledged the records of w's batch at indices
// done, and returns how many of them the guard had spooled already.
func (w *worker) ack(done []int32) (afterSpool int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, i := range done {
		switch w.state[i] {
		case pending:
			w.pending--
		case taken:
			afterSpool++
		}
		w.state[i] = acked
	}
	return afterSpool
}

// takePending appends the pending records of w's batch to dst, in order,
// and marks them taken: the caller spools them or counts them as dropped.
// mu held.
func (w *worker) takePending(dst []spool.Record) []spool.Record {
	for i, st := range w.state[:len(w.batch)] {
		if st == pending {
			dst = append(dst, w.batch[i])
			w.state[i] = taken
		}
	}
	w.pending = 0
	return dst
}

// take is takePending with mu taken.
func (w *worker) take(dst []spool.Record) []spool.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.takePending(dst)
}

// write writes recs to Kafka. With a spool, what Kafka did not acknowledge
// after spoolAttempts goes to the spool (unless the guard spooled it
// already); without one, it is retried with backoff until it is acknowledged
// or Close's deadline passed. Each attempt writes only what is still pending:
// neither acknowledged nor taken by the guard.
func (p *Publisher) write(w *worker, recs []spool.Record, oldest time.Time) {
	start := time.Now()
	select {
	case <-p.abandon:
		// Close gave up: what is still queued goes to the spool, or is
		// dropped, without another attempt, so that Close returns soon
		// after its deadline.
		p.spill(recs)
		return
	default:
	}
	p.batchSize.Observe(float64(len(recs)))
	n := int64(len(recs))
	p.inflight.Add(n)
	defer p.inflight.Add(-n)
	w.begin(recs, oldest, start)
	defer w.end()
	backoff := retryBackoff
	for attempt := 1; ; attempt++ {
		todo := w.pendingIndices()
		if len(todo) == 0 {
			return // the guard spooled the rest while we waited
		}
		done, err := w.prod.produce(recs, todo)
		p.acked.Add(uint64(len(done)))
		if afterSpool := w.ack(done); afterSpool > 0 && p.spool != nil {
			p.ackedAfterSpool.Add(uint64(afterSpool))
		}
		if err == nil {
			p.healthy.Store(true)
			p.writeSeconds.ObserveSince(start)
			return
		}
		p.failedWrites.Inc()
		p.healthy.Store(false)
		if p.spool != nil && attempt >= spoolAttempts {
			w.unsent = w.take(w.unsent[:0])
			p.spoolOrDrop(w.unsent, "write failed: "+err.Error())
			return
		}
		if p.spool == nil && (attempt == 1 || attempt%10 == 0) { // with one, spooling is logged
			p.log.Warn().Err(err).Int("events", len(todo)-len(done)).Int("attempt", attempt).Msg("cannot write to Kafka; retrying")
		}
		select {
		case <-p.abandon:
			w.unsent = w.take(w.unsent[:0])
			p.spill(w.unsent)
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
