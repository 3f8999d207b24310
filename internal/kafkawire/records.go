// Package kafkawire is the pipeline's own code for the Kafka wire formats on
// its hot paths, where kafka-go would allocate a message, a key, a value and
// headers for every record. It encodes the record batches the publisher sends
// in its produce requests (encode.go), and reads what a broker sends a
// consumer: the fetch request it needs and the fetch response with its record
// batches, decoded in place from the response's bytes without allocating
// (compressed batches are decompressed into a buffer the caller keeps), which
// the consumer turns into ClickHouse columns. kafka-go still does everything
// else (connections, routing, version negotiation, the group, commits,
// metadata).
//
// Formats (see the Kafka protocol guide, "Record Batch"):
//   - record batches, magic 2 (Kafka 0.11 and later): decoded, with every
//     codec Kafka defines (gzip, snappy with or without the Java client's
//     xerial framing, lz4 frames, zstd), checked against their CRC-32C;
//   - control batches (transaction markers): reported as such, so that the
//     caller skips their offsets;
//   - message sets of magic 0 and 1 (brokers before 0.11 that still store
//     them): refused with ErrOldFormat, naming the offset.
package kafkawire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/segmentio/kafka-go/compress"
)

// Errors of the record decoder. Every one is wrapped with the offset at
// which it was found.
var (
	ErrCorrupt      = errors.New("kafkawire: corrupt record batch")
	ErrOldFormat    = errors.New("kafkawire: message format v0/v1 (magic 0 or 1) is not supported; this consumer reads record batches (magic 2, Kafka 0.11 and later): let the broker convert the topic (log.message.format.version / message.format.version 0.11 or later) or re-produce it")
	ErrCodec        = errors.New("kafkawire: unknown compression codec")
	ErrDecompressed = errors.New("kafkawire: decompressed record batch too large")
)

// batchHeaderSize is the fixed part of a record batch before its records.
const batchHeaderSize = 61

// Attribute bits of a record batch.
const (
	codecMask     = 0x07
	transactional = 0x10
	control       = 0x20
)

// MaxDecompressed bounds what one compressed batch may expand to, so that a
// hostile or broken batch cannot exhaust memory.
const MaxDecompressed = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch is one record batch of a record set. Its fields view the record
// set's bytes.
type Batch struct {
	BaseOffset    int64
	LastOffset    int64 // BaseOffset + lastOffsetDelta: the batch covers every offset up to it
	Attributes    int16
	BaseTimestamp int64 // Unix milliseconds
	NumRecords    int32
	records       []byte // as stored: compressed when the codec is not 0
}

// Control reports whether the batch holds transaction markers, not data.
func (b *Batch) Control() bool { return b.Attributes&control != 0 }

// Transactional reports whether the batch was written in a transaction.
func (b *Batch) Transactional() bool { return b.Attributes&transactional != 0 }

// Codec is the batch's compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (b *Batch) Codec() int { return int(b.Attributes & codecMask) }

// Batches iterates the record batches of a record set, the records field of
// a fetch response partition. A broker may end a record set with a batch
// cut short by the fetch size limit; Next stops before it and Truncated
// reports it.
type Batches struct {
	data      []byte
	truncated bool
}

// NewBatches iterates the record set data.
func NewBatches(data []byte) Batches { return Batches{data: data} }

// Truncated reports whether the record set ended with an incomplete batch.
func (it *Batches) Truncated() bool { return it.truncated }

// Next decodes the next batch's header into b. It returns false at the end
// of the complete batches; err is non-nil for a batch that cannot be read,
// after which the record set is not read further.
func (it *Batches) Next(b *Batch) (ok bool, err error) {
	d := it.data
	if len(d) < 17 {
		it.truncated = len(d) > 0
		it.data = nil
		return false, nil
	}
	baseOffset := int64(binary.BigEndian.Uint64(d))
	length := int32(binary.BigEndian.Uint32(d[8:]))
	magic := d[16]
	if magic != 2 {
		it.data = nil
		if magic < 2 {
			return false, fmt.Errorf("at offset %d: %w", baseOffset, ErrOldFormat)
		}
		return false, fmt.Errorf("at offset %d: %w: magic %d", baseOffset, ErrCorrupt, magic)
	}
	if length < batchHeaderSize-12 {
		it.data = nil
		return false, fmt.Errorf("at offset %d: %w: batch length %d", baseOffset, ErrCorrupt, length)
	}
	end := 12 + int(length)
	if end > len(d) {
		it.truncated = true
		it.data = nil
		return false, nil
	}
	crc := binary.BigEndian.Uint32(d[17:])
	if crc32.Checksum(d[21:end], castagnoli) != crc {
		it.data = nil
		return false, fmt.Errorf("at offset %d: %w: CRC-32C mismatch", baseOffset, ErrCorrupt)
	}
	*b = Batch{
		BaseOffset:    baseOffset,
		LastOffset:    baseOffset + int64(int32(binary.BigEndian.Uint32(d[23:]))),
		Attributes:    int16(binary.BigEndian.Uint16(d[21:])),
		BaseTimestamp: int64(binary.BigEndian.Uint64(d[27:])),
		NumRecords:    int32(binary.BigEndian.Uint32(d[57:])),
		records:       d[batchHeaderSize:end],
	}
	it.data = d[end:]
	if b.NumRecords < 0 || b.LastOffset < b.BaseOffset {
		it.data = nil
		return false, fmt.Errorf("at offset %d: %w: %d records, last offset delta %d", baseOffset, ErrCorrupt, b.NumRecords, b.LastOffset-b.BaseOffset)
	}
	return true, nil
}

// Decompressor expands compressed batches into a buffer it reuses: the
// records of one batch stay valid until its next Records call.
type Decompressor struct {
	buf bytes.Buffer
	src bytes.Reader
}

// Records returns an iterator over b's records, decompressing them into d's
// buffer when b is compressed.
func (d *Decompressor) Records(b *Batch) (Records, error) {
	data := b.records
	if codec := b.Codec(); codec != 0 {
		c := compress.Compression(codec).Codec()
		if c == nil {
			return Records{}, fmt.Errorf("at offset %d: %w %d", b.BaseOffset, ErrCodec, codec)
		}
		d.src.Reset(data)
		r := c.NewReader(&d.src)
		d.buf.Reset()
		_, err := d.buf.ReadFrom(io.LimitReader(r, MaxDecompressed+1))
		_ = r.Close()
		if err != nil {
			return Records{}, fmt.Errorf("at offset %d: %w: %s: %v", b.BaseOffset, ErrCorrupt, compress.Compression(codec), err)
		}
		if d.buf.Len() > MaxDecompressed {
			return Records{}, fmt.Errorf("at offset %d: %w (over %d bytes)", b.BaseOffset, ErrDecompressed, MaxDecompressed)
		}
		data = d.buf.Bytes()
	}
	return Records{data: data, left: b.NumRecords, base: b.BaseOffset, last: b.LastOffset, ts: b.BaseTimestamp}, nil
}

// Records iterates the records of one batch.
type Records struct {
	data       []byte
	left       int32
	base, last int64
	ts         int64
}

// Record is one record; its byte fields view the batch's (decompressed) bytes.
type Record struct {
	Offset    int64
	Timestamp int64 // Unix milliseconds
	Key       []byte
	Value     []byte // nil for a null value (a tombstone)
	headers   []byte
	nHeaders  int
}

// Next decodes the next record into r. It returns false after the last one;
// err is non-nil for a record that cannot be read.
func (it *Records) Next(r *Record) (ok bool, err error) {
	if it.left <= 0 {
		return false, nil
	}
	it.left--
	d := it.data
	length, n := varint(d)
	if n <= 0 || length < 0 || int64(len(d)-n) < length {
		return it.fail("record length")
	}
	rec := d[n : n+int(length)]
	it.data = d[n+int(length):]
	if len(rec) < 1 {
		return it.fail("record attributes")
	}
	rec = rec[1:] // attributes: unused
	tsDelta, n := varint(rec)
	if n <= 0 {
		return it.fail("timestamp delta")
	}
	rec = rec[n:]
	offDelta, n := varint(rec)
	if n <= 0 || offDelta < 0 || it.base+offDelta > it.last {
		return it.fail("offset delta")
	}
	rec = rec[n:]
	var key, value []byte
	if key, rec, ok = bytesField(rec); !ok {
		return it.fail("key")
	}
	if value, rec, ok = bytesField(rec); !ok {
		return it.fail("value")
	}
	nh, n := varint(rec)
	if n <= 0 || nh < 0 || nh > int64(len(rec)) {
		return it.fail("header count")
	}
	*r = Record{
		Offset:    it.base + offDelta,
		Timestamp: it.ts + tsDelta,
		Key:       key,
		Value:     value,
		headers:   rec[n:],
		nHeaders:  int(nh),
	}
	// Check the headers now, so that Headers.Next and Header cannot fail.
	h := r.headers
	for range r.nHeaders {
		var ok1, ok2 bool
		if _, h, ok1 = bytesField(h); !ok1 {
			return it.fail("header key")
		}
		if _, h, ok2 = bytesField(h); !ok2 {
			return it.fail("header value")
		}
	}
	return true, nil
}

func (it *Records) fail(what string) (bool, error) {
	it.left, it.data = 0, nil
	return false, fmt.Errorf("in the batch at offset %d: %w: bad %s", it.base, ErrCorrupt, what)
}

// Headers returns an iterator over the record's headers, in order.
func (r *Record) Headers() Headers { return Headers{data: r.headers, left: r.nHeaders} }

// Header returns the value of the record's first header named key.
func (r *Record) Header(key string) (value []byte, ok bool) {
	for h := r.Headers(); h.Next(); {
		if string(h.Key) == key {
			return h.Value, true
		}
	}
	return nil, false
}

// Headers iterates a record's headers; Key and Value view the batch's bytes.
type Headers struct {
	Key, Value []byte
	data       []byte
	left       int
}

// Next moves to the next header; it returns false after the last one.
func (h *Headers) Next() bool {
	if h.left <= 0 {
		return false
	}
	h.left--
	// Records.Next checked every header, so these reads cannot fail.
	h.Key, h.data, _ = bytesField(h.data)
	h.Value, h.data, _ = bytesField(h.data)
	return true
}

// NextOffset returns the offset after the last complete record batch of a
// record set, or from when it holds none: where the next fetch of the
// partition starts. It reads only the batches' headers; the batches are
// checked when they are decoded.
func NextOffset(data []byte, from int64) int64 {
	next := from
	for len(data) >= batchHeaderSize {
		length := int64(int32(binary.BigEndian.Uint32(data[8:])))
		if data[16] != 2 || length < batchHeaderSize-12 || 12+length > int64(len(data)) {
			break
		}
		last := int64(binary.BigEndian.Uint64(data)) + int64(int32(binary.BigEndian.Uint32(data[23:])))
		next = max(next, last+1)
		data = data[12+length:]
	}
	return next
}

// bytesField reads a varint length and that many bytes (-1: null).
func bytesField(b []byte) (field, rest []byte, ok bool) {
	l, n := varint(b)
	switch {
	case n <= 0:
		return nil, nil, false
	case l == -1:
		return nil, b[n:], true
	case l < 0 || int64(len(b)-n) < l:
		return nil, nil, false
	}
	end := n + int(l)
	return b[n:end:end], b[end:], true
}

// varint decodes a zig-zag varint as Kafka writes lengths and deltas; n is
// 0 when b is too short and negative when the value overflows 64 bits.
func varint(b []byte) (v int64, n int) {
	u, n := binary.Uvarint(b)
	return int64(u>>1) ^ -int64(u&1), n
}
