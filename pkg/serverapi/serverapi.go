// Package serverapi reads the bodies of the server-side events API, POST
// /v1/{pixel_id}/events: the conversions a backend sends, in our own shape
// or in the shape of Meta's Conversions API, and of Segment's HTTP Tracking
// API (POST /v1/track, /v1/page, /v1/identify, /v1/batch; segment.go),
// turned into event.Event one at a time with a reason for each one refused. It does no I/O and never logs;
// the collector authenticates, limits and publishes.
package serverapi

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// The two shapes of a body.
//
// Ours, whose keys are the wire format's column names (schemas/event-format.md):
//
//	{"events":[{"event":"Purchase","event_id":"order-1001","visitor_id":"<the _pxid cookie>",
//	  "ts":1767268799,"url":"https://shop.example/thanks","ip":"198.51.100.4","user_agent":"Mozilla/5.0 ...",
//	  "action_source":"website","value":129.99,"currency":"EUR","order_id":"1001","content_ids":["sku-1"],
//	  "email":"Jane.Doe@gmail.com","props":{"coupon":"WINTER"}}]}
//
// Meta's Conversions API (developers.facebook.com/docs/marketing-api/conversions-api):
//
//	{"data":[{"event_name":"Purchase","event_time":1767268799,"event_id":"order-1001",
//	  "event_source_url":"https://shop.example/thanks","action_source":"website",
//	  "user_data":{"em":["<sha256>"],"ph":"<sha256>","external_id":"u-42","client_ip_address":"198.51.100.4",
//	   "client_user_agent":"Mozilla/5.0 ...","fbc":"fb.1.1767268700000.IwAR...","visitor_id":"<the _pxid cookie>"},
//	  "custom_data":{"value":129.99,"currency":"EUR","content_ids":["sku-1"],"order_id":"1001"}}],
//	 "test_event_code":"TEST123"}
//
// In ours, an unknown key refuses the event (a typo must not lose a
// field silently); in Meta's, the keys we have no column for are skipped
// (fn, ln, fbp, contents, ...: Meta adds keys over time), and the extra
// scalars of custom_data go to props. A repeated key: the first counts.
// null is an absent key.
//
// Identifiers: email and phone (ours) or em and ph (Meta's; a string or an
// array, whose first element counts) may be raw or already hashed: a value
// of 64 hex digits is a SHA-256 (lower-cased), anything else is raw and is
// normalised and hashed as Meta and Google require (pkg/pixel/identity.go),
// and the raw text is never stored. email_sha256, phone_sha256 and their
// _google_ variants take hashes (a raw value there is hashed too).
//
// Times: ts and event_time are Unix seconds (fractions kept to the
// millisecond), or milliseconds when above 1e12, or RFC 3339 text; absent,
// the receive time. An event older than MaxAge or further than MaxFuture
// ahead is refused, as Meta refuses events older than 7 days.
//
// Defaults: visitor_id a new id (a server event without the visitor's
// _pxid starts a visitor of its own); action_source "website" when the
// event has a url, else "other"; consent "granted" (a backend sends only
// what it may: the Conversions API sees no browser consent either);
// channel is always "server"; is_bot is set from a user_agent that names a
// crawler or a tool (pixel.IsBot).

// Limits bound what one request and one event may hold.
type Limits struct {
	MaxEvents       int           // events per request (Meta's limit is 1000)
	MaxAge          time.Duration // oldest event time accepted
	MaxFuture       time.Duration // event time furthest ahead of the receive time
	MaxIDLen        int           // event_id, visitor_id, session_id, order_id, external_id, page_view_id, each content id
	MaxURLLen       int           // url, referrer
	MaxUserAgentLen int           // user_agent
	MaxValueLen     int           // utm_*, click ids, test_event_code, each props value
	MaxProps        int           // props keys
	MaxContentIDs   int           // content_ids entries
}

// DefaultLimits are the collector's defaults.
func DefaultLimits() Limits {
	pl := pixel.DefaultLimits()
	return Limits{
		MaxEvents:       1000,
		MaxAge:          7 * 24 * time.Hour,
		MaxFuture:       time.Hour,
		MaxIDLen:        pl.MaxIDLen,
		MaxURLLen:       pl.MaxURLLen,
		MaxUserAgentLen: pl.MaxUserAgentLen,
		MaxValueLen:     pl.MaxPropValueLen,
		MaxProps:        pl.MaxProps,
		MaxContentIDs:   pl.MaxContentIDs,
	}
}

// Error is why a body or one of its events was refused; Reason is a short
// label for metrics and answers, Msg says what to fix.
type Error struct {
	Reason string
	Msg    string
}

func (e *Error) Error() string { return "serverapi: " + e.Msg }

// Reasons a whole body is refused (nothing of it is used).
var (
	ErrBody          = &Error{"bad_body", `the body must be one JSON object: {"events":[...]} or Meta's {"data":[...]}`}
	ErrNoEvents      = &Error{"no_events", `the body has no events: give a non-empty array "events" (or Meta's "data")`}
	ErrBothShapes    = &Error{"bad_body", `give "events" or Meta's "data", not both`}
	ErrTooManyEvents = &Error{"too_many_events", "more events in one request than the limit (1000 by default): split the batch"}
)

// Reasons one event is refused (the others of the request are still used).
var (
	ErrType          = &Error{"bad_type", "a field has the wrong JSON type"}
	ErrMissingEvent  = &Error{"missing_event", `the event name is required ("event", or Meta's "event_name")`}
	ErrBadEvent      = &Error{"bad_event", "the event name must be 1-64 characters of A-Z a-z 0-9 _ . : -"}
	ErrBadEventID    = &Error{"bad_event_id", "event_id must be 1-128 printable ASCII characters without spaces"}
	ErrBadVisitorID  = &Error{"bad_visitor_id", "visitor_id and session_id must be 1-128 printable ASCII characters without spaces (the _pxid and _pxsid cookies' values)"}
	ErrBadTime       = &Error{"bad_time", "ts / event_time must be Unix seconds, milliseconds, or RFC 3339 text"}
	ErrTooOld        = &Error{"too_old", "the event time is older than the limit (7 days by default, as Meta's)"}
	ErrInFuture      = &Error{"in_future", "the event time is more than the limit (1 hour by default) ahead of the collector's clock"}
	ErrActionSource  = &Error{"bad_action_source", "action_source must be one of website, app, phone_call, chat, email, physical_store, system_generated, other"}
	ErrBadValue      = &Error{"bad_value", "value must be a finite number (or numeric text) of magnitude at most 1e15"}
	ErrBadCurrency   = &Error{"bad_currency", "currency must be a 3-letter ISO 4217 code"}
	ErrBadIP         = &Error{"bad_ip", "ip / client_ip_address must be an IPv4 or IPv6 address"}
	ErrBadHash       = &Error{"bad_hash", "email_google_sha256 and phone_google_sha256 take a SHA-256 in hex"}
	ErrBadConsent    = &Error{"bad_consent", "consent, ad_storage, analytics_storage, ad_user_data and ad_personalization take granted or denied"}
	ErrBadContentIDs = &Error{"bad_content_ids", "content_ids must be an array of strings or numbers within the limits"}
	ErrBadProp       = &Error{"bad_prop", "props keys must be 1-64 characters of A-Z a-z 0-9 _ . : -, values strings, numbers or booleans"}
	ErrTooManyProps  = &Error{"too_many_props", "too many props"}
	ErrTooLong       = &Error{"too_long", "a field is longer than its limit"}
	ErrUnknownField  = &Error{"unknown_field", "an unknown field (see the wire format's column names)"}
	ErrInvalid       = &Error{"invalid", "the event breaks the stored events' invariants"}
)

// EventReasons lists the reasons of a refused event, so that metrics can
// show zero counts.
var EventReasons = []*Error{
	ErrType, ErrMissingEvent, ErrBadEvent, ErrBadEventID, ErrBadVisitorID, ErrBadTime, ErrTooOld,
	ErrInFuture, ErrActionSource, ErrBadValue, ErrBadCurrency, ErrBadIP, ErrBadHash, ErrBadConsent,
	ErrBadContentIDs, ErrBadProp, ErrTooManyProps, ErrTooLong, ErrUnknownField, ErrInvalid,
	ErrSegmentType,
}

// ActionSources are the values of action_source (Meta's names).
var ActionSources = []string{"website", "app", "phone_call", "chat", "email", "physical_store", "system_generated", "other"}

// Shape is the shape of a body.
type Shape uint8

const (
	Ours    Shape = iota // {"events":[...]}
	Meta                 // {"data":[...]}
	Segment              // Segment's HTTP Tracking API (segment.go)
)

// Body reads the events of one request body. Reset checks the whole body
// first, so that a malformed one is refused before any event is used;
// then Next reads the events one by one. A Body's buffers are reused from
// one Reset to the next.
type Body struct {
	s             jsonscan.Scanner // at the next event
	left, n       int
	shape         Shape
	lim           Limits
	testEventCode []byte

	// The event being read.
	e       *event.Event
	now     time.Time
	seen    uint64 // fields already read: the first of a repeated key counts
	eventID []byte // event_id as given, for the answer
	scratch []byte // unescaped strings
	ids     []byte // generated ids, canonical IPs
	props   event.Props
	hashes  [numHashes]hashSlot
	hasTS   bool
	addr    netip.Addr // the ip, parsed
	err     *Error     // the first problem found; the event is read to its end regardless

	// The Segment shape's state (segment.go).
	segFixed, segType          int   // the path's type (segNone on /v1/batch); the message's
	segSentAt, segMsgSentAt    int64 // the batch's and the message's sentAt, Unix ms (0: none)
	segTS                      int64 // the message's timestamp, Unix ms (0: none)
	segName                    []byte
	segPageURL, segPageRef     []byte // context.page's
	segValueRank               int    // which of revenue, total, value set the value
	segProductID, segProductV1 []byte // the current product's product_id and id
	segBatchCtx                jsonscan.Scanner
	hasBatchCtx                bool
}

// Reset makes b read data with limits lim, and returns the *Error that
// refuses the whole body: not a JSON object, no events array, both shapes,
// more than lim.MaxEvents events. b borrows data until the next Reset.
func (b *Body) Reset(data []byte, lim *Limits) error {
	b.s, b.left, b.n, b.shape, b.lim, b.testEventCode = jsonscan.Scanner{}, 0, 0, Ours, *lim, nil
	s := jsonscan.New(data)
	if s.Peek() != '{' {
		return ErrBody
	}
	var events jsonscan.Scanner
	unknown := "" // the first top-level key of neither shape
	found := false
	for more := s.Open(); more; more = s.Next() {
		key, scratch, ok := s.Key(b.scratch[:0])
		b.scratch = scratch
		if !ok {
			return ErrBody
		}
		switch string(key) {
		case "events", "data":
			if found {
				return ErrBothShapes
			}
			found = true
			if string(key) == "data" {
				b.shape = Meta
			}
			if s.Peek() != '[' {
				return ErrNoEvents
			}
			events = s
			if !s.Skip() {
				return ErrBody
			}
		case "test_event_code":
			k, v, _ := s.Value(nil)
			if k != jsonscan.String && k != jsonscan.Null || len(v) > b.lim.MaxValueLen {
				return &Error{"bad_body", "test_event_code must be a string of at most " + strconv.Itoa(b.lim.MaxValueLen) + " bytes"}
			}
			b.testEventCode = v
		default:
			if !s.Skip() {
				return ErrBody
			}
			if unknown == "" {
				unknown = string(key) + " " // a copy: scratch is reused; the space tells "" apart
			}
		}
	}
	if s.Malformed() || !s.AtEnd() {
		return ErrBody
	}
	if !found {
		return ErrNoEvents
	}
	// Meta's bodies carry other top-level keys (partner_agent,
	// namespace_id, ...); ours has none.
	if b.shape == Ours && unknown != "" {
		return &Error{"bad_body", fmt.Sprintf("unknown top-level key %q: the body is {\"events\":[...]} or Meta's {\"data\":[...]}", unknown[:len(unknown)-1])}
	}
	// Count the events; the scanner is at the array.
	first := events
	n := 0
	for more := events.Open(); more; more = events.Next() {
		if n == 0 {
			first = events
		}
		if !events.Skip() {
			return ErrBody
		}
		n++
	}
	if n == 0 {
		return ErrNoEvents
	}
	if n > b.lim.MaxEvents {
		return ErrTooManyEvents
	}
	b.s, b.left, b.n = first, n, n
	return nil
}

// Len is the number of events in the body.
func (b *Body) Len() int { return b.n }

// More reports whether Next has an event left to read.
func (b *Body) More() bool { return b.left > 0 }

// TestEventCode is the body's test_event_code (Meta's), or nil. Each event
// of such a body carries it in props, so that queries can leave test
// events out.
func (b *Body) TestEventCode() []byte { return b.testEventCode }

// Addr is the ip of the event Next read last, parsed (the zero Addr when
// it had none), so that the caller need not parse e.IP again.
func (b *Body) Addr() netip.Addr { return b.addr }

// EventID is the event_id of the event Next read last, as given (nil when
// it had none, or it was unreadable): for the answer's list of refusals.
func (b *Body) EventID() []byte { return b.eventID }

// Next reads the next event into e, for pixel pixelID, received at now,
// and returns nil or the *Error that refuses it. e borrows the body's and
// b's memory until the next call.
func (b *Body) Next(e *event.Event, pixelID []byte, now time.Time) error {
	b.left--
	e.Reset()
	b.e, b.now, b.seen, b.err, b.hasTS, b.addr = e, now, 0, nil, false, netip.Addr{}
	b.eventID, b.scratch, b.ids = nil, b.scratch[:0], b.ids[:0]
	b.props.Reset()
	// The buffers events point into are grown once, up front, so that no
	// append below moves them (a moved buffer would still be right, but
	// cost a copy).
	if cap(b.ids) < 256 {
		b.ids = make([]byte, 0, 256)
	}
	b.hashes = [numHashes]hashSlot{}
	if b.testEventCode != nil {
		b.addProp([]byte("test_event_code"), b.testEventCode)
	}

	s := &b.s
	if s.Peek() != '{' {
		s.Skip()
		b.advance()
		return ErrType
	}
	var ok bool
	switch b.shape {
	case Segment:
		ok = b.segmentMessage()
	case Meta:
		ok = b.members(b.metaField)
	default:
		ok = b.members(b.ourField)
	}
	b.advance()
	if !ok {
		return ErrType // unreachable: Reset checked the body
	}
	if b.err != nil {
		return b.err
	}
	if b.shape == Segment {
		if err := b.segmentFinish(); err != nil {
			return err
		}
	}
	return b.finish(pixelID)
}

// advance moves the scanner past the comma after the event just read.
func (b *Body) advance() {
	if b.left > 0 {
		b.s.Next()
	}
}

// members reads the members of the object at the cursor with field, which
// must consume each value. It reports whether the object is well formed.
func (b *Body) members(field func(key []byte)) bool {
	s := &b.s
	for more := s.Open(); more; more = s.Next() {
		key, scratch, ok := s.Key(b.scratch)
		b.scratch = scratch
		if !ok {
			return false
		}
		field(key)
	}
	return !s.Malformed()
}

// fail records the first problem of the event.
func (b *Body) fail(err *Error) {
	if b.err == nil {
		b.err = err
	}
}

// value reads the value at the cursor, unescaping a string into scratch.
func (b *Body) value() (jsonscan.Kind, []byte) {
	k, v, scratch := b.s.Value(b.scratch)
	b.scratch = scratch
	return k, v
}

// first reports whether field f is met for the first time in this event,
// and marks it.
func (b *Body) first(f field) bool {
	if b.seen&(1<<f) != 0 {
		return false
	}
	b.seen |= 1 << f
	return true
}

// field numbers the fields both shapes fill.
type field uint8

const (
	fEvent field = iota
	fEventID
	fVisitorID
	fSessionID
	fTS
	fURL
	fReferrer
	fIP
	fUserAgent
	fActionSource
	fValue
	fCurrency
	fOrderID
	fContentIDs
	fExternalID
	fPageViewID
	fEmail
	fPhone
	fEmailSHA
	fPhoneSHA
	fEmailGoogle
	fPhoneGoogle
	fConsent
	fProps
	fUserData
	fCustomData
	fFBC
	fTracking // + the index of a Tracking column: utm_*, click ids, Google's consent signals
)

// trackingFields are the Tracking columns ours takes by their names.
var trackingFields = []int{
	event.UTMSource, event.UTMMedium, event.UTMCampaign, event.UTMTerm, event.UTMContent,
	event.GCLID, event.GBRAID, event.WBRAID, event.FBCLID, event.MSCLKID, event.TTCLID,
	event.AdStorage, event.AnalyticsStorage, event.AdUserData, event.AdPersonalization,
}

// ourFields maps the keys of our shape to their fields.
var ourFields = func() map[string]field {
	m := map[string]field{
		"event": fEvent, "event_id": fEventID, "visitor_id": fVisitorID, "session_id": fSessionID,
		"ts": fTS, "url": fURL, "referrer": fReferrer, "ip": fIP, "user_agent": fUserAgent,
		"action_source": fActionSource, "value": fValue, "currency": fCurrency, "order_id": fOrderID,
		"content_ids": fContentIDs, "external_id": fExternalID, "page_view_id": fPageViewID,
		"email": fEmail, "phone": fPhone, "email_sha256": fEmailSHA, "phone_sha256": fPhoneSHA,
		"email_google_sha256": fEmailGoogle, "phone_google_sha256": fPhoneGoogle,
		"consent": fConsent, "props": fProps,
	}
	for _, col := range trackingFields {
		m[event.TrackingColumns[col]] = fTracking + field(col)
	}
	return m
}()

// metaFields, metaUserData and metaCustomData map the keys of Meta's
// shape we use; the others are skipped.
var (
	metaFields = map[string]field{
		"event_name": fEvent, "event_time": fTS, "event_id": fEventID, "event_source_url": fURL,
		"referrer_url": fReferrer, "action_source": fActionSource, "visitor_id": fVisitorID,
		"user_data": fUserData, "custom_data": fCustomData,
	}
	metaUserData = map[string]field{
		"em": fEmail, "ph": fPhone, "external_id": fExternalID, "client_ip_address": fIP,
		"client_user_agent": fUserAgent, "fbc": fFBC, "visitor_id": fVisitorID,
	}
	metaCustomData = map[string]field{
		"value": fValue, "currency": fCurrency, "content_ids": fContentIDs, "order_id": fOrderID,
	}
)

func (b *Body) ourField(key []byte) {
	f, ok := ourFields[string(key)]
	if !ok {
		b.s.Skip()
		b.fail(&Error{ErrUnknownField.Reason, fmt.Sprintf("unknown field %q (see the wire format's column names)", key)})
		return
	}
	b.field(f, key)
}

func (b *Body) metaField(key []byte) {
	f, ok := metaFields[string(key)]
	if !ok {
		b.s.Skip()
		return
	}
	b.field(f, key)
}

// field reads the value of field f (named key).
func (b *Body) field(f field, key []byte) {
	if !b.first(f) {
		b.s.Skip()
		return
	}
	lim := &b.lim
	e := b.e
	switch f {
	case fUserData, fCustomData, fProps:
		if b.s.Peek() == 'n' {
			b.value()
			return
		}
		if b.s.Peek() != '{' {
			b.s.Skip()
			b.fail(typeError(key, "an object"))
			return
		}
		switch f {
		case fUserData:
			b.members(b.userField)
		case fCustomData:
			b.members(b.customField)
		case fProps:
			b.members(b.propField)
		}
		return
	case fContentIDs:
		b.contentIDs(key)
		return
	}

	var k jsonscan.Kind
	var v []byte
	if b.shape == Meta && b.s.Peek() == '[' && (f == fEmail || f == fPhone || f == fExternalID) {
		k, v = b.firstElement() // Meta's user_data takes arrays: the first counts
	} else {
		k, v = b.value()
	}
	if k == jsonscan.Null {
		return
	}
	switch f {
	case fTS:
		b.setTime(k, v)
		return
	case fValue:
		if k != jsonscan.Number && k != jsonscan.String {
			b.fail(typeError(key, "a number"))
			return
		}
		x, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) || math.Abs(x) > event.MaxAbsValue {
			b.fail(ErrBadValue)
			return
		}
		e.Value = x
		return
	case fOrderID, fExternalID:
		if k != jsonscan.String && k != jsonscan.Number {
			b.fail(typeError(key, "a string"))
			return
		}
	default:
		if k != jsonscan.String {
			b.fail(typeError(key, "a string"))
			return
		}
	}
	switch f {
	case fEvent:
		if !pixel.ValidToken(v, 64) {
			b.fail(ErrBadEvent)
			return
		}
		e.Name = v
	case fEventID:
		b.eventID = v
		if !pixel.ValidPrintable(v, lim.MaxIDLen) {
			b.fail(ErrBadEventID)
			return
		}
		e.EventID = v
	case fVisitorID, fSessionID:
		if !pixel.ValidPrintable(v, lim.MaxIDLen) {
			b.fail(ErrBadVisitorID)
			return
		}
		if f == fVisitorID {
			e.VisitorID = v
		} else {
			e.SessionID = v
		}
	case fURL, fReferrer:
		if len(v) > lim.MaxURLLen {
			b.fail(ErrTooLong)
			return
		}
		if f == fURL {
			e.URL = v
		} else {
			e.Referrer = v
		}
	case fIP:
		a, err := netip.ParseAddr(b2s(v))
		if err != nil || a.Zone() != "" {
			b.fail(ErrBadIP)
			return
		}
		b.addr = a.Unmap()
		start := len(b.ids)
		b.ids = b.addr.AppendTo(b.ids)
		e.IP = b.ids[start:len(b.ids):len(b.ids)]
	case fUserAgent:
		if len(v) > lim.MaxUserAgentLen {
			b.fail(ErrTooLong)
			return
		}
		e.UserAgent = v
	case fActionSource:
		for _, a := range ActionSources {
			if string(v) == a {
				e.Tracking[event.ActionSource] = v
				return
			}
		}
		b.fail(ErrActionSource)
	case fCurrency:
		if !pixel.ValidCurrency(v) {
			b.fail(ErrBadCurrency)
			return
		}
		start := len(b.ids)
		b.ids = append(b.ids, v[0]&^0x20, v[1]&^0x20, v[2]&^0x20)
		e.Currency = b.ids[start:len(b.ids):len(b.ids)]
	case fOrderID, fExternalID, fPageViewID:
		if len(v) > lim.MaxIDLen {
			b.fail(ErrTooLong)
			return
		}
		switch f {
		case fOrderID:
			e.OrderID = v
		case fExternalID:
			e.Tracking[event.ExternalID] = v
		default:
			e.Tracking[event.PageViewID] = v
		}
	case fEmail, fEmailSHA:
		b.identifier(v, hashEmail, true)
	case fPhone, fPhoneSHA:
		b.identifier(v, hashPhone, false)
	case fEmailGoogle, fPhoneGoogle:
		slot := hashEmailGoogle
		if f == fPhoneGoogle {
			slot = hashPhoneGoogle
		}
		if !b.hashes[slot].setHashed(v) {
			b.fail(ErrBadHash)
		}
	case fConsent:
		if string(v) != "granted" && string(v) != "denied" {
			b.fail(ErrBadConsent)
			return
		}
		e.Tracking[event.Consent] = v
	case fFBC:
		b.fbc(v)
	default: // fTracking + column
		col := int(f - fTracking)
		if col >= event.AdStorage && col <= event.AdPersonalization {
			if string(v) != "granted" && string(v) != "denied" {
				b.fail(ErrBadConsent)
				return
			}
		} else if len(v) > lim.MaxValueLen {
			b.fail(ErrTooLong)
			return
		}
		e.Tracking[col] = v
	}
}

// userField reads a member of Meta's user_data.
func (b *Body) userField(key []byte) {
	f, ok := metaUserData[string(key)]
	if !ok {
		b.s.Skip() // fn, ln, fbp, ...: never stored
		return
	}
	b.field(f, key)
}

// customField reads a member of Meta's custom_data: our fields, else a
// scalar for props (objects and arrays such as contents are skipped).
func (b *Body) customField(key []byte) {
	if f, ok := metaCustomData[string(key)]; ok {
		b.field(f, key)
		return
	}
	switch b.s.Peek() {
	case '{', '[':
		b.s.Skip()
		return
	}
	b.propField(key)
}

// propField reads one props member: a string, number or boolean, kept as
// text; null is skipped.
func (b *Body) propField(key []byte) {
	k, v := b.value()
	switch k {
	case jsonscan.Null:
		return
	case jsonscan.String, jsonscan.Number, jsonscan.Bool:
	default:
		b.fail(ErrBadProp)
		return
	}
	if !pixel.ValidToken(key, 64) {
		b.fail(ErrBadProp)
		return
	}
	if len(v) > b.lim.MaxValueLen {
		b.fail(ErrTooLong)
		return
	}
	b.addProp(key, v)
}

// addProp appends a property to props; a repeated key keeps its first value.
func (b *Body) addProp(key, val []byte) {
	if !b.props.Add(key, val, b.lim.MaxProps) {
		b.fail(ErrTooManyProps)
	}
}

// contentIDs reads content_ids: an array of strings or numbers.
func (b *Body) contentIDs(key []byte) {
	s := &b.s
	switch s.Peek() {
	case 'n':
		b.value()
		return
	case '[':
	default:
		s.Skip()
		b.fail(typeError(key, "an array"))
		return
	}
	e := b.e
	for more := s.Open(); more; more = s.Next() {
		k, v := b.value()
		switch {
		case k != jsonscan.String && k != jsonscan.Number:
			b.fail(ErrBadContentIDs)
		case len(v) == 0:
		case len(v) > b.lim.MaxIDLen || len(e.ContentIDs) >= b.lim.MaxContentIDs:
			b.fail(ErrBadContentIDs)
		default:
			e.ContentIDs = append(e.ContentIDs, v)
		}
	}
}

// firstElement reads the first element of the array at the cursor and
// skips the others; an empty array is null.
func (b *Body) firstElement() (jsonscan.Kind, []byte) {
	s := &b.s
	if !s.Open() {
		return jsonscan.Null, nil
	}
	k, v := b.value()
	for s.Next() {
		s.Skip()
	}
	return k, v
}

// setTime reads ts / event_time.
func (b *Body) setTime(k jsonscan.Kind, v []byte) {
	var ms int64
	switch k {
	case jsonscan.Number:
		x, err := strconv.ParseFloat(string(v), 64)
		if err != nil || x <= 0 || x > 1e15 {
			b.fail(ErrBadTime)
			return
		}
		if x > 1e12 {
			ms = int64(x)
		} else {
			ms = int64(math.Round(x * 1000))
		}
	case jsonscan.String:
		t, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			b.fail(ErrBadTime)
			return
		}
		ms = t.UnixMilli()
	default:
		b.fail(ErrBadTime)
		return
	}
	now := b.now.UnixMilli()
	switch {
	case ms < now-b.lim.MaxAge.Milliseconds():
		b.fail(ErrTooOld)
	case ms > now+b.lim.MaxFuture.Milliseconds():
		b.fail(ErrInFuture)
	default:
		b.e.TSMs, b.e.TS, b.hasTS = ms, ms/1000, true
	}
}

// fbc reads Meta's click cookie fb.{subdomain index}.{creation ms}.{fbclid}
// into fbclid and click_ts_ms; a malformed one is skipped (it is a
// cookie's value, not something the sender chose).
func (b *Body) fbc(v []byte) {
	parts := bytes.SplitN(v, []byte("."), 4) // one small allocation, on a rare field
	if len(parts) != 4 || string(parts[0]) != "fb" || len(parts[3]) == 0 || len(parts[3]) > b.lim.MaxValueLen {
		return
	}
	ms, err := strconv.ParseInt(string(parts[2]), 10, 64)
	if err != nil || ms <= 0 {
		return
	}
	if b.e.Tracking[event.FBCLID] == nil {
		b.e.Tracking[event.FBCLID] = parts[3]
	}
	b.e.ClickTSMs = ms
}

// finish applies the defaults, hashes and checks to the event read.
func (b *Body) finish(pixelID []byte) error {
	e := b.e
	if len(e.Name) == 0 {
		return ErrMissingEvent
	}
	e.PixelID = pixelID
	e.ReceivedAt = b.now.Unix()
	if !b.hasTS {
		e.TSMs, e.TS = b.now.UnixMilli(), e.ReceivedAt
	}
	if len(e.EventID) == 0 {
		start := len(b.ids)
		b.ids = pixel.AppendNewEventID(b.ids, b.now)
		e.EventID = b.ids[start:len(b.ids):len(b.ids)]
	}
	if len(e.VisitorID) == 0 {
		start := len(b.ids)
		b.ids = pixel.AppendNewID(b.ids)
		e.VisitorID = b.ids[start:len(b.ids):len(b.ids)]
	}
	if e.Tracking[event.ActionSource] == nil {
		e.Tracking[event.ActionSource] = strOther
		if len(e.URL) > 0 {
			e.Tracking[event.ActionSource] = strWebsite
		}
	}
	if e.Tracking[event.Consent] == nil {
		e.Tracking[event.Consent] = strGranted
	}
	e.Tracking[event.Channel] = strServer
	// A backend that forwards its visitor's user agent forwards crawlers'
	// too; without one there is nothing to judge (unlike the browser
	// path, where an empty user agent is a bot).
	e.IsBot = len(e.UserAgent) > 0 && pixel.IsBot(e.UserAgent)
	if host := pixel.URLHost(e.Referrer); host != nil {
		e.Tracking[event.ReferrerHost] = host
	}
	for i := range b.hashes {
		if h := &b.hashes[i]; h.n > 0 {
			e.Tracking[hashColumns[i]] = h.v[:h.n]
		}
	}
	e.Props = b.props.Close()
	if err := e.Validate(); err != nil {
		return ErrInvalid
	}
	return nil
}

var (
	strServer  = []byte("server")
	strWebsite = []byte("website")
	strOther   = []byte("other")
	strGranted = []byte("granted")
)

// The hashed identifiers: slots in Body.hashes, by column.
const (
	hashEmail = iota
	hashEmailGoogle
	hashPhone
	hashPhoneGoogle
	numHashes
)

var hashColumns = [numHashes]int{event.EmailSHA256, event.EmailGoogleSHA256, event.PhoneSHA256, event.PhoneGoogleSHA256}

// hashSlot holds one hashed identifier; one given hashed by the sender
// wins over one derived from a raw value.
type hashSlot struct {
	v      [pixel.SHA256HexLen]byte
	n      int
	hashed bool
}

// setHashed sets the slot to v when v is a SHA-256 in hex; it reports
// whether it is.
func (h *hashSlot) setHashed(v []byte) bool {
	out, ok := pixel.AppendLowerSHA256Hex(h.v[:0], v)
	if ok {
		h.n, h.hashed = len(out), true
	}
	return ok
}

// setRaw sets the slot from hash (the output of an Append...SHA256 into
// the slot's array) unless a hashed value was given.
func (h *hashSlot) setRaw(sum func(dst, raw []byte) []byte, raw []byte, scratch []byte) []byte {
	if h.hashed {
		return scratch
	}
	start := len(scratch)
	scratch = sum(scratch, raw)
	h.n = copy(h.v[:], scratch[start:])
	return scratch[:start]
}

// identifier reads an email (email) or phone number, hashed or raw.
func (b *Body) identifier(v []byte, slot int, email bool) {
	if len(v) == 0 {
		return
	}
	if b.hashes[slot].setHashed(v) {
		return
	}
	meta, google := pixel.AppendPhoneSHA256, pixel.AppendPhoneGoogleSHA256
	if email {
		meta, google = pixel.AppendEmailSHA256, pixel.AppendEmailGoogleSHA256
	}
	b.scratch = b.hashes[slot].setRaw(meta, v, b.scratch)
	b.scratch = b.hashes[slot+1].setRaw(google, v, b.scratch)
}

// b2s views b as a string without copying, for a parser that keeps
// nothing of it (netip.ParseAddr keeps its input only in the error, which
// is dropped at once); string(b) would allocate, as the error escapes.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func typeError(key []byte, want string) *Error {
	return &Error{ErrType.Reason, fmt.Sprintf("%s must be %s", key, want)}
}
