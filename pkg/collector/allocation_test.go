//go:build !race

package collector_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// TestPixelAllocations checks that the pixel path allocates nothing per
// request once pools and buffers are warm: HTTP parsing, the handler, the
// event encoding and the response, as fasthttp's allocation_test.go does it.
func TestPixelAllocations(t *testing.T) {
	behindProxy := func(c *collector.Config) {
		var err error
		if c.Pixel.TrustedProxies, err = pixel.ParseTrustedProxies("203.0.113.0/24"); err != nil {
			t.Fatal(err)
		}
	}
	crossSite := func(c *collector.Config) {
		c.Pixel.Cookie.Domain = "shop.example"
		c.Pixel.Cookie.SameSite = fasthttp.CookieSameSiteNoneMode
		c.Pixel.Cookie.Secure = true
	}
	shop := &registry.Pixel{ID: "px1", Status: registry.StatusActive, Domains: []string{"shop.example"}, Settings: pixel.DefaultSettings()}
	shop.Settings.Consent, shop.Settings.IP, shop.Settings.GPC = pixel.ConsentRequired, pixel.IPTruncate, pixel.SignalFlag
	snap := registry.NewSnapshot([]*registry.Pixel{shop})
	withRegistry := func(c *collector.Config) { c.Registry = func() *registry.Snapshot { return snap } }
	tracked := "/p.gif?id=px1&ev=Purchase&pv=pv1&et=61000&cs=granted&ud%5Bem%5D=a%40b.example&cm%5Bad_storage%5D=granted" +
		"&dl=https%3A%2F%2Fshop.example%2F%3Futm_source%3Dx%26gclid%3Dabc&rl=https%3A%2F%2Fwww.google.com%2F"
	for _, tc := range []struct {
		name, request string
		change        func(*collector.Config)
		ip            string // of the published event; "" = nothing published
	}{
		{"registered pixel, every tracking field", rawGET(tracked, "Sec-GPC: 1", "Cookie: _pxid="+visitorID), withRegistry, "203.0.113.0"},
		{"registered pixel, cookieless", rawGET("/p.gif?id=px1"), withRegistry, "203.0.113.0"},
		{"foreign origin", rawGET("/p.gif?id=px1", "Origin: https://evil.example"), withRegistry, ""},
		{"unknown pixel", rawGET("/p.gif?id=nope"), withRegistry, ""},
		{"returning visitor", rawGET(validHit, "Cookie: _ga=GA1.1.1.1; _pxid="+visitorID+"; _pxsid="+sessionID), nil, "203.0.113.7"},
		{"new visitor", rawGET("/p.gif?id=px1&ev=PageView"), nil, "203.0.113.7"},
		{"custom properties", rawGET("/p.gif?id=px1&ev=Lead&cd%5Bplan%5D=pro&cd%5Bseats%5D=3&cd%5Border_id%5D=o-1", "Cookie: _pxid="+visitorID), nil, "203.0.113.7"},
		{"behind a trusted proxy", rawGET(validHit, "X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 198.51.100.4, 203.0.113.9"), behindProxy, "198.51.100.4"},
		{"invalid hit", rawGET("/p.gif?ev=Purchase&ts=x"), nil, ""},
		{"opted out", rawGET("/p.gif?id=px1", "Sec-GPC: 1"), nil, ""},
		{"opted out on a second Sec-GPC line", rawGET("/p.gif?id=px1", "Sec-GPC: 0", "Sec-GPC: 1"), nil, ""},
		{"duplicate cookies, the first malformed", rawGET(validHit, "Cookie: _pxid=garbage; _pxid="+visitorID+"; _pxsid=; _pxsid="+sessionID), nil, "203.0.113.7"},
		{"zone in X-Forwarded-For", rawGET(validHit, "X-Forwarded-For: fe80::1%<img src=x onerror=alert(1)>"), behindProxy, "203.0.113.7"},
		{"HEAD", "HEAD" + strings.TrimPrefix(rawGET(validHit, "Cookie: _pxid="+visitorID), "GET"), nil, ""},
		{"escapes in keys and values", rawGET("/p.gif?%69d=px1&dl=https%3A%2F%2Fshop.example%2F%3Fq%3Da+b&cd%5Bplan%5D=pro+plus&cd[value]=%31%39.9&rl=%zz%4", "Cookie: _pxid="+visitorID), nil, "203.0.113.7"},
		{"cookie domain, SameSite=None", rawGET(validHit, "Cookie: _pxid="+visitorID+"; _pxsid="+sessionID), crossSite, "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.change)
			s := newConnServer(ts.handler)
			n := testing.AllocsPerRun(200, func() {
				if err := s.serve(tc.request); err != nil {
					t.Fatal(err)
				}
			})
			// Make sure the runs did the real work, not a shortcut.
			if !bytes.Contains(s.conn.w.Bytes(), []byte("\r\nContent-Type: image/gif\r\n")) {
				t.Fatalf("response is not the GIF:\n%s", s.conn.w.Bytes())
			}
			if tc.ip == "" && ts.pub.published != 0 {
				t.Fatalf("published %d messages, want none", ts.pub.published)
			}
			if tc.ip != "" {
				var e event.Event
				if err := event.Parse(ts.pub.last.Value, &e); err != nil || string(e.IP) != tc.ip {
					t.Fatalf("published event with ip %q (%v), want %s", e.IP, err, tc.ip)
				}
			}
			if n != 0 {
				t.Fatalf("%v allocations per request, want 0", n)
			}
		})
	}
}
