package kafkawire

// The encoder: Kafka record batches (message format v2, the one every broker
// since 0.11 speaks) built into a reusable buffer, ready to be sent as the
// records of one partition in a produce request. It is what lets pkg/publish
// write a whole batch of events without building a message structure per
// event.
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
// Finish prefixes the batch with its length as an int32, the form of the
// records field of a produce request (NULLABLE_BYTES, versions 3 to 8).

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
	headerEnd        = sizeLen + batchHeaderSize // the size of a batch without records, its size prefix included
	batchLengthStart = offBatchLength + 4        // batchLength counts from here
)

// Encoder builds record batches one after the other in one buffer, so that
// the batches of all the partitions of a produce request take the memory of
// one request, however many partitions there are. Append records to the
// batch being built, Finish it, Append the records of the next, and so on;
// Reset when none of the batches is needed any longer. The zero Encoder is
// not usable: make one with NewEncoder. An Encoder is not safe for concurrent use.
type Encoder struct {
	codec   compress.Codec // nil: records are not compressed
	headers []byte         // the encoded headers part of every record
	buf     []byte         // the batches finished since Reset, then the one being built
	start   int            // where the one being built starts in buf
	raw     []byte         // its records, while compressing
	n       int32          // its records
	first   int64          // its first timestamp
	last    int64          // its largest timestamp
}

// NewEncoder returns an Encoder whose records carry headers and are compressed with
// codec (nil: not compressed).
func NewEncoder(codec compress.Codec, headers ...Header) *Encoder {
	e := &Encoder{codec: codec}
	e.headers = binary.AppendVarint(e.headers, int64(len(headers)))
	for _, h := range headers {
		e.headers = binary.AppendVarint(e.headers, int64(len(h.Key)))
		e.headers = append(e.headers, h.Key...)
		e.headers = appendBytes(e.headers, h.Value)
	}
	return e
}

// Reset forgets every batch, keeping the buffer: the bytes Finish returned
// may be overwritten from now on.
func (e *Encoder) Reset() {
	e.buf, e.raw = e.buf[:0], e.raw[:0]
	e.start, e.n = 0, 0
}

// Len is the number of records in the batch being built.
func (e *Encoder) Len() int { return int(e.n) }

// Size is the size of the batch being built as Finish would return it
// without compression (0 while it holds no record); with compression it is
// an upper bound but for the codec's framing.
func (e *Encoder) Size() int {
	if e.n == 0 {
		return 0
	}
	return len(e.buf) - e.start + len(e.raw)
}

// MaxRecordSize is the most bytes Append adds for a record with this key
// and value, whatever its timestamp: cheap, for deciding whether a record
// still fits in a batch. The first record of a batch adds headerEnd more.
func (e *Encoder) MaxRecordSize(key, value []byte) int {
	// Lengths of the record, key and value take up to 5 bytes, the
	// timestamp delta 10, the offset delta 5, attributes 1.
	return len(key) + len(value) + len(e.headers) + 3*5 + 10 + 5 + 1
}

// bodySize is the size of a record after its length.
func (e *Encoder) bodySize(key, value []byte, timestamp int64) int {
	delta := int64(0)
	if e.n > 0 {
		delta = timestamp - e.first
	}
	return 1 + varintSize(delta) + varintSize(int64(e.n)) + bytesSize(key) + bytesSize(value) + len(e.headers)
}

// Append adds a record with key, value (nil for null) and a timestamp in
// milliseconds since the Unix epoch to the batch being built, starting one
// if none is.
func (e *Encoder) Append(key, value []byte, timestamp int64) {
	body := e.bodySize(key, value, timestamp)
	if e.n == 0 {
		e.start = len(e.buf)
		e.buf = append(e.buf, make([]byte, headerEnd)...) // the header, written by Finish
		e.first, e.last = timestamp, timestamp
	} else if timestamp > e.last {
		e.last = timestamp
	}
	delta := timestamp - e.first
	dst := e.buf
	if e.codec != nil {
		dst = e.raw
	}
	dst = binary.AppendVarint(dst, int64(body))
	dst = append(dst, 0) // attributes
	dst = binary.AppendVarint(dst, delta)
	dst = binary.AppendVarint(dst, int64(e.n))
	dst = appendBytes(dst, key)
	dst = appendBytes(dst, value)
	dst = append(dst, e.headers...)
	if e.codec != nil {
		e.raw = dst
	} else {
		e.buf = dst
	}
	e.n++
}

// Finish ends the batch being built and returns it prefixed with its int32
// length, or nil if it holds no records. The bytes stay valid until Reset,
// also while later batches are built (a buffer that grows leaves them in
// the old one).
func (e *Encoder) Finish() ([]byte, error) {
	if e.n == 0 {
		return nil, nil
	}
	n := e.n
	e.n = 0
	attributes := int16(0)
	if e.codec != nil {
		w := e.codec.NewWriter((*appender)(&e.buf))
		_, err := w.Write(e.raw)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		e.raw = e.raw[:0]
		if err != nil {
			e.buf = e.buf[:e.start]
			return nil, fmt.Errorf("kafkawire: cannot compress a batch with %s: %w", e.codec.Name(), err)
		}
		attributes = int16(e.codec.Code()) & codecMask
	}
	h := e.buf[e.start:len(e.buf):len(e.buf)]
	be := binary.BigEndian
	be.PutUint32(h[0:], uint32(len(h)-sizeLen))
	be.PutUint64(h[sizeLen:], 0)                                      // baseOffset
	be.PutUint32(h[offBatchLength:], uint32(len(h)-batchLengthStart)) // batchLength
	be.PutUint32(h[offBatchLength+4:], 0xffffffff)                    // partitionLeaderEpoch -1
	h[offBatchLength+8] = 2                                           // magic
	be.PutUint16(h[offAttributes:], uint16(attributes))
	be.PutUint32(h[offLastOffset:], uint32(n-1))
	be.PutUint64(h[offFirstTime:], uint64(e.first))
	be.PutUint64(h[offMaxTime:], uint64(e.last))
	be.PutUint64(h[offProducer:], 0xffffffffffffffff) // producerId -1
	be.PutUint16(h[offProducer+8:], 0xffff)           // producerEpoch -1
	be.PutUint32(h[offProducer+10:], 0xffffffff)      // baseSequence -1
	be.PutUint32(h[offCount:], uint32(n))
	be.PutUint32(h[offCRC:], crc32.Checksum(h[offAttributes:], castagnoli))
	return h, nil
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
