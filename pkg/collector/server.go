// Package collector is the public edge: a fasthttp server that answers every
// pixel request (GET /p.gif) with the GIF and every JSON post (POST /collect)
// with 204 at once, turns valid hits into events and hands them to the
// publisher, serves the JS tag (GET /px.js), the click redirect (GET /r),
// the opt-out pages (GET /optout, /optin), the server-side events API
// (POST /v1/{pixel_id}/events) and Segment's HTTP Tracking API (POST
// /v1/track, /v1/page, /v1/identify, /v1/batch), and refuses hostile
// requests with a counted reason. It never waits on Kafka or ClickHouse.
package collector

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/publish"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// Config configures the public listener.
type Config struct {
	Pixel          pixel.Config
	ReadTimeout    time.Duration // whole request, headers and body, against slow clients: one deadline fasthttp does not move while a body trickles in
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration // keep-alive connections
	MaxConns       int           // concurrent connections (0: no limit)
	MaxConnsPerIP  int           // concurrent connections from one client address (0: no limit)
	MaxHeaderBytes int           // request line plus headers
	MaxBodyBytes   int           // request body (POST /collect)
	CORSOrigins    Origins       // pages allowed to POST /collect from a browser
	ServerAPI      ServerAPIConfig

	// Registry returns the pixel registry's current copy (nil while none
	// is loaded yet). A nil Registry means no registry: every pixel id is
	// accepted with pixel.DefaultSettings (load tests, the bench).
	Registry func() *registry.Snapshot
}

// DefaultConfig returns the defaults written down in the README.
func DefaultConfig() Config {
	return Config{
		Pixel:          pixel.DefaultConfig(),
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   10 * time.Second,
		IdleTimeout:    60 * time.Second,
		MaxConns:       100_000,
		MaxHeaderBytes: 16 << 10,
		MaxBodyBytes:   64 << 10,
		CORSOrigins:    AnyOrigin(),
		ServerAPI:      DefaultServerAPIConfig(),
	}
}

// Publisher is what the collector needs from the publish step.
type Publisher interface {
	Acquire() *publish.Message
	Publish(*publish.Message) bool
	Ready() error // nil while new events can be kept; otherwise why not
}

// Server is the collector's public HTTP server.
type Server struct {
	cfg      Config
	pub      Publisher
	log      zerolog.Logger
	srv      *fasthttp.Server
	draining atomic.Bool

	jsTag     jsTag
	redirects redirector
	optPages  *optPages
	api       *serverAPI

	accepted, dropped *metrics.Counter
	invalid           map[*pixel.InvalidError]*metrics.Counter
	notFound          *metrics.Counter
	refused           [numRefusals]*metrics.Counter
	gifRequests       *metrics.Counter
	collectRequests   *metrics.Counter
	tagRequests       *metrics.Counter
}

// New builds a Server publishing to pub and registering its metrics in m.
func New(cfg Config, pub Publisher, log zerolog.Logger, m *metrics.Set) *Server {
	if cfg.Registry != nil {
		cfg.Pixel.Registry = registryCheck{cfg.Registry}
	}
	s := &Server{
		cfg:      cfg,
		pub:      pub,
		log:      log,
		accepted: m.Counter("pixel_hits_total", "Pixel hits by outcome.", "outcome", "accepted"),
		dropped:  m.Counter("pixel_hits_total", "Pixel hits by outcome.", "outcome", "dropped"),
		notFound: m.Counter("pixel_http_not_found_total", "Requests for paths the collector does not serve."),

		gifRequests:     m.Counter("pixel_http_requests_total", "Requests by route.", "path", "/p.gif"),
		collectRequests: m.Counter("pixel_http_requests_total", "Requests by route.", "path", "/collect"),
		tagRequests:     m.Counter("pixel_http_requests_total", "Requests by route.", "path", "/px.js"),
		invalid:         map[*pixel.InvalidError]*metrics.Counter{},
		jsTag:           newJSTag(pixel.Tag),
		redirects:       newRedirector(&cfg, m),
		optPages:        newOptPages(&cfg, m),
		api:             newServerAPI(&cfg, m),
	}
	for _, r := range pixel.Reasons {
		s.invalid[r] = m.Counter("pixel_hits_invalid_total", "Pixel hits answered but not recorded, by reason.", "reason", r.Reason)
	}
	for r, reason := range refusalReasons {
		s.refused[r] = m.Counter("pixel_http_refused_total", "Requests and connections the public listener refused, by reason.", "reason", reason)
	}
	// The connection cap is enforced, and counted, by the listener Serve
	// wraps; fasthttp's own cap only stands behind it, with room for the
	// moment between a connection's close and its worker's release.
	concurrency := 0
	if cfg.MaxConns > 0 {
		concurrency = 2 * cfg.MaxConns
	}
	s.srv = &fasthttp.Server{
		Handler:                       s.handle,
		ErrorHandler:                  s.handleError,
		Name:                          "pixel",
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		ReadTimeout:                   cfg.ReadTimeout,
		WriteTimeout:                  cfg.WriteTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		Concurrency:                   concurrency,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		MaxRequestBodySize:            cfg.MaxBodyBytes,
		DisablePreParseMultipartForm:  true,
		TCPKeepalive:                  true,
		CloseOnShutdown:               true,
		DisableHeaderNamesNormalizing: false,
		Logger:                        fasthttpLogger{log},
		HeaderReceived:                s.bodyLimit,
	}
	return s
}

// Serve answers requests on ln until Shutdown, within the connection caps.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(s.limit(ln))
}

// ServeTLS is Serve over TLS: HTTPS, HTTP/1.1 with keep-alive, with the
// PEM certificate chain and key of certFile and keyFile, read once (a
// renewed certificate takes effect at the next start).
func (s *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	return s.srv.ServeTLS(s.limit(ln), certFile, keyFile)
}

func (s *Server) limit(ln net.Listener) net.Listener {
	return newConnLimiter(ln, s.cfg.MaxConns, s.cfg.MaxConnsPerIP,
		s.refused[refusedMaxConns], s.refused[refusedMaxConnsPerIP], s.refused[refusedAcceptError], s.log)
}

// Ready reports nil while a load balancer should send traffic here, and why
// not otherwise.
func (s *Server) Ready() error {
	if s.draining.Load() {
		return errDraining
	}
	return s.pub.Ready()
}

var errDraining = errors.New("shutting down")

// Drain turns /readyz unready and keeps serving for delay (or until ctx
// ends), so that load balancers notice and stop sending before the listener
// closes: the lame-duck phase of a graceful stop. Shutdown follows it.
func (s *Server) Drain(ctx context.Context, delay time.Duration) {
	s.draining.Store(true)
	if delay <= 0 {
		return
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Shutdown turns /readyz unready, stops accepting, and waits for open
// requests to finish (or ctx to end).
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	return s.srv.ShutdownWithContext(ctx)
}

// Handler exposes the request handler for tests and benchmarks.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/p.gif":
		s.gifRequests.Inc()
		if !ctx.IsGet() && !ctx.IsHead() {
			s.methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		s.pixel(ctx)
	case "/collect":
		s.collectRequests.Inc()
		s.collect(ctx)
	case "/px.js":
		s.tagRequests.Inc()
		s.tag(ctx)
	case "/r":
		s.redirect(ctx)
	case "/optout":
		s.optOut(ctx, true)
	case "/optin":
		s.optOut(ctx, false)
	case "/healthz":
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	case "/readyz":
		ctx.SetContentType("text/plain; charset=utf-8")
		if err := s.Ready(); err != nil {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("not ready: " + err.Error() + "\n")
			return
		}
		ctx.SetBodyString("ready\n")
	default:
		if bytes.HasPrefix(ctx.Path(), v1Prefix) {
			s.serverEvents(ctx)
			return
		}
		s.notFound.Inc()
		ctx.Error("not found\n", fasthttp.StatusNotFound)
	}
}

// pixel serves GET /p.gif: always the GIF, whatever the input. HEAD gets
// the same answer without the body (fasthttp drops it) and is not a hit:
// link checkers and prefetchers send it, no browser showing the image does,
// so nothing is recorded, no cookie is set, and it counts only in
// pixel_http_requests_total{path="/p.gif"}, neither accepted nor invalid.
func (s *Server) pixel(ctx *fasthttp.RequestCtx) {
	if ctx.IsHead() {
		pixel.WriteGIF(ctx)
		return
	}
	now := time.Now()
	h := pixel.AcquireHit()
	if err := h.FromRequest(ctx, &s.cfg.Pixel, now); err != nil {
		s.countInvalid(err)
	} else {
		s.publish(&h.Event, now)
		h.SetCookies(&ctx.Response.Header, &s.cfg.Pixel.Cookie)
	}
	pixel.ReleaseHit(h)
	pixel.WriteGIF(ctx)
}

// publish encodes e, received at now, once into a pooled message and
// queues it; it reports whether the publisher took it.
func (s *Server) publish(e *event.Event, now time.Time) bool {
	m := s.pub.Acquire()
	m.Time = now
	m.Key = append(m.Key[:0], e.VisitorID...)
	m.Value = event.AppendJSON(m.Value[:0], e)
	if s.pub.Publish(m) {
		s.accepted.Inc()
		return true
	}
	s.dropped.Inc() // the reason is in pixel_publish_dropped_total
	return false
}

func (s *Server) countInvalid(err error) {
	if ie, ok := err.(*pixel.InvalidError); ok {
		if c := s.invalid[ie]; c != nil {
			c.Inc()
			return
		}
	}
	s.log.Error().Err(err).Msg("unexpected error building an event")
}

var contentTypeText = []byte("text/plain; charset=utf-8")

// fasthttpLogger sends fasthttp's own messages (connection errors, mostly
// caused by clients) to the debug level, so that hostile traffic cannot
// flood the log.
type fasthttpLogger struct{ log zerolog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug().Msgf(format, args...)
}
