package pixel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"unicode"
	"unicode/utf8"
)

// Identifier normalisation: the ad platforms match people by the SHA-256 of
// their email and phone, normalised as each platform documents, so that the
// same person gives the same hash everywhere. Meta (and TikTok, Snap, ...)
// want the email trimmed and in lower case and the phone as digits only,
// country code included, without "+"; Google wants the same email but with
// the dots of a gmail.com or googlemail.com local part removed, and the
// phone in E.164 ("+" and the digits). Raw identifiers are never stored:
// these functions turn them into the hashes the columns hold
// (email_sha256, email_google_sha256, phone_sha256, phone_google_sha256).
//
// Each Append function normalises raw into dst's spare capacity, hashes it
// there and overwrites it with the hash, so that it allocates nothing when
// dst has room for len(raw)+65 more bytes, and leaves no copy of the raw
// text behind in dst's memory. Input that normalises to nothing (empty, only
// white space, a phone without digits) appends nothing: the hash of the
// empty string would match every such record.

// SHA256HexLen is the length of a SHA-256 in hex.
const SHA256HexLen = 2 * sha256.Size

// AppendSHA256Hex appends the SHA-256 of b in lower-case hex.
func AppendSHA256Hex(dst, b []byte) []byte {
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:])
}

// AppendEmailSHA256 appends the hex SHA-256 of the email raw normalised for
// Meta: white space trimmed, lower case.
func AppendEmailSHA256(dst, raw []byte) []byte {
	start := len(dst)
	return hashNormalized(appendEmail(dst, raw, false), start)
}

// AppendEmailGoogleSHA256 appends the hex SHA-256 of the email raw
// normalised for Google: as for Meta, and for gmail.com and googlemail.com
// addresses without the dots of the local part.
func AppendEmailGoogleSHA256(dst, raw []byte) []byte {
	start := len(dst)
	return hashNormalized(appendEmail(dst, raw, true), start)
}

// AppendPhoneSHA256 appends the hex SHA-256 of the phone number raw
// normalised for Meta: digits only, without a leading international prefix
// "00" ("+33 6 12-34-56-78" and "0033612345678" both become "33612345678").
// The number must carry its country code: a national number cannot be told
// from an international one without knowing the country.
func AppendPhoneSHA256(dst, raw []byte) []byte {
	start := len(dst)
	return hashNormalized(appendPhoneDigits(dst, raw), start)
}

// AppendPhoneGoogleSHA256 appends the hex SHA-256 of the phone number raw
// in E.164 for Google: "+" followed by the digits AppendPhoneSHA256 hashes.
func AppendPhoneGoogleSHA256(dst, raw []byte) []byte {
	start := len(dst)
	dst = append(dst, '+')
	if dst = appendPhoneDigits(dst, raw); len(dst) == start+1 {
		return dst[:start] // no digits: nothing to hash
	}
	return hashNormalized(dst, start)
}

// IsSHA256Hex reports whether b is a SHA-256 in lower-case hex, the only
// form the hash columns hold.
func IsSHA256Hex(b []byte) bool {
	if len(b) != SHA256HexLen {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// AppendLowerSHA256Hex appends b in lower case and reports true when b is a
// SHA-256 in hex of either case (senders upper-case them at times); it
// appends nothing and reports false for anything else, which the caller
// then treats as a raw identifier to normalise and hash.
func AppendLowerSHA256Hex(dst, b []byte) ([]byte, bool) {
	if len(b) != SHA256HexLen {
		return dst, false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return dst, false
		}
	}
	for _, c := range b {
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// hashNormalized replaces dst[start:], the normalised identifier, with its
// hex SHA-256, wiping the identifier's bytes; an empty one is dropped.
func hashNormalized(dst []byte, start int) []byte {
	norm := dst[start:]
	if len(norm) == 0 {
		return dst
	}
	sum := sha256.Sum256(norm)
	clear(norm)
	return hex.AppendEncode(dst[:start], sum[:])
}

// appendEmail appends the email raw trimmed of white space and in lower
// case; with google, the dots of a gmail.com or googlemail.com local part
// removed. Letters beyond ASCII are lower-cased too (as JavaScript's
// toLowerCase does, which the tag uses); bytes that are not UTF-8 are kept
// as they are.
func appendEmail(dst, raw []byte, google bool) []byte {
	raw = bytes.TrimFunc(raw, isSpace)
	start := len(dst)
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
		i += n
	}
	if !google {
		return dst
	}
	email := dst[start:]
	at := bytes.LastIndexByte(email, '@')
	if at < 0 {
		return dst
	}
	if domain := string(email[at+1:]); domain != "gmail.com" && domain != "googlemail.com" {
		return dst
	}
	// Remove the dots of the local part in place, then move the domain down.
	n := 0
	for _, c := range email[:at] {
		if c != '.' {
			email[n] = c
			n++
		}
	}
	n += copy(email[n:], email[at:])
	// Removing the dots of ". a@gmail.com" uncovers white space to trim,
	// so that normalising a normalised address changes nothing.
	n = copy(email, bytes.TrimLeftFunc(email[:n], isSpace))
	clear(email[n:])
	return dst[:start+n]
}

// isSpace is what JavaScript's trim removes, near enough: Unicode white
// space and the byte order mark.
func isSpace(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }

// appendPhoneDigits appends the ASCII digits of raw, without a leading
// international prefix "00".
func appendPhoneDigits(dst, raw []byte) []byte {
	start := len(dst)
	for _, c := range raw {
		if '0' <= c && c <= '9' {
			dst = append(dst, c)
		}
	}
	if d := dst[start:]; len(d) >= 2 && d[0] == '0' && d[1] == '0' {
		n := copy(d, d[2:])
		clear(d[n:])
		dst = dst[:start+n]
	}
	return dst
}
