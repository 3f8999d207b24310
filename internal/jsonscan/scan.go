// Package jsonscan reads JSON text in place, one value at a time, without
// allocating: the one scanner behind the collector's POST /collect bodies
// (pkg/pixel) and the consumer's wire format (pkg/event). It judges JSON's
// grammar (RFC 8259) and nesting; what a value means is the caller's.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting, so that hostile input cannot recurse deeply. The
// outermost value is at depth 0, its members or elements at depth 1, and so
// on; an object or array at a depth above MaxDepth is malformed.
const MaxDepth = 32

// Kind is the JSON type of a value, told by its first byte.
type Kind uint8

const (
	Invalid Kind = iota // no value, or a malformed one
	String
	Number
	Bool
	Null
	Object
	Array
)

// KindOf returns the kind of the value that starts with c, or Invalid when
// no JSON value starts with c.
func KindOf(c byte) Kind {
	switch {
	case c == '"':
		return String
	case c == '-' || c >= '0' && c <= '9':
		return Number
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '{':
		return Object
	case c == '[':
		return Array
	}
	return Invalid
}

// Scanner walks one JSON text. Its methods never read past the end of the
// text and never allocate (but for growing a dst too small for unescaped
// text). Once one of them has found the text malformed, Malformed reports
// it and the scanner's position means nothing. A Scanner is a small value:
// a copy is a checkpoint to return to.
type Scanner struct {
	data      []byte
	pos       int
	depth     int    // objects and arrays entered with Open and not yet closed
	objects   uint64 // bit d set: the one entered at depth d is an object, not an array
	malformed bool
}

// New returns a Scanner at the start of data.
func New(data []byte) Scanner { return Scanner{data: data} }

// Malformed reports whether a method found the text malformed.
func (s *Scanner) Malformed() bool { return s.malformed }

// fail records malformed text.
func (s *Scanner) fail() bool {
	s.malformed = true
	return false
}

// Peek skips white space and returns the next byte without consuming it, or
// 0 at the end.
func (s *Scanner) Peek() byte {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return s.data[s.pos]
	}
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

// AtEnd reports whether only white space is left.
func (s *Scanner) AtEnd() bool {
	s.Peek()
	return s.pos == len(s.data)
}

// Open enters the object or array at the cursor and reports whether it has a
// first member or element, at which it leaves the cursor; an empty one is
// consumed whole. Read an object's members with Key and a value, an array's
// elements with a value, and call Next after each.
func (s *Scanner) Open() bool {
	c := s.Peek()
	if (c != '{' && c != '[') || s.depth > MaxDepth {
		return s.fail()
	}
	s.pos++
	s.objects = s.objects&^(1<<s.depth) | uint64(c>>5&1)<<s.depth // '{' is '[' with bit 5 set
	s.depth++
	if s.Peek() == c+2 { // ']' and '}' follow '[' and '{' by two
		s.pos++
		s.depth--
		return false
	}
	return true
}

// Next moves past the comma after a member or element and reports true, or
// past the closing bracket of the object or array and reports false. Any
// other byte is malformed (and Next reports false).
func (s *Scanner) Next() bool {
	if s.depth > 0 {
		// '}' is ']' with bit 5 set, as '{' is '['.
		switch s.Peek() {
		case ',':
			s.pos++
			return true
		case ']' | byte(s.objects>>(s.depth-1)&1)<<5:
			s.pos++
			s.depth--
			return false
		}
	}
	return s.fail()
}

// Key reads an object member's key and the colon after it. A key without
// escapes is a slice of the text; one with escapes is unescaped and appended
// to dst (see Value).
func (s *Scanner) Key(dst []byte) ([]byte, []byte, bool) {
	if s.Peek() != '"' {
		return nil, dst, s.fail()
	}
	key, dst, ok := s.str(dst)
	if !ok {
		return nil, dst, false
	}
	if s.Peek() != ':' {
		return nil, dst, s.fail()
	}
	s.pos++
	return key, dst, true
}

// Value reads the value at the cursor and returns its kind and text: a
// string's unescaped text, a number's or boolean's literal, nil for null;
// an object or array is skipped (see Skip) and its text is nil. A string
// without escapes is a slice of the text; one with escapes is unescaped and
// appended to dst, which is returned (grown only when its capacity is too
// small), and the text is a slice of dst with no room to append to. A lone
// UTF-16 surrogate becomes U+FFFD; the text is not checked for valid UTF-8,
// raw bytes are kept as they are. Malformed text is kind Invalid.
func (s *Scanner) Value(dst []byte) (Kind, []byte, []byte) {
	c := s.Peek()
	k := KindOf(c)
	start := s.pos
	ok := false
	switch k {
	case String:
		var str []byte
		if str, dst, ok = s.str(dst); ok {
			return String, str, dst
		}
	case Number:
		ok = s.number()
	case Bool:
		ok = s.literal("true") || s.literal("false")
	case Null:
		if s.literal("null") {
			return Null, nil, dst
		}
	case Object, Array:
		if s.Skip() {
			return k, nil, dst
		}
	}
	if !ok {
		s.fail()
		return Invalid, nil, dst
	}
	return k, s.data[start:s.pos], dst
}

// Skip passes over the value at the cursor, checking it as Value would
// (without unescaping), and reports whether it is well formed.
func (s *Scanner) Skip() bool {
	return s.skip(s.depth) || s.fail()
}

// skip passes over the value at the cursor, at the given depth.
func (s *Scanner) skip(depth int) bool {
	switch open := s.Peek(); open {
	case '"':
		return s.skipString()
	case '{', '[':
		if depth > MaxDepth {
			return false
		}
		closing := open + 2 // ']' and '}' follow '[' and '{' by two
		s.pos++
		if s.Peek() == closing {
			s.pos++
			return true
		}
		for {
			if open == '{' {
				if s.Peek() != '"' || !s.skipString() || s.Peek() != ':' {
					return false
				}
				s.pos++
			}
			if !s.skip(depth + 1) {
				return false
			}
			switch s.Peek() {
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
	}
	return s.number()
}

func (s *Scanner) literal(lit string) bool {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}

// plainEnd returns the index of the first byte at or after d[i] that does
// not stand for itself inside a JSON string, or len(d). It looks at eight
// bytes at a time: a byte below 0x20, or one equal to '"' or '\\' (a zero
// byte of q or b), sets the high bit of its byte in m, and the lowest bit
// set is exact (the tests' false alarms are only above a true one).
func plainEnd(d []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		q, b := x^('"'*ones), x^('\\'*ones)
		if m := ((x-0x20*ones)&^x | (q-ones)&^q | (b-ones)&^b) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(d) && plain[d[i]] {
		i++
	}
	return i
}

// plain marks the bytes that stand for themselves inside a JSON string: all
// but the quote, the backslash and the control characters.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string whose opening quote is at the cursor.
func (s *Scanner) str(dst []byte) ([]byte, []byte, bool) {
	d := s.data
	start := s.pos + 1
	i := plainEnd(d, start)
	if i < len(d) && d[i] == '"' {
		s.pos = i + 1
		return d[start:i:i], dst, true // no escapes
	}
	if i == len(d) || d[i] != '\\' {
		return nil, dst, s.fail()
	}
	from := len(dst)
	out, end, ok := appendUnescaped(append(dst, d[start:i]...), d, i)
	if !ok {
		return nil, dst, s.fail()
	}
	s.pos = end
	return out[from:len(out):len(out)], out, true
}

// skipString passes over the string whose opening quote is at the cursor,
// checking it as str does.
func (s *Scanner) skipString() bool {
	// Eight bytes at a time up to the first escape; escapes come in
	// clusters, so byte by byte after it.
	d := s.data
	for i := plainEnd(d, s.pos+1); i < len(d); i++ {
		if plain[d[i]] {
			continue
		}
		switch d[i] {
		case '"':
			s.pos = i + 1
			return true
		case '\\':
			if i+1 >= len(d) {
				return s.fail()
			}
			i++
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hex4(d, i+1); !ok {
					return s.fail()
				}
				i += 4
			default:
				return s.fail()
			}
		default:
			return s.fail() // a control character
		}
	}
	return s.fail()
}

// appendUnescaped decodes the rest of the JSON string that goes on at
// src[i] (inside the quotes) and appends it to dst. It returns the extended
// dst, the index just after the closing quote, and whether the string is
// well formed: no control characters, only JSON's escapes.
func appendUnescaped(dst, src []byte, i int) ([]byte, int, bool) {
	for {
		for i < len(src) && plain[src[i]] {
			dst = append(dst, src[i])
			i++
		}
		if i+1 >= len(src) || src[i] != '\\' {
			// The closing quote, a control character, or the end.
			return dst, i + 1, i < len(src) && src[i] == '"'
		}
		esc := src[i+1]
		i += 2
		switch esc {
		case '"', '\\', '/':
			dst = append(dst, esc)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(src, i)
			if !ok {
				return dst, 0, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
					r2, ok = hex4(src, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, 0, false
		}
	}
}

// hex4 reads the four hexadecimal digits at b[i:i+4] of a \u escape.
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number passes over the JSON number at the cursor, reporting whether one
// following the grammar starts there (-?int frac? exp?: no "+1", "01", ".5",
// "1." or "1e"); the cursor moves only when it does.
func (s *Scanner) number() bool {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = skipDigits(d, i)
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		if i++; i >= len(d) || d[i] < '0' || d[i] > '9' {
			return false
		}
		i = skipDigits(d, i)
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		if i++; i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return false
		}
		i = skipDigits(d, i)
	}
	s.pos = i
	return true
}

func skipDigits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}
