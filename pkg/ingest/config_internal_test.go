package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/batch"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

func TestConfigZeroFieldsTakeDefaults(t *testing.T) {
	def := DefaultConfig()
	if got := (Config{}).withDefaults(); got.Batch != def.Batch || got.InsertTimeout != def.InsertTimeout ||
		got.MaxBackoff != def.MaxBackoff || got.Topic != def.Topic || got.Group != def.Group || len(got.Brokers) != 1 ||
		got.DLQTopic != "pixel.events.dlq" {
		t.Fatalf("zero Config became %+v, want %+v", got, def)
	}
	if got := (Config{Topic: "t"}).withDefaults(); got.DLQTopic != "t.dlq" {
		t.Fatalf("dead-letter topic of topic t: %q, want t.dlq", got.DLQTopic)
	}
	set := Config{
		Brokers: []string{"a:1", "b:2"}, Topic: "t", DLQTopic: "d", Group: "g",
		Batch:         batch.Policy{MaxRows: 5, MaxBytes: 6, MaxAge: 7 * time.Millisecond},
		InsertTimeout: time.Second, MaxBackoff: 2 * time.Second,
	}
	if got := set.withDefaults(); got.Batch != set.Batch || got.InsertTimeout != set.InsertTimeout ||
		got.MaxBackoff != set.MaxBackoff || got.Topic != "t" || got.DLQTopic != "d" || got.Group != "g" || len(got.Brokers) != 2 {
		t.Fatalf("set fields changed: %+v", got)
	}
}

// The insert de-duplication token is the same for every attempt of a batch
// and differs whenever the offsets or the events differ.
func TestDedupToken(t *testing.T) {
	build := func(ids ...string) (*batch.Batch, *chstore.Rows) {
		b := batch.New(batch.DefaultPolicy())
		var rows chstore.Rows
		for i, id := range ids {
			b.Add(i%2, int64(100+i), 10, time.Now())
			rows.Append(&event.Event{EventID: []byte(id)})
		}
		return b, &rows
	}
	b, rows := build("e1", "e2", "e3")
	tok := dedupToken("pixel.events", b, rows)
	if !strings.HasPrefix(tok, "pixel.events/0:100-102/1:101-101/") || len(tok) != len("pixel.events/0:100-102/1:101-101/")+32 {
		t.Fatalf("token %q: want the topic, the ranges and a 32-digit digest", tok)
	}
	if again := dedupToken("pixel.events", b, rows); again != tok {
		t.Fatalf("a retry's token %q differs from %q", again, tok)
	}
	// The same offsets holding other events: a recreated topic.
	b2, rows2 := build("x1", "x2", "x3")
	if other := dedupToken("pixel.events", b2, rows2); other == tok || !strings.HasPrefix(other, "pixel.events/0:100-102/1:101-101/") {
		t.Fatalf("same offsets, other events: token %q vs %q", other, tok)
	}
	// The same events at other offsets or in another topic.
	b3, rows3 := build("e1", "e2", "e3", "e4")
	rows3.Reset()
	for _, id := range []string{"e1", "e2", "e3"} {
		rows3.Append(&event.Event{EventID: []byte(id)})
	}
	if other := dedupToken("pixel.events", b3, rows3); other == tok {
		t.Fatal("other offsets, same events: same token")
	}
	if other := dedupToken("pixel.events.2", b, rows); other == tok {
		t.Fatal("another topic: same token")
	}
}
