package pixel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// fakeRegistry answers every pixel with settings, and records the host it
// was asked about.
type fakeRegistry struct {
	settings Settings
	err      error
	record   bool // keep host (which allocates)
	host     string
}

func (r *fakeRegistry) Check(_, host []byte) (Settings, error) {
	if r.record {
		r.host = string(host)
	}
	return r.settings, r.err
}

func withRegistry(r *fakeRegistry) Config {
	cfg := DefaultConfig()
	cfg.Registry = r
	return cfg
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func tracking(e *event.Event, col int) string { return string(e.Tracking[col]) }

func TestCampaignAndClickIDs(t *testing.T) {
	page := "https://shop.example/landing?utm_source=google&utm_medium=cpc&utm_campaign=spring+sale&utm_term=mugs%20blue" +
		"&utm_content=ad-1&gclid=EAIaIQobChMI_x-1&fbclid=IwAR2x.y&utm_source=second#utm_medium=fragment"
	q := "/p.gif?id=px1&dl=" + url.QueryEscape(page) + "&rl=" + url.QueryEscape("https://WWW.Google.com/search?q=x")
	h, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", q, "User-Agent: "+browserUA))
	if err != nil {
		t.Fatal(err)
	}
	e := &h.Event
	for col, want := range map[int]string{
		event.UTMSource: "google", event.UTMMedium: "cpc", event.UTMCampaign: "spring sale", event.UTMTerm: "mugs blue",
		event.UTMContent: "ad-1", event.GCLID: "EAIaIQobChMI_x-1", event.FBCLID: "IwAR2x.y", event.GBRAID: "",
		event.ReferrerHost: "www.google.com", event.Channel: "browser", event.ActionSource: "website", event.Consent: "granted",
	} {
		if got := tracking(e, col); got != want {
			t.Errorf("%s = %q, want %q", event.TrackingColumns[col], got, want)
		}
	}
	if e.ClickTSMs != testNow.UnixMilli() {
		t.Errorf("click_ts_ms = %d, want the receive time %d", e.ClickTSMs, testNow.UnixMilli())
	}
	var resp fasthttp.ResponseHeader
	cc := DefaultConfig().Cookie
	h.SetCookies(&resp, &cc)
	cookie := string(resp.PeekCookie(ClickCookie))
	if !strings.HasPrefix(cookie, ClickCookie+"=1|") || !strings.Contains(cookie, "|EAIaIQobChMI_x-1|||IwAR2x.y||") ||
		!strings.Contains(cookie, "max-age=7776000") {
		t.Fatalf("Set-Cookie %s: want the click ids for 90 days", cookie)
	}

	// A purchase days later, on a URL without click ids, carries the cookie's.
	value := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], ClickCookie+"=")
	h2, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", "/p.gif?id=px1&ev=Purchase&dl=https%3A%2F%2Fshop.example%2Fthanks",
		"Cookie: _pxclk="+value))
	if err != nil {
		t.Fatal(err)
	}
	if got := tracking(&h2.Event, event.GCLID); got != "EAIaIQobChMI_x-1" || tracking(&h2.Event, event.FBCLID) != "IwAR2x.y" ||
		h2.Event.ClickTSMs != testNow.UnixMilli() {
		t.Fatalf("from the cookie: gclid %q, fbclid %q, click_ts_ms %d", got, tracking(&h2.Event, event.FBCLID), h2.Event.ClickTSMs)
	}
	var resp2 fasthttp.ResponseHeader
	h2.SetCookies(&resp2, &cc)
	if c := resp2.PeekCookie(ClickCookie); c != nil {
		t.Fatalf("a hit without new click ids rewrote the cookie: %s", c)
	}

	// A later event of the landing page (or a reload), whose URL still
	// carries the ad's click ids, is the click the cookie saw: its time
	// stays, and the cookie is not written again. A URL with another
	// click id is a new click.
	later := testNow.UnixMilli() - 5000
	same := fmt.Sprintf("1|%d|EAIaIQobChMI_x-1|||IwAR2x.y||", later)
	h4, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", q, "User-Agent: "+browserUA, "Cookie: _pxclk="+same))
	if err != nil {
		t.Fatal(err)
	}
	var resp4 fasthttp.ResponseHeader
	h4.SetCookies(&resp4, &cc)
	if h4.Event.ClickTSMs != later || resp4.PeekCookie(ClickCookie) != nil {
		t.Errorf("the landing page again: click_ts_ms %d (want the cookie's %d), Set-Cookie %s", h4.Event.ClickTSMs, later, resp4.PeekCookie(ClickCookie))
	}
	other := fmt.Sprintf("1|%d|EAIaIQobChMI_old|||IwAR2x.y||", later)
	h5, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", q, "User-Agent: "+browserUA, "Cookie: _pxclk="+other))
	if err != nil {
		t.Fatal(err)
	}
	var resp5 fasthttp.ResponseHeader
	h5.SetCookies(&resp5, &cc)
	if h5.Event.ClickTSMs != testNow.UnixMilli() || resp5.PeekCookie(ClickCookie) == nil {
		t.Errorf("a new click: click_ts_ms %d (want the receive time), Set-Cookie %s", h5.Event.ClickTSMs, resp5.PeekCookie(ClickCookie))
	}

	// A cookie we did not write is ignored.
	for _, bad := range []string{"2|1|a||||", "1|x|a||||", "1|1|a<b||||", "garbage"} {
		h3, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", "/p.gif?id=px1", "Cookie: _pxclk="+bad))
		if err != nil {
			t.Fatal(err)
		}
		if got := tracking(&h3.Event, event.GCLID); got != "" || h3.Event.ClickTSMs != 0 {
			t.Errorf("cookie %q: gclid %q, click_ts_ms %d; want none", bad, got, h3.Event.ClickTSMs)
		}
	}
}

func TestUserDataIsHashed(t *testing.T) {
	upper := strings.ToUpper(sha("someone@example.com"))
	q := "/p.gif?id=px1&ud%5Bem%5D=" + url.QueryEscape(" John.Doe@GMail.com ") + "&ud%5Bph%5D=" + url.QueryEscape("+1 (650) 555-1212") +
		"&ud%5Bexternal_id%5D=user-42"
	h, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", q))
	if err != nil {
		t.Fatal(err)
	}
	e := &h.Event
	for col, want := range map[int]string{
		event.EmailSHA256: sha("john.doe@gmail.com"), event.EmailGoogleSHA256: sha("johndoe@gmail.com"),
		event.PhoneSHA256: sha("16505551212"), event.PhoneGoogleSHA256: sha("+16505551212"), event.ExternalID: "user-42",
	} {
		if got := tracking(e, col); got != want {
			t.Errorf("%s = %q, want %q", event.TrackingColumns[col], got, want)
		}
	}
	if out := event.AppendJSON(nil, e); bytes.Contains(bytes.ToLower(out), []byte("john.doe")) || bytes.Contains(out, []byte("650) 555")) || bytes.Contains(out, []byte("6505551212")) {
		t.Fatalf("the raw email or phone reached the wire: %s", out)
	}

	// Hashes as the tag sends them, in a body; upper-case hex is lower-cased.
	body := `{"id":"px1","ud":{"em":"` + upper + `","em_g":"` + sha("g") + `","external_id":42,"unknown":"x"},"cm":{"ad_storage":"denied","ad_user_data":"granted"}}`
	evs, err := runBody(t, DefaultConfig(), body)
	if err != nil || len(evs) != 1 || evs[0].err != nil {
		t.Fatalf("body: %v %+v", err, evs)
	}
	if got := evs[0].tracking; got[event.EmailSHA256] != strings.ToLower(upper) || got[event.EmailGoogleSHA256] != sha("g") ||
		got[event.ExternalID] != "42" || got[event.AdStorage] != "denied" || got[event.AdUserData] != "granted" || got[event.AnalyticsStorage] != "" {
		t.Fatalf("body user data and consent signals: %q", got)
	}

	for _, tc := range []struct {
		body string
		want error
	}{
		{`{"id":"px1","ud":"x"}`, ErrBadType},
		{`{"id":"px1","ud":{"em":1}}`, ErrBadType},
		{`{"id":"px1","cm":{"ad_storage":"yes"}}`, ErrBadConsent},
		{`{"id":"px1","ud":{"em":"` + strings.Repeat("a", 300) + `"}}`, ErrBadUserData},
		{`{"id":"px1","et":-5}`, ErrBadEngaged},
		{`{"id":"px1","pv":"a b"}`, ErrBadPageView},
	} {
		evs, err := runBody(t, DefaultConfig(), tc.body)
		if err != nil || len(evs) != 1 || evs[0].err != tc.want {
			t.Errorf("%s: %v %+v, want %v", tc.body, err, evs, tc.want)
		}
	}
}

type trackedEvent struct {
	err      error
	visitor  string
	engaged  int64
	pv       string
	bot      bool
	tracking [event.NumTracking]string
}

// runBody reads every event of a POST /collect body.
func runBody(t *testing.T, cfg Config, body string, headers ...string) ([]trackedEvent, error) {
	t.Helper()
	ctx := newCtx(t, "203.0.113.7", "/collect", append([]string{"User-Agent: " + browserUA}, headers...)...)
	var b Body
	if err := b.Reset([]byte(body), cfg.Limits.MaxBatchEvents); err != nil {
		return nil, err
	}
	h := new(Hit)
	var out []trackedEvent
	for b.Len() > 0 {
		err := h.FromBody(ctx, &cfg, &b, testNow)
		ev := trackedEvent{err: err, visitor: string(h.Event.VisitorID), engaged: h.Event.EngagedMs, bot: h.Event.IsBot}
		for i := range ev.tracking {
			ev.tracking[i] = string(h.Event.Tracking[i])
		}
		ev.pv = ev.tracking[event.PageViewID]
		out = append(out, ev)
	}
	return out, nil
}

func TestEngagementFields(t *testing.T) {
	evs, err := runBody(t, DefaultConfig(), `[{"id":"px1","ev":"PageEngagement","pv":"pv-1","et":15250},{"id":"px1","pv":"pv-2","et":"0","wd":true}]`)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].err != nil || evs[0].engaged != 15250 || evs[0].pv != "pv-1" || evs[0].bot {
		t.Errorf("first: %+v", evs[0])
	}
	if evs[1].err != nil || evs[1].engaged != 0 || evs[1].pv != "pv-2" || !evs[1].bot {
		t.Errorf("second (webdriver): %+v", evs[1])
	}
	h, err := fromRequest(t, DefaultConfig(), newCtx(t, "203.0.113.7", "/p.gif?id=px1&pv=p1&et=61000&wd=1&ts=1767268799123"))
	if err != nil {
		t.Fatal(err)
	}
	if e := &h.Event; e.EngagedMs != 61000 || tracking(e, event.PageViewID) != "p1" || !e.IsBot || e.TSMs != 1767268799123 || e.TS != 1767268799 {
		t.Fatalf("GIF: engaged %d pv %q bot %v ts_ms %d ts %d", e.EngagedMs, tracking(e, event.PageViewID), e.IsBot, e.TSMs, e.TS)
	}
}

func TestConsentRequired(t *testing.T) {
	st := DefaultSettings()
	st.Consent = ConsentRequired
	reg := &fakeRegistry{settings: st}
	cfg := withRegistry(reg)

	before, err := fromRequest(t, cfg, newCtx(t, "203.0.113.7", "/p.gif?id=px1", "User-Agent: "+browserUA, "Cookie: _pxid="+visitorID))
	if err != nil {
		t.Fatal(err)
	}
	anon := string(before.Event.VisitorID)
	if anon == visitorID || !ValidCookieID(before.Event.VisitorID) || tracking(&before.Event, event.CookielessID) != anon ||
		tracking(&before.Event, event.Consent) != "denied" || len(before.Event.SessionID) != 0 {
		t.Fatalf("before the grant: visitor %q session %q cookieless %q consent %q; want a cookieless id and no session",
			anon, before.Event.SessionID, tracking(&before.Event, event.CookielessID), tracking(&before.Event, event.Consent))
	}
	var resp fasthttp.ResponseHeader
	before.SetCookies(&resp, &cfg.Cookie)
	if n := len(resp.PeekAll(fasthttp.HeaderSetCookie)); n != 0 {
		t.Fatalf("a cookieless hit set %d cookies", n)
	}

	// The same browser later that day: the same cookieless id; after the
	// grant, its cookie id, with the cookieless id alongside to join on.
	again, _ := fromRequest(t, cfg, newCtx(t, "203.0.113.7", "/p.gif?id=px1", "User-Agent: "+browserUA))
	after, err := fromRequest(t, cfg, newCtx(t, "203.0.113.7", "/p.gif?id=px1&cs=granted", "User-Agent: "+browserUA, "Cookie: _pxid="+visitorID))
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Event.VisitorID) != anon {
		t.Errorf("cookieless ids of one browser differ within a day: %q, %q", anon, again.Event.VisitorID)
	}
	if string(after.Event.VisitorID) != visitorID || tracking(&after.Event, event.CookielessID) != anon || tracking(&after.Event, event.Consent) != "granted" {
		t.Errorf("after the grant: visitor %q cookieless %q consent %q", after.Event.VisitorID, tracking(&after.Event, event.CookielessID), tracking(&after.Event, event.Consent))
	}
	resp.Reset()
	after.SetCookies(&resp, &cfg.Cookie)
	if resp.PeekCookie(VisitorCookie) == nil {
		t.Errorf("after the grant no _pxid cookie was set")
	}

	// Another user agent, another pixel, another day: other ids.
	other, _ := fromRequest(t, cfg, newCtx(t, "203.0.113.7", "/p.gif?id=px1", "User-Agent: curl/8"))
	otherPixel, _ := fromRequest(t, cfg, newCtx(t, "203.0.113.7", "/p.gif?id=px2", "User-Agent: "+browserUA))
	h := new(Hit)
	_ = h.FromRequest(newCtx(t, "203.0.113.7", "/p.gif?id=px1", "User-Agent: "+browserUA), &cfg, testNow.Add(24*3600e9))
	for name, id := range map[string]string{"user agent": string(other.Event.VisitorID), "pixel": string(otherPixel.Event.VisitorID), "day": string(h.Event.VisitorID)} {
		if id == anon {
			t.Errorf("another %s gives the same cookieless id", name)
		}
	}
}

func TestIPModes(t *testing.T) {
	for _, tc := range []struct {
		mode     IPMode
		peer, ip string
	}{
		{IPKeep, "203.0.113.7", "203.0.113.7"},
		{IPTruncate, "203.0.113.7", "203.0.113.0"},
		{IPTruncate, "2001:db8:1234:5678::1", "2001:db8:1234::"},
		{IPDrop, "203.0.113.7", ""},
	} {
		st := DefaultSettings()
		st.IP = tc.mode
		h, err := fromRequest(t, withRegistry(&fakeRegistry{settings: st}), newCtx(t, tc.peer, "/p.gif?id=px1"))
		if err != nil {
			t.Fatal(err)
		}
		if string(h.Event.IP) != tc.ip {
			t.Errorf("%s of %s = %q, want %q", tc.mode, tc.peer, h.Event.IP, tc.ip)
		}
	}
}

func TestPrivacySignalModes(t *testing.T) {
	for _, tc := range []struct {
		gpc, dnt SignalMode
		header   string
		err      error
		flagged  bool
	}{
		{SignalDrop, SignalFlag, "Sec-GPC: 1", ErrOptedOut, false},
		{SignalFlag, SignalFlag, "Sec-GPC: 1", nil, true},
		{SignalFlag, SignalDrop, "DNT: 1", ErrOptedOut, false},
		{SignalFlag, SignalFlag, "DNT: 1", nil, true},
		{SignalDrop, SignalDrop, "Sec-GPC: 0", nil, false},
	} {
		st := DefaultSettings()
		st.GPC, st.DNT = tc.gpc, tc.dnt
		h, err := fromRequest(t, withRegistry(&fakeRegistry{settings: st}), newCtx(t, "203.0.113.7", "/p.gif?id=px1", tc.header))
		if err != tc.err {
			t.Errorf("GPC %s DNT %s, %s: %v, want %v", tc.gpc, tc.dnt, tc.header, err, tc.err)
			continue
		}
		if err == nil && (h.Event.GPC || h.Event.DNT) != tc.flagged {
			t.Errorf("GPC %s DNT %s, %s: gpc %v dnt %v, want flagged %v", tc.gpc, tc.dnt, tc.header, h.Event.GPC, h.Event.DNT, tc.flagged)
		}
	}
}

func TestRegistryVerdict(t *testing.T) {
	for _, tc := range []struct {
		name, uri string
		headers   []string
		host      string
	}{
		{"Origin first", "/p.gif?id=px1&dl=https%3A%2F%2Fdl.example%2F", []string{"Origin: https://origin.example:8443", "Referer: https://ref.example/x"}, "origin.example"},
		{"then Referer", "/p.gif?id=px1&dl=https%3A%2F%2Fdl.example%2F", []string{"Referer: https://user@ref.example/x?y"}, "ref.example"},
		{"then dl", "/p.gif?id=px1&dl=https%3A%2F%2F%5B2001%3Adb8%3A%3A1%5D%3A8080%2Fa", nil, "2001:db8::1"},
		{"none", "/p.gif?id=px1", nil, ""},
	} {
		reg := &fakeRegistry{settings: DefaultSettings(), record: true}
		if _, err := fromRequest(t, withRegistry(reg), newCtx(t, "203.0.113.7", tc.uri, tc.headers...)); err != nil {
			t.Fatal(err)
		}
		if reg.host != tc.host {
			t.Errorf("%s: the registry was asked about host %q, want %q", tc.name, reg.host, tc.host)
		}
	}
	for _, refusal := range []error{ErrUnknownPixel, ErrDisabledPixel, ErrForeignOrigin, ErrNoRegistry} {
		h, err := fromRequest(t, withRegistry(&fakeRegistry{err: refusal}), newCtx(t, "203.0.113.7", "/p.gif?id=px1"))
		if !errors.Is(err, refusal) {
			t.Errorf("registry says %v: FromRequest = %v", refusal, err)
		}
		var resp fasthttp.ResponseHeader
		cc := DefaultConfig().Cookie
		h.SetCookies(&resp, &cc)
		if n := len(resp.PeekAll(fasthttp.HeaderSetCookie)); n != 0 {
			t.Errorf("refused by the registry (%v), yet %d cookies set", refusal, n)
		}
	}
}

// Everything a tracking hit brings, on the request path, without allocating.
func TestTrackingHitAllocations(t *testing.T) {
	st := DefaultSettings()
	st.Consent, st.IP, st.GPC = ConsentRequired, IPTruncate, SignalFlag
	cfg := withRegistry(&fakeRegistry{settings: st})
	q := "/p.gif?id=px1&ev=Purchase&pv=pv1&et=61000&cs=granted&cm%5Bad_storage%5D=granted&ud%5Bem%5D=a%40b.example&ud%5Bph%5D=%2B491701234567" +
		"&dl=" + url.QueryEscape("https://shop.example/?utm_source=x&utm_campaign=y%20z&gclid=abc") + "&rl=https%3A%2F%2Fwww.google.com%2F"
	ctx := newCtx(t, "203.0.113.7", q, "User-Agent: "+browserUA, "Sec-GPC: 1", "Cookie: _pxid="+visitorID+"; _pxclk=1|1767268000000|old|||||")
	h := AcquireHit()
	var resp fasthttp.ResponseHeader
	run := func() {
		h.Reset()
		resp.Reset()
		if err := h.FromRequest(ctx, &cfg, testNow); err != nil {
			t.Fatal(err)
		}
		h.SetCookies(&resp, &cfg.Cookie)
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("a tracking hit allocates %.1f times", n)
	}
}
