package event

import (
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
)

// Parse decodes one wire-format message into e (which it resets first) and
// validates it. String fields alias data when they hold no escapes, otherwise
// they point into e's own scratch space; either way they are valid until data is
// modified or e is reused. Unknown fields are skipped so that an older reader
// accepts a newer writer's additions; a known field of the wrong type is ErrType.
// null is the same as a missing field: the field keeps its column default.
// A field given twice keeps its last value, as with encoding/json.
func Parse(data []byte, e *Event) error {
	e.Reset()
	// Unescaped text is never longer than its escaped form, so one allocation
	// of len(data) keeps scratch from growing while fields point into it.
	if cap(e.scratch) < len(data) {
		e.scratch = make([]byte, 0, len(data))
	}
	// Escapes decode to whole characters, so valid UTF-8 in gives valid
	// UTF-8 in every field.
	if !utf8.Valid(data) {
		return ErrSyntax
	}
	p := parser{s: jsonscan.New(data), e: e}
	if err := p.object(); err != nil {
		return err
	}
	return e.Validate()
}

type parser struct {
	s jsonscan.Scanner
	e *Event
}

func (p *parser) object() error {
	s := &p.s
	if s.Peek() != '{' {
		return ErrSyntax
	}
	for more := s.Open(); more; more = s.Next() {
		var key []byte
		var ok bool
		if key, p.e.scratch, ok = s.Key(p.e.scratch); !ok {
			return ErrSyntax
		}
		if err := p.field(key); err != nil {
			return err
		}
	}
	if s.Malformed() || !s.AtEnd() {
		return ErrSyntax
	}
	return nil
}

func (p *parser) field(key []byte) error {
	e := p.e
	switch string(key) {
	case "event_id":
		return p.str(&e.EventID)
	case "pixel_id":
		return p.str(&e.PixelID)
	case "visitor_id":
		return p.str(&e.VisitorID)
	case "session_id":
		return p.str(&e.SessionID)
	case "event":
		return p.str(&e.Name)
	case "ts":
		return p.number(&e.TS, nil)
	case "received_at":
		return p.number(&e.ReceivedAt, nil)
	case "url":
		return p.str(&e.URL)
	case "referrer":
		return p.str(&e.Referrer)
	case "value":
		return p.number(nil, &e.Value)
	case "currency":
		return p.str(&e.Currency)
	case "order_id":
		return p.str(&e.OrderID)
	case "content_ids":
		return p.contentIDs()
	case "ip":
		return p.str(&e.IP)
	case "user_agent":
		return p.str(&e.UserAgent)
	case "props":
		return p.str(&e.Props)
	case "ts_ms":
		return p.number(&e.TSMs, nil)
	case "engaged_ms":
		return p.number(&e.EngagedMs, nil)
	case "click_ts_ms":
		return p.number(&e.ClickTSMs, nil)
	case "gpc":
		return p.flag(&e.GPC)
	case "dnt":
		return p.flag(&e.DNT)
	case "is_bot":
		return p.flag(&e.IsBot)
	}
	if i, ok := trackingIndex[string(key)]; ok {
		return p.str(&e.Tracking[i])
	}
	if !p.s.Skip() {
		return ErrSyntax
	}
	return nil
}

// value reads the value at the cursor, unescaping a string into scratch.
func (p *parser) value() (jsonscan.Kind, []byte) {
	k, v, scratch := p.s.Value(p.e.scratch)
	p.e.scratch = scratch
	return k, v
}

// wrongType is the error for a value of kind k where another was expected.
func wrongType(k jsonscan.Kind) error {
	if k == jsonscan.Invalid {
		return ErrSyntax
	}
	return ErrType
}

func (p *parser) str(f *[]byte) error {
	switch k, v := p.value(); k {
	case jsonscan.String:
		*f = v
	case jsonscan.Null:
		*f = nil
	default:
		return wrongType(k)
	}
	return nil
}

// number reads a number field, the integer of ts or received_at into i or
// the value into x; null is 0.
func (p *parser) number(i *int64, x *float64) error {
	k, v := p.value()
	switch k {
	case jsonscan.Number:
	case jsonscan.Null:
		v = zero
	default:
		return wrongType(k)
	}
	var err error
	if i != nil {
		*i, err = strconv.ParseInt(b2s(v), 10, 64)
	} else if *x, err = strconv.ParseFloat(b2s(v), 64); math.IsInf(*x, 0) {
		err = ErrRange
	}
	if err != nil {
		return ErrRange
	}
	return nil
}

var zero = []byte("0")

// flag reads a UInt8 column of 0 or 1 (null is 0); anything else is ErrRange.
func (p *parser) flag(f *bool) error {
	var n int64
	if err := p.number(&n, nil); err != nil {
		return err
	}
	if n != 0 && n != 1 {
		return ErrRange
	}
	*f = n == 1
	return nil
}

func (p *parser) contentIDs() error {
	s, e := &p.s, p.e
	e.ContentIDs = e.ContentIDs[:0] // a repeated field replaces, like every other field
	if s.Peek() != '[' {
		if k, _ := p.value(); k != jsonscan.Null {
			return wrongType(k)
		}
		return nil
	}
	for more := s.Open(); more; more = s.Next() {
		k, v := p.value()
		if k != jsonscan.String {
			return wrongType(k)
		}
		if len(e.ContentIDs) == MaxContentIDs {
			// Stop before a hostile array of empty strings grows the
			// slice to millions of entries.
			return ErrTooLarge
		}
		e.ContentIDs = append(e.ContentIDs, v)
	}
	if s.Malformed() {
		return ErrSyntax
	}
	return nil
}

// b2s views b as a string without copying; the string must not outlive b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
