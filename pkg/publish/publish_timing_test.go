package publish_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/publish"
)

// benchEvent is a returning visitor's purchase as the collector encodes it.
var benchEvent = event.AppendJSON(nil, &event.Event{
	EventID: []byte("01a21bf6-d56d-74e3-925c-612785c086ff"), PixelID: []byte("demo"),
	VisitorID: []byte("sc8cPxnWCqTSehxeTpAuZA"), SessionID: []byte("xchQpZBz47djqMjBrN2alA"),
	Name: []byte("Purchase"), TS: 1_795_765_491, ReceivedAt: 1_795_765_492,
	URL:      []byte("https://shop.example.com/checkout/thank-you?utm_source=google&utm_medium=cpc&utm_campaign=spring_sale_2026"),
	Referrer: []byte("https://shop.example.com/cart"), Value: 129.99, Currency: []byte("EUR"), OrderID: []byte("482913377"),
	ContentIDs: [][]byte{[]byte("SKU-10482"), []byte("SKU-20931")}, IP: []byte("203.0.113.7"),
	UserAgent: []byte("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36"),
	Props:     []byte(`{"coupon":"SPRING10","page_type":"checkout"}`),
})

// benchKeys are visitor ids, spread over the workers' queues.
var benchKeys = func() [][]byte {
	keys := make([][]byte, 64)
	for i := range keys {
		keys[i] = []byte("visitor-" + string(rune('A'+i%26)) + string(rune('a'+i/26)) + "-xQpZBz47djqMjBr")
	}
	return keys
}()

// benchPublisher is a Publisher with the collector's defaults writing to an
// in-process kfake broker; close flushes and closes it (once, also at the
// end of the benchmark).
func benchPublisher(b *testing.B) (p *publish.Publisher, close func() error) {
	b.Helper()
	return benchPublisherOn(b, devstacktest.Broker(b, partitions, topic))
}

func benchPublisherOn(b *testing.B, c *kfake.Cluster) (p *publish.Publisher, close func() error) {
	b.Helper()
	cfg := publish.DefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.Topic = topic
	p, err := publish.New(cfg, zerolog.Nop(), metrics.NewSet())
	if err != nil {
		b.Fatal(err)
	}
	close = sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return p.Close(ctx)
	})
	b.Cleanup(func() { _ = close() })
	if err := p.Probe(context.Background()); err != nil {
		b.Fatal(err)
	}
	return p, close
}

// BenchmarkPublishEnqueue is what the collector's handler pays per event:
// Acquire, fill the key and value, Publish. The queue is kept from filling
// (the loop waits, untimed, while it is more than half full), so every
// Publish takes the queued path, never the drop. Allocations count the
// whole process, the workers writing to the broker included.
func BenchmarkPublishEnqueue(b *testing.B) {
	p, _ := benchPublisher(b)
	half := publish.DefaultConfig().QueueSize / 2
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	dropped := 0
	for i := 0; b.Loop(); i++ {
		if i%1024 == 0 && p.QueueLen() > half {
			b.StopTimer()
			for p.QueueLen() > half/4 {
				time.Sleep(100 * time.Microsecond)
			}
			b.StartTimer()
		}
		m := p.Acquire()
		m.Key = append(m.Key[:0], benchKeys[i%len(benchKeys)]...)
		m.Value = append(m.Value[:0], benchEvent...)
		if !p.Publish(m) {
			dropped++
		}
	}
	if dropped > 0 {
		b.Fatalf("%d of %d events dropped: the queue was full", dropped, b.N)
	}
}

// BenchmarkPublishThroughput is the sustained rate of the whole publish
// path, queue → worker → broker acknowledgement, per event: the loop
// waits for room in the queue instead of dropping, and the clock stops when
// the broker acknowledged every event. The broker runs in this process, so
// its work (and its allocations) are in the figures too.
func BenchmarkPublishThroughput(b *testing.B) {
	p, close := benchPublisher(b)
	benchThroughput(b, p, close)
}

// BenchmarkPublishThroughputAckOnly is BenchmarkPublishThroughput with a
// broker that acknowledges every produce request without storing it: what
// remains is the publisher, kafka-go's transport and the broker's decoding
// of the requests. kfake keeps every record in memory, and the copies and
// page faults of that take about as long as all the rest.
func BenchmarkPublishThroughputAckOnly(b *testing.B) {
	c := devstacktest.Broker(b, partitions, topic)
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, pt := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = pt.Partition
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	p, close := benchPublisherOn(b, c)
	benchThroughput(b, p, close)
}

func benchThroughput(b *testing.B, p *publish.Publisher, close func() error) {
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	// The queue is split among the workers by key: while the whole queue
	// holds less than one worker's part, no part can be full.
	def := publish.DefaultConfig()
	limit := def.QueueSize / def.Workers * 3 / 4
	for i := 0; b.Loop(); i++ {
		for p.QueueLen() > limit {
			// Sleep, not spin: on two cores a spinning loop takes the CPU
			// from the workers and the broker whose rate it measures.
			time.Sleep(20 * time.Microsecond)
		}
		m := p.Acquire()
		m.Key = append(m.Key[:0], benchKeys[i%len(benchKeys)]...)
		m.Value = append(m.Value[:0], benchEvent...)
		if !p.Publish(m) {
			b.Fatal("an event was dropped: the queue was full")
		}
	}
	// Include the tail: every event acknowledged.
	if err := close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
