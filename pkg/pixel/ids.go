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

// AppendNewEventID appends a UUID version 7 (48-bit millisecond time, 74 random
// bits) in its canonical 36-character form; ids sort roughly by creation time.
func AppendNewEventID(dst []byte, now time.Time) []byte {
	var u [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(u[0:8], ms<<16|rand.Uint64()&0xffff)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64())
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	for i, b := range u {
		switch i {
		case 4, 6, 8, 10:
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return dst
}

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
		if !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	switch b[VisitorIDLen-1] {
	case 'A', 'Q', 'g', 'w': // base64url values 0, 16, 32 and 48
		return true
	}
	return false
}
