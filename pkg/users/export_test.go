package users

import "time"

// SetClock makes s read the time from now.
func SetClock(s *Store, now func() time.Time) { s.now = now }

// SetParams makes s hash new passwords (and the dummy) with p.
func SetParams(s *Store, p Params) { s.params = p }

// PasswordAlphabet is GeneratePassword's alphabet.
const PasswordAlphabet = passwordAlphabet

// FormatPHC is the PHC string of a hash.
func FormatPHC(p Params, salt, key []byte) string { return formatPHC(p, salt, key) }

// HoldHashSlots takes every hashing slot of s until release.
func HoldHashSlots(s *Store) (release func()) {
	for range cap(s.hashing) {
		s.hashing <- struct{}{}
	}
	return func() {
		for range cap(s.hashing) {
			<-s.hashing
		}
	}
}
