// Package registry is the pixel registry: which pixels exist, who owns them
// (their allowed site domains and server secret) and how each one's hits are
// treated (pixel.Settings). It stores pixels in ClickHouse (pixel.pixels),
// and gives the collector an immutable Snapshot it can look pixels up in on
// the request path without allocating.
package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Status of a pixel.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Pixel is one registered pixel.
type Pixel struct {
	ID         string   // random, URL-safe; the id= of every hit
	Name       string   // for people
	Domains    []string // site hosts allowed to send hits: "shop.example", "*.shop.example"
	Status     string   // StatusActive or StatusDisabled
	SecretHash string   // hex SHA-256 of the server-API secret; the secret itself is never stored
	LinkKey    string   // hex HMAC key that signs click-redirect destinations
	TimeZone   string   // IANA name; days in reports are this zone's days
	Settings   pixel.Settings
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Version    uint64 // the ReplacingMergeTree version: the highest row wins
}

// Zone is the pixel's IANA time zone, UTC when none is set: the zone
// whose days its reports, audiences and dashboard count.
func (p *Pixel) Zone() string {
	if p.TimeZone == "" {
		return "UTC"
	}
	return p.TimeZone
}

// Active reports whether the pixel records hits.
func (p *Pixel) Active() bool { return p.Status == StatusActive }

// CheckSecret reports, in constant time, whether secret is the pixel's
// server-API secret.
func (p *Pixel) CheckSecret(secret []byte) bool {
	if len(secret) == 0 || p.SecretHash == "" {
		return false
	}
	sum := sha256.Sum256(secret)
	var want [sha256.Size]byte
	if n, err := hex.Decode(want[:], []byte(p.SecretHash)); err != nil || n != len(want) {
		return false
	}
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// AllowsHost reports whether a page on host (no port; any case) may send
// the pixel's hits: host equals one of the domains, or a domain "*.d"
// matches any subdomain of d (not d itself). A pixel without domains
// allows every host.
func (p *Pixel) AllowsHost(host []byte) bool {
	if len(p.Domains) == 0 {
		return true
	}
	for _, d := range p.Domains {
		if len(d) > 2 && d[0] == '*' && d[1] == '.' {
			suffix := d[1:] // ".shop.example"
			if len(host) > len(suffix) && equalFold(host[len(host)-len(suffix):], suffix) {
				return true
			}
			continue
		}
		if equalFold(host, d) {
			return true
		}
	}
	return false
}

// equalFold compares ASCII case-insensitively (hosts are ASCII: IDNs travel
// as punycode).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Snapshot is the registry at one moment, immutable: the collector swaps a
// new one in atomically on every refresh.
type Snapshot struct {
	byID     map[string]*Pixel
	bySecret map[[sha256.Size]byte]*Pixel // by the SHA-256 of the server secret
}

// NewSnapshot indexes pixels by id (the last of an id wins) and by their
// secret's hash (a pixel without a secret, or with a malformed hash, has
// none).
func NewSnapshot(pixels []*Pixel) *Snapshot {
	s := &Snapshot{byID: make(map[string]*Pixel, len(pixels)), bySecret: make(map[[sha256.Size]byte]*Pixel, len(pixels))}
	for _, p := range pixels {
		s.byID[p.ID] = p
	}
	// From the pixels that won their id, so that a replaced pixel's old
	// secret does not stay valid. Two pixels with one secret (never
	// issued so: secrets are 256 random bits) cannot be told apart: that
	// secret finds none.
	for _, p := range s.byID {
		var h [sha256.Size]byte
		if n, err := hex.Decode(h[:], []byte(p.SecretHash)); err == nil && n == len(h) {
			if _, dup := s.bySecret[h]; dup {
				s.bySecret[h] = nil
				continue
			}
			s.bySecret[h] = p
		}
	}
	return s
}

// LookupSecret returns the pixel whose server secret is secret, or nil
// (also for a secret two pixels share): the Segment-compatible API
// authenticates by the secret alone, its write key, without a pixel id.
// The map is keyed by the secret's SHA-256, so its timing tells nothing
// usable about the secret. It does not allocate.
func (s *Snapshot) LookupSecret(secret []byte) *Pixel {
	if s == nil || len(secret) == 0 {
		return nil
	}
	return s.bySecret[sha256.Sum256(secret)]
}

// Lookup returns the pixel with id, or nil. It does not allocate.
func (s *Snapshot) Lookup(id []byte) *Pixel {
	if s == nil {
		return nil
	}
	return s.byID[string(id)]
}

// Len is the number of pixels, disabled ones included.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byID)
}

// Pixels returns the snapshot's pixels in no particular order.
func (s *Snapshot) Pixels() []*Pixel {
	ps := make([]*Pixel, 0, s.Len())
	for _, p := range s.byID {
		ps = append(ps, p)
	}
	return ps
}
