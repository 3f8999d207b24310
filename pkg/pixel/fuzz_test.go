package pixel

import (
	"bytes"
	"encoding/json"
	"math"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
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
	f.Add("id=px1&cd[value]=0x1p4&cd[currency]=eur", "", "")
	f.Add("id=px1&cd[value]=-1_000.5e2", "", "")
	f.Add("id=px1&pv=p1&et=61000&cs=granted&wd=1&cm[ad_storage]=denied&ud[em]=%20A%40B.example&ud[ph]=%2B1%20650&ud[external_id]=u1"+
		"&dl=https%3A%2F%2Fshop.example%2F%3Futm_source%3D%25FF%26gclid%3Dg.1%26fbclid%3Dx%253Cy", "https://WWW.Ref.example:8443/x", "_pxclk=1|1767268000000|a|b||d||")
	f.Add("id=px1&ud[em_g]="+strings.Repeat("A", 64)+"&ud[ph_g]=x&cm[ad_user_data]=maybe&et=-1&pv=a%20b", "", "_pxclk=1|x|")
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
		for i, v := range want.tracking {
			want.tracking[i] = string([]rune(v))
		}
		if got.Millis() != e.Millis() {
			t.Fatalf("query %q: ts_ms %d parsed back as %d", query, e.Millis(), got.Millis())
		}
		if g := fieldsOf(&got); !g.equal(want) {
			t.Fatalf("query %q: parsed back\n %+v\nwant\n %+v", query, g, want)
		}
		if !bytes.Equal(got.VisitorID, e.VisitorID) || !bytes.Equal(got.SessionID, e.SessionID) || string(got.IP) != "203.0.113.7" {
			t.Fatalf("query %q: visitor %q session %q ip %q", query, got.VisitorID, got.SessionID, got.IP)
		}
	})
}

// FuzzParseRawQuery checks the request path's query parser against
// ParseQuery over fasthttp's own parse of the same query: the same outcome
// and the same event, from a fresh Hit and from one that held another
// query (parseQuery does the comparing).
func FuzzParseRawQuery(f *testing.F) {
	f.Add("id=px1")
	f.Add("id=px1&ev=Purchase&eid=e-1&dl=https%3A%2F%2Fx.example%2F&rl=r&ts=1767268799123&cd%5Bvalue%5D=9.99&cd[currency]=eur&cd[order_id]=o1")
	f.Add(`id=px1&cd[content_ids]=["a","b"]&cd%5Bplan%5D=pro&cd[x]=%FF%00"`)
	f.Add("%69%64=px%31&cd%5b%6b%5d=%%41%4&cd[+]=1&dl=a+b")
	f.Add("%zz=%&&=&id=%")
	f.Add("id=px1&dl=%2")
	f.Add("id=px1&pv=p1&et=61000&cs=granted&wd=1&cm%5Bad_storage%5D=denied&ud[em]=a%40b&ud%5bph%5d=%2B1&cm[x]=1&ud[]=2")
	f.Fuzz(func(t *testing.T, query string) {
		_, _ = parseQuery(t, query)
	})
}

// FuzzParseValue checks cd[value]'s format against a regular expression:
// exactly the plain decimals within event.MaxAbsValue are accepted, with
// the value strconv.ParseFloat gives them.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"19.90", "-5", "0", "007.5", "1e3", "0x1p4", "1_000", "+5", "inf", "NaN", ".5", "5.", "-", "1000000000000001", "123456789012.345", "0.000000000000001", "-9999999999999.99", "999999999999999", "0.1234567890123456"} {
		f.Add(s)
	}
	plain := regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseValue([]byte(s))
		want, perr := strconv.ParseFloat(s, 64)
		ok := plain.MatchString(s) && perr == nil && math.Abs(want) <= event.MaxAbsValue
		switch {
		case ok && (err != nil || got != want):
			t.Fatalf("parseValue(%q) = %v, %v; want %v", s, got, err, want)
		case !ok && err != ErrBadValue:
			t.Fatalf("parseValue(%q) = %v, %v; want ErrBadValue", s, got, err)
		}
	})
}

// FuzzClientIP checks that the client IP is always the peer or one of the
// X-Forwarded-For entries, the peer whenever the peer is not trusted, and
// never has a zone: its text is an address that parses back to itself.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.0/8", "10.0.0.1", "203.0.113.7, 10.1.1.1", "")
	f.Add("10.0.0.0/8,2001:db8::/32", "2001:db8::1", "junk", "::ffff:1.2.3.4")
	f.Add("", "203.0.113.7", "1.1.1.1", "2.2.2.2")
	f.Add("0.0.0.0/0", "10.0.0.1", "fe80::1%<img src=x onerror=alert(1)>", "")
	f.Add("fe80::/10", "fe80::1%eth0", "fe80::2%eth1, fe80::3", "")
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
		if got.Zone() != "" || !got.IsValid() {
			t.Fatalf("ClientIP(%s, %q, %q) = %s, want a valid address without a zone", p, xff1, xff2, got)
		}
		if back, err := netip.ParseAddr(got.String()); err != nil || back != got {
			t.Fatalf("client %s does not parse back to itself: %s, %v", got, back, err)
		}
		if got == p.Unmap().WithZone("") {
			return
		}
		if !tp.trusted(p.WithZone("")) {
			t.Fatalf("untrusted peer %s, yet client %s from X-Forwarded-For %q, %q", p, got, xff1, xff2)
		}
		for _, entry := range strings.Split(xff1+","+xff2, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(entry)); err == nil && a.Zone() == "" && a.Unmap() == got {
				return
			}
		}
		t.Fatalf("client %s is neither the peer %s nor in X-Forwarded-For %q, %q", got, p, xff1, xff2)
	})
}

// FuzzOptedOut sends arbitrary Sec-GPC and DNT header lines: a hit is
// opted out exactly when one comma-separated element of one line is "1".
func FuzzOptedOut(f *testing.F) {
	f.Add("1", "", "", "")
	f.Add("0", "1", "", "")
	f.Add("0, 1", "", "0", "1")
	f.Add(" 1 ,", "x", "1,0", "")
	f.Add("10", "true", "01", ",,")
	f.Fuzz(func(t *testing.T, gpc1, gpc2, dnt1, dnt2 string) {
		var req fasthttp.Request
		req.SetRequestURI("/p.gif?id=px1")
		says := func(lines ...string) bool {
			for _, l := range lines {
				for item := range strings.SplitSeq(l, ",") {
					if strings.Trim(item, " \t") == "1" {
						return true
					}
				}
			}
			return false
		}
		for _, l := range [][2]string{{"Sec-GPC", gpc1}, {"Sec-GPC", gpc2}, {"DNT", dnt1}, {"DNT", dnt2}} {
			if l[1] != "" {
				req.Header.Add(l[0], l[1])
			}
		}
		// The lines as fasthttp keeps them.
		var gpc, dnt []string
		for _, v := range req.Header.PeekAll("Sec-GPC") {
			gpc = append(gpc, string(v))
		}
		for _, v := range req.Header.PeekAll("DNT") {
			dnt = append(dnt, string(v))
		}
		var h Hit
		h.readRequest(&req.Header, &Privacy{})
		if h.gpc != says(gpc...) || h.dnt != says(dnt...) {
			t.Fatalf("Sec-GPC %q, DNT %q: read gpc %v, dnt %v, want %v, %v", gpc, dnt, h.gpc, h.dnt, says(gpc...), says(dnt...))
		}
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

// FuzzParseBody reads an arbitrary POST /collect body. It must never panic;
// Reset must accept exactly the bodies encoding/json finds valid (an object
// or an array, nested within the limit); a refused event gives one of the
// listed reasons; an accepted event gives a message the consumer's parser
// reads back unchanged (but for invalid UTF-8, which the encoder replaces by
// U+FFFD), and the events of one body share one visitor.
func FuzzParseBody(f *testing.F) {
	f.Add(`{"id":"px1"}`, "")
	f.Add(`{"id":"px1","ev":"Purchase","eid":"e-1","dl":"https://x.example/","rl":"r","ts":1767268799123,"cd":{"value":"9.99","currency":"eur","order_id":1,"content_ids":["a",2],"coupon":"X","n":1.5,"b":true}}`, "_pxid="+visitorID)
	f.Add(`[{"id":"px1"},{"ev":"x"},42,{"id":"a","cd":{"value":{}}},{"id":"px2","cd":null}]`, "_pxoptout=1")
	f.Add(`{"\u0069d":"p\u0078","dl":"\ud83d\ude00\ud800\"\\\/\b\f\n\r\t","cd":{"k\u00e9":"\u0000"}}`, "")
	f.Add(`{"id":"a","id":"b","cd":{"value":1,"value":"x"},"cd":[]}`, "")
	f.Add(`[[[[{"id":"px1"}]]]]`, "")
	f.Add("{\"id\":\"px1\",\"dl\":\"\xff\xfe\"}", "")
	f.Add(`{"id":"px1","ts":1e3,"x":-0.0E+1}`, "")
	f.Add(`[{"id":"px1","cd":{"value":1e3}},{"id":"px1","cd":{"value":"+5"}},{"id":"px1","cd":{"value":"-19.90"}}]`, "")
	f.Add(`{"id":"px1","pv":"p1","et":15000,"cs":"granted","wd":true,"cm":{"ad_storage":"granted","x":1},"ud":{"em":"A@B.example","ph":"+1 650","external_id":7,"em_g":null}}`, "_pxclk=1|1|g||||||")
	f.Add(`{"id":"px1","et":"12","wd":1,"cm":[],"ud":{"em":{}}}`, "")
	f.Fuzz(func(t *testing.T, body, cookie string) {
		var req fasthttp.Request
		req.SetRequestURI("/collect")
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.Set(fasthttp.HeaderCookie, cookie)
		req.Header.Set(fasthttp.HeaderUserAgent, browserUA)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 5}, nil)
		cfg := DefaultConfig()

		data := []byte(body)
		var b Body
		err := b.Reset(data, cfg.Limits.MaxBatchEvents)
		if want := jsonBody(data); (err == nil) != want {
			t.Fatalf("Reset(%q) = %v, but encoding/json says valid=%v", body, err, want)
		}
		if err != nil {
			if err != ErrBadBody {
				t.Fatalf("Reset(%q) = %v, want ErrBadBody", body, err)
			}
			return
		}
		if b.Len() > cfg.Limits.MaxBatchEvents {
			t.Fatalf("%d events over the limit of %d", b.Len(), cfg.Limits.MaxBatchEvents)
		}
		h := AcquireHit()
		defer ReleaseHit(h)
		visitor := ""
		for n := b.Len(); n > 0; n-- {
			err := h.FromBody(&ctx, &cfg, &b, testNow)
			if b.Len() != n-1 {
				t.Fatalf("body %q: Len %d after an event, want %d", body, b.Len(), n-1)
			}
			if err != nil {
				if ie, ok := err.(*InvalidError); !ok || !slices.Contains(Reasons, ie) || ie == ErrBadBody {
					t.Fatalf("FromBody(%q) = %v, not one of the listed event reasons", body, err)
				}
				continue
			}
			checkRoundTrip(t, body, &h.Event, &cfg.Limits)
			if visitor == "" {
				visitor = string(h.Event.VisitorID)
			} else if string(h.Event.VisitorID) != visitor {
				t.Fatalf("body %q: visitors %q and %q in one request", body, visitor, h.Event.VisitorID)
			}
		}
	})
}

// jsonBody reports whether data is a body Body.Reset must accept.
func jsonBody(data []byte) bool {
	if !json.Valid(data) {
		return false
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if trimmed[0] != '{' && trimmed[0] != '[' {
		return false
	}
	// Nesting, counted outside strings.
	depth, maxSeen, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '{' || c == '['):
			depth++
			maxSeen = max(maxSeen, depth)
		case !inString && (c == '}' || c == ']'):
			depth--
		}
	}
	return maxSeen <= jsonscan.MaxDepth+1
}

// checkRoundTrip checks an accepted event: it validates, stays within the
// limits, and the consumer's parser reads its wire form back unchanged.
func checkRoundTrip(t *testing.T, input string, e *event.Event, lim *Limits) {
	t.Helper()
	if err := e.Validate(); err != nil {
		t.Fatalf("input %q: an accepted event does not validate: %v", input, err)
	}
	if len(e.Currency) != 0 && (len(e.Currency) != 3 || string(e.Currency) != strings.ToUpper(string(e.Currency))) {
		t.Fatalf("input %q: currency %q", input, e.Currency)
	}
	if len(e.Props) > 0 && (e.Props[0] != '{' || !json.Valid(e.Props)) {
		t.Fatalf("input %q: props %q is not a JSON object", input, e.Props)
	}
	if len(e.ContentIDs) > lim.MaxContentIDs || len(e.URL) > lim.MaxURLLen || len(e.Referrer) > lim.MaxURLLen {
		t.Fatalf("input %q: %d content ids, url of %d bytes, referrer of %d", input, len(e.ContentIDs), len(e.URL), len(e.Referrer))
	}
	data := event.AppendJSON(nil, e)
	if !json.Valid(data) {
		t.Fatalf("input %q: AppendJSON gives invalid JSON: %s", input, data)
	}
	var got event.Event
	if err := event.Parse(data, &got); err != nil {
		t.Fatalf("input %q: event.Parse(%s) = %v", input, data, err)
	}
	want := fieldsOf(e)
	want.url = string([]rune(want.url))
	want.referrer = string([]rune(want.referrer))
	want.orderID = string([]rune(want.orderID))
	for i, id := range want.contentIDs {
		want.contentIDs[i] = string([]rune(id))
	}
	if g := fieldsOf(&got); !g.equal(want) {
		t.Fatalf("input %q: parsed back\n %+v\nwant\n %+v", input, g, want)
	}
	if !bytes.Equal(got.VisitorID, e.VisitorID) || !bytes.Equal(got.SessionID, e.SessionID) || string(got.IP) != "203.0.113.7" {
		t.Fatalf("input %q: visitor %q session %q ip %q", input, got.VisitorID, got.SessionID, got.IP)
	}
}

// FuzzCookie sends arbitrary Cookie headers. It must never panic; the
// visitor and session ids are the first of the cookies' values that is an
// id we issue (by encoding/base64's judgement, see canonicalID) and fresh
// 22-character ids otherwise; the Set-Cookie headers written back parse as
// cookies holding exactly those ids.
func FuzzCookie(f *testing.F) {
	f.Add("_pxid="+visitorID, "")
	f.Add("_pxid="+visitorID+"; _pxsid=abcdefgh12345678", "")
	f.Add(`_pxid="quoted"; _pxid=second-value-1234`, "_pxid="+visitorID)
	f.Add("_pxid=short; _pxsid=; _pxoptout=", "_pxsid="+sessionID)
	f.Add("_pxid=\xff\xfe\x00;;;=; _pxsid==x=", "")
	f.Add(strings.Repeat("a=b; ", 200)+"_pxid="+visitorID, "")
	f.Add("_pxid="+visitorID[:21]+"B; _pxid="+visitorID, "_pxsid="+sessionID+"==")
	f.Fuzz(func(t *testing.T, cookie, cookie2 string) {
		var req fasthttp.Request
		req.SetRequestURI("/p.gif?id=px1")
		req.Header.Set(fasthttp.HeaderCookie, cookie)
		if cookie2 != "" {
			req.Header.Add(fasthttp.HeaderCookie, cookie2)
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 5}, nil)
		cfg := DefaultConfig()
		h := AcquireHit()
		defer ReleaseHit(h)
		err := h.FromRequest(&ctx, &cfg, testNow)
		if err == ErrOptedOut {
			return
		}
		if err != nil {
			t.Fatalf("Cookie %q, %q: %v", cookie, cookie2, err)
		}
		for _, c := range []struct {
			name string
			got  []byte
		}{{VisitorCookie, h.Event.VisitorID}, {SessionCookie, h.Event.SessionID}} {
			var sent []byte
			for k, v := range ctx.Request.Header.Cookies() {
				if string(k) == c.name && canonicalID(string(v)) {
					sent = v
					break
				}
			}
			if sent != nil {
				if !bytes.Equal(c.got, sent) {
					t.Fatalf("Cookie %q, %q: %s = %q, want the valid cookie %q", cookie, cookie2, c.name, c.got, sent)
				}
			} else if !canonicalID(string(c.got)) || strings.Contains(cookie+cookie2, string(c.got)) {
				t.Fatalf("Cookie %q, %q: %s = %q, want a new %d-character id", cookie, cookie2, c.name, c.got, VisitorIDLen)
			}
		}
		h.SetCookies(&ctx.Response.Header, &cfg.Cookie)
		for _, c := range []struct {
			name string
			want []byte
		}{{VisitorCookie, h.Event.VisitorID}, {SessionCookie, h.Event.SessionID}} {
			var ck fasthttp.Cookie
			ck.SetKey(c.name)
			if !ctx.Response.Header.Cookie(&ck) {
				t.Fatalf("no Set-Cookie for %s", c.name)
			}
			var back fasthttp.Cookie
			if err := back.ParseBytes(ck.Cookie()); err != nil {
				t.Fatalf("Set-Cookie %q does not parse: %v", ck.Cookie(), err)
			}
			if !bytes.Equal(back.Value(), c.want) || string(back.Path()) != "/" {
				t.Fatalf("Set-Cookie %q, want %s=%s; Path=/", ck.Cookie(), c.name, c.want)
			}
		}
	})
}

// FuzzReadersAgree checks that the collector's body parser and the
// consumer's wire decoder read JSON by one rule set where their grammars
// overlap: a JSON value v as a string field (dl in a body, url in a wire
// message) is accepted by both with the same text, or refused by both for
// the same cause (malformed, or of the wrong type), null being an absent
// key in both; as the value of an unknown key it is skipped by both. Only
// well-formed values of valid UTF-8 are compared: the wire format refuses
// other bytes, and a malformed value may make the two documents differ.
func FuzzReadersAgree(f *testing.F) {
	for _, v := range []string{
		`"https://x.example/"`, `""`, `null`, `"\u00e9\ud83d\ude00\ud800\"\\\/\b\f\n\r\t"`, `"a\u0000b"`,
		`5`, `-0.5e3`, `true`, `{}`, `[]`, `{"a":[1,{"b":null}]}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`"x"  `, ` "x"`, `"\uD800\uDC00"`,
		strings.Repeat("[", jsonscan.MaxDepth+1) + strings.Repeat("]", jsonscan.MaxDepth+1),
	} {
		f.Add(v)
	}
	const required = `{"event_id":"e1","pixel_id":"p1","visitor_id":"v1","event":"PageView","ts":1767268790,"received_at":1767268800,`
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, v string) {
		if !json.Valid([]byte(v)) || !utf8.Valid([]byte(v)) || len(v) > lim.MaxURLLen {
			return
		}
		for _, keys := range [][2]string{{"dl", "url"}, {"zz", "zz"}} {
			body := `{"id":"px1","` + keys[0] + `":` + v + `}`
			wire := required + `"` + keys[1] + `":` + v + `}`

			collector, url := "ok", ""
			var b Body
			h := new(Hit)
			switch err := b.Reset([]byte(body), 1); {
			case err != nil:
				collector = "syntax"
			default:
				switch err := b.Next(h, &lim, testNow); err {
				case nil:
					url = string(h.Event.URL)
				case ErrBadType:
					collector = "type"
				default:
					t.Fatalf("%s: %v", body, err)
				}
			}

			consumer := "ok"
			var e event.Event
			switch err := event.Parse([]byte(wire), &e); err {
			case nil:
			case event.ErrSyntax:
				consumer = "syntax"
			case event.ErrType:
				consumer = "type"
			default:
				t.Fatalf("%s: %v", wire, err)
			}
			if collector != consumer || (collector == "ok" && url != string(e.URL)) {
				t.Fatalf("value %q: /collect says %s (%q), the wire decoder %s (%q)", v, collector, url, consumer, e.URL)
			}
		}
	})
}
