package kafkawire

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/segmentio/kafka-go/compress"
)

// respPartition is one partition of a fetch response built by the tests.
type respPartition struct {
	topic     string
	partition int32
	errorCode int16
	hw        int64
	aborted   int // aborted transactions listed
	records   []byte
	null      bool // records null rather than empty
}

// appendResponse encodes a fetch response body of version v (after the
// correlation id), as a broker writes it.
func appendResponse(b []byte, v int16, parts []respPartition) []byte {
	be := binary.BigEndian
	b = be.AppendUint32(b, 7) // throttle
	if v >= 7 {
		b = be.AppendUint16(b, 0)
		b = be.AppendUint32(b, 0)
	}
	// One topic entry per partition: brokers group them, parsing must not care.
	b = be.AppendUint32(b, uint32(len(parts)))
	for _, p := range parts {
		b = appendString(b, p.topic)
		b = be.AppendUint32(b, 1)
		b = be.AppendUint32(b, uint32(p.partition))
		b = be.AppendUint16(b, uint16(p.errorCode))
		b = be.AppendUint64(b, uint64(p.hw))
		b = be.AppendUint64(b, uint64(p.hw)) // last stable offset
		if v >= 5 {
			b = be.AppendUint64(b, 0) // log start offset
		}
		if p.aborted == 0 {
			b = be.AppendUint32(b, ^uint32(0)) // null
		} else {
			b = be.AppendUint32(b, uint32(p.aborted))
			for i := range p.aborted {
				b = be.AppendUint64(b, uint64(i))
				b = be.AppendUint64(b, uint64(i*10))
			}
		}
		if v >= 11 {
			b = be.AppendUint32(b, ^uint32(0))
		}
		if p.null {
			b = be.AppendUint32(b, ^uint32(0))
		} else {
			b = be.AppendUint32(b, uint32(len(p.records)))
			b = append(b, p.records...)
		}
	}
	return b
}

// Fetch responses of every version this package speaks are parsed into the
// topic's partitions, whatever else the broker put around them.
func TestParseFetchResponse(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	set := encodeBatch(t, compress.Lz4, 40, randomRecords(rng, 20))
	parts := []respPartition{
		{topic: "pixel.events", partition: 2, hw: 60, records: set, aborted: 2},
		{topic: "other", partition: 0, hw: 5, records: []byte("ignored")},
		{topic: "pixel.events", partition: 0, errorCode: 1, hw: 9, null: true},
		{topic: "pixel.events", partition: 1, hw: 0},
	}
	for v := int16(minFetchVersion); v <= maxFetchVersion; v++ {
		f := &Fetch{Topic: "pixel.events", version: v}
		if err := f.parse(appendResponse(nil, v, parts)); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if len(f.Data) != 3 {
			t.Fatalf("v%d: %d partitions, want pixel.events' 3", v, len(f.Data))
		}
		got := f.Data[0]
		if got.Partition != 2 || got.HighWatermark != 60 || got.ErrorCode != 0 || !bytes.Equal(got.Records, set) {
			t.Fatalf("v%d: %+v", v, got)
		}
		if f.Data[1].ErrorCode != 1 || f.Data[1].Records != nil || f.Data[2].Records != nil {
			t.Fatalf("v%d: %+v", v, f.Data[1:])
		}
		// Every cut is an error, never a partial answer.
		body := appendResponse(nil, v, parts)
		for cut := 0; cut < len(body); cut += 13 {
			if err := f.parse(body[:cut]); err == nil || len(f.Data) != 0 {
				t.Fatalf("v%d: cut at %d of %d: err %v, %d partitions", v, cut, len(body), err, len(f.Data))
			}
		}
	}
}

// The request carries what was asked, in the layout of its version.
func TestAppendRequest(t *testing.T) {
	f := &Fetch{ClientID: "c", Topic: "t", Partitions: []FetchPartition{{Partition: 3, Offset: 77, MaxBytes: 1000}}, MaxWait: 250e6, MinBytes: 1, MaxBytes: 4 << 20}
	sizes := map[int16]int{}
	for v := int16(minFetchVersion); v <= maxFetchVersion; v++ {
		f.version, f.correlation = v, 9
		b := f.appendRequest(nil)
		be := binary.BigEndian
		if int(be.Uint32(b)) != len(b)-4 || be.Uint16(b[4:]) != 1 || int16(be.Uint16(b[6:])) != v || be.Uint32(b[8:]) != 9 {
			t.Fatalf("v%d: header % x", v, b[:12])
		}
		if !bytes.Contains(b, be.AppendUint64(nil, 77)) || !bytes.Contains(b, []byte("\x00\x01t")) {
			t.Fatalf("v%d: no offset or topic in % x", v, b)
		}
		sizes[v] = len(b)
	}
	// Each version adds exactly its fields: v5 log start offset, v7
	// session and forgotten topics, v9 leader epoch, v11 rack.
	for v, grow := range map[int16]int{5: 8, 6: 0, 7: 12, 8: 0, 9: 4, 10: 0, 11: 2} {
		if sizes[v]-sizes[v-1] != grow {
			t.Errorf("v%d is %d bytes longer than v%d, want %d", v, sizes[v]-sizes[v-1], v-1, grow)
		}
	}
}

// smallRecords keep the fuzzer's inputs small: the fuzzer minimizes every
// new input it finds, and large ones take it minutes.
func smallRecords(rng *rand.Rand, n int) []testRecord {
	recs := randomRecords(rng, n)
	for i := range recs {
		if len(recs[i].value) > 12 {
			recs[i].value = recs[i].value[:12]
		}
	}
	return recs
}

func fuzzSeeds(f *testing.F) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, codec := range codecs {
		set := encodeBatch(f, codec, 0, smallRecords(rng, 3))
		f.Add(set)
		f.Add(set[:len(set)/2])
		f.Add(append(set, encodeBatch(f, 0, 3, smallRecords(rng, 2))...))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 17))
}

// FuzzRecords feeds arbitrary record sets to the decoder: it never panics or
// loops, and what it returns keeps its invariants. The CRC would stop most
// mutations at the batch header, so half the inputs (by their first byte)
// get a valid one: a single batch of the input's length, magic 2, whatever
// its records and compressed bytes hold.
func FuzzRecords(f *testing.F) {
	fuzzSeeds(f)
	var d Decompressor
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= batchHeaderSize && data[0]&1 == 0 {
			data = append([]byte{}, data...)
			binary.BigEndian.PutUint32(data[8:], uint32(len(data)-12))
			data[16] = 2
			binary.BigEndian.PutUint32(data[17:], crc32.Checksum(data[21:], castagnoli))
		}
		it := NewBatches(data)
		var b Batch
		for {
			ok, err := it.Next(&b)
			if err != nil || !ok {
				break
			}
			if b.LastOffset < b.BaseOffset || b.NumRecords < 0 {
				t.Fatalf("batch %+v", b)
			}
			recs, err := d.Records(&b)
			if err != nil {
				continue
			}
			n := int32(0)
			var r Record
			for {
				ok, err := recs.Next(&r)
				if err != nil || !ok {
					break
				}
				n++
				if r.Offset < b.BaseOffset || r.Offset > b.LastOffset || n > b.NumRecords {
					t.Fatalf("record %d at offset %d in batch %d-%d of %d records", n, r.Offset, b.BaseOffset, b.LastOffset, b.NumRecords)
				}
				for h := r.Headers(); h.Next(); {
					_ = h.Key
				}
				_, _ = r.Header("pixel-format")
			}
		}
		_ = NextOffset(data, 0)
	})
}

// FuzzFetchResponse feeds arbitrary response bodies to the parser, of every
// version: it never panics, and the record sets it returns lie inside the
// body.
func FuzzFetchResponse(f *testing.F) {
	rng := rand.New(rand.NewPCG(17, 18))
	set := encodeBatch(f, 0, 0, smallRecords(rng, 2))
	for v := int16(minFetchVersion); v <= maxFetchVersion; v++ {
		f.Add(uint8(v), appendResponse(nil, v, []respPartition{{topic: "t", partition: 0, hw: 4, records: set, aborted: 1}, {topic: "t", partition: 1, null: true}}))
	}
	f.Fuzz(func(t *testing.T, v uint8, body []byte) {
		fe := &Fetch{Topic: "t", version: int16(minFetchVersion + int(v)%(maxFetchVersion-minFetchVersion+1))}
		if err := fe.parse(body); err != nil {
			return
		}
		for _, d := range fe.Data {
			if len(d.Records) > len(body) {
				t.Fatalf("records of %d bytes from a body of %d", len(d.Records), len(body))
			}
		}
	})
}
