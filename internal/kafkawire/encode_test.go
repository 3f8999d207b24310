package kafkawire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The batches are read back with two decoders that share no code with the
// encoder: franz-go's kmsg (the records, decompressed with kafka-go's codecs)
// and kafka-go's protocol.RecordSet (which also checks the CRC). Uncompressed
// batches are also compared byte for byte with the batch kmsg encodes.

type rec struct {
	key, value []byte
	ts         int64
}

var testHeaders = []Header{{Key: "pixel-format", Value: []byte("1")}}

func codecOf(c compress.Compression) compress.Codec {
	if c == compress.None {
		return nil
	}
	return c.Codec()
}

// encode appends recs as one batch to what e holds and finishes it.
func encode(t testing.TB, e *Encoder, recs []rec) []byte {
	t.Helper()
	for i, r := range recs {
		before, most := e.Size(), e.MaxRecordSize(r.key, r.value)
		if i == 0 {
			most += headerEnd
		}
		e.Append(r.key, r.value, r.ts)
		if added := e.Size() - before; added > most {
			t.Fatalf("Append added %d bytes, more than MaxRecordSize %d", added, most)
		}
	}
	out, err := e.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkKmsg decodes p with kmsg and compares every field with recs.
func checkKmsg(t testing.TB, p []byte, recs []rec, headers []Header, c compress.Compression) {
	t.Helper()
	if got := int(binary.BigEndian.Uint32(p)); got != len(p)-4 {
		t.Fatalf("size prefix %d for %d bytes", got, len(p)-4)
	}
	var b kmsg.RecordBatch
	if err := b.ReadFrom(p[4:]); err != nil {
		t.Fatalf("kmsg cannot read the batch: %v", err)
	}
	first, last := recs[0].ts, recs[0].ts
	for _, r := range recs {
		last = max(last, r.ts)
	}
	switch {
	case b.FirstOffset != 0, int(b.Length) != len(p)-16, b.PartitionLeaderEpoch != -1, b.Magic != 2:
		t.Fatalf("batch frame: offset %d length %d (want %d) epoch %d magic %d", b.FirstOffset, b.Length, len(p)-16, b.PartitionLeaderEpoch, b.Magic)
	case uint32(b.CRC) != crc32.Checksum(p[4+21:], crc32.MakeTable(crc32.Castagnoli)):
		t.Fatalf("CRC %08x is not the CRC-32C of attributes … end", uint32(b.CRC))
	case b.Attributes != int16(c):
		t.Fatalf("attributes %#x, want compression %d", b.Attributes, c)
	case b.LastOffsetDelta != int32(len(recs)-1), b.NumRecords != int32(len(recs)):
		t.Fatalf("lastOffsetDelta %d, records %d, want %d records", b.LastOffsetDelta, b.NumRecords, len(recs))
	case b.FirstTimestamp != first, b.MaxTimestamp != last:
		t.Fatalf("timestamps first %d max %d, want %d %d", b.FirstTimestamp, b.MaxTimestamp, first, last)
	case b.ProducerID != -1, b.ProducerEpoch != -1, b.FirstSequence != -1:
		t.Fatalf("producer %d epoch %d sequence %d, want -1s", b.ProducerID, b.ProducerEpoch, b.FirstSequence)
	}
	raw := b.Records
	if c != compress.None {
		r := c.Codec().NewReader(bytes.NewReader(raw))
		var err error
		if raw, err = io.ReadAll(r); err != nil {
			t.Fatalf("%s: cannot decompress: %v", c, err)
		}
		_ = r.Close()
	}
	for i, want := range recs {
		length, n := binary.Varint(raw)
		if n <= 0 || int(length) > len(raw)-n {
			t.Fatalf("record %d: bad length varint in % x", i, raw[:min(len(raw), 10)])
		}
		var r kmsg.Record
		if err := r.ReadFrom(raw[:n+int(length)]); err != nil {
			t.Fatalf("record %d: kmsg cannot read it: %v", i, err)
		}
		raw = raw[n+int(length):]
		if r.Attributes != 0 || r.OffsetDelta != int32(i) || first+r.TimestampDelta64 != want.ts {
			t.Fatalf("record %d: attributes %d offsetDelta %d timestamp %d, want 0 %d %d", i, r.Attributes, r.OffsetDelta, first+r.TimestampDelta64, i, want.ts)
		}
		checkBytes(t, fmt.Sprintf("record %d key", i), r.Key, want.key)
		checkBytes(t, fmt.Sprintf("record %d value", i), r.Value, want.value)
		if len(r.Headers) != len(headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(r.Headers), len(headers))
		}
		for j, h := range headers {
			if r.Headers[j].Key != h.Key {
				t.Fatalf("record %d header %d: key %q, want %q", i, j, r.Headers[j].Key, h.Key)
			}
			checkBytes(t, fmt.Sprintf("record %d header %d value", i, j), r.Headers[j].Value, h.Value)
		}
	}
	if len(raw) != 0 {
		t.Fatalf("%d bytes after the last record", len(raw))
	}
}

// checkKafkaGo decodes p with kafka-go's protocol package, which checks the
// CRC and decompresses.
func checkKafkaGo(t testing.TB, p []byte, recs []rec, headers []Header) {
	t.Helper()
	var rs protocol.RecordSet
	if _, err := rs.ReadFrom(bytes.NewReader(p)); err != nil {
		t.Fatalf("kafka-go cannot read the batch: %v", err)
	}
	if rs.Version != 2 {
		t.Fatalf("kafka-go read version %d", rs.Version)
	}
	for i, want := range recs {
		r, err := rs.Records.ReadRecord()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.Offset != int64(i) || r.Time.UnixMilli() != want.ts {
			t.Fatalf("record %d: offset %d time %d, want %d %d", i, r.Offset, r.Time.UnixMilli(), i, want.ts)
		}
		for _, f := range []struct {
			what      string
			got       protocol.Bytes
			want      []byte
			wantIsNil bool
		}{{"key", r.Key, want.key, want.key == nil}, {"value", r.Value, want.value, want.value == nil}} {
			if f.got == nil {
				if !f.wantIsNil {
					t.Fatalf("record %d: %s is null, want %q", i, f.what, f.want)
				}
				continue
			}
			b, err := protocol.ReadAll(f.got)
			if err != nil {
				t.Fatal(err)
			}
			checkBytes(t, fmt.Sprintf("record %d %s", i, f.what), b, f.want)
		}
		if len(r.Headers) != len(headers) {
			t.Fatalf("record %d: %d headers", i, len(r.Headers))
		}
		for j, h := range headers {
			if r.Headers[j].Key != h.Key || !bytes.Equal(r.Headers[j].Value, h.Value) {
				t.Fatalf("record %d header %d: %q=%q", i, j, r.Headers[j].Key, r.Headers[j].Value)
			}
		}
	}
	if _, err := rs.Records.ReadRecord(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last record: %v, want EOF", err)
	}
}

// checkBytes compares decoded bytes with the encoded ones, null included.
func checkBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
		t.Fatalf("%s = %q (null: %v), want %q (null: %v)", what, got, got == nil, want, want == nil)
	}
}

// kmsgEncode is the same batch encoded by franz-go's kmsg, uncompressed.
func kmsgEncode(recs []rec, headers []Header) []byte {
	var records []byte
	for i, r := range recs {
		kr := kmsg.Record{TimestampDelta64: r.ts - recs[0].ts, OffsetDelta: int32(i), Key: r.key, Value: r.value}
		kr.TimestampDelta = int32(kr.TimestampDelta64)
		for _, h := range headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		// The length counts what follows it: encode once to learn it.
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		records = kr.AppendTo(records)
	}
	maxTS := recs[0].ts
	for _, r := range recs {
		maxTS = max(maxTS, r.ts)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: recs[0].ts, MaxTimestamp: maxTS, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: records,
	}
	enc := b.AppendTo(nil)
	b.Length = int32(len(enc) - 12)
	enc = b.AppendTo(enc[:0])
	b.CRC = int32(crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
	enc = b.AppendTo(enc[:0])
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(enc))), enc...)
}

func TestBatchRoundTrip(t *testing.T) {
	const ts = 1_795_765_491_123
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 kB: multi-byte lengths
	many := make([]rec, 3000)
	for i := range many {
		many[i] = rec{[]byte(fmt.Sprintf("visitor-%d", i%37)), []byte(strings.Repeat("v", i%300)), ts + int64(i/10)}
	}
	cases := []struct {
		name    string
		recs    []rec
		headers []Header
	}{
		{"one", []rec{{[]byte("k"), []byte("v"), ts}}, testHeaders},
		{"no headers", []rec{{[]byte("k"), []byte("v"), ts}, {[]byte("k2"), []byte("v2"), ts + 1}}, nil},
		{"two headers, a null header value", []rec{{[]byte("k"), []byte("v"), ts}}, []Header{{"a", []byte("x")}, {"b", nil}}},
		{"null and empty keys and values", []rec{{nil, nil, ts}, {[]byte{}, []byte{}, ts}, {nil, []byte("v"), ts}, {[]byte("k"), nil, ts}}, testHeaders},
		{"large value", []rec{{[]byte("k"), big, ts}, {[]byte("k"), big[:200], ts}}, testHeaders},
		{"timestamps out of order", []rec{{[]byte("a"), []byte("1"), ts}, {[]byte("b"), []byte("2"), ts - 5000}, {[]byte("c"), []byte("3"), ts + 86_400_000}}, testHeaders},
		{"timestamp zero and negative", []rec{{[]byte("a"), []byte("1"), 0}, {[]byte("b"), []byte("2"), -1}}, testHeaders},
		{"3000 records", many, testHeaders},
	}
	for _, c := range codecs {
		e := NewEncoder(codecOf(c), testHeaders...) // reused across cases with the same headers
		for _, tc := range cases {
			t.Run(c.String()+"/"+tc.name, func(t *testing.T) {
				ee := e
				if len(tc.headers) != 1 || tc.headers[0].Key != testHeaders[0].Key {
					ee = NewEncoder(codecOf(c), tc.headers...)
				}
				ee.Reset()
				p := encode(t, ee, tc.recs)
				checkKmsg(t, p, tc.recs, tc.headers, c)
				checkKafkaGo(t, p, tc.recs, tc.headers)
				if c == compress.None {
					if want := kmsgEncode(tc.recs, tc.headers); !bytes.Equal(p, want) {
						t.Fatalf("bytes differ from kmsg's encoding of the same batch:\n got % x\nwant % x", p[:min(len(p), 96)], want[:min(len(want), 96)])
					}
				}
			})
		}
	}
}

// TestSeveralBatchesInOneBuffer: the batches of one Encoder, built one
// after the other while its buffer grows, all stay intact until Reset.
func TestSeveralBatchesInOneBuffer(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			e := NewEncoder(codecOf(c), testHeaders...)
			if p, err := e.Finish(); p != nil || err != nil {
				t.Fatalf("empty batch: %q, %v; want nil, nil", p, err)
			}
			var sets [][]rec
			var out [][]byte
			for i := range 20 {
				var recs []rec
				for j := range 1 + i*i {
					recs = append(recs, rec{[]byte(fmt.Sprintf("k%d", j%7)), bytes.Repeat([]byte{byte('a' + i)}, 50+j), int64(1000*i + j)})
				}
				sets = append(sets, recs)
				out = append(out, encode(t, e, recs))
				if e.Len() != 0 || e.Size() != 0 {
					t.Fatalf("after Finish: Len %d, Size %d", e.Len(), e.Size())
				}
			}
			for i, p := range out {
				checkKmsg(t, p, sets[i], testHeaders, c)
				checkKafkaGo(t, p, sets[i], testHeaders)
			}
			e.Reset()
			p := encode(t, e, sets[3])
			checkKmsg(t, p, sets[3], testHeaders, c)
		})
	}
}

// TestCRCCoversAttributesToEnd: a change anywhere from the attributes to the
// end is caught by the CRC (kafka-go's decoder checks it), a change before
// it is not the CRC's business.
func TestCRCCoversAttributesToEnd(t *testing.T) {
	p := encode(t, NewEncoder(nil, testHeaders...), []rec{{[]byte("key"), []byte("value"), 1000}, {[]byte("key2"), []byte("value2"), 1001}})
	for _, off := range []int{4 + 21, 4 + 30, 4 + 60, len(p) - 1} {
		bad := bytes.Clone(p)
		bad[off] ^= 0x40
		var rs protocol.RecordSet
		if _, err := rs.ReadFrom(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "crc32") {
			t.Fatalf("byte %d changed: kafka-go read it with error %v, want a CRC mismatch", off, err)
		}
	}
}

// TestAppendAllocatesNothing: once its buffer has grown, an Encoder encodes
// without allocating.
func TestAppendAllocatesNothing(t *testing.T) {
	e := NewEncoder(nil, testHeaders...)
	key, value := []byte("sc8cPxnWCqTSehxeTpAuZA"), bytes.Repeat([]byte("x"), 700)
	fill := func() {
		e.Reset()
		for i := range 100 {
			e.Append(key, value, int64(1_795_765_491_000+i))
			if i%30 == 29 {
				if _, err := e.Finish(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := e.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	fill()
	if n := testing.AllocsPerRun(100, fill); n != 0 {
		t.Fatalf("%v allocations per batch of 100 records", n)
	}
}

// FuzzBatch encodes records cut from the fuzzer's bytes and reads them back.
func FuzzBatch(f *testing.F) {
	f.Add([]byte("key\x00value\x00k2\x00"), int64(1_795_765_491_000), uint8(0))
	f.Add([]byte("\x00\x00\x00"), int64(-5), uint8(3))
	f.Add(bytes.Repeat([]byte("ab\x00"), 300), int64(1<<40), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, ts int64, codec uint8) {
		c := codecs[int(codec)%len(codecs)]
		ts %= 1 << 50 // Kafka timestamps are milliseconds of this era, not any int64
		// NUL-separated fields, alternately keys and values; a field that
		// is "~" stands for null; timestamps step by the field lengths.
		fields := bytes.Split(data, []byte{0})
		var recs []rec
		for i := 0; i+1 < len(fields); i += 2 {
			k, v := fields[i], fields[i+1]
			if string(k) == "~" {
				k = nil
			}
			if string(v) == "~" {
				v = nil
			}
			recs = append(recs, rec{k, v, ts + int64(len(k)) - int64(len(v))})
		}
		if len(recs) == 0 {
			return
		}
		// Two batches in one Encoder: the first stays intact while the
		// second is built after it.
		e := NewEncoder(codecOf(c), testHeaders...)
		halves := [][]rec{recs[:(len(recs)+1)/2], recs[(len(recs)+1)/2:]}
		var out [][]byte
		for _, h := range halves {
			if len(h) > 0 {
				out = append(out, encode(t, e, h))
			}
		}
		for i, p := range out {
			checkKmsg(t, p, halves[i], testHeaders, c)
			checkKafkaGo(t, p, halves[i], testHeaders)
			if c == compress.None && !bytes.Equal(p, kmsgEncode(halves[i], testHeaders)) {
				t.Fatal("bytes differ from kmsg's encoding")
			}
		}
	})
}

// BenchmarkAppend is the encoder's cost per record of a collector-sized
// event, CRC included (Bytes every 100 records).
func BenchmarkAppend(b *testing.B) {
	e := NewEncoder(nil, testHeaders...)
	key, value := []byte("sc8cPxnWCqTSehxeTpAuZA"), bytes.Repeat([]byte("x"), 680)
	b.SetBytes(int64(len(key) + len(value)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%100 == 0 {
			if _, err := e.Finish(); err != nil {
				b.Fatal(err)
			}
			e.Reset()
		}
		e.Append(key, value, int64(1_795_765_491_000+i))
	}
}
