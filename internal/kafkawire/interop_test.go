package kafkawire_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pixel-pipeline/pixel/internal/kafkawire"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// What every producer writes: n records with a key, a value of some length
// and two headers, so that batches hold many records and compress.
const interopRecords = 300

func interopKey(i int) string { return fmt.Sprintf("k-%d", i) }

func interopValue(i int) string {
	return fmt.Sprintf(`{"event_id":"e-%d","url":"https://shop.example/p/%d%s"}`, i, i, strings.Repeat("x", i%97))
}

var interopHeaders = [][2]string{{"pixel-format", "1"}, {"trace", "t"}}

type producer struct {
	name, codec string // the client and the codec as it names it
	produce     func(t *testing.T, broker, topic, codec string)
}

// producers write the records into a topic, one client and codec each.
func producers() []producer {
	var ps []producer
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		ps = append(ps, producer{"kafka-go", codec, produceKafkaGo}, producer{"franz-go", codec, produceFranz})
	}
	// librdkafka 2.0 derives what a broker supports from the API versions
	// it announces, and kfake's (Fetch v4 and later) make it send gzip,
	// snappy and lz4 uncompressed; zstd it compresses. Its raw snappy (no
	// xerial framing) is tested in TestRecordsRawSnappy.
	for _, codec := range []string{"none", "zstd"} {
		ps = append(ps, producer{"kcat", codec, produceKcat})
	}
	return ps
}

func produceKafkaGo(t *testing.T, broker, topic, codec string) {
	codecs := map[string]kafka.Compression{"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd}
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, Compression: codecs[codec], BatchSize: 100, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	msgs := make([]kafka.Message, interopRecords)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(interopKey(i)), Value: []byte(interopValue(i))}
		for _, h := range interopHeaders {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h[0], Value: []byte(h[1])})
		}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("kafka-go produce: %v", err)
	}
}

func produceFranz(t *testing.T, broker, topic, codec string) {
	codecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codecs[codec]), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, interopRecords)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(interopKey(i)), Value: []byte(interopValue(i))}
		for _, h := range interopHeaders {
			recs[i].Headers = append(recs[i].Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
}

// produceKcat writes with kcat, librdkafka's command-line client (the
// library ClickHouse's Kafka engine and most non-Java clients use).
func produceKcat(t *testing.T, broker, topic, codec string) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed; `make deps` installs it")
	}
	var in bytes.Buffer
	for i := range interopRecords {
		fmt.Fprintf(&in, "%s|%s\n", interopKey(i), interopValue(i))
	}
	args := []string{"-b", broker, "-t", topic, "-P", "-K", "|", "-X", "compression.codec=" + codec, "-X", "linger.ms=20"}
	for _, h := range interopHeaders {
		args = append(args, "-H", h[0]+"="+h[1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
}

// Records written by three clients (kafka-go, franz-go and librdkafka via
// kcat) in every codec are fetched through kafka-go's Transport and decoded
// as written: every offset once, keys, values and headers in order.
func TestFetchWhatProducersWrote(t *testing.T) {
	var topics []string
	for _, p := range producers() {
		topics = append(topics, p.name+"."+p.codec)
	}
	broker := devstacktest.Broker(t, 1, topics...).ListenAddrs()[0]
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	for _, p := range producers() {
		t.Run(p.name+"/"+p.codec, func(t *testing.T) {
			topic := p.name + "." + p.codec
			p.produce(t, broker, topic, p.codec)
			f := &kafkawire.Fetch{ClientID: "test", Topic: topic, MaxWait: 100 * time.Millisecond, MinBytes: 1, MaxBytes: 1 << 20}
			var d kafkawire.Decompressor
			next, codecs, batches := int64(0), map[int]bool{}, 0
			deadline := time.Now().Add(20 * time.Second)
			for next < interopRecords {
				if time.Now().After(deadline) {
					t.Fatalf("read %d of %d records", next, interopRecords)
				}
				f.Partitions = []kafkawire.FetchPartition{{Partition: 0, Offset: next, MaxBytes: 16 << 10}}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := transport.RoundTrip(ctx, kafka.TCP(broker), f)
				cancel()
				if err != nil {
					t.Fatalf("fetch at %d: %v", next, err)
				}
				if len(f.Data) != 1 || f.Data[0].ErrorCode != 0 || f.Data[0].HighWatermark != interopRecords {
					t.Fatalf("fetch at %d: %+v", next, f.Data)
				}
				it := kafkawire.NewBatches(f.Data[0].Records)
				var b kafkawire.Batch
				for {
					ok, err := it.Next(&b)
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						break
					}
					batches++
					codecs[b.Codec()] = true
					recs, err := d.Records(&b)
					if err != nil {
						t.Fatal(err)
					}
					var r kafkawire.Record
					for {
						ok, err := recs.Next(&r)
						if err != nil {
							t.Fatal(err)
						}
						if !ok {
							break
						}
						if r.Offset < next {
							continue // a batch may start before the offset asked for
						}
						checkRecord(t, next, &r)
						next++
					}
				}
				if n := kafkawire.NextOffset(f.Data[0].Records, f.Partitions[0].Offset); n != next {
					t.Fatalf("NextOffset = %d after reading up to %d", n, next)
				}
			}
			want := int(compress.Compression(0))
			if c := map[string]compress.Compression{"gzip": compress.Gzip, "snappy": compress.Snappy, "lz4": compress.Lz4, "zstd": compress.Zstd}[p.codec]; c != 0 {
				want = int(c)
			}
			if len(codecs) != 1 || !codecs[want] || batches < 1 {
				t.Fatalf("%d batches in codecs %v, want codec %d", batches, codecs, want)
			}
		})
	}
}

func checkRecord(t *testing.T, offset int64, r *kafkawire.Record) {
	t.Helper()
	i := int(offset)
	if r.Offset != offset || string(r.Key) != interopKey(i) || string(r.Value) != interopValue(i) {
		t.Fatalf("offset %d: record %d %q=%.30q, want %q=%.30q", offset, r.Offset, r.Key, r.Value, interopKey(i), interopValue(i))
	}
	if r.Timestamp < time.Now().Add(-time.Hour).UnixMilli() || r.Timestamp > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("offset %d: timestamp %d", offset, r.Timestamp)
	}
	var hs [][2]string
	for h := r.Headers(); h.Next(); {
		hs = append(hs, [2]string{string(h.Key), string(h.Value)})
	}
	if fmt.Sprint(hs) != fmt.Sprint(interopHeaders) {
		t.Fatalf("offset %d: headers %q, want %q", offset, hs, interopHeaders)
	}
}
