package kafkawire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/compress/snappy"
	"github.com/segmentio/kafka-go/protocol"
)

// testRecord is what a producer wrote.
type testRecord struct {
	key, value []byte
	headers    []protocol.Header
	time       time.Time
}

// encodeBatch encodes records as one record batch with kafka-go's producer
// code (protocol.RecordSet, magic 2) in codec, at baseOffset.
func encodeBatch(t testing.TB, codec compress.Compression, baseOffset int64, recs []testRecord) []byte {
	t.Helper()
	prs := make([]protocol.Record, len(recs))
	for i, r := range recs {
		prs[i] = protocol.Record{Time: r.time, Headers: r.headers}
		if r.key != nil {
			prs[i].Key = protocol.NewBytes(r.key)
		}
		if r.value != nil {
			prs[i].Value = protocol.NewBytes(r.value)
		}
	}
	rs := protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(codec), Records: protocol.NewRecordReader(prs...)}
	var buf bytes.Buffer
	if _, err := rs.WriteTo(&buf); err != nil {
		t.Fatalf("encode %s batch: %v", codec, err)
	}
	b := buf.Bytes()[4:] // the size prefix of a produce request's record set
	binary.BigEndian.PutUint64(b, uint64(baseOffset))
	return b
}

func randomRecords(rng *rand.Rand, n int) []testRecord {
	recs := make([]testRecord, n)
	for i := range recs {
		r := &recs[i]
		r.time = time.UnixMilli(1_700_000_000_000 + int64(rng.IntN(100_000)))
		if rng.IntN(4) > 0 {
			r.key = fmt.Appendf(nil, "visitor-%d", rng.IntN(1000))
		}
		switch rng.IntN(10) {
		case 0: // a tombstone: null value
		case 1:
			r.value = []byte{}
		default:
			r.value = bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, rng.IntN(2000))
		}
		for range rng.IntN(3) {
			r.headers = append(r.headers, protocol.Header{Key: fmt.Sprintf("h%d", rng.IntN(9)), Value: fmt.Appendf(nil, "v%d", rng.IntN(99))})
		}
	}
	return recs
}

var codecs = []compress.Compression{0, compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd}

// decodeAll reads every record of a record set.
func decodeAll(data []byte) (recs []Record, batches []Batch, err error) {
	var d Decompressor
	it := NewBatches(data)
	var b Batch
	for {
		ok, err := it.Next(&b)
		if err != nil || !ok {
			return recs, batches, err
		}
		batches = append(batches, b)
		rit, err := d.Records(&b)
		if err != nil {
			return recs, batches, err
		}
		var r Record
		for {
			ok, err := rit.Next(&r)
			if err != nil {
				return recs, batches, err
			}
			if !ok {
				break
			}
			// Copy: the next compressed batch reuses the buffer.
			c := r
			c.Key, c.Value, c.headers = clone(r.Key), clone(r.Value), clone(r.headers)
			recs = append(recs, c)
		}
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Records written by kafka-go's producer code, in every codec, read back
// field for field: offsets, timestamps, keys, values (null and empty kept
// apart) and headers in order.
func TestRecordsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, codec := range codecs {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			var set []byte
			var want []testRecord
			base := int64(1000)
			for range 3 {
				recs := randomRecords(rng, 1+rng.IntN(200))
				set = append(set, encodeBatch(t, codec, base, recs)...)
				want = append(want, recs...)
				base += int64(len(recs))
			}
			got, batches, err := decodeAll(set)
			if err != nil {
				t.Fatal(err)
			}
			if len(batches) != 3 || batches[0].Codec() != int(codec) || batches[2].LastOffset != base-1 {
				t.Fatalf("batches %+v", batches)
			}
			if next := NextOffset(set, 1000); next != base {
				t.Fatalf("NextOffset = %d, want %d", next, base)
			}
			if next := NextOffset(set[:len(set)-1], 1000); next != batches[2].BaseOffset {
				t.Fatalf("NextOffset without the last byte = %d, want %d", next, batches[2].BaseOffset)
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i, w := range want {
				g := got[i]
				if g.Offset != 1000+int64(i) || g.Timestamp != w.time.UnixMilli() {
					t.Fatalf("record %d: offset %d time %d, want %d %d", i, g.Offset, g.Timestamp, 1000+i, w.time.UnixMilli())
				}
				if !sameBytes(g.Key, w.key) || !sameBytes(g.Value, w.value) {
					t.Fatalf("record %d: key %q value %.20q, want %q %.20q", i, g.Key, g.Value, w.key, w.value)
				}
				var hs []protocol.Header
				for h := g.Headers(); h.Next(); {
					hs = append(hs, protocol.Header{Key: string(h.Key), Value: clone(h.Value)})
				}
				if fmt.Sprint(hs) != fmt.Sprint(w.headers) {
					t.Fatalf("record %d: headers %q, want %q", i, hs, w.headers)
				}
				for _, h := range w.headers {
					if v, ok := g.Header(h.Key); !ok || !bytes.Equal(v, firstHeader(w.headers, h.Key)) {
						t.Fatalf("record %d: Header(%q) = %q, %v", i, h.Key, v, ok)
					}
				}
				if _, ok := g.Header("absent"); ok {
					t.Fatalf("record %d: Header(absent) found", i)
				}
			}
		})
	}
}

// sameBytes tells nil (a null field) from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func firstHeader(hs []protocol.Header, key string) []byte {
	for _, h := range hs {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// A record set cut short by the fetch size: the complete batches are read,
// the partial one is reported, nothing fails.
func TestBatchesTruncated(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	first := encodeBatch(t, 0, 0, randomRecords(rng, 10))
	second := encodeBatch(t, compress.Lz4, 10, randomRecords(rng, 10))
	for cut := 0; cut < len(second); cut += 7 {
		set := append(append([]byte{}, first...), second[:cut]...)
		it := NewBatches(set)
		var b Batch
		n := 0
		for {
			ok, err := it.Next(&b)
			if err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			if !ok {
				break
			}
			n++
		}
		if n != 1 || it.Truncated() != (cut > 0) {
			t.Fatalf("cut at %d: %d batches, truncated %v", cut, n, it.Truncated())
		}
	}
}

func TestBatchesRefuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	good := encodeBatch(t, 0, 7, randomRecords(rng, 5))
	flip := func(i int) []byte { b := append([]byte{}, good...); b[i] ^= 0x40; return b }
	magic := func(m byte) []byte { b := append([]byte{}, good...); b[16] = m; return b }
	codec := func(c byte) []byte {
		b := append([]byte{}, good...)
		b[22] = b[22]&^7 | c
		binary.BigEndian.PutUint32(b[17:], crcOf(b[21:]))
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"magic 1", magic(1), ErrOldFormat},
		{"magic 0", magic(0), ErrOldFormat},
		{"magic 3", magic(3), ErrCorrupt},
		{"a flipped bit in a record", flip(len(good) - 3), ErrCorrupt},
		{"a flipped bit in the attributes", flip(22), ErrCorrupt},
		{"codec 5", codec(5), ErrCodec},
		{"gzip codec on plain records", codec(1), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeAll(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Control batches (transaction markers) are reported, so that the caller
// skips their offsets instead of storing the marker.
func TestControlBatch(t *testing.T) {
	b := encodeBatch(t, 0, 42, []testRecord{{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}}})
	attrs := binary.BigEndian.Uint16(b[21:]) | control | transactional
	binary.BigEndian.PutUint16(b[21:], attrs)
	binary.BigEndian.PutUint32(b[17:], crcOf(b[21:]))
	_, batches, err := decodeAll(b)
	if err != nil || len(batches) != 1 || !batches[0].Control() || !batches[0].Transactional() || batches[0].LastOffset != 42 {
		t.Fatalf("batches %+v, err %v", batches, err)
	}
}

// Decoding a plain batch allocates nothing.
func TestRecordsAllocateNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	set := encodeBatch(t, 0, 0, randomRecords(rng, 100))
	var d Decompressor
	allocs := testing.AllocsPerRun(100, func() {
		it := NewBatches(set)
		var b Batch
		var r Record
		for ok, _ := it.Next(&b); ok; ok, _ = it.Next(&b) {
			rit, _ := d.Records(&b)
			for ok, _ := rit.Next(&r); ok; ok, _ = rit.Next(&r) {
				_, _ = r.Header("pixel-format")
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per record set", allocs)
	}
}

func BenchmarkRecords(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	recs := randomRecords(rng, 1000)
	for _, codec := range []compress.Compression{0, compress.Lz4} {
		set := encodeBatch(b, codec, 0, recs)
		b.Run(fmt.Sprint(codec), func(b *testing.B) {
			var d Decompressor
			b.ReportAllocs()
			b.SetBytes(int64(len(set)))
			for b.Loop() {
				it := NewBatches(set)
				var bt Batch
				var r Record
				for ok, _ := it.Next(&bt); ok; ok, _ = it.Next(&bt) {
					rit, _ := d.Records(&bt)
					for ok, _ := rit.Next(&r); ok; ok, _ = rit.Next(&r) {
					}
				}
			}
		})
	}
}

// Snappy without the xerial framing, as librdkafka writes it (the Java
// client and kafka-go frame it): the batch is rebuilt around raw snappy.
func TestRecordsRawSnappy(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	want := randomRecords(rng, 50)
	plain := encodeBatch(t, 0, 100, want)
	var raw bytes.Buffer
	codec := &snappy.Codec{Framing: snappy.Unframed}
	w := codec.NewWriter(&raw)
	if _, err := w.Write(plain[batchHeaderSize:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(raw.Bytes(), []byte("\x82SNAPPY")) {
		t.Fatal("the writer framed the block")
	}
	b := append(append([]byte{}, plain[:batchHeaderSize]...), raw.Bytes()...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|uint16(compress.Snappy))
	binary.BigEndian.PutUint32(b[17:], crcOf(b[21:]))
	got, batches, err := decodeAll(b)
	if err != nil || len(batches) != 1 || batches[0].Codec() != int(compress.Snappy) || len(got) != len(want) {
		t.Fatalf("%d records in %+v, err %v", len(got), batches, err)
	}
	for i := range want {
		if !sameBytes(got[i].Value, want[i].value) || got[i].Offset != 100+int64(i) {
			t.Fatalf("record %d: offset %d value %.20q", i, got[i].Offset, got[i].Value)
		}
	}
}

// A fetch that names no partition has no leader to go to: Broker says so
// instead of indexing an empty list.
func TestFetchBrokerWithoutPartitions(t *testing.T) {
	f := &Fetch{Topic: "pixel.events"}
	c := protocol.Cluster{Topics: map[string]protocol.Topic{"pixel.events": {}}}
	if _, err := f.Broker(c); err == nil {
		t.Fatal("Broker of a fetch without partitions: nil error")
	}
}
