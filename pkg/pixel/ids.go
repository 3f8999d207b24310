package pixel

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// The generators below use math/rand/v2's global source: ChaCha8, seeded by the
// runtime from the operating system, safe for concurrent use and free of
// allocations. Identifiers must be unguessable, not secret keys.

// VisitorIDLen is the length of a generated visitor or session id, the only
// length ValidCookieID accepts.
const VisitorIDLen = 22

// AppendNewID appends a random 128-bit id as 22 characters of unpadded base64url.
func AppendNewID(dst []byte) []byte {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64())
	return base64.RawURLEncoding.AppendEncode(dst, raw[:])
}

// base64URL is the base64url alphabet, in the order of the values.
const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// AppendNewEventID appends a UUID version 7 (48-bit millisecond time, 74 random
// bits) in its canonical 36-character form; ids sort roughly by creation time.
func AppendNewEventID(dst []byte, now time.Time) []byte {
	var u [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(u[0:8], ms<<16|rand.Uint64()&0xffff)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64())
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return appendUUID(dst, &u)
}

// appendUUID appends u in the canonical 8-4-4-4-12 form, in lower case.
func appendUUID(dst []byte, u *[16]byte) []byte {
	text := [36]byte{8: '-', 13: '-', 18: '-', 23: '-'}
	for i, at := range uuidHex {
		text[at], text[at+1] = hexDigits[u[i]>>4], hexDigits[u[i]&0xf]
	}
	return append(dst, text[:]...)
}

// uuidHex is where the two hex digits of each byte of a UUID go in its text.
var uuidHex = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

const hexDigits = "0123456789abcdef"

// ValidCookieID reports whether a cookie value is an id in the form
// AppendNewID issues, and only that: 22 characters of unpadded base64url
// holding 128 bits. 22 characters have room for 132 bits, so the last one
// carries the final 2 bits and 4 zero bits: it is one of A, Q, g and w.
// Every id thus has a single spelling, and a value that is not ours (an id
// a client chose, another tool's id, a truncated or padded one) is replaced
// with a new id rather than adopted.
func ValidCookieID(b []byte) bool {
	if len(b) != VisitorIDLen {
		return false
	}
	for _, c := range b[:VisitorIDLen-1] {
		if !isBase64URL[c] {
			return false
		}
	}
	switch b[VisitorIDLen-1] {
	case 'A', 'Q', 'g', 'w': // base64url values 0, 16, 32 and 48
		return true
	}
	return false
}

// isBase64URL says which bytes are base64url characters.
var isBase64URL = func() (t [256]bool) {
	for i := range len(base64URL) {
		t[base64URL[i]] = true
	}
	return t
}()
