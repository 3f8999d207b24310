// Package console is the web console: pages for people and a JSON API under
// /api/ for scripts, over the same packages pixelctl uses (registry, report,
// audience, spend, users), so that both front ends give the same answers.
//
// It is net/http and html/template, not fasthttp: nothing here is the hot
// path, and html/template escapes every value for the context it lands in.
// Everything a page shows that came from a hit (URLs, referrers, properties,
// user agents) is hostile: it reaches the page through html/template or
// textContent only, under a Content-Security-Policy that allows no inline
// script or style.
package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// Options configure the console. DefaultOptions holds every default.
type Options struct {
	Addr         string // where the console listens
	CollectorURL string // the collector's public base URL, written into snippets
	// TLS is on when both are set: cookies are then Secure.
	TLSCert, TLSKey string
	// SessionIdle ends a session this long after its last request.
	SessionIdle time.Duration
	// LoginLimit wrong passwords per name, and per client address, within
	// LoginWindow refuse further attempts (429) until the window has passed.
	LoginLimit  int
	LoginWindow time.Duration
	// DestinationKey seals and opens the destinations' credentials (the
	// forwarder's and pixelctl's key file); nil leaves the destination
	// pages saying that it is not configured.
	DestinationKey *destination.Key
	// Now is the clock (tests move it); nil is time.Now.
	Now func() time.Time
}

// DefaultOptions are the console's defaults, written once.
func DefaultOptions() Options {
	return Options{
		Addr:         "127.0.0.1:8088",
		CollectorURL: "http://127.0.0.1:8080",
		SessionIdle:  12 * time.Hour,
		LoginLimit:   5,
		LoginWindow:  15 * time.Minute,
	}
}

// TLS reports whether the console serves HTTPS.
func (o Options) TLS() bool { return o.TLSCert != "" && o.TLSKey != "" }

// Validate says what is wrong with the options, naming the flag to fix.
func (o Options) Validate() error {
	switch {
	case o.Addr == "":
		return errors.New("the console needs an address; set -addr")
	case o.CollectorURL == "":
		return errors.New("snippets need the collector's public URL; set -collector-url")
	case (o.TLSCert == "") != (o.TLSKey == ""):
		return errors.New("TLS needs both -tls-cert and -tls-key")
	case o.SessionIdle <= 0:
		return errors.New("-session-idle must be positive")
	case o.LoginLimit < 1 || o.LoginWindow <= 0:
		return errors.New("-login-limit must be at least 1 and -login-window positive")
	}
	return nil
}

// Server is the console: New builds it, Handler serves it.
type Server struct {
	opts   Options
	conn   chstore.Conn
	pixels *registry.Store
	users  *users.Store
	// destinations has no key (every call fails with ErrNoKey) when
	// Options.DestinationKey is nil.
	destinations *destination.Store
	log          zerolog.Logger
	metrics      *metrics.Set

	mux      *http.ServeMux
	pages    map[string]*template.Template // by file name, each with the layout
	assets   *assetSet
	sessions *sessions
	limiter  *loginLimiter
	secrets  *secretShelf // a new pixel's secret, from its create form to its snippet page
	counts   *counts
}

// counts are the console's metrics.
type counts struct {
	loginOK, loginWrong, loginLimited *metrics.Counter
	csrfRefused                       *metrics.Counter
	m                                 *metrics.Set
	requests                          requestCounters
}

// New builds the console over a connection to the pixel database.
func New(conn chstore.Conn, o Options, log zerolog.Logger, m *metrics.Set) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if m == nil {
		m = metrics.NewSet()
	}
	s := &Server{
		opts:         o,
		conn:         conn,
		pixels:       registry.NewStore(conn),
		destinations: destination.NewStore(conn, o.DestinationKey),
		users:        users.NewStore(conn),
		log:          log,
		metrics:      m,
		mux:          http.NewServeMux(),
		sessions:     newSessions(o.SessionIdle, o.Now),
		limiter:      newLoginLimiter(o.LoginLimit, o.LoginWindow, o.Now),
		secrets:      newSecretShelf(),
	}
	s.counts = &counts{
		loginOK:      m.Counter("console_logins_total", "sign-in attempts by outcome", "outcome", "ok"),
		loginWrong:   m.Counter("console_logins_total", "sign-in attempts by outcome", "outcome", "wrong"),
		loginLimited: m.Counter("console_logins_total", "sign-in attempts by outcome", "outcome", "limited"),
		csrfRefused:  m.Counter("console_csrf_refused_total", "requests refused for a missing or wrong CSRF token or a foreign Origin"),
		m:            m,
	}
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.assets); err != nil {
		return nil, fmt.Errorf("cannot parse the console's templates: %w", err)
	}
	s.routes()
	return s, nil
}

// Handler is the console's HTTP handler: every answer carries the security
// headers, and is counted by route and status.
func (s *Server) Handler() http.Handler { return s.secure(s.mux) }
