// Package kafkarecord encodes Kafka record batches (message format v2, the
// one every broker since 0.11 speaks) into a reusable buffer, ready to be
// sent as the records of one partition in a produce request. It is what lets
// pkg/publish write a whole batch of events without building a message
// structure per event.
//
// A batch, as Kafka defines it (all integers big-endian, "varint" and
// "varlong" are zigzag-encoded base-128 varints as in Protocol Buffers):
//
//	baseOffset           int64   0: the broker assigns offsets
//	batchLength          int32   bytes after this field
//	partitionLeaderEpoch int32   -1: not known to a producer
//	magic                int8    2
//	crc                  uint32  CRC-32C (Castagnoli) of attributes … end
//	attributes           int16   bits 0-2: compression codec; bit 3: 0, create time
//	lastOffsetDelta      int32   number of records - 1
//	firstTimestamp       int64   milliseconds, the first record's
//	maxTimestamp         int64   milliseconds, the largest of the records'
//	producerId           int64   -1: not idempotent
//	producerEpoch        int16   -1
//	baseSequence         int32   -1
//	records              int32   count, then the records, compressed as a
//	                             whole when attributes say so
//
// and each record:
//
//	length         varint  bytes after this field
//	attributes     int8    0
//	timestampDelta varlong from firstTimestamp
//	offsetDelta    varint  its index in the batch
//	key            varint length (-1: null), then the bytes
//	value          varint length (-1: null), then the bytes
//	headers        varint count, then for each a varint length and key,
//	               a varint length (-1: null) and value
//
// Bytes prefixes the batch with its length as an int32, the form of the
// records field of a produce request (NULLABLE_BYTES, versions 3 to 8).
package kafkarecord

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"

	"github.com/segmentio/kafka-go/compress"
)

// Header is one record header, the same on every record of a Batch.
type Header struct {
	Key   string
	Value []byte
}

// Offsets in the encoded form: the int32 size prefix, then the batch header.
const (
	sizeLen          = 4
	offBatchLength   = sizeLen + 8
	offCRC           = sizeLen + 17
	offAttributes    = sizeLen + 21
	offLastOffset    = sizeLen + 23
	offFirstTime     = sizeLen + 27
	offMaxTime       = sizeLen + 35
	offProducer      = sizeLen + 43
	offCount         = sizeLen + 57
	headerEnd        = sizeLen + 61
	batchLengthStart = offBatchLength + 4 // batchLength counts from here
)

// HeaderSize is the size of a batch without records, its size prefix included.
const HeaderSize = headerEnd

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch builds one record batch. The zero Batch is not usable: make one with
// New. Append records, take Bytes, Reset, and so on; the buffers are kept
// from one batch to the next. A Batch is not safe for concurrent use.
type Batch struct {
	codec   compress.Codec // nil: records are not compressed
	headers []byte         // the encoded headers part of every record
	buf     []byte         // size prefix, batch header and (uncompressed) records
	raw     []byte         // the records, while compressing
	n       int32
	first   int64
	last    int64 // largest timestamp
	done    bool  // Bytes finished buf
}

// New returns an empty Batch whose records carry headers and are compressed
// with codec (nil or compress.None's codec: not compressed).
func New(codec compress.Codec, headers ...Header) *Batch {
	b := &Batch{codec: codec}
	b.headers = binary.AppendVarint(b.headers, int64(len(headers)))
	for _, h := range headers {
		b.headers = binary.AppendVarint(b.headers, int64(len(h.Key)))
		b.headers = append(b.headers, h.Key...)
		b.headers = appendBytes(b.headers, h.Value)
	}
	b.Reset()
	return b
}

// Reset empties b, keeping its buffers.
func (b *Batch) Reset() {
	b.buf = append(b.buf[:0], make([]byte, headerEnd)...)
	b.raw = b.raw[:0]
	b.n, b.first, b.last, b.done = 0, 0, 0, false
}

// Len is the number of records appended since the last Reset.
func (b *Batch) Len() int { return int(b.n) }

// Size is the size of the batch so far as Bytes would return it without
// compression; with compression it is an upper bound but for the codec's
// framing.
func (b *Batch) Size() int { return len(b.buf) + len(b.raw) }

// MaxRecordSize is the most bytes Append adds for a record with this key
// and value, whatever its timestamp: cheap, for deciding whether a record
// still fits in a batch.
func (b *Batch) MaxRecordSize(key, value []byte) int {
	// Lengths of the record, key and value take up to 5 bytes, the
	// timestamp delta 10, the offset delta 5, attributes 1.
	return len(key) + len(value) + len(b.headers) + 3*5 + 10 + 5 + 1
}

// bodySize is the size of a record after its length.
func (b *Batch) bodySize(key, value []byte, timestamp int64) int {
	delta := int64(0)
	if b.n > 0 {
		delta = timestamp - b.first
	}
	return 1 + varintSize(delta) + varintSize(int64(b.n)) + bytesSize(key) + bytesSize(value) + len(b.headers)
}

// Append adds a record with key, value (nil for null) and a timestamp in
// milliseconds since the Unix epoch. It panics after Bytes, before Reset.
func (b *Batch) Append(key, value []byte, timestamp int64) {
	if b.done {
		panic("kafkarecord: Append after Bytes; Reset first")
	}
	body := b.bodySize(key, value, timestamp)
	if b.n == 0 {
		b.first, b.last = timestamp, timestamp
	} else if timestamp > b.last {
		b.last = timestamp
	}
	delta := timestamp - b.first
	dst := b.buf
	if b.codec != nil {
		dst = b.raw
	}
	dst = binary.AppendVarint(dst, int64(body))
	dst = append(dst, 0) // attributes
	dst = binary.AppendVarint(dst, delta)
	dst = binary.AppendVarint(dst, int64(b.n))
	dst = appendBytes(dst, key)
	dst = appendBytes(dst, value)
	dst = append(dst, b.headers...)
	if b.codec != nil {
		b.raw = dst
	} else {
		b.buf = dst
	}
	b.n++
}

// Bytes finishes the batch and returns it prefixed with its int32 length,
// or nil if it holds no records. The bytes stay valid until Reset or Append.
// Calling Bytes again returns the same bytes.
func (b *Batch) Bytes() ([]byte, error) {
	if b.n == 0 {
		return nil, nil
	}
	if b.done {
		return b.buf, nil
	}
	attributes := int16(0)
	if b.codec != nil {
		w := b.codec.NewWriter((*appender)(&b.buf))
		_, err := w.Write(b.raw)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.buf = b.buf[:headerEnd]
			return nil, fmt.Errorf("kafkarecord: cannot compress a batch with %s: %w", b.codec.Name(), err)
		}
		attributes = int16(b.codec.Code()) & 0x7
	}
	h := b.buf
	be := binary.BigEndian
	be.PutUint32(h[0:], uint32(len(h)-sizeLen))
	be.PutUint64(h[sizeLen:], 0)                                      // baseOffset
	be.PutUint32(h[offBatchLength:], uint32(len(h)-batchLengthStart)) // batchLength
	be.PutUint32(h[offBatchLength+4:], 0xffffffff)                    // partitionLeaderEpoch -1
	h[offBatchLength+8] = 2                                           // magic
	be.PutUint16(h[offAttributes:], uint16(attributes))
	be.PutUint32(h[offLastOffset:], uint32(b.n-1))
	be.PutUint64(h[offFirstTime:], uint64(b.first))
	be.PutUint64(h[offMaxTime:], uint64(b.last))
	be.PutUint64(h[offProducer:], 0xffffffffffffffff) // producerId -1
	be.PutUint16(h[offProducer+8:], 0xffff)           // producerEpoch -1
	be.PutUint32(h[offProducer+10:], 0xffffffff)      // baseSequence -1
	be.PutUint32(h[offCount:], uint32(b.n))
	be.PutUint32(h[offCRC:], crc32.Checksum(h[offAttributes:], castagnoli))
	b.done = true
	return b.buf, nil
}

// appender is an io.Writer that appends to a byte slice, for the codecs.
type appender []byte

func (a *appender) Write(p []byte) (int, error) {
	*a = append(*a, p...)
	return len(p), nil
}

// appendBytes appends a varint length (-1 for nil) and p.
func appendBytes(dst, p []byte) []byte {
	if p == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(p)))
	return append(dst, p...)
}

func bytesSize(p []byte) int {
	if p == nil {
		return 1
	}
	return varintSize(int64(len(p))) + len(p)
}

// varintSize is the length of binary.AppendVarint(nil, v).
func varintSize(v int64) int {
	ux := uint64(v) << 1
	if v < 0 {
		ux = ^ux
	}
	return (bits.Len64(ux|1) + 6) / 7
}
