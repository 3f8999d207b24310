package ingest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/pixel-pipeline/pixel/internal/kafkawire"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

func TestDeadLetterCopiesAndLabels(t *testing.T) {
	d := newDeadLetters(Config{Topic: "t"}.withDefaults(), metrics.NewSet())
	msg := kafka.Message{
		Topic: "pixel.events", Partition: 3, Offset: 42, Time: time.UnixMilli(1_700_000_000_123),
		Key: []byte("key"), Value: []byte("value"),
		Headers: []kafka.Header{
			{Key: "trace", Value: []byte("t-1")},
			{Key: HeaderError, Value: []byte("an old error: this is a re-fed dead letter")},
			{Key: HeaderSourceOffset, Value: []byte("7")},
		},
	}
	d.add(&msg, "syntax", event.ErrSyntax)
	// The fetch response's memory is reused: the dead letter holds copies.
	copy(msg.Key, "XXX")
	copy(msg.Value, "XXXXX")
	copy(msg.Headers[0].Value, "XXX")

	if d.Len() != 1 {
		t.Fatalf("%d pending", d.Len())
	}
	got := d.pending[0].msg
	if string(got.Key) != "key" || string(got.Value) != "value" {
		t.Fatalf("dead letter %q=%q, want the original bytes", got.Key, got.Value)
	}
	want := []kafka.Header{
		{Key: "trace", Value: []byte("t-1")},
		{Key: HeaderError, Value: []byte("syntax: event: malformed JSON")},
		{Key: HeaderSourceTopic, Value: []byte("pixel.events")},
		{Key: HeaderSourcePartition, Value: []byte("3")},
		{Key: HeaderSourceOffset, Value: []byte("42")},
		{Key: HeaderSourceTimestamp, Value: []byte("1700000000123")},
	}
	if len(got.Headers) != len(want) {
		t.Fatalf("headers %q, want %q", got.Headers, want)
	}
	for i := range want {
		if got.Headers[i].Key != want[i].Key || !bytes.Equal(got.Headers[i].Value, want[i].Value) {
			t.Errorf("header %d = %s: %q, want %s: %q", i, got.Headers[i].Key, got.Headers[i].Value, want[i].Key, want[i].Value)
		}
	}
	d.reset()
	if d.Len() != 0 {
		t.Fatal("reset kept dead letters")
	}
}

func TestDeadLetterFit(t *testing.T) {
	m := metrics.NewSet()
	d := newDeadLetters(Config{}.withDefaults(), m)
	small := kafka.Message{Key: []byte("k"), Value: []byte("small")}
	d.fit(&small)
	if string(small.Value) != "small" || len(small.Headers) != 0 {
		t.Fatalf("a small dead letter changed: %q %v", small.Value, small.Headers)
	}

	big := kafka.Message{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 3*maxDeadLetterBytes), Headers: []kafka.Header{{Key: HeaderError, Value: []byte("syntax: x")}}}
	d.fit(&big)
	if messageSize(&big) > d.maxBytes || len(big.Value) < maxDeadLetterBytes-1024 {
		t.Fatalf("cut to %d bytes (message %d), want just under %d", len(big.Value), messageSize(&big), d.maxBytes)
	}
	if v, ok := header(big.Headers, HeaderTruncated); !ok || v != "3145728" {
		t.Fatalf("%s = %q, want the original length", HeaderTruncated, v)
	}
	// A smaller limit cuts again, keeping the original length.
	d.maxBytes = minDeadLetterBytes
	d.fit(&big)
	if messageSize(&big) > minDeadLetterBytes {
		t.Fatalf("message of %d bytes over the limit %d", messageSize(&big), minDeadLetterBytes)
	}
	if v, _ := header(big.Headers, HeaderTruncated); v != "3145728" || len(big.Headers) != 2 {
		t.Fatalf("headers after the second cut: %q", big.Headers)
	}
	if n := d.truncated.Load(); n != 1 {
		t.Fatalf("truncated counter %d, want 1 message", n)
	}
}

func TestReasonOf(t *testing.T) {
	for _, r := range reasons {
		if got := reasonOf(r.err); got != r.label {
			t.Errorf("reasonOf(%v) = %q, want %q", r.err, got, r.label)
		}
	}
	v := checkVersion(record(t, protocol.Header{Key: event.Header, Value: []byte("2")}))
	if !errors.Is(v, event.ErrUnsupported) || reasonOf(v) != "version" || v.Error() != `event: unsupported wire-format version "2" (this consumer reads 1)` {
		t.Fatalf("checkVersion of version 2: %v", v)
	}
	if err := checkVersion(record(t, protocol.Header{Key: "other", Value: []byte("2")}, protocol.Header{Key: event.Header, Value: []byte(event.Version)})); err != nil {
		t.Fatalf("checkVersion of version 1: %v", err)
	}
	if err := checkVersion(record(t)); err != nil {
		t.Fatalf("checkVersion without the header: %v", err)
	}
}

// record is a record with the given headers, as a fetch decodes it.
func record(t *testing.T, headers ...protocol.Header) *kafkawire.Record {
	t.Helper()
	rs := protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(protocol.Record{Value: protocol.NewBytes([]byte("{}")), Headers: headers})}
	var buf bytes.Buffer
	if _, err := rs.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	it := kafkawire.NewBatches(buf.Bytes()[4:])
	var b kafkawire.Batch
	if ok, err := it.Next(&b); !ok || err != nil {
		t.Fatalf("batch: %v", err)
	}
	var d kafkawire.Decompressor
	recs, err := d.Records(&b)
	if err != nil {
		t.Fatal(err)
	}
	var r kafkawire.Record
	if ok, err := recs.Next(&r); !ok || err != nil {
		t.Fatalf("record: %v", err)
	}
	return &r
}

func header(hs []kafka.Header, key string) (string, bool) {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}
