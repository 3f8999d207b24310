package pixel

import (
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
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
// The parser is hand-written: it never allocates once a Hit's buffers have
// grown, and strings without escapes are not copied.

// Body reads the events of a POST /collect body one at a time. Reset checks
// the whole body first, so that a body that is not well-formed JSON is
// refused as a whole (ErrBadBody) before any of its events is used; after
// that, each event is judged on its own. The zero Body has no events.
type Body struct {
	data   []byte
	pos    int // start of the next event
	left   int // events still to read
	excess int // events beyond the limit, never read
}

// Reset makes b read data, which must be one JSON object or an array of JSON
// values nested at most maxDepth deep, else Reset returns ErrBadBody. An
// array's elements beyond maxEvents are not read: Excess counts them. A
// maxEvents below 1 sets no limit. b borrows data until the next Reset.
func (b *Body) Reset(data []byte, maxEvents int) error {
	*b = Body{}
	s := scanner{data: data}
	n := 0
	switch s.peek() {
	case '{':
		b.pos = s.pos
		if !s.skip(0) {
			return ErrBadBody
		}
		n = 1
	case '[':
		s.pos++
		b.pos = s.pos
		if s.peek() == ']' {
			s.pos++
			break
		}
		for {
			if !s.skip(1) {
				return ErrBadBody
			}
			n++
			c := s.peek()
			s.pos++
			if c == ']' {
				break
			}
			if c != ',' {
				return ErrBadBody
			}
		}
	default:
		return ErrBadBody
	}
	if !s.atEnd() {
		return ErrBadBody
	}
	if maxEvents > 0 && n > maxEvents {
		b.excess, n = n-maxEvents, maxEvents
	}
	b.data, b.left = data, n
	return nil
}

// Len returns how many events are left to read.
func (b *Body) Len() int { return b.left }

// Excess returns how many events of the body are beyond the limit given to
// Reset; they are never read.
func (b *Body) Excess() int { return b.excess }

// Next parses the next event into h.Event, which must be empty, with the
// same rules and limits as ParseQuery. It returns the *InvalidError that
// makes the event invalid; either way the body moves on to the following
// event. Next must only be called while Len is above 0. The event borrows
// the body's memory and h's buffers.
func (b *Body) Next(h *Hit, lim *Limits, now time.Time) error {
	if b.left <= 0 {
		return ErrBadBody
	}
	// Unescaped text is never longer than its JSON form, so scratch space
	// of the body's length never grows while slices point into it.
	if cap(h.scratch) < len(b.data) {
		h.scratch = make([]byte, 0, len(b.data))
	}
	p := parser{scanner: scanner{data: b.data, pos: b.pos}, h: h, lim: lim, now: now}
	p.peek()
	start := p.pos
	err := p.event()
	if err != nil {
		p.pos = start
		p.skip(0) // well-formed: Reset checked it
	}
	b.skipSep(&p.scanner)
	return err
}

// Skip passes over the next event without reading it.
func (b *Body) Skip() {
	if b.left <= 0 {
		return
	}
	s := scanner{data: b.data, pos: b.pos}
	s.skip(0)
	b.skipSep(&s)
}

// skipSep moves past the comma after an event and records where the next
// one starts.
func (b *Body) skipSep(s *scanner) {
	b.left--
	if s.peek() == ',' {
		s.pos++
	}
	b.pos = s.pos
}

// maxDepth bounds the nesting of a body so hostile input cannot recurse deeply.
const maxDepth = 32

// scanner walks JSON text. Its methods never read past the end of data.
type scanner struct {
	data []byte
	pos  int
}

// peek skips white space and returns the next byte without consuming it,
// or 0 at the end.
func (s *scanner) peek() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

// atEnd reports whether only white space is left.
func (s *scanner) atEnd() bool {
	s.peek()
	return s.pos == len(s.data)
}

// skip passes over one JSON value, reporting whether it is well-formed.
func (s *scanner) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch open := s.peek(); open {
	case '"':
		return s.skipString()
	case '{', '[':
		closing := byte('}')
		if open == '[' {
			closing = ']'
		}
		s.pos++
		if s.peek() == closing {
			s.pos++
			return true
		}
		for {
			if open == '{' {
				if s.peek() != '"' || !s.skipString() || s.peek() != ':' {
					return false
				}
				s.pos++
			}
			if !s.skip(depth + 1) {
				return false
			}
			switch s.peek() {
			case ',':
				s.pos++
			case closing:
				s.pos++
				return true
			default:
				return false
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}

// skipString passes over the string whose opening quote is at the cursor,
// checking its escapes and that it holds no control characters.
func (s *scanner) skipString() bool {
	d := s.data
	for i := s.pos + 1; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if i+1 >= len(d) {
				return false
			}
			i++
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := event.Hex4(d, i+1); !ok {
					return false
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}

// number passes over the JSON number at the cursor and returns its text.
func (s *scanner) number() ([]byte, bool) {
	end, ok := event.NumberEnd(s.data, s.pos)
	if !ok {
		return nil, false
	}
	start := s.pos
	s.pos = end
	return s.data[start:end], true
}

// kind is the JSON type of a value.
type kind uint8

const (
	kindInvalid kind = iota // malformed: cannot happen after Body.Reset
	kindString
	kindNumber
	kindBool
	kindNull
	kindObject
	kindArray
)

// parser fills one Hit from one event object of a checked body.
type parser struct {
	scanner
	h   *Hit
	lim *Limits
	now time.Time
}

// value reads the value at the cursor. A string's text is unescaped, a
// number's or boolean's is its literal; objects and arrays are skipped and
// only their kind is returned.
func (p *parser) value() (kind, []byte) {
	switch c := p.peek(); c {
	case '"':
		if s, ok := p.str(); ok {
			return kindString, s
		}
	case '{', '[':
		if p.skip(1) {
			if c == '{' {
				return kindObject, nil
			}
			return kindArray, nil
		}
	case 't', 'f':
		start := p.pos
		if p.literal("true") || p.literal("false") {
			return kindBool, p.data[start:p.pos]
		}
	case 'n':
		if p.literal("null") {
			return kindNull, nil
		}
	default:
		if n, ok := p.number(); ok {
			return kindNumber, n
		}
	}
	return kindInvalid, nil
}

// str reads the string whose opening quote is at the cursor. Without
// escapes it is a slice of the body; with them it is unescaped into the
// Hit's scratch space.
func (p *parser) str() ([]byte, bool) {
	d := p.data
	start := p.pos + 1
	for i := start; i < len(d); i++ {
		switch d[i] {
		case '"':
			p.pos = i + 1
			return d[start:i], true
		case '\\':
			return p.unescape(start)
		}
	}
	return nil, false
}

// unescape decodes the string starting at data[start] into scratch. A lone
// UTF-16 surrogate becomes U+FFFD.
func (p *parser) unescape(start int) ([]byte, bool) {
	from := len(p.h.scratch)
	s, end, ok := event.AppendUnescaped(p.h.scratch, p.data, start)
	if !ok {
		return nil, false
	}
	p.pos = end
	p.h.scratch = s
	return s[from:len(s):len(s)], true
}

// key reads an object key and the colon after it.
func (p *parser) key() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	k, ok := p.str()
	if !ok || p.peek() != ':' {
		return nil, false
	}
	p.pos++
	return k, true
}

// members calls field for each member of the object at the cursor until
// one returns an error. field must consume the member's value.
func (p *parser) members(field func(key []byte) error) error {
	p.pos++ // '{'
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		k, ok := p.key()
		if !ok {
			return ErrBadBody
		}
		if err := field(k); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return ErrBadBody
		}
	}
}

// event parses one event object.
func (p *parser) event() error {
	if p.peek() != '{' {
		return ErrBadType
	}
	h := p.h
	if err := p.members(p.eventField); err != nil {
		return err
	}
	e := &h.Event
	if len(e.PixelID) == 0 {
		return ErrMissingPixelID
	}
	if e.Name == nil {
		e.Name = defaultEvent
	}
	if len(h.props) > 0 {
		h.props = append(h.props, '}')
		e.Props = h.props
	}
	return nil
}

// eventField handles one member of an event object.
func (p *parser) eventField(key []byte) error {
	h, e, lim := p.h, &p.h.Event, p.lim
	var seen seenParams
	switch string(key) {
	case "id":
		seen = seenID
	case "ev":
		seen = seenEvent
	case "eid":
		seen = seenEventID
	case "dl":
		seen = seenURL
	case "rl":
		seen = seenReferrer
	case "ts":
		seen = seenTS
	case "cd":
		seen = seenCustomData
	}
	if seen == 0 || !h.first(seen) {
		return p.skipValue() // unknown or repeated
	}
	if seen == seenCustomData {
		switch p.peek() {
		case '{':
			return p.members(p.customField)
		case 'n':
			return p.skipValue()
		}
		return p.wrongType()
	}
	k, v := p.value()
	switch {
	case k == kindNull:
		return nil
	case k == kindInvalid:
		return ErrBadBody
	case seen == seenTS:
		if k != kindNumber && k != kindString {
			return ErrBadType
		}
		ms, ok := parseUint(v)
		if !ok {
			return ErrBadTS
		}
		e.TS = clampTS(ms, p.now, lim.MaxClockSkew)
		return nil
	case k != kindString:
		return ErrBadType
	}
	switch seen {
	case seenID:
		if !validToken(v, lim.MaxIDLen) {
			return ErrBadPixelID
		}
		e.PixelID = v
	case seenEvent:
		if !validToken(v, lim.MaxEventLen) {
			return ErrBadEvent
		}
		e.Name = v
	case seenEventID:
		if !validPrintable(v, lim.MaxIDLen) {
			return ErrBadEventID
		}
		e.EventID = v
	case seenURL, seenReferrer:
		if len(v) > lim.MaxURLLen {
			return ErrTooLong
		}
		if seen == seenURL {
			e.URL = v
		} else {
			e.Referrer = v
		}
	}
	return nil
}

// customField handles one member of the cd object.
func (p *parser) customField(key []byte) error {
	h, e, lim := p.h, &p.h.Event, p.lim
	var seen seenParams
	switch string(key) {
	case "value":
		seen = seenValue
	case "currency":
		seen = seenCurrency
	case "order_id":
		seen = seenOrderID
	case "content_ids":
		seen = seenContentIDs
	}
	if seen != 0 && !h.first(seen) {
		return p.skipValue()
	}
	if seen == seenContentIDs && p.peek() == '[' {
		return p.contentIDs()
	}
	k, v := p.value()
	switch k {
	case kindInvalid:
		return ErrBadBody
	case kindNull:
		return nil
	case kindObject, kindArray:
		return ErrBadType
	}
	switch seen {
	case seenValue:
		if k != kindNumber && k != kindString {
			return ErrBadType
		}
		if len(v) == 0 {
			return nil
		}
		f, err := parseValue(v)
		if err != nil {
			return err
		}
		e.Value = f
	case seenCurrency:
		if k != kindString {
			return ErrBadType
		}
		if len(v) == 0 {
			return nil
		}
		if len(v) != 3 || !isLetter(v[0]) || !isLetter(v[1]) || !isLetter(v[2]) {
			return ErrBadCurrency
		}
		h.currency = [3]byte{upper(v[0]), upper(v[1]), upper(v[2])}
		e.Currency = h.currency[:]
	case seenOrderID:
		if k != kindString && k != kindNumber {
			return ErrBadType
		}
		if len(v) > lim.MaxIDLen {
			return ErrTooLong
		}
		e.OrderID = v
	case seenContentIDs:
		switch k {
		case kindString:
			return parseContentIDs(h, v, lim)
		case kindNumber:
			return addContentID(h, v, lim)
		}
		return ErrBadType
	default:
		return addProp(h, key, v, lim)
	}
	return nil
}

// contentIDs reads a cd.content_ids array of strings and numbers.
func (p *parser) contentIDs() error {
	p.pos++ // '['
	if p.peek() == ']' {
		p.pos++
		return nil
	}
	for {
		switch k, v := p.value(); k {
		case kindString, kindNumber:
			if err := addContentID(p.h, v, p.lim); err != nil {
				return err
			}
		case kindInvalid:
			return ErrBadBody
		default:
			return ErrBadContentIDs
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return ErrBadBody
		}
	}
}

func (p *parser) skipValue() error {
	if !p.skip(1) {
		return ErrBadBody
	}
	return nil
}

// wrongType skips the value at the cursor and returns ErrBadType.
func (p *parser) wrongType() error {
	if err := p.skipValue(); err != nil {
		return err
	}
	return ErrBadType
}
