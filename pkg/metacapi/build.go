// Package metacapi turns pixel events into Meta Conversions API requests and
// sends them: a pure builder (events → request bodies of at most 1,000
// server events, see Build), the consent gate every forwarded event passes
// first (pkg/gate), and a small HTTP client that sends one request and
// classifies Meta's answer as accepted, to retry (with the delay) or
// permanently refused (with Meta's error body) (Client.Send). It starts no
// goroutines and never retries by itself: the caller (the forwarder) owns
// concurrency, retries, backoff and Kafka offsets.
//
// The request format follows Meta's documentation:
//   - endpoint and body: developers.facebook.com/documentation/ads-commerce/conversions-api/using-the-api
//     (POST /{API_VERSION}/{PIXEL_ID}/events, "data" holds up to 1,000 events,
//     one invalid event rejects the whole batch);
//   - server event fields: developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event/
//   - user_data: developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters
//   - fbc and fbp: developers.facebook.com/docs/marketing-api/conversions-api/parameters/fbp-and-fbc/
//   - limited data use: developers.facebook.com/docs/marketing-apis/data-processing-options
package metacapi

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

const (
	// DefaultBaseURL is Meta's Graph API host. A Conversions API Gateway or
	// a test server is configured with Options.BaseURL instead.
	DefaultBaseURL = "https://graph.facebook.com"
	// DefaultVersion is the Graph API version in the path. v25.0 is the
	// version Meta's reference for the events edge shows
	// (developers.facebook.com/documentation/ads-commerce/marketing-api/reference/ads-pixel/events);
	// Conversions API versions stay usable for at least two years (using-the-api).
	DefaultVersion = "v25.0"
	// MaxBatch is the most server events one request may carry (using-the-api:
	// "You can send up to 1,000 events in data").
	MaxBatch = 1000
	// MaxAge is how old an event may be: Meta refuses an event_time more than
	// seven days before the request (server-event: event_time).
	MaxAge = 7 * 24 * time.Hour
)

// Reasons an event is not built, stable strings for metrics.
const (
	SkipTooOld       = "too_old"       // event_time more than MaxAge before now
	SkipActionSource = "action_source" // an action_source Meta does not know
	SkipNoURL        = "no_source_url" // a website event without event_source_url
	SkipNoUserAgent  = "no_user_agent" // a website event without client_user_agent
	SkipNoEventName  = "no_event_name" // an event without a name
	SkipNoCurrency   = "no_currency"   // a Purchase without a currency
	SkipBadValue     = "bad_value"     // a value that is not a finite number
)

// actionSources are Meta's action_source values (server-event: action_source).
var actionSources = map[string]bool{
	"email": true, "website": true, "app": true, "phone_call": true, "chat": true,
	"physical_store": true, "system_generated": true, "business_messaging": true, "other": true,
}

// ValidActionSource reports whether s is one of Meta's action_source values.
func ValidActionSource(s string) bool { return actionSources[s] }

// Options configure one Meta destination: which dataset (pixel) the events go
// to and how requests are built. The access token is not here: it belongs to
// the Client, so that a built request (which may end in a dead-letter topic)
// never holds it.
type Options struct {
	BaseURL string // default DefaultBaseURL; a gateway or a test server otherwise
	Version string // default DefaultVersion, e.g. "v25.0"
	PixelID string // Meta's pixel (dataset) id, required

	// BatchSize caps the events of one request: 0 means MaxBatch; larger
	// than MaxBatch is an error.
	BatchSize int
	// TestEventCode, when set, is sent with every request so that the events
	// show in Events Manager's Test Events tool and are not used for ads.
	TestEventCode string
	// LimitedDataUse marks every event with data_processing_options ["LDU"]
	// and country and state 0 (Meta geolocates the event); off, the field is
	// absent, which Meta reads as LDU not enabled (data-processing-options).
	LimitedDataUse bool
}

// Request is one built request: POST URL with Body (JSON). Events holds
// the indexes (into the events given to Build) of the events it carries, in
// order, so that the caller can map the answer back to offsets.
type Request struct {
	URL    string // without the access token: the Client adds it
	Body   []byte
	Events []int
}

// Skip is an event Build left out, and why (one of the Skip* reasons).
type Skip struct {
	Index  int
	Reason string
}

// Builder builds requests for one destination. It is not safe for concurrent
// use: it reuses a scratch buffer.
type Builder struct {
	opts    Options
	url     string
	batch   int
	scratch []byte
}

// NewBuilder checks o and returns a Builder for it.
func NewBuilder(o Options) (*Builder, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.PixelID == "" {
		return nil, errors.New("metacapi: cannot build requests without a pixel id: set Options.PixelID to the Meta dataset id")
	}
	if strings.ContainsAny(o.PixelID, "/?#") || strings.ContainsAny(o.Version, "/?#") {
		return nil, fmt.Errorf("metacapi: pixel id %q or version %q holds a URL delimiter: give the bare id and version (\"v25.0\")", o.PixelID, o.Version)
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("metacapi: base URL %q is not an http(s) URL without a query: give e.g. %q", o.BaseURL, DefaultBaseURL)
	}
	switch {
	case o.BatchSize == 0:
		o.BatchSize = MaxBatch
	case o.BatchSize < 0 || o.BatchSize > MaxBatch:
		return nil, fmt.Errorf("metacapi: batch size %d is out of range: Meta takes 1 to %d events a request", o.BatchSize, MaxBatch)
	}
	return &Builder{
		opts:  o,
		url:   strings.TrimRight(o.BaseURL, "/") + "/" + o.Version + "/" + url.PathEscape(o.PixelID) + "/events",
		batch: o.BatchSize,
	}, nil
}

// URL is where the requests go (without the access token).
func (b *Builder) URL() string { return b.url }

// Build turns events (already passed through gate.Check) into requests of at
// most the batch size, and reports the events it left out: older than
// MaxAge at now, or that Meta would refuse (and with them the whole batch:
// an unknown action_source, a website event without URL or user agent).
// An event time after now (clock skew between collector and forwarder) is
// sent as now, which Meta accepts. Meta refuses a whole batch for one
// event past seven days, so a caller that retries a request long after
// building it (near the limit) builds it again from the events instead.
func (b *Builder) Build(events []*event.Event, now time.Time) ([]Request, []Skip) {
	var reqs []Request
	var skips []Skip
	var body []byte
	var idx []int
	nowMs := now.UnixMilli()
	oldest := now.Add(-MaxAge).Unix()
	flush := func() {
		if len(idx) == 0 {
			return
		}
		body = append(body, ']')
		if b.opts.TestEventCode != "" {
			body = append(body, `,"test_event_code":`...)
			body = event.AppendString(body, []byte(b.opts.TestEventCode))
		}
		body = append(body, '}')
		reqs = append(reqs, Request{URL: b.url, Body: body, Events: idx})
		body, idx = nil, nil
	}
	for i, e := range events {
		if reason := b.check(e, oldest); reason != "" {
			skips = append(skips, Skip{Index: i, Reason: reason})
			continue
		}
		if len(idx) == 0 {
			n := min(b.batch, len(events)-i)
			body = make([]byte, 0, 1024*n+64) // a purchase takes ~700 bytes
			idx = make([]int, 0, n)
			body = append(body, `{"data":[`...)
		} else {
			body = append(body, ',')
		}
		body = b.appendEvent(body, e, nowMs)
		idx = append(idx, i)
		if len(idx) == b.batch {
			flush()
		}
	}
	flush()
	return reqs, skips
}

// check returns why e cannot be sent, or "".
func (b *Builder) check(e *event.Event, oldest int64) string {
	if len(e.Name) == 0 {
		return SkipNoEventName
	}
	if e.TS < oldest {
		return SkipTooOld
	}
	if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
		return SkipBadValue // event.Validate refuses it; JSON cannot hold it
	}
	src := actionSource(e)
	if !actionSources[src] {
		return SkipActionSource
	}
	// Website events require event_source_url and client_user_agent
	// (parameters: "Website events ... require the client_user_agent,
	// action_source, and event_source_url parameters").
	// A Purchase needs value and currency (server-event custom_data).
	if string(e.Name) == "Purchase" && len(e.Currency) == 0 {
		return SkipNoCurrency
	}
	if src == "website" {
		if len(e.URL) == 0 {
			return SkipNoURL
		}
		if len(e.UserAgent) == 0 {
			return SkipNoUserAgent
		}
	}
	return ""
}

// actionSource is the event's action_source, "website" when it has none
// (every browser hit is a website event).
func actionSource(e *event.Event) string {
	if s := e.Tracking[event.ActionSource]; len(s) > 0 {
		return string(s)
	}
	return "website"
}

// AppendEvent appends e as one Meta server event (a JSON object), sending
// an event time after now as now. It does not check e: Build does.
func (b *Builder) AppendEvent(dst []byte, e *event.Event, now time.Time) []byte {
	return b.appendEvent(dst, e, now.UnixMilli())
}

// appendEvent appends e at nowMs, the Unix time in milliseconds.
func (b *Builder) appendEvent(dst []byte, e *event.Event, nowMs int64) []byte {
	dst = append(dst, `{"event_name":`...)
	dst = event.AppendString(dst, e.Name)
	dst = append(dst, `,"event_time":`...)
	dst = strconv.AppendInt(dst, min(e.TS, nowMs/1000), 10)
	// event_id equal to the browser's: with event_name, Meta de-duplicates
	// the browser and server copies for 48 hours
	// (conversions-api/deduplicate-pixel-and-server-events).
	if len(e.EventID) > 0 {
		dst = append(dst, `,"event_id":`...)
		dst = event.AppendString(dst, e.EventID)
	}
	dst = append(dst, `,"action_source":`...)
	if s := e.Tracking[event.ActionSource]; len(s) > 0 {
		dst = event.AppendString(dst, s)
	} else {
		dst = append(dst, `"website"`...)
	}
	if len(e.URL) > 0 {
		dst = append(dst, `,"event_source_url":`...)
		dst = event.AppendString(dst, e.URL)
	}
	dst = b.appendUserData(dst, e, nowMs)
	dst = appendCustomData(dst, e)
	if b.opts.LimitedDataUse {
		// Country and state 0: Meta geolocates the event itself
		// (data-processing-options).
		dst = append(dst, `,"data_processing_options":["LDU"],"data_processing_options_country":0,"data_processing_options_state":0`...)
	}
	return append(dst, '}')
}

// appendUserData appends the user_data object. em and ph are the event's
// columns in Meta's normalisation, already hashed by the collector; Meta
// takes each as an array of hex SHA-256 strings. A column that is not a
// lower-case hex SHA-256 (a foreign producer's garbage) is left out rather
// than risk Meta refusing the whole batch. The IP, user agent, fbc and fbp
// are sent unhashed, as Meta requires.
func (b *Builder) appendUserData(dst []byte, e *event.Event, nowMs int64) []byte {
	dst = append(dst, `,"user_data":{`...)
	start := len(dst)
	sep := func() {
		if len(dst) > start {
			dst = append(dst, ',')
		}
	}
	if h := e.Tracking[event.EmailSHA256]; pixel.IsSHA256Hex(h) {
		sep()
		dst = append(dst, `"em":["`...)
		dst = append(dst, h...)
		dst = append(dst, `"]`...)
	}
	if h := e.Tracking[event.PhoneSHA256]; pixel.IsSHA256Hex(h) {
		sep()
		dst = append(dst, `"ph":["`...)
		dst = append(dst, h...)
		dst = append(dst, `"]`...)
	}
	if id := e.Tracking[event.ExternalID]; len(id) > 0 {
		sep()
		dst = append(dst, `"external_id":["`...)
		dst = appendExternalIDHash(dst, id)
		dst = append(dst, `"]`...)
	}
	if len(e.IP) > 0 {
		sep()
		dst = append(dst, `"client_ip_address":`...)
		dst = event.AppendString(dst, e.IP)
	}
	if len(e.UserAgent) > 0 {
		sep()
		dst = append(dst, `"client_user_agent":`...)
		dst = event.AppendString(dst, e.UserAgent)
	}
	if id := e.Tracking[event.FBCLID]; len(id) > 0 {
		sep()
		dst = append(dst, `"fbc":`...)
		// A click time after now (clock skew) is sent as now: Meta flags
		// an fbc created in the future.
		b.scratch = AppendFBC(b.scratch[:0], id, min(clickMillis(e), nowMs))
		dst = event.AppendString(dst, b.scratch)
	}
	// fbp: the collector does not record Meta's _fbp cookie (no column in
	// pkg/event), so it is never sent.
	return append(dst, '}')
}

// appendExternalIDHash appends the hex SHA-256 of the advertiser's user id
// with the project's one hashing code (pkg/pixel): an id that already is a
// SHA-256 in hex (a sender that hashed it, as fbq does) is passed through in
// lower case rather than hashed twice, so that it matches the browser's.
func appendExternalIDHash(dst, id []byte) []byte {
	if out, ok := pixel.AppendLowerSHA256Hex(dst, id); ok {
		return out
	}
	return pixel.AppendSHA256Hex(dst, id)
}

// clickMillis is when the fbclid was first seen: ClickTSMs, else the event's
// own time (Meta: "use the timestamp when you first observed or received
// this fbclid value").
func clickMillis(e *event.Event) int64 {
	if e.ClickTSMs > 0 {
		return e.ClickTSMs
	}
	return e.Millis()
}

// AppendFBC appends Meta's formatted ClickID fb.1.<creationTime>.<fbclid>:
// version "fb", subdomain index 1 (what a server that builds the value uses),
// the Unix time in milliseconds the fbclid was first seen, and the fbclid
// exactly as it came, case included (fbp-and-fbc: "Format ClickID").
func AppendFBC(dst, fbclid []byte, clickMs int64) []byte {
	dst = append(dst, "fb.1."...)
	dst = strconv.AppendInt(dst, clickMs, 10)
	dst = append(dst, '.')
	return append(dst, fbclid...)
}

// appendCustomData appends custom_data when the event has a currency (and
// so a value), content ids or an order id.
func appendCustomData(dst []byte, e *event.Event) []byte {
	if len(e.Currency) == 0 && len(e.ContentIDs) == 0 && len(e.OrderID) == 0 {
		return dst
	}
	dst = append(dst, `,"custom_data":{`...)
	start := len(dst)
	sep := func() {
		if len(dst) > start {
			dst = append(dst, ',')
		}
	}
	// A value means nothing to Meta without its currency: both or neither.
	if len(e.Currency) > 0 {
		sep()
		dst = append(dst, `"value":`...)
		dst = strconv.AppendFloat(dst, e.Value, 'f', -1, 64)
		dst = append(dst, `,"currency":`...)
		dst = event.AppendString(dst, e.Currency)
	}
	if len(e.ContentIDs) > 0 {
		sep()
		dst = append(dst, `"content_ids":[`...)
		for i, id := range e.ContentIDs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = event.AppendString(dst, id)
		}
		// content_type is product when content_ids are product ids
		// (server-event custom_data: content_type).
		dst = append(dst, `],"content_type":"product"`...)
	}
	if len(e.OrderID) > 0 {
		sep()
		dst = append(dst, `"order_id":`...)
		dst = event.AppendString(dst, e.OrderID)
	}
	return append(dst, '}')
}
