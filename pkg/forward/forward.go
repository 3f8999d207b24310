// Package forward is the forwarder: it reads pixel.events and hands each
// destination's conversions to its platform (Meta's Conversions API, a
// Google Ads conversion action, a webhook). Each active destination has its
// own pipeline and Kafka consumer group (GroupPrefix + its id), so a
// destination that is down holds only its own offsets:
//
//	decode → the destination's pixel → engaged visits (Tracker) → Wants →
//	gate.Check → batch (≤ the platform's maximum, Linger) → build →
//	send, retrying 429/5xx/network with backoff and Retry-After →
//	dead-letter what the platform refused for good → commit.
//
// Offsets are committed only after the platform accepted or permanently
// refused every event of the batch (or the builder left it out as one the
// platform would refuse: too old, no click id); an answer refusing the
// credentials holds the pipeline rather than dead-lettering. The Forwarder
// reloads destinations, pixels and erasures every Refresh and starts,
// stops or restarts the pipelines to match.
package forward

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/kafkadefault"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// DefaultDLQTopic is where refused events go.
const DefaultDLQTopic = kafkadefault.ForwardDeadLetterTopic

// DefaultGroupPrefix starts each pipeline's consumer group; the
// destination's id ends it.
const DefaultGroupPrefix = "pixel-forward-"

// Config are the forwarder's settings; DefaultConfig has the defaults.
type Config struct {
	Brokers     []string
	Topic       string // the events, default kafkadefault.Topic
	DLQTopic    string // refused events, default DefaultDLQTopic; it must exist
	GroupPrefix string // default DefaultGroupPrefix

	Refresh         time.Duration // how often destinations, pixels and erasures are reloaded
	Linger          time.Duration // how long a batch waits for more events
	MinBackoff      time.Duration // the first retry's longest wait
	MaxBackoff      time.Duration // the longest wait between retries (Retry-After included)
	RequestTimeout  time.Duration // one request to a platform
	ShutdownTimeout time.Duration // to forward and commit the last batches on stop
	MaxSessions     int           // sessions each engaged-visit tracker remembers

	// HTTP is the client of the platforms (and Google's token endpoint);
	// nil: one with RequestTimeout. Tests give one that trusts their
	// servers' certificates.
	HTTP *http.Client

	// sleep waits d or until ctx ends; tests replace it to see the waits.
	sleep func(ctx context.Context, d time.Duration) error
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Brokers:         []string{kafkadefault.Broker},
		Topic:           kafkadefault.Topic,
		DLQTopic:        DefaultDLQTopic,
		GroupPrefix:     DefaultGroupPrefix,
		Refresh:         10 * time.Second,
		Linger:          time.Second,
		MinBackoff:      500 * time.Millisecond,
		MaxBackoff:      time.Minute,
		RequestTimeout:  30 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		MaxSessions:     DefaultMaxSessions,
	}
}

// Check reports a setting the forwarder cannot work with.
func (c *Config) Check() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("no Kafka brokers: set -kafka-brokers")
	case c.Topic == "" || c.DLQTopic == "":
		return errors.New("-kafka-topic and -dlq-topic must be set")
	case c.Topic == c.DLQTopic:
		return errors.New("-dlq-topic must differ from -kafka-topic")
	case c.Refresh <= 0 || c.Linger <= 0 || c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.RequestTimeout <= 0 || c.ShutdownTimeout <= 0:
		return errors.New("-refresh, -linger, -request-timeout and -shutdown-timeout must be positive, and -max-backoff at least the first backoff")
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Source is where the forwarder reads its destinations (every one, all
// pixels; those not active are stopped), the pixels (their engagement goal
// and time zone) and who asked to be forgotten.
type Source interface {
	Destinations(ctx context.Context) ([]*destination.Destination, error)
	Pixels(ctx context.Context) (*registry.Snapshot, error)
	// OptedOut returns the test of gate.Options.OptedOut as of now.
	OptedOut(ctx context.Context) (func(*event.Event) bool, error)
}

// Forwarder runs a pipeline per active destination.
type Forwarder struct {
	cfg   Config
	src   Source
	log   zerolog.Logger
	m     *metrics.Set
	world atomic.Pointer[world]
	dlq   *kafka.Writer

	mu      sync.Mutex
	running map[string]*running
	series  map[string]*destMetrics // by destination id, kept across restarts
	held    map[string]string       // destination id → why it is not forwarded (logged once per version)

	loaded    atomic.Bool
	stopping  atomic.Bool
	pipelines *metrics.Gauge
	refreshes *metrics.Counter
	failures  *metrics.Counter
}

type running struct {
	d      *destination.Destination
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Forwarder; Run runs it.
func New(cfg Config, src Source, log zerolog.Logger, m *metrics.Set) *Forwarder {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: cfg.RequestTimeout}
	}
	if cfg.sleep == nil {
		cfg.sleep = sleep
	}
	if cfg.GroupPrefix == "" {
		cfg.GroupPrefix = DefaultGroupPrefix
	}
	f := &Forwarder{
		cfg: cfg, src: src, log: log, m: m,
		dlq: &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Topic:        cfg.DLQTopic,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 10 * time.Millisecond,
			WriteTimeout: cfg.RequestTimeout,
		},
		running:   map[string]*running{},
		series:    map[string]*destMetrics{},
		held:      map[string]string{},
		pipelines: m.Gauge("forward_pipelines", "Destinations being forwarded to."),
		refreshes: m.Counter("forward_refreshes_total", "Reloads of destinations, pixels and erasures."),
		failures:  m.Counter("forward_refresh_errors_total", "Reloads that failed (the forwarder goes on with what it had)."),
	}
	f.world.Store(&world{pixels: registry.NewSnapshot(nil)})
	return f
}

// Ready reports whether the forwarder loaded its destinations once and is
// not stopping.
func (f *Forwarder) Ready() error {
	switch {
	case f.stopping.Load():
		return errors.New("stopping")
	case !f.loaded.Load():
		return errors.New("destinations not loaded yet")
	}
	return nil
}

// Run refreshes every Refresh until ctx ends, then stops every pipeline
// (each forwards and commits its batch within the shutdown timeout).
func (f *Forwarder) Run(ctx context.Context) error {
	t := time.NewTicker(f.cfg.Refresh)
	defer t.Stop()
	for {
		if err := f.Refresh(ctx); err != nil && ctx.Err() == nil {
			f.failures.Inc()
			f.log.Error().Err(err).Msg("cannot reload the destinations: forwarding goes on with what was loaded")
		}
		select {
		case <-ctx.Done():
			f.stopping.Store(true)
			f.mu.Lock()
			all := make([]*running, 0, len(f.running))
			for id, r := range f.running {
				all = append(all, r)
				delete(f.running, id)
			}
			f.mu.Unlock()
			for _, r := range all {
				r.cancel()
			}
			for _, r := range all {
				<-r.done
			}
			f.pipelines.Set(0)
			return f.dlq.Close()
		case <-t.C:
		}
	}
}

// Refresh reloads destinations, pixels and erasures and makes the running
// pipelines match: new active destinations start, disabled, deleted and
// changed ones (by Version) stop after forwarding what they batched, and
// the changed ones start again.
func (f *Forwarder) Refresh(ctx context.Context) error {
	f.refreshes.Inc()
	pixels, err := f.src.Pixels(ctx)
	if err != nil {
		return fmt.Errorf("cannot load the pixels: %w", err)
	}
	optedOut, err := f.src.OptedOut(ctx)
	if err != nil {
		return fmt.Errorf("cannot load the erasures: %w", err)
	}
	ds, err := f.src.Destinations(ctx)
	if err != nil {
		return fmt.Errorf("cannot load the destinations: %w", err)
	}
	f.world.Store(&world{pixels: pixels, optedOut: optedOut})

	want := map[string]*destination.Destination{}
	for _, d := range ds {
		if d.Active() {
			want[d.ID] = d
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, r := range f.running {
		if d, ok := want[id]; ok && d.Version == r.d.Version {
			continue
		}
		r.cancel()
		<-r.done
		delete(f.running, id)
		f.log.Info().Str("destination", id).Msg("destination stopped (disabled, deleted or changed)")
	}
	for id, d := range want {
		if f.running[id] != nil {
			continue
		}
		f.start(d)
	}
	f.pipelines.Set(int64(len(f.running)))
	f.loaded.Store(true)
	return nil
}

// start starts d's pipeline; f.mu is held.
func (f *Forwarder) start(d *destination.Destination) {
	m := f.series[d.ID]
	if m == nil {
		m = newDestMetrics(f.m, d.ID, d.Kind)
		f.series[d.ID] = m
	}
	p, err := newPipeline(&f.cfg, d, m, &f.world, f.dlq, f.log)
	if err != nil {
		key := fmt.Sprint(d.Version, err)
		if f.held[d.ID] != key {
			f.held[d.ID] = key
			f.log.Error().Err(err).Str("destination", d.ID).Str("name", d.Name).Str("kind", d.Kind).Msg("cannot forward to the destination")
		}
		return
	}
	delete(f.held, d.ID)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, cancel: cancel, done: make(chan struct{})}
	f.running[d.ID] = r
	go func() {
		defer close(r.done)
		if err := p.run(ctx); err != nil {
			p.log.Warn().Err(err).Msg("pipeline stopped before its last batch was committed: those events are forwarded again at the next start")
		}
	}()
	p.log.Info().Str("name", d.Name).Uint64("version", d.Version).Str("group", f.cfg.GroupPrefix+d.ID).Msg("destination started")
}
