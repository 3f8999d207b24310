package collector

import (
	"bytes"
	"encoding/base64"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/serverapi"
)

// POST /v1/track, /v1/page, /v1/identify and /v1/batch are Segment's HTTP
// Tracking API, so that Segment's libraries (analytics-go, -node,
// -python, ...) and the tools speaking its protocol can send to the
// collector by changing only their endpoint. pkg/serverapi maps the
// messages to events (segment.go there). Authentication is Segment's: HTTP
// basic auth with the write key as the user name and no password; the
// write key is the pixel's server secret (pxs_...), which alone names the
// pixel. Because it is a secret, the browser's analytics.js, which puts
// the write key in the page, must not use it: browsers send to /collect.
// The events are server events of that pixel (channel "server"), with
// the same limits, rate limit, IP mode and counted outcomes as POST
// /v1/{pixel_id}/events. The answers:
//
//	200 {"success":true,"received":3,"accepted":2,"refused":[{"index":1,"reason":"too_old"}]}
//	400 / 413 / 415 {"error":"...","reason":"..."}: the body as a whole, nothing stored
//	401 wrong or missing write key (WWW-Authenticate: Basic), 403 disabled pixel
//	429 the pixel's rate limit (Retry-After)
//
// Segment's other ways to pass the write key (a "writeKey" member of the
// body, OAuth) are not supported: basic auth is what its server libraries
// send. Segment's libraries look only at the status: 200 is delivered (an
// event refused on its own would be refused again: there is no point in a
// retry), 429 and 5xx are retried.

// The Segment paths, by index into segmentPaths.
const (
	segTrack = iota
	segPage
	segIdentify
	segBatch
	numSegmentPaths
)

var segmentPaths = [numSegmentPaths]string{"/v1/track", "/v1/page", "/v1/identify", "/v1/batch"}

// segmentTypes are the message types of the paths ("": a batch of any).
var segmentTypes = [numSegmentPaths]string{"track", "page", "identify", ""}

var basic = []byte("basic ")

// segment serves one of the Segment paths.
func (s *Server) segment(ctx *fasthttp.RequestCtx, path int) {
	a := s.api
	a.segment[path].Inc()
	if !ctx.IsPost() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "POST")
		s.refuse(ctx, refusedMethod, fasthttp.StatusMethodNotAllowed, "method not allowed; use POST\n")
		return
	}
	snap := s.apiRegistry(ctx, "Segment's write keys")
	if snap == nil {
		return
	}
	var buf [256]byte
	p := snap.LookupSecret(writeKeyOf(ctx, &buf))
	if p == nil {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Basic realm="pixel"`)
		s.apiError(ctx, apiUnauthorized, fasthttp.StatusUnauthorized, "wrong or missing write key: send HTTP basic auth with the pixel's secret (pxs_...) as the user name and no password (Segment's libraries do, with the secret as their write key)")
		return
	}
	body, now, ok := s.apiAdmit(ctx, p, "the pixel's rate limit is reached: send fewer, larger batches (up to 1000 messages each)")
	if !ok {
		return
	}

	w := a.work.Get().(*apiWork)
	defer a.work.Put(w)
	if err := w.body.ResetSegment(body, &a.cfg.Limits, segmentTypes[path]); err != nil {
		status := fasthttp.StatusBadRequest
		if err == serverapi.ErrTooManyEvents {
			status = fasthttp.StatusRequestEntityTooLarge
		}
		e := err.(*serverapi.Error)
		s.apiErrorReason(ctx, apiBadBody, status, e.Reason, e.Msg)
		return
	}
	w.pixelID = append(w.pixelID[:0], p.ID...)
	pixelID := w.pixelID
	// The answer is written by hand, as it goes: reasons and numbers only,
	// which need no escaping, and no allocation.
	b := append(w.answer[:0], `{"success":true,"received":`...)
	b = strconv.AppendInt(b, int64(w.body.Len()), 10)
	b = append(b, `,"refused":[`...)
	accepted, refused := 0, 0
	for i := 0; w.body.More(); i++ {
		e := s.nextServerEvent(w, p, pixelID, now)
		if e == nil {
			accepted++
			continue
		}
		if refused > 0 {
			b = append(b, ',')
		}
		refused++
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"reason":"`...)
		b = append(b, e.Reason...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"accepted":`...)
	b = strconv.AppendInt(b, int64(accepted), 10)
	b = append(b, "}\n"...)
	w.answer = b
	w.e.Reset()
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(jsonAnswer)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(b)
}

// writeKeyOf returns the user name of the request's basic auth (Segment's
// write key), decoded into buf, or nil.
func writeKeyOf(ctx *fasthttp.RequestCtx, buf *[256]byte) []byte {
	auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(auth) <= len(basic) || !bytes.EqualFold(auth[:len(basic)], basic) {
		return nil
	}
	enc := bytes.TrimSpace(auth[len(basic):])
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return nil
	}
	n, err := base64.StdEncoding.Decode(buf[:], enc)
	if err != nil {
		return nil
	}
	user, _, _ := bytes.Cut(buf[:n], []byte(":"))
	return user
}

// hasPrefixFold reports whether b starts with the lower-case prefix, in
// any case, without allocating (bytes.ToLower would).
func hasPrefixFold(b, prefix []byte) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], prefix)
}
