// Package ingest moves events from Kafka into ClickHouse: a kafka-go
// consumer-group reader feeds a batch; a full or old batch is inserted with one
// columnar insert, the messages that are not valid events go to the
// dead-letter topic, and only when ClickHouse and the dead-letter topic both
// acknowledged are the batch's offsets committed (at-least-once). Failures are
// retried with backoff while fetching pauses; nothing is committed before.
//
// Two batches are in flight at most: while one is inserted, written and
// committed (the flusher), the next one is fetched and decoded (the loop), so
// that decoding overlaps ClickHouse's work; batches are committed in order.
// When the flusher is still busy with a batch as the next one is due, the
// loop waits: fetching pauses and memory stays bounded by two batches.
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
	"io"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

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
	cfg    Config
	log    zerolog.Logger
	conn   driver.Conn
	reader *kafka.Reader

	slots [2]*slot
	cur   *slot      // the batch the loop is filling
	free  chan *slot // slots ready to be filled
	full  chan *slot // due batches handed to the flusher, in order
	ev    event.Event
	ready atomic.Bool  // the last insert and dead-letter write succeeded
	kafka *kafkaHealth // whether the reader reaches Kafka

	cancelBatch context.CancelFunc // ends the current batch's fetch deadline

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
	inserted bool // the rows are in ClickHouse; the dead letters may not be yet
}

func (s *slot) reset() {
	s.batch.Reset()
	s.rows.Reset()
	s.dead.reset()
	s.inserted = false
}

// New builds an Ingester reading cfg.Topic as cfg.Group and writing through
// conn. Zero fields of cfg take the values of DefaultConfig.
func New(cfg Config, conn driver.Conn, log zerolog.Logger, m *metrics.Set) *Ingester {
	cfg = cfg.withDefaults()
	health := newKafkaHealth(cfg.Brokers)
	in := &Ingester{
		cfg:   cfg,
		log:   log,
		conn:  conn,
		free:  make(chan *slot, 2),
		full:  make(chan *slot),
		kafka: health,
		reader: kafka.NewReader(kafka.ReaderConfig{
			Brokers:           cfg.Brokers,
			GroupID:           cfg.Group,
			Topic:             cfg.Topic,
			MinBytes:          1,
			MaxBytes:          4 << 20,
			MaxWait:           250 * time.Millisecond,
			QueueCapacity:     10_000,
			CommitInterval:    0, // synchronous commits, only after an insert
			StartOffset:       kafka.FirstOffset,
			HeartbeatInterval: 3 * time.Second,
			SessionTimeout:    10 * time.Second, // a crashed member's partitions move within 10 s,
			RebalanceTimeout:  10 * time.Second,
			ReadBackoffMin:    100 * time.Millisecond,
			ReadBackoffMax:    2 * time.Second,
			ErrorLogger:       kafkaErrorLogger(log, health),
		}),
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
// fails, and while the last insert or dead-letter write failed.
func (in *Ingester) Ready() error {
	kerr := in.kafka.err()
	switch {
	case kerr != nil && !in.ready.Load():
		return fmt.Errorf("%w; %w", kerr, errNotReady)
	case kerr != nil:
		return kerr
	case !in.ready.Load():
		return errNotReady
	}
	return nil
}

var errNotReady = errors.New("the last insert into ClickHouse or write to the dead-letter topic failed")

// Run consumes until ctx ends, then inserts and commits what it holds (within
// flushTimeout) and leaves the group.
func (in *Ingester) Run(ctx context.Context, flushTimeout time.Duration) error {
	// Retries go on until Run's end: a stopped ClickHouse only pauses the
	// consumer. giveUp ends them once shutdown's flushTimeout has passed.
	giveUp := make(chan struct{})
	flushed := make(chan error, 1)
	go func() { flushed <- in.flusher(giveUp) }()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { in.watchKafka(watchCtx); close(watched) }()
	defer func() { stopWatch(); <-watched }()

	err := in.loop(ctx, flushed)
	start := time.Now()
	in.log.Info().Int("rows", in.cur.rows.Len()).Msg("stopping: inserting and committing the last batches")
	deadline := time.AfterFunc(flushTimeout, func() { close(giveUp) })
	defer deadline.Stop()
	if !in.cur.batch.Empty() {
		select {
		case in.full <- in.cur:
		case ferr := <-flushed:
			flushed <- ferr
		}
	}
	close(in.full)
	if ferr := <-flushed; ferr != nil && err == nil {
		err = fmt.Errorf("final flush: %w", ferr)
	}
	if cerr := in.reader.Close(); cerr != nil && err == nil {
		err = cerr
	}
	for _, s := range in.slots {
		s.dead.close()
	}
	in.log.Info().Dur("took_ms", time.Since(start)).Msg("consumer stopped")
	return err
}

// flusher inserts, writes and commits the batches handed to it, in order,
// and returns their slots to be filled again. It stops when full is closed,
// or with an error when a batch could not be flushed before giveUp.
func (in *Ingester) flusher(giveUp <-chan struct{}) error {
	for s := range in.full {
		n := s.batch.Rows()
		if err := in.flush(s, giveUp); err != nil {
			for range in.full { // let Run hand over and close
			}
			return err
		}
		in.pending.Add(-int64(n))
		in.free <- s
	}
	return nil
}

func (in *Ingester) loop(ctx context.Context, flushed chan error) error {
	// One context per batch carries the batch's age deadline into every fetch.
	var batchCtx context.Context
	endBatch := func() {
		if in.cancelBatch != nil {
			in.cancelBatch()
		}
		batchCtx, in.cancelBatch = nil, nil
	}
	defer endBatch()
	fetchErrors := 0 // in a row
	for {
		fetchCtx := ctx
		if deadline, ok := in.cur.batch.Deadline(); ok {
			if batchCtx == nil {
				batchCtx, in.cancelBatch = context.WithDeadline(ctx, deadline)
			}
			fetchCtx = batchCtx
		}
		msg, err := in.reader.FetchMessage(fetchCtx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, context.DeadlineExceeded):
			case errors.Is(err, io.EOF):
				return errors.New("kafka reader closed")
			default:
				fetchErrors++
				in.kafkaFailed(err.Error())
				if fetchErrors == 1 || fetchErrors%10 == 0 {
					in.log.Warn().Err(err).Int("attempt", fetchErrors).Strs("kafka_brokers", in.cfg.Brokers).Msg("cannot fetch from Kafka; retrying")
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
				continue
			}
		} else {
			fetchErrors = 0
			if !in.kafka.ok.Load() {
				in.kafkaReached()
			}
			in.add(&msg)
		}
		if in.cur.batch.Due(time.Now()) {
			endBatch()
			// Hand the batch to the flusher; this waits while it is busy
			// with the previous one (fetching pauses, memory stays bounded).
			select {
			case in.full <- in.cur:
			case <-ctx.Done():
				return nil // Run hands it over at shutdown
			case err := <-flushed:
				flushed <- err
				return err
			}
			in.cur = <-in.free
		}
	}
}

// add decodes one message into the batch. A message that is not a valid
// event is counted and kept as a dead letter; its offset is committed with
// the batch once the dead-letter topic has it.
func (in *Ingester) add(msg *kafka.Message) {
	s := in.cur
	s.batch.Add(msg.Partition, msg.Offset, len(msg.Value), time.Now())
	in.pending.Add(1)
	in.lag.observe(msg.Partition, msg.Offset, msg.HighWaterMark)
	err := checkVersion(msg.Headers)
	if err == nil {
		err = event.Parse(msg.Value, &in.ev)
	}
	if err != nil {
		reason := reasonOf(err)
		in.invalid[reason].Inc()
		s.dead.add(msg, reason, err)
		in.log.Debug().Err(err).Int("partition", msg.Partition).Int64("offset", msg.Offset).Msg("invalid message: to the dead-letter topic")
		return
	}
	s.rows.Append(&in.ev)
}

// flush inserts the slot's rows and writes its dead letters, retrying each
// with backoff until it succeeds or giveUp is closed, then commits its
// offsets; when it gives up nothing is committed. Each attempt and the commit
// are bounded by InsertTimeout and never cut short otherwise: cancelling an
// insert that ClickHouse may already have applied, or the commit after it,
// would replay the batch as duplicates.
func (in *Ingester) flush(s *slot, giveUp <-chan struct{}) error {
	if s.batch.Empty() {
		return nil
	}
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
	if err := in.commit(ctx, s.batch); err != nil {
		in.commitErrors.Inc()
		in.log.Warn().Err(err).Msg("offset commit failed after insert; the batch will be replayed and de-duplicated by event_id")
	} else {
		in.batches.Inc()
	}
	s.reset()
	return nil
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
func checkVersion(headers []kafka.Header) error {
	for _, h := range headers {
		if h.Key == event.Header && string(h.Value) != event.Version {
			return fmt.Errorf("%w %q (this consumer reads %s)", event.ErrUnsupported, h.Value, event.Version)
		}
	}
	return nil
}

func (in *Ingester) commit(ctx context.Context, b *batch.Batch) error {
	ctx, cancel := context.WithTimeout(ctx, in.cfg.InsertTimeout)
	defer cancel()
	ranges := b.Ranges()
	msgs := make([]kafka.Message, len(ranges))
	for i, r := range ranges {
		msgs[i] = kafka.Message{Topic: in.cfg.Topic, Partition: r.Partition, Offset: r.Last}
	}
	return in.reader.CommitMessages(ctx, msgs...)
}
