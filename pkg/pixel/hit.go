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
	ClickMaxAge    time.Duration           // how long the latest click ids are kept (_pxclk)
}

// Privacy says which browser signals stop tracking when the collector has
// no registry; a registered pixel's Settings say it for that pixel. The
// opt-out cookie stops every pixel.
type Privacy struct {
	HonorDNT     bool   // DNT: 1
	HonorGPC     bool   // Sec-GPC: 1 (Global Privacy Control)
	OptOutCookie string // a cookie of this name with any non-empty value; "" = none
}

// A Registry says whether a pixel may record hits from a page on host (nil:
// the hit does not say), and with which settings; otherwise it returns the
// *InvalidError that refuses the hit (ErrUnknownPixel, ErrDisabledPixel,
// ErrForeignOrigin, ErrNoRegistry). It is called on the request path and
// must not allocate.
type Registry interface {
	Check(pixelID, host []byte) (Settings, error)
}

// Config is everything the request → event step needs.
type Config struct {
	Limits         Limits
	Cookie         CookieConfig
	Privacy        Privacy
	TrustedProxies TrustedProxies
	Registry       Registry         // nil: every pixel id records, with the Privacy flags
	Cookieless     *CookielessSalts // the visitor ids of hits recorded without consent
}

// DefaultConfig returns the collector's defaults.
func DefaultConfig() Config {
	return Config{
		Limits: DefaultLimits(),
		Cookie: CookieConfig{
			SameSite:       fasthttp.CookieSameSiteLaxMode,
			VisitorMaxAge:  400 * 24 * time.Hour,
			SessionTimeout: 30 * time.Minute,
			ClickMaxAge:    90 * 24 * time.Hour,
		},
		Privacy:    Privacy{HonorGPC: true, OptOutCookie: "_pxoptout"},
		Cookieless: NewCookielessSalts(nil),
	}
}

// settings returns the settings of the hit's pixel, from the registry when
// there is one.
func (c *Config) settings(pixelID, host []byte) (Settings, error) {
	if c.Registry != nil {
		return c.Registry.Check(pixelID, host)
	}
	s := DefaultSettings()
	s.GPC, s.DNT = SignalFlag, SignalFlag
	if c.Privacy.HonorGPC {
		s.GPC = SignalDrop
	}
	if c.Privacy.HonorDNT {
		s.DNT = SignalDrop
	}
	return s, nil
}

// Hit is the per-request working space: the event being built and the buffers
// it borrows. Get one with AcquireHit and return it with ReleaseHit.
type Hit struct {
	Event event.Event

	props     event.Props
	currency  [3]byte
	seen      seenParams
	visitorID []byte
	sessionID []byte
	eventID   []byte
	ip        []byte
	query     []byte // decoded query parameters of a GET /p.gif hit
	scratch   []byte // unescaped JSON strings of a POST /collect event
	hashes    []byte // hex SHA-256 of the event's identifiers
	derived   []byte // campaign values decoded from the URL, the referrer's host
	eventIP   []byte // the IP as the pixel's IP mode publishes it
	anonID    []byte // the cookieless id
	hashInput []byte // what the cookieless id hashes

	rawEmail, rawPhone []byte // ud[...] in clear, hashed by hashIdentifiers
	consentGranted     bool   // cs=granted

	// What the request carries, read once for all its events by readRequest.
	read          bool
	optedOut      bool   // the opt-out cookie
	gpc, dnt      bool   // Sec-GPC: 1, DNT: 1
	visitorCookie []byte // a valid _pxid the request sent, borrowed from it; nil if none
	sessionCookie []byte
	clickCookie   []byte // the _pxclk value, unchecked

	resolved bool       // visitorID, sessionID, ip and botUA are known for this request
	addr     netip.Addr // the client IP
	botUA    bool       // the User-Agent is a crawler's, a preview fetcher's, ...

	setCookies bool   // an event was recorded with cookies: write them
	newClick   []byte // the _pxclk value to write, when an event brought click ids
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
	h.read, h.optedOut, h.gpc, h.dnt = false, false, false, false
	h.visitorCookie, h.sessionCookie, h.clickCookie = nil, nil, nil
	h.resolved, h.addr = false, netip.Addr{}
	h.setCookies, h.newClick = false, h.newClick[:0]
}

// resetEvent empties the event and what parsing it used, but keeps what
// belongs to the request (visitor, session, IP): the events of one
// POST /collect batch share them.
func (h *Hit) resetEvent() {
	h.Event.Reset()
	h.props.Reset()
	h.seen = 0
	h.eventID = h.eventID[:0]
	h.scratch = h.scratch[:0]
	h.hashes, h.derived, h.anonID = h.hashes[:0], h.derived[:0], h.anonID[:0]
	h.rawEmail, h.rawPhone, h.consentGranted = nil, nil, false
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

// FromURL builds h.Event as FromRequest does, from the query q of a URL
// other than the request's (the click redirect's destination parameters),
// with page URL dest.
func (h *Hit) FromURL(ctx *fasthttp.RequestCtx, cfg *Config, q, dest []byte, now time.Time) error {
	if h.readRequest(&ctx.Request.Header, &cfg.Privacy); h.optedOut {
		return ErrOptedOut
	}
	if err := ParseRawQuery(q, h, &cfg.Limits, now); err != nil {
		return err
	}
	if len(dest) > cfg.Limits.MaxURLLen {
		return ErrTooLong
	}
	h.Event.URL = dest
	if ref := ctx.Request.Header.Referer(); len(ref) <= cfg.Limits.MaxURLLen {
		h.Event.Referrer = ref
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

// enrich adds the fields only the collector can know and applies the
// pixel's settings: the registry's verdict on the pixel and the page, the
// privacy signals, consent (a cookie or a cookieless id), the IP mode,
// campaigns and click ids, hashed identifiers, bot flags.
func (h *Hit) enrich(ctx *fasthttp.RequestCtx, cfg *Config, now time.Time) error {
	e := &h.Event
	hdr := &ctx.Request.Header
	var host []byte // only a registry checks the page
	if cfg.Registry != nil {
		host = h.pageHost(hdr.Peek(fasthttp.HeaderOrigin), hdr.Referer())
	}
	st, err := cfg.settings(e.PixelID, host)
	if err != nil {
		return err
	}
	if (h.gpc && st.GPC == SignalDrop) || (h.dnt && st.DNT == SignalDrop) {
		return ErrOptedOut
	}
	e.GPC, e.DNT = h.gpc, h.dnt
	ua := hdr.UserAgent()
	if len(ua) > cfg.Limits.MaxUserAgentLen {
		return ErrTooLong
	}
	if !h.resolved {
		h.resolve(ctx, cfg)
	}
	e.UserAgent = ua
	e.IsBot = e.IsBot || h.botUA // wd=1 set it already for an automated browser
	e.ReceivedAt = now.Unix()
	if e.TS == 0 {
		e.TSMs = now.UnixMilli()
		e.TS = e.ReceivedAt
	}
	cookieless := st.Consent == ConsentRequired && !h.consentGranted
	if st.Consent == ConsentRequired {
		h.anonID, h.hashInput = cfg.Cookieless.appendCookielessID(h.anonID[:0], h.hashInput, now, e.PixelID, h.ip, ua)
		e.Tracking[event.CookielessID] = h.anonID
	}
	if cookieless {
		e.VisitorID = h.anonID
		e.Tracking[event.Consent] = strDenied
	} else {
		e.VisitorID = h.visitorID
		e.SessionID = h.sessionID
		e.Tracking[event.Consent] = strGranted
		h.setCookies = true
	}
	e.IP = h.ip
	if st.IP != IPKeep {
		h.eventIP = ApplyIPMode(append(h.eventIP[:0], h.ip...), st.IP, h.addr)
		e.IP = h.eventIP
	}
	if h.parseCampaign() {
		if ms := h.cookieClickTime(); !cookieless && ms > 0 && ms <= now.UnixMilli() {
			e.ClickTSMs = ms // the click the cookie saw first: it stays as it is
		} else {
			e.ClickTSMs = now.UnixMilli()
			if !cookieless {
				h.newClick = appendClickCookie(h.newClick[:0], e, e.ClickTSMs)
			}
		}
	} else if !cookieless && h.clickCookie != nil {
		h.clickFromCookie()
	}
	h.hashIdentifiers()
	e.Tracking[event.Channel] = strBrowser
	e.Tracking[event.ActionSource] = strWebsite
	if len(e.EventID) == 0 {
		h.eventID = AppendNewEventID(h.eventID[:0], now)
		e.EventID = h.eventID
	}
	return nil
}

var (
	strBrowser = []byte("browser")
	strWebsite = []byte("website")
)

// resolve finds the visitor and session (from the cookies, else new ids),
// the client IP and whether the user agent is a bot's, once per request:
// the events of a POST /collect batch share them.
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
	h.addr = ip
	h.botUA = IsBot(ctx.Request.Header.UserAgent())
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
	h.visitorCookie, h.sessionCookie, h.clickCookie = nil, nil, nil
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
		case string(k) == ClickCookie:
			if h.clickCookie == nil {
				h.clickCookie = v
			}
		}
		if len(v) > 0 && p.OptOutCookie != "" && string(k) == p.OptOutCookie {
			optOut = true
		}
	}
	h.optedOut = optOut
	h.gpc = headerSaysOne(hdr, "Sec-GPC")
	h.dnt = headerSaysOne(hdr, "DNT")
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

// SetCookies writes the visitor and session cookies of h to the response,
// when an event of the request was recorded with them (not cookieless),
// and the click-id cookie when an event brought new click ids. The visitor
// and session cookies are refreshed on every hit, so the visitor cookie
// lives VisitorMaxAge after the last visit and the session ends after
// SessionTimeout of silence.
func (h *Hit) SetCookies(resp *fasthttp.ResponseHeader, c *CookieConfig) {
	if !h.setCookies {
		return
	}
	WriteCookies(resp, c, h.visitorID, h.sessionID)
	if len(h.newClick) > 0 {
		var buf [1024]byte
		resp.SetCanonical(headerSetCookie, appendCookie(buf[:0], c, ClickCookie, h.newClick, c.ClickMaxAge))
	}
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
