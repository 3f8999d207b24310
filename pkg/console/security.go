package console

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// csp allows scripts, styles and fetches from the console itself only: no
// inline script, no inline style, no eval, nothing from elsewhere.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the security headers on every answer and counts requests by
// route pattern and status.
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.opts.TLS() {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.counts.request(route, sw.status).Inc()
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets a handler stream (server-sent events).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestCounters registers each (route, status) series once.
type requestCounters struct {
	mu sync.Mutex
	by map[[2]string]*metrics.Counter
}

// request is the counter of a route and status.
func (c *counts) request(route string, status int) *metrics.Counter {
	k := [2]string{route, strconv.Itoa(status)}
	c.requests.mu.Lock()
	defer c.requests.mu.Unlock()
	if c.requests.by == nil {
		c.requests.by = map[[2]string]*metrics.Counter{}
	}
	ctr := c.requests.by[k]
	if ctr == nil {
		ctr = c.m.Counter("console_requests_total", "console requests by route and status", "route", k[0], "code", k[1])
		c.requests.by[k] = ctr
	}
	return ctr
}
