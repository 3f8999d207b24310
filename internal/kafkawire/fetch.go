package kafkawire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go/protocol"
)

// Fetch versions this package speaks: v4 brought record batches, v11 is the
// newest without the flexible encoding, and the newest kafka-go negotiates.
const (
	minFetchVersion = 4
	maxFetchVersion = 11
)

// MaxResponse bounds the size of a fetch response read into memory.
const MaxResponse = 512 << 20

// ErrBrokerTooOld is returned for a broker that cannot answer Fetch v4.
var ErrBrokerTooOld = errors.New("kafkawire: the broker does not support Fetch v4 (Kafka 0.11); upgrade the broker")

// FetchPartition is one partition of a fetch request.
type FetchPartition struct {
	Partition int32
	Offset    int64 // the first offset wanted
	MaxBytes  int32 // at most this much of the partition's data (at least one batch)
}

// PartitionData is one partition of a fetch response. Records views the
// response's bytes.
type PartitionData struct {
	Partition     int32
	ErrorCode     int16 // a Kafka error code; 0 when the partition was read
	HighWatermark int64
	Records       []byte // the record set: parse it with NewBatches
}

// Fetch is one fetch request for partitions of one topic that share a leader,
// and, once sent, its response. It is sent with kafka-go's
// Transport.RoundTrip: the transport routes it to the partitions' leader
// over its pooled, version-negotiated connections, and hands it the raw
// connection (kafka-go's protocol.RawExchanger), so that the response's bytes
// land in the Fetch's own buffer and are decoded there.
//
// A Fetch is reused for the next request once RoundTrip returned without an
// error; after an error the transport may still be writing into it, so it
// must be dropped.
type Fetch struct {
	ClientID   string
	Topic      string
	Partitions []FetchPartition
	MaxWait    time.Duration
	MinBytes   int32
	MaxBytes   int32

	// The response, valid after a RoundTrip without an error until the next.
	ErrorCode int16 // a request-level Kafka error code (Fetch v7 and later)
	Data      []PartitionData

	version     int16
	correlation int32
	req, resp   []byte
}

var (
	_ protocol.Message         = (*Fetch)(nil)
	_ protocol.PreparedMessage = (*Fetch)(nil)
	_ protocol.RawExchanger    = (*Fetch)(nil)
	_ protocol.BrokerMessage   = (*Fetch)(nil)
)

// ApiKey is Fetch.
func (f *Fetch) ApiKey() protocol.ApiKey { return protocol.Fetch }

// Prepare receives the Fetch version negotiated with the broker.
func (f *Fetch) Prepare(version int16) { f.version = version }

// Required is always true: a Fetch always reads its own response.
func (f *Fetch) Required(map[protocol.ApiKey]int16) bool { return true }

// Broker is the leader of the Fetch's partitions, from the transport's
// metadata; they must share it.
func (f *Fetch) Broker(c protocol.Cluster) (protocol.Broker, error) {
	if len(f.Partitions) == 0 {
		return protocol.Broker{}, fmt.Errorf("kafkawire: a fetch of %s names no partition", f.Topic)
	}
	topic, ok := c.Topics[f.Topic]
	if !ok {
		return protocol.Broker{}, fmt.Errorf("kafkawire: topic %s is not in the metadata", f.Topic)
	}
	leader := int32(-1)
	for _, p := range f.Partitions {
		tp, ok := topic.Partitions[p.Partition]
		switch {
		case !ok:
			return protocol.Broker{}, fmt.Errorf("kafkawire: partition %d of %s is not in the metadata", p.Partition, f.Topic)
		case leader >= 0 && tp.Leader != leader:
			return protocol.Broker{}, fmt.Errorf("kafkawire: partitions of one fetch have different leaders (%d, %d)", leader, tp.Leader)
		}
		leader = tp.Leader
	}
	b, ok := c.Brokers[leader]
	if !ok {
		return protocol.Broker{}, fmt.Errorf("kafkawire: no leader for %s partition %d", f.Topic, f.Partitions[0].Partition)
	}
	return b, nil
}

// RawExchange writes the request and reads and decodes the response.
func (f *Fetch) RawExchange(rw io.ReadWriter) (protocol.Message, error) {
	if f.version < minFetchVersion {
		return nil, ErrBrokerTooOld
	}
	f.version = min(f.version, maxFetchVersion)
	f.correlation++
	f.req = f.appendRequest(f.req[:0])
	if _, err := rw.Write(f.req); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(rw, hdr[:]); err != nil {
		return nil, err
	}
	size := int(int32(binary.BigEndian.Uint32(hdr[:])))
	if size < 4 || size > MaxResponse {
		return nil, fmt.Errorf("kafkawire: fetch response of %d bytes", size)
	}
	if cap(f.resp) < size {
		f.resp = make([]byte, size)
	}
	f.resp = f.resp[:size]
	if _, err := io.ReadFull(rw, f.resp); err != nil {
		return nil, err
	}
	if c := int32(binary.BigEndian.Uint32(f.resp)); c != f.correlation {
		return nil, fmt.Errorf("kafkawire: fetch response for request %d, want %d", c, f.correlation)
	}
	if err := f.parse(f.resp[4:]); err != nil {
		return nil, err
	}
	return f, nil
}

// appendRequest encodes the request (header v1, Fetch v4 to v11) with its
// size prefix.
func (f *Fetch) appendRequest(b []byte) []byte {
	v := f.version
	b = append(b, 0, 0, 0, 0) // size, set below
	b = binary.BigEndian.AppendUint16(b, uint16(protocol.Fetch))
	b = binary.BigEndian.AppendUint16(b, uint16(v))
	b = binary.BigEndian.AppendUint32(b, uint32(f.correlation))
	b = appendString(b, f.ClientID)
	b = binary.BigEndian.AppendUint32(b, ^uint32(0)) // replica id -1: a consumer
	b = binary.BigEndian.AppendUint32(b, uint32(f.MaxWait.Milliseconds()))
	b = binary.BigEndian.AppendUint32(b, uint32(f.MinBytes))
	b = binary.BigEndian.AppendUint32(b, uint32(f.MaxBytes))
	b = append(b, 0) // isolation level: read uncommitted
	if v >= 7 {
		b = binary.BigEndian.AppendUint32(b, 0)          // session id: none
		b = binary.BigEndian.AppendUint32(b, ^uint32(0)) // session epoch -1: a full fetch, no session
	}
	b = binary.BigEndian.AppendUint32(b, 1)
	b = appendString(b, f.Topic)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Partitions)))
	for _, p := range f.Partitions {
		b = binary.BigEndian.AppendUint32(b, uint32(p.Partition))
		if v >= 9 {
			b = binary.BigEndian.AppendUint32(b, ^uint32(0)) // current leader epoch: unknown
		}
		b = binary.BigEndian.AppendUint64(b, uint64(p.Offset))
		if v >= 5 {
			b = binary.BigEndian.AppendUint64(b, ^uint64(0)) // log start offset: a consumer's -1
		}
		b = binary.BigEndian.AppendUint32(b, uint32(p.MaxBytes))
	}
	if v >= 7 {
		b = binary.BigEndian.AppendUint32(b, 0) // forgotten topics
	}
	if v >= 11 {
		b = appendString(b, "") // rack id
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// parse decodes a fetch response body (after the correlation id) of
// f.version into f.ErrorCode and f.Data, keeping only f.Topic's partitions.
func (f *Fetch) parse(body []byte) error {
	v := f.version
	d := decoder{b: body}
	f.ErrorCode = 0
	f.Data = f.Data[:0]
	d.int32() // throttle time
	if v >= 7 {
		f.ErrorCode = d.int16()
		d.int32() // session id
	}
	for range d.count() {
		name := d.str()
		for range d.count() {
			p := PartitionData{Partition: d.int32(), ErrorCode: d.int16(), HighWatermark: d.int64()}
			d.int64() // last stable offset
			if v >= 5 {
				d.int64() // log start offset
			}
			if n := d.count(); n > 0 {
				d.skip(16 * n) // aborted transactions: producer id, first offset
			}
			if v >= 11 {
				d.int32() // preferred read replica
			}
			if n := d.int32(); n > 0 {
				p.Records = d.bytes(int(n))
			}
			if d.err == nil && string(name) == f.Topic {
				f.Data = append(f.Data, p)
			}
		}
	}
	if d.err != nil {
		f.Data = f.Data[:0]
		return fmt.Errorf("kafkawire: malformed fetch response (v%d): %w", v, d.err)
	}
	return nil
}

var errShort = errors.New("truncated")

// decoder reads big-endian protocol fields; after the first failure every
// read returns zero and err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.err, d.b = errShort, nil
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) int16() int16 {
	if s := d.take(2); s != nil {
		return int16(binary.BigEndian.Uint16(s))
	}
	return 0
}

func (d *decoder) int32() int32 {
	if s := d.take(4); s != nil {
		return int32(binary.BigEndian.Uint32(s))
	}
	return 0
}

func (d *decoder) int64() int64 {
	if s := d.take(8); s != nil {
		return int64(binary.BigEndian.Uint64(s))
	}
	return 0
}

// count reads an array length; a null array (-1) is empty. A count larger
// than the bytes left could hold is an error, so that loops stay bounded.
func (d *decoder) count() int {
	n := int(d.int32())
	if n < 0 {
		return 0
	}
	if n > len(d.b) {
		d.err, d.b = errShort, nil
		return 0
	}
	return n
}

func (d *decoder) str() []byte {
	n := int(d.int16())
	if n < 0 {
		return nil
	}
	return d.take(n)
}

func (d *decoder) bytes(n int) []byte { return d.take(n) }

func (d *decoder) skip(n int) { d.take(n) }
