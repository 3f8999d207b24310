// Package pixel turns browser requests into events: it parses the pixel's
// query parameters (GET /p.gif) and JSON bodies (POST /collect), reads and
// issues the visitor and session cookies, finds the client IP and decides what
// is invalid or opted out. It also holds what the collector answers with: the
// GIF and the JS tag. It does no I/O and never logs.
package pixel

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// Cookie names are part of the public contract.
const (
	VisitorCookie = "_pxid"
	SessionCookie = "_pxsid"
)

// CookieConfig says how the visitor and session cookies are issued.
type CookieConfig struct {
	Domain         string                  // Domain attribute; empty = host-only
	SameSite       fasthttp.CookieSameSite // Lax unless the pixel is served cross-site
	Secure         bool                    // required by browsers for SameSite=None
	VisitorMaxAge  time.Duration           // browsers cap cookie lifetimes at 400 days
	SessionTimeout time.Duration           // inactivity that ends a session
}

// Privacy says which browser signals stop tracking.
type Privacy struct {
	HonorDNT     bool   // DNT: 1
	HonorGPC     bool   // Sec-GPC: 1 (Global Privacy Control)
	OptOutCookie string // a cookie of this name with any non-empty value; "" = none
}

// Config is everything the request → event step needs.
type Config struct {
	Limits         Limits
	Cookie         CookieConfig
	Privacy        Privacy
	TrustedProxies TrustedProxies
}

// DefaultConfig returns the collector's defaults.
func DefaultConfig() Config {
	return Config{
		Limits: DefaultLimits(),
		Cookie: CookieConfig{
			SameSite:       fasthttp.CookieSameSiteLaxMode,
			VisitorMaxAge:  400 * 24 * time.Hour,
			SessionTimeout: 30 * time.Minute,
		},
		Privacy: Privacy{HonorGPC: true, OptOutCookie: "_pxoptout"},
	}
}

// Hit is the per-request working space: the event being built and the buffers
// it borrows. Get one with AcquireHit and return it with ReleaseHit.
type Hit struct {
	Event event.Event

	props     []byte
	propKeys  [][]byte
	currency  [3]byte
	seen      seenParams
	visitorID []byte
	sessionID []byte
	eventID   []byte
	ip        []byte
	query     []byte // decoded query parameters of a GET /p.gif hit
	scratch   []byte // unescaped JSON strings of a POST /collect event

	// What the request carries, read once for all its events by readRequest.
	read          bool
	optedOut      bool
	visitorCookie []byte // a valid _pxid the request sent, borrowed from it; nil if none
	sessionCookie []byte

	resolved bool // visitorID, sessionID and ip are known for this request
}

var hitPool = sync.Pool{New: func() any { return new(Hit) }}

// AcquireHit returns an empty Hit from the pool.
func AcquireHit() *Hit { return hitPool.Get().(*Hit) }

// ReleaseHit resets h and returns it to the pool; h must not be used afterwards.
func ReleaseHit(h *Hit) {
	h.Reset()
	hitPool.Put(h)
}

// Reset empties h, keeping its buffers.
func (h *Hit) Reset() {
	h.resetEvent()
	h.visitorID = h.visitorID[:0]
	h.sessionID = h.sessionID[:0]
	h.ip = h.ip[:0]
	h.read, h.optedOut = false, false
	h.visitorCookie, h.sessionCookie = nil, nil
	h.resolved = false
}

// resetEvent empties the event and what parsing it used, but keeps what
// belongs to the request (visitor, session, IP): the events of one
// POST /collect batch share them.
func (h *Hit) resetEvent() {
	h.Event.Reset()
	h.props = h.props[:0]
	clear(h.propKeys)
	h.propKeys = h.propKeys[:0]
	h.seen = 0
	h.eventID = h.eventID[:0]
	h.scratch = h.scratch[:0]
}

// FromRequest builds h.Event from a GET /p.gif request received at now: the
// query parameters, then what only the collector sees (cookies, IP, user agent,
// receive time). It returns ErrOptedOut when a privacy signal applies, or the
// *InvalidError that makes the hit invalid. The event borrows ctx's memory.
func (h *Hit) FromRequest(ctx *fasthttp.RequestCtx, cfg *Config, now time.Time) error {
	if h.readRequest(&ctx.Request.Header, &cfg.Privacy); h.optedOut {
		return ErrOptedOut
	}
	if err := ParseRawQuery(ctx.URI().QueryString(), h, &cfg.Limits, now); err != nil {
		return err
	}
	if err := h.refererURL(ctx, &cfg.Limits); err != nil {
		return err
	}
	return h.enrich(ctx, cfg, now)
}

// FromBody builds h.Event from the next event of a POST /collect body b
// (see Body), received at now, and enriches it exactly as FromRequest does.
// Call it b.Len() times with the same h: the events of one request share
// the visitor and session ids (issued once for a new visitor) and the
// client IP; each gets its own event id and fields. It returns ErrOptedOut
// when a privacy signal applies, or the *InvalidError that makes the event
// invalid; either way b moves on to the next event. The event borrows the
// body's and h's memory until the next call.
func (h *Hit) FromBody(ctx *fasthttp.RequestCtx, cfg *Config, b *Body, now time.Time) error {
	h.resetEvent()
	if !h.read {
		h.readRequest(&ctx.Request.Header, &cfg.Privacy)
	}
	if h.optedOut {
		b.Skip()
		return ErrOptedOut
	}
	if err := b.Next(h, &cfg.Limits, now); err != nil {
		return err
	}
	if err := h.refererURL(ctx, &cfg.Limits); err != nil {
		return err
	}
	return h.enrich(ctx, cfg, now)
}

// refererURL falls back to the Referer header for a hit without a page URL.
func (h *Hit) refererURL(ctx *fasthttp.RequestCtx, lim *Limits) error {
	e := &h.Event
	if len(e.URL) == 0 {
		ref := ctx.Request.Header.Referer()
		if len(ref) > lim.MaxURLLen {
			return ErrTooLong
		}
		e.URL = ref
	}
	return nil
}

// enrich adds the fields only the collector can know.
func (h *Hit) enrich(ctx *fasthttp.RequestCtx, cfg *Config, now time.Time) error {
	e := &h.Event
	ua := ctx.Request.Header.UserAgent()
	if len(ua) > cfg.Limits.MaxUserAgentLen {
		return ErrTooLong
	}
	e.UserAgent = ua
	e.ReceivedAt = now.Unix()
	if e.TS == 0 {
		e.TS = e.ReceivedAt
	}
	if !h.resolved {
		h.resolve(ctx, cfg)
	}
	e.VisitorID = h.visitorID
	e.SessionID = h.sessionID
	e.IP = h.ip
	if len(e.EventID) == 0 {
		h.eventID = AppendNewEventID(h.eventID[:0], now)
		e.EventID = h.eventID
	}
	return nil
}

// resolve finds the visitor and session (from the cookies, else new ids)
// and the client IP of the request, once per request.
func (h *Hit) resolve(ctx *fasthttp.RequestCtx, cfg *Config) {
	if h.visitorCookie != nil {
		h.visitorID = append(h.visitorID[:0], h.visitorCookie...)
	} else {
		h.visitorID = AppendNewID(h.visitorID[:0])
	}
	if h.sessionCookie != nil {
		h.sessionID = append(h.sessionID[:0], h.sessionCookie...)
	} else {
		h.sessionID = AppendNewID(h.sessionID[:0])
	}
	ip := peerAddr(ctx).Unmap()
	if cfg.TrustedProxies.trusted(ip) {
		ip = cfg.TrustedProxies.ClientIP(ip, ctx.Request.Header.PeekAll(fasthttp.HeaderXForwardedFor)...)
	}
	h.ip = h.ip[:0]
	if ip.IsValid() {
		h.ip = ip.AppendTo(h.ip)
	}
	h.resolved = true
}

// readRequest reads, in one pass over the request's cookies, the visitor
// and session cookies and the opt-out cookie, then the privacy headers.
//
// A request can carry several cookies of one name (set for another Domain
// or Path, by a script of the page, or forged): a malformed id must not
// cost the visitor the id we issued, so the first valid one of each name
// counts (ValidCookieID), in the order sent. An opt-out cookie counts with
// any non-empty value, even after an empty one: a signal repeated with
// different values counts when any of them opts out, as for the headers
// (signalled). The ids borrow hdr's memory.
func (h *Hit) readRequest(hdr *fasthttp.RequestHeader, p *Privacy) {
	h.visitorCookie, h.sessionCookie = nil, nil
	optOut := false
	for k, v := range hdr.Cookies() {
		switch {
		case string(k) == VisitorCookie:
			if h.visitorCookie == nil && ValidCookieID(v) {
				h.visitorCookie = v
			}
		case string(k) == SessionCookie:
			if h.sessionCookie == nil && ValidCookieID(v) {
				h.sessionCookie = v
			}
		}
		if len(v) > 0 && p.OptOutCookie != "" && string(k) == p.OptOutCookie {
			optOut = true
		}
	}
	h.optedOut = optOut || signalled(hdr, p)
	h.read = true
}

// peerAddr is the connection's remote address without allocating, and
// without the zone of a link-local IPv6 peer (AddrFromSlice never sets one).
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if tcp, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		a, _ := netip.AddrFromSlice(tcp.IP)
		return a
	}
	return netip.Addr{}
}

// SetCookies writes the visitor and session cookies of h to the response.
// Both are refreshed on every hit, so the visitor cookie lives VisitorMaxAge
// after the last visit and the session ends after SessionTimeout of silence.
func (h *Hit) SetCookies(resp *fasthttp.ResponseHeader, c *CookieConfig) {
	WriteCookies(resp, c, h.visitorID, h.sessionID)
}

// WriteCookies adds the visitor and session cookies with the given ids
// (valid ids: ValidCookieID, AppendNewID) to the response; call it once per
// response. Each Set-Cookie value is formatted in one go, byte for byte as
// fasthttp.Cookie formats it (TestCookieBytes), instead of through a
// Cookie's attribute setters and copies.
func WriteCookies(resp *fasthttp.ResponseHeader, c *CookieConfig, visitorID, sessionID []byte) {
	var buf [256]byte // on the stack; only a Domain of over 150 bytes would need the heap
	resp.SetCanonical(headerSetCookie, appendCookie(buf[:0], c, VisitorCookie, visitorID, c.VisitorMaxAge))
	resp.SetCanonical(headerSetCookie, appendCookie(buf[:0], c, SessionCookie, sessionID, c.SessionTimeout))
}

var headerSetCookie = []byte(fasthttp.HeaderSetCookie)

// appendCookie appends the Set-Cookie value of cookie name with value and
// maxAge as c configures it: Path=/, Max-Age, Domain, Secure and SameSite,
// in fasthttp's order and spelling.
func appendCookie(dst []byte, c *CookieConfig, name string, value []byte, maxAge time.Duration) []byte {
	dst = append(dst, name...)
	dst = append(dst, '=')
	dst = append(dst, value...)
	if s := int(maxAge / time.Second); s != 0 {
		dst = append(dst, "; max-age="...)
		dst = strconv.AppendInt(dst, int64(max(s, 0)), 10)
	}
	if c.Domain != "" {
		dst = append(dst, "; domain="...)
		for i := 0; i < len(c.Domain); i++ {
			b := c.Domain[i]
			if b == ';' { // would end the attribute: fasthttp.Cookie.SetDomain blanks it
				b = ' '
			}
			dst = append(dst, b)
		}
	}
	dst = append(dst, "; path=/"...)
	// SameSite=None is always Secure, as browsers require.
	if c.Secure || c.SameSite == fasthttp.CookieSameSiteNoneMode {
		dst = append(dst, "; secure"...)
	}
	switch c.SameSite {
	case fasthttp.CookieSameSiteDefaultMode:
		dst = append(dst, "; SameSite"...)
	case fasthttp.CookieSameSiteLaxMode:
		dst = append(dst, "; SameSite=Lax"...)
	case fasthttp.CookieSameSiteStrictMode:
		dst = append(dst, "; SameSite=Strict"...)
	case fasthttp.CookieSameSiteNoneMode:
		dst = append(dst, "; SameSite=None"...)
	}
	return dst
}

// signalled reports whether a privacy header that the configuration
// honours opts out. A signal repeated with different values counts when any
// of them opts out: a browser or a proxy may add a header line or a cookie
// after one the page sent, and doubt is resolved in the visitor's favour.
func signalled(hdr *fasthttp.RequestHeader, p *Privacy) bool {
	if p.HonorGPC && headerSaysOne(hdr, "Sec-GPC") {
		return true
	}
	return p.HonorDNT && headerSaysOne(hdr, "DNT")
}

// headerSaysOne reports whether any value of the header name is "1": each
// of its lines, and each comma-separated element of a line (how a proxy
// may join repeated lines, RFC 9110 section 5.3), spaces and tabs trimmed.
func headerSaysOne(hdr *fasthttp.RequestHeader, name string) bool {
	for _, line := range hdr.PeekAll(name) {
		for len(line) > 0 {
			var item []byte
			item, line, _ = bytes.Cut(line, comma)
			if string(bytes.Trim(item, " \t")) == "1" {
				return true
			}
		}
	}
	return false
}
