package eventgen_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/bench/eventgen"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

func TestGenerate(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	c, err := eventgen.Generate(eventgen.Config{N: 3000, Seed: 7, EventIDPrefix: "t-", Now: now, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 3000 {
		t.Fatalf("Len %d, want 3000", c.Len())
	}
	var e event.Event
	names := map[string]int{}
	withSession, withProps := 0, 0
	for i := range c.Len() {
		if err := event.Parse(c.Value(i), &e); err != nil {
			t.Fatalf("message %d does not parse: %v\n%s", i, err, c.Value(i))
		}
		if want := fmt.Sprintf("t-%012d", i); string(e.EventID) != want {
			t.Fatalf("message %d has event_id %q, want %q", i, e.EventID, want)
		}
		if !bytes.Equal(c.Key(i), e.VisitorID) {
			t.Fatalf("message %d: key %q is not the visitor id %q", i, c.Key(i), e.VisitorID)
		}
		if e.ReceivedAt != now.Unix() || len(e.IP) == 0 || len(e.UserAgent) == 0 || len(e.URL) == 0 {
			t.Fatalf("message %d lacks what the collector adds: %s", i, c.Value(i))
		}
		names[string(e.Name)]++
		if len(e.SessionID) > 0 {
			withSession++
		}
		if len(e.Props) > 0 {
			withProps++
		}
	}
	// The default funnel: mostly page views, some of everything else.
	for _, name := range []string{"PageView", "ViewContent", "AddToCart", "Purchase", "Lead"} {
		if names[name] == 0 {
			t.Errorf("no %s among %v", name, names)
		}
	}
	if withSession == 0 || withProps == 0 {
		t.Errorf("%d events with a session, %d with props; want some of each", withSession, withProps)
	}
	if c.ValueBytes() < 300*c.Len() {
		t.Errorf("values average %d bytes; realistic events are larger", c.ValueBytes()/c.Len())
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	a, err := eventgen.Generate(eventgen.Config{N: 500, Seed: 3, EventIDPrefix: "d-", Now: now, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := eventgen.Generate(eventgen.Config{N: 500, Seed: 3, EventIDPrefix: "d-", Now: now, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs := 0
	for i := range a.Len() {
		// Visitors without cookies get fresh random ids from the collector's
		// code, so compare what does not depend on them.
		var ea, eb event.Event
		if err := event.Parse(a.Value(i), &ea); err != nil {
			t.Fatal(err)
		}
		if err := event.Parse(b.Value(i), &eb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ea.EventID, eb.EventID) || !bytes.Equal(ea.URL, eb.URL) || !bytes.Equal(ea.Props, eb.Props) {
			t.Fatalf("message %d differs between one and four workers:\n%s\n%s", i, a.Value(i), b.Value(i))
		}
		if bytes.Equal(ea.VisitorID, eb.VisitorID) && bytes.Equal(ea.SessionID, eb.SessionID) {
			sameIDs++
		}
	}
	// Returning visitors (70% of browsers keep cookies) send ids made from
	// the seed, which the collector's code must take as its own: otherwise
	// every hit would be a new visitor with a random id.
	if share := float64(sameIDs) / float64(a.Len()); share < 0.6 || share > 0.8 {
		t.Errorf("%.0f%% of the messages have the same visitor and session in both runs, want about 70%%", 100*share)
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		if _, err := eventgen.Generate(eventgen.Config{N: 10000, Seed: 1, EventIDPrefix: "b-", Workers: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000), "ns/event")
}
