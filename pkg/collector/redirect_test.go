package collector_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

const linkKey = "8f3c2a1b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"

// sign is the s= of dest for key, computed here with crypto/hmac
// independently of registry.SignLink.
func sign(key, dest string) string {
	k, _ := hex.DecodeString(key)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(dest))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// clickLink is the request URI of a click link.
func clickLink(id, dest, sig string) string {
	u := "/r?id=" + url.QueryEscape(id) + "&u=" + url.QueryEscape(dest)
	if sig != "" {
		u += "&s=" + sig
	}
	return u
}

func newRedirectServer(t *testing.T) (*testServer, *atomic.Pointer[registry.Snapshot]) {
	shop := &registry.Pixel{ID: "shop1", Status: registry.StatusActive, Domains: []string{"shop.example", "*.shop.example"}, LinkKey: linkKey, Settings: pixel.DefaultSettings()}
	open := &registry.Pixel{ID: "open1", Status: registry.StatusActive, LinkKey: linkKey, Settings: pixel.DefaultSettings()} // no domains
	off := &registry.Pixel{ID: "off1", Status: registry.StatusDisabled, Domains: []string{"shop.example"}, LinkKey: linkKey, Settings: pixel.DefaultSettings()}
	var snap atomic.Pointer[registry.Snapshot]
	snap.Store(registry.NewSnapshot([]*registry.Pixel{shop, open, off}))
	ts := newTestServer(t, func(c *collector.Config) { c.Registry = snap.Load })
	ts.pub.keep = true
	return ts, &snap
}

// checkRefused checks a refused redirect: 400 (or status) in plain text
// naming the reason, no Location, no cookie, counted, nothing published.
func checkRefused(t *testing.T, ts *testServer, status int, reason, uri string, headers ...string) {
	t.Helper()
	series := `pixel_redirect_refused_total{reason="` + reason + `"}`
	before, published := ts.metric(t, series), len(ts.pub.messages())
	resp := ts.do(t, "GET", uri, headers...)
	if resp.StatusCode() != status {
		t.Errorf("%s: status %d, want %d", uri, resp.StatusCode(), status)
	}
	if loc := resp.Header.Peek(fasthttp.HeaderLocation); loc != nil {
		t.Errorf("%s: refused with a Location %q", uri, loc)
	}
	if n := setCookies(resp); n != 0 {
		t.Errorf("%s: refused with %d cookies", uri, n)
	}
	if ct := string(resp.Header.ContentType()); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("%s: Content-Type %q", uri, ct)
	}
	if body := string(resp.Body()); !strings.Contains(body, "("+reason+")") {
		t.Errorf("%s: body %q does not name %s", uri, body, reason)
	}
	if got := ts.metric(t, series); got != before+1 {
		t.Errorf("%s: %s = %v, want %v", uri, series, got, before+1)
	}
	if n := len(ts.pub.messages()) - published; n != 0 {
		t.Errorf("%s: published %d events", uri, n)
	}
}

// TestRedirectRefusesHostileDestinations: each is refused, signed or not
// (a valid signature does not make a hostile destination acceptable).
func TestRedirectRefusesHostileDestinations(t *testing.T) {
	ts, _ := newRedirectServer(t)
	for _, tc := range []struct{ dest, reason string }{
		{"", "missing_dest"},
		{"javascript:alert(document.domain)", "bad_scheme"},
		{"JaVaScRiPt:alert(1)//https://shop.example/", "bad_scheme"},
		{"data:text/html,<script>alert(1)</script>", "bad_char"},
		{"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "bad_scheme"},
		{"vbscript:msgbox(1)", "bad_scheme"},
		{"//evil.example/", "bad_scheme"},
		{"/\\evil.example/", "bad_char"},
		{"https:\\\\evil.example/", "bad_char"},
		{"https://shop.example\\@evil.example/", "bad_char"},
		{"https:evil.example", "bad_scheme"},
		{"/relative", "bad_scheme"},
		{"https://shop.example@evil.example/", "userinfo"},
		{"https://shop.example:443@evil.example/", "userinfo"},
		{"https://evil.example%2F@shop.example/", "userinfo"},
		{" https://evil.example/", "bad_char"},
		{"https://shop.example/\r\nSet-Cookie: a=b", "bad_char"},
		{"java\tscript:alert(1)", "bad_char"},
		{"https://evil%2Eexample/", "bad_host"},
		{"https://shop.example./", "bad_host"},
		{"https:///evil.example", "bad_host"},
		{"https://0x7f.1/", "bad_host"},
		{"https://bücher.example/", "bad_char"},
		{"https://shop.example:99999/", "bad_port"},
		{"https://shop.example/%zz", "bad_escape"},
		{"https://shop.example/" + strings.Repeat("a", 5000), "too_long"},
	} {
		checkRefused(t, ts, 400, tc.reason, clickLink("shop1", tc.dest, ""))
		checkRefused(t, ts, 400, tc.reason, clickLink("shop1", tc.dest, sign(linkKey, tc.dest)))
	}
}

func TestRedirectRefusesUnverifiedLinks(t *testing.T) {
	ts, snap := newRedirectServer(t)
	evil := "https://evil.example/"
	checkRefused(t, ts, 400, "unsigned", clickLink("shop1", evil, ""))
	checkRefused(t, ts, 400, "unsigned", clickLink("shop1", "https://evilshop.example/", ""))
	checkRefused(t, ts, 400, "unsigned", clickLink("open1", evil, "")) // a pixel without domains allows no unsigned link
	checkRefused(t, ts, 400, "bad_signature", clickLink("shop1", evil, sign(linkKey, "https://evil.example/other")))
	checkRefused(t, ts, 400, "bad_signature", clickLink("shop1", evil, sign(linkKey, evil)[:21]))
	checkRefused(t, ts, 400, "bad_signature", clickLink("shop1", evil, sign(strings.Repeat("00", 32), evil)))
	checkRefused(t, ts, 400, "bad_signature", clickLink("shop1", evil+"?x=1", sign(linkKey, evil)))
	checkRefused(t, ts, 400, "missing_id", "/r?u="+url.QueryEscape(evil))
	checkRefused(t, ts, 400, "unknown_pixel", clickLink("nope", evil, sign(linkKey, evil)))
	checkRefused(t, ts, 400, "disabled_pixel", clickLink("off1", "https://shop.example/", ""))

	snap.Store(nil)
	checkRefused(t, ts, 503, "registry_loading", clickLink("shop1", "https://shop.example/", ""))

	noRegistry := newTestServer(t, nil)
	checkRefused(t, noRegistry, 400, "no_registry", clickLink("shop1", "https://shop.example/", sign(linkKey, "https://shop.example/")))
}

// A signed link redirects and records one Click, from wherever it was
// clicked, with the destination's campaign parameters.
func TestRedirectSignedRecordsClick(t *testing.T) {
	ts, _ := newRedirectServer(t)
	dest := "https://partner.example/sale?utm_source=newsletter&utm_medium=email&utm_campaign=winter&gclid=Cj0KCQ"
	p := &registry.Pixel{ID: "shop1", LinkKey: linkKey}
	link, err := registry.SignLink(p, "https://collector.example", dest)
	if err != nil {
		t.Fatal(err)
	}
	uri := strings.TrimPrefix(link, "https://collector.example")
	resp := ts.do(t, "GET", uri, "Referer: https://mail.example/inbox", "User-Agent: "+browserUA)
	checkRedirected(t, resp, dest)
	if h := resp.Header.String(); !strings.Contains(h, "Set-Cookie: _pxid=") || !strings.Contains(h, "Set-Cookie: _pxsid=") || !strings.Contains(h, "Set-Cookie: _pxclk=") {
		t.Errorf("want the visitor, session and click-id cookies:\n%s", h)
	}
	msgs := ts.pub.messages()
	if len(msgs) != 1 {
		t.Fatalf("published %d events, want the Click", len(msgs))
	}
	var e event.Event
	if err := event.Parse(msgs[0].Value, &e); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ name, got, want string }{
		{"event", string(e.Name), "Click"},
		{"pixel_id", string(e.PixelID), "shop1"},
		{"url", string(e.URL), dest},
		{"referrer", string(e.Referrer), "https://mail.example/inbox"},
		{"utm_source", string(e.Tracking[event.UTMSource]), "newsletter"},
		{"utm_campaign", string(e.Tracking[event.UTMCampaign]), "winter"},
		{"gclid", string(e.Tracking[event.GCLID]), "Cj0KCQ"},
		{"channel", string(e.Tracking[event.Channel]), "browser"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if e.IsBot {
		t.Error("a browser's click is flagged as a bot")
	}

	// The full 43-character signature verifies too; a preview fetcher's
	// click is recorded flagged.
	resp = ts.do(t, "GET", clickLink("shop1", dest, sign(linkKey, dest)), "User-Agent: Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")
	checkRedirected(t, resp, dest)
	msgs = ts.pub.messages()
	if err := event.Parse(msgs[len(msgs)-1].Value, &e); err != nil || !e.IsBot {
		t.Errorf("a preview fetcher's click: is_bot %v (%v)", e.IsBot, err)
	}
}

func TestRedirectToOwnDomainsUnsigned(t *testing.T) {
	ts, _ := newRedirectServer(t)
	for _, dest := range []string{"https://shop.example/", "https://www.shop.example/sale?utm_source=x", "http://SHOP.example:8080/a"} {
		checkRedirected(t, ts.do(t, "GET", clickLink("shop1", dest, "")), dest)
		// A wrong signature does not matter on the pixel's own domains.
		checkRedirected(t, ts.do(t, "GET", clickLink("shop1", dest, "x")), dest)
	}
	if n := len(ts.pub.messages()); n != 6 {
		t.Fatalf("published %d Clicks, want 6", n)
	}
}

// HEAD (link checkers) and opted-out visitors are redirected, not recorded.
func TestRedirectNotRecorded(t *testing.T) {
	ts, _ := newRedirectServer(t)
	dest := "https://shop.example/"
	checkRedirected(t, ts.do(t, "HEAD", clickLink("shop1", dest, "")), dest)
	checkRedirected(t, ts.do(t, "GET", clickLink("shop1", dest, ""), "Cookie: _pxoptout=1"), dest)
	if n := len(ts.pub.messages()); n != 0 {
		t.Fatalf("published %d events", n)
	}
	resp := ts.do(t, "POST", clickLink("shop1", dest, ""))
	if resp.StatusCode() != fasthttp.StatusMethodNotAllowed || resp.Header.Peek(fasthttp.HeaderLocation) != nil {
		t.Fatalf("POST /r: %d, Location %q", resp.StatusCode(), resp.Header.Peek(fasthttp.HeaderLocation))
	}
}

func checkRedirected(t *testing.T, resp *fasthttp.Response, dest string) {
	t.Helper()
	if resp.StatusCode() != fasthttp.StatusFound {
		t.Fatalf("status %d (%s), want 302", resp.StatusCode(), resp.Body())
	}
	if loc := string(resp.Header.Peek(fasthttp.HeaderLocation)); loc != dest {
		t.Errorf("Location %q, want %q", loc, dest)
	}
	if cc := string(resp.Header.Peek(fasthttp.HeaderCacheControl)); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if rp := string(resp.Header.Peek("Referrer-Policy")); rp != "no-referrer-when-downgrade" {
		t.Errorf("Referrer-Policy %q", rp)
	}
}

// setCookies counts the response's Set-Cookie lines.
func setCookies(resp *fasthttp.Response) int {
	return strings.Count(resp.Header.String(), "\r\nSet-Cookie: ")
}
