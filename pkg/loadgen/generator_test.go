package loadgen_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pixel-pipeline/pixel/pkg/loadgen"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

var genNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func newGenerator(t testing.TB, seed uint64, mix loadgen.Mix) *loadgen.Generator {
	t.Helper()
	g, err := loadgen.NewGenerator(seed, mix)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// parsed is what the collector's own parser makes of a generated hit.
type parsed struct {
	err                               error
	pixelID, event, eventID, url, ref string
	value                             float64
	currency, orderID, props          string
	contentIDs                        int
}

func parse(h *loadgen.Hit) parsed {
	ph := pixel.AcquireHit()
	defer pixel.ReleaseHit(ph)
	lim := pixel.DefaultLimits()
	err := pixel.ParseRawQuery(h.Query, ph, &lim, genNow)
	e := &ph.Event
	return parsed{
		err: err, pixelID: string(e.PixelID), event: string(e.Name), eventID: string(e.EventID),
		url: string(e.URL), ref: string(e.Referrer), value: e.Value, currency: string(e.Currency),
		orderID: string(e.OrderID), props: string(e.Props), contentIDs: len(e.ContentIDs),
	}
}

// Every hit the generator calls valid passes the collector's parser with
// the fields it was meant to carry; every malformed one is refused, for
// the reason the generator says.
func TestGeneratedHitsAgreeWithTheParser(t *testing.T) {
	mix := loadgen.DefaultMix()
	mix.MalformedFraction = 0.1
	mix.EventIDs = true
	mix.PixelIDs = []string{"shop-1", "shop:2"}
	g := newGenerator(t, 42, mix)
	var h loadgen.Hit
	kinds := map[string]int{}
	for i := uint64(0); i < 20000; i++ {
		g.Fill(&h, i, genNow)
		p := parse(&h)
		if !h.Valid() {
			kinds[h.Malformed]++
			var ie *pixel.InvalidError
			if !errors.As(p.err, &ie) || ie.Reason != h.Malformed {
				t.Fatalf("hit %d marked %s, parser says %v:\n%s", i, h.Malformed, p.err, h.Query)
			}
			continue
		}
		if p.err != nil {
			t.Fatalf("valid hit %d refused: %v:\n%s", i, p.err, h.Query)
		}
		if p.pixelID != "shop-1" && p.pixelID != "shop:2" {
			t.Fatalf("hit %d: pixel id %q", i, p.pixelID)
		}
		if p.event != h.Event || p.eventID != string(h.EventID) || p.eventID == "" {
			t.Fatalf("hit %d: parsed event %q eid %q, generated %q %q", i, p.event, p.eventID, h.Event, h.EventID)
		}
		if p.url == "" && len(h.Referer) == 0 {
			t.Fatalf("hit %d has neither dl nor a Referer", i)
		}
		if h.Event == loadgen.Purchase && (p.value <= 0 || len(p.currency) != 3 || p.orderID == "" || p.contentIDs == 0) {
			t.Fatalf("purchase %d lacks value, currency, order id or content ids: %+v\n%s", i, p, h.Query)
		}
		if !utf8.ValidString(p.url) || !utf8.ValidString(p.ref) {
			t.Fatalf("hit %d: URL or referrer is not UTF-8: %q %q", i, p.url, p.ref)
		}
	}
	for _, k := range loadgen.MalformedKinds {
		if kinds[k] < 50 {
			t.Errorf("malformed kind %s generated %d times in 20000 hits at 10%%", k, kinds[k])
		}
	}
}

// The default mix looks like a shop's traffic, in the proportions it promises.
func TestDefaultMixProportions(t *testing.T) {
	const n = 20000
	mix := loadgen.DefaultMix()
	g := newGenerator(t, 7, mix)
	var h loadgen.Hit
	events := map[string]int{}
	visitors := map[int]bool{}
	uas := map[string]bool{}
	var valid, malformed, cookies, pageViews, pageViewProps int
	var utm, encodedUnicode, rawUnicode, google, social, noReferrer, jsonIDs, listIDs int
	for i := uint64(0); i < n; i++ {
		g.Fill(&h, i, genNow)
		visitors[h.Visitor] = true
		uas[h.UserAgent] = true
		if h.KeepsCookies {
			cookies++
		}
		if !h.Valid() {
			malformed++
			continue
		}
		valid++
		events[h.Event]++
		p := parse(&h)
		if h.Event == loadgen.PageView {
			pageViews++
			if p.props != "" {
				pageViewProps++
			}
		}
		if strings.Contains(p.url, "utm_source=") {
			utm++
		}
		if strings.Contains(p.url, "%C3%") || strings.Contains(p.url, "%E6%") || strings.Contains(p.url, "%D1%") {
			encodedUnicode++
		}
		if strings.ContainsAny(p.url, "öéü抹ч") {
			rawUnicode++
		}
		switch {
		case strings.Contains(p.ref, "google."):
			google++
		case strings.Contains(p.ref, "facebook.com") || strings.Contains(p.ref, "instagram.com") || strings.Contains(p.ref, "t.co/"):
			social++
		case p.ref == "":
			noReferrer++
		}
		q, _ := url.ParseQuery(string(h.Query))
		for k, v := range q {
			if strings.Contains(k, "content_ids") {
				if strings.HasPrefix(v[0], "[") {
					jsonIDs++
				} else {
					listIDs++
				}
			}
		}
	}
	share := func(k, of int) float64 { return float64(k) / float64(of) }
	within := func(name string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s: %.4f, want %.4f..%.4f", name, got, lo, hi)
		}
	}
	within("PageView share", share(events[loadgen.PageView], valid), 0.77, 0.83)
	within("ViewContent share", share(events[loadgen.ViewContent], valid), 0.085, 0.115)
	within("AddToCart share", share(events[loadgen.AddToCart], valid), 0.04, 0.06)
	within("Purchase share", share(events[loadgen.Purchase], valid), 0.01, 0.02)
	within("Lead share", share(events[loadgen.Lead], valid), 0.025, 0.045)
	within("malformed share", share(malformed, n), 0.006, 0.014)
	within("hits from cookie-keeping browsers", share(cookies, n), 0.65, 0.75)
	within("page views with custom properties", share(pageViewProps, pageViews), 0.25, 0.35)
	within("distinct visitors (10000 visitors, 20000 hits: 1-e^-2 expected)", share(len(visitors), 10000), 0.84, 0.89)
	for name, k := range map[string]int{
		"utm parameters": utm, "percent-encoded unicode in dl": encodedUnicode, "raw unicode in dl": rawUnicode,
		"google referrers": google, "social referrers": social, "no referrer": noReferrer,
		"content_ids as JSON": jsonIDs, "content_ids as a list": listIDs,
	} {
		if k < 20 {
			t.Errorf("%s: only %d of %d valid hits", name, k, valid)
		}
	}
	if len(uas) < 15 {
		t.Errorf("only %d distinct user agents", len(uas))
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	mix := loadgen.DefaultMix()
	mix.EventIDs = true
	a, b, c := newGenerator(t, 1, mix), newGenerator(t, 1, mix), newGenerator(t, 2, mix)
	var ha, hb, hc loadgen.Hit
	differ := 0
	for i := uint64(0); i < 2000; i++ {
		a.Fill(&ha, i, genNow)
		b.Fill(&hb, i, genNow)
		c.Fill(&hc, i, genNow)
		if !bytes.Equal(ha.Query, hb.Query) || ha.Visitor != hb.Visitor || ha.UserAgent != hb.UserAgent {
			t.Fatalf("hit %d differs between two generators with the same seed:\n%s\n%s", i, ha.Query, hb.Query)
		}
		if !bytes.Equal(ha.Query, hc.Query) {
			differ++
		}
	}
	if differ < 1990 {
		t.Errorf("only %d of 2000 hits differ between seeds 1 and 2", differ)
	}
}

func TestEventIDsAreUnique(t *testing.T) {
	mix := loadgen.DefaultMix()
	mix.EventIDs = true
	mix.EventIDPrefix = "run-a-"
	g := newGenerator(t, 3, mix)
	var h loadgen.Hit
	seen := map[string]bool{}
	for i := uint64(0); i < 20000; i++ {
		g.Fill(&h, i, genNow)
		if h.EventID == nil {
			if h.Malformed != pixel.ErrBadEventID.Reason {
				t.Fatalf("hit %d (%s) has no eid", i, h.Malformed)
			}
			continue
		}
		id := string(h.EventID)
		if want := fmt.Sprintf("run-a-%012d", i); id != want {
			t.Fatalf("hit %d: eid %q, want %q", i, id, want)
		}
		if seen[id] {
			t.Fatalf("eid %q generated twice", id)
		}
		seen[id] = true
	}

	mix.EventIDs = false
	g = newGenerator(t, 3, mix)
	for i := uint64(0); i < 1000; i++ {
		g.Fill(&h, i, genNow)
		if h.EventID != nil || (h.Valid() && parse(&h).eventID != "") {
			t.Fatalf("hit %d carries an eid without Mix.EventIDs: %s", i, h.Query)
		}
	}
}

func TestFillDoesNotAllocate(t *testing.T) {
	mix := loadgen.DefaultMix()
	mix.EventIDs = true
	mix.MalformedFraction = 0.2
	g := newGenerator(t, 5, mix)
	var h loadgen.Hit
	for i := uint64(0); i < 1000; i++ { // grow the buffers
		g.Fill(&h, i, genNow)
	}
	i := uint64(0)
	if n := testing.AllocsPerRun(1000, func() { g.Fill(&h, i%1000, genNow); i++ }); n != 0 {
		t.Errorf("Fill allocates %.1f times per hit", n)
	}
}

func TestMixValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*loadgen.Mix)
	}{
		{"cookie fraction above 1", func(m *loadgen.Mix) { m.CookieFraction = 1.5 }},
		{"negative malformed fraction", func(m *loadgen.Mix) { m.MalformedFraction = -0.1 }},
		{"bad pixel id", func(m *loadgen.Mix) { m.PixelIDs = []string{"my shop"} }},
		{"negative event weight", func(m *loadgen.Mix) { m.Events.Purchase = -1 }},
		{"eid prefix with a space", func(m *loadgen.Mix) { m.EventIDPrefix = "run a" }},
	} {
		m := loadgen.DefaultMix()
		tc.edit(&m)
		if _, err := loadgen.NewGenerator(1, m); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	em, err := loadgen.ParseEventMix(loadgen.DefaultEventMix.String())
	if err != nil || em != loadgen.DefaultEventMix {
		t.Errorf("ParseEventMix(String()) = %v, %v", em, err)
	}
	if _, err := loadgen.ParseEventMix("Purchase=1,Signup=2"); err == nil {
		t.Error("ParseEventMix accepted an unknown event")
	}
}
