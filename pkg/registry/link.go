package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Signed click links: COLLECTOR/r?id=ID&u=DEST&s=SIG, where SIG is the
// first LinkSigLen characters of base64url(HMAC-SHA256(link key, DEST)).
// The collector's GET /r redirects to DEST only when SIG is right (or DEST
// is on the pixel's domains): never an open redirect. 22 characters are 132
// bits of the MAC, far beyond guessing, and keep links short; VerifyLink
// also takes the full 43.
const (
	LinkSigLen     = 22
	linkSigFullLen = 43 // base64url of 32 bytes, unpadded
)

// SignLink returns the click link of pixel p that redirects to dest
// through the collector at collectorURL ("https://collector.example").
// dest must be an absolute http(s) URL without user info.
func SignLink(p *Pixel, collectorURL, dest string) (string, error) {
	if err := ValidDestination(dest); err != nil {
		return "", err
	}
	base, err := collectorBase(collectorURL)
	if err != nil {
		return "", err
	}
	var mac [sha256.Size]byte
	if !linkMAC(&mac, p, []byte(dest)) {
		return "", fmt.Errorf("pixel %s has no valid link key; it cannot sign links", p.ID)
	}
	var sig [linkSigFullLen]byte
	base64.RawURLEncoding.Encode(sig[:], mac[:])
	return base + "/r?id=" + url.QueryEscape(p.ID) + "&u=" + url.QueryEscape(dest) + "&s=" + string(sig[:LinkSigLen]), nil
}

// ValidDestination says why dest cannot be a click link's destination: the
// collector's GET /r takes only what pixel.CheckRedirect takes (an absolute
// http or https URL with a plain host, no user info, no backslash or
// escape tricks), so a link is never signed that /r would refuse.
func ValidDestination(dest string) error {
	if _, err := pixel.CheckRedirect([]byte(dest)); err != nil {
		return fmt.Errorf("destination %q cannot be a click link: %w", dest, err)
	}
	return nil
}

// collectorBase checks the collector's public URL and returns it without
// a final slash.
func collectorBase(collectorURL string) (string, error) {
	u, err := url.Parse(collectorURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("collector URL %q: give the collector's public URL, such as https://collector.example", collectorURL)
	}
	return strings.TrimRight(collectorURL, "/"), nil
}

// VerifyLink reports, in constant time, whether sig (the s= of a click
// link, 22 or 43 characters) signs dest (its u=, unescaped) for pixel p.
// The collector calls it on the request path: it does not allocate.
func VerifyLink(p *Pixel, dest, sig []byte) bool {
	if p == nil || (len(sig) != LinkSigLen && len(sig) != linkSigFullLen) {
		return false
	}
	var mac [sha256.Size]byte
	if !linkMAC(&mac, p, dest) {
		return false
	}
	var want [linkSigFullLen]byte
	base64.RawURLEncoding.Encode(want[:], mac[:])
	return subtle.ConstantTimeCompare(want[:len(sig)], sig) == 1
}

// linkMAC computes HMAC-SHA256 (RFC 2104) of msg under p's link key into
// mac; false when the key is not 64 hex digits. crypto/hmac allocates its
// two hashes per call, so the MAC is computed with sha256.Sum256 over a
// pooled buffer holding the padded key and the message.
func linkMAC(mac *[sha256.Size]byte, p *Pixel, msg []byte) bool {
	const block = 64 // SHA-256's block size
	var key [block]byte
	if !decodeKey(key[:32], p.LinkKey) {
		return false
	}
	bp := macBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, k := range key {
		buf = append(buf, k^0x36)
	}
	buf = append(buf, msg...)
	inner := sha256.Sum256(buf)
	*bp = buf[:0]
	macBufs.Put(bp)

	var outer [block + sha256.Size]byte
	for i, k := range key {
		outer[i] = k ^ 0x5c
	}
	copy(outer[block:], inner[:])
	*mac = sha256.Sum256(outer[:])
	return true
}

var macBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// decodeKey decodes the hex link key into dst (32 bytes).
func decodeKey(dst []byte, key string) bool {
	if len(key) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(key[2*i])
		lo, ok2 := unhex(key[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
