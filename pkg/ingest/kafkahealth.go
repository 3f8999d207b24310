package ingest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// kafkaHealth follows whether the consumer reaches Kafka, for Ready. A
// consumer has no traffic a load balancer could move; its readiness says
// whether it does its job, and it cannot while it cannot fetch. It is unready
// from the start until the first sign of contact, and from a failure until
// the next sign of contact:
//
//   - contact: the group was joined (a generation began), or a fetch got
//     its answer;
//   - failure: joining the group, reading the metadata or offsets, or a
//     fetch failed.
//
// A time without either (fetching paused while a batch is inserted) changes
// nothing.
type kafkaHealth struct {
	brokers string
	ok      atomic.Bool // contacted and not failing: what the hot path reads

	mu        sync.Mutex
	contacted bool      // contact at least once
	failing   bool      // a failure since the last contact
	since     time.Time // when failing began
	lastErr   string    // the latest error: a failure's, or one the consumer group logged
}

func newKafkaHealth(brokers []string) *kafkaHealth {
	return &kafkaHealth{brokers: strings.Join(brokers, ",")}
}

// err is nil while the consumer reaches Kafka, and says why not otherwise.
func (h *kafkaHealth) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.contacted && h.lastErr == "":
		return fmt.Errorf("has not reached Kafka at %s yet", h.brokers)
	case !h.contacted:
		return fmt.Errorf("has not reached Kafka at %s yet: %s", h.brokers, h.lastErr)
	case h.failing:
		return fmt.Errorf("cannot fetch from Kafka at %s (for %s): %s", h.brokers, time.Since(h.since).Round(100*time.Millisecond), h.lastErr)
	}
	return nil
}

// logged keeps the text of an error the consumer group logged, as the
// reason shown until a failure brings its own.
func (h *kafkaHealth) logged(msg string) {
	h.mu.Lock()
	h.lastErr = cutReason(msg)
	h.mu.Unlock()
}

// failed records a failure and its reason (none: the last one known stays);
// it reports whether the consumer was ready before.
func (h *kafkaHealth) failed(reason string) (wasReady bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if reason != "" {
		h.lastErr = cutReason(reason)
	}
	wasReady = h.contacted && !h.failing
	if wasReady {
		h.failing, h.since = true, time.Now()
		h.ok.Store(false)
	}
	return wasReady
}

// reached records contact; it returns whether the consumer was unready
// before, and for how long it was failing (0 at the first contact).
func (h *kafkaHealth) reached() (wasUnready bool, down time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wasUnready = !h.contacted || h.failing
	if h.failing {
		down = time.Since(h.since)
	}
	h.contacted, h.failing = true, false
	h.ok.Store(true)
	return wasUnready, down
}

// kafkaFailed records a failure to reach Kafka, logging when it makes the
// consumer unready (once per outage, not per error).
func (in *Ingester) kafkaFailed(reason string) {
	if in.kafka.failed(reason) {
		in.log.Warn().Str("kafka_brokers", in.kafka.brokers).Str("reason", in.kafka.lastErrText()).
			Msg("cannot fetch from Kafka; /readyz is unready until it answers again")
	}
}

func (in *Ingester) kafkaReached() {
	wasUnready, down := in.kafka.reached()
	switch {
	case wasUnready && down > 0:
		in.log.Info().Str("kafka_brokers", in.kafka.brokers).Int64("down_ms", down.Milliseconds()).Msg("Kafka answers again")
	case wasUnready:
		in.log.Info().Str("kafka_brokers", in.kafka.brokers).Msg("reached Kafka")
	}
}

// cutReason bounds a reason's length in Ready's error and the logs.
func cutReason(msg string) string {
	const max = 300
	if len(msg) > max {
		msg = msg[:max] + "…"
	}
	return msg
}

func (h *kafkaHealth) lastErrText() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}

// kafkaErrorLogger is the consumer group's ErrorLogger: its messages go to
// the debug log, and the latest is kept as the reason of a failure.
func kafkaErrorLogger(log zerolog.Logger, h *kafkaHealth) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		text := fmt.Sprintf(msg, args...)
		h.logged(strings.TrimSpace(text))
		log.Debug().Msg("kafka-go: " + text)
	})
}
