package collector_test

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// The write keys of the Segment tests' pixels: each its own, as the
// registry issues them (a secret two pixels share finds neither).
const (
	segKey      = "pxs_c2VnbWVudCB3cml0ZSBrZXkgb2YgdGhlIHNob3AgcGl4ZWw"
	segTruncKey = "pxs_dHJ1bmNhdGluZyBwaXhlbCdzIHdyaXRlIGtleSwgMzIgYnl0ZXM"
	segOffKey   = "pxs_ZGlzYWJsZWQgcGl4ZWwncyB3cml0ZSBrZXksIDMyIGJ5dGVzISE"
)

func basicAuth(user, password string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

var segAuth = basicAuth(segKey, "")

func segmentSnapshot() *registry.Snapshot {
	truncated := pixel.DefaultSettings()
	truncated.IP = pixel.IPTruncate
	return registry.NewSnapshot([]*registry.Pixel{
		{ID: "seg1", Status: registry.StatusActive, SecretHash: secretHash(segKey), Settings: pixel.DefaultSettings()},
		{ID: "segtrunc", Status: registry.StatusActive, SecretHash: secretHash(segTruncKey), Settings: truncated},
		{ID: "segoff", Status: registry.StatusDisabled, SecretHash: secretHash(segOffKey), Settings: pixel.DefaultSettings()},
	})
}

func newSegmentServer(t testing.TB, change func(*collector.Config)) *testServer {
	t.Helper()
	var snap atomic.Pointer[registry.Snapshot]
	snap.Store(segmentSnapshot())
	ts := newTestServer(t, func(c *collector.Config) {
		c.Registry = snap.Load
		if change != nil {
			change(c)
		}
	})
	ts.pub.keep = true
	return ts
}

type segmentAnswer struct {
	Success            bool
	Received, Accepted int
	Refused            []struct {
		Index  int
		Reason string
	}
	Error, Reason string
}

func decodeSegment(t *testing.T, resp *fasthttp.Response, status int) segmentAnswer {
	t.Helper()
	if resp.StatusCode() != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode(), status, resp.Body())
	}
	if ct := string(resp.Header.ContentType()); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	var a segmentAnswer
	if err := json.Unmarshal(resp.Body(), &a); err != nil {
		t.Fatalf("answer %q: %v", resp.Body(), err)
	}
	return a
}

func parsed(t *testing.T, ts *testServer) []event.Event {
	t.Helper()
	var out []event.Event
	for _, m := range ts.pub.messages() {
		var e event.Event
		if err := event.Parse(m.Value, &e); err != nil {
			t.Fatalf("published %s: %v", m.Value, err)
		}
		out = append(out, e)
	}
	return out
}

func TestSegmentAuth(t *testing.T) {
	ts := newSegmentServer(t, nil)
	track := `{"event":"Order Completed","anonymousId":"a1"}`
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
		reason  string
	}{
		{"no auth", nil, 401, "unauthorized"},
		{"wrong key", []string{basicAuth("pxs_wrong", "")}, 401, "unauthorized"},
		{"empty key", []string{basicAuth("", "")}, 401, "unauthorized"},
		{"the key as the password", []string{basicAuth("", segKey)}, 401, "unauthorized"},
		{"the key's hash", []string{basicAuth(secretHash(segKey), "")}, 401, "unauthorized"},
		{"the key as a bearer token", []string{"Authorization: Bearer " + segKey}, 401, "unauthorized"},
		{"the key unencoded", []string{"Authorization: Basic " + segKey}, 401, "unauthorized"},
		{"a key too long", []string{basicAuth(strings.Repeat("k", 300), "")}, 401, "unauthorized"},
		{"disabled pixel", []string{basicAuth(segOffKey, "")}, 403, "disabled_pixel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := decodeSegment(t, ts.post(t, "/v1/track", track, tc.headers...), tc.status)
			if a.Reason != tc.reason || a.Error == "" || a.Success {
				t.Fatalf("answer %+v, want reason %s", a, tc.reason)
			}
			if n := len(ts.pub.messages()); n != 0 {
				t.Fatalf("published %d", n)
			}
		})
	}
	resp := ts.post(t, "/v1/batch", `{"batch":[]}`)
	if got := string(resp.Header.Peek(fasthttp.HeaderWWWAuthenticate)); got != `Basic realm="pixel"` {
		t.Errorf("401 WWW-Authenticate %q", got)
	}
	if got := ts.metric(t, `pixel_server_requests_refused_total{reason="unauthorized"}`); got != 9 {
		t.Errorf("unauthorized %v, want 9", got)
	}
	// Segment's libraries send no password; one that sends one is let in
	// all the same (the key alone is the secret), any case of "Basic".
	for _, h := range []string{segAuth, basicAuth(segKey, "ignored"), strings.Replace(segAuth, "Basic", "bAsIc", 1)} {
		if a := decodeSegment(t, ts.post(t, "/v1/track", track, h), 200); !a.Success || a.Accepted != 1 {
			t.Errorf("%s: %+v", h, a)
		}
	}
}

func TestSegmentEndpoints(t *testing.T) {
	ts := newSegmentServer(t, nil)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	stamp := at.Format(time.RFC3339Nano)
	track := `{"type":"track","event":"Order Completed","messageId":"m-1","anonymousId":"anon-1","userId":"u-42","timestamp":"` + stamp + `",
		"properties":{"order_id":"1001","revenue":129.99,"currency":"eur","products":[{"product_id":"sku-1"},{"product_id":"sku-2"}],"coupon":"WINTER"},
		"context":{"ip":"198.51.100.4","userAgent":"` + browserUA + `","page":{"url":"https://shop.example/thanks?gclid=G1"},
		"campaign":{"name":"spring","source":"news","medium":"email"},"traits":{"email":"Jane.Doe@gmail.com"}}}`
	a := decodeSegment(t, ts.post(t, "/v1/track", track, segAuth, "Content-Type: application/json"), 200)
	if !a.Success || a.Received != 1 || a.Accepted != 1 || len(a.Refused) != 0 {
		t.Fatalf("answer %+v", a)
	}
	e := parsed(t, ts)[0]
	for _, c := range []struct{ field, got, want string }{
		{"pixel_id", string(e.PixelID), "seg1"},
		{"event", string(e.Name), "Purchase"},
		{"event_id", string(e.EventID), "m-1"},
		{"visitor_id", string(e.VisitorID), "anon-1"},
		{"key", string(ts.pub.messages()[0].Key), "anon-1"},
		{"external_id", string(e.Tracking[event.ExternalID]), "u-42"},
		{"ts_ms", strconv.FormatInt(e.TSMs, 10), strconv.FormatInt(at.UnixMilli(), 10)},
		{"value", strconv.FormatFloat(e.Value, 'g', -1, 64), "129.99"},
		{"currency", string(e.Currency), "EUR"},
		{"order_id", string(e.OrderID), "1001"},
		{"content_ids", string(append(append(e.ContentIDs[0], ','), e.ContentIDs[1]...)), "sku-1,sku-2"},
		{"props", string(e.Props), `{"coupon":"WINTER"}`},
		{"url", string(e.URL), "https://shop.example/thanks?gclid=G1"},
		{"gclid", string(e.Tracking[event.GCLID]), "G1"}, // from the url, as for a browser hit
		{"ip", string(e.IP), "198.51.100.4"},
		{"user_agent", string(e.UserAgent), browserUA},
		{"utm_campaign", string(e.Tracking[event.UTMCampaign]), "spring"},
		{"utm_source", string(e.Tracking[event.UTMSource]), "news"},
		{"utm_medium", string(e.Tracking[event.UTMMedium]), "email"},
		{"email_sha256", string(e.Tracking[event.EmailSHA256]), secretHash("jane.doe@gmail.com")},
		{"email_google_sha256", string(e.Tracking[event.EmailGoogleSHA256]), secretHash("janedoe@gmail.com")},
		{"channel", string(e.Tracking[event.Channel]), "server"},
		{"action_source", string(e.Tracking[event.ActionSource]), "website"},
		{"consent", string(e.Tracking[event.Consent]), "granted"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if strings.Contains(strings.ToLower(string(ts.pub.messages()[0].Value)), "jane") {
		t.Errorf("the raw email was published: %s", ts.pub.messages()[0].Value)
	}

	// A batch of mixed types, one refused, for the truncating pixel.
	batch := `{"batch":[{"type":"page","anonymousId":"anon-2","properties":{"url":"https://shop.example/"},"context":{"ip":"198.51.100.77"}},
		{"type":"identify","userId":"u-9","traits":{"phone":"+1 (555) 010-0000"}},
		{"type":"screen","anonymousId":"anon-2","name":"Home"},
		{"type":"track","event":"Signed Up","anonymousId":"anon-2","timestamp":"2001-01-01T00:00:00Z"}],"sentAt":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	a = decodeSegment(t, ts.post(t, "/v1/batch", batch, basicAuth(segTruncKey, "")), 200)
	if !a.Success || a.Received != 4 || a.Accepted != 2 || len(a.Refused) != 2 ||
		a.Refused[0].Index != 2 || a.Refused[0].Reason != "unsupported_type" || a.Refused[1].Index != 3 || a.Refused[1].Reason != "too_old" {
		t.Fatalf("answer %+v", a)
	}
	events := parsed(t, ts)[1:]
	if len(events) != 2 {
		t.Fatalf("published %d of the batch, want 2", len(events))
	}
	if p := events[0]; string(p.PixelID) != "segtrunc" || string(p.Name) != "PageView" || string(p.IP) != "198.51.100.0" || string(p.URL) != "https://shop.example/" {
		t.Errorf("page: %s %s %s %s", p.PixelID, p.Name, p.IP, p.URL)
	}
	if i := events[1]; string(i.Name) != "Identify" || string(i.Tracking[event.ExternalID]) != "u-9" ||
		string(i.Tracking[event.PhoneSHA256]) != secretHash("15550100000") || string(i.Tracking[event.PhoneGoogleSHA256]) != secretHash("+15550100000") {
		t.Errorf("identify: %s", ts.pub.messages()[2].Value)
	}
	for series, want := range map[string]float64{
		`pixel_http_requests_total{path="/v1/track"}`:                  1,
		`pixel_http_requests_total{path="/v1/batch"}`:                  1,
		`pixel_server_events_total{outcome="accepted"}`:                3,
		`pixel_server_events_total{outcome="refused"}`:                 2,
		`pixel_server_events_refused_total{reason="unsupported_type"}`: 1,
		`pixel_server_events_refused_total{reason="too_old"}`:          1,
		`pixel_hits_total{outcome="accepted"}`:                         3,
	} {
		if got := ts.metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

func TestSegmentRefusedBodies(t *testing.T) {
	ts := newSegmentServer(t, func(c *collector.Config) {
		c.ServerAPI.MaxBodyBytes = 4096
		c.ServerAPI.Limits.MaxEvents = 3
	})
	four := `{"batch":[` + strings.TrimSuffix(strings.Repeat(`{"type":"page"},`, 4), ",") + `]}`
	for _, tc := range []struct {
		name, uri, body string
		headers         []string
		status          int
		reason          string
	}{
		{"not JSON", "/v1/track", `event=Purchase`, nil, 400, "bad_body"},
		{"truncated", "/v1/batch", `{"batch":[{"type":"page"}`, nil, 400, "bad_body"},
		{"an array", "/v1/page", `[{"name":"x"}]`, nil, 400, "bad_body"},
		{"no batch", "/v1/batch", `{"type":"track","event":"E"}`, nil, 400, "no_events"},
		{"empty batch", "/v1/batch", `{"batch":[]}`, nil, 400, "no_events"},
		{"too many messages", "/v1/batch", four, nil, 413, "too_many_events"},
		{"too large", "/v1/batch", `{"batch":[{"type":"page","name":"` + strings.Repeat("x", 5000) + `"}]}`, nil, 413, "too_large"},
		{"form body", "/v1/track", `{"event":"E"}`, []string{"Content-Type: application/x-www-form-urlencoded"}, 415, "content_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := decodeSegment(t, ts.post(t, tc.uri, tc.body, append([]string{segAuth}, tc.headers...)...), tc.status)
			if a.Reason != tc.reason || a.Error == "" || a.Success {
				t.Fatalf("answer %+v, want reason %s", a, tc.reason)
			}
			if n := len(ts.pub.messages()); n != 0 {
				t.Fatalf("published %d", n)
			}
		})
	}
	if resp := ts.do(t, "GET", "/v1/batch", segAuth); resp.StatusCode() != 405 || string(resp.Header.Peek("Allow")) != "POST" {
		t.Errorf("GET: %d %q", resp.StatusCode(), resp.Header.Peek("Allow"))
	}
	// Without a registry nothing can be authenticated.
	off := newTestServer(t, nil)
	if a := decodeSegment(t, off.post(t, "/v1/track", `{"event":"E"}`, segAuth), 404); a.Reason != "no_registry" {
		t.Errorf("no registry: %+v", a)
	}
	// A registry still loading: come back later.
	loading := newTestServer(t, func(c *collector.Config) { c.Registry = func() *registry.Snapshot { return nil } })
	resp := loading.post(t, "/v1/track", `{"event":"E"}`, segAuth)
	if a := decodeSegment(t, resp, 503); a.Reason != "registry_loading" || string(resp.Header.Peek("Retry-After")) != "5" {
		t.Errorf("loading: %+v", a)
	}
}

func TestSegmentRateLimit(t *testing.T) {
	ts := newSegmentServer(t, func(c *collector.Config) { c.ServerAPI.Rate, c.ServerAPI.Burst = 0.001, 1 })
	track := `{"event":"E","anonymousId":"a"}`
	decodeSegment(t, ts.post(t, "/v1/track", track, segAuth), 200)
	resp := ts.post(t, "/v1/track", track, segAuth)
	if a := decodeSegment(t, resp, 429); a.Reason != "rate_limited" || len(resp.Header.Peek("Retry-After")) == 0 {
		t.Fatalf("answer %+v", a)
	}
}
