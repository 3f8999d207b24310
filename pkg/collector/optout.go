package collector

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// GET /optout and GET /optin are the pages a site links to from its
// privacy notice. /optout sets the opt-out cookie (pixel.Privacy.OptOutCookie,
// "_pxoptout" by default) for 400 days, the most browsers keep a cookie,
// and expires the visitor, session and click-id cookies, so that the
// browser keeps no id of ours; every pixel of this collector then records
// nothing from it. /optin expires the opt-out cookie. The cookies carry
// the collector's cookie attributes (-cookie-domain, -cookie-samesite,
// -cookie-secure), so that they travel with the hits they govern. Each
// answers a small HTML page that says what happened, without script or
// inline style (its Content-Security-Policy forbids both).

// optOutMaxAge is the opt-out cookie's lifetime: browsers cap cookies at
// 400 days (RFC 6265bis).
const optOutMaxAge = 400 * 24 * time.Hour

// optOutCSP allows the page nothing but a style sheet of the collector's
// own (none is served today: the page is plain HTML).
const optOutCSP = "default-src 'none'; style-src 'self'"

const optOutPage = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Opted out</title>
<h1>You are opted out of tracking by this site's pixel</h1>
<p>This browser now carries a cookie that tells the pixel to record nothing from it, and the pixel's visitor id was removed.
The opt-out holds in this browser only, for 400 days, until you clear its cookies or <a href="optin">opt back in</a>.</p>
`

const optInPage = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Opted back in</title>
<h1>You are opted back in to tracking by this site's pixel</h1>
<p>The opt-out cookie was removed from this browser. You can <a href="optout">opt out</a> again at any time.</p>
`

const optOutDisabled = "opt-out is not available: this collector runs without an opt-out cookie (-optout-cookie is empty)\n"

// optPages is the state of GET /optout and GET /optin: the Set-Cookie
// values, formatted once.
type optPages struct {
	out, in         fasthttp.Cookie
	expireIDs       [3]fasthttp.Cookie // _pxid, _pxsid, _pxclk
	outReqs, inReqs *metrics.Counter
}

func newOptPages(cfg *Config, m *metrics.Set) *optPages {
	o := &optPages{
		outReqs: m.Counter("pixel_http_requests_total", "Requests by route.", "path", "/optout"),
		inReqs:  m.Counter("pixel_http_requests_total", "Requests by route.", "path", "/optin"),
	}
	c := &cfg.Pixel.Cookie
	name := cfg.Pixel.Privacy.OptOutCookie
	setCookie(&o.out, c, name, "1", int(optOutMaxAge/time.Second))
	setCookie(&o.in, c, name, "", -1) // Max-Age=0: expire it now
	for i, n := range [...]string{pixel.VisitorCookie, pixel.SessionCookie, pixel.ClickCookie} {
		setCookie(&o.expireIDs[i], c, n, "", -1)
	}
	return o
}

// setCookie fills ck with the attributes the collector gives its cookies.
func setCookie(ck *fasthttp.Cookie, c *pixel.CookieConfig, name, value string, maxAge int) {
	ck.SetKey(name)
	ck.SetValue(value)
	ck.SetMaxAge(maxAge)
	ck.SetDomain(c.Domain)
	ck.SetPath("/")
	ck.SetSameSite(c.SameSite)
	ck.SetSecure(c.Secure || c.SameSite == fasthttp.CookieSameSiteNoneMode)
}

// optOut serves GET /optout (out) and GET /optin (!out).
func (s *Server) optOut(ctx *fasthttp.RequestCtx, out bool) {
	o := s.optPages
	if out {
		o.outReqs.Inc()
	} else {
		o.inReqs.Inc()
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		s.methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderCacheControl, "no-store")
	h.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	if s.cfg.Pixel.Privacy.OptOutCookie == "" {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentTypeBytes(contentTypeText)
		ctx.SetBodyString(optOutDisabled)
		return
	}
	h.Set(fasthttp.HeaderContentSecurityPolicy, optOutCSP)
	h.Set("Referrer-Policy", "no-referrer")
	ctx.SetContentType("text/html; charset=utf-8")
	if out {
		h.SetCookie(&o.out)
		for i := range o.expireIDs {
			h.SetCookie(&o.expireIDs[i])
		}
		ctx.SetBodyString(optOutPage)
		return
	}
	h.SetCookie(&o.in)
	ctx.SetBodyString(optInPage)
}
