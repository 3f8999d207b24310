package pixel

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

const (
	visitorID = "Zm9vYmFyYmF6cXV4cXV1eA" // a valid id as AppendNewID makes them
	sessionID = "c2Vzc2lvbmlkZW50aWZpZQ"
	browserUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
)

// newCtx returns a request context as the server would hand it to a handler:
// the request is read from its wire form, header lines exactly as given
// ("Name: value"), and comes from peer.
func newCtx(t testing.TB, peer, uri string, headers ...string) *fasthttp.RequestCtx {
	t.Helper()
	raw := "GET " + uri + " HTTP/1.1\r\nHost: shop.example\r\n" + strings.Join(headers, "\r\n")
	if len(headers) > 0 {
		raw += "\r\n"
	}
	raw += "\r\n"
	var req fasthttp.Request
	if err := req.Read(bufio.NewReaderSize(strings.NewReader(raw), 64<<10)); err != nil {
		t.Fatalf("cannot read test request %.200q: %v", raw, err)
	}
	ip := net.ParseIP(peer)
	if ip == nil {
		t.Fatalf("bad test peer %q", peer)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: ip, Port: 54321}, nil)
	return &ctx
}

// fromRequest runs FromRequest with cfg on a fresh Hit.
func fromRequest(t *testing.T, cfg Config, ctx *fasthttp.RequestCtx) (*Hit, error) {
	t.Helper()
	h := new(Hit)
	return h, h.FromRequest(ctx, &cfg, testNow)
}

func TestFromRequestNewVisitor(t *testing.T) {
	ctx := newCtx(t, "203.0.113.7", "/p.gif?id=px1&ev=Purchase&dl=https%3A%2F%2Fshop.example%2Fok", "User-Agent: "+browserUA)
	h, err := fromRequest(t, DefaultConfig(), ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &h.Event
	if !ValidCookieID(e.VisitorID) || len(e.VisitorID) != VisitorIDLen {
		t.Errorf("visitor id %q: want a new %d-character id", e.VisitorID, VisitorIDLen)
	}
	if !ValidCookieID(e.SessionID) || len(e.SessionID) != VisitorIDLen {
		t.Errorf("session id %q: want a new %d-character id", e.SessionID, VisitorIDLen)
	}
	if string(e.VisitorID) == string(e.SessionID) {
		t.Errorf("visitor and session id are both %q", e.VisitorID)
	}
	checkUUIDv7(t, string(e.EventID), testNow)
	for _, c := range []struct{ name, got, want string }{
		{"pixel_id", string(e.PixelID), "px1"},
		{"event", string(e.Name), "Purchase"},
		{"url", string(e.URL), "https://shop.example/ok"},
		{"ip", string(e.IP), "203.0.113.7"},
		{"user_agent", string(e.UserAgent), browserUA},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if e.ReceivedAt != nowSec || e.TS != nowSec {
		t.Errorf("received_at = %d, ts = %d, want both %d", e.ReceivedAt, e.TS, nowSec)
	}
	if err := e.Validate(); err != nil {
		t.Errorf("the event of a valid hit does not validate: %v", err)
	}
}

func TestFromRequestCookies(t *testing.T) {
	long := strings.Repeat("A", 64)
	for _, tc := range []struct {
		name                    string
		cookie                  string // the Cookie header, "" for none
		wantVisitor, wantSessID string // "" = a new id is issued
	}{
		{"no cookies", "", "", ""},
		{"returning visitor in a session", "_pxid=" + visitorID + "; _pxsid=" + sessionID, visitorID, sessionID},
		{"returning visitor, session expired", "_pxid=" + visitorID, visitorID, ""},
		{"among other cookies", "a=b; _pxid=" + visitorID + "; theme=dark; _pxsid=" + sessionID + "; z=1", visitorID, sessionID},
		{"ids not in our format: 8 and 64 base64url characters", "_pxid=abcd-_12; _pxsid=" + long, "", ""},
		{"chosen id of our length, last character not canonical", "_pxid=" + visitorID[:21] + "B; _pxsid=" + sessionID[:21] + "R", "", ""},
		{"too short", "_pxid=" + visitorID[:21] + "; _pxsid=1234567", "", ""},
		{"too long", "_pxid=" + visitorID + "A; _pxsid=" + long, "", ""},
		{"not base64url", "_pxid=" + visitorID[:20] + "+/; _pxsid=" + sessionID[:20] + "==", "", ""},
		{"injection attempt", `_pxid="x\",\"ip\":\"1.2.3.4"`, "", ""},
		{"empty", "_pxid=; _pxsid=", "", ""},
		{"duplicates: malformed first, valid second", "_pxid=garbage; _pxid=" + visitorID + "; _pxsid=; _pxsid=" + sessionID, visitorID, sessionID},
		{"duplicates: valid first, malformed second", "_pxid=" + visitorID + "; _pxid=x; _pxsid=" + sessionID + "; _pxsid=" + long, visitorID, sessionID},
		{"duplicates: two valid, the first wins", "_pxid=" + visitorID + "; _pxid=" + sessionID, visitorID, ""},
		{"duplicates: all malformed", "_pxid=a; _pxid=b; _pxid=" + long, "", ""},
		{"duplicates: the visitor's id in the session cookie's place", "_pxsid=x; _pxid=x; _pxsid=" + sessionID + "; _pxid=" + visitorID, visitorID, sessionID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One Cookie header, and the same cookies split over one
			// header line each (HTTP/2 and HTTP/3 send them so).
			lines := [][]string{nil, nil}
			if tc.cookie != "" {
				lines[0] = []string{"Cookie: " + tc.cookie}
				for c := range strings.SplitSeq(tc.cookie, "; ") {
					lines[1] = append(lines[1], "Cookie: "+c)
				}
			}
			for _, hdr := range lines {
				h, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", "/p.gif?id=px1", hdr...))
				if err != nil {
					t.Fatal(err)
				}
				check := func(name string, got []byte, want string) {
					switch {
					case want != "" && string(got) != want:
						t.Errorf("%q: %s = %q, want the cookie's %q", hdr, name, got, want)
					case want == "" && (len(got) != VisitorIDLen || !ValidCookieID(got) || strings.Contains(tc.cookie, string(got))):
						t.Errorf("%q: %s = %q, want a new id", hdr, name, got)
					}
				}
				check("visitor id", h.Event.VisitorID, tc.wantVisitor)
				check("session id", h.Event.SessionID, tc.wantSessID)
			}
		})
	}
}

func TestFromRequestURL(t *testing.T) {
	const ref = "https://shop.example/from-referer"
	for _, tc := range []struct {
		name, uri string
		headers   []string
		want      string
	}{
		{"dl wins over Referer", "/p.gif?id=px1&dl=https://shop.example/dl", []string{"Referer: " + ref}, "https://shop.example/dl"},
		{"Referer when no dl", "/p.gif?id=px1", []string{"Referer: " + ref}, ref},
		{"Referer when dl is empty", "/p.gif?id=px1&dl=", []string{"Referer: " + ref}, ref},
		{"no dl, no Referer", "/p.gif?id=px1", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", tc.uri, tc.headers...))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(h.Event.URL); got != tc.want {
				t.Fatalf("url = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFromRequestInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, uri string
		headers   []string
		want      *InvalidError
	}{
		{"bad query", "/p.gif?ev=PageView", nil, ErrMissingPixelID},
		{"Referer too long", "/p.gif?id=px1", []string{"Referer: https://x.example/" + strings.Repeat("a", 4096)}, ErrTooLong},
		{"User-Agent too long", "/p.gif?id=px1", []string{"User-Agent: " + strings.Repeat("a", 1025)}, ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", tc.uri, tc.headers...)); err != tc.want {
				t.Fatalf("FromRequest = %v, want %v", err, tc.want)
			}
		})
	}
	// A long Referer does not matter when dl is given.
	ctx := newCtx(t, "203.0.113.7", "/p.gif?id=px1&dl=x", "Referer: https://x.example/"+strings.Repeat("a", 4096))
	if _, err := fromRequest(t, DefaultConfig(), ctx); err != nil {
		t.Fatalf("long Referer with dl: %v", err)
	}
}

func TestFromRequestKeepsClientValues(t *testing.T) {
	ctx := newCtx(t, "203.0.113.7", "/p.gif?id=px1&eid=client-id-1&ts=1767268700000", "User-Agent: "+browserUA)
	h, err := fromRequest(t, DefaultConfig(), ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(h.Event.EventID); got != "client-id-1" {
		t.Errorf("event_id = %q, want the client's eid", got)
	}
	if h.Event.TS != nowSec-100 {
		t.Errorf("ts = %d, want the client's %d", h.Event.TS, nowSec-100)
	}
}

func TestFromRequestPrivacy(t *testing.T) {
	const query = "/p.gif?id=px1"
	for _, tc := range []struct {
		name    string
		privacy Privacy
		headers []string
		optOut  bool
	}{
		{"no signal", DefaultConfig().Privacy, nil, false},
		{"opt-out cookie", DefaultConfig().Privacy, []string{"Cookie: _pxoptout=1"}, true},
		{"opt-out cookie with another value", DefaultConfig().Privacy, []string{"Cookie: _pxid=" + visitorID + "; _pxoptout=yes"}, true},
		{"opt-out cookie empty", DefaultConfig().Privacy, []string{"Cookie: _pxoptout="}, false},
		{"opt-out cookie not configured", Privacy{}, []string{"Cookie: _pxoptout=1"}, false},
		{"custom opt-out cookie", Privacy{OptOutCookie: "no_track"}, []string{"Cookie: no_track=1"}, true},
		{"GPC honoured by default", DefaultConfig().Privacy, []string{"Sec-GPC: 1"}, true},
		{"GPC header name in lower case", DefaultConfig().Privacy, []string{"sec-gpc: 1"}, true},
		{"GPC other value", DefaultConfig().Privacy, []string{"Sec-GPC: 0"}, false},
		{"GPC not honoured", Privacy{}, []string{"Sec-GPC: 1"}, false},
		{"DNT not honoured by default", DefaultConfig().Privacy, []string{"DNT: 1"}, false},
		{"DNT honoured", Privacy{HonorDNT: true}, []string{"DNT: 1"}, true},
		{"DNT 0", Privacy{HonorDNT: true}, []string{"DNT: 0"}, false},
		{"GPC 0 then 1", DefaultConfig().Privacy, []string{"Sec-GPC: 0", "Sec-GPC: 1"}, true},
		{"GPC 1 then 0", DefaultConfig().Privacy, []string{"Sec-GPC: 1", "sec-gpc: 0"}, true},
		{"GPC 0 twice", DefaultConfig().Privacy, []string{"Sec-GPC: 0", "Sec-GPC: 0"}, false},
		{"GPC lines joined by a proxy", DefaultConfig().Privacy, []string{"Sec-GPC: 0, 1"}, true},
		{"GPC joined without spaces", DefaultConfig().Privacy, []string{"Sec-GPC: 0,1"}, true},
		{"GPC empty, then 1", DefaultConfig().Privacy, []string{"Sec-GPC:", "Sec-GPC: 1"}, true},
		{"GPC 10", DefaultConfig().Privacy, []string{"Sec-GPC: 10"}, false},
		{"GPC true", DefaultConfig().Privacy, []string{"Sec-GPC: true"}, false},
		{"GPC 0 then 1, not honoured", Privacy{}, []string{"Sec-GPC: 0", "Sec-GPC: 1"}, false},
		{"DNT 0 then 1", Privacy{HonorDNT: true}, []string{"DNT: 0", "DNT: 1"}, true},
		{"DNT 1 then 0", Privacy{HonorDNT: true}, []string{"DNT: 1", "DNT: 0"}, true},
		{"DNT joined", Privacy{HonorDNT: true}, []string{"DNT: 0 , 1"}, true},
		{"DNT 0 then 1, not honoured", DefaultConfig().Privacy, []string{"DNT: 0", "DNT: 1"}, false},
		{"opt-out cookie empty, then set", DefaultConfig().Privacy, []string{"Cookie: _pxoptout=; _pxoptout=1"}, true},
		{"opt-out cookie on a second Cookie line", DefaultConfig().Privacy, []string{"Cookie: _pxoptout=", "Cookie: _pxoptout=1"}, true},
		{"opt-out cookie empty twice", DefaultConfig().Privacy, []string{"Cookie: _pxoptout=; _pxoptout="}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Privacy = tc.privacy
			h, err := fromRequest(t, cfg, newCtx(t, "203.0.113.7", query, tc.headers...))
			if tc.optOut {
				if err != ErrOptedOut {
					t.Fatalf("FromRequest = %v, want ErrOptedOut", err)
				}
				if len(h.Event.VisitorID) != 0 {
					t.Fatalf("an opted-out hit got a visitor id %q", h.Event.VisitorID)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromRequest = %v, want a recorded hit", err)
			}
		})
	}
	// The opt-out cookie wins over an invalid query: nothing of the hit is
	// looked at. (Sec-GPC and DNT are judged by the pixel's settings, after
	// the query named the pixel.)
	if _, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", "/p.gif?ts=bad", "Cookie: _pxoptout=1")); err != ErrOptedOut {
		t.Fatalf("opted out with a bad query: %v, want ErrOptedOut", err)
	}
}

func TestFromRequestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		trusted TrustedProxies
		peer    string
		headers []string
		want    string
	}{
		{"no proxies: the peer", TrustedProxies{}, "203.0.113.7", nil, "203.0.113.7"},
		{"no proxies: X-Forwarded-For is ignored", TrustedProxies{}, "203.0.113.7", []string{"X-Forwarded-For: 1.2.3.4"}, "203.0.113.7"},
		{"untrusted peer: X-Forwarded-For is ignored", trusted, "198.51.100.1", []string{"X-Forwarded-For: 1.2.3.4"}, "198.51.100.1"},
		{"trusted peer", trusted, "10.0.0.1", []string{"X-Forwarded-For: 203.0.113.7"}, "203.0.113.7"},
		{"trusted peer, spoofed entries on the left", trusted, "10.0.0.1", []string{"X-Forwarded-For: 6.6.6.6, 203.0.113.7"}, "203.0.113.7"},
		{"trusted peer, spoofed header line before the proxy's", trusted, "10.0.0.1", []string{"X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 203.0.113.7"}, "203.0.113.7"},
		{"trusted peer, two proxies", trusted, "10.0.0.1", []string{"X-Forwarded-For: 203.0.113.7, 10.1.1.1"}, "203.0.113.7"},
		{"trusted peer, two proxies on two lines", trusted, "10.0.0.1", []string{"X-Forwarded-For: 203.0.113.7", "x-forwarded-for: 10.1.1.1"}, "203.0.113.7"},
		{"trusted peer without the header", trusted, "10.0.0.1", nil, "10.0.0.1"},
		{"IPv6", trusted, "2001:db8::1", []string{"X-Forwarded-For: 2001:db8::2, 2a00:1450::68"}, "2a00:1450::68"},
		{"IPv6 peer, no proxies", TrustedProxies{}, "2a00:1450::68", nil, "2a00:1450::68"},
		{"IPv4-mapped peer", trusted, "::ffff:10.0.0.1", []string{"X-Forwarded-For: 203.0.113.7"}, "203.0.113.7"},
		{"zone in X-Forwarded-For: the proxy", trusted, "10.0.0.1", []string{"X-Forwarded-For: fe80::1%<img src=x onerror=alert(1)>"}, "10.0.0.1"},
		{"8 KB zone in X-Forwarded-For", trusted, "10.0.0.1", []string{"X-Forwarded-For: fe80::1%" + strings.Repeat("z", 8<<10)}, "10.0.0.1"},
		{"zone after a trusted hop", trusted, "10.0.0.1", []string{"X-Forwarded-For: fe80::1%eth0, 10.1.1.1"}, "10.1.1.1"},
		{"link-local IPv6 peer", TrustedProxies{}, "fe80::1", nil, "fe80::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TrustedProxies = tc.trusted
			h, err := fromRequest(t, cfg, newCtx(t, tc.peer, "/p.gif?id=px1", tc.headers...))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(h.Event.IP); got != tc.want {
				t.Fatalf("ip = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFromRequestPeerZone checks that the zone of a link-local peer, which
// the connection's address carries, does not reach the ip column.
func TestFromRequestPeerZone(t *testing.T) {
	for _, trusted := range []string{"", "fe80::/10"} {
		var req fasthttp.Request
		req.SetRequestURI("/p.gif?id=px1")
		req.Header.Set(fasthttp.HeaderXForwardedFor, "fe80::2%<script>")
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "<img src=x>", Port: 5}, nil)
		cfg := DefaultConfig()
		var err error
		if cfg.TrustedProxies, err = ParseTrustedProxies(trusted); err != nil {
			t.Fatal(err)
		}
		h, err := fromRequest(t, cfg, &ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(h.Event.IP); got != "fe80::1" {
			t.Errorf("trusted %q: ip = %q, want fe80::1", trusted, got)
		}
	}
}

// TestHitReset checks that a pooled Hit carries nothing into the next request.
func TestHitReset(t *testing.T) {
	h := AcquireHit()
	ctx := newCtx(t, "203.0.113.7", `/p.gif?id=px1&ev=Lead&eid=e1&dl=u&rl=r&ts=1767268700000&cd[value]=1&cd[currency]=usd&cd[order_id]=o&cd[content_ids]=a,b&cd[k]=v`,
		"Cookie: _pxid="+visitorID+"; _pxsid="+sessionID, "User-Agent: ua")
	if err := h.FromRequest(ctx, ptr(DefaultConfig()), testNow); err != nil {
		t.Fatal(err)
	}
	h.Reset()
	if d := fieldsOf(&h.Event); !d.equal(fields{}) || len(h.Event.VisitorID)+len(h.Event.SessionID)+len(h.Event.IP)+len(h.Event.UserAgent) != 0 || h.Event.ReceivedAt != 0 {
		t.Fatalf("after Reset: %+v %+v", d, h.Event)
	}
	// Duplicates of the previous request's parameters are first ones again.
	ctx = newCtx(t, "203.0.113.8", "/p.gif?id=px2&cd[currency]=eur&cd[content_ids]=c&cd[value]=2")
	if err := h.FromRequest(ctx, ptr(DefaultConfig()), testNow); err != nil {
		t.Fatal(err)
	}
	want := fields{pixelID: "px2", name: "PageView", ts: nowSec, value: 2, currency: "EUR", contentIDs: []string{"c"}}
	want.eventID = string(h.Event.EventID)
	want.bot = true // no User-Agent
	want.tracking[event.Channel], want.tracking[event.ActionSource], want.tracking[event.Consent] = "browser", "website", "granted"
	if got := fieldsOf(&h.Event); !got.equal(want) {
		t.Fatalf("second hit on a reused Hit:\n got %+v\nwant %+v", got, want)
	}
	if string(h.Event.VisitorID) == visitorID || string(h.Event.IP) != "203.0.113.8" {
		t.Fatalf("second hit kept the first's visitor %q or ip %q", h.Event.VisitorID, h.Event.IP)
	}
	ReleaseHit(h)
}

func ptr[T any](v T) *T { return &v }

func TestSetCookies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cookie CookieConfig
		want   []string // attributes each Set-Cookie line must carry
		not    []string // attributes it must not carry
	}{
		{
			"defaults", DefaultConfig().Cookie,
			[]string{"path=/", "samesite=lax"},
			[]string{"domain=", "secure"},
		},
		{
			"domain, strict, secure",
			CookieConfig{Domain: "shop.example", SameSite: fasthttp.CookieSameSiteStrictMode, Secure: true, VisitorMaxAge: time.Hour, SessionTimeout: time.Minute},
			[]string{"path=/", "domain=shop.example", "samesite=strict", "secure"},
			nil,
		},
		{
			"SameSite=None is always Secure",
			CookieConfig{SameSite: fasthttp.CookieSameSiteNoneMode, VisitorMaxAge: time.Hour, SessionTimeout: time.Minute},
			[]string{"samesite=none", "secure"},
			nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Cookie = tc.cookie
			h, err := fromRequest(t, cfg, newCtx(t, "203.0.113.7", "/p.gif?id=px1"))
			if err != nil {
				t.Fatal(err)
			}
			var resp fasthttp.Response
			h.SetCookies(&resp.Header, &cfg.Cookie)

			lines := map[string]string{}
			for k, v := range resp.Header.Cookies() {
				lines[string(k)] = string(v)
			}
			if len(lines) != 2 {
				t.Fatalf("Set-Cookie lines: %q, want one each for %s and %s", lines, VisitorCookie, SessionCookie)
			}
			for name, c := range map[string]struct {
				value  []byte
				maxAge time.Duration
			}{
				VisitorCookie: {h.Event.VisitorID, tc.cookie.VisitorMaxAge},
				SessionCookie: {h.Event.SessionID, tc.cookie.SessionTimeout},
			} {
				var ck fasthttp.Cookie
				ck.SetKey(name)
				if !resp.Header.Cookie(&ck) {
					t.Fatalf("no %s cookie in %q", name, lines)
				}
				if string(ck.Value()) != string(c.value) {
					t.Errorf("%s = %q, want %q", name, ck.Value(), c.value)
				}
				if ck.MaxAge() != int(c.maxAge/time.Second) {
					t.Errorf("%s Max-Age = %d, want %d", name, ck.MaxAge(), int(c.maxAge/time.Second))
				}
				line := strings.ToLower(lines[name])
				for _, attr := range tc.want {
					if !strings.Contains(line, attr) {
						t.Errorf("%s: %q lacks %q", name, lines[name], attr)
					}
				}
				for _, attr := range tc.not {
					if strings.Contains(line, attr) {
						t.Errorf("%s: %q has %q", name, lines[name], attr)
					}
				}
			}
		})
	}
}

func TestDefaultCookieLifetimes(t *testing.T) {
	c := DefaultConfig().Cookie
	if c.VisitorMaxAge != 400*24*time.Hour || c.SessionTimeout != 30*time.Minute {
		t.Fatalf("visitor max age %v, session timeout %v; want 400 days (the browsers' cap) and 30 minutes", c.VisitorMaxAge, c.SessionTimeout)
	}
}

// TestEventOfARequestParses checks the collector's contract end to end at this
// level: the event built from a request encodes to a message the consumer's
// parser accepts with the same values.
func TestEventOfARequestParses(t *testing.T) {
	ctx := newCtx(t, "203.0.113.7",
		`/p.gif?id=px1&ev=Purchase&dl=https://shop.example/%E4%B8%96?a=%22q%22&cd[value]=9.5&cd[currency]=eur&cd[content_ids]=["a","b"]&cd[plan]=pro%0A`,
		"User-Agent: "+browserUA, "Cookie: _pxid="+visitorID)
	h, err := fromRequest(t, DefaultConfig(), ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := event.AppendJSON(nil, &h.Event)
	var got event.Event
	if err := event.Parse(data, &got); err != nil {
		t.Fatalf("event.Parse(%s): %v", data, err)
	}
	if g, w := fieldsOf(&got), fieldsOf(&h.Event); !g.equal(w) {
		t.Fatalf("parsed back:\n got %+v\nwant %+v", g, w)
	}
	if string(got.VisitorID) != visitorID || string(got.IP) != "203.0.113.7" || string(got.UserAgent) != browserUA {
		t.Fatalf("parsed back visitor %q ip %q ua %q", got.VisitorID, got.IP, got.UserAgent)
	}
	if string(got.Props) != `{"plan":"pro\n"}` {
		t.Fatalf("props = %s", got.Props)
	}
}

// TestCookieBytes checks that WriteCookies formats each cookie exactly as
// fasthttp.Cookie would, for every SameSite mode, with and without Secure
// and Domain, and for lifetimes of zero, under a second and negative.
func TestCookieBytes(t *testing.T) {
	modes := []fasthttp.CookieSameSite{
		fasthttp.CookieSameSiteDisabled, fasthttp.CookieSameSiteDefaultMode, fasthttp.CookieSameSiteLaxMode,
		fasthttp.CookieSameSiteStrictMode, fasthttp.CookieSameSiteNoneMode,
	}
	for _, mode := range modes {
		for _, secure := range []bool{false, true} {
			for _, domain := range []string{"", "shop.example", "a;b.example"} {
				for _, maxAge := range []time.Duration{400 * 24 * time.Hour, 30 * time.Minute, 0, time.Millisecond, -time.Hour} {
					c := CookieConfig{Domain: domain, SameSite: mode, Secure: secure, VisitorMaxAge: maxAge, SessionTimeout: 2 * maxAge}
					checkCookieBytes(t, &c)
				}
			}
		}
	}
}

// FuzzCookieBytes is TestCookieBytes for any domain and lifetimes.
func FuzzCookieBytes(f *testing.F) {
	f.Add("shop.example", int64(400*24*time.Hour), int64(30*time.Minute), 2, false)
	f.Add("", int64(0), int64(-1), 4, true)
	f.Add(";;x\r\n", int64(1e18), int64(-1e18), 0, false)
	f.Fuzz(func(t *testing.T, domain string, visitor, session int64, mode int, secure bool) {
		c := CookieConfig{Domain: domain, SameSite: fasthttp.CookieSameSite(mode & 7), Secure: secure,
			VisitorMaxAge: time.Duration(visitor), SessionTimeout: time.Duration(session)}
		checkCookieBytes(t, &c)
	})
}

func checkCookieBytes(t *testing.T, c *CookieConfig) {
	t.Helper()
	var resp fasthttp.ResponseHeader
	WriteCookies(&resp, c, []byte(visitorID), []byte(sessionID))
	for _, ck := range []struct {
		name, id string
		maxAge   time.Duration
	}{{VisitorCookie, visitorID, c.VisitorMaxAge}, {SessionCookie, sessionID, c.SessionTimeout}} {
		var want fasthttp.Cookie
		want.SetKey(ck.name)
		want.SetValue(ck.id)
		want.SetPath("/")
		want.SetMaxAge(int(ck.maxAge / time.Second))
		if c.Domain != "" {
			want.SetDomain(c.Domain)
		}
		want.SetSecure(c.Secure)
		want.SetSameSite(c.SameSite)
		var wantHdr fasthttp.ResponseHeader
		wantHdr.SetCookie(&want)
		got, w := resp.PeekCookie(ck.name), wantHdr.PeekCookie(ck.name)
		if string(got) != string(w) {
			t.Fatalf("%+v: Set-Cookie %s, fasthttp.Cookie gives %s", c, got, w)
		}
	}
}
