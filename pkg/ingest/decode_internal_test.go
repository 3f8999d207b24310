package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/pixel-pipeline/pixel/internal/kafkawire"
	"github.com/pixel-pipeline/pixel/pkg/batch"
	"github.com/pixel-pipeline/pixel/pkg/chstore/chstoretest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// testFetch is a decoded fetch response of perPartition records in each of
// partitions, in record batches of 500 as a producer writes them, with the
// collector's pixel-format header.
func testFetch(t testing.TB, partitions, perPartition int) *kafkawire.Fetch {
	t.Helper()
	evs := chstoretest.ShopEvents()
	f := &kafkawire.Fetch{Topic: "pixel.events"}
	for p := range partitions {
		var set []byte
		for base := 0; base < perPartition; base += 500 {
			var recs []protocol.Record
			for i := base; i < min(base+500, perPartition); i++ {
				value := event.AppendJSON(nil, &evs[i%len(evs)])
				recs = append(recs, protocol.Record{
					Time: time.UnixMilli(1_795_765_491_000), Key: protocol.NewBytes(evs[i%len(evs)].VisitorID), Value: protocol.NewBytes(value),
					Headers: []protocol.Header{{Key: event.Header, Value: []byte(event.Version)}},
				})
			}
			rs := protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(recs...)}
			var buf bytes.Buffer
			if _, err := rs.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()[4:]
			binary.BigEndian.PutUint64(b, uint64(base))
			set = append(set, b...)
		}
		f.Partitions = append(f.Partitions, kafkawire.FetchPartition{Partition: int32(p)})
		f.Data = append(f.Data, kafkawire.PartitionData{Partition: int32(p), HighWatermark: int64(perPartition), Records: set})
	}
	return f
}

// decodeIngester decodes without inserting: its batches never fill.
func decodeIngester() *Ingester {
	cfg := DefaultConfig()
	cfg.Batch = batch.Policy{MaxRows: 1 << 30, MaxBytes: 1 << 40, MaxAge: time.Hour}
	return New(cfg, nil, zerolog.Nop(), metrics.NewSet())
}

// BenchmarkDecode is the consumer's work per message between the socket and
// the insert: the record batch decoded in place, the version header checked,
// the event parsed and validated, and the row appended to the columns.
func BenchmarkDecode(b *testing.B) {
	const perPartition = 2500
	f := testFetch(b, 4, perPartition)
	in := decodeIngester()
	gen := &generation{stop: make(chan struct{})}
	stalled := &stalledSet{}
	ctx := context.Background()
	size := 0
	for _, d := range f.Data {
		size += len(d.Records)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	in.decode(ctx, f, gen, stalled) // the columns grow to their size once
	in.cur.reset()
	for b.Loop() {
		in.decode(ctx, f, gen, stalled)
		in.cur.reset()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4*perPartition), "ns/msg")
}

// Decoding a fetch response allocates nothing once the batch's columns have
// grown to their size.
func TestDecodeAllocatesNothing(t *testing.T) {
	f := testFetch(t, 4, 1000)
	in := decodeIngester()
	gen := &generation{stop: make(chan struct{})}
	stalled := &stalledSet{}
	ctx := context.Background()
	in.decode(ctx, f, gen, stalled)
	if n := in.cur.rows.Len(); n != 4000 {
		t.Fatalf("%d rows decoded, want 4000", n)
	}
	in.cur.reset()
	allocs := testing.AllocsPerRun(20, func() {
		in.decode(ctx, f, gen, stalled)
		in.cur.reset()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per fetch response of 4000 messages", allocs)
	}
}

// A partition whose records cannot be decoded (here a corrupt batch after
// good ones) is stopped there: its good records before the bad batch are in
// the batch, nothing after it, the other partitions go on, and Ready says
// which partition stopped where.
func TestDecodeStopsAPartitionAtABadBatch(t *testing.T) {
	f := testFetch(t, 2, 1000) // two batches of 500 per partition
	d := &f.Data[1]
	bad := append([]byte{}, d.Records...)
	bad[len(bad)-10] ^= 0xff // in the second batch: its CRC fails
	d.Records = bad
	in := decodeIngester()
	stalled := &stalledSet{}
	in.stalled.Store(stalled)
	in.decode(context.Background(), f, &generation{stop: make(chan struct{})}, stalled)
	if n := in.cur.rows.Len(); n != 1000+500 {
		t.Fatalf("%d rows, want partition 0's 1000 and partition 1's first 500", n)
	}
	ranges := in.cur.batch.Ranges()
	if len(ranges) != 2 || ranges[0].Last != 999 || ranges[1].Partition != 1 || ranges[1].Last != 499 {
		t.Fatalf("ranges %+v: partition 1 must end before the bad batch", ranges)
	}
	if !stalled.has(1) || stalled.has(0) {
		t.Fatal("partition 1 not stopped, or partition 0 stopped")
	}
	err := in.Ready()
	if err == nil || !strings.Contains(err.Error(), "partition 1: offset 500 and later not read") || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("Ready() = %v", err)
	}
	// The next response of the stopped partition is not decoded.
	in.decode(context.Background(), testFetch(t, 2, 10), &generation{stop: make(chan struct{})}, stalled)
	if n := in.cur.rows.Len(); n != 1500+10 {
		t.Fatalf("%d rows after the next response, want 10 more from partition 0 only", n)
	}
}
