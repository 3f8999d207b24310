package serverapi

import (
	"math"
	"strconv"
	"time"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// The Segment shape: the bodies of Segment's HTTP Tracking API
// (segment.com/docs/connections/sources/catalog/libraries/server/http-api/),
// which analytics.js, analytics-node, analytics-go, analytics-python and
// the tools that speak the protocol (Jitsu, RudderStack, PostHog) send.
// POST /v1/track, /v1/page and /v1/identify take one message; /v1/batch
// takes {"batch":[messages of any of these types], "sentAt", "context"}.
//
//	{"type":"track","event":"Order Completed","messageId":"m-1","anonymousId":"a-1","userId":"u-42",
//	 "timestamp":"2026-12-01T20:59:00.123Z","sentAt":"2026-12-01T20:59:01Z",
//	 "properties":{"order_id":"1001","revenue":129.99,"currency":"eur","products":[{"product_id":"sku-1"}],"coupon":"WINTER"},
//	 "context":{"ip":"198.51.100.4","userAgent":"Mozilla/5.0 ...","page":{"url":"https://shop.example/thanks","referrer":"..."},
//	  "campaign":{"name":"spring","source":"news","medium":"email","term":"shoes","content":"hero"},
//	  "traits":{"email":"Jane.Doe@gmail.com"}}}
//
// The mapping (Segment's common fields: segment.com/docs/connections/spec/common/):
//
//	messageId                        event_id
//	anonymousId                      visitor_id (absent: a new visitor, as other server events)
//	userId                           external_id
//	timestamp (or originalTimestamp) ts, ts_ms, corrected for the sender's clock skew with sentAt
//	                                 (Segment's rule: receivedAt - (sentAt - timestamp)); absent: the receive time
//	track: event                     event, Segment's e-commerce names mapped to ours (segmentEvents), others as given
//	page                             PageView; name and category to props
//	identify                         Identify
//	properties.revenue/total/value   value (the first of these that is present, in this order)
//	properties.currency, order_id
//	  (or orderId)                   currency, order_id
//	properties.product_id,
//	  products[].product_id (or id)  content_ids
//	properties.url, referrer         url, referrer; else context.page.url, context.page.referrer
//	other scalar properties          props (keys that are not 1-64 of A-Z a-z 0-9 _ . : - are skipped)
//	context.campaign.name/source/
//	  medium/term/content            utm_campaign, utm_source, utm_medium, utm_term, utm_content
//	context.ip, context.userAgent    ip, user_agent (trusted: the write key is the pixel's secret)
//	traits.email/phone,
//	  context.traits.email/phone     email_sha256, phone_sha256 and the _google_ ones; the raw values are dropped
//
// Everything else (other traits, context.device, integrations, ...) is
// skipped, never stored. A batch's own context stands for the fields a
// message's context lacks. Consent: Segment's consent object
// (context.consent.categoryPreferences) names categories each workspace
// defines itself, so there is no documented mapping to ours; the events
// get the server events' default (consent "granted", see serverapi.go).
// Messages of type screen, group and alias are refused as
// unsupported_type.

// segmentEvents maps the event names of Segment's e-commerce spec v2
// (segment.com/docs/connections/spec/ecommerce/v2/) and B2B SaaS spec
// (segment.com/docs/connections/spec/b2b-saas/: "Signed Up") to Meta's
// standard events, as Segment's own Facebook Conversions API destination
// maps them (segment.com/docs/connections/destinations/catalog/actions-facebook-conversions-api/).
var segmentEvents = map[string]string{
	"Order Completed":           "Purchase",
	"Product Added":             "AddToCart",
	"Checkout Started":          "InitiateCheckout",
	"Product Viewed":            "ViewContent",
	"Products Searched":         "Search",
	"Product Added to Wishlist": "AddToWishlist",
	"Payment Info Entered":      "AddPaymentInfo",
	"Signed Up":                 "CompleteRegistration",
}

// The kinds of message, by type.
const (
	segNone = iota
	segTrack
	segPage
	segIdentify
	segUnsupported
)

// Reasons of the Segment shape.
var (
	ErrSegmentBody    = &Error{"bad_body", `the body must be one JSON object: a Segment message, or {"batch":[...]} on /v1/batch`}
	ErrSegmentNoBatch = &Error{"no_events", `the body has no messages: give a non-empty array "batch"`}
	ErrSegmentType    = &Error{"unsupported_type", "type must be track, page or identify (screen, group and alias are not supported)"}
	ErrSegmentEvent   = &Error{"bad_event", "a track call's event must be 1-64 bytes without control characters"}
)

// ResetSegment makes b read data, a Segment body, with limits lim: one
// message of type typ ("track", "page" or "identify": the path's), or,
// with typ "", a batch. It returns the *Error that refuses the whole body.
func (b *Body) ResetSegment(data []byte, lim *Limits, typ string) error {
	b.s, b.left, b.n, b.shape, b.lim, b.testEventCode = jsonscan.Scanner{}, 0, 0, Segment, *lim, nil
	b.segFixed, b.segSentAt, b.segBatchCtx, b.hasBatchCtx = segTypeOf([]byte(typ)), 0, jsonscan.Scanner{}, false
	s := jsonscan.New(data)
	if s.Peek() != '{' {
		return ErrSegmentBody
	}
	if typ != "" {
		first := s
		if !s.Skip() || !s.AtEnd() {
			return ErrSegmentBody
		}
		b.s, b.left, b.n = first, 1, 1
		return nil
	}
	var batch jsonscan.Scanner
	found := false
	for more := s.Open(); more; more = s.Next() {
		key, scratch, ok := s.Key(b.scratch[:0])
		b.scratch = scratch
		if !ok {
			return ErrSegmentBody
		}
		switch string(key) {
		case "batch":
			if found || s.Peek() != '[' {
				return ErrSegmentNoBatch
			}
			found, batch = true, s
			if !s.Skip() {
				return ErrSegmentBody
			}
		case "sentAt":
			k, v, _ := s.Value(nil)
			if ms, ok := parseISOTime(v); k == jsonscan.String && ok {
				b.segSentAt = ms
			}
		case "context":
			if s.Peek() == '{' {
				b.segBatchCtx, b.hasBatchCtx = s, true
			}
			if !s.Skip() {
				return ErrSegmentBody
			}
		default: // messageId, writeKey, integrations, ...
			if !s.Skip() {
				return ErrSegmentBody
			}
		}
	}
	if s.Malformed() || !s.AtEnd() {
		return ErrSegmentBody
	}
	if !found {
		return ErrSegmentNoBatch
	}
	first := batch
	n := 0
	for more := batch.Open(); more; more = batch.Next() {
		if n == 0 {
			first = batch
		}
		if !batch.Skip() {
			return ErrSegmentBody
		}
		n++
	}
	if n == 0 {
		return ErrSegmentNoBatch
	}
	if n > b.lim.MaxEvents {
		return ErrTooManyEvents
	}
	b.s, b.left, b.n = first, n, n
	return nil
}

func segTypeOf(v []byte) int {
	switch string(v) {
	case "":
		return segNone
	case "track":
		return segTrack
	case "page":
		return segPage
	case "identify":
		return segIdentify
	}
	return segUnsupported
}

// segmentMessage reads the Segment message at the cursor (Next has reset
// the event) and the batch's context after it.
func (b *Body) segmentMessage() bool {
	b.segType, b.segName, b.segTS, b.segMsgSentAt, b.segPageURL, b.segPageRef = b.segFixed, nil, 0, 0, nil, nil
	b.segValueRank = 0
	if !b.members(b.segmentField) {
		return false
	}
	if b.hasBatchCtx {
		// The message's own context came first, so its fields win.
		saved := b.s
		b.s = b.segBatchCtx
		b.members(b.contextField)
		b.s = saved
	}
	return true
}

func (b *Body) segmentField(key []byte) {
	switch string(key) {
	case "type":
		k, v := b.value()
		if b.segFixed == segNone && k == jsonscan.String {
			b.segType = segTypeOf(v)
		}
	case "event":
		k, v := b.value()
		if k == jsonscan.String {
			b.segName = v
		} else if k != jsonscan.Null {
			b.fail(typeError(key, "a string"))
		}
	case "messageId":
		b.field(fEventID, key)
	case "anonymousId":
		b.field(fVisitorID, key)
	case "userId":
		b.field(fExternalID, key)
	case "timestamp", "originalTimestamp", "sentAt":
		k, v := b.value()
		if k == jsonscan.Null {
			return
		}
		ms, ok := parseISOTime(v)
		if k != jsonscan.String || !ok {
			b.fail(ErrBadTime)
			return
		}
		if string(key) == "sentAt" {
			b.segMsgSentAt = ms
		} else if b.segTS == 0 {
			b.segTS = ms
		}
	case "name", "category": // page's
		k, v := b.value()
		if k == jsonscan.String && len(v) > 0 && len(v) <= b.lim.MaxValueLen {
			b.addProp(key, v)
		}
	case "properties":
		b.object(key, b.propertyField)
	case "traits":
		b.object(key, b.traitField)
	case "context":
		b.object(key, b.contextField)
	default:
		b.s.Skip()
	}
}

// object reads the object at the cursor with field; null is absent.
func (b *Body) object(key []byte, field func(key []byte)) {
	switch b.s.Peek() {
	case 'n':
		b.value()
	case '{':
		b.members(field)
	default:
		b.s.Skip()
		b.fail(typeError(key, "an object"))
	}
}

// propertyField reads a member of properties.
func (b *Body) propertyField(key []byte) {
	switch string(key) {
	case "revenue", "total", "value":
		rank := 1 // value
		switch string(key) {
		case "revenue":
			rank = 3
		case "total":
			rank = 2
		}
		k, v := b.value()
		if k == jsonscan.Null || rank <= b.segValueRank {
			return
		}
		if k != jsonscan.Number && k != jsonscan.String {
			b.fail(typeError(key, "a number"))
			return
		}
		x, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) || math.Abs(x) > event.MaxAbsValue {
			b.fail(ErrBadValue)
			return
		}
		b.e.Value, b.segValueRank = x, rank
	case "currency":
		b.field(fCurrency, key)
	case "order_id", "orderId": // orderId: e-commerce spec v1, analytics-go's SetOrderId
		b.field(fOrderID, key)
	case "url":
		b.field(fURL, key)
	case "referrer":
		b.field(fReferrer, key)
	case "product_id":
		b.contentID()
	case "products":
		if b.s.Peek() != '[' {
			b.s.Skip()
			return
		}
		s := &b.s
		for more := s.Open(); more; more = s.Next() {
			if s.Peek() != '{' {
				s.Skip()
				continue
			}
			b.segProductID, b.segProductV1 = nil, nil
			b.members(b.productField)
			if id := b.segProductID; id != nil {
				b.addContentID(id)
			} else if id := b.segProductV1; id != nil {
				b.addContentID(id)
			}
		}
	default:
		switch b.s.Peek() {
		case '{', '[':
			b.s.Skip()
			return
		}
		if !pixel.ValidToken(key, 64) {
			b.s.Skip() // Segment's property names are free text; ours are tokens
			return
		}
		b.propField(key)
	}
}

// productField reads a member of one of properties.products: its
// product_id (e-commerce spec v2), else its id (spec v1, which
// analytics-go's Product still writes).
func (b *Body) productField(key []byte) {
	switch string(key) {
	case "product_id", "id":
		k, v := b.value()
		switch {
		case k == jsonscan.Null || len(v) == 0:
		case k != jsonscan.String && k != jsonscan.Number:
			b.fail(ErrBadContentIDs)
		case string(key) == "product_id":
			b.segProductID = v
		default:
			b.segProductV1 = v
		}
	default:
		b.s.Skip()
	}
}

// contentID reads one product id into content_ids.
func (b *Body) contentID() {
	k, v := b.value()
	switch {
	case k == jsonscan.Null || len(v) == 0:
	case k != jsonscan.String && k != jsonscan.Number:
		b.fail(ErrBadContentIDs)
	default:
		b.addContentID(v)
	}
}

// addContentID appends a product id to content_ids, within the limits.
func (b *Body) addContentID(v []byte) {
	if len(v) > b.lim.MaxIDLen || len(b.e.ContentIDs) >= b.lim.MaxContentIDs {
		b.fail(ErrBadContentIDs)
		return
	}
	b.e.ContentIDs = append(b.e.ContentIDs, v)
}

// traitField reads a member of traits or context.traits: only the email
// and phone, hashed; the other traits (names, addresses) are not stored.
func (b *Body) traitField(key []byte) {
	switch string(key) {
	case "email":
		b.field(fEmail, key)
	case "phone":
		b.field(fPhone, key)
	default:
		b.s.Skip()
	}
}

// contextField reads a member of context.
func (b *Body) contextField(key []byte) {
	switch string(key) {
	case "ip":
		b.field(fIP, key)
	case "userAgent":
		b.field(fUserAgent, key)
	case "traits":
		b.object(key, b.traitField)
	case "campaign":
		b.object(key, b.campaignField)
	case "page":
		b.object(key, b.pageField)
	default:
		b.s.Skip()
	}
}

// campaignField reads a member of context.campaign.
func (b *Body) campaignField(key []byte) {
	col := -1
	switch string(key) {
	case "name":
		col = event.UTMCampaign
	case "source":
		col = event.UTMSource
	case "medium":
		col = event.UTMMedium
	case "term":
		col = event.UTMTerm
	case "content":
		col = event.UTMContent
	}
	if col < 0 {
		b.s.Skip()
		return
	}
	b.field(fTracking+field(col), key)
}

// pageField reads a member of context.page: the url and referrer stand
// for properties.url and properties.referrer when those are absent.
func (b *Body) pageField(key []byte) {
	switch string(key) {
	case "url", "referrer":
		k, v := b.value()
		if k != jsonscan.String || len(v) == 0 {
			return
		}
		if len(v) > b.lim.MaxURLLen {
			b.fail(ErrTooLong)
			return
		}
		if string(key) == "url" {
			if b.segPageURL == nil {
				b.segPageURL = v
			}
		} else if b.segPageRef == nil {
			b.segPageRef = v
		}
	default:
		b.s.Skip()
	}
}

var (
	strPageView = []byte("PageView")
	strIdentify = []byte("Identify")
)

// segmentFinish sets the name, page and time of the message read; finish
// does the rest.
func (b *Body) segmentFinish() error {
	e := b.e
	switch b.segType {
	case segTrack:
		name := b.segName
		if len(name) == 0 {
			return ErrMissingEvent
		}
		if ours, ok := segmentNames[string(name)]; ok {
			name = ours
		} else if !validSegmentName(name) {
			return ErrSegmentEvent
		}
		e.Name = name
	case segPage:
		e.Name = strPageView
	case segIdentify:
		e.Name = strIdentify
	default:
		return ErrSegmentType
	}
	if len(e.URL) == 0 {
		e.URL = b.segPageURL
	}
	if len(e.Referrer) == 0 {
		e.Referrer = b.segPageRef
	}
	if b.segTS != 0 {
		ms := b.segTS
		sentAt := b.segMsgSentAt
		if sentAt == 0 {
			sentAt = b.segSentAt
		}
		if sentAt != 0 {
			// The sender's clock may be off; the span between the event
			// and its sending is not (Segment's clock-skew correction).
			ms = b.now.UnixMilli() - (sentAt - ms)
		}
		now := b.now.UnixMilli()
		switch {
		case ms < now-b.lim.MaxAge.Milliseconds():
			return ErrTooOld
		case ms > now+b.lim.MaxFuture.Milliseconds():
			return ErrInFuture
		}
		e.TSMs, e.TS, b.hasTS = ms, ms/1000, true
	}
	return nil
}

// segmentNames is segmentEvents with our names as bytes, so that a
// mapped name costs no allocation.
var segmentNames = func() map[string][]byte {
	m := make(map[string][]byte, len(segmentEvents))
	for theirs, ours := range segmentEvents {
		m[theirs] = []byte(ours)
	}
	return m
}()

// validSegmentName reports whether a track event's name may be stored
// as given: 1-64 bytes, no control characters.
func validSegmentName(v []byte) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// parseISOTime reads an ISO 8601 date-time as Segment's libraries write
// it (RFC 3339: 2026-12-01T20:59:00.123Z, with any number of fraction
// digits, Z or a ±hh:mm / ±hhmm offset) into Unix milliseconds, without
// allocating (time.Parse allocates a zone for an offset).
func parseISOTime(v []byte) (int64, bool) {
	num := func(i, n int) (int, bool) {
		if i+n > len(v) {
			return 0, false
		}
		x := 0
		for _, c := range v[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			x = x*10 + int(c-'0')
		}
		return x, true
	}
	if len(v) < 20 || v[4] != '-' || v[7] != '-' || (v[10] != 'T' && v[10] != 't' && v[10] != ' ') || v[13] != ':' || v[16] != ':' {
		return 0, false
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	i := 19
	ms := 0
	if i < len(v) && v[i] == '.' {
		i++
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			if i-start < 3 {
				ms = ms*10 + int(v[i]-'0')
			}
			i++
		}
		if i == start || i-start > 9 {
			return 0, false
		}
		for n := i - start; n < 3; n++ {
			ms *= 10
		}
	}
	offset := 0 // seconds east of UTC
	switch {
	case i == len(v)-1 && (v[i] == 'Z' || v[i] == 'z'):
	case i < len(v) && (v[i] == '+' || v[i] == '-'):
		oh, ok := num(i+1, 2)
		j := i + 3
		if j < len(v) && v[j] == ':' {
			j++
		}
		om, ok2 := num(j, 2)
		if !ok || !ok2 || j+2 != len(v) || oh > 23 || om > 59 {
			return 0, false
		}
		offset = oh*3600 + om*60
		if v[i] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // 2026-02-31
		return 0, false
	}
	return t.Unix()*1000 - int64(offset)*1000 + int64(ms), true
}
