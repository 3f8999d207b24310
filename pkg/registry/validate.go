package registry

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// MaxIDLen is the longest pixel id.
const MaxIDLen = 64

// reserved are the names of POST /v1/{name}: the Segment-style endpoints
// share the path with the server API's /v1/{pixel_id}/events, so no pixel
// may be called like one of them.
var reserved = [...]string{"track", "page", "identify", "batch"}

// ValidID reports why id cannot be a pixel id, or nil: an id is 1 to 64
// characters of [A-Za-z0-9_-] (URL-safe as it is, in a query, a path and
// HTML), not starting with '-' (a command line would take it for a flag:
// pixelctl pixel disable -x), and none of the reserved names track, page,
// identify and batch.
func ValidID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("pixel id %q: use 1 to %d characters of A-Z, a-z, 0-9, _ and -", id, MaxIDLen)
	}
	if id[0] == '-' {
		return fmt.Errorf("pixel id %q starts with '-', which command lines take for a flag; choose another id", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !idChar(c) {
			return fmt.Errorf("pixel id %q: character %q is not allowed; use A-Z, a-z, 0-9, _ and -", id, c)
		}
	}
	for _, r := range reserved {
		if id == r {
			return fmt.Errorf("pixel id %q is reserved (POST /v1/%s is another endpoint); choose another id", id, id)
		}
	}
	return nil
}

func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// NormalizeDomains checks a pixel's site domains and returns them in lower
// case, without duplicates, in their order. A domain is a host name
// ("shop.example", "localhost"), a host name after "*." ("*.shop.example":
// every subdomain, not shop.example itself), or an IP address ("127.0.0.1",
// "::1"). Ports, schemes, paths and wildcards elsewhere are refused: the
// collector compares hosts only.
func NormalizeDomains(domains []string) ([]string, error) {
	out := make([]string, 0, len(domains))
	seen := map[string]bool{}
	for _, d := range domains {
		d, err := validDomain(strings.ToLower(strings.TrimSpace(d)))
		if err != nil {
			return nil, err
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}

// validDomain returns d in its one spelling (an IPv6 address without
// brackets, in its short form), or why it is no domain.
func validDomain(d string) (string, error) {
	if d == "" {
		return "", errors.New("empty domain; give host names such as shop.example or *.shop.example")
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(d, "["), "]")); err == nil {
		if ip.Zone() != "" {
			return "", fmt.Errorf("domain %q: an address with a zone cannot be a page's host", d)
		}
		return ip.String(), nil
	}
	if strings.Contains(d, "://") || strings.ContainsAny(d, "/?#@") {
		return "", fmt.Errorf("domain %q: give the host only (shop.example), without scheme, path or user", d)
	}
	if strings.Contains(d, ":") {
		return "", fmt.Errorf("domain %q: ports are not part of a domain (pages on every port of the host are allowed); remove the port", d)
	}
	host := d
	if rest, ok := strings.CutPrefix(d, "*."); ok {
		host = rest
		if _, err := netip.ParseAddr(host); err == nil {
			return "", fmt.Errorf("domain %q: an IP address has no subdomains", d)
		}
	}
	if len(host) > 253 {
		return "", fmt.Errorf("domain %q is longer than 253 characters", d)
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("domain %q: each dot-separated label has 1 to 63 characters", d)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				if c == '*' {
					return "", fmt.Errorf("domain %q: a wildcard is allowed only as the first label, *.shop.example", d)
				}
				return "", fmt.Errorf("domain %q: character %q is not allowed in a host name (international names: use their punycode, xn--...)", d, c)
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("domain %q: a label cannot begin or end with -", d)
		}
	}
	return d, nil
}

// NormalizeTimeZone checks an IANA time zone name; "" is UTC.
func NormalizeTimeZone(tz string) (string, error) {
	tz = strings.TrimSpace(tz)
	if tz == "" {
		return "UTC", nil
	}
	if tz == "Local" {
		return "", errors.New(`time zone "Local" depends on the machine; name the zone, e.g. Europe/Berlin or UTC`)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return "", fmt.Errorf("time zone %q: %w; use an IANA name such as Europe/Berlin or UTC", tz, err)
	}
	return tz, nil
}

// MaxEngagementSeconds bounds the Engaged goal: a day of engaged time on
// one page view is more than any visit.
const MaxEngagementSeconds = 86400

// validSettings checks what the mode types cannot: their range, and the goal.
func validSettings(s pixel.Settings) error {
	if s.EngagementSeconds < 1 || s.EngagementSeconds > MaxEngagementSeconds {
		return fmt.Errorf("engagement seconds %d: use 1 to %d", s.EngagementSeconds, MaxEngagementSeconds)
	}
	if s.Consent > pixel.ConsentRequired || s.IP > pixel.IPDrop || s.GPC > pixel.SignalFlag || s.DNT > pixel.SignalFlag {
		return errors.New("settings hold an unknown mode")
	}
	return nil
}

// ErrInvalid marks what is wrong with a pixel as given (a name, a domain,
// a time zone, a setting), for errors.Is: a front end answers it as the
// user's mistake (400), everything else as its own failure.
var ErrInvalid = errors.New("invalid pixel")

// invalidError is a validation error: its message stays the reason alone.
type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

// validate checks a pixel before it is written, normalising its domains and
// time zone in place; its errors are ErrInvalid.
func validate(p *Pixel) error {
	if err := validateFields(p); err != nil {
		return invalidError{err}
	}
	return nil
}

func validateFields(p *Pixel) error {
	if err := ValidID(p.ID); err != nil {
		return err
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" {
		return errors.New("the pixel needs a name (-name), for people: \"Shop\"")
	}
	if p.Status != StatusActive && p.Status != StatusDisabled {
		return fmt.Errorf("pixel status %q: want %s or %s", p.Status, StatusActive, StatusDisabled)
	}
	var err error
	if p.Domains, err = NormalizeDomains(p.Domains); err != nil {
		return err
	}
	if p.TimeZone, err = NormalizeTimeZone(p.TimeZone); err != nil {
		return err
	}
	return validSettings(p.Settings)
}
