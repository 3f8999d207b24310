package collector_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"image/gif"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/publish"
	"github.com/pixel-pipeline/pixel/pkg/spool"
)

const (
	visitorID = "Zm9vYmFyYmF6cXV4cXV1eA"
	sessionID = "c2Vzc2lvbmlkZW50aWZpZQ"
	browserUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	// validHit is what a browser sends for a purchase on a shop page.
	validHit = "/p.gif?id=px1&ev=Purchase&dl=https%3A%2F%2Fshop.example%2Fcheckout&rl=https%3A%2F%2Fwww.google.com%2F" +
		"&ts=1767268799123&cd%5Bvalue%5D=129.99&cd%5Bcurrency%5D=eur&cd%5Bcontent_ids%5D=%5B%22sku-1%22%2C%22sku-2%22%5D&_=123"
)

// fakePublisher is a collector.Publisher that keeps the last message. It
// hands out one preallocated Message and copies into reused buffers, so that
// it allocates nothing itself.
type fakePublisher struct {
	msg       publish.Message // what Acquire hands out
	last      publish.Message // a copy of the last published message
	published int
	full      bool // Publish refuses, as a full queue does
	unhealthy atomic.Bool

	mu   sync.Mutex // guards all: a live server publishes from its own goroutines
	keep bool       // keep every message in all (allocates)
	all  []publish.Message
}

func newFakePublisher() *fakePublisher {
	p := &fakePublisher{}
	p.msg.Key, p.msg.Value = make([]byte, 0, 64), make([]byte, 0, 4096)
	p.last.Key, p.last.Value = make([]byte, 0, 64), make([]byte, 0, 4096)
	return p
}

func (p *fakePublisher) Acquire() *publish.Message { return &p.msg }

func (p *fakePublisher) Publish(m *publish.Message) bool {
	if p.full {
		return false
	}
	p.published++
	p.last.Key = append(p.last.Key[:0], m.Key...)
	p.last.Value = append(p.last.Value[:0], m.Value...)
	if p.keep {
		p.mu.Lock()
		p.all = append(p.all, publish.Message{Record: spool.Record{Key: bytes.Clone(m.Key), Value: bytes.Clone(m.Value)}})
		p.mu.Unlock()
	}
	return true
}

// messages returns a copy of every message kept so far.
func (p *fakePublisher) messages() []publish.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.all)
}

func (p *fakePublisher) Ready() error {
	if p.unhealthy.Load() {
		return errors.New("fake publisher unhealthy")
	}
	return nil
}

// testServer is a collector with a fake publisher and its own metrics.
type testServer struct {
	srv     *collector.Server
	pub     *fakePublisher
	metrics *metrics.Set
	handler fasthttp.RequestHandler
}

func newTestServer(t testing.TB, change func(*collector.Config)) *testServer {
	t.Helper()
	cfg := collector.DefaultConfig()
	if change != nil {
		change(&cfg)
	}
	ts := &testServer{pub: newFakePublisher(), metrics: metrics.NewSet()}
	ts.srv = collector.New(cfg, ts.pub, zerolog.Nop(), ts.metrics)
	ts.handler = ts.srv.Handler()
	return ts
}

// do reads the request from its wire form (header lines as given), runs the
// handler on it as if it came from 203.0.113.7 and returns the response.
func (ts *testServer) do(t testing.TB, method, uri string, headers ...string) *fasthttp.Response {
	t.Helper()
	raw := method + " " + uri + " HTTP/1.1\r\nHost: shop.example\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	raw += "\r\n"
	var req fasthttp.Request
	if err := req.Read(bufio.NewReaderSize(strings.NewReader(raw), 64<<10)); err != nil {
		t.Fatalf("cannot read test request: %v", err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50123}, nil)
	ts.handler(&ctx)
	var resp fasthttp.Response
	ctx.Response.CopyTo(&resp)
	return &resp
}

// metric returns the value of one series ("name{labels}") as written to
// /metrics, failing when the series is not there.
func (ts *testServer) metric(t testing.TB, series string) float64 {
	t.Helper()
	var buf bytes.Buffer
	if err := ts.metrics.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(buf.String()) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no series %s in\n%s", series, buf.String())
	return 0
}

// checkGIF checks the response every pixel request must get, whatever it asked.
func checkGIF(t *testing.T, resp *fasthttp.Response) {
	t.Helper()
	if resp.StatusCode() != fasthttp.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode())
	}
	if ct := string(resp.Header.ContentType()); ct != "image/gif" {
		t.Errorf("Content-Type %q, want image/gif", ct)
	}
	body := resp.Body()
	if len(body) != 43 || !bytes.Equal(body, pixel.GIF) {
		t.Errorf("body is %d bytes %x, want the 43-byte GIF", len(body), body)
	}
	if img, err := gif.Decode(bytes.NewReader(body)); err != nil {
		t.Errorf("image/gif cannot decode the body: %v", err)
	} else if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Errorf("the image is %dx%d, want 1x1", b.Dx(), b.Dy())
	}
	cc := string(resp.Header.Peek(fasthttp.HeaderCacheControl))
	for _, d := range []string{"no-cache", "no-store", "must-revalidate", "private", "max-age=0"} {
		if !strings.Contains(cc, d) {
			t.Errorf("Cache-Control %q lacks %s", cc, d)
		}
	}
	if p := string(resp.Header.Peek(fasthttp.HeaderPragma)); p != "no-cache" {
		t.Errorf("Pragma %q, want no-cache", p)
	}
	if e := string(resp.Header.Peek(fasthttp.HeaderExpires)); e != "0" {
		t.Errorf("Expires %q, want 0", e)
	}
}

func TestPixelAlwaysAnswersTheGIF(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string
		uri     string
		headers []string
	}{
		{"valid hit", "GET", validHit, []string{"Cookie: _pxid=" + visitorID}},
		{"new visitor", "GET", "/p.gif?id=px1", nil},
		{"no query", "GET", "/p.gif", nil},
		{"missing id", "GET", "/p.gif?ev=Purchase", nil},
		{"bad ts", "GET", "/p.gif?id=px1&ts=yesterday", nil},
		{"broken percent-encoding", "GET", "/p.gif?id=%zz&%=%%&cd[=", nil},
		{"hostile props", "GET", "/p.gif?id=px1&cd[%22%3E%3Cscript%3E]=x", nil},
		{"too long", "GET", "/p.gif?id=px1&dl=" + strings.Repeat("a", 5000), nil},
		{"opted out", "GET", "/p.gif?id=px1", []string{"Sec-GPC: 1"}},
		{"HEAD", "HEAD", "/p.gif?id=px1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			checkGIF(t, ts.do(t, tc.method, tc.uri, tc.headers...))
		})
	}
}

// TestPixelHEADRecordsNothing checks that HEAD /p.gif (link checkers,
// prefetchers) gets the GIF's headers, and no body over the wire, but
// records nothing, sets no cookie and counts as a request, not as a hit.
func TestPixelHEADRecordsNothing(t *testing.T) {
	for _, tc := range []struct {
		name, uri string
		headers   []string
	}{
		{"returning visitor", validHit, []string{"Cookie: _pxid=" + visitorID + "; _pxsid=" + sessionID}},
		{"new visitor", "/p.gif?id=px1", nil},
		{"invalid hit", "/p.gif?ev=Purchase&ts=x", nil},
		{"opted out", "/p.gif?id=px1", []string{"Sec-GPC: 1"}},
		{"no query", "/p.gif", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			resp := ts.do(t, "HEAD", tc.uri, tc.headers...)
			checkGIF(t, resp)
			if ts.pub.published != 0 {
				t.Errorf("HEAD published %d messages: %s", ts.pub.published, ts.pub.last.Value)
			}
			if n := len(resp.Header.PeekCookie(pixel.VisitorCookie)) + len(resp.Header.PeekCookie(pixel.SessionCookie)); n != 0 {
				t.Errorf("HEAD set cookies: %s", resp.Header.Header())
			}
			if got := ts.metric(t, `pixel_http_requests_total{path="/p.gif"}`); got != 1 {
				t.Errorf(`pixel_http_requests_total{path="/p.gif"} = %v, want 1`, got)
			}
			for _, series := range []string{`pixel_hits_total{outcome="accepted"}`, `pixel_hits_total{outcome="dropped"}`} {
				if got := ts.metric(t, series); got != 0 {
					t.Errorf("%s = %v, want 0", series, got)
				}
			}
			for _, r := range pixel.Reasons {
				if got := ts.metric(t, `pixel_hits_invalid_total{reason="`+r.Reason+`"}`); got != 0 {
					t.Errorf("pixel_hits_invalid_total{reason=%q} = %v, want 0", r.Reason, got)
				}
			}
		})
	}

	// Over the wire: the GET's status and headers but for the cookies, no body.
	ts := newTestServer(t, nil)
	s := newConnServer(ts.handler)
	answer := func(method string) (head, body string) {
		t.Helper()
		raw := rawGET(validHit, "Cookie: _pxid="+visitorID)
		if err := s.serve(method + strings.TrimPrefix(raw, "GET")); err != nil {
			t.Fatal(err)
		}
		head, body, _ = strings.Cut(s.conn.w.String(), "\r\n\r\n")
		var lines []string
		for l := range strings.SplitSeq(head, "\r\n") {
			if !strings.HasPrefix(l, "Date: ") && !strings.HasPrefix(l, "Set-Cookie: ") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n"), body
	}
	getHead, getBody := answer("GET")
	headHead, headBody := answer("HEAD")
	if headHead != getHead || headBody != "" || getBody != string(pixel.GIF) {
		t.Errorf("HEAD answered\n%s\n(body %q)\nGET answered\n%s\n(body of %d bytes)", headHead, headBody, getHead, len(getBody))
	}
	if !strings.Contains(headHead, "Content-Length: 43") {
		t.Errorf("HEAD lacks the GIF's Content-Length:\n%s", headHead)
	}
	if strings.Contains(s.conn.w.String(), "Set-Cookie") || ts.pub.published != 1 {
		t.Errorf("HEAD set cookies or published (%d messages in all, want the GET's 1):\n%s", ts.pub.published, s.conn.w.String())
	}
}

func TestPixelValidHitPublishesOneEvent(t *testing.T) {
	ts := newTestServer(t, nil)
	resp := ts.do(t, "GET", validHit, "Cookie: _pxid="+visitorID+"; _pxsid="+sessionID, "User-Agent: "+browserUA)
	checkGIF(t, resp)
	if ts.pub.published != 1 {
		t.Fatalf("published %d messages, want 1", ts.pub.published)
	}
	if key := string(ts.pub.last.Key); key != visitorID {
		t.Errorf("message key %q, want the visitor id %q", key, visitorID)
	}
	var e event.Event
	if err := event.Parse(ts.pub.last.Value, &e); err != nil {
		t.Fatalf("event.Parse(%s): %v", ts.pub.last.Value, err)
	}
	for _, c := range []struct{ field, got, want string }{
		{"pixel_id", string(e.PixelID), "px1"},
		{"event", string(e.Name), "Purchase"},
		{"visitor_id", string(e.VisitorID), visitorID},
		{"session_id", string(e.SessionID), sessionID},
		{"url", string(e.URL), "https://shop.example/checkout"},
		{"referrer", string(e.Referrer), "https://www.google.com/"},
		{"currency", string(e.Currency), "EUR"},
		{"ip", string(e.IP), "203.0.113.7"},
		{"user_agent", string(e.UserAgent), browserUA},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if e.Value != 129.99 || len(e.ContentIDs) != 2 || string(e.ContentIDs[1]) != "sku-2" {
		t.Errorf("value %v, content_ids %q", e.Value, e.ContentIDs)
	}
	if ts.metric(t, `pixel_hits_total{outcome="accepted"}`) != 1 {
		t.Errorf("accepted counter is not 1")
	}

	// The cookies are refreshed on every recorded hit.
	cookies := map[string]string{}
	for k, v := range resp.Header.Cookies() {
		cookies[string(k)] = string(v)
	}
	if !strings.HasPrefix(cookies[pixel.VisitorCookie], pixel.VisitorCookie+"="+visitorID+";") ||
		!strings.HasPrefix(cookies[pixel.SessionCookie], pixel.SessionCookie+"="+sessionID+";") {
		t.Errorf("Set-Cookie %q, want both ids refreshed", cookies)
	}
}

func TestPixelNewVisitorGetsCookies(t *testing.T) {
	ts := newTestServer(t, nil)
	resp := ts.do(t, "GET", "/p.gif?id=px1")
	checkGIF(t, resp)
	if ts.pub.published != 1 {
		t.Fatalf("published %d messages, want 1", ts.pub.published)
	}
	var ck fasthttp.Cookie
	ck.SetKey(pixel.VisitorCookie)
	if !resp.Header.Cookie(&ck) {
		t.Fatal("no visitor cookie issued")
	}
	if got := string(ck.Value()); got != string(ts.pub.last.Key) || len(got) != pixel.VisitorIDLen {
		t.Fatalf("visitor cookie %q, message key %q: want the same new %d-character id", got, ts.pub.last.Key, pixel.VisitorIDLen)
	}
	if ck.MaxAge() != 400*24*60*60 || string(ck.Path()) != "/" {
		t.Fatalf("visitor cookie Max-Age %d, Path %q", ck.MaxAge(), ck.Path())
	}
}

func TestPixelInvalidHitsAreCountedNotPublished(t *testing.T) {
	for _, tc := range []struct {
		query   string
		headers []string
		reason  string
	}{
		{"ev=Purchase", nil, "missing_id"},
		{"id=a/b", nil, "bad_id"},
		{"id=px1&ev=Add+To+Cart", nil, "bad_event"},
		{"id=px1&eid=a+b", nil, "bad_eid"},
		{"id=px1&ts=yesterday", nil, "bad_ts"},
		{"id=px1&cd[value]=ten", nil, "bad_value"},
		{"id=px1&cd[currency]=EURO", nil, "bad_currency"},
		{"id=px1&cd[content_ids]=[\"a\"", nil, "bad_content_ids"},
		{"id=px1&cd[bad+key]=1", nil, "bad_prop"},
		{"id=px1" + manyProps(33), nil, "too_many_props"},
		{"id=px1", []string{"User-Agent: " + strings.Repeat("x", 1025)}, "too_long"},
		{"id=px1", []string{"Cookie: _pxoptout=1"}, "opted_out"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			ts := newTestServer(t, nil)
			resp := ts.do(t, "GET", "/p.gif?"+tc.query, tc.headers...)
			checkGIF(t, resp)
			if ts.pub.published != 0 {
				t.Errorf("an invalid hit published %d messages: %s", ts.pub.published, ts.pub.last.Value)
			}
			if n := len(resp.Header.PeekCookie(pixel.VisitorCookie)); n != 0 {
				t.Errorf("an invalid hit set the visitor cookie")
			}
			for _, r := range pixel.Reasons {
				want := 0.0
				if r.Reason == tc.reason {
					want = 1
				}
				if got := ts.metric(t, `pixel_hits_invalid_total{reason="`+r.Reason+`"}`); got != want {
					t.Errorf("pixel_hits_invalid_total{reason=%q} = %v, want %v", r.Reason, got, want)
				}
			}
			if got := ts.metric(t, `pixel_hits_total{outcome="accepted"}`); got != 0 {
				t.Errorf("accepted = %v, want 0", got)
			}
		})
	}
}

func manyProps(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("&cd[p" + strconv.Itoa(i) + "]=v")
	}
	return b.String()
}

func TestPixelQueueFull(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.pub.full = true
	checkGIF(t, ts.do(t, "GET", validHit))
	checkGIF(t, ts.do(t, "GET", validHit))
	if got := ts.metric(t, `pixel_hits_total{outcome="dropped"}`); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
	if got := ts.metric(t, `pixel_hits_total{outcome="accepted"}`); got != 0 {
		t.Errorf("accepted = %v, want 0", got)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	ts := newTestServer(t, nil)
	check := func(path string, wantStatus int, wantBody string) {
		t.Helper()
		resp := ts.do(t, "GET", path)
		if resp.StatusCode() != wantStatus || string(resp.Body()) != wantBody {
			t.Fatalf("GET %s = %d %q, want %d %q", path, resp.StatusCode(), resp.Body(), wantStatus, wantBody)
		}
	}
	check("/healthz", 200, "ok\n")
	check("/readyz", 200, "ready\n")

	ts.pub.unhealthy.Store(true)
	check("/readyz", 503, "not ready: fake publisher unhealthy\n")
	check("/healthz", 200, "ok\n") // alive, only not ready
	ts.pub.unhealthy.Store(false)
	check("/readyz", 200, "ready\n")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	check("/readyz", 503, "not ready: shutting down\n")
	if ts.srv.Ready() == nil {
		t.Fatal("Ready() after Shutdown")
	}
}

func TestUnknownPath(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, path := range []string{"/", "/p.gif/x", "/P.GIF?id=px1", "/pixel.gif?id=px1", "/metrics"} {
		resp := ts.do(t, "GET", path)
		if resp.StatusCode() != fasthttp.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode())
		}
	}
	if ts.pub.published != 0 {
		t.Errorf("unknown paths published %d messages", ts.pub.published)
	}
	if got := ts.metric(t, "pixel_http_not_found_total"); got != 5 {
		t.Errorf("pixel_http_not_found_total = %v, want 5", got)
	}
}

// TestServeAndShutdown runs the real server on a loopback listener: a pixel
// request over TCP gets the GIF, and Shutdown stops Serve.
func TestServeAndShutdown(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, nil)
	served := make(chan error, 1)
	go func() { served <- ts.srv.Serve(ln) }()

	c := &fasthttp.Client{}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + ln.Addr().String() + "/p.gif?id=px1")
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	checkGIF(t, resp)
	if ts.pub.published != 1 {
		t.Errorf("published %d, want 1", ts.pub.published)
	}
	var e event.Event
	if err := event.Parse(ts.pub.last.Value, &e); err != nil || string(e.IP) != "127.0.0.1" {
		t.Errorf("event ip %q (%v), want 127.0.0.1", e.IP, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return after Shutdown")
	}
}
