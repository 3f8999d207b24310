package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config says where to send how much traffic for how long. Start from
// DefaultConfig: in the zero Config the fractions of the Mix are 0 (no
// cookies, no bad hits), which is legitimate but rarely what you want.
type Config struct {
	// Target is the collector's base URL, e.g. http://127.0.0.1:8080.
	// Only loopback hosts are accepted unless AllowRemote is set.
	Target string
	// Path is the pixel's path on Target; default "/p.gif".
	Path string
	// TLSConfig is used for an https Target; nil verifies the server with
	// the system's roots. Its ServerName defaults to the Target's host.
	TLSConfig *tls.Config
	// AllowRemote permits a Target that is not a loopback address, for
	// load-testing a staging collector. Never point it at production.
	AllowRemote bool

	// Rate is the schedule in requests per second (open loop: every request
	// has a send time fixed in advance, whatever the server does). 0 runs a
	// closed loop: each connection sends its next request as soon as the
	// previous one was answered, for maximum throughput.
	Rate float64
	// Duration and MaxRequests bound the run; at least one must be set and
	// the run ends at whichever comes first. In open loop Duration bounds
	// the schedule: requests due before it are all sent.
	Duration    time.Duration
	MaxRequests int64
	// Connections is the number of workers, each with one keep-alive
	// connection and at most one request in flight; default 8. In open loop
	// a request due while every connection is busy goes out as soon as one
	// is free and is counted as late; its latency includes the wait.
	Connections int
	// Timeout bounds one request, from the moment it is written (dial
	// included); default 5s.
	Timeout time.Duration

	// Seed makes the traffic deterministic: hit number i of two runs with
	// the same Seed and Mix has the same visitor and the same parameters
	// (ts, which carries the client clock, and the cookies the server
	// issued excepted).
	Seed uint64
	// Mix is what the traffic looks like.
	Mix Mix
}

// Mix describes the simulated browsers and what they send.
type Mix struct {
	// Visitors is the number of distinct simulated browsers; default 10000.
	// Each has a fixed user agent, language, site and tag type.
	Visitors int
	// CookieFraction is the share of visitors whose browser keeps the _pxid
	// and _pxsid cookies the collector sets and sends them back on its later
	// hits; the others never send cookies (blocked third-party cookies).
	CookieFraction float64
	// PixelIDs are the pixel ids (one per simulated site); default ["demo"].
	PixelIDs []string
	// Events are the relative weights of the conversion events of valid hits;
	// all zero means DefaultEventMix.
	Events EventMix
	// PropsFraction is the share of hits with custom cd[...] properties
	// beyond those their event carries anyway.
	PropsFraction float64
	// MalformedFraction is the share of hits the collector must count as
	// invalid (see MalformedKinds): still answered with the GIF, never stored.
	MalformedFraction float64
	// EventIDs gives every hit a unique eid (EventIDPrefix followed by the
	// hit number, 12 digits), so that a test can compare Result.EventIDs with
	// what reached ClickHouse. Without it hits carry no eid and the
	// collector generates one.
	EventIDs bool
	// EventIDPrefix starts every eid; default "lg-<seed in hex>-". Use a
	// different prefix (or seed) for runs that share a ClickHouse table.
	EventIDPrefix string
}

// EventMix holds relative weights of the events valid hits carry.
type EventMix struct {
	PageView    float64 `json:"PageView"`
	ViewContent float64 `json:"ViewContent"`
	AddToCart   float64 `json:"AddToCart"`
	Purchase    float64 `json:"Purchase"`
	Lead        float64 `json:"Lead"`
}

// DefaultEventMix is a shop's typical funnel: mostly page views, some product
// views and carts, 1.5% purchases, a few leads (newsletter, quote requests).
var DefaultEventMix = EventMix{PageView: 80, ViewContent: 10, AddToCart: 5, Purchase: 1.5, Lead: 3.5}

// Event names, as the collector and the ad pixels spell them.
const (
	PageView    = "PageView"
	ViewContent = "ViewContent"
	AddToCart   = "AddToCart"
	Purchase    = "Purchase"
	Lead        = "Lead"
)

// EventNames lists the events of an EventMix in its field order.
var EventNames = []string{PageView, ViewContent, AddToCart, Purchase, Lead}

func (m EventMix) weights() [5]float64 {
	return [5]float64{m.PageView, m.ViewContent, m.AddToCart, m.Purchase, m.Lead}
}

// String formats m as ParseEventMix reads it.
func (m EventMix) String() string {
	var b strings.Builder
	for i, w := range m.weights() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(EventNames[i])
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(w, 'g', -1, 64))
	}
	return b.String()
}

// ParseEventMix reads weights like "PageView=80,Purchase=1.5"; events not
// named get weight 0.
func ParseEventMix(s string) (EventMix, error) {
	var m EventMix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		w, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !ok || err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return m, fmt.Errorf("cannot parse event weight %q: want Name=weight with a weight >= 0, e.g. Purchase=1.5", part)
		}
		switch strings.TrimSpace(name) {
		case PageView:
			m.PageView = w
		case ViewContent:
			m.ViewContent = w
		case AddToCart:
			m.AddToCart = w
		case Purchase:
			m.Purchase = w
		case Lead:
			m.Lead = w
		default:
			return m, fmt.Errorf("unknown event %q in the event mix; use %s", name, strings.Join(EventNames, ", "))
		}
	}
	return m, nil
}

// Defaults of Config and Mix; DefaultConfig uses them.
const (
	DefaultTarget            = "http://127.0.0.1:8080"
	DefaultPath              = "/p.gif"
	DefaultConnections       = 8
	DefaultTimeout           = 5 * time.Second
	DefaultVisitors          = 10000
	DefaultCookieFraction    = 0.7
	DefaultPropsFraction     = 0.3
	DefaultMalformedFraction = 0.01
)

// DefaultPixelID is the pixel id of the default mix (the README's demo id).
const DefaultPixelID = "demo"

// DefaultMix returns the default traffic: 10000 visitors, 70% of them keeping
// cookies, the default funnel, 30% of hits with custom properties, 1% bad hits.
func DefaultMix() Mix {
	return Mix{
		Visitors:          DefaultVisitors,
		CookieFraction:    DefaultCookieFraction,
		PixelIDs:          []string{DefaultPixelID},
		Events:            DefaultEventMix,
		PropsFraction:     DefaultPropsFraction,
		MalformedFraction: DefaultMalformedFraction,
	}
}

// DefaultConfig returns a closed-loop Config against the default local
// collector with the default mix; set Duration or MaxRequests before Run.
func DefaultConfig() Config {
	return Config{
		Target:      DefaultTarget,
		Path:        DefaultPath,
		Connections: DefaultConnections,
		Timeout:     DefaultTimeout,
		Mix:         DefaultMix(),
	}
}

// ErrRemoteTarget is returned for a Target that is not a loopback address
// while AllowRemote is off.
var ErrRemoteTarget = errors.New("loadgen: target is not a loopback address; set AllowRemote (-allow-remote) to load-test another machine, never production")

// target is a validated Config.Target.
type target struct {
	tls       bool
	host      string // Host header
	dialAddr  string // host:port
	tlsServer string // server name for TLS
}

// normalize fills defaults and checks c.
func (c *Config) normalize() (target, error) {
	var t target
	if c.Target == "" {
		c.Target = DefaultTarget
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") {
		return t, fmt.Errorf("loadgen: path %q must start with /", c.Path)
	}
	if c.Connections <= 0 {
		c.Connections = DefaultConnections
	}
	if c.Connections > MaxConnections {
		return t, fmt.Errorf("loadgen: %d connections is more than %d; run several generators instead", c.Connections, MaxConnections)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return t, fmt.Errorf("loadgen: rate %v must be a finite number >= 0 (0 = closed loop, as fast as possible)", c.Rate)
	}
	if c.Duration < 0 || c.MaxRequests < 0 {
		return t, errors.New("loadgen: duration and max requests must not be negative")
	}
	if c.Duration == 0 && c.MaxRequests == 0 {
		return t, errors.New("loadgen: the run is unbounded; set Duration (-duration) or MaxRequests (-max-requests)")
	}
	if err := c.Mix.normalize(c.Seed); err != nil {
		return t, err
	}

	u, err := url.Parse(c.Target)
	if err != nil {
		return t, fmt.Errorf("loadgen: cannot parse target %q: %w; want e.g. http://127.0.0.1:8080", c.Target, err)
	}
	switch u.Scheme {
	case "http":
	case "https":
		t.tls = true
	default:
		return t, fmt.Errorf("loadgen: target %q must start with http:// or https://", c.Target)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return t, fmt.Errorf("loadgen: target %q must be a base URL like http://127.0.0.1:8080 (set the pixel's path with Path)", c.Target)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if t.tls {
			port = "443"
		}
	}
	if !c.AllowRemote && !isLoopback(host) {
		return t, fmt.Errorf("%w (target %s)", ErrRemoteTarget, c.Target)
	}
	t.host = u.Host
	t.dialAddr = net.JoinHostPort(host, port)
	t.tlsServer = host
	return t, nil
}

// isLoopback accepts localhost and loopback IP literals; other names are
// not resolved, so that DNS cannot turn a name into a surprise.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MaxVisitors bounds Mix.Visitors (the cookie jar keeps an entry per visitor,
// about 60 bytes).
const MaxVisitors = 1_000_000

// MaxConnections bounds Config.Connections (each worker holds about 80 kB).
const MaxConnections = 10_000

func (m *Mix) normalize(seed uint64) error {
	if m.Visitors <= 0 {
		m.Visitors = DefaultVisitors
	}
	if m.Visitors > MaxVisitors {
		return fmt.Errorf("loadgen: %d visitors is more than the %d the cookie jar holds", m.Visitors, MaxVisitors)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"cookie fraction", m.CookieFraction}, {"props fraction", m.PropsFraction}, {"malformed fraction", m.MalformedFraction}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("loadgen: %s %v must be between 0 and 1", f.name, f.v)
		}
	}
	if len(m.PixelIDs) == 0 {
		m.PixelIDs = []string{DefaultPixelID}
	}
	for _, id := range m.PixelIDs {
		if !isToken(id, 128) {
			return fmt.Errorf("loadgen: pixel id %q must be 1-128 characters of A-Z a-z 0-9 _ . : -", id)
		}
	}
	var sum float64
	for _, w := range m.Events.weights() {
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("loadgen: event weights must be finite and >= 0: %s", m.Events)
		}
		sum += w
	}
	if sum == 0 {
		m.Events = DefaultEventMix
	}
	if m.EventIDPrefix == "" {
		m.EventIDPrefix = "lg-" + strconv.FormatUint(seed, 16) + "-"
	}
	if len(m.EventIDPrefix) > 100 {
		return fmt.Errorf("loadgen: event id prefix %q is longer than 100 bytes (eids hold at most 128)", m.EventIDPrefix)
	}
	for i := 0; i < len(m.EventIDPrefix); i++ {
		if c := m.EventIDPrefix[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("loadgen: event id prefix %q must be printable ASCII without spaces", m.EventIDPrefix)
		}
	}
	return nil
}

func isToken(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
