package forward

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/gate"
	"github.com/pixel-pipeline/pixel/pkg/logging"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// Headers of a dead letter in the forwarder's dead-letter topic. The value
// is the event's JSON as it was read (for an engaged visit, the conversion
// the forwarder made, in the same format).
const (
	HeaderDestination     = "pixel-destination"      // the destination's id
	HeaderDestinationKind = "pixel-destination-kind" // meta, google or webhook
	HeaderError           = "pixel-error"            // the platform's answer (at most MaxErrorBytes)
	HeaderStatus          = "pixel-status"           // the answer's HTTP status, decimal
	HeaderSourcePartition = "pixel-source-partition" // the partition of pixel.events it was read from
	HeaderSourceOffset    = "pixel-source-offset"    // its offset there
)

// MaxErrorBytes bounds the platform's answer kept in a dead letter.
const MaxErrorBytes = 64 << 10

// maxMessages bounds the messages of one batch, most of which may be events
// the destination does not want: they are committed with it.
const maxMessages = 10_000

// world is what every pipeline reads of the registry, swapped whole at
// each refresh.
type world struct {
	pixels   *registry.Snapshot
	optedOut func(*event.Event) bool
}

// pipeline forwards one destination's events: its own consumer group on the
// topic, so that a destination that is down holds only its own offsets.
type pipeline struct {
	cfg     *Config
	d       *destination.Destination
	p       platform
	m       *destMetrics
	world   *atomic.Pointer[world]
	dlq     *kafka.Writer
	log     zerolog.Logger
	reader  *kafka.Reader
	tracker *Tracker
	signals *browserSignals // the latest browser consent and GPC of each visitor
	wantsEV bool

	lag      map[int]*partitionLag
	retryLog *logging.Throttle
	zoneMu   sync.Mutex
	zoneName string
	zone     *time.Location
}

type partitionLag struct{ hwm, next int64 }

// item is an event the destination forwards, with the message it came in.
type item struct {
	key       []byte // the message's key
	partition int
	offset    int64
	ev        *event.Event
	value     []byte // what a dead letter holds
}

type batch struct {
	msgs  []kafka.Message
	items []item
}

// newPipeline returns d's pipeline, or why d cannot be forwarded to (no
// credentials, settings the platform's builder refuses).
func newPipeline(cfg *Config, d *destination.Destination, m *destMetrics, w *atomic.Pointer[world], dlq *kafka.Writer, log zerolog.Logger) (*pipeline, error) {
	pl := &pipeline{
		cfg: cfg, d: d, m: m, world: w, dlq: dlq,
		log:      log.With().Str("destination", d.ID).Str("kind", d.Kind).Str("pixel", d.PixelID).Logger(),
		tracker:  NewTracker(cfg.MaxSessions),
		signals:  newBrowserSignals(0),
		wantsEV:  d.Wants([]byte(destination.EngagedVisit), 0),
		lag:      map[int]*partitionLag{},
		retryLog: logging.NewThrottle(time.Minute),
	}
	var err error
	if pl.p, err = newPlatform(d, cfg.HTTP, pl.location); err != nil {
		return nil, err
	}
	pl.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.GroupPrefix + d.ID,
		Topic:             cfg.Topic,
		StartOffset:       kafka.FirstOffset,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           500 * time.Millisecond, // a message returns the fetch at once; Close waits for one in flight
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		ReadBackoffMin:    100 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		ErrorLogger:       kafkaLogger{log: pl.log, t: logging.NewThrottle(time.Minute)},
	})
	return pl, nil
}

// kafkaLogger logs kafka-go's errors, at most one a minute.
type kafkaLogger struct {
	log zerolog.Logger
	t   *logging.Throttle
}

func (k kafkaLogger) Printf(format string, args ...any) {
	if ok, held := k.t.Allow(); ok {
		k.log.Warn().Int("held", held).Msgf("kafka: "+format, args...)
	}
}

// run forwards until ctx ends, then stops fetching, forwards and commits
// what it batched (within the shutdown timeout) and returns. It returns an
// error only when the shutdown timeout cut the last batch short: those
// events were not committed and are forwarded again by the next run.
func (p *pipeline) run(ctx context.Context) error {
	defer p.reader.Close()
	// work is the context of sends and commits: it outlives ctx by the
	// shutdown timeout, so that the last batch can still go.
	work, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(p.cfg.ShutdownTimeout, cancel) })
	defer stop()

	msgs := make(chan kafka.Message)
	go p.fetch(ctx, msgs)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	var b batch
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return p.flush(work, &b)
			}
			if len(b.msgs) == 0 {
				linger.Reset(p.cfg.Linger)
			}
			p.add(&b, m)
			if len(b.items) >= p.p.maxBatch() || len(b.msgs) >= maxMessages {
				linger.Stop()
				if err := p.flush(work, &b); err != nil {
					return err
				}
			}
		case <-linger.C:
			if err := p.flush(work, &b); err != nil {
				return err
			}
		}
	}
}

// fetch hands the topic's messages to run until ctx ends, then closes msgs.
func (p *pipeline) fetch(ctx context.Context, msgs chan<- kafka.Message) {
	defer close(msgs)
	for {
		m, err := p.reader.FetchMessage(ctx)
		if err != nil {
			// FetchMessage retries the broker itself; it fails only when
			// ctx ends or the reader is closed.
			return
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return
		}
	}
}

// add decodes m and keeps what the destination forwards: its pixel's
// events it wants, and the engaged visits they make, that pass the gate.
func (p *pipeline) add(b *batch, m kafka.Message) {
	b.msgs = append(b.msgs, m)
	l := p.lag[m.Partition]
	if l == nil {
		l = &partitionLag{next: m.Offset}
		p.lag[m.Partition] = l
	}
	l.hwm = m.HighWaterMark
	p.updateLag()

	var e event.Event
	// A message that is not an event is the consumer's to dead-letter;
	// the forwarder passes it by.
	if event.Parse(m.Value, &e) != nil || string(e.PixelID) != p.d.PixelID {
		return
	}
	p.signals.observe(&e)
	w := p.world.Load()
	if p.wantsEV {
		goal := 0
		if px := w.pixels.Lookup(e.PixelID); px != nil {
			goal = px.Settings.EngagementSeconds
		}
		if p.tracker.Observe(&e, goal) {
			p.m.engaged.Inc()
			ev := EngagedVisit(&e)
			p.keep(b, &m, ev, event.AppendJSON(nil, ev), w)
		}
	}
	if p.d.WantsEvent(&e) {
		p.keep(b, &m, &e, m.Value, w)
	}
}

func (p *pipeline) keep(b *batch, msg *kafka.Message, e *event.Event, value []byte, w *world) {
	if ok, reason := gate.Check(e, gate.Options{OptedOut: w.optedOut}); !ok {
		p.m.gated[reason].Inc()
		return
	}
	if reason := p.signals.refuse(e); reason != "" {
		p.m.gated[reason].Inc()
		return
	}
	b.items = append(b.items, item{key: msg.Key, partition: msg.Partition, offset: msg.Offset, ev: e, value: value})
}

// flush forwards the batch's events, dead-letters those refused and
// commits the batch's offsets. It fails only when ctx ends first.
func (p *pipeline) flush(ctx context.Context, b *batch) error {
	if len(b.msgs) == 0 {
		return nil
	}
	if len(b.items) > 0 {
		if err := p.deliver(ctx, b.items); err != nil {
			return err
		}
	}
	if err := p.commit(ctx, b.msgs); err != nil {
		return err
	}
	clear(b.msgs)
	clear(b.items)
	b.msgs, b.items = b.msgs[:0], b.items[:0]
	return nil
}

func (p *pipeline) deliver(ctx context.Context, items []item) error {
	events := make([]*event.Event, len(items))
	for i := range items {
		events[i] = items[i].ev
	}
	reqs, skips := p.p.build(events, time.Now())
	for _, s := range skips {
		p.m.skip(s.reason)
	}
	var dead []kafka.Message
	for _, r := range reqs {
		p.m.sent.Add(uint64(len(r.events)))
		a, err := p.sendRetrying(ctx, r)
		if err != nil {
			return err
		}
		switch a.outcome {
		case accepted:
			p.m.accepted.Add(uint64(len(r.events) - len(a.rows)))
			for i, detail := range a.rows {
				dead = append(dead, p.deadLetter(&items[r.events[i]], a.status, detail))
			}
			p.m.refused.Add(uint64(len(a.rows)))
			if len(a.rows) > 0 {
				p.log.Warn().Int("refused", len(a.rows)).Int("events", len(r.events)).Str("reason", a.reason).Msg("the platform refused some events: they go to the dead-letter topic")
			}
		default: // refused
			for _, i := range r.events {
				dead = append(dead, p.deadLetter(&items[i], a.status, a.body))
			}
			p.m.refused.Add(uint64(len(r.events)))
			p.log.Warn().Int("status", a.status).Int("events", len(r.events)).Str("reason", a.reason).Bytes("answer", truncate(a.body, 2048)).
				Msg("the platform refused a request for good: its events go to the dead-letter topic")
		}
	}
	return p.writeDeadLetters(ctx, dead)
}

// sendRetrying sends r until the platform accepts or refuses it for good,
// waiting between attempts as backoff says. It fails only when ctx ends.
func (p *pipeline) sendRetrying(ctx context.Context, r request) (answer, error) {
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
		a, err := p.p.send(rctx, r)
		cancel()
		if ctx.Err() != nil {
			return a, ctx.Err()
		}
		p.m.request(a.status)
		var wait time.Duration
		switch a.outcome {
		case accepted, refused:
			return a, nil
		case unauthorized:
			// A person must fix the credentials: hold the events (no
			// dead letters) and ask again at the longest backoff.
			wait = p.cfg.MaxBackoff
			if ok, held := p.retryLog.Allow(); ok {
				p.log.Error().Int("status", a.status).Str("reason", a.reason).Bytes("answer", truncate(a.body, 2048)).Int("held", held).
					Msg("the platform refused the destination's credentials: forwarding holds until they are fixed (pixelctl destination update -credentials-stdin)")
			}
		default:
			wait = backoff(attempt, a.retryAfter, p.cfg.MinBackoff, p.cfg.MaxBackoff)
			if ok, held := p.retryLog.Allow(); ok {
				ev := p.log.Warn().Int("status", a.status).Str("reason", a.reason).Dur("retry_in_ms", wait).Int("attempt", attempt+1).Int("held", held)
				if err != nil {
					ev = ev.Err(err)
				}
				ev.Msg("sending failed for now: retrying")
			}
		}
		p.m.retried.Add(uint64(len(r.events)))
		if err := p.cfg.sleep(ctx, wait); err != nil {
			return a, err
		}
	}
}

// backoff is the wait before retry attempt+1: the platform's Retry-After
// when it gave one, else exponential from min with full jitter; both
// capped by max.
func backoff(attempt int, retryAfter, lo, hi time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, hi)
	}
	ceil := lo
	for i := 0; i < attempt && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

func (p *pipeline) deadLetter(it *item, status int, answer []byte) kafka.Message {
	return kafka.Message{
		Key:   it.key,
		Value: it.value,
		Headers: []kafka.Header{
			{Key: HeaderDestination, Value: []byte(p.d.ID)},
			{Key: HeaderDestinationKind, Value: []byte(p.d.Kind)},
			{Key: HeaderError, Value: truncate(answer, MaxErrorBytes)},
			{Key: HeaderStatus, Value: strconv.AppendInt(nil, int64(status), 10)},
			{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(it.partition), 10)},
			{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, it.offset, 10)},
		},
	}
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// writeDeadLetters writes msgs to the dead-letter topic, retrying until it
// acknowledges them all: the offsets wait for it. A retry after a partial
// failure may write some twice (dead letters are at least once).
func (p *pipeline) writeDeadLetters(ctx context.Context, msgs []kafka.Message) error {
	for attempt := 0; len(msgs) > 0; attempt++ {
		err := p.dlq.WriteMessages(ctx, msgs...)
		if err == nil {
			p.m.deadLetters.Add(uint64(len(msgs)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ok, held := p.retryLog.Allow(); ok {
			p.log.Warn().Err(err).Str("topic", p.cfg.DLQTopic).Int("held", held).Msg("cannot write dead letters: retrying; the offsets wait (does the topic exist?)")
		}
		if err := p.cfg.sleep(ctx, backoff(attempt, 0, p.cfg.MinBackoff, p.cfg.MaxBackoff)); err != nil {
			return err
		}
	}
	return nil
}

// commit commits the batch's offsets, retrying until the broker takes them.
func (p *pipeline) commit(ctx context.Context, msgs []kafka.Message) error {
	for attempt := 0; ; attempt++ {
		err := p.reader.CommitMessages(ctx, msgs...)
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return err
		}
		if ok, held := p.retryLog.Allow(); ok {
			p.log.Warn().Err(err).Int("held", held).Msg("cannot commit offsets: retrying")
		}
		if err := p.cfg.sleep(ctx, backoff(attempt, 0, p.cfg.MinBackoff, p.cfg.MaxBackoff)); err != nil {
			return err
		}
	}
	for i := range msgs {
		if l := p.lag[msgs[i].Partition]; l != nil && msgs[i].Offset+1 > l.next {
			l.next = msgs[i].Offset + 1
		}
	}
	p.updateLag()
	return nil
}

func (p *pipeline) updateLag() {
	var sum int64
	for _, l := range p.lag {
		sum += max(0, l.hwm-l.next)
	}
	p.m.lag.Set(sum)
}

// location is the pixel's time zone, for Google's conversion times.
func (p *pipeline) location() *time.Location {
	name := "UTC"
	if px := p.world.Load().pixels.Lookup([]byte(p.d.PixelID)); px != nil {
		name = px.Zone()
	}
	p.zoneMu.Lock()
	defer p.zoneMu.Unlock()
	if p.zone == nil || p.zoneName != name {
		loc, err := time.LoadLocation(name)
		if err != nil {
			p.log.Warn().Err(err).Str("time_zone", name).Msg("cannot load the pixel's time zone: using UTC")
			loc = time.UTC
		}
		p.zone, p.zoneName = loc, name
	}
	return p.zone
}
