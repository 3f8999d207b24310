package ingest

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// Headers of a dead letter. The message keeps its key, value and headers;
// these say why it was refused and where it came from, so that it can be
// inspected, fixed and produced again (a re-fed dead letter gets new ones).
const (
	HeaderError           = "pixel-error"            // "<reason>: <message>", e.g. "syntax: event: malformed JSON"
	HeaderSourceTopic     = "pixel-source-topic"     // the topic it was read from
	HeaderSourcePartition = "pixel-source-partition" // its partition, decimal
	HeaderSourceOffset    = "pixel-source-offset"    // its offset, decimal
	HeaderSourceTimestamp = "pixel-source-timestamp" // its Kafka timestamp, Unix milliseconds
	// HeaderTruncated is set, to the value's original length in bytes, on a
	// dead letter whose value was cut because the dead-letter topic refused
	// it as too large (see deadLetters.maxBytes).
	HeaderTruncated = "pixel-truncated"
)

// Size limits of a dead letter. The first guess is Kafka's default
// message.max.bytes (1 MiB); each time the dead-letter topic refuses a write
// as too large the limit halves, down to minDeadLetterBytes, and a dead
// letter larger than the limit loses the end of its value. A poison message
// that the dead-letter topic cannot take must not block its partition.
const (
	maxDeadLetterBytes = 1 << 20
	minDeadLetterBytes = 4 << 10
	recordOverhead     = 128 // record and batch framing around key, value and headers
)

type deadLetter struct {
	msg    kafka.Message
	reason string
}

// deadLetters holds the current batch's dead letters until the dead-letter
// topic acknowledged them, and writes them with a synchronous kafka-go
// Writer that waits for every in-sync replica.
type deadLetters struct {
	brokers  []string
	topic    string
	timeout  time.Duration
	maxBytes int

	pending   []deadLetter
	w         *kafka.Writer
	transport *kafka.Transport

	written   map[string]*metrics.Counter // by reason
	errors    *metrics.Counter
	truncated *metrics.Counter
}

func newDeadLetters(cfg Config, m *metrics.Set) *deadLetters {
	d := &deadLetters{
		brokers:   cfg.Brokers,
		topic:     cfg.DLQTopic,
		timeout:   cfg.InsertTimeout,
		maxBytes:  maxDeadLetterBytes,
		written:   map[string]*metrics.Counter{},
		errors:    m.Counter("pixel_consumer_dead_letter_errors_total", "Attempts to write dead letters that failed (they are retried; offsets wait)."),
		truncated: m.Counter("pixel_consumer_dead_letters_truncated_total", "Dead letters whose value was cut to fit the dead-letter topic's size limit."),
	}
	for _, r := range reasons {
		d.written[r.label] = m.Counter("pixel_consumer_dead_letters_total", "Invalid messages the dead-letter topic acknowledged, by reason.", "reason", r.label)
	}
	return d
}

// sibling returns an empty deadLetters for another batch: the same topic,
// limits and metrics, its own pending list and writer.
func (d *deadLetters) sibling() *deadLetters {
	return &deadLetters{
		brokers:   d.brokers,
		topic:     d.topic,
		timeout:   d.timeout,
		maxBytes:  d.maxBytes,
		written:   d.written,
		errors:    d.errors,
		truncated: d.truncated,
	}
}

// add records msg, refused for err, as a dead letter. It copies what it keeps:
// the message's memory belongs to the fetch response, which is reused.
func (d *deadLetters) add(msg *kafka.Message, reason string, err error) {
	headers := make([]kafka.Header, 0, len(msg.Headers)+5)
	for _, h := range msg.Headers {
		if !ours(h.Key) {
			headers = append(headers, kafka.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
	}
	headers = append(headers,
		kafka.Header{Key: HeaderError, Value: []byte(reason + ": " + err.Error())},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(msg.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(msg.Partition), 10)},
		kafka.Header{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, msg.Offset, 10)},
		kafka.Header{Key: HeaderSourceTimestamp, Value: strconv.AppendInt(nil, msg.Time.UnixMilli(), 10)},
	)
	d.pending = append(d.pending, deadLetter{
		msg:    kafka.Message{Key: bytes.Clone(msg.Key), Value: bytes.Clone(msg.Value), Headers: headers},
		reason: reason,
	})
}

func ours(key string) bool {
	switch key {
	case HeaderError, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderSourceTimestamp, HeaderTruncated:
		return true
	}
	return false
}

// Len is the number of dead letters not yet acknowledged.
func (d *deadLetters) Len() int { return len(d.pending) }

// reset forgets the pending dead letters (after their batch was committed).
func (d *deadLetters) reset() {
	clear(d.pending)
	d.pending = d.pending[:0]
}

// write sends every pending dead letter and waits for the acknowledgements.
// Those acknowledged leave the pending list, so a retry sends only the rest.
// After a failure the writer is rebuilt, so that the next attempt starts
// with fresh metadata (a topic created meanwhile, a new leader).
func (d *deadLetters) write(ctx context.Context) error {
	if len(d.pending) == 0 {
		return nil
	}
	for i := range d.pending {
		d.fit(&d.pending[i].msg)
	}
	if d.w == nil {
		d.transport = &kafka.Transport{ClientID: "pixel-consumer-dlq", DialTimeout: d.timeout}
		d.w = &kafka.Writer{
			Addr:         kafka.TCP(d.brokers...),
			Topic:        d.topic,
			Balancer:     &kafka.Murmur2Balancer{}, // by the original key, like the collector
			MaxAttempts:  1,                        // the caller retries, with backoff
			BatchSize:    1000,
			BatchBytes:   int64(d.maxBytes),
			BatchTimeout: time.Millisecond, // WriteMessages is synchronous: never wait to fill a batch
			ReadTimeout:  d.timeout,
			WriteTimeout: d.timeout,
			RequiredAcks: kafka.RequireAll,
			Transport:    d.transport,
		}
	}
	msgs := make([]kafka.Message, len(d.pending))
	for i := range d.pending {
		msgs[i] = d.pending[i].msg
	}
	err := d.w.WriteMessages(ctx, msgs...)
	if err == nil {
		for _, dl := range d.pending {
			d.written[dl.reason].Inc()
		}
		d.reset()
		return nil
	}
	d.errors.Inc()
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(d.pending) {
		keep := d.pending[:0]
		tooLarge := false
		for i, dl := range d.pending {
			switch {
			case werrs[i] == nil:
				d.written[dl.reason].Inc()
			case errors.Is(werrs[i], kafka.MessageSizeTooLarge):
				tooLarge = true
				keep = append(keep, dl)
			default:
				keep = append(keep, dl)
			}
		}
		clear(d.pending[len(keep):])
		d.pending = keep
		if tooLarge {
			d.maxBytes = max(d.maxBytes/2, minDeadLetterBytes)
		}
	}
	d.close()
	return err
}

// fit cuts the end of msg's value when the message is larger than maxBytes,
// and marks it with HeaderTruncated (once, with the original length).
func (d *deadLetters) fit(msg *kafka.Message) {
	if messageSize(msg) <= d.maxBytes {
		return
	}
	marked := false
	for _, h := range msg.Headers {
		marked = marked || h.Key == HeaderTruncated
	}
	if !marked {
		msg.Headers = append(msg.Headers, kafka.Header{Key: HeaderTruncated, Value: strconv.AppendInt(nil, int64(len(msg.Value)), 10)})
		d.truncated.Inc()
	}
	over := messageSize(msg) - d.maxBytes
	msg.Value = msg.Value[:max(len(msg.Value)-over, 0)]
}

// messageSize estimates what msg weighs in a record batch, on the high side.
func messageSize(msg *kafka.Message) int {
	size := recordOverhead + len(msg.Key) + len(msg.Value)
	for _, h := range msg.Headers {
		size += len(h.Key) + len(h.Value) + 8
	}
	return size
}

// close releases the writer and its connections.
func (d *deadLetters) close() {
	if d.w == nil {
		return
	}
	_ = d.w.Close()
	d.transport.CloseIdleConnections()
	d.w, d.transport = nil, nil
}
