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
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// shopEvents are what a shop's pixel sends most (as in chstore's
// BenchmarkRowsAppend): page views, a product view, a cart and a purchase.
func shopEvents() []event.Event {
	b := func(s string) []byte { return []byte(s) }
	ua := b("Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1")
	return []event.Event{
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c086ff"), PixelID: b("demo"), VisitorID: b("sc8cPxnWCqTSehxeTpAuZA"), SessionID: b("xchQpZBz47djqMjBrN2alA"),
			Name: b("PageView"), TS: 1_795_765_491, ReceivedAt: 1_795_765_492, URL: b("https://shop.example.com/collections/new-arrivals"),
			Referrer: b("https://www.google.com/"), IP: b("203.0.113.7"), UserAgent: ua},
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c08700"), PixelID: b("demo"), VisitorID: b("K2f8dLq0ZrT5wXy1Abc9Qe"), SessionID: b("Pq1Rz8Ty5Uv2Wx3Yz4Ab5C"),
			Name: b("PageView"), TS: 1_795_765_493, ReceivedAt: 1_795_765_493, URL: b("https://shop.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2026"),
			IP: b("2001:db8::4b1e:9a2c"), UserAgent: b("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36")},
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c08701"), PixelID: b("demo"), VisitorID: b("sc8cPxnWCqTSehxeTpAuZA"), SessionID: b("xchQpZBz47djqMjBrN2alA"),
			Name: b("ViewContent"), TS: 1_795_765_501, ReceivedAt: 1_795_765_502, URL: b("https://shop.example.com/products/sch%C3%B6ne-tasse-steingut"),
			Value: 24.9, Currency: b("EUR"), ContentIDs: [][]byte{b("SKU-20931")}, IP: b("203.0.113.7"), UserAgent: ua,
			Props: b(`{"content_type":"product","page_type":"product"}`)},
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c08703"), PixelID: b("demo"), VisitorID: b("sc8cPxnWCqTSehxeTpAuZA"), SessionID: b("xchQpZBz47djqMjBrN2alA"),
			Name: b("Purchase"), TS: 1_795_765_611, ReceivedAt: 1_795_765_612, URL: b("https://shop.example.com/checkout/thank-you"),
			Referrer: b("https://shop.example.com/checkout"), Value: 74.8, Currency: b("EUR"), OrderID: b("482913377"),
			ContentIDs: [][]byte{b("SKU-20931"), b("SKU-33107"), b("SKU-10482")}, IP: b("203.0.113.7"), UserAgent: ua,
			Props: b(`{"coupon":"SPRING10","num_items":"3","content_type":"product"}`)},
	}
}

// testFetch is a decoded fetch response of perPartition records in each of
// partitions, in record batches of 500 as a producer writes them, with the
// collector's pixel-format header.
func testFetch(t testing.TB, partitions, perPartition int) *kafkawire.Fetch {
	t.Helper()
	evs := shopEvents()
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
