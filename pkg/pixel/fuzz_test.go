package pixel

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// FuzzParseQuery builds an event from an arbitrary query string and headers.
// It must never panic; a refused hit gives one of the listed reasons; an
// accepted hit gives an event the consumer's parser reads back unchanged
// (but for invalid UTF-8, which the encoder replaces by U+FFFD).
func FuzzParseQuery(f *testing.F) {
	f.Add("id=px1", "", "")
	f.Add("id=px1&ev=Purchase&eid=e-1&dl=https%3A%2F%2Fx.example%2F&rl=r&ts=1767268799123&cd[value]=9.99&cd[currency]=eur&cd[order_id]=o1", "https://ref.example/", "_pxid="+visitorID)
	f.Add(`id=px1&cd[content_ids]=["a","b"]&cd%5Bplan%5D=pro&cd[x]=%FF%00"`, "", "")
	f.Add("id=px1&cd[content_ids]=1,2, 3&cd[value]=-0&dl=&rl=%E4%B8", "\xff", "_pxsid=x")
	f.Add("id=a&id=b&ts=0&ts=1&cd[k]=1&cd[k]=2&cd[]=3&cd[=4", "", "_pxoptout=1")
	f.Add("%zz=%&&=&id=%", "", "")
	f.Fuzz(func(t *testing.T, query, referer, cookie string) {
		var req fasthttp.Request
		req.SetRequestURI("/p.gif")
		req.URI().SetQueryString(query)
		req.Header.Set(fasthttp.HeaderReferer, referer)
		req.Header.Set(fasthttp.HeaderCookie, cookie)
		req.Header.Set(fasthttp.HeaderUserAgent, browserUA)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 5}, nil)

		cfg := DefaultConfig()
		h := AcquireHit()
		defer ReleaseHit(h)
		if err := h.FromRequest(&ctx, &cfg, testNow); err != nil {
			if ie, ok := err.(*InvalidError); !ok || !slices.Contains(Reasons, ie) {
				t.Fatalf("FromRequest(%q) = %v, not one of the listed reasons", query, err)
			}
			return
		}
		e := &h.Event
		if err := e.Validate(); err != nil {
			t.Fatalf("FromRequest(%q) accepted an event that does not validate: %v", query, err)
		}
		if len(e.Currency) != 0 && (len(e.Currency) != 3 || string(e.Currency) != strings.ToUpper(string(e.Currency))) {
			t.Fatalf("currency %q", e.Currency)
		}
		if len(e.Props) > 0 && (e.Props[0] != '{' || !json.Valid(e.Props)) {
			t.Fatalf("props %q is not a JSON object", e.Props)
		}
		if len(e.ContentIDs) > cfg.Limits.MaxContentIDs {
			t.Fatalf("%d content ids", len(e.ContentIDs))
		}

		data := event.AppendJSON(nil, e)
		if !json.Valid(data) {
			t.Fatalf("AppendJSON gives invalid JSON: %s", data)
		}
		var got event.Event
		if err := event.Parse(data, &got); err != nil {
			t.Fatalf("query %q: event.Parse(%s) = %v", query, data, err)
		}
		want := fieldsOf(e)
		want.url = string([]rune(want.url))
		want.referrer = string([]rune(want.referrer))
		want.orderID = string([]rune(want.orderID))
		for i, id := range want.contentIDs {
			want.contentIDs[i] = string([]rune(id))
		}
		if g := fieldsOf(&got); !g.equal(want) {
			t.Fatalf("query %q: parsed back\n %+v\nwant\n %+v", query, g, want)
		}
		if !bytes.Equal(got.VisitorID, e.VisitorID) || !bytes.Equal(got.SessionID, e.SessionID) || string(got.IP) != "203.0.113.7" {
			t.Fatalf("query %q: visitor %q session %q ip %q", query, got.VisitorID, got.SessionID, got.IP)
		}
	})
}

// FuzzClientIP checks that the client IP is always the peer or one of the
// X-Forwarded-For entries, and the peer whenever the peer is not trusted.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.0/8", "10.0.0.1", "203.0.113.7, 10.1.1.1", "")
	f.Add("10.0.0.0/8,2001:db8::/32", "2001:db8::1", "junk", "::ffff:1.2.3.4")
	f.Add("", "203.0.113.7", "1.1.1.1", "2.2.2.2")
	f.Fuzz(func(t *testing.T, trusted, peer, xff1, xff2 string) {
		tp, err := ParseTrustedProxies(trusted)
		if err != nil {
			return
		}
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		got := tp.ClientIP(p, []byte(xff1), []byte(xff2))
		if got == p.Unmap() {
			return
		}
		if !tp.trusted(p) {
			t.Fatalf("untrusted peer %s, yet client %s from X-Forwarded-For %q, %q", p, got, xff1, xff2)
		}
		for _, entry := range strings.Split(xff1+","+xff2, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(entry)); err == nil && a.Unmap() == got {
				return
			}
		}
		t.Fatalf("client %s is neither the peer %s nor in X-Forwarded-For %q, %q", got, p, xff1, xff2)
	})
}

// FuzzParseTrustedProxies checks that a list that parses trusts each address
// it names.
func FuzzParseTrustedProxies(f *testing.F) {
	f.Add("10.0.0.0/8, 192.168.1.10")
	f.Add("2001:db8::/32,::ffff:10.0.0.1")
	f.Add("10.0.0.0/33,x")
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTrustedProxies(s)
		if err != nil {
			return
		}
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" || strings.Contains(f, "/") {
				continue
			}
			// A zone ("fe80::1%eth0") is dropped: peers never carry one.
			if a := netip.MustParseAddr(f).WithZone(""); !tp.trusted(a) {
				t.Fatalf("ParseTrustedProxies(%q) does not trust %s", s, a)
			}
		}
	})
}
