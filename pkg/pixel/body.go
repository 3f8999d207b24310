package pixel

import (
	"time"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
)

// A POST /collect body is one JSON event object or an array of them (a
// batch). The keys are the pixel's query parameter names, so one model
// covers both:
//
//	{"id":"px1","ev":"Purchase","eid":"o-1","dl":"https://shop.example/ok","rl":"",
//	 "ts":1767268799123,"cd":{"value":12.5,"currency":"EUR","order_id":"o-1",
//	 "content_ids":["a","b"],"coupon":"X"}}
//
// The same Limits and *InvalidError reasons apply as to the query; for a
// repeated key the first counts. JSON types: id, ev, eid, dl, rl and currency
// are strings; ts is a number or a string of digits; cd is an object;
// cd.value is a number or a numeric string, either way a plain decimal as
// in the query (no exponent, though JSON numbers may have one: see
// plainDecimal); cd.order_id a string or number;
// cd.content_ids an array of strings and numbers, or a string read as in the
// query; other cd values are strings, numbers or booleans, kept as strings
// in props. null is the same as an absent key. Any other type is ErrBadType.
//
// Bodies are read with internal/jsonscan, the scanner the consumer's
// decoder uses too: one JSON grammar and one nesting limit for both. It never
// allocates once a Hit's buffers have grown, and strings without escapes are
// not copied.

// Body reads the events of a POST /collect body one at a time. Reset checks
// the whole body first, so that a body that is not well-formed JSON is
// refused as a whole (ErrBadBody) before any of its events is used; after
// that, each event is judged on its own. The zero Body has no events.
type Body struct {
	s      jsonscan.Scanner // at the next event
	size   int              // the body's length: room enough for its unescaped strings
	left   int              // events still to read
	excess int              // events beyond the limit, never read
}

// Reset makes b read data, which must be one JSON object or an array of JSON
// values, nested no more than jsonscan.MaxDepth levels below the outermost
// value, else Reset returns ErrBadBody. An array's elements beyond maxEvents are not read: Excess
// counts them. A maxEvents below 1 sets no limit. b borrows data until the
// next Reset.
func (b *Body) Reset(data []byte, maxEvents int) error {
	*b = Body{}
	s := jsonscan.New(data)
	var first jsonscan.Scanner
	n := 0
	switch s.Peek() {
	case '{':
		first = s
		if !s.Skip() {
			return ErrBadBody
		}
		n = 1
	case '[':
		more := s.Open()
		first = s
		for ; more; more = s.Next() {
			if !s.Skip() {
				return ErrBadBody
			}
			n++
		}
		if s.Malformed() {
			return ErrBadBody
		}
	default:
		return ErrBadBody
	}
	if !s.AtEnd() {
		return ErrBadBody
	}
	if maxEvents > 0 && n > maxEvents {
		b.excess, n = n-maxEvents, maxEvents
	}
	b.s, b.size, b.left = first, len(data), n
	return nil
}

// Len returns how many events are left to read.
func (b *Body) Len() int { return b.left }

// Excess returns how many events of the body are beyond the limit given to
// Reset; they are never read.
func (b *Body) Excess() int { return b.excess }

// Next parses the next event into h.Event, which must be empty, with the
// same rules and limits as ParseRawQuery. It returns the *InvalidError that
// makes the event invalid; either way the body moves on to the following
// event. Next must only be called while Len is above 0. The event borrows
// the body's memory and h's buffers.
func (b *Body) Next(h *Hit, lim *Limits, now time.Time) error {
	if b.left <= 0 {
		return ErrBadBody
	}
	// Unescaped text is never longer than its JSON form, so scratch space
	// of the body's length never grows while slices point into it.
	if cap(h.scratch) < b.size {
		h.scratch = make([]byte, 0, b.size)
	}
	// The parser works on a copy of the body's scanner, so that b does not
	// escape with the pointers the parser hands around.
	p := parser{s: b.s, h: h, lim: lim, now: now}
	if err := p.event(); err != nil {
		b.Skip() // from the event's start; well formed: Reset checked it
		return err
	}
	b.s = p.s
	b.advance()
	return nil
}

// Skip passes over the next event without reading it.
func (b *Body) Skip() {
	if b.left <= 0 {
		return
	}
	b.s.Skip()
	b.advance()
}

// advance counts the event just passed and moves to the next one.
func (b *Body) advance() {
	b.left--
	if b.left > 0 {
		b.s.Next() // the comma between two elements of the batch
	}
}

// parser fills one Hit from one event object of a checked body.
type parser struct {
	s   jsonscan.Scanner
	h   *Hit
	lim *Limits
	now time.Time
}

// value reads the value at the cursor (see jsonscan.Scanner.Value),
// unescaping a string into the Hit's scratch space.
func (p *parser) value() (jsonscan.Kind, []byte) {
	k, v, scratch := p.s.Value(p.h.scratch)
	p.h.scratch = scratch
	return k, v
}

func (p *parser) skip() error {
	if !p.s.Skip() {
		return ErrBadBody
	}
	return nil
}

// members calls field for each member of the object at the cursor until
// one returns an error. field must consume the member's value.
func (p *parser) members(field func(key []byte) error) error {
	s := &p.s
	for more := s.Open(); more; more = s.Next() {
		key, scratch, ok := s.Key(p.h.scratch)
		p.h.scratch = scratch
		if !ok {
			return ErrBadBody
		}
		if err := field(key); err != nil {
			return err
		}
	}
	if s.Malformed() {
		return ErrBadBody
	}
	return nil
}

// event parses one event object.
func (p *parser) event() error {
	if p.s.Peek() != '{' {
		return ErrBadType
	}
	if err := p.members(p.eventField); err != nil {
		return err
	}
	return p.h.finishEvent()
}

// eventField handles one member of an event object: id, ev, eid, dl and rl
// are strings, ts a number or a string, cd an object.
func (p *parser) eventField(key []byte) error {
	h := p.h
	param := paramOf(key, eventParams|seenCustomData|seenSignals|seenUserData)
	if param == 0 || !h.first(param) {
		return p.skip() // unknown or repeated
	}
	switch param {
	case seenCustomData, seenSignals, seenUserData:
		if p.s.Peek() != '{' {
			return p.notObject()
		}
		switch param {
		case seenCustomData:
			return p.members(p.customField)
		case seenSignals:
			return p.members(p.signalField)
		}
		return p.members(p.userField)
	}
	k, v := p.value()
	switch {
	case k == jsonscan.Null:
		return nil
	case k == jsonscan.Invalid:
		return ErrBadBody
	case k == jsonscan.String:
	case k == jsonscan.Number && (param == seenTS || param == seenEngaged || param == seenWebdriver):
	case k == jsonscan.Bool && param == seenWebdriver:
	default:
		return ErrBadType
	}
	return h.setParam(param, v, p.lim, p.now)
}

// signalField handles one member of the cm object (Google's consent
// signals, strings); unknown members are skipped.
func (p *parser) signalField(key []byte) error {
	param := paramOf(key, signalParams)
	if param == 0 || !p.h.first(param) {
		return p.skip()
	}
	v, err := p.stringValue()
	if err != nil || v == nil {
		return err
	}
	return p.h.setSignal(param, v)
}

// userField handles one member of the ud object (hashed or raw
// identifiers, strings; external_id may be a number); unknown members are
// skipped.
func (p *parser) userField(key []byte) error {
	param := paramOf(key, userParams)
	if param == 0 || !p.h.first(param) {
		return p.skip()
	}
	if param == seenExternalID && p.s.Peek() != '"' {
		k, v := p.value()
		switch k {
		case jsonscan.Null:
			return nil
		case jsonscan.Number:
			return p.h.setUserData(param, v, p.lim)
		case jsonscan.Invalid:
			return ErrBadBody
		}
		return ErrBadType
	}
	v, err := p.stringValue()
	if err != nil || v == nil {
		return err
	}
	return p.h.setUserData(param, v, p.lim)
}

// stringValue reads a string member; null is nil, another type ErrBadType.
func (p *parser) stringValue() ([]byte, error) {
	switch k, v := p.value(); k {
	case jsonscan.String:
		if v == nil {
			v = []byte{}
		}
		return v, nil
	case jsonscan.Null:
		return nil, nil
	case jsonscan.Invalid:
		return nil, ErrBadBody
	}
	return nil, ErrBadType
}

// notObject reads the value where an object belongs: null is an absent
// key, any other value is ErrBadType.
func (p *parser) notObject() error {
	switch k, _ := p.value(); k {
	case jsonscan.Null:
		return nil
	case jsonscan.Invalid:
		return ErrBadBody
	}
	return ErrBadType
}

// customField handles one member of the cd object: value is a number or a
// string, currency a string, order_id a string or a number, content_ids an
// array of strings and numbers or one of them, a custom property a string, a
// number or a boolean.
func (p *parser) customField(key []byte) error {
	h := p.h
	param := paramOf(key, customParams)
	if param != 0 && !h.first(param) {
		return p.skip()
	}
	if param == seenContentIDs && p.s.Peek() == '[' {
		return p.contentIDs()
	}
	k, v := p.value()
	switch k {
	case jsonscan.Invalid:
		return ErrBadBody
	case jsonscan.Null:
		return nil
	case jsonscan.String:
	case jsonscan.Number:
		if param == seenCurrency {
			return ErrBadType
		}
	case jsonscan.Bool:
		if param != 0 {
			return ErrBadType
		}
	default:
		return ErrBadType
	}
	return h.setCustom(param, key, v, p.lim)
}

// contentIDs reads a cd.content_ids array of strings and numbers.
func (p *parser) contentIDs() error {
	s := &p.s
	for more := s.Open(); more; more = s.Next() {
		switch k, v := p.value(); k {
		case jsonscan.String, jsonscan.Number:
			if err := addContentID(p.h, v, p.lim); err != nil {
				return err
			}
		case jsonscan.Invalid:
			return ErrBadBody
		default:
			return ErrBadContentIDs
		}
	}
	if s.Malformed() {
		return ErrBadBody
	}
	return nil
}
