package main

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/publish"
)

// nopPublisher takes every event and forgets it.
type nopPublisher struct{ m publish.Message }

func (p *nopPublisher) Acquire() *publish.Message     { return &p.m }
func (p *nopPublisher) Publish(*publish.Message) bool { return true }
func (p *nopPublisher) Ready() error                  { return nil }

func serve(t *testing.T, srv *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestAnswersLikeTheCollector checks that the floor answers a valid hit
// with the collector's status, body, headers and cookie attributes: the
// comparison in make bench is only fair if both send the same bytes.
func TestAnswersLikeTheCollector(t *testing.T) {
	bare := serve(t, newServer())
	coll := collector.New(collector.DefaultConfig(), &nopPublisher{}, zerolog.Nop(), metrics.NewSet())
	collURL := serve(t, &fasthttp.Server{Handler: coll.Handler(), Name: "pixel", NoDefaultServerHeader: true, NoDefaultContentType: true})

	const path = "/p.gif?id=demo&ev=Purchase&dl=https%3A%2F%2Fshop.example%2Fcheckout&cd[value]=12.5&cd[currency]=EUR"
	get := func(base string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:142.0) Gecko/20100101 Firefox/142.0")
		req.Header.Set("Cookie", "_pxid=Zm9vYmFyYmF6cXV4cXV1eA; _pxsid=c2Vzc2lvbmlkZW50aWZpZQ")
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 1024)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, b.String()
	}
	rb, bb := get(bare)
	rc, bc := get(collURL)
	if rb.StatusCode != http.StatusOK || bb != string(pixel.GIF) || rc.StatusCode != rb.StatusCode || bc != bb {
		t.Fatalf("bare %d (%d bytes), collector %d (%d bytes)", rb.StatusCode, len(bb), rc.StatusCode, len(bc))
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "Pragma", "Expires", "Cross-Origin-Resource-Policy", "Content-Length"} {
		if rb.Header.Get(h) != rc.Header.Get(h) {
			t.Errorf("%s: bare %q, collector %q", h, rb.Header.Get(h), rc.Header.Get(h))
		}
	}
	cookies := func(r *http.Response) []string {
		var out []string
		for _, c := range r.Cookies() {
			out = append(out, c.Name+"="+c.Value+" path="+c.Path+" samesite="+sameSite(c.SameSite)+" max-age="+strconv.Itoa(c.MaxAge))
		}
		slices.Sort(out)
		return out
	}
	if b, c := cookies(rb), cookies(rc); !slices.Equal(b, c) || len(b) != 2 {
		t.Errorf("cookies:\nbare      %v\ncollector %v", b, c)
	}
}

func sameSite(s http.SameSite) string {
	return map[http.SameSite]string{http.SameSiteLaxMode: "lax", http.SameSiteStrictMode: "strict", http.SameSiteNoneMode: "none"}[s]
}
