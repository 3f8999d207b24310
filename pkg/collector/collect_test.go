package collector_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// purchaseTS is the client time of purchaseJSON, a moment before the tests
// run; well within the accepted clock skew.
var purchaseTS = time.Now().Add(-time.Second)

// purchaseJSON is what the JS tag sends for a purchase.
var purchaseJSON = `{"id":"px1","ev":"Purchase","eid":"o-1","dl":"https://shop.example/checkout","rl":"https://www.google.com/",` +
	`"ts":` + strconv.FormatInt(purchaseTS.UnixMilli(), 10) +
	`,"cd":{"value":"19.90","currency":"eur","order_id":"o-1","content_ids":["sku-1","sku-2"],"coupon":"WINTER"}}`

// sendBeaconType is the Content-Type navigator.sendBeacon gives a string.
const sendBeaconType = "text/plain;charset=UTF-8"

// events parses every published message.
func (ls *liveServer) events(t *testing.T) []event.Event {
	t.Helper()
	var out []event.Event
	for _, m := range ls.pub.messages() {
		var e event.Event
		if err := event.Parse(m.Value, &e); err != nil {
			t.Fatalf("event.Parse(%s): %v", m.Value, err)
		}
		if string(m.Key) != string(e.VisitorID) {
			t.Fatalf("message key %q, visitor_id %q", m.Key, e.VisitorID)
		}
		out = append(out, e)
	}
	return out
}

func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestCollectOneEvent(t *testing.T) {
	for _, ct := range []string{sendBeaconType, "application/json", "application/json; charset=utf-8", "TEXT/PLAIN"} {
		t.Run(ct, func(t *testing.T) {
			ls := startLive(t, nil)
			resp, body := ls.post(t, "/collect", ct, purchaseJSON, "User-Agent: "+browserUA)
			if resp.StatusCode != http.StatusNoContent || body != "" {
				t.Fatalf("status %d, body %q; want 204 and nothing", resp.StatusCode, body)
			}
			evs := ls.events(t)
			if len(evs) != 1 {
				t.Fatalf("published %d events, want 1", len(evs))
			}
			e := evs[0]
			for _, c := range []struct{ field, got, want string }{
				{"pixel_id", string(e.PixelID), "px1"},
				{"event", string(e.Name), "Purchase"},
				{"event_id", string(e.EventID), "o-1"},
				{"url", string(e.URL), "https://shop.example/checkout"},
				{"referrer", string(e.Referrer), "https://www.google.com/"},
				{"currency", string(e.Currency), "EUR"},
				{"order_id", string(e.OrderID), "o-1"},
				{"content_ids", fmt.Sprintf("%s", e.ContentIDs), "[sku-1 sku-2]"},
				{"props", string(e.Props), `{"coupon":"WINTER"}`},
				{"ip", string(e.IP), "127.0.0.1"},
				{"user_agent", string(e.UserAgent), browserUA},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
				}
			}
			if e.Value != 19.9 || e.TS != purchaseTS.Unix() {
				t.Errorf("value %v, ts %d: want 19.9 and the client's time %d", e.Value, e.TS, purchaseTS.Unix())
			}
			visitor, session := cookieOf(resp, pixel.VisitorCookie), cookieOf(resp, pixel.SessionCookie)
			if visitor == nil || visitor.Value != string(e.VisitorID) || session == nil || session.Value != string(e.SessionID) {
				t.Fatalf("cookies %v: want the event's new visitor and session ids", resp.Cookies())
			}
			if ls.metric(t, `pixel_hits_total{outcome="accepted"}`) != 1 {
				t.Errorf("accepted counter is not 1")
			}
		})
	}
}

func TestCollectReturningVisitor(t *testing.T) {
	ls := startLive(t, nil)
	resp, _ := ls.post(t, "/collect", sendBeaconType, `{"id":"px1"}`, "Cookie: _pxid="+visitorID+"; _pxsid="+sessionID)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	e := ls.events(t)[0]
	if string(e.VisitorID) != visitorID || string(e.SessionID) != sessionID {
		t.Fatalf("visitor %q session %q, want the cookies'", e.VisitorID, e.SessionID)
	}
	if c := cookieOf(resp, pixel.VisitorCookie); c == nil || c.Value != visitorID || c.MaxAge != 400*24*60*60 {
		t.Fatalf("visitor cookie %v: want it refreshed", c)
	}
}

// TestCollectBatch checks a batch: every valid event is published, as its
// own message and for the same visitor; every invalid one is counted by
// reason and skipped.
func TestCollectBatch(t *testing.T) {
	ls := startLive(t, nil)
	body := `[{"id":"px1","ev":"PageView","dl":"https://shop.example/"},
		{"ev":"NoID"},
		` + purchaseJSON + `,
		{"id":"px1","ts":"yesterday"},
		"not an event",
		{"id":"px1","cd":{"value":"ten"}},
		{"id":"px2","ev":"Lead","eid":"lead-7"}]`
	resp, _ := ls.post(t, "/collect", sendBeaconType, body, "Referer: https://shop.example/page")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
	evs := ls.events(t)
	var names []string
	for _, e := range evs {
		names = append(names, string(e.PixelID)+"/"+string(e.Name))
		if string(e.VisitorID) != string(evs[0].VisitorID) || string(e.SessionID) != string(evs[0].SessionID) {
			t.Errorf("events of one request for visitors %q and %q", evs[0].VisitorID, e.VisitorID)
		}
	}
	if strings.Join(names, " ") != "px1/PageView px1/Purchase px2/Lead" {
		t.Fatalf("published %v, want the three valid events in order", names)
	}
	if evs[0].EventID == nil || string(evs[0].EventID) == string(evs[1].EventID) || string(evs[2].EventID) != "lead-7" {
		t.Errorf("event ids %q %q %q: want a new one, then the client's", evs[0].EventID, evs[1].EventID, evs[2].EventID)
	}
	if string(evs[2].URL) != "https://shop.example/page" {
		t.Errorf("url %q, want the Referer for an event without dl", evs[2].URL)
	}
	if c := cookieOf(resp, pixel.VisitorCookie); c == nil || c.Value != string(evs[0].VisitorID) {
		t.Errorf("visitor cookie %v, want %s", c, evs[0].VisitorID)
	}
	for reason, want := range map[string]float64{"missing_id": 1, "bad_ts": 1, "bad_type": 1, "bad_value": 1, "bad_body": 0, "too_many_events": 0} {
		if got := ls.metric(t, `pixel_hits_invalid_total{reason="`+reason+`"}`); got != want {
			t.Errorf("invalid %s = %v, want %v", reason, got, want)
		}
	}
	if got := ls.metric(t, `pixel_hits_total{outcome="accepted"}`); got != 3 {
		t.Errorf("accepted = %v, want 3", got)
	}
}

func TestCollectTooManyEvents(t *testing.T) {
	ls := startLive(t, func(c *collector.Config) { c.Pixel.Limits.MaxBatchEvents = 5 })
	body := "[" + strings.TrimSuffix(strings.Repeat(`{"id":"px1"},`, 8), ",") + "]"
	resp, _ := ls.post(t, "/collect", sendBeaconType, body)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
	if n := len(ls.events(t)); n != 5 {
		t.Errorf("published %d events, want the first 5", n)
	}
	if got := ls.metric(t, `pixel_hits_invalid_total{reason="too_many_events"}`); got != 3 {
		t.Errorf("too_many_events = %v, want 3 (the excess)", got)
	}
}

func TestCollectRefusesWhatIsNotJSON(t *testing.T) {
	for _, body := range []string{"", "id=px1&ev=PageView", `{"id":"px1"`, `"px1"`, `[{"id":"px1"}]]`} {
		ls := startLive(t, nil)
		resp, text := ls.post(t, "/collect", sendBeaconType, body, "Origin: https://shop.example")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, "JSON") {
			t.Errorf("body %q: %d %q, want 400 saying what is wanted", body, resp.StatusCode, text)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
			t.Errorf("body %q: a 400 without CORS headers cannot be read by fetch()", body)
		}
		if len(resp.Cookies()) != 0 || ls.pub.published != 0 {
			t.Errorf("body %q: cookies %v, %d published; want none", body, resp.Cookies(), ls.pub.published)
		}
		if got := ls.metric(t, `pixel_hits_invalid_total{reason="bad_body"}`); got != 1 {
			t.Errorf("body %q: bad_body = %v, want 1", body, got)
		}
	}
}

func TestCollectNothingValidSetsNoCookie(t *testing.T) {
	ls := startLive(t, nil)
	resp, _ := ls.post(t, "/collect", "application/json", `[{"ev":"x"},{"id":"a b"}]`)
	if resp.StatusCode != http.StatusNoContent || len(resp.Cookies()) != 0 {
		t.Fatalf("status %d, cookies %v: want 204 and no cookie", resp.StatusCode, resp.Cookies())
	}
}

func TestCollectOptedOut(t *testing.T) {
	for _, h := range []string{"Sec-GPC: 1", "Cookie: _pxoptout=1"} {
		ls := startLive(t, nil)
		resp, _ := ls.post(t, "/collect", sendBeaconType, `[{"id":"px1"},{"id":"px1","ev":"Purchase"}]`, h)
		if resp.StatusCode != http.StatusNoContent || len(resp.Cookies()) != 0 || ls.pub.published != 0 {
			t.Errorf("%s: status %d, cookies %v, %d published; want 204, nothing", h, resp.StatusCode, resp.Cookies(), ls.pub.published)
		}
		if got := ls.metric(t, `pixel_hits_invalid_total{reason="opted_out"}`); got != 2 {
			t.Errorf("%s: opted_out = %v, want 2 (each event)", h, got)
		}
	}
}

func TestCollectQueueFull(t *testing.T) {
	ls := startLive(t, nil)
	ls.pub.full = true
	resp, _ := ls.post(t, "/collect", sendBeaconType, `[{"id":"px1"},{"id":"px2"}]`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := ls.metric(t, `pixel_hits_total{outcome="dropped"}`); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
}

func TestCollectContentType(t *testing.T) {
	ls := startLive(t, nil)
	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "image/gif"} {
		resp, _ := ls.post(t, "/collect", ct, `{"id":"px1"}`)
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%s: status %d, want 415", ct, resp.StatusCode)
		}
	}
	if got := ls.metric(t, `pixel_http_refused_total{reason="unsupported_content_type"}`); got != 3 {
		t.Errorf("unsupported_content_type = %v, want 3", got)
	}
	if ls.pub.published != 0 {
		t.Errorf("published %d", ls.pub.published)
	}
}

func TestCollectCORS(t *testing.T) {
	const origin = "https://shop.example"
	t.Run("any origin is echoed by default", func(t *testing.T) {
		ls := startLive(t, nil)
		resp, _ := ls.post(t, "/collect", "application/json", `{"id":"px1"}`, "Origin: "+origin)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d", resp.StatusCode)
		}
		checkCORS(t, resp, origin)
		if ls.pub.published != 1 {
			t.Errorf("published %d, want 1", ls.pub.published)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		ls := startLive(t, nil)
		resp, _ := ls.request(t, http.MethodOptions, "/collect", "Origin: "+origin,
			"Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type")
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d, want 204", resp.StatusCode)
		}
		checkCORS(t, resp, origin)
		if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
			t.Errorf("Access-Control-Allow-Methods %q", m)
		}
		if h := resp.Header.Get("Access-Control-Allow-Headers"); !strings.EqualFold(h, "Content-Type") {
			t.Errorf("Access-Control-Allow-Headers %q", h)
		}
		if resp.Header.Get("Access-Control-Max-Age") == "" {
			t.Errorf("no Access-Control-Max-Age: every POST would be preflighted again")
		}
		if ls.pub.published != 0 {
			t.Errorf("a preflight published %d events", ls.pub.published)
		}
	})
	t.Run("allow-list", func(t *testing.T) {
		ls := startLive(t, func(c *collector.Config) {
			var err error
			if c.CORSOrigins, err = collector.ParseOrigins("https://shop.example, https://*.shop.example"); err != nil {
				t.Fatal(err)
			}
		})
		for _, o := range []string{origin, "https://www.shop.example", "https://a.b.shop.example"} {
			resp, _ := ls.post(t, "/collect", sendBeaconType, `{"id":"px1"}`, "Origin: "+o)
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("%s: status %d, want 204", o, resp.StatusCode)
			}
			checkCORS(t, resp, o)
		}
		for _, o := range []string{"https://evil.example", "http://shop.example", "https://shop.example.evil", "null"} {
			resp, _ := ls.post(t, "/collect", sendBeaconType, `{"id":"px1"}`, "Origin: "+o)
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s: status %d, Access-Control-Allow-Origin %q; want 403 and none", o, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
			resp, _ = ls.request(t, http.MethodOptions, "/collect", "Origin: "+o, "Access-Control-Request-Method: POST")
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s: preflight status %d, want 403 and no CORS headers", o, resp.StatusCode)
			}
		}
		// Without an Origin header (a server, curl) there is nothing to check.
		if resp, _ := ls.post(t, "/collect", "application/json", `{"id":"px1"}`); resp.StatusCode != http.StatusNoContent {
			t.Errorf("without Origin: status %d, want 204", resp.StatusCode)
		}
		if ls.pub.published != 4 {
			t.Errorf("published %d, want 4", ls.pub.published)
		}
		if got := ls.metric(t, `pixel_http_refused_total{reason="origin_not_allowed"}`); got != 8 {
			t.Errorf("origin_not_allowed = %v, want 8", got)
		}
	})
}

func checkCORS(t *testing.T, resp *http.Response, origin string) {
	t.Helper()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("Access-Control-Allow-Origin %q, want the origin %q (never * with credentials)", got, origin)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials %q, want true", got)
	}
	if got := resp.Header.Get("Vary"); !strings.Contains(got, "Origin") {
		t.Errorf("Vary %q, want Origin: the answer depends on it", got)
	}
}

func TestParseOrigins(t *testing.T) {
	for _, tc := range []struct {
		list        string
		allowed     []string
		notAllowed  []string
		wantErr     bool
		wantStrings string
	}{
		{list: "*", allowed: []string{"https://x.example", "null", "http://localhost:3000"}, wantStrings: "*"},
		{list: "", notAllowed: []string{"https://x.example"}},
		{list: "https://shop.example", allowed: []string{"https://shop.example"},
			notAllowed: []string{"http://shop.example", "https://shop.example:8443", "https://www.shop.example", "https://shop.example.evil"}},
		{list: " HTTPS://Shop.Example ,http://localhost:3000", allowed: []string{"https://shop.example", "http://localhost:3000"}, notAllowed: []string{"http://localhost"},
			wantStrings: "https://shop.example,http://localhost:3000"},
		{list: "https://*.shop.example", allowed: []string{"https://a.shop.example", "https://a.b.shop.example"},
			notAllowed:  []string{"https://shop.example", "https://.shop.example", "http://a.shop.example", "https://ashop.example", "https://a.shop.example:1"},
			wantStrings: "https://*.shop.example"},
		{list: "null", allowed: []string{"null"}, notAllowed: []string{"https://x.example"}},
		{list: "shop.example", wantErr: true},
		{list: "ftp://shop.example", wantErr: true},
		{list: "https://shop.example/path", wantErr: true},
		{list: "https://", wantErr: true},
		{list: "https://sh*p.example", wantErr: true},
		{list: "https://*.", wantErr: true},
		{list: "https://*.*.example", wantErr: true},
	} {
		o, err := collector.ParseOrigins(tc.list)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseOrigins(%q) error %v, want error %v", tc.list, err, tc.wantErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "such as https://") && !strings.Contains(err.Error(), "as in https://") {
				t.Errorf("ParseOrigins(%q): %v: want an example of what works", tc.list, err)
			}
			continue
		}
		for _, a := range tc.allowed {
			if !o.Allowed([]byte(a)) {
				t.Errorf("ParseOrigins(%q) does not allow %s", tc.list, a)
			}
		}
		for _, a := range tc.notAllowed {
			if o.Allowed([]byte(a)) {
				t.Errorf("ParseOrigins(%q) allows %s", tc.list, a)
			}
		}
		if tc.wantStrings != "" && o.String() != tc.wantStrings {
			t.Errorf("ParseOrigins(%q).String() = %q, want %q", tc.list, o.String(), tc.wantStrings)
		}
	}
}
