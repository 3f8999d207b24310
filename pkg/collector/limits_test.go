package collector_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/collector"
)

// Each refusal of the public listener gets a clear status and is counted in
// pixel_http_refused_total{reason}. These tests go through the real server
// on a loopback port.

func refused(reason string) string { return `pixel_http_refused_total{reason="` + reason + `"}` }

func TestRefuseHeaderTooLarge(t *testing.T) {
	ls := startLive(t, func(c *collector.Config) { c.MaxHeaderBytes = 4096 })
	c := ls.dial(t)
	req := "GET /p.gif?id=px1 HTTP/1.1\r\nHost: px.example\r\nCookie: " + strings.Repeat("a", 8000) + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, _ := readResponse(t, c)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	ls.waitMetric(t, refused("header_too_large"), 1)

	// Just within the limit is fine.
	resp, _ = ls.request(t, http.MethodGet, "/p.gif?id=px1", "Cookie: "+strings.Repeat("a", 3500))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a request within the header limit: status %d", resp.StatusCode)
	}
	if ls.pub.published != 1 {
		t.Fatalf("published %d, want only the request within the limit", ls.pub.published)
	}
}

func TestRefuseBodyTooLarge(t *testing.T) {
	ls := startLive(t, func(c *collector.Config) { c.MaxBodyBytes = 1024 })
	big := "[" + strings.TrimSuffix(strings.Repeat(`{"id":"px1"},`, 100), ",") + "]" // 1.3 KB
	resp, _ := ls.post(t, "/collect", sendBeaconType, big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	// Chunked, so that the size is only known while reading.
	req, _ := http.NewRequest(http.MethodPost, ls.url("/collect"), io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Content-Type", sendBeaconType)
	req.ContentLength = -1
	if resp, _ := ls.do(t, req); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d, want 413", resp.StatusCode)
	}
	ls.waitMetric(t, refused("body_too_large"), 2)
	if ls.pub.published != 0 {
		t.Fatalf("published %d events of refused bodies", ls.pub.published)
	}
	if resp, _ := ls.post(t, "/collect", sendBeaconType, big[:1000]+"]"); resp.StatusCode == http.StatusRequestEntityTooLarge {
		t.Fatalf("a body within the limit was refused")
	}
}

func TestRefuseMalformedHTTP(t *testing.T) {
	ls := startLive(t, nil)
	for _, req := range []string{
		"HELLO\r\n\r\n",
		"GET /p.gif?id=px1 HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
		"GET /p.gif?id=px1 HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", // TLS on the plain port
	} {
		c := ls.dial(t)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		if resp, _ := readResponse(t, c); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", req, resp.StatusCode)
		}
	}
	ls.waitMetric(t, refused("bad_request"), 4)
}

func TestRefuseMethod(t *testing.T) {
	ls := startLive(t, nil)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/p.gif?id=px1", "GET, HEAD"},
		{http.MethodDelete, "/p.gif?id=px1", "GET, HEAD"},
		{http.MethodPost, "/px.js", "GET, HEAD"},
		{http.MethodGet, "/collect", "POST, OPTIONS"},
		{http.MethodPut, "/collect", "POST, OPTIONS"},
	} {
		resp, _ := ls.request(t, tc.method, tc.path)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: status %d, Allow %q; want 405, %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
		}
	}
	if got := ls.metric(t, refused("method_not_allowed")); got != 5 {
		t.Errorf("method_not_allowed = %v, want 5", got)
	}
	if ls.pub.published != 0 {
		t.Errorf("published %d", ls.pub.published)
	}
}

// TestRefuseOverMaxConns holds MaxConns connections open; the next one gets
// a 503 and is counted, and a slot frees when a connection closes.
func TestRefuseOverMaxConns(t *testing.T) {
	ls := startLive(t, func(c *collector.Config) { c.MaxConns = 2 })
	held := make([]interface{ Close() error }, 2)
	for i := range held {
		c := ls.dial(t)
		// A request answered proves the server accepted the connection.
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if resp, _ := readResponse(t, c); resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: status %d", i, resp.StatusCode)
		}
		held[i] = c
	}
	c := ls.dial(t)
	resp, body := readResponse(t, c)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many connections") {
		t.Fatalf("connection over the cap: %d %q, want 503", resp.StatusCode, body)
	}
	waitClosed(t, c)
	ls.waitMetric(t, refused("max_conns"), 1)

	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := ls.dial(t)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := readResponse(t, c); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no slot freed after a connection closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRefuseOverMaxConnsPerIP(t *testing.T) {
	ls := startLive(t, func(c *collector.Config) { c.MaxConnsPerIP = 1 })
	first := ls.dial(t)
	io.WriteString(first, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := readResponse(t, first); resp.StatusCode != http.StatusOK {
		t.Fatalf("first connection: status %d", resp.StatusCode)
	}
	c := ls.dial(t)
	if resp, _ := readResponse(t, c); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection from the address: status %d, want 429", resp.StatusCode)
	}
	ls.waitMetric(t, refused("max_conns_per_ip"), 1)
	if got := ls.metric(t, refused("max_conns")); got != 0 {
		t.Errorf("max_conns = %v, want 0", got)
	}
}

// TestSlowlorisIsCut trickles a request's headers a line at a time, never
// finishing them: the server must answer 408 and close the connection once
// ReadTimeout has passed, and count it.
func TestSlowlorisIsCut(t *testing.T) {
	ls := startLive(t, func(c *collector.Config) { c.ReadTimeout = 300 * time.Millisecond })
	c := ls.dial(t)
	if _, err := io.WriteString(c, "GET /p.gif?id=px1 HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	trickled := make(chan int, 1)
	go func() {
		n := 0
		defer func() { trickled <- n }()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
					return // cut
				}
				n++
			}
		}
	}()
	resp, _ := readResponse(t, c)
	close(stop)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
	waitClosed(t, c)
	if n := <-trickled; n == 0 {
		t.Fatal("the client never trickled: the test proves nothing")
	}
	ls.waitMetric(t, refused("timeout"), 1)
	if ls.pub.published != 0 {
		t.Fatalf("published %d", ls.pub.published)
	}
}

// TestSilentConnectionIsCut opens a connection and sends nothing.
func TestSilentConnectionIsCut(t *testing.T) {
	ls := startLive(t, func(c *collector.Config) { c.ReadTimeout = 200 * time.Millisecond })
	c := ls.dial(t)
	waitClosed(t, c)
	ls.waitMetric(t, refused("timeout"), 1)
}

// TestPublicListenerHasNothingAdministrative checks that metrics, pprof and
// other admin endpoints stay on the admin address.
func TestPublicListenerHasNothingAdministrative(t *testing.T) {
	ls := startLive(t, nil)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap", "/debug/vars", "/admin", "/px.js.map", "/collect/x"} {
		if resp, body := ls.request(t, http.MethodGet, path); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "pixel_") {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestSlowBodyIsCut sends a POST /collect whose headers arrive at once and
// whose body then trickles in, a piece every 200ms: it would take 20s to
// finish. The server must answer 408 and close the connection within
// ReadTimeout of the request's first byte, and count it, whether the body
// has a Content-Length or is chunked, on a new connection or on a
// keep-alive one, with or without Expect: 100-continue.
func TestSlowBodyIsCut(t *testing.T) {
	const readTimeout = time.Second
	ls := startLive(t, func(c *collector.Config) { c.ReadTimeout = readTimeout })
	head := "POST /collect HTTP/1.1\r\nHost: x\r\nContent-Type: " + sendBeaconType + "\r\n"
	cases := []struct {
		name      string
		keepAlive bool   // one fast request first, so that this is the second on the connection
		header    string // after head
		piece     string // one trickle
	}{
		{"content-length", false, "Content-Length: 100\r\n\r\n", "x"},
		{"chunked", false, "Transfer-Encoding: chunked\r\n\r\n", "1\r\nx\r\n"},
		{"keep-alive content-length", true, "Content-Length: 100\r\n\r\n", "x"},
		{"keep-alive chunked", true, "Transfer-Encoding: chunked\r\n\r\n", "1\r\nx\r\n"},
		{"expect 100-continue", false, "Content-Length: 100\r\nExpect: 100-continue\r\n\r\n", "x"},
	}
	t.Run("each", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := ls.dial(t)
				br := bufio.NewReader(c)
				if tc.keepAlive {
					io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
					if resp := readResponseFrom(t, c, br, 5*time.Second); resp.StatusCode != http.StatusOK {
						t.Fatalf("first request: status %d", resp.StatusCode)
					}
				}
				start := time.Now()
				if _, err := io.WriteString(c, head+tc.header); err != nil {
					t.Fatal(err)
				}
				stop := trickle(c, tc.piece, 200*time.Millisecond)
				// Bounded by half the 20s the body would take: the server
				// must cut it, not wait for it. (How soon after -read-timeout
				// depends on the machine's load, which a test must not assert.)
				resp := readResponseFrom(t, c, br, 10*time.Second)
				if resp.StatusCode == http.StatusContinue {
					resp = readResponseFrom(t, c, br, 10*time.Second)
				}
				took := time.Since(start)
				n := stop()
				t.Logf("status %d after %v, %d pieces trickled", resp.StatusCode, took.Round(time.Millisecond), n)
				if resp.StatusCode != http.StatusRequestTimeout {
					t.Fatalf("status %d, want 408", resp.StatusCode)
				}
				if n == 0 {
					t.Fatal("the client never trickled: the test proves nothing")
				}
				// The deadline runs from the request's first byte, a moment
				// before start: a cut well before it is the server's error.
				if took < readTimeout/2 {
					t.Errorf("cut after %v, long before -read-timeout %v", took, readTimeout)
				}
				waitClosed(t, c)
			})
		}
	})
	ls.waitMetric(t, refused("timeout"), float64(len(cases)))
	if ls.pub.published != 0 {
		t.Fatalf("published %d", ls.pub.published)
	}
}

// trickle writes piece to c every interval until the returned function is
// called, which returns how many pieces were written.
func trickle(c net.Conn, piece string, every time.Duration) (stop func() int) {
	done := make(chan struct{})
	count := make(chan int, 1)
	go func() {
		n := 0
		defer func() { count <- n }()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, piece); err != nil {
					return // cut
				}
				n++
			}
		}
	}()
	return func() int { close(done); return <-count }
}

// readResponseFrom reads one response from br (reading c) within limit,
// body included.
func readResponseFrom(t *testing.T, c net.Conn, br *bufio.Reader, limit time.Duration) *http.Response {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(limit)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no HTTP response within %v: %v", limit, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
