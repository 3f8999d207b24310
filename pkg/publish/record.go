package publish

import (
	"github.com/pixel-pipeline/pixel/pkg/spool"
)

// An event on the publish path is a spool.Record (key, value, arrival time)
// everywhere: in a Message, in a batch, in the spool. The one conversion left
// is from the pooled messages of a batch to their records; records are
// encoded into Kafka record batches by produce.go.

// records appends the records of batch to dst.
func records(dst []spool.Record, batch []*Message) []spool.Record {
	for _, m := range batch {
		dst = append(dst, m.Record)
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
