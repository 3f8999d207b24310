package event

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Parse decodes one wire-format message into e (which it resets first) and
// validates it. String fields alias data when they hold no escapes, otherwise
// they point into e's own scratch space; either way they are valid until data is
// modified or e is reused. Unknown fields are skipped so that an older reader
// accepts a newer writer's additions; a known field of the wrong type is ErrType.
// A field given twice keeps its last value, as with encoding/json.
func Parse(data []byte, e *Event) error {
	e.Reset()
	// Unescaped text is never longer than its escaped form, so one allocation
	// of len(data) keeps every slice into scratch stable.
	if cap(e.scratch) < len(data) {
		e.scratch = make([]byte, 0, len(data))
	}
	p := parser{data: data, e: e}
	if err := p.object(); err != nil {
		return err
	}
	return e.Validate()
}

type parser struct {
	data []byte
	pos  int
	e    *Event
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte without consuming it, or 0.
func (p *parser) next() byte {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return 0
	}
	return p.data[p.pos]
}

func (p *parser) expect(c byte) error {
	if p.next() != c {
		return ErrSyntax
	}
	p.pos++
	return nil
}

func (p *parser) object() error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.next() == '}' {
		p.pos++
		return p.end()
	}
	for {
		if p.next() != '"' {
			return ErrSyntax
		}
		key, err := p.rawKey()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := p.field(key); err != nil {
			return err
		}
		switch p.next() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return p.end()
		default:
			return ErrSyntax
		}
	}
}

func (p *parser) end() error {
	if p.next() != 0 {
		return ErrSyntax
	}
	return nil
}

// rawKey reads a key. Our keys never need escapes; a key with escapes is
// unescaped like any string.
func (p *parser) rawKey() ([]byte, error) {
	return p.str()
}

func (p *parser) field(key []byte) error {
	e := p.e
	var err error
	switch string(key) {
	case "event_id":
		e.EventID, err = p.strField()
	case "pixel_id":
		e.PixelID, err = p.strField()
	case "visitor_id":
		e.VisitorID, err = p.strField()
	case "session_id":
		e.SessionID, err = p.strField()
	case "event":
		e.Name, err = p.strField()
	case "ts":
		e.TS, err = p.intField()
	case "received_at":
		e.ReceivedAt, err = p.intField()
	case "url":
		e.URL, err = p.strField()
	case "referrer":
		e.Referrer, err = p.strField()
	case "value":
		e.Value, err = p.floatField()
	case "currency":
		e.Currency, err = p.strField()
	case "order_id":
		e.OrderID, err = p.strField()
	case "content_ids":
		err = p.contentIDs()
	case "ip":
		e.IP, err = p.strField()
	case "user_agent":
		e.UserAgent, err = p.strField()
	case "props":
		e.Props, err = p.strField()
	default:
		err = p.skipValue(0)
	}
	return err
}

func (p *parser) strField() ([]byte, error) {
	if c := p.next(); c != '"' {
		return nil, wrongType(c)
	}
	return p.str()
}

// wrongType is the error for a value starting with c where another type was
// expected: ErrType when c starts some JSON value, else ErrSyntax.
func wrongType(c byte) error {
	switch {
	case c == '"', c == '{', c == '[', c == 't', c == 'f', c == 'n', c == '-', c >= '0' && c <= '9':
		return ErrType
	}
	return ErrSyntax
}

// str reads a JSON string starting at the opening quote.
func (p *parser) str() ([]byte, error) {
	p.pos++ // opening quote
	start := p.pos
	i := bytes.IndexByte(p.data[start:], '"')
	if i < 0 {
		return nil, ErrSyntax
	}
	raw := p.data[start : start+i]
	if bytes.IndexByte(raw, '\\') < 0 {
		if !validStringBytes(raw) {
			return nil, ErrSyntax
		}
		p.pos = start + i + 1
		return raw, nil
	}
	return p.unescape(start)
}

// validStringBytes reports whether raw holds no control characters and is UTF-8.
func validStringBytes(raw []byte) bool {
	for _, c := range raw {
		if c < 0x20 {
			return false
		}
	}
	return utf8.Valid(raw)
}

// unescape decodes the string that starts at data[start] into scratch.
func (p *parser) unescape(start int) ([]byte, error) {
	from := len(p.e.scratch)
	s, end, ok := AppendUnescaped(p.e.scratch, p.data, start)
	if !ok {
		return nil, ErrSyntax
	}
	p.pos = end
	p.e.scratch = s
	out := s[from:len(s):len(s)]
	if !utf8.Valid(out) {
		return nil, ErrSyntax
	}
	return out, nil
}

// number returns the bytes of the JSON number at the cursor. It is ErrType
// when no number starts there and ErrSyntax when one starts but does not follow
// the JSON grammar (-?int frac? exp?; no "+1", "01", ".5", "1." or "1e").
func (p *parser) number() ([]byte, error) {
	p.skipSpace()
	start := p.pos
	end, ok := NumberEnd(p.data, start)
	switch {
	case ok:
		p.pos = end
		return p.data[start:end], nil
	case end == start:
		return nil, wrongType(p.next())
	}
	return nil, ErrSyntax
}

func (p *parser) intField() (int64, error) {
	b, err := p.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(b), len(b)), 10, 64)
	if err != nil {
		return 0, ErrRange
	}
	return n, nil
}

func (p *parser) floatField() (float64, error) {
	b, err := p.number()
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, ErrRange
	}
	return f, nil
}

func (p *parser) contentIDs() error {
	if c := p.next(); c != '[' {
		return wrongType(c)
	}
	p.e.ContentIDs = p.e.ContentIDs[:0] // a repeated field replaces, like every other field
	p.pos++
	if p.next() == ']' {
		p.pos++
		return nil
	}
	for {
		s, err := p.strField()
		if err != nil {
			return err
		}
		if len(p.e.ContentIDs) == MaxContentIDs {
			// Stop before a hostile array of empty strings grows the
			// slice to millions of entries.
			return ErrTooLarge
		}
		p.e.ContentIDs = append(p.e.ContentIDs, s)
		switch p.next() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return ErrSyntax
		}
	}
}

// maxDepth bounds nesting in skipped values so hostile input cannot recurse deeply.
const maxDepth = 32

// skipValue skips any JSON value at the cursor.
func (p *parser) skipValue(depth int) error {
	if depth > maxDepth {
		return ErrSyntax
	}
	switch c := p.next(); c {
	case '"':
		_, err := p.str()
		return err
	case '{', '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		p.pos++
		if p.next() == closing {
			p.pos++
			return nil
		}
		for {
			if c == '{' {
				if p.next() != '"' {
					return ErrSyntax
				}
				if _, err := p.str(); err != nil {
					return err
				}
				if err := p.expect(':'); err != nil {
					return err
				}
			}
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			switch p.next() {
			case ',':
				p.pos++
			case closing:
				p.pos++
				return nil
			default:
				return ErrSyntax
			}
		}
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		// Any well-formed number will do, even one too big for a float64:
		// the field is not ours to judge.
		if _, err := p.number(); err != nil {
			return ErrSyntax
		}
		return nil
	}
}

func (p *parser) literal(lit string) error {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(lit)) {
		return ErrSyntax
	}
	p.pos += len(lit)
	return nil
}
