// Package ingest moves events from Kafka into ClickHouse. It is a member of
// a kafka-go consumer group; for each generation it fetches its partitions
// from their leaders, one fetch request per leader for all of them, and
// decodes each response in place (package kafkawire) straight into the
// ClickHouse columns of the current batch. A full or old batch is inserted
// with one columnar insert, the messages that are not valid events go to the
// dead-letter topic, and only when ClickHouse and the dead-letter topic both
// acknowledged are the batch's offsets committed, through the generation
// that fetched them (at-least-once). Failures are retried with backoff while
// fetching pauses; nothing is committed before.
//
// Two batches are in flight at most, and both may be stored at once: while
// ClickHouse writes one, the next is fetched, decoded, encoded and sent, so
// that the server does not wait for the client between inserts. Batches are
// committed in the order they were fetched; once one could not be stored,
// the later ones of its generation are not committed either. When both
// batches are busy as the next one is due, decoding waits: fetching pauses
// and memory stays bounded by two batches.
//
// A generation ends at a rebalance or at shutdown. Then it drains: fetching
// stops, the batch being filled is handed over too, and the generation ends
// once each of its batches was committed through it, or given up (what
// could not be stored within the drain's time is not committed and is read
// again, by whichever member gets the partition).
//
// A retried insert sends the same rows in the same order (the batch's Rows do
// not change until it is committed) under the same insert_deduplication_token,
// so that a server that knows the setting stores it once; elsewhere the copy
// is identical and de-duplicated by event_id (see chstore.Insert).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/internal/kafkawire"
	"github.com/pixel-pipeline/pixel/pkg/batch"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/kafkadefault"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// Config configures an Ingester.
type Config struct {
	Brokers       []string
	Topic         string
	DLQTopic      string // where invalid messages go; default Topic + ".dlq"
	Group         string
	Batch         batch.Policy
	InsertTimeout time.Duration // one insert attempt, one dead-letter write, the offset commit
	MaxBackoff    time.Duration // longest wait between attempts
}

// DefaultConfig returns the defaults written down in the README.
func DefaultConfig() Config {
	return Config{
		Brokers:       []string{kafkadefault.Broker},
		Topic:         kafkadefault.Topic,
		Group:         "pixel-consumer",
		Batch:         batch.DefaultPolicy(),
		InsertTimeout: 60 * time.Second,
		MaxBackoff:    10 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultConfig: a zero InsertTimeout
// would fail every insert, a zero MaxBackoff would retry in a busy loop and a
// zero batch limit would flush every message alone.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	if len(c.Brokers) == 0 {
		c.Brokers = def.Brokers
	}
	if c.Topic == "" {
		c.Topic = def.Topic
	}
	if c.DLQTopic == "" {
		c.DLQTopic = kafkadefault.DeadLetterTopic(c.Topic)
	}
	if c.Group == "" {
		c.Group = def.Group
	}
	if c.Batch.MaxRows <= 0 {
		c.Batch.MaxRows = def.Batch.MaxRows
	}
	if c.Batch.MaxBytes <= 0 {
		c.Batch.MaxBytes = def.Batch.MaxBytes
	}
	if c.Batch.MaxAge <= 0 {
		c.Batch.MaxAge = def.Batch.MaxAge
	}
	if c.InsertTimeout <= 0 {
		c.InsertTimeout = def.InsertTimeout
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = def.MaxBackoff
	}
	return c
}

// Ingester is one consumer-group member.
type Ingester struct {
	cfg       Config
	log       zerolog.Logger
	conn      driver.Conn
	transport *kafka.Transport // fetches, metadata and offsets; the group has its own connections
	client    *kafka.Client

	slots [maxStoring]*slot
	cur   *slot      // the batch the decoder is filling
	free  chan *slot // slots ready to be filled
	full  chan *slot // due batches handed to the flusher, in order
	ev    event.Event
	wire  kafkawire.Decompressor
	ready atomic.Bool  // the last insert and dead-letter write succeeded
	kafka *kafkaHealth // whether the consumer reaches Kafka

	stalled atomic.Pointer[stalledSet] // the current generation's undecodable partitions

	rowsInserted, batches, insertErrors, commitErrors *metrics.Counter
	invalid                                           map[string]*metrics.Counter // by reason
	batchRows, insertSeconds                          *metrics.Histogram
	pending, lastInsert                               *metrics.Gauge
	lag                                               *partitionLag
}

// slot is one batch on its way: its offsets, its rows and its dead letters,
// kept unchanged until it is committed, so that a retry sends the same.
type slot struct {
	batch    *batch.Batch
	rows     chstore.Rows
	dead     *deadLetters
	inserted bool          // the rows are in ClickHouse; the dead letters may not be yet
	gen      *generation   // commits the batch's offsets
	stored   chan struct{} // closed when the store attempt ended, with err
	err      error
}

func (s *slot) reset() {
	s.batch.Reset()
	s.rows.Reset()
	s.dead.reset()
	s.inserted = false
	s.gen, s.stored, s.err = nil, nil, nil
}

// generation is one consumer-group generation as the flusher sees it: its
// batches are committed through it, in order; once one of them could not be
// flushed, the later ones are dropped uncommitted, so that no commit skips
// what was not stored. stop ends the retries when the generation drains.
type generation struct {
	kgen *kafka.Generation
	stop chan struct{}

	mu  sync.Mutex
	err error // the first batch that could not be stored
}

func (g *generation) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
	}
}

// failure is the first batch that could not be stored, or nil.
func (g *generation) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// New builds an Ingester reading cfg.Topic as cfg.Group and writing through
// conn. Zero fields of cfg take the values of DefaultConfig.
func New(cfg Config, conn driver.Conn, log zerolog.Logger, m *metrics.Set) *Ingester {
	cfg = cfg.withDefaults()
	health := newKafkaHealth(cfg.Brokers)
	transport := &kafka.Transport{ClientID: fetchClientID, DialTimeout: cfg.InsertTimeout}
	in := &Ingester{
		cfg:           cfg,
		log:           log,
		conn:          conn,
		transport:     transport,
		client:        &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport},
		free:          make(chan *slot, maxStoring),
		full:          make(chan *slot),
		kafka:         health,
		rowsInserted:  m.Counter("pixel_consumer_rows_inserted_total", "Rows inserted into ClickHouse."),
		batches:       m.Counter("pixel_consumer_batches_total", "Batches inserted into ClickHouse and committed."),
		insertErrors:  m.Counter("pixel_consumer_insert_errors_total", "Insert attempts ClickHouse refused or that failed (they are retried)."),
		commitErrors:  m.Counter("pixel_consumer_commit_errors_total", "Offset commits that failed after an insert (the batch will be replayed)."),
		batchRows:     m.Histogram("pixel_consumer_batch_rows", "Rows per inserted batch.", metrics.SizeBuckets),
		insertSeconds: m.Histogram("pixel_consumer_insert_seconds", "Time to insert one batch, retries included.", metrics.LatencyBuckets),
		pending:       m.Gauge("pixel_consumer_batch_pending", "Messages fetched into the current batch, not yet inserted and committed."),
		lastInsert:    m.Gauge("pixel_consumer_last_insert_timestamp_seconds", "Unix time of the last insert ClickHouse acknowledged (0: none since start)."),
		invalid:       map[string]*metrics.Counter{},
	}
	for _, r := range reasons {
		in.invalid[r.label] = m.Counter("pixel_consumer_invalid_total", "Messages that are not valid events, by reason; they go to the dead-letter topic.", "reason", r.label)
	}
	dead := newDeadLetters(cfg, m)
	for i := range in.slots {
		in.slots[i] = &slot{batch: batch.New(cfg.Batch), dead: dead.sibling()}
		in.free <- in.slots[i]
	}
	in.cur = <-in.free
	in.lag = newPartitionLag(m)
	in.stalled.Store(&stalledSet{})
	in.ready.Store(true)
	return in
}

// reasons label why a message is not a valid event, in metrics and in the
// dead letter's pixel-error header.
var reasons = []struct {
	err   error
	label string
}{
	{event.ErrSyntax, "syntax"},       // not JSON, or not one object
	{event.ErrType, "type"},           // a known field of the wrong JSON type
	{event.ErrMissing, "missing"},     // a required field absent or empty
	{event.ErrRange, "range"},         // a time or value outside the event limits
	{event.ErrTooLarge, "size"},       // a string or content_ids over the event limits
	{event.ErrUnsupported, "version"}, // a pixel-format header of another version
}

func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "syntax" // Parse returns only the errors above
}

// DLQTopic is the dead-letter topic in use.
func (in *Ingester) DLQTopic() string { return in.cfg.DLQTopic }

// Ready reports nil while the consumer does its job, and why not otherwise:
// it is unready until it first reached Kafka, while fetching from Kafka
// fails, while the last insert or dead-letter write failed, and while a
// partition holds records it cannot decode.
func (in *Ingester) Ready() error {
	var errs []error
	if err := in.kafka.err(); err != nil {
		errs = append(errs, err)
	}
	if !in.ready.Load() {
		errs = append(errs, errNotReady)
	}
	if err := in.stalled.Load().err(); err != nil {
		errs = append(errs, fmt.Errorf("stopped at records it cannot decode: %w", err))
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return fmt.Errorf("%w; %w", errs[0], errors.Join(errs[1:]...))
}

var errNotReady = errors.New("the last insert into ClickHouse or write to the dead-letter topic failed")

// rebalanceFlushTimeout bounds the retries of the batches a generation holds
// when a rebalance ends it (well inside the group's rebalance timeout);
// what could not be flushed by then is not committed and is read again.
const rebalanceFlushTimeout = 5 * time.Second

// Run consumes until ctx ends, then inserts and commits what it holds (within
// flushTimeout) and leaves the group.
func (in *Ingester) Run(ctx context.Context, flushTimeout time.Duration) error {
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                in.cfg.Group,
		Brokers:           in.cfg.Brokers,
		Topics:            []string{in.cfg.Topic},
		HeartbeatInterval: 3 * time.Second,
		SessionTimeout:    10 * time.Second, // a crashed member's partitions move within 10 s
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		StartOffset:       kafka.FirstOffset,
		Timeout:           in.cfg.InsertTimeout,
		ErrorLogger:       kafkaErrorLogger(in.log, in.kafka),
	})
	if err != nil {
		return fmt.Errorf("cannot set up consumer group %s: %w", in.cfg.Group, err)
	}
	// Connect and read the topic's metadata while the group is joined, so
	// that the first fetch goes out at once.
	go func() {
		wctx, cancel := context.WithTimeout(ctx, in.cfg.InsertTimeout)
		defer cancel()
		_, _ = in.client.Metadata(wctx, &kafka.MetadataRequest{Topics: []string{in.cfg.Topic}})
	}()
	flushed := make(chan struct{})
	go func() { in.flusher(); close(flushed) }()

	err = nil
	joinErrors := 0 // in a row
	for ctx.Err() == nil {
		kgen, nerr := group.Next(ctx)
		if nerr != nil {
			if ctx.Err() != nil {
				break
			}
			joinErrors++
			in.kafkaFailed(nerr.Error())
			if joinErrors == 1 || joinErrors%10 == 0 {
				in.log.Warn().Err(nerr).Int("attempt", joinErrors).Strs("kafka_brokers", in.cfg.Brokers).Str("group", in.cfg.Group).Msg("cannot join the consumer group; retrying")
			}
			continue
		}
		joinErrors = 0
		in.kafkaReached()
		done := make(chan error, 1)
		kgen.Start(func(gctx context.Context) { done <- in.consume(ctx, gctx, kgen, flushTimeout) })
		if gerr := <-done; gerr != nil && ctx.Err() != nil {
			err = fmt.Errorf("final flush: %w", gerr)
		}
	}
	start := time.Now()
	close(in.full)
	<-flushed
	if cerr := group.Close(); cerr != nil && err == nil { // leaves the group
		err = cerr
	}
	in.transport.CloseIdleConnections()
	for _, s := range in.slots {
		s.dead.close()
	}
	in.log.Info().Dur("took_ms", time.Since(start)).Msg("consumer stopped")
	return err
}

// consume runs one generation: it fetches the partitions assigned to this
// member, decodes them into batches and hands the due ones to the flusher,
// until the generation ends (a rebalance) or ctx does (shutdown). Then it
// drains: the batch being filled goes to the flusher too, and consume
// returns once every batch of the generation was flushed and committed
// through it, or given up (after flushTimeout at shutdown,
// rebalanceFlushTimeout at a rebalance); the error is the first batch given
// up.
func (in *Ingester) consume(ctx, gctx context.Context, kgen *kafka.Generation, flushTimeout time.Duration) error {
	gen := &generation{kgen: kgen, stop: make(chan struct{})}
	stalled := &stalledSet{}
	in.stalled.Store(stalled)
	var partitions []int32
	offsets := map[int32]int64{}
	for _, a := range kgen.Assignments[in.cfg.Topic] {
		partitions = append(partitions, int32(a.ID))
		offsets[int32(a.ID)] = a.Offset
	}
	in.log.Info().Int32("generation", kgen.ID).Ints32("partitions", partitions).Msg("joined the consumer group")

	runCtx, stop := context.WithCancel(gctx)
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-runCtx.Done():
		}
	}()
	var wg sync.WaitGroup
	if len(partitions) > 0 && in.startOffsets(runCtx, offsets) {
		out := make(chan fetched, fetchBuffers)
		fs := &fetchStage{in: in, offsets: offsets, out: out, stalled: stalled}
		wg.Add(1)
		go func() { defer wg.Done(); fs.run(runCtx) }()
		in.decodeLoop(runCtx, out, gen, stalled)
	}
	<-runCtx.Done()
	wg.Wait()

	// Drain.
	timeout := rebalanceFlushTimeout
	if ctx.Err() != nil {
		timeout = flushTimeout
	}
	in.log.Info().Bool("shutdown", ctx.Err() != nil).Msg("generation ends: inserting and committing the batches it holds")
	giveUp := time.AfterFunc(timeout, func() { close(gen.stop) })
	defer giveUp.Stop()
	got := make([]*slot, 0, len(in.slots))
	switch {
	case in.cur == nil: // handOff stopped waiting for a free slot
	case in.cur.batch.Empty():
		got = append(got, in.cur)
	default:
		in.cur.gen = gen
		in.full <- in.cur
	}
	for len(got) < len(in.slots) {
		got = append(got, <-in.free)
	}
	in.cur = got[0]
	for _, s := range got[1:] {
		in.free <- s
	}
	err := gen.failure()
	if err != nil && ctx.Err() == nil {
		in.log.Warn().Err(err).Msg("gave up flushing at a rebalance; the batches not committed will be read again")
	}
	return err
}

// startOffsets replaces the negative start offsets of partitions without a
// committed offset (kafka.FirstOffset) with their first offsets. It retries
// until ctx ends, and then reports false.
func (in *Ingester) startOffsets(ctx context.Context, offsets map[int32]int64) bool {
	var unknown []int32
	for p, off := range offsets {
		if off < 0 {
			unknown = append(unknown, p)
		}
	}
	backoff := newBackoff(100*time.Millisecond, 2*time.Second)
	for len(unknown) > 0 && ctx.Err() == nil {
		first, err := in.firstOffsets(ctx, unknown)
		if err == nil {
			for p, off := range first {
				offsets[p] = off
			}
			return true
		}
		in.kafkaFailed(err.Error())
		backoff.wait(ctx)
	}
	return ctx.Err() == nil
}

// flusher stores the batches handed to it (insert, dead letters) with up to
// maxStoring of them under way at once, commits them in the order they came,
// and returns their slots to be filled again. It stops when full is closed.
func (in *Ingester) flusher() {
	storing := make(chan *slot, maxStoring-1) // in order; the send blocks while maxStoring are under way
	committed := make(chan struct{})
	go func() {
		for s := range storing {
			<-s.stored
			n := s.batch.Rows()
			if s.err == nil && s.gen.failure() == nil {
				in.commitStored(s)
			} else if s.err != nil {
				s.gen.fail(s.err)
			}
			in.pending.Add(-int64(n))
			s.reset()
			in.free <- s
		}
		close(committed)
	}()
	for s := range in.full {
		s.stored = make(chan struct{})
		storing <- s // waits while maxStoring batches are under way
		go func() {
			defer close(s.stored)
			if s.gen.failure() == nil {
				s.err = in.store(s)
			} else {
				s.err = errDropped
			}
		}()
	}
	close(storing)
	<-committed
}

// maxStoring is how many batches are in flight, and stored at once: while
// ClickHouse writes one, the next is filled (much faster than it is
// written), encoded and sent, so that the server does not wait for the
// client. A third batch kept nothing busier and cost memory.
const maxStoring = 2

var errDropped = errors.New("not stored: an earlier batch of its generation could not be")

// decodeLoop decodes fetched responses into batches and hands each due one
// to the flusher, until ctx ends.
func (in *Ingester) decodeLoop(ctx context.Context, fetches <-chan fetched, gen *generation, stalled *stalledSet) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var age <-chan time.Time
		if d, ok := in.cur.batch.Deadline(); ok {
			timer.Reset(time.Until(d))
			age = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-age:
		case r := <-fetches:
			ok := in.decode(ctx, r.f, gen, stalled)
			r.back <- r.f
			if !ok {
				return
			}
		}
		if in.cur.batch.Due(time.Now()) && !in.handOff(ctx, gen) {
			return
		}
	}
}

// handOff gives the current batch to the flusher and takes the next free
// slot; this waits while the flusher is busy with the previous batch
// (fetching pauses, memory stays bounded). It reports false when ctx ended
// first, and the batch stays the current one.
func (in *Ingester) handOff(ctx context.Context, gen *generation) bool {
	in.cur.gen = gen
	select {
	case in.full <- in.cur:
	case <-ctx.Done():
		in.cur.gen = nil
		return false
	}
	select {
	case in.cur = <-in.free:
		return true
	case <-ctx.Done():
		in.cur = nil // the drain collects the slots as the flusher frees them
		return false
	}
}

// decode adds the records of a fetch response to the batches, handing each
// full one to the flusher. Records before the offset asked for (a batch may
// start earlier) are skipped, and so are the partitions that cannot be
// decoded (see stalledSet). It reports false when ctx ended first.
func (in *Ingester) decode(ctx context.Context, f *kafkawire.Fetch, gen *generation, stalled *stalledSet) bool {
	now := time.Now()
	for i := range f.Data {
		d := &f.Data[i]
		asked := indexOf(f.Partitions, d.Partition)
		if d.ErrorCode != 0 || len(d.Records) == 0 || asked < 0 || stalled.has(d.Partition) {
			continue
		}
		partition := int(d.Partition)
		from := f.Partitions[asked].Offset
		last := from - 1 // the last offset decoded
		pending := 0
		it := kafkawire.NewBatches(d.Records)
		var b kafkawire.Batch
		var r kafkawire.Record
		var err error
		for {
			var ok bool
			if ok, err = it.Next(&b); !ok || err != nil {
				break
			}
			if b.LastOffset < from {
				continue
			}
			if b.Control() {
				in.cur.batch.Skip(partition, b.LastOffset, now)
				last = b.LastOffset
				continue
			}
			var recs kafkawire.Records
			if recs, err = in.wire.Records(&b); err != nil {
				break
			}
			for {
				if ok, err = recs.Next(&r); !ok || err != nil {
					break
				}
				if r.Offset < from {
					continue
				}
				in.add(partition, &r, now)
				pending++
				last = r.Offset
				if in.cur.batch.Full() {
					in.pending.Add(int64(pending))
					pending = 0
					in.lag.observe(partition, last, d.HighWatermark)
					if !in.handOff(ctx, gen) {
						return false
					}
				}
			}
			if err != nil {
				break
			}
			if b.LastOffset > last {
				// Offsets removed by compaction at the batch's end.
				in.cur.batch.Skip(partition, b.LastOffset, now)
				last = b.LastOffset
			}
		}
		in.pending.Add(int64(pending))
		in.lag.observe(partition, last, d.HighWatermark)
		if err != nil {
			stalled.add(d.Partition, fmt.Errorf("offset %d and later not read: %w", last+1, err))
			in.log.Error().Err(err).Str("topic", in.cfg.Topic).Int("partition", partition).Int64("offset", last+1).
				Msg("cannot decode the partition's records: it is not read further (nor committed past them) until the next rebalance or restart")
		}
	}
	return true
}

// add decodes one record into the current batch. A message that is not a
// valid event is counted and kept as a dead letter; its offset is committed
// with the batch once the dead-letter topic has it.
func (in *Ingester) add(partition int, r *kafkawire.Record, now time.Time) {
	s := in.cur
	s.batch.Add(partition, r.Offset, len(r.Value), now)
	err := checkVersion(r)
	if err == nil {
		err = event.Parse(r.Value, &in.ev)
	}
	if err != nil {
		reason := reasonOf(err)
		in.invalid[reason].Inc()
		msg := kafka.Message{Topic: in.cfg.Topic, Partition: partition, Offset: r.Offset, Time: time.UnixMilli(r.Timestamp), Key: r.Key, Value: r.Value}
		for h := r.Headers(); h.Next(); {
			msg.Headers = append(msg.Headers, kafka.Header{Key: string(h.Key), Value: h.Value})
		}
		s.dead.add(&msg, reason, err)
		in.log.Debug().Err(err).Int("partition", partition).Int64("offset", r.Offset).Msg("invalid message: to the dead-letter topic")
		return
	}
	s.rows.Append(&in.ev)
}

// store inserts the slot's rows and writes its dead letters, retrying each
// with backoff until it succeeds or the generation's stop is closed; the
// flusher commits the offsets after it. Each attempt and the commit are
// bounded by InsertTimeout and never cut short otherwise: cancelling an
// insert that ClickHouse may already have applied, or the commit after it,
// would replay the batch as duplicates.
func (in *Ingester) store(s *slot) error {
	giveUp := s.gen.stop
	ctx := context.Background()
	if !s.inserted && s.rows.Len() > 0 {
		start := time.Now()
		// Every attempt sends the same Rows under the same token.
		token := dedupToken(in.cfg.Topic, s.batch, &s.rows)
		err := in.retry(ctx, giveUp, func(ctx context.Context) error {
			return chstore.Insert(ctx, in.conn, &s.rows, token)
		}, func(err error, attempt int) {
			in.insertErrors.Inc()
			if attempt == 1 || attempt%10 == 0 {
				in.log.Warn().Err(err).Int("rows", s.rows.Len()).Int("attempt", attempt).Msg("ClickHouse insert failed; retrying, offsets not committed")
			}
		})
		if err != nil {
			return fmt.Errorf("gave up inserting %d rows: %w", s.rows.Len(), err)
		}
		s.inserted = true
		in.lastInsert.Set(time.Now().Unix())
		in.insertSeconds.ObserveSince(start)
		in.batchRows.Observe(float64(s.rows.Len()))
		in.rowsInserted.Add(uint64(s.rows.Len()))
	}
	if s.dead.Len() > 0 {
		err := in.retry(ctx, giveUp, s.dead.write, func(err error, attempt int) {
			if attempt == 1 || attempt%10 == 0 {
				in.log.Warn().Err(err).Int("dead_letters", s.dead.Len()).Str("topic", in.cfg.DLQTopic).Int("attempt", attempt).
					Msg("cannot write dead letters; retrying, offsets not committed (does the topic exist? see -dlq-topic)")
			}
		})
		if err != nil {
			return fmt.Errorf("gave up writing %d dead letters to %s: %w", s.dead.Len(), in.cfg.DLQTopic, err)
		}
	}
	in.ready.Store(true)
	return nil
}

// commitStored commits a stored batch's offsets through its generation.
func (in *Ingester) commitStored(s *slot) {
	if err := in.commit(s.gen, s.batch); err != nil {
		in.commitErrors.Inc()
		in.log.Warn().Err(err).Msg("offset commit failed after insert; the batch will be replayed and de-duplicated by event_id")
	} else {
		in.batches.Inc()
	}
}

// dedupToken names a batch's insert for ClickHouse's insert de-duplication:
// the topic and offset ranges it holds, and a digest of its event ids, e.g.
// "pixel.events/0:100-199/3:7-9/5f1c…". Offsets alone repeat when a topic is
// recreated or another Kafka cluster feeds the same table; such a batch must
// not pass for one inserted before.
func dedupToken(topic string, b *batch.Batch, rows *chstore.Rows) string {
	return b.Token(topic) + "/" + rows.Digest()
}

// retry calls op until it succeeds, each attempt bounded by InsertTimeout,
// waiting between attempts from 100 ms doubling to MaxBackoff. It gives up
// when stop is closed or ctx ends; failed hears of every failed attempt.
func (in *Ingester) retry(ctx context.Context, stop <-chan struct{}, op func(context.Context) error, failed func(err error, attempt int)) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, in.cfg.InsertTimeout)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		in.ready.Store(false)
		failed(err, attempt)
		select {
		case <-stop:
			return fmt.Errorf("%d attempts: %w", attempt, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, in.cfg.MaxBackoff)
	}
}

// checkVersion accepts messages of wire-format version 1, and messages
// without the header (written by hand or by other tools) as version 1.
func checkVersion(r *kafkawire.Record) error {
	for h := r.Headers(); h.Next(); {
		if string(h.Key) == event.Header && string(h.Value) != event.Version {
			return fmt.Errorf("%w %q (this consumer reads %s)", event.ErrUnsupported, h.Value, event.Version)
		}
	}
	return nil
}

// commit commits the batch's offsets through its generation: the offset
// after the last one of each partition.
func (in *Ingester) commit(gen *generation, b *batch.Batch) error {
	ranges := b.Ranges()
	offsets := make(map[int]int64, len(ranges))
	for _, r := range ranges {
		offsets[r.Partition] = r.Last + 1
	}
	return gen.kgen.CommitOffsets(map[string]map[int]int64{in.cfg.Topic: offsets})
}
