package pixel

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"
)

// CookielessSalts make the visitor ids of hits recorded without a cookie
// (a pixel in consent mode "required", before the visitor's grant): the
// SHA-256 of the day's salt, the pixel id, the client IP and the user agent.
// The salt of a day is an HMAC of the day's number under a key that only
// the collectors know, so the ids of one visitor agree across collectors and
// restarts within a UTC day, change every day, and cannot be recomputed
// from the stored data (which holds neither the key nor the salts).
type CookielessSalts struct {
	key []byte
	mu  sync.Mutex
	day int64
	cur [sha256.Size]byte
}

// NewCookielessSalts returns salts under key (at least 16 bytes; nil: a
// random key, so ids change when the process restarts).
func NewCookielessSalts(key []byte) *CookielessSalts {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails
	}
	return &CookielessSalts{key: key, day: -1}
}

// salt returns the salt of now's UTC day.
func (s *CookielessSalts) salt(now time.Time) [sha256.Size]byte {
	day := now.Unix() / 86400
	s.mu.Lock()
	defer s.mu.Unlock()
	if day != s.day {
		m := hmac.New(sha256.New, s.key)
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(day))
		m.Write(b[:])
		m.Sum(s.cur[:0])
		s.day = day
	}
	return s.cur
}

// appendCookielessID appends the cookieless visitor id of a hit for pixel
// from ip with user agent ua at now: 22 characters of base64url, the form
// of a cookie id. scratch is room for the hashed input, returned grown.
func (s *CookielessSalts) appendCookielessID(dst, scratch []byte, now time.Time, pixel, ip, ua []byte) ([]byte, []byte) {
	salt := s.salt(now)
	scratch = append(scratch[:0], salt[:]...)
	scratch = append(scratch, pixel...)
	scratch = append(scratch, 0)
	scratch = append(scratch, ip...)
	scratch = append(scratch, 0)
	scratch = append(scratch, ua...)
	sum := sha256.Sum256(scratch)
	return base64.RawURLEncoding.AppendEncode(dst, sum[:16]), scratch
}
