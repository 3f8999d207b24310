package collector

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// GET /r?id=PIXEL&u=DEST&s=SIG is the click redirect: it records a Click
// event of the pixel, whose page URL is DEST (so DEST's UTMs and click ids
// fill their columns), and answers 302 to DEST. The collector must never be
// an open redirect, so it redirects only
//   - for an active pixel of the registry (without a registry nothing can be
//     verified, and every /r is refused),
//   - to a DEST of the narrow form pixel.CheckRedirect accepts,
//   - signed: SIG verifies with the pixel's link key (registry.VerifyLink,
//     `pixelctl link sign`), or DEST's host is on the pixel's domains (a
//     pixel without domains allows no unsigned destination).
//
// Anything else is a 400 in plain text that says why, counted in
// pixel_redirect_refused_total{reason}, and never a Location. A click that
// cannot be recorded (opt-out cookie, a privacy signal the pixel drops) is
// still redirected: the visitor asked to go there.

// The reasons of a refused redirect that are not the destination's form
// (pixel.RedirectReasons).
var (
	errRedirectNoRegistry = &pixel.InvalidError{Reason: "no_registry", Msg: "this collector runs without a pixel registry (-registry=off), so it cannot verify click links"}
	errRedirectLoading    = &pixel.InvalidError{Reason: "registry_loading", Msg: "the pixel registry is not loaded yet; try again in a few seconds"}
	errRedirectNoID       = &pixel.InvalidError{Reason: "missing_id", Msg: "parameter id (the pixel id) is required"}
	errRedirectUnknown    = &pixel.InvalidError{Reason: "unknown_pixel", Msg: "no pixel has this id"}
	errRedirectDisabled   = &pixel.InvalidError{Reason: "disabled_pixel", Msg: "the pixel is disabled"}
	errRedirectTooLong    = &pixel.InvalidError{Reason: "too_long", Msg: "the destination is longer than -max-url-len"}
	errRedirectBadSig     = &pixel.InvalidError{Reason: "bad_signature", Msg: "the signature s does not match the destination (sign it again with pixelctl link sign)"}
	errRedirectUnsigned   = &pixel.InvalidError{Reason: "unsigned", Msg: "the destination is not on the pixel's domains and the link is not signed (sign it with pixelctl link sign)"}
)

var redirectReasons = append([]*pixel.InvalidError{
	errRedirectNoRegistry, errRedirectLoading, errRedirectNoID, errRedirectUnknown,
	errRedirectDisabled, errRedirectTooLong, errRedirectBadSig, errRedirectUnsigned,
}, pixel.RedirectReasons...)

// redirector is the state of GET /r.
type redirector struct {
	// pixel is the server's pixel.Config whose registry check ignores the
	// page a hit comes from: a click comes from anywhere (an email, an ad,
	// another site), and its link was checked before it is recorded.
	pixel    pixel.Config
	requests *metrics.Counter
	refused  map[*pixel.InvalidError]*metrics.Counter
}

func newRedirector(cfg *Config, m *metrics.Set) redirector {
	r := redirector{
		pixel:    cfg.Pixel,
		requests: m.Counter("pixel_http_requests_total", "Requests by route.", "path", "/r"),
		refused:  map[*pixel.InvalidError]*metrics.Counter{},
	}
	if cfg.Registry != nil {
		r.pixel.Registry = anyPage{registryCheck{cfg.Registry}}
	}
	for _, e := range redirectReasons {
		r.refused[e] = m.Counter("pixel_redirect_refused_total", "Click redirects (GET /r) refused with 400, by reason.", "reason", e.Reason)
	}
	return r
}

// anyPage is a registry check that does not look at the page.
type anyPage struct{ registryCheck }

func (a anyPage) Check(id, _ []byte) (pixel.Settings, error) { return a.registryCheck.Check(id, nil) }

var (
	headerReferrerPolicy = []byte("Referrer-Policy")
	noReferrerDowngrade  = []byte("no-referrer-when-downgrade")
	noStore              = []byte("no-store")
)

// redirect serves GET /r (and HEAD, which link checkers send: the same
// answer, nothing recorded).
func (s *Server) redirect(ctx *fasthttp.RequestCtx) {
	s.redirects.requests.Inc()
	if !ctx.IsGet() && !ctx.IsHead() {
		s.methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	p, dest, err := s.checkRedirect(ctx)
	if err != nil {
		s.redirects.refused[err].Inc()
		status := fasthttp.StatusBadRequest
		if err == errRedirectLoading {
			status = fasthttp.StatusServiceUnavailable
			ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "5")
		}
		ctx.SetStatusCode(status)
		ctx.SetContentTypeBytes(contentTypeText)
		ctx.Response.Header.SetBytesV(fasthttp.HeaderCacheControl, noStore)
		ctx.SetBodyString("cannot redirect (" + err.Reason + "): " + err.Msg + "\n")
		return
	}
	if ctx.IsGet() {
		s.recordClick(ctx, p, dest)
	}
	ctx.SetStatusCode(fasthttp.StatusFound)
	ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, dest)
	ctx.Response.Header.SetBytesV(fasthttp.HeaderCacheControl, noStore)
	ctx.Response.Header.SetCanonical(headerReferrerPolicy, noReferrerDowngrade)
}

// checkRedirect returns the pixel and destination of a click link, or why
// it must not redirect.
func (s *Server) checkRedirect(ctx *fasthttp.RequestCtx) (*registry.Pixel, []byte, *pixel.InvalidError) {
	if s.cfg.Registry == nil {
		return nil, nil, errRedirectNoRegistry
	}
	snap := s.cfg.Registry()
	if snap == nil {
		return nil, nil, errRedirectLoading
	}
	args := ctx.QueryArgs()
	id := args.Peek("id")
	if len(id) == 0 {
		return nil, nil, errRedirectNoID
	}
	p := snap.Lookup(id)
	switch {
	case p == nil:
		return nil, nil, errRedirectUnknown
	case !p.Active():
		return nil, nil, errRedirectDisabled
	}
	dest := args.Peek("u")
	if len(dest) > s.cfg.Pixel.Limits.MaxURLLen {
		return nil, nil, errRedirectTooLong
	}
	host, err := pixel.CheckRedirect(dest)
	if err != nil {
		return nil, nil, err.(*pixel.InvalidError)
	}
	sig := args.Peek("s")
	if len(sig) > 0 && registry.VerifyLink(p, dest, sig) {
		return p, dest, nil
	}
	// AllowsHost allows every host for a pixel without domains: that
	// must not make its unsigned links open redirects.
	if len(p.Domains) > 0 && p.AllowsHost(host) {
		return p, dest, nil
	}
	if len(sig) > 0 {
		return nil, nil, errRedirectBadSig
	}
	return nil, nil, errRedirectUnsigned
}

var clickQuery = []byte("ev=Click&id=")

// recordClick publishes the Click event of a verified link, as the GIF
// path publishes a hit, and sets the same cookies.
func (s *Server) recordClick(ctx *fasthttp.RequestCtx, p *registry.Pixel, dest []byte) {
	var buf [128]byte
	q := fasthttp.AppendQuotedArg(append(buf[:0], clickQuery...), []byte(p.ID))
	now := time.Now()
	h := pixel.AcquireHit()
	if err := h.FromURL(ctx, &s.redirects.pixel, q, dest, now); err != nil {
		s.countInvalid(err)
	} else {
		// Link-preview fetchers (chat apps, mail scanners) open links
		// before people do: FromURL flags them (is_bot), as every hit.
		s.publish(&h.Event, now)
		h.SetCookies(&ctx.Response.Header, &s.cfg.Pixel.Cookie)
	}
	pixel.ReleaseHit(h)
}
