package collector

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// collect serves POST /collect: JSON events, one object or an array, sent by
// the JS tag with navigator.sendBeacon (text/plain) or by fetch(). Each event
// is judged, enriched and published on its own, as a GET /p.gif hit would
// be; the answer is 204 whatever happened to each, and 400 only for a body
// that is not JSON at all.
func (s *Server) collect(ctx *fasthttp.RequestCtx) {
	switch {
	case ctx.IsPost():
	case ctx.IsOptions():
		s.preflight(ctx)
		return
	default:
		s.methodNotAllowed(ctx, "POST, OPTIONS")
		return
	}
	if !s.cors(ctx) {
		s.refuse(ctx, refusedOrigin, fasthttp.StatusForbidden, "origin not allowed; see -cors-origins\n")
		return
	}
	if !jsonOrText(ctx.Request.Header.ContentType()) {
		s.refuse(ctx, refusedContentType, fasthttp.StatusUnsupportedMediaType, "send application/json or text/plain\n")
		return
	}
	var b pixel.Body
	if err := b.Reset(ctx.PostBody(), s.cfg.Pixel.Limits.MaxBatchEvents); err != nil {
		s.countInvalid(err)
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.SetContentTypeBytes(contentTypeText)
		ctx.SetBodyString("the body must be a JSON event object or an array of them\n")
		return
	}
	if n := b.Excess(); n > 0 {
		s.invalid[pixel.ErrTooManyEvents].Add(uint64(n))
	}
	now := time.Now()
	h := pixel.AcquireHit()
	recorded := false
	for b.Len() > 0 {
		if err := h.FromBody(ctx, &s.cfg.Pixel, &b, now); err != nil {
			s.countInvalid(err)
			continue
		}
		s.publish(&h.Event, now)
		recorded = true
	}
	if recorded {
		h.SetCookies(&ctx.Response.Header, &s.cfg.Pixel.Cookie)
	}
	pixel.ReleaseHit(h)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// preflight answers a CORS preflight (OPTIONS /collect): what fetch() sends
// before a cross-origin POST with Content-Type: application/json.
// sendBeacon with text/plain needs none.
func (s *Server) preflight(ctx *fasthttp.RequestCtx) {
	hdr := &ctx.Response.Header
	hdr.Set(fasthttp.HeaderAllow, "POST, OPTIONS")
	if !s.cors(ctx) {
		s.refuse(ctx, refusedOrigin, fasthttp.StatusForbidden, "origin not allowed; see -cors-origins\n")
		return
	}
	hdr.Set(fasthttp.HeaderAccessControlAllowMethods, "POST, OPTIONS")
	hdr.Set(fasthttp.HeaderAccessControlAllowHeaders, "Content-Type")
	hdr.Set(fasthttp.HeaderAccessControlMaxAge, "7200") // Chrome's cap
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// cors adds the CORS headers for a request from an allowed origin and
// reports false for an origin that is not allowed. A request without an
// Origin header (not from a browser page) needs none. The origin is echoed,
// never "*", because the browser sends cookies (credentials) along.
func (s *Server) cors(ctx *fasthttp.RequestCtx) bool {
	origin := ctx.Request.Header.Peek(fasthttp.HeaderOrigin)
	if len(origin) == 0 {
		return true
	}
	hdr := &ctx.Response.Header
	hdr.Set(fasthttp.HeaderVary, fasthttp.HeaderOrigin)
	if !s.cfg.CORSOrigins.Allowed(origin) {
		return false
	}
	hdr.SetBytesV(fasthttp.HeaderAccessControlAllowOrigin, origin)
	hdr.Set(fasthttp.HeaderAccessControlAllowCredentials, "true")
	return true
}

// jsonOrText reports whether a Content-Type is application/json, text/plain
// (what sendBeacon sends for a string) or absent.
func jsonOrText(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	return len(ct) == 0 || bytes.EqualFold(ct, mediaJSON) || bytes.EqualFold(ct, mediaText)
}

var (
	mediaJSON = []byte("application/json")
	mediaText = []byte("text/plain")
)

// Origins is the list of page origins allowed to send events to POST /collect
// from a browser. The zero value allows none; AnyOrigin allows all.
type Origins struct {
	any      bool
	exact    []string // "https://shop.example"
	wildcard []string // "https://*.shop.example" kept as "https://" and ".shop.example", in pairs
}

// AnyOrigin allows every origin.
func AnyOrigin() Origins { return Origins{any: true} }

// ParseOrigins parses a comma-separated list of origins: "*" (any),
// "https://shop.example" (exactly that origin) or "https://*.shop.example"
// (any subdomain of shop.example over https). A port, when the site uses
// one, is part of the origin: "http://localhost:3000".
func ParseOrigins(list string) (Origins, error) {
	var o Origins
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case f == "*":
			o.any = true
			continue
		case f == "null":
			o.exact = append(o.exact, f)
			continue
		}
		f = strings.ToLower(f)
		scheme, host, ok := strings.Cut(f, "://")
		if !ok || (scheme != "http" && scheme != "https") || host == "" || strings.ContainsAny(host, "/?#@ ") {
			return o, fmt.Errorf("cannot use CORS origin %q: want scheme://host[:port] such as https://shop.example or https://*.shop.example, without a path", f)
		}
		if rest, wild := strings.CutPrefix(host, "*."); wild {
			if rest == "" || strings.Contains(rest, "*") {
				return o, fmt.Errorf("cannot use CORS origin %q: a wildcard stands for subdomains only, as in https://*.shop.example", f)
			}
			o.wildcard = append(o.wildcard, scheme+"://", "."+rest)
			continue
		}
		if strings.Contains(host, "*") {
			return o, fmt.Errorf("cannot use CORS origin %q: a wildcard stands for subdomains only, as in https://*.shop.example", f)
		}
		o.exact = append(o.exact, f)
	}
	return o, nil
}

// Allowed reports whether a page of origin may send events.
func (o *Origins) Allowed(origin []byte) bool {
	if o.any {
		return true
	}
	for _, e := range o.exact {
		if string(origin) == e {
			return true
		}
	}
	for i := 0; i+1 < len(o.wildcard); i += 2 {
		scheme, suffix := o.wildcard[i], o.wildcard[i+1]
		if len(origin) > len(scheme)+len(suffix) &&
			string(origin[:len(scheme)]) == scheme && string(origin[len(origin)-len(suffix):]) == suffix &&
			bytes.IndexByte(origin[len(scheme):len(origin)-len(suffix)], '/') < 0 {
			return true
		}
	}
	return false
}

// String lists the allowed origins as ParseOrigins reads them.
func (o Origins) String() string {
	var parts []string
	if o.any {
		parts = append(parts, "*")
	}
	parts = append(parts, o.exact...)
	for i := 0; i+1 < len(o.wildcard); i += 2 {
		parts = append(parts, o.wildcard[i]+"*"+o.wildcard[i+1])
	}
	return strings.Join(parts, ",")
}
