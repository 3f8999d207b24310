package event

import (
	"unicode/utf16"
	"unicode/utf8"
)

// JSON text helpers shared by this package's decoder and the collector's
// body parser (pkg/pixel), so that both read JSON strings and numbers by the
// same rules.

// AppendUnescaped decodes the JSON string whose body starts at src[start]
// (just after the opening quote) and appends it to dst. It returns the
// extended dst, the index just after the closing quote, and whether the
// string is well formed: no raw control characters, only JSON's escapes. A
// lone UTF-16 surrogate becomes U+FFFD. The result is not checked for valid
// UTF-8; raw bytes are copied as they are.
func AppendUnescaped(dst, src []byte, start int) ([]byte, int, bool) {
	for i := start; i < len(src); {
		c := src[i]
		switch {
		case c == '"':
			return dst, i + 1, true
		case c < 0x20:
			return dst, 0, false
		case c != '\\':
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(src) {
			return dst, 0, false
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
			r, ok := Hex4(src, i)
			if !ok {
				return dst, 0, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
					r2, ok = Hex4(src, i+2)
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
	return dst, 0, false
}

// Hex4 reads the four hexadecimal digits at b[i:i+4] of a \u escape.
func Hex4(b []byte, i int) (rune, bool) {
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

// NumberEnd returns the index just after the JSON number that starts at d[i],
// and false when none starts there or it breaks the JSON grammar
// (-?int frac? exp?: no "+1", "01", ".5", "1." or "1e").
func NumberEnd(d []byte, i int) (int, bool) {
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = skipDigits(d, i)
	default:
		return i, false
	}
	if i < len(d) && d[i] == '.' {
		if i++; i >= len(d) || d[i] < '0' || d[i] > '9' {
			return i, false
		}
		i = skipDigits(d, i)
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		if i++; i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return i, false
		}
		i = skipDigits(d, i)
	}
	return i, true
}

func skipDigits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}
