// Package admin serves the operator endpoints of a process on their own
// address: /healthz, /readyz, Prometheus /metrics and /debug/pprof/.
// Nothing here is on the public pixel listener.
package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// Server is a running admin listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Start listens on addr and serves the admin endpoints in the background.
// ready decides /readyz: nil means ready, an error is unready and its text
// is the reason shown in the answer. ready itself may be nil (always ready).
func Start(addr string, m *metrics.Set, ready func() error, log zerolog.Logger) (*Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = m.WritePrometheus(w)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute},
		ln:  ln,
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("admin listener failed")
		}
	}()
	return s, nil
}

// Addr is the address the admin endpoints listen on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the admin listener.
func (s *Server) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }
