// Package event defines the pixel event and its wire format: one JSON object per
// Kafka message whose field names equal the column names of the ClickHouse table
// pixel.events (see schemas/event-format.md). It is the leaf every other package
// shares; it uses the standard library only and never logs.
package event

import (
	"errors"
	"math"
)

// Version is the wire-format version written in every message's Header.
const Version = "1"

// Header is the Kafka message header key that carries the wire-format version.
// It lives in a header, not in the JSON, so the JSON keeps exactly the column names.
const Header = "pixel-format"

// MaxTime is the last second a ClickHouse DateTime (UInt32) can hold.
const MaxTime = math.MaxUint32

// Event is one tracked hit. Byte-slice fields borrow memory from whoever filled
// them (a request, a Kafka message); they stay valid only as long as that memory
// does. Copy before handing an Event to anything asynchronous.
type Event struct {
	EventID    []byte   // event_id: client "eid" or server-generated; the de-duplication key
	PixelID    []byte   // pixel_id: the pixel's own id ("id")
	VisitorID  []byte   // visitor_id: the first-party _pxid cookie
	SessionID  []byte   // session_id: the _pxsid cookie (30 minutes of inactivity end it)
	Name       []byte   // event: PageView, Purchase, ... ("ev")
	TS         int64    // ts: event time, unix seconds (client time, clamped)
	ReceivedAt int64    // received_at: collector receive time, unix seconds
	URL        []byte   // url: page URL ("dl", else the Referer header)
	Referrer   []byte   // referrer ("rl")
	Value      float64  // value ("cd[value]")
	Currency   []byte   // currency ("cd[currency]"), ISO 4217 upper case
	OrderID    []byte   // order_id ("cd[order_id]")
	ContentIDs [][]byte // content_ids ("cd[content_ids]")
	IP         []byte   // ip: client IP as text
	UserAgent  []byte   // user_agent
	Props      []byte   // props: other cd[...] keys as a JSON object text, or empty

	scratch []byte // unescaped strings of a decoded message
}

// Reset clears e for reuse, keeping its allocated capacity.
func (e *Event) Reset() {
	ids := e.ContentIDs[:0]
	scratch := e.scratch[:0]
	*e = Event{ContentIDs: ids, scratch: scratch}
}

// Errors returned by Parse and Validate. They are sentinels so that callers can
// count outcomes by reason.
var (
	ErrSyntax      = errors.New("event: malformed JSON")
	ErrType        = errors.New("event: field has the wrong JSON type")
	ErrMissing     = errors.New("event: required field missing (event_id, pixel_id, visitor_id, event, received_at)")
	ErrRange       = errors.New("event: value out of range")
	ErrUnsupported = errors.New("event: unsupported wire-format version")
)

// Validate checks the invariants every stored event keeps: the identifying
// fields are present and numbers fit their ClickHouse columns.
func (e *Event) Validate() error {
	if len(e.EventID) == 0 || len(e.PixelID) == 0 || len(e.VisitorID) == 0 || len(e.Name) == 0 || e.ReceivedAt == 0 {
		return ErrMissing
	}
	if e.TS < 0 || e.TS > MaxTime || e.ReceivedAt < 0 || e.ReceivedAt > MaxTime {
		return ErrRange
	}
	if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
		return ErrRange
	}
	return nil
}
