package collector_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// Hits of unknown and disabled pixels, and from pages outside a pixel's
// domains, are answered as always, counted by reason and never published;
// a refreshed registry takes effect on the next hit.
func TestRegistryDecidesWhatIsRecorded(t *testing.T) {
	shop := &registry.Pixel{ID: "shop1", Status: registry.StatusActive, Domains: []string{"shop.example", "*.shop.example"}, Settings: pixel.DefaultSettings()}
	off := &registry.Pixel{ID: "off1", Status: registry.StatusDisabled, Settings: pixel.DefaultSettings()}
	var snap atomic.Pointer[registry.Snapshot]
	ts := newTestServer(t, func(c *collector.Config) { c.Registry = snap.Load })
	ts.pub.keep = true

	// Nothing loaded yet.
	checkGIF(t, ts.do(t, "GET", "/p.gif?id=shop1"))
	if n := len(ts.pub.messages()); n != 0 || ts.metric(t, `pixel_hits_invalid_total{reason="no_registry"}`) != 1 {
		t.Fatalf("before the registry loaded: %d published", n)
	}

	snap.Store(registry.NewSnapshot([]*registry.Pixel{shop, off}))
	for _, tc := range []struct {
		name, uri string
		headers   []string
		reason    string // "" = recorded
	}{
		{"registered, page on its domain", "/p.gif?id=shop1", []string{"Referer: https://shop.example/cart"}, ""},
		{"registered, page on a subdomain", "/p.gif?id=shop1&dl=https%3A%2F%2Fwww.shop.example%2F", nil, ""},
		{"registered, no page known", "/p.gif?id=shop1", nil, ""},
		{"unknown pixel", "/p.gif?id=nope", nil, "unknown_pixel"},
		{"disabled pixel", "/p.gif?id=off1", nil, "disabled_pixel"},
		{"page of another site", "/p.gif?id=shop1", []string{"Referer: https://evil.example/"}, "foreign_origin"},
		{"lookalike domain", "/p.gif?id=shop1", []string{"Referer: https://evilshop.example/"}, "foreign_origin"},
		{"Origin of another site", "/p.gif?id=shop1&dl=https%3A%2F%2Fshop.example%2F", []string{"Origin: https://evil.example"}, "foreign_origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ts.pub.messages())
			var counted float64
			if tc.reason != "" {
				counted = ts.metric(t, `pixel_hits_invalid_total{reason="`+tc.reason+`"}`)
			}
			resp := ts.do(t, "GET", tc.uri, tc.headers...)
			checkGIF(t, resp)
			published := len(ts.pub.messages()) - before
			if tc.reason == "" {
				if published != 1 {
					t.Fatalf("published %d, want the hit", published)
				}
				return
			}
			if published != 0 {
				t.Fatalf("published %d, want none", published)
			}
			if got := ts.metric(t, `pixel_hits_invalid_total{reason="`+tc.reason+`"}`); got != counted+1 {
				t.Fatalf("%s counted %v times, want %v", tc.reason, got, counted+1)
			}
			if n := len(resp.Header.PeekAll("Set-Cookie")); n != 0 {
				t.Fatalf("a refused hit set %d cookies", n)
			}
		})
	}

	// The next copy of the registry disables shop1 and enables off1.
	shopOff, offOn := *shop, *off
	shopOff.Status, offOn.Status = registry.StatusDisabled, registry.StatusActive
	snap.Store(registry.NewSnapshot([]*registry.Pixel{&shopOff, &offOn}))
	before := len(ts.pub.messages())
	ts.do(t, "GET", "/p.gif?id=shop1")
	ts.do(t, "GET", "/p.gif?id=off1")
	msgs := ts.pub.messages()[before:]
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Value), `"pixel_id":"off1"`) {
		t.Fatalf("after the refresh published %d messages, want off1's hit only", len(msgs))
	}
}
