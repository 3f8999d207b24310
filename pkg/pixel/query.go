package pixel

import (
	"bytes"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// Limits bound what one hit may carry. A hit over any limit is invalid: it is
// answered like any other, counted by reason and never stored in part.
type Limits struct {
	MaxIDLen        int           // id, eid, order_id and each content id
	MaxEventLen     int           // ev
	MaxURLLen       int           // dl, rl and the Referer fallback
	MaxUserAgentLen int           // User-Agent header
	MaxProps        int           // custom cd[...] keys
	MaxPropKeyLen   int           // length of a custom key
	MaxPropValueLen int           // length of a custom value
	MaxContentIDs   int           // entries in cd[content_ids]
	MaxClockSkew    time.Duration // ts further than this from the receive time is replaced by it
	MaxBatchEvents  int           // events in one POST /collect body; the excess is refused (0: no limit)
}

// DefaultLimits are the limits the collector starts with.
func DefaultLimits() Limits {
	return Limits{
		MaxIDLen:        128,
		MaxEventLen:     64,
		MaxURLLen:       4096,
		MaxUserAgentLen: 1024,
		MaxProps:        32,
		MaxPropKeyLen:   64,
		MaxPropValueLen: 512,
		MaxContentIDs:   64,
		MaxClockSkew:    24 * time.Hour,
		MaxBatchEvents:  100,
	}
}

// defaultEvent is the event name of a hit without "ev".
var defaultEvent = []byte("PageView")

// ParseRawQuery fills h.Event from the pixel's query parameters (see
// DESIGN.md): id, ev, eid, dl, rl, ts and cd[...]. Unknown parameters (cache
// busters) are ignored; for a repeated parameter the first one counts. now
// is the receive time, used to judge ts. The returned error is an
// *InvalidError naming the reason. q is the raw query string, what follows
// the '?' of a request URI: it splits q at '&' and each parameter at its first
// '=', and decodes %XX and '+' as fasthttp.Args does (a '%' not followed by
// two hex digits stays as it is), in one pass and without copying what has
// nothing to decode. The event borrows q's memory and h's buffers.
func ParseRawQuery(q []byte, h *Hit, lim *Limits, now time.Time) error {
	// Decoding never lengthens text, so what is decoded into h.query
	// never moves once it has room for all of q.
	if cap(h.query) < len(q) {
		h.query = make([]byte, 0, len(q))
	}
	h.query = h.query[:0]
	for i := 0; i < len(q); i++ { // i++ steps over the '&'
		var key, val []byte
		key, i = h.decodeQuery(q, i, equalsByte)
		if i < len(q) && q[i] == '=' {
			val, i = h.decodeQuery(q, i+1, ampersandByte)
		}
		if err := h.queryParam(key, val, lim, now); err != nil {
			return err
		}
	}
	return h.finishEvent()
}

// Classes of query bytes for decodeQuery, 0 for any other byte. A key ends
// at a byte of class equalsByte or above, a value at ampersandByte.
const (
	escapeByte    = 1 + iota // '%', '+'
	equalsByte               // ends a key
	ampersandByte            // ends a key or a value
)

var queryBytes = [256]uint8{'%': escapeByte, '+': escapeByte, '=': equalsByte, '&': ampersandByte}

// decodeQuery decodes the key (end is equalsByte) or the value (end is
// ampersandByte) that starts at q[i]: it returns the text, a part of q when
// there is nothing to decode, else its decoded form in h.query, where it
// stays until the next ParseRawQuery, and the index of the byte that ended
// it (len(q) at the end of q).
func (h *Hit) decodeQuery(q []byte, i int, end uint8) ([]byte, int) {
	start := i
	for j, c := range q[start:] {
		k := queryBytes[c]
		if k == 0 {
			continue
		}
		i = start + j
		if k >= end {
			return q[start:i], i
		}
		if k == escapeByte {
			return h.unescapeQuery(q, start, i, end)
		}
	}
	return q[start:], len(q)
}

// unescapeQuery is decodeQuery for text that needs decoding from q[i] on.
func (h *Hit) unescapeQuery(q []byte, start, i int, end uint8) ([]byte, int) {
	from := len(h.query)
	b := h.query[from : from+len(q)-start] // within the capacity ParseRawQuery made
	n := copy(b, q[start:i])
	for ; i < len(q); i++ {
		c := q[i]
		if k := queryBytes[c]; k == 0 {
			// most bytes: copied as they are
		} else if k >= end {
			break
		} else if c == '+' {
			c = ' '
		} else if c == '%' && i+2 < len(q) {
			// A '%' without two hex digits after it stays as it is.
			if hi, lo := unhex[q[i+1]], unhex[q[i+2]]; hi|lo <= 0xf {
				c = hi<<4 | lo
				i += 2
			}
		}
		b[n] = c
		n++
	}
	h.query = h.query[:from+n]
	return b[:n:n], i
}

// unhex is the value of each hex digit; 0xff for any other byte.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	for i, c := range "ABCDEF" {
		t[c] = byte(10 + i)
	}
	return t
}()

// queryParam handles one parameter of a query, already decoded.
func (h *Hit) queryParam(key, val []byte, lim *Limits, now time.Time) error {
	if param := paramOf(key, eventParams); param != 0 {
		if !h.first(param) {
			return nil
		}
		return h.setParam(param, val, lim, now)
	}
	if len(key) < 5 || key[2] != '[' || key[len(key)-1] != ']' {
		return nil
	}
	group, sub := key[:2], key[3:len(key)-1]
	switch string(group) {
	case "cd":
		if param := paramOf(sub, customParams); param == 0 || h.first(param) {
			return h.setCustom(param, sub, val, lim)
		}
	case "cm":
		if param := paramOf(sub, signalParams); param != 0 && h.first(param) {
			return h.setSignal(param, val)
		}
	case "ud":
		if param := paramOf(sub, userParams); param != 0 && h.first(param) {
			return h.setUserData(param, val, lim)
		}
	}
	return nil
}

// seenParams records which parameters a hit already had. The first occurrence
// counts, even when empty (or null in a body), which leaves its field as
// unset as it was: "not set yet" cannot be told from the field itself. (The
// test oracle's fasthttp.Args also hands out an empty value as nil or not
// depending on what its reused buffers held before.)
type seenParams uint32

const (
	seenID seenParams = 1 << iota
	seenEvent
	seenEventID
	seenURL
	seenReferrer
	seenTS
	seenPageView   // pv
	seenEngaged    // et
	seenConsent    // cs
	seenWebdriver  // wd
	seenValue      // cd[value] ...
	seenCurrency   //
	seenOrderID    //
	seenContentIDs //
	seenCustomData // the "cd" object of a POST /collect event
	seenSignals    // the "cm" object: Google's consent signals
	seenUserData   // the "ud" object: hashed identifiers
	seenAdStorage  // cm[ad_storage] ...
	seenAnalyticsStorage
	seenAdUserData
	seenAdPersonalization
	seenEmail // ud[em] ...
	seenEmailGoogle
	seenPhone
	seenPhoneGoogle
	seenExternalID
)

// first reports whether p is seen for the first time, and marks it seen.
func (h *Hit) first(p seenParams) bool {
	if h.seen&p != 0 {
		return false
	}
	h.seen |= p
	return true
}

// The parameters of an event, and those of its custom data (cd[...] in a
// query, the cd object of a body).
const (
	eventParams  = seenID | seenEvent | seenEventID | seenURL | seenReferrer | seenTS | seenPageView | seenEngaged | seenConsent | seenWebdriver
	customParams = seenValue | seenCurrency | seenOrderID | seenContentIDs
	signalParams = seenAdStorage | seenAnalyticsStorage | seenAdUserData | seenAdPersonalization
	userParams   = seenEmail | seenEmailGoogle | seenPhone | seenPhoneGoogle | seenExternalID
)

// paramOf returns the parameter named key if it is one of among, else 0
// (for custom data: a custom property).
func paramOf(key []byte, among seenParams) seenParams {
	var p seenParams
	switch string(key) {
	case "id":
		p = seenID
	case "ev":
		p = seenEvent
	case "eid":
		p = seenEventID
	case "dl":
		p = seenURL
	case "rl":
		p = seenReferrer
	case "ts":
		p = seenTS
	case "pv":
		p = seenPageView
	case "et":
		p = seenEngaged
	case "cs":
		p = seenConsent
	case "wd":
		p = seenWebdriver
	case "cd":
		p = seenCustomData
	case "cm":
		p = seenSignals
	case "ud":
		p = seenUserData
	case "ad_storage":
		p = seenAdStorage
	case "analytics_storage":
		p = seenAnalyticsStorage
	case "ad_user_data":
		p = seenAdUserData
	case "ad_personalization":
		p = seenAdPersonalization
	case "em":
		p = seenEmail
	case "em_g":
		p = seenEmailGoogle
	case "ph":
		p = seenPhone
	case "ph_g":
		p = seenPhoneGoogle
	case "external_id":
		p = seenExternalID
	case "value":
		p = seenValue
	case "currency":
		p = seenCurrency
	case "order_id":
		p = seenOrderID
	case "content_ids":
		p = seenContentIDs
	}
	return p & among
}

// setParam sets the field of parameter param (one of eventParams) from its text,
// by the rules a query and a JSON body share.
func (h *Hit) setParam(param seenParams, val []byte, lim *Limits, now time.Time) error {
	e := &h.Event
	switch param {
	case seenID:
		if !ValidToken(val, lim.MaxIDLen) {
			return ErrBadPixelID
		}
		e.PixelID = val
	case seenEvent:
		if !ValidToken(val, lim.MaxEventLen) {
			return ErrBadEvent
		}
		e.Name = val
	case seenEventID:
		if !ValidPrintable(val, lim.MaxIDLen) {
			return ErrBadEventID
		}
		e.EventID = val
	case seenURL, seenReferrer:
		if len(val) > lim.MaxURLLen {
			return ErrTooLong
		}
		if param == seenURL {
			e.URL = val
		} else {
			e.Referrer = val
		}
	case seenTS:
		ms, ok := parseUint(val)
		if !ok {
			return ErrBadTS
		}
		e.TSMs = clampTS(ms, now, lim.MaxClockSkew)
		e.TS = e.TSMs / 1000
	case seenPageView:
		if len(val) == 0 {
			return nil
		}
		if !ValidToken(val, lim.MaxIDLen) {
			return ErrBadPageView
		}
		e.Tracking[event.PageViewID] = val
	case seenEngaged:
		if len(val) == 0 {
			return nil
		}
		ms, ok := parseUint(val)
		if !ok || ms > event.MaxEngagedMs {
			return ErrBadEngaged
		}
		e.EngagedMs = int64(ms)
	case seenConsent:
		h.consentGranted = string(val) == "granted"
	case seenWebdriver:
		e.IsBot = e.IsBot || string(val) == "1" || string(val) == "true"
	}
	return nil
}

// setSignal sets one of Google's consent signals (cm[...]): granted or
// denied; an empty value is no signal.
func (h *Hit) setSignal(param seenParams, val []byte) error {
	var v []byte
	switch string(val) {
	case "":
		return nil
	case "granted":
		v = strGranted
	case "denied":
		v = strDenied
	default:
		return ErrBadConsent
	}
	e := &h.Event
	switch param {
	case seenAdStorage:
		e.Tracking[event.AdStorage] = v
	case seenAnalyticsStorage:
		e.Tracking[event.AnalyticsStorage] = v
	case seenAdUserData:
		e.Tracking[event.AdUserData] = v
	case seenAdPersonalization:
		e.Tracking[event.AdPersonalization] = v
	}
	return nil
}

var (
	strGranted = []byte("granted")
	strDenied  = []byte("denied")
)

// setCustom handles one custom-data parameter (cd[key]=val, or key in a
// body's cd object): param is paramOf(key, customParams). An empty value or
// currency is no value.
func (h *Hit) setCustom(param seenParams, key, val []byte, lim *Limits) error {
	e := &h.Event
	switch param {
	case seenValue:
		if len(val) == 0 {
			return nil
		}
		f, err := parseValue(val)
		if err != nil {
			return err
		}
		e.Value = f
	case seenCurrency:
		if len(val) == 0 {
			return nil
		}
		if !ValidCurrency(val) {
			return ErrBadCurrency
		}
		h.currency = [3]byte{upper(val[0]), upper(val[1]), upper(val[2])}
		e.Currency = h.currency[:]
	case seenOrderID:
		if len(val) > lim.MaxIDLen {
			return ErrTooLong
		}
		e.OrderID = val
	case seenContentIDs:
		return parseContentIDs(h, val, lim)
	default:
		return addProp(h, key, val, lim)
	}
	return nil
}

// finishEvent completes a parsed event: the pixel id is required, the
// event name defaults to PageView and the custom properties are closed
// into one JSON object.
func (h *Hit) finishEvent() error {
	e := &h.Event
	if len(e.PixelID) == 0 {
		return ErrMissingPixelID
	}
	if e.Name == nil {
		e.Name = defaultEvent
	}
	e.Props = h.props.Close()
	return nil
}

// addProp appends one custom property to the props JSON object under
// construction. A repeated key keeps its first value.
func addProp(h *Hit, key, val []byte, lim *Limits) error {
	if !ValidToken(key, lim.MaxPropKeyLen) {
		return ErrBadProp
	}
	if len(val) > lim.MaxPropValueLen {
		return ErrTooLong
	}
	if !h.props.Add(key, val, lim.MaxProps) {
		return ErrTooManyProps
	}
	return nil
}

// parseContentIDs accepts a JSON array of strings or numbers (`["sku1","sku2"]`,
// as the big ad pixels send it) or a comma-separated list (`sku1,sku2`).
// Empty entries are skipped; escapes inside JSON strings are not supported.
func parseContentIDs(h *Hit, val []byte, lim *Limits) error {
	val = bytes.TrimSpace(val)
	if len(val) == 0 || val[0] != '[' {
		for len(val) > 0 {
			item, rest, _ := bytes.Cut(val, comma)
			if err := addContentID(h, item, lim); err != nil {
				return err
			}
			val = rest
		}
		return nil
	}
	// Outside strings a backslash is malformed JSON anyway.
	if bytes.IndexByte(val, '\\') >= 0 {
		return ErrBadContentIDs
	}
	s := jsonscan.New(val)
	for more := s.Open(); more; more = s.Next() {
		// Without escapes, no string needs room to be unescaped into.
		k, id, _ := s.Value(nil)
		if k != jsonscan.String && k != jsonscan.Number {
			return ErrBadContentIDs
		}
		if err := addContentID(h, id, lim); err != nil {
			return err
		}
	}
	if s.Malformed() || !s.AtEnd() {
		return ErrBadContentIDs
	}
	return nil
}

// addContentID appends one product id; surrounding spaces are trimmed and
// an empty id is skipped.
func addContentID(h *Hit, id []byte, lim *Limits) error {
	e := &h.Event
	id = bytes.TrimSpace(id)
	if len(id) == 0 {
		return nil
	}
	if len(id) > lim.MaxIDLen {
		return ErrTooLong
	}
	if len(e.ContentIDs) >= lim.MaxContentIDs {
		return ErrBadContentIDs
	}
	e.ContentIDs = append(e.ContentIDs, id)
	return nil
}

// parseValue parses a conversion value: a plain decimal number (see
// plainDecimal) whose size fits what the consumer stores
// (event.MaxAbsValue).
func parseValue(b []byte) (float64, error) {
	if !plainDecimal(b) {
		return 0, ErrBadValue
	}
	if f, ok := parseShortDecimal(b); ok {
		return f, nil
	}
	f, err := strconv.ParseFloat(b2s(b), 64)
	if err != nil || math.Abs(f) > event.MaxAbsValue {
		return 0, ErrBadValue
	}
	return f, nil
}

// parseShortDecimal parses b, a plainDecimal, without strconv when it has
// at most 15 digits, as prices have: its digits make an integer below 2^53
// and its fraction a power of ten of at most 10^15, both exact as float64,
// so the one rounding of the division gives the nearest float64, as
// strconv.ParseFloat does. ok is false for more digits.
func parseShortDecimal(b []byte) (f float64, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var m uint64
	digits, frac := 0, -1
	for _, c := range b {
		if c == '.' {
			frac = 0
			continue
		}
		m = m*10 + uint64(c-'0')
		digits++
		if frac >= 0 {
			frac++
		}
	}
	if digits > 15 {
		return 0, false
	}
	f = float64(m)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

var pow10 = [16]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// plainDecimal reports whether b is a decimal number as the README promises
// it, -?[0-9]+(\.[0-9]+)?, e.g. 19.90: digits with an optional fraction
// after a dot. Not the syntax of strconv.ParseFloat, which also takes a "+",
// an exponent, hexadecimal, underscores, inf and nan, and not the JSON
// number grammar (which has the exponent): a query value and a JSON body's
// number or string are judged alike. The minus sign is allowed so that a
// refund or a cancelled order can be sent as a negative value and sums of
// value stay net; the wire format and the value column have always been
// signed.
func plainDecimal(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	intPart, frac, hasFrac := bytes.Cut(b, dot)
	return allDigits(intPart) && (!hasFrac || allDigits(frac))
}

var dot = []byte{'.'}

// allDigits reports whether b is one or more ASCII digits.
func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

var comma = []byte{','}

// clampTS returns the client's time in milliseconds, falling back to the
// receive time when the client clock is off by more than skew (or sent 0),
// or when the time does not fit the ClickHouse column (a large configured
// skew).
//
// The skew is judged in whole seconds, ts's unit.
func clampTS(ms uint64, now time.Time, skew time.Duration) int64 {
	nowMs, nowSec := now.UnixMilli(), now.Unix()
	if ms == 0 {
		return nowMs
	}
	sec := int64(ms / 1000)
	lim := int64(skew / time.Second)
	if sec < nowSec-lim || sec > nowSec+lim || sec > event.MaxTime {
		return nowMs
	}
	return int64(ms)
}

// parseUint parses a decimal number of at most 19 digits.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// ValidToken reports whether b is 1..max bytes of [A-Za-z0-9_.:-]: the form
// of pixel ids, event names and custom keys, wherever an event comes from.
func ValidToken(b []byte, max int) bool {
	if len(b) == 0 || len(b) > max {
		return false
	}
	for _, c := range b {
		if !isLetter(c) && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' && c != ':' {
			return false
		}
	}
	return true
}

// ValidPrintable reports whether b is 1..max bytes of printable ASCII
// without space: the form of event ids, order ids and external ids.
func ValidPrintable(b []byte, max int) bool {
	if len(b) == 0 || len(b) > max {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// ValidCurrency reports whether b is three ASCII letters (an ISO 4217 code
// in either case).
func ValidCurrency(b []byte) bool {
	return len(b) == 3 && isLetter(b[0]) && isLetter(b[1]) && isLetter(b[2])
}

func upper(c byte) byte { return c &^ 0x20 }

// b2s views b as a string without copying; the string must not outlive b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
