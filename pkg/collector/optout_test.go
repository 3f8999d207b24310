package collector_test

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/collector"
)

// cookieLines returns the response's Set-Cookie values by cookie name.
func cookieLines(resp *fasthttp.Response) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(resp.Header.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Set-Cookie: "); ok {
			name, _, _ := strings.Cut(v, "=")
			m[name] = v
		}
	}
	return m
}

func checkOptPage(t *testing.T, resp *fasthttp.Response, text string) {
	t.Helper()
	if resp.StatusCode() != fasthttp.StatusOK {
		t.Fatalf("status %d", resp.StatusCode())
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'none'; style-src 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := string(resp.Header.Peek(name)); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	body := string(resp.Body())
	if !strings.Contains(body, text) {
		t.Errorf("page lacks %q:\n%s", text, body)
	}
	for _, bad := range []string{"<script", "<style", "style=", "onclick", "javascript:"} {
		if strings.Contains(strings.ToLower(body), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestOptOutAndIn(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.pub.keep = true

	resp := ts.do(t, "GET", "/optout", "Cookie: _pxid="+visitorID)
	checkOptPage(t, resp, "You are opted out of tracking by this site's pixel")
	cookies := cookieLines(resp)
	if got, want := cookies["_pxoptout"], "_pxoptout=1; max-age=34560000; path=/; SameSite=Lax"; got != want {
		t.Errorf("opt-out cookie %q, want %q", got, want)
	}
	for _, name := range []string{"_pxid", "_pxsid", "_pxclk"} {
		if got, want := cookies[name], name+"=; max-age=0; path=/; SameSite=Lax"; got != want {
			t.Errorf("%s: %q, want %q (expired)", name, got, want)
		}
	}

	// The browser now sends the cookie: its hits are answered, not recorded.
	checkGIF(t, ts.do(t, "GET", validHit, "Cookie: _pxoptout=1"))
	if n := len(ts.pub.messages()); n != 0 {
		t.Fatalf("an opted-out hit was published (%d)", n)
	}

	resp = ts.do(t, "GET", "/optin", "Cookie: _pxoptout=1")
	checkOptPage(t, resp, "You are opted back in to tracking by this site's pixel")
	cookies = cookieLines(resp)
	if got, want := cookies["_pxoptout"], "_pxoptout=; max-age=0; path=/; SameSite=Lax"; got != want || len(cookies) != 1 {
		t.Errorf("opt-in cookies %v, want only %q", cookies, want)
	}

	if got := ts.metric(t, `pixel_http_requests_total{path="/optout"}`); got != 1 {
		t.Errorf("/optout requests %v", got)
	}
	resp = ts.do(t, "POST", "/optout")
	if resp.StatusCode() != fasthttp.StatusMethodNotAllowed || len(cookieLines(resp)) != 0 {
		t.Errorf("POST /optout: %d, cookies %v", resp.StatusCode(), cookieLines(resp))
	}
}

// The cookies carry the collector's cookie attributes, so that a collector
// on its own domain (SameSite=None; Secure) sees its opt-out cookie on
// cross-site hits.
func TestOptOutCookieAttributes(t *testing.T) {
	ts := newTestServer(t, func(c *collector.Config) {
		c.Pixel.Cookie.Domain = "shop.example"
		c.Pixel.Cookie.SameSite = fasthttp.CookieSameSiteNoneMode
		c.Pixel.Cookie.Secure = true
		c.Pixel.Privacy.OptOutCookie = "no_px"
	})
	cookies := cookieLines(ts.do(t, "GET", "/optout"))
	if got, want := cookies["no_px"], "no_px=1; max-age=34560000; domain=shop.example; path=/; secure; SameSite=None"; got != want {
		t.Errorf("opt-out cookie %q, want %q", got, want)
	}
	cookies = cookieLines(ts.do(t, "GET", "/optin"))
	if got, want := cookies["no_px"], "no_px=; max-age=0; domain=shop.example; path=/; secure; SameSite=None"; got != want {
		t.Errorf("opt-in cookie %q, want %q", got, want)
	}
}

func TestOptOutWithoutCookie(t *testing.T) {
	ts := newTestServer(t, func(c *collector.Config) { c.Pixel.Privacy.OptOutCookie = "" })
	for _, path := range []string{"/optout", "/optin"} {
		resp := ts.do(t, "GET", path)
		if resp.StatusCode() != fasthttp.StatusNotFound || len(cookieLines(resp)) != 0 || !strings.Contains(string(resp.Body()), "-optout-cookie") {
			t.Errorf("%s without an opt-out cookie: %d %q", path, resp.StatusCode(), resp.Body())
		}
	}
}
