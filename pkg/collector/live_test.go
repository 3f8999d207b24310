package collector_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/collector"
)

// liveServer is a collector serving on a loopback port through the real
// fasthttp server: listener, limits, timeouts and all.
type liveServer struct {
	*testServer
	addr string
}

// startLive starts a collector on 127.0.0.1:0 that keeps every message it
// publishes; it is shut down when the test ends.
func startLive(t *testing.T, change func(*collector.Config)) *liveServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, change)
	ts.pub.keep = true
	served := make(chan error, 1)
	go func() { served <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &liveServer{testServer: ts, addr: ln.Addr().String()}
}

func (ls *liveServer) url(path string) string { return "http://" + ls.addr + path }

// do sends req with a client that keeps no connections, so that every test
// request is its own connection, and returns the response with its body read.
func (ls *liveServer) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

func (ls *liveServer) post(t *testing.T, path, contentType, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ls.url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	setHeaders(req, headers)
	return ls.do(t, req)
}

func (ls *liveServer) request(t *testing.T, method, path string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ls.url(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	setHeaders(req, headers)
	return ls.do(t, req)
}

func setHeaders(req *http.Request, headers []string) {
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
}

// dial opens a raw connection that the test closes at its end.
func (ls *liveServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", ls.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response from c, within a bounded time.
func readResponse(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no HTTP response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// waitClosed waits (boundedly) until the server closes c.
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		var ne net.Error
		switch {
		case err == nil:
			continue
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatal("the server did not close the connection")
		default:
			return // EOF or reset: closed
		}
	}
}

// waitMetric polls a counter that a server goroutine updates after it
// answered (connection-level refusals), within a bounded time.
func (ls *liveServer) waitMetric(t *testing.T, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := ls.metric(t, series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
