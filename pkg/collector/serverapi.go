package collector

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/serverapi"
)

// POST /v1/{pixel_id}/events is the server-side events API: a backend
// sends conversions (pkg/serverapi reads the bodies, in our shape or
// Meta's), authenticated by the pixel's secret as
// "Authorization: Bearer SECRET" or "?access_token=SECRET" (Meta's way).
// The answer is JSON:
//
//	200 {"received":3,"accepted":2,"refused":[{"index":1,"event_id":"e2","reason":"bad_value","message":"..."}]}
//	400 / 413 / 415 {"error":"...","reason":"..."}: the body as a whole, nothing stored
//	401 wrong or missing secret, nothing stored; 403 disabled pixel; 404 unknown pixel
//	429 the pixel's rate limit (Retry-After says when to come back)
//
// An event Kafka cannot take now is refused with reason "unavailable": the
// sender may retry it (event_id de-duplicates). The pixel's IP mode applies
// to each event's ip. /v1/track, /v1/page, /v1/identify and /v1/batch are
// Segment's HTTP Tracking API (segment.go).

// ServerAPIConfig configures POST /v1/{pixel_id}/events.
type ServerAPIConfig struct {
	MaxBodyBytes int     // request body; larger is refused with 413
	Rate         float64 // requests per second and pixel (0: no limit)
	Burst        int     // requests a pixel may send at once above Rate
	Limits       serverapi.Limits
}

// DefaultServerAPIConfig returns the defaults written down in the README.
func DefaultServerAPIConfig() ServerAPIConfig {
	return ServerAPIConfig{MaxBodyBytes: 1 << 20, Rate: 100, Burst: 200, Limits: serverapi.DefaultLimits()}
}

var (
	v1Prefix   = []byte("/v1/")
	bearer     = []byte("bearer ")
	jsonType   = []byte("application/json")
	jsonAnswer = "application/json; charset=utf-8"
)

// The reasons a request is refused as a whole.
const (
	apiNotFound = iota
	apiNoRegistry
	apiLoading
	apiUnknownPixel
	apiUnauthorized
	apiDisabled
	apiRateLimited
	apiContentType
	apiTooLarge
	apiBadBody
	numAPIRefusals
)

var apiRefusalReasons = [numAPIRefusals]string{
	apiNotFound: "not_found", apiNoRegistry: "no_registry", apiLoading: "registry_loading",
	apiUnknownPixel: "unknown_pixel", apiUnauthorized: "unauthorized", apiDisabled: "disabled_pixel",
	apiRateLimited: "rate_limited", apiContentType: "content_type", apiTooLarge: "too_large", apiBadBody: "bad_body",
}

// serverAPI is the state of the server-side events API.
type serverAPI struct {
	cfg      ServerAPIConfig
	limiter  rateLimiter
	work     sync.Pool // *apiWork
	requests *metrics.Counter
	segment  [numSegmentPaths]*metrics.Counter // requests by Segment path
	refused  [numAPIRefusals]*metrics.Counter
	events   map[string]*metrics.Counter // accepted, refused, dropped
	reasons  map[string]*metrics.Counter // refused events by reason
}

// apiWork is one request's working space.
type apiWork struct {
	body     serverapi.Body
	e        event.Event
	ip       []byte
	campaign []byte
	answer   []byte // the Segment API's answer
	pixelID  []byte
}

func newServerAPI(cfg *Config, m *metrics.Set) *serverAPI {
	a := &serverAPI{
		cfg:      cfg.ServerAPI,
		limiter:  rateLimiter{rate: cfg.ServerAPI.Rate, burst: float64(max(cfg.ServerAPI.Burst, 1)), buckets: map[string]*bucket{}},
		work:     sync.Pool{New: func() any { return new(apiWork) }},
		requests: m.Counter("pixel_http_requests_total", "Requests by route.", "path", "/v1/events"),
		events:   map[string]*metrics.Counter{},
		reasons:  map[string]*metrics.Counter{},
	}
	for i, path := range segmentPaths {
		a.segment[i] = m.Counter("pixel_http_requests_total", "Requests by route.", "path", path)
	}
	for r, reason := range apiRefusalReasons {
		a.refused[r] = m.Counter("pixel_server_requests_refused_total", "Server-side events requests refused as a whole, by reason.", "reason", reason)
	}
	for _, o := range []string{"accepted", "refused", "dropped"} {
		a.events[o] = m.Counter("pixel_server_events_total", "Server-side events by outcome (dropped: the publisher could not take them).", "outcome", o)
	}
	for _, r := range append(serverapi.EventReasons, &serverapi.Error{Reason: "unavailable"}) {
		a.reasons[r.Reason] = m.Counter("pixel_server_events_refused_total", "Server-side events refused, by reason.", "reason", r.Reason)
	}
	return a
}

// bodyLimit is fasthttp's HeaderReceived: the server API's requests may
// have larger bodies than POST /collect's.
func (s *Server) bodyLimit(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if bytes.HasPrefix(h.RequestURI(), v1Prefix) {
		return fasthttp.RequestConfig{MaxRequestBodySize: s.api.cfg.MaxBodyBytes}
	}
	return fasthttp.RequestConfig{}
}

// serverEvents serves every path under /v1/.
func (s *Server) serverEvents(ctx *fasthttp.RequestCtx) {
	a := s.api
	id, ok := bytes.CutSuffix(ctx.Path()[len(v1Prefix):], []byte("/events"))
	if !ok || len(id) == 0 || bytes.IndexByte(id, '/') >= 0 {
		switch string(ctx.Path()[len(v1Prefix):]) {
		case "track":
			s.segment(ctx, segTrack)
			return
		case "page":
			s.segment(ctx, segPage)
			return
		case "identify":
			s.segment(ctx, segIdentify)
			return
		case "batch":
			s.segment(ctx, segBatch)
			return
		}
		a.requests.Inc()
		s.apiError(ctx, apiNotFound, fasthttp.StatusNotFound, "not found: the server-side events API is POST /v1/{pixel_id}/events, and Segment's POST /v1/track, /v1/page, /v1/identify, /v1/batch")
		return
	}
	a.requests.Inc()
	if !ctx.IsPost() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "POST")
		s.refuse(ctx, refusedMethod, fasthttp.StatusMethodNotAllowed, "method not allowed; use POST\n")
		return
	}
	snap := s.apiRegistry(ctx, "server events")
	if snap == nil {
		return
	}
	p := snap.Lookup(id)
	if p == nil {
		s.apiError(ctx, apiUnknownPixel, fasthttp.StatusNotFound, "no pixel has this id")
		return
	}
	if !p.CheckSecret(secretOf(ctx)) {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="pixel"`)
		s.apiError(ctx, apiUnauthorized, fasthttp.StatusUnauthorized, "wrong or missing secret: send Authorization: Bearer SECRET (the pixel's secret; pixelctl pixel rotate-secret issues a new one)")
		return
	}
	body, now, ok := s.apiAdmit(ctx, p, "the pixel's rate limit is reached: send fewer, larger batches (up to 1000 events each)")
	if !ok {
		return
	}

	w := a.work.Get().(*apiWork)
	defer a.work.Put(w)
	if err := w.body.Reset(body, &a.cfg.Limits); err != nil {
		status := fasthttp.StatusBadRequest
		if err == serverapi.ErrTooManyEvents {
			status = fasthttp.StatusRequestEntityTooLarge
		}
		e := err.(*serverapi.Error)
		s.apiErrorReason(ctx, apiBadBody, status, e.Reason, e.Msg)
		return
	}
	answer := apiAnswer{Received: w.body.Len(), Refused: []apiRefusal{}, TestEventCode: string(w.body.TestEventCode())}
	pixelID := []byte(p.ID)
	for i := 0; w.body.More(); i++ {
		if e := s.nextServerEvent(w, p, pixelID, now); e != nil {
			answer.Refused = append(answer.Refused, apiRefusal{Index: i, EventID: string(w.body.EventID()), Reason: e.Reason, Message: e.Msg})
			continue
		}
		answer.Accepted++
	}
	w.e.Reset()
	writeJSON(ctx, fasthttp.StatusOK, answer)
}

// apiRegistry is the registry's snapshot for an authenticated API (what
// names its requests in the refusal), or nil after answering 404 without
// a registry or 503 while it loads.
func (s *Server) apiRegistry(ctx *fasthttp.RequestCtx, what string) *registry.Snapshot {
	if s.cfg.Registry == nil {
		s.apiError(ctx, apiNoRegistry, fasthttp.StatusNotFound, "this collector runs without a pixel registry (-registry=off): it cannot authenticate "+what)
		return nil
	}
	snap := s.cfg.Registry()
	if snap == nil {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "5")
		s.apiError(ctx, apiLoading, fasthttp.StatusServiceUnavailable, "the pixel registry is not loaded yet; retry in a few seconds")
	}
	return snap
}

// apiAdmit checks what both server APIs check once the pixel is known: it
// is active, within its rate limit, and the body is JSON of an allowed
// size; rateLimited is the refusal at the rate limit, a constant, so that
// refusing allocates nothing. It returns the body and the request's time,
// or false after answering.
func (s *Server) apiAdmit(ctx *fasthttp.RequestCtx, p *registry.Pixel, rateLimited string) ([]byte, time.Time, bool) {
	a := s.api
	if !p.Active() {
		s.apiError(ctx, apiDisabled, fasthttp.StatusForbidden, "the pixel is disabled")
		return nil, time.Time{}, false
	}
	now := time.Now()
	if ok, wait := a.limiter.allow(p.ID, now); !ok {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		s.apiError(ctx, apiRateLimited, fasthttp.StatusTooManyRequests, rateLimited)
		return nil, now, false
	}
	if ct := ctx.Request.Header.ContentType(); len(ct) > 0 && !hasPrefixFold(ct, jsonType) {
		s.apiError(ctx, apiContentType, fasthttp.StatusUnsupportedMediaType, "send Content-Type: application/json")
		return nil, now, false
	}
	body := ctx.PostBody()
	if len(body) > a.cfg.MaxBodyBytes {
		s.apiError(ctx, apiTooLarge, fasthttp.StatusRequestEntityTooLarge, "the body is larger than "+strconv.Itoa(a.cfg.MaxBodyBytes)+" bytes: split the batch")
		return nil, now, false
	}
	return body, now, true
}

// nextServerEvent reads w's next event for pixel p and publishes it, and
// counts the outcome; it returns nil, or why the event was not kept.
func (s *Server) nextServerEvent(w *apiWork, p *registry.Pixel, pixelID []byte, now time.Time) *serverapi.Error {
	a := s.api
	err := w.body.Next(&w.e, pixelID, now)
	if err == nil {
		w.ip = applyIPMode(w.ip[:0], p, w.e.IP, w.body.Addr())
		w.e.IP = w.ip
		// The campaign and click ids of the page, as for a browser hit;
		// the fields the backend sent win.
		w.campaign, _ = pixel.AppendCampaign(w.campaign[:0], &w.e)
		if s.publish(&w.e, now) {
			a.events["accepted"].Inc()
			return nil
		}
		a.events["dropped"].Inc()
		err = errUnavailable
	} else {
		a.events["refused"].Inc()
	}
	e := err.(*serverapi.Error)
	a.reasons[e.Reason].Inc()
	return e
}

var errUnavailable = &serverapi.Error{Reason: "unavailable", Msg: "the collector cannot keep events right now; retry later (event_id de-duplicates)"}

// secretOf returns the request's secret: the Authorization header's
// bearer token, else the access_token query parameter (Meta's way).
func secretOf(ctx *fasthttp.RequestCtx) []byte {
	if auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization); len(auth) > len(bearer) && bytes.EqualFold(auth[:len(bearer)], bearer) {
		return bytes.TrimSpace(auth[len(bearer):])
	}
	return ctx.QueryArgs().Peek("access_token")
}

// applyIPMode applies the pixel's IP mode to the event's ip (text; a
// parsed), into dst, as pixel.ApplyIPMode does for browser hits.
func applyIPMode(dst []byte, p *registry.Pixel, ip []byte, a netip.Addr) []byte {
	dst = append(dst, ip...)
	if p.Settings.IP == pixel.IPKeep {
		return dst
	}
	if !a.IsValid() {
		return dst[:0] // nothing an IP mode could keep
	}
	return pixel.ApplyIPMode(dst, p.Settings.IP, a)
}

type apiAnswer struct {
	Received      int          `json:"received"`
	Accepted      int          `json:"accepted"`
	Refused       []apiRefusal `json:"refused"`
	TestEventCode string       `json:"test_event_code,omitempty"`
}

type apiRefusal struct {
	Index   int    `json:"index"`
	EventID string `json:"event_id,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (s *Server) apiError(ctx *fasthttp.RequestCtx, r, status int, msg string) {
	s.apiErrorReason(ctx, r, status, apiRefusalReasons[r], msg)
}

// apiErrorReason answers a refused request: the count by r, and reason
// (the finer one of a bad body) in the JSON. It is written by hand, into
// buffers on the stack, so that a flood of refused requests (wrong keys)
// costs no allocation.
func (s *Server) apiErrorReason(ctx *fasthttp.RequestCtx, r, status int, reason, msg string) {
	s.api.refused[r].Inc()
	var text [512]byte
	var out [1024]byte
	b := append(out[:0], `{"error":`...)
	b = event.AppendString(b, append(text[:0], msg...))
	b = append(b, `,"reason":`...)
	b = event.AppendString(b, append(text[:0], reason...))
	b = append(b, "}\n"...)
	ctx.SetStatusCode(status)
	ctx.SetContentType(jsonAnswer)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(b)
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, _ := json.Marshal(v) // plain structs of strings and ints: cannot fail
	ctx.SetStatusCode(status)
	ctx.SetContentType(jsonAnswer)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(append(b, '\n'))
}

// rateLimiter is a token bucket per pixel: rate requests a second, up to
// burst at once. Buckets are made for authenticated pixels only, so there
// are at most as many as registered pixels.
type rateLimiter struct {
	rate, burst float64
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token of pixel id's bucket at now, or says how long until
// one is there.
func (r *rateLimiter) allow(id string, now time.Time) (bool, time.Duration) {
	if r.rate <= 0 {
		return true, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[id]
	if b == nil {
		b = &bucket{tokens: r.burst, last: now}
		r.buckets[id] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(r.burst, b.tokens+d.Seconds()*r.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / r.rate * float64(time.Second))
}
