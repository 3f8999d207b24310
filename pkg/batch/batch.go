// Package batch decides when a batch is complete (by rows, bytes or age,
// whichever comes first) and remembers which Kafka offsets it holds. It does
// no I/O: the ingest loop asks it what to do.
package batch

import (
	"slices"
	"sort"
	"strconv"
	"time"
)

// Policy is when a batch is flushed. The first limit reached wins.
type Policy struct {
	MaxRows  int           // rows per batch
	MaxBytes int           // message bytes per batch
	MaxAge   time.Duration // time since the batch's first message
}

// DefaultPolicy returns the defaults written down in the README: batches
// large enough for ClickHouse (it prefers a few inserts a second, not many)
// and small enough that two of them in flight stay light — on the benchmark
// machine 25 000-row batches loaded faster than 100 000-row ones, which spend
// their time growing and faulting in fresh memory — and at most half a second
// of delay, so that a hit is queryable within about a second.
func DefaultPolicy() Policy {
	return Policy{MaxRows: 25_000, MaxBytes: 16 << 20, MaxAge: 500 * time.Millisecond}
}

// Range is the offsets of one partition a batch holds, both ends included.
type Range struct {
	Partition   int
	First, Last int64
}

// Batch tracks one batch's size, age and offsets.
type Batch struct {
	policy  Policy
	rows    int
	bytes   int
	started time.Time
	ranges  []Range // one per partition, in order of arrival
	last    int     // index in ranges of the partition added last
}

// New returns an empty batch governed by p.
func New(p Policy) *Batch { return &Batch{policy: p} }

// Add records one message of the given size at partition/offset, received
// at now (the first message's now starts the batch's age).
func (b *Batch) Add(partition int, offset int64, size int, now time.Time) {
	b.cover(partition, offset, now)
	b.rows++
	b.bytes += size
}

// Skip records that the batch also covers partition/offset although it
// holds no message from there (a transaction marker, say): the offset is
// committed with the batch. A batch of skipped offsets only is not Empty;
// its age flushes it.
func (b *Batch) Skip(partition int, offset int64, now time.Time) { b.cover(partition, offset, now) }

// cover extends partition's range to offset. Messages arrive partition by
// partition in runs, so the partition of the last call is checked first.
func (b *Batch) cover(partition int, offset int64, now time.Time) {
	if len(b.ranges) == 0 {
		b.started = now
	}
	if b.last < len(b.ranges) && b.ranges[b.last].Partition == partition {
		b.ranges[b.last].Last = offset
		return
	}
	for i := range b.ranges {
		if b.ranges[i].Partition == partition {
			b.ranges[i].Last = offset
			b.last = i
			return
		}
	}
	b.last = len(b.ranges)
	b.ranges = append(b.ranges, Range{Partition: partition, First: offset, Last: offset})
}

// Rows is the number of messages added.
func (b *Batch) Rows() int { return b.rows }

// Bytes is the size of the messages added.
func (b *Batch) Bytes() int { return b.bytes }

// Empty reports whether nothing was added or skipped since the last Reset.
func (b *Batch) Empty() bool { return len(b.ranges) == 0 }

// Full reports whether the row or byte limit is reached.
func (b *Batch) Full() bool { return b.rows >= b.policy.MaxRows || b.bytes >= b.policy.MaxBytes }

// Deadline is when the batch must be flushed by age; ok is false when empty.
func (b *Batch) Deadline() (t time.Time, ok bool) {
	if b.Empty() {
		return time.Time{}, false
	}
	return b.started.Add(b.policy.MaxAge), true
}

// Due reports whether the batch should be flushed at now.
func (b *Batch) Due(now time.Time) bool {
	d, ok := b.Deadline()
	return ok && (b.Full() || !now.Before(d))
}

// Age is how long the batch has been open.
func (b *Batch) Age(now time.Time) time.Duration {
	if b.Empty() {
		return 0
	}
	return now.Sub(b.started)
}

// Ranges lists the offsets held, by partition.
func (b *Batch) Ranges() []Range {
	out := slices.Clone(b.ranges)
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out
}

// Token names the batch's messages: the topic and, partition by partition in
// ascending order, the first and last offset, as in
// "pixel.events/0:100-199/3:7-9". It is the same for every attempt to insert
// the batch and differs between batches, which is what ClickHouse's
// insert_deduplication_token needs (the ingester adds a digest of the rows,
// because offsets repeat when a topic is recreated). Kafka topic names hold
// only [a-zA-Z0-9._-], so the separators cannot be confused.
func (b *Batch) Token(topic string) string {
	dst := make([]byte, 0, len(topic)+len(b.ranges)*24)
	dst = append(dst, topic...)
	for _, r := range b.Ranges() {
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, r.First, 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, r.Last, 10)
	}
	return string(dst)
}

// Reset empties the batch.
func (b *Batch) Reset() {
	b.rows, b.bytes = 0, 0
	b.ranges, b.last = b.ranges[:0], 0
}
