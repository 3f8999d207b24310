package event

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the wire form of e to dst and returns the extended slice.
// Fields that are empty or zero and have a column default (session_id, referrer,
// value, currency, order_id, content_ids, props and every field of migration
// 0004) are left out; readers treat a
// missing field as its column default, exactly as ClickHouse's JSONEachRow does.
// Invalid UTF-8 is replaced by U+FFFD so that the output is always valid JSON.
func AppendJSON(dst []byte, e *Event) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = AppendString(dst, e.EventID)
	dst = append(dst, `,"pixel_id":`...)
	dst = AppendString(dst, e.PixelID)
	dst = append(dst, `,"visitor_id":`...)
	dst = AppendString(dst, e.VisitorID)
	if len(e.SessionID) > 0 {
		dst = append(dst, `,"session_id":`...)
		dst = AppendString(dst, e.SessionID)
	}
	dst = append(dst, `,"event":`...)
	dst = AppendString(dst, e.Name)
	dst = append(dst, `,"ts":`...)
	ts := len(dst)
	dst = strconv.AppendInt(dst, e.TS, 10)
	digits := len(dst) - ts
	dst = append(dst, `,"received_at":`...)
	if e.ReceivedAt == e.TS {
		// A hit without a client time, or one from the same second: the
		// digits are those just written.
		dst = append(dst, dst[ts:ts+digits]...)
	} else {
		dst = strconv.AppendInt(dst, e.ReceivedAt, 10)
	}
	dst = append(dst, `,"url":`...)
	dst = AppendString(dst, e.URL)
	if len(e.Referrer) > 0 {
		dst = append(dst, `,"referrer":`...)
		dst = AppendString(dst, e.Referrer)
	}
	if e.Value != 0 {
		dst = append(dst, `,"value":`...)
		dst = appendValue(dst, e.Value)
	}
	if len(e.Currency) > 0 {
		dst = append(dst, `,"currency":`...)
		dst = AppendString(dst, e.Currency)
	}
	if len(e.OrderID) > 0 {
		dst = append(dst, `,"order_id":`...)
		dst = AppendString(dst, e.OrderID)
	}
	if len(e.ContentIDs) > 0 {
		dst = append(dst, `,"content_ids":[`...)
		for i, id := range e.ContentIDs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, id)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"ip":`...)
	dst = AppendString(dst, e.IP)
	dst = append(dst, `,"user_agent":`...)
	dst = AppendString(dst, e.UserAgent)
	if len(e.Props) > 0 {
		dst = append(dst, `,"props":`...)
		dst = AppendString(dst, e.Props)
	}
	if e.TSMs != 0 {
		dst = append(dst, `,"ts_ms":`...)
		dst = strconv.AppendInt(dst, e.TSMs, 10)
	}
	if e.EngagedMs != 0 {
		dst = append(dst, `,"engaged_ms":`...)
		dst = strconv.AppendInt(dst, e.EngagedMs, 10)
	}
	if e.ClickTSMs != 0 {
		dst = append(dst, `,"click_ts_ms":`...)
		dst = strconv.AppendInt(dst, e.ClickTSMs, 10)
	}
	if e.GPC {
		dst = append(dst, `,"gpc":1`...)
	}
	if e.DNT {
		dst = append(dst, `,"dnt":1`...)
	}
	if e.IsBot {
		dst = append(dst, `,"is_bot":1`...)
	}
	for i, s := range &e.Tracking {
		if len(s) > 0 {
			dst = append(dst, ',', '"')
			dst = append(dst, TrackingColumns[i]...)
			dst = append(dst, '"', ':')
			dst = AppendString(dst, s)
		}
	}
	return append(dst, '}')
}

// appendValue appends v as strconv.AppendFloat(dst, v, 'g', -1, 64) does.
// A price (at most two decimals, below a million) takes a short way:
// its shortest text is its cents with the trailing zeros dropped, because
// no other decimal of two places lies as near it (TestAppendValue).
func appendValue(dst []byte, v float64) []byte {
	a := math.Abs(v)
	if a >= 1e6 || a < 0.01 {
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	}
	cents := math.Round(a * 100)
	if cents/100 != a {
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	}
	if v < 0 {
		dst = append(dst, '-')
	}
	c := uint64(cents)
	dst = strconv.AppendUint(dst, c/100, 10)
	switch c %= 100; {
	case c == 0:
	case c%10 == 0:
		dst = append(dst, '.', byte('0'+c/10))
	default:
		dst = append(dst, '.', byte('0'+c/10), byte('0'+c%10))
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a quoted JSON string. Control characters, quotes and
// backslashes are escaped; invalid UTF-8 becomes U+FFFD.
func AppendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := skipPlain(s, 0); i < len(s); i = skipPlain(s, i) {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++ // marked by a borrow in skipPlain, but plain
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// skipPlain returns the index of the first byte of s from i on that
// AppendString must look at (see escapeMask), or len(s). Most of what the
// collector encodes (ids, URLs, user agents) is printable ASCII: it is
// skipped eight bytes at a time. It may stop early at a plain byte, never
// late.
func skipPlain(s []byte, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := escapeMask(binary.LittleEndian.Uint64(s[i : i+8])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	if i == len(s) {
		return i
	}
	if len(s) >= 8 {
		// The last eight bytes hold the tail; those before i are shifted
		// out (a borrow from one of them may mark a tail byte falsely).
		m := escapeMask(binary.LittleEndian.Uint64(s[len(s)-8:])) >> (8 * (8 - (len(s) - i)))
		if m == 0 {
			return len(s)
		}
		return i + bits.TrailingZeros64(m)>>3
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

const (
	ones = 0x0101010101010101 // 0x01 in every byte
	high = 0x8080808080808080 // the top bit of every byte
)

// escapeMask has the top bit set in each byte of w (eight bytes of a string,
// little-endian) that AppendString must look at: a control character, a
// quote, a backslash or a byte of multi-byte UTF-8; it is 0 when there is
// none. Bytes above the first such byte may be marked falsely (a borrow
// runs upwards), the lowest marked byte never is: callers use only that one.
func escapeMask(w uint64) uint64 {
	// For a byte below 0x80, b-0x20 has its top bit set when b < 0x20, and
	// (b^q)-1 when b == q; w itself marks the bytes from 0x80 on.
	return ((w - ones*0x20) | (w ^ ones*'"' - ones) | (w ^ ones*'\\' - ones) | w) & high
}
