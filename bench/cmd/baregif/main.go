// Command baregif is the collector's ceiling in `make bench`: a fasthttp
// server whose handler does nothing but what every pixel answer needs — the
// same 43-byte GIF (pixel.GIF) with the same no-cache headers and the same
// two cookies (_pxid, _pxsid with Max-Age, Path=/ and SameSite=Lax) as the
// collector. It parses nothing, validates nothing and publishes nothing, so
// the collector's throughput divided by its throughput is what the pipeline's
// work costs at the edge. It answers every path this way, /healthz included.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

func main() {
	var addr string
	fs := flagenv.New("baregif", "A bare fasthttp server answering every request with the pixel's GIF, headers and cookies:\nthe ceiling `make bench` measures the collector against. Not a collector: it records nothing.")
	fs.String(&addr, "addr", "BAREGIF_ADDR", "127.0.0.1:8079", "listen address")
	fs.ParseOrExit(os.Args[1:])
	fs.RunOrExit(run(addr))
}

// run serves on addr until a signal.
func run(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w; check -addr", addr, err)
	}
	srv := newServer()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	}
	start := time.Now()
	_ = srv.Shutdown()
	fmt.Fprintf(os.Stderr, "baregif: stopped in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// newServer configures fasthttp as the collector does (pkg/collector), so
// that both answer with the same bytes over the same kind of connection.
func newServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      handle,
		Name:                         "pixel",
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		ReadTimeout:                  10 * time.Second,
		WriteTimeout:                 10 * time.Second,
		IdleTimeout:                  time.Minute,
		ReadBufferSize:               16 << 10,
		DisablePreParseMultipartForm: true,
		TCPKeepalive:                 true,
		CloseOnShutdown:              true,
	}
}

// cookies are the collector's default cookie settings (a visitor cookie for
// 400 days, a session of 30 minutes, SameSite=Lax).
var cookies = pixel.DefaultConfig().Cookie

// fallbackID stands in for a new visitor's id: generating one is the
// collector's work, not the floor's.
var fallbackID = []byte("AAAAAAAAAAAAAAAAAAAAAA")

// handle writes the GIF with the collector's own code (pixel.WriteGIF,
// pixel.WriteCookies), refreshing the two cookies with the ids the request
// carried.
func handle(ctx *fasthttp.RequestCtx) {
	visitor, session := ctx.Request.Header.Cookie(pixel.VisitorCookie), ctx.Request.Header.Cookie(pixel.SessionCookie)
	if len(visitor) == 0 {
		visitor = fallbackID
	}
	if len(session) == 0 {
		session = fallbackID
	}
	pixel.WriteCookies(&ctx.Response.Header, &cookies, visitor, session)
	pixel.WriteGIF(ctx)
}
