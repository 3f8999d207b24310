package dataset

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// digest hashes the wire form of every event of p, in order.
func digest(t testing.TB, p *Population) ([32]byte, int) {
	t.Helper()
	h := sha256.New()
	var buf []byte
	n := 0
	if err := p.Events(func(e *event.Event) error {
		buf = event.AppendJSON(buf[:0], e)
		h.Write(buf)
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, n
}

func TestSameSeedSameBytes(t *testing.T) {
	a, n := digest(t, Generate(DefaultConfig(7, 500)))
	b, m := digest(t, Generate(DefaultConfig(7, 500)))
	if a != b || n != m {
		t.Fatalf("two runs of seed 7 differ: %x (%d events) and %x (%d events)", a, n, b, m)
	}
	c, _ := digest(t, Generate(DefaultConfig(8, 500)))
	if a == c {
		t.Fatal("seeds 7 and 8 generated the same events")
	}
	// All copies exactly what Events streams.
	p := Generate(DefaultConfig(7, 500))
	all := p.All()
	if len(all) != n {
		t.Fatalf("All returned %d events, Events %d", len(all), n)
	}
	d, _ := digest(t, FromEvents(p.Config().Pixels, all))
	if d != a {
		t.Fatal("All's events differ from the ones Events streamed")
	}
	// A visitor's events do not depend on how many visitors come after.
	small := Generate(DefaultConfig(7, 100)).All()
	for i := range small {
		if string(event.AppendJSON(nil, &small[i])) != string(event.AppendJSON(nil, &all[i])) {
			t.Fatalf("event %d of 100 visitors differs from event %d of 500 visitors", i, i)
		}
	}
}

// TestEveryFeature checks that the default population has every feature
// the reports must handle, and that each event is one the pipeline stores.
func TestEveryFeature(t *testing.T) {
	p := Generate(DefaultConfig(1, 2000))
	type key struct{ id, name string }
	copies := map[key][]string{} // wire forms of each (event_id, event)
	count := map[string]int{}
	var buf []byte
	err := p.Events(func(e *event.Event) error {
		if err := e.Validate(); err != nil {
			t.Fatalf("event %s fails validation: %v", event.AppendJSON(nil, e), err)
		}
		buf = event.AppendJSON(buf[:0], e)
		k := key{string(e.EventID), string(e.Name)}
		copies[k] = append(copies[k], string(buf))
		count["event "+string(e.Name)]++
		count["channel "+string(e.Tracking[event.Channel])]++
		count["consent "+string(e.Tracking[event.Consent])]++
		count["currency "+string(e.Currency)]++
		if e.IsBot {
			count["bot"]++
			if string(e.UserAgent) != GooglebotUA {
				t.Fatalf("bot with user agent %q", e.UserAgent)
			}
		}
		if string(e.Tracking[event.Consent]) == "denied" && string(e.VisitorID) != string(e.Tracking[event.CookielessID]) {
			t.Fatalf("denied event whose visitor_id is not its cookieless_id: %s", buf)
		}
		if len(e.Tracking[event.EmailSHA256]) > 0 {
			count["email"]++
		}
		if len(e.Tracking[event.GCLID]) > 0 {
			count["gclid"]++
		}
		if len(e.Tracking[event.FBCLID]) > 0 {
			count["fbclid"]++
		}
		if len(e.Tracking[event.UTMCampaign]) > 0 {
			count["utm_campaign"]++
		}
		if len(e.OrderID) > 0 {
			count["order_id"]++
		}
		if string(e.Name) == "ViewContent" && len(e.ContentIDs) > 0 {
			count["content_ids"]++
		}
		if e.EngagedMs > 0 {
			count["engaged_ms"]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range copies {
		switch {
		case len(c) > 1 && c[0] == c[1]:
			count["replayed"]++
		case len(c) > 1:
			count["browser and server"]++
			if k.name != "Purchase" {
				t.Errorf("%s has copies that differ", k.name)
			}
		}
	}
	for _, f := range []string{
		"event PageView", "event PageEngagement", "event Engaged", "event ViewContent", "event AddToCart",
		"event InitiateCheckout", "event Purchase", "channel browser", "channel server", "consent granted",
		"consent denied", "currency EUR", "currency USD", "bot", "email", "gclid", "fbclid", "utm_campaign",
		"order_id", "content_ids", "engaged_ms", "replayed", "browser and server",
	} {
		if count[f] == 0 {
			t.Errorf("no %s in the population", f)
		}
	}
	t.Logf("%d events: %v", len(copies), count)
	// The hash is pkg/pixel's of the normalised address.
	want := string(pixel.AppendEmailSHA256(nil, []byte("visitor.5@gmail.com")))
	if got := string(pixel.AppendEmailSHA256(nil, []byte("  Visitor.5@GMail.com "))); got != want {
		t.Fatalf("email normalisation: %s, want %s", got, want)
	}
}

// BenchmarkGenerate measures generation: one op is one event (ns/op is
// per event), events/s the rate.
func BenchmarkGenerate(b *testing.B) {
	p := Generate(DefaultConfig(1, b.N/40+1))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	_ = p.Events(func(*event.Event) error {
		n++
		if n == b.N {
			return errDone
		}
		return nil
	})
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

var errDone = errors.New("done")

func TestVisitorsFor(t *testing.T) {
	cfg := DefaultConfig(5, 0)
	cfg.Visitors = VisitorsFor(cfg, 100_000)
	_, n := digest(t, Generate(cfg))
	if n < 90_000 || n > 110_000 {
		t.Fatalf("VisitorsFor(100 000 events) = %d visitors, who make %d events", cfg.Visitors, n)
	}
}
