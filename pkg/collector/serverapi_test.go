package collector_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
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

const apiSecret = "pxs_c2VjcmV0IG9mIHRoZSBzaG9wIHBpeGVsLCAzMiBieXRlcw"

func secretHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newAPIServer(t *testing.T, change func(*collector.Config)) (*testServer, *atomic.Pointer[registry.Snapshot]) {
	t.Helper()
	truncated := pixel.DefaultSettings()
	truncated.IP = pixel.IPTruncate
	pixels := []*registry.Pixel{
		{ID: "shop1", Status: registry.StatusActive, SecretHash: secretHash(apiSecret), Settings: pixel.DefaultSettings()},
		{ID: "trunc1", Status: registry.StatusActive, SecretHash: secretHash(apiSecret), Settings: truncated},
		{ID: "off1", Status: registry.StatusDisabled, SecretHash: secretHash(apiSecret), Settings: pixel.DefaultSettings()},
	}
	var snap atomic.Pointer[registry.Snapshot]
	snap.Store(registry.NewSnapshot(pixels))
	ts := newTestServer(t, func(c *collector.Config) {
		c.Registry = snap.Load
		if change != nil {
			change(c)
		}
	})
	ts.pub.keep = true
	return ts, &snap
}

// post runs the handler on a POST with body.
func (ts *testServer) post(t testing.TB, uri, body string, headers ...string) *fasthttp.Response {
	t.Helper()
	raw := "POST " + uri + " HTTP/1.1\r\nHost: collector.example\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	raw += "\r\n" + body
	var req fasthttp.Request
	if err := req.ReadLimitBody(bufio.NewReaderSize(strings.NewReader(raw), 64<<10), 8<<20); err != nil {
		t.Fatalf("cannot read test request: %v", err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50123}, nil)
	ts.handler(&ctx)
	var resp fasthttp.Response
	ctx.Response.CopyTo(&resp)
	return &resp
}

type apiAnswer struct {
	Received, Accepted int
	Refused            []struct {
		Index   int    `json:"index"`
		EventID string `json:"event_id"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	TestEventCode string `json:"test_event_code"`
	Error, Reason string
}

func decodeAnswer(t *testing.T, resp *fasthttp.Response, status int) apiAnswer {
	t.Helper()
	if resp.StatusCode() != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode(), status, resp.Body())
	}
	if ct := string(resp.Header.ContentType()); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	var a apiAnswer
	if err := json.Unmarshal(resp.Body(), &a); err != nil {
		t.Fatalf("answer %q: %v", resp.Body(), err)
	}
	return a
}

const auth = "Authorization: Bearer " + apiSecret

func TestServerEvents(t *testing.T) {
	ts, _ := newAPIServer(t, nil)
	body := `{"events":[
		{"event":"Purchase","event_id":"order-1","visitor_id":"` + visitorID + `","value":19.9,"currency":"EUR","email":"Jane@Example.com","ip":"198.51.100.4"},
		{"event":"Purchase","event_id":"order-2","value":"lots"},
		{"event":"Lead","event_id":"lead-1"}]}`
	a := decodeAnswer(t, ts.post(t, "/v1/shop1/events", body, auth, "Content-Type: application/json"), 200)
	if a.Received != 3 || a.Accepted != 2 || len(a.Refused) != 1 || a.Refused[0].Index != 1 || a.Refused[0].EventID != "order-2" || a.Refused[0].Reason != "bad_value" {
		t.Fatalf("answer %+v", a)
	}
	msgs := ts.pub.messages()
	if len(msgs) != 2 {
		t.Fatalf("published %d, want 2", len(msgs))
	}
	var e event.Event
	if err := event.Parse(msgs[0].Value, &e); err != nil {
		t.Fatal(err)
	}
	if string(e.PixelID) != "shop1" || string(e.VisitorID) != visitorID || string(msgs[0].Key) != visitorID ||
		string(e.Tracking[event.Channel]) != "server" || string(e.IP) != "198.51.100.4" || len(e.Tracking[event.EmailSHA256]) != 64 {
		t.Fatalf("published %s", msgs[0].Value)
	}
	if bytes.Contains(bytes.ToLower(msgs[0].Value), []byte("jane@")) {
		t.Fatalf("the raw email was published: %s", msgs[0].Value)
	}
	if got := ts.metric(t, `pixel_server_events_total{outcome="accepted"}`); got != 2 {
		t.Errorf("accepted %v", got)
	}
	if got := ts.metric(t, `pixel_server_events_refused_total{reason="bad_value"}`); got != 1 {
		t.Errorf("refused bad_value %v", got)
	}

	// Meta's shape, with the secret as Meta's access_token parameter.
	meta := `{"data":[{"event_name":"Purchase","event_time":` + strconv.FormatInt(time.Now().Unix()-60, 10) + `,"event_id":"order-3",
		"action_source":"website","event_source_url":"https://shop.example/thanks?utm_source=mail&utm_campaign=spring&gclid=G1",
		"user_data":{"em":["` + secretHash("jane@example.com") + `"],"client_ip_address":"198.51.100.9","fbc":"fb.1.1700000000000.IwAR"},
		"custom_data":{"value":5,"currency":"usd"}}],"test_event_code":"TEST1"}`
	a = decodeAnswer(t, ts.post(t, "/v1/shop1/events?access_token="+apiSecret, meta), 200)
	if a.Received != 1 || a.Accepted != 1 || len(a.Refused) != 0 || a.TestEventCode != "TEST1" {
		t.Fatalf("Meta answer %+v", a)
	}
	msgs = ts.pub.messages()
	if err := event.Parse(msgs[2].Value, &e); err != nil {
		t.Fatal(err)
	}
	if string(e.Tracking[event.EmailSHA256]) != secretHash("jane@example.com") || string(e.Tracking[event.FBCLID]) != "IwAR" || string(e.Currency) != "USD" {
		t.Fatalf("published %s", msgs[2].Value)
	}
	// The page URL's campaign, as for a browser hit.
	if string(e.Tracking[event.UTMSource]) != "mail" || string(e.Tracking[event.UTMCampaign]) != "spring" || string(e.Tracking[event.GCLID]) != "G1" {
		t.Fatalf("campaign of event_source_url not parsed: %s", msgs[2].Value)
	}
}

// Nothing is stored for a request refused as a whole.
func TestServerEventsRefused(t *testing.T) {
	ts, snap := newAPIServer(t, func(c *collector.Config) { c.ServerAPI.Limits.MaxEvents = 5 })
	ev := `{"events":[{"event":"Lead"}]}`
	six := `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"event":"Lead"},`, 6), ",") + `]}`
	for _, tc := range []struct {
		name, uri, body string
		headers         []string
		status          int
		reason          string
	}{
		{"no secret", "/v1/shop1/events", ev, nil, 401, "unauthorized"},
		{"wrong secret", "/v1/shop1/events", ev, []string{"Authorization: Bearer pxs_wrong"}, 401, "unauthorized"},
		{"wrong access_token", "/v1/shop1/events?access_token=nope", ev, nil, 401, "unauthorized"},
		{"basic auth", "/v1/shop1/events", ev, []string{"Authorization: Basic " + apiSecret}, 401, "unauthorized"},
		{"secret of the hash", "/v1/shop1/events", ev, []string{"Authorization: Bearer " + secretHash(apiSecret)}, 401, "unauthorized"},
		{"unknown pixel", "/v1/nope/events", ev, []string{auth}, 404, "unknown_pixel"},
		{"disabled pixel", "/v1/off1/events", ev, []string{auth}, 403, "disabled_pixel"},
		// Segment's paths take basic auth only (segment_test.go).
		{"Segment track with a bearer secret", "/v1/track", ev, []string{auth}, 401, "unauthorized"},
		{"Segment batch with a bearer secret", "/v1/batch", ev, []string{auth}, 401, "unauthorized"},
		{"other path", "/v1/shop1/other", ev, []string{auth}, 404, "not_found"},
		{"nested path", "/v1/a/b/events", ev, []string{auth}, 404, "not_found"},
		{"no pixel id", "/v1//events", ev, []string{auth}, 404, "not_found"},
		{"not JSON", "/v1/shop1/events", `{"events":[`, []string{auth}, 400, "bad_body"},
		{"no events", "/v1/shop1/events", `{"events":[]}`, []string{auth}, 400, "no_events"},
		{"too many events", "/v1/shop1/events", six, []string{auth}, 413, "too_many_events"},
		{"form body", "/v1/shop1/events", ev, []string{auth, "Content-Type: application/x-www-form-urlencoded"}, 415, "content_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := decodeAnswer(t, ts.post(t, tc.uri, tc.body, tc.headers...), tc.status)
			if a.Reason != tc.reason || a.Error == "" {
				t.Fatalf("answer %+v, want reason %s", a, tc.reason)
			}
			if n := len(ts.pub.messages()); n != 0 {
				t.Fatalf("published %d", n)
			}
		})
	}
	if resp := ts.post(t, "/v1/shop1/events", ev, auth); resp.Header.Peek(fasthttp.HeaderWWWAuthenticate) != nil {
		t.Error("WWW-Authenticate on a success")
	}
	resp := ts.post(t, "/v1/shop1/events", ev)
	if got := string(resp.Header.Peek(fasthttp.HeaderWWWAuthenticate)); got != `Bearer realm="pixel"` {
		t.Errorf("401 WWW-Authenticate %q", got)
	}
	if resp := ts.do(t, "GET", "/v1/shop1/events", auth); resp.StatusCode() != 405 {
		t.Errorf("GET: %d", resp.StatusCode())
	}
	// 5 of the table, 2 of Segment's paths with a bearer secret (which
	// counted as "reserved" before they were served), and the request
	// above without a secret.
	if got := ts.metric(t, `pixel_server_requests_refused_total{reason="unauthorized"}`); got != 8 {
		t.Errorf("unauthorized counted %v times, want 8", got)
	}

	snap.Store(nil)
	decodeAnswer(t, ts.post(t, "/v1/shop1/events", ev, auth), 503)
	noRegistry := newTestServer(t, nil)
	decodeAnswer(t, noRegistry.post(t, "/v1/shop1/events", ev, auth), 404)
	if n := len(ts.pub.messages()) + noRegistry.pub.published; n != 1 {
		t.Fatalf("published %d, want only the one accepted request's event", n)
	}
}

func TestServerEventsRateLimit(t *testing.T) {
	ts, _ := newAPIServer(t, func(c *collector.Config) { c.ServerAPI.Rate, c.ServerAPI.Burst = 0.001, 2 })
	ev := `{"events":[{"event":"Lead"}]}`
	decodeAnswer(t, ts.post(t, "/v1/shop1/events", ev, auth), 200)
	decodeAnswer(t, ts.post(t, "/v1/shop1/events", ev, auth), 200)
	resp := ts.post(t, "/v1/shop1/events", ev, auth)
	if a := decodeAnswer(t, resp, 429); a.Reason != "rate_limited" {
		t.Fatalf("answer %+v", a)
	}
	if ra, err := strconv.Atoi(string(resp.Header.Peek(fasthttp.HeaderRetryAfter))); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", resp.Header.Peek(fasthttp.HeaderRetryAfter))
	}
	// Another pixel has its own bucket.
	decodeAnswer(t, ts.post(t, "/v1/trunc1/events", ev, auth), 200)
	if n := len(ts.pub.messages()); n != 3 {
		t.Fatalf("published %d, want 3", n)
	}
}

func TestServerEventsIPModeAndUnavailable(t *testing.T) {
	ts, _ := newAPIServer(t, nil)
	decodeAnswer(t, ts.post(t, "/v1/trunc1/events", `{"events":[{"event":"A","ip":"198.51.100.77"},{"event":"B","ip":"2001:db8:1:2:3::4"}]}`, auth), 200)
	for i, want := range []string{"198.51.100.0", "2001:db8:1::"} {
		var e event.Event
		if err := event.Parse(ts.pub.messages()[i].Value, &e); err != nil || string(e.IP) != want {
			t.Errorf("ip %q (%v), want %s", e.IP, err, want)
		}
	}
	ts.pub.full = true
	a := decodeAnswer(t, ts.post(t, "/v1/shop1/events", `{"events":[{"event":"A","event_id":"e1"}]}`, auth), 200)
	if a.Accepted != 0 || len(a.Refused) != 1 || a.Refused[0].Reason != "unavailable" || a.Refused[0].EventID != "e1" {
		t.Fatalf("answer %+v", a)
	}
}

// On the real listener, the server API takes bodies up to its own limit
// (1 MiB), beyond POST /collect's (64 KiB), and refuses larger ones.
func TestServerEventsBodyLimitLive(t *testing.T) {
	shop := &registry.Pixel{ID: "shop1", Status: registry.StatusActive, SecretHash: secretHash(apiSecret), Settings: pixel.DefaultSettings()}
	snap := registry.NewSnapshot([]*registry.Pixel{shop})
	ls := startLive(t, func(c *collector.Config) { c.Registry = func() *registry.Snapshot { return snap } })
	one := `{"event":"Lead","props":{"pad":"` + strings.Repeat("x", 400) + `"}},`
	n := 200 // about 90 KiB
	body := `{"events":[` + strings.TrimSuffix(strings.Repeat(one, n), ",") + `]}`
	if len(body) <= collector.DefaultConfig().MaxBodyBytes {
		t.Fatalf("the test body (%d bytes) must be beyond POST /collect's limit", len(body))
	}
	send := func(path, body string) int {
		req, _ := http.NewRequest("POST", ls.url(path), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiSecret)
		req.Header.Set("Content-Type", "application/json")
		resp, _ := ls.do(t, req)
		return resp.StatusCode
	}
	if got := send("/v1/shop1/events", body); got != 200 {
		t.Fatalf("a %d-byte batch: %d, want 200", len(body), got)
	}
	if got := len(ls.pub.messages()); got != n {
		t.Fatalf("published %d, want %d", got, n)
	}
	if got := send("/collect", body); got != 413 {
		t.Errorf("POST /collect with %d bytes: %d, want 413", len(body), got)
	}
	if got := send("/v1/shop1/events", strings.Repeat(" ", 1<<20+1)); got != 413 {
		t.Errorf("1 MiB + 1: %d, want 413", got)
	}
}
