package publish

import (
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/spool"
)

// An event on the publish path is a spool.Record (key, value, arrival time)
// everywhere: in a Message, in a batch, in the spool. These are the two
// conversions left, each written once: from the pooled messages of a batch to
// their records, and from records to what kafka-go writes.

// records appends the records of batch to dst.
func records(dst []spool.Record, batch []*Message) []spool.Record {
	for _, m := range batch {
		dst = append(dst, m.Record)
	}
	return dst
}

// kafkaMessages appends recs to dst as kafka-go messages, with the format
// header, and the arrival time as the record's timestamp (kafka-go would read
// the clock once per message otherwise).
func (p *Publisher) kafkaMessages(dst []kafka.Message, recs []spool.Record) []kafka.Message {
	for _, r := range recs {
		dst = append(dst, kafka.Message{Key: r.Key, Value: r.Value, Headers: p.headers, Time: r.Time})
	}
	return dst
}

// drainQueue takes what queue holds, batch by batch, hands the records of
// each batch to handle and releases the messages.
func (p *Publisher) drainQueue(queue chan *Message, handle func([]spool.Record)) {
	var batch []*Message
	var recs []spool.Record
	for {
		batch, _ = drain(queue, batch[:0], 0, p.cfg.BatchSize, p.cfg.BatchBytes)
		if len(batch) == 0 {
			return
		}
		recs = records(recs[:0], batch)
		handle(recs)
		for _, m := range batch {
			p.release(m)
		}
	}
}
