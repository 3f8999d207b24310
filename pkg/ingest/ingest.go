// Package ingest moves events from Kafka into ClickHouse: a kafka-go
// consumer-group reader feeds a batch; a full or old batch is inserted with one
// columnar insert and only then are its offsets committed (at-least-once).
// ClickHouse errors are retried with backoff while fetching pauses; nothing is
// committed before ClickHouse acknowledged it.
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
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// Config configures an Ingester.
type Config struct {
	Brokers       []string
	Topic         string
	Group         string
	Batch         batch.Policy
	InsertTimeout time.Duration // one insert attempt, and the offset commit after it
	MaxBackoff    time.Duration // longest wait between insert attempts
}

// DefaultConfig returns the defaults written down in the README.
func DefaultConfig() Config {
	return Config{
		Brokers:       []string{"127.0.0.1:9092"},
		Topic:         "pixel.events",
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

	batch *batch.Batch
	rows  chstore.Rows
	ev    event.Event
	ready atomic.Bool

	cancelBatch context.CancelFunc // ends the current batch's fetch deadline

	rowsInserted, batches, insertErrors, commitErrors *metrics.Counter
	invalid                                           map[error]*metrics.Counter
	batchRows, insertSeconds                          *metrics.Histogram
	pending                                           *metrics.Gauge
}

// New builds an Ingester reading cfg.Topic as cfg.Group and writing through
// conn. Zero fields of cfg take the values of DefaultConfig.
func New(cfg Config, conn driver.Conn, log zerolog.Logger, m *metrics.Set) *Ingester {
	cfg = cfg.withDefaults()
	in := &Ingester{
		cfg:   cfg,
		log:   log,
		conn:  conn,
		batch: batch.New(cfg.Batch),
		reader: kafka.NewReader(kafka.ReaderConfig{
			Brokers:           cfg.Brokers,
			GroupID:           cfg.Group,
			Topic:             cfg.Topic,
			MinBytes:          1,
			MaxBytes:          16 << 20,
			MaxWait:           250 * time.Millisecond,
			QueueCapacity:     10_000,
			CommitInterval:    0, // synchronous commits, only after an insert
			StartOffset:       kafka.FirstOffset,
			HeartbeatInterval: 3 * time.Second,
			SessionTimeout:    30 * time.Second,
			RebalanceTimeout:  30 * time.Second,
			ReadBackoffMin:    100 * time.Millisecond,
			ReadBackoffMax:    2 * time.Second,
			ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { log.Debug().Msgf("kafka-go: "+msg, args...) }),
		}),
		rowsInserted:  m.Counter("pixel_consumer_rows_inserted_total", "Rows inserted into ClickHouse."),
		batches:       m.Counter("pixel_consumer_batches_total", "Batches inserted into ClickHouse and committed."),
		insertErrors:  m.Counter("pixel_consumer_insert_errors_total", "Insert attempts ClickHouse refused or that failed (they are retried)."),
		commitErrors:  m.Counter("pixel_consumer_commit_errors_total", "Offset commits that failed after an insert (the batch will be replayed)."),
		batchRows:     m.Histogram("pixel_consumer_batch_rows", "Rows per inserted batch.", metrics.SizeBuckets),
		insertSeconds: m.Histogram("pixel_consumer_insert_seconds", "Time to insert one batch, retries included.", metrics.LatencyBuckets),
		pending:       m.Gauge("pixel_consumer_batch_pending", "Messages fetched into the current batch, not yet inserted and committed."),
		invalid:       map[error]*metrics.Counter{},
	}
	for _, err := range []error{event.ErrSyntax, event.ErrType, event.ErrMissing, event.ErrRange, event.ErrUnsupported} {
		in.invalid[err] = m.Counter("pixel_consumer_invalid_total", "Messages that are not valid events, by reason; they are skipped.", "reason", reasonLabel(err))
	}
	m.GaugeFunc("pixel_consumer_lag", "Messages between the reader's position and the end of its partitions.", func() float64 {
		return float64(in.reader.Stats().Lag)
	})
	in.ready.Store(true)
	return in
}

func reasonLabel(err error) string {
	switch err {
	case event.ErrSyntax:
		return "syntax"
	case event.ErrType:
		return "type"
	case event.ErrMissing:
		return "missing"
	case event.ErrRange:
		return "range"
	}
	return "version"
}

// Ready reports whether the last insert succeeded.
func (in *Ingester) Ready() bool { return in.ready.Load() }

// Run consumes until ctx ends, then inserts and commits what it holds (within
// flushTimeout) and leaves the group.
func (in *Ingester) Run(ctx context.Context, flushTimeout time.Duration) error {
	err := in.loop(ctx)
	start := time.Now()
	in.log.Info().Int("rows", in.rows.Len()).Msg("stopping: inserting and committing the last batch")
	fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if ferr := in.flush(fctx, fctx.Done()); ferr != nil && err == nil {
		err = fmt.Errorf("final flush: %w", ferr)
	}
	if cerr := in.reader.Close(); cerr != nil && err == nil {
		err = cerr
	}
	in.log.Info().Dur("took", time.Since(start)).Msg("consumer stopped")
	return err
}

func (in *Ingester) loop(ctx context.Context) error {
	// One context per batch carries the batch's age deadline into every fetch.
	var batchCtx context.Context
	endBatch := func() {
		if in.cancelBatch != nil {
			in.cancelBatch()
		}
		batchCtx, in.cancelBatch = nil, nil
	}
	defer endBatch()
	for {
		fetchCtx := ctx
		if deadline, ok := in.batch.Deadline(); ok {
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
				in.log.Warn().Err(err).Msg("cannot fetch from Kafka; retrying")
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
				continue
			}
		} else {
			in.add(&msg)
		}
		if in.batch.Due(time.Now()) {
			endBatch()
			// An insert or commit in progress is not cut short when ctx
			// ends; only the wait between retries is (see flush).
			if err := in.flush(context.WithoutCancel(ctx), ctx.Done()); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// add decodes one message into the batch. Invalid messages are counted and
// skipped; their offsets are committed with the batch.
func (in *Ingester) add(msg *kafka.Message) {
	in.batch.Add(msg.Partition, msg.Offset, len(msg.Value), time.Now())
	in.pending.Add(1)
	err := checkVersion(msg.Headers)
	if err == nil {
		err = event.Parse(msg.Value, &in.ev)
	}
	if err != nil {
		if c := in.invalid[err]; c != nil {
			c.Inc()
		}
		in.log.Debug().Err(err).Int("partition", msg.Partition).Int64("offset", msg.Offset).Msg("skipping invalid message")
		return
	}
	in.rows.Append(&in.ev)
}

// flush inserts the batch, retrying with backoff until ClickHouse takes it or
// stop is closed, then commits its offsets; when it gives up nothing is
// committed. Each attempt and the commit run under ctx and InsertTimeout only:
// the loop passes a ctx that shutdown does not cancel, because cancelling an
// insert that ClickHouse may already have applied, or the commit after it,
// replays the batch as duplicates. Shutdown ends the retries through stop.
func (in *Ingester) flush(ctx context.Context, stop <-chan struct{}) error {
	if in.batch.Empty() {
		return nil
	}
	start := time.Now()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ictx, cancel := context.WithTimeout(ctx, in.cfg.InsertTimeout)
		err := chstore.Insert(ictx, in.conn, &in.rows)
		cancel()
		if err == nil {
			break
		}
		in.insertErrors.Inc()
		in.ready.Store(false)
		if attempt == 1 || attempt%10 == 0 {
			in.log.Warn().Err(err).Int("rows", in.rows.Len()).Int("attempt", attempt).Msg("ClickHouse insert failed; retrying, offsets not committed")
		}
		select {
		case <-stop:
			return fmt.Errorf("gave up inserting %d rows after %d attempts: %w", in.rows.Len(), attempt, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, in.cfg.MaxBackoff)
	}
	in.ready.Store(true)
	in.insertSeconds.ObserveSince(start)
	in.batchRows.Observe(float64(in.rows.Len()))
	in.rowsInserted.Add(uint64(in.rows.Len()))
	if err := in.commit(ctx); err != nil {
		in.commitErrors.Inc()
		in.log.Warn().Err(err).Msg("offset commit failed after insert; the batch will be replayed and de-duplicated by event_id")
	} else {
		in.batches.Inc()
	}
	in.batch.Reset()
	in.rows.Reset()
	in.pending.Set(0)
	return nil
}

// checkVersion accepts messages of wire-format version 1, and messages
// without the header (written by hand or by other tools) as version 1.
func checkVersion(headers []kafka.Header) error {
	for _, h := range headers {
		if h.Key == event.Header && string(h.Value) != event.Version {
			return event.ErrUnsupported
		}
	}
	return nil
}

func (in *Ingester) commit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, in.cfg.InsertTimeout)
	defer cancel()
	ranges := in.batch.Ranges()
	msgs := make([]kafka.Message, len(ranges))
	for i, r := range ranges {
		msgs[i] = kafka.Message{Topic: in.cfg.Topic, Partition: r.Partition, Offset: r.Last}
	}
	return in.reader.CommitMessages(ctx, msgs...)
}
