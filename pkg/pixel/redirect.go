package pixel

import (
	"net/netip"
)

// The reasons CheckRedirect refuses a click-redirect destination.
var (
	ErrRedirectMissing = &InvalidError{"missing_dest", "parameter u (the destination URL) is required"}
	ErrRedirectChar    = &InvalidError{"bad_char", "the destination must be printable ASCII without spaces, backslashes, quotes or angle brackets: percent-encode the rest"}
	ErrRedirectScheme  = &InvalidError{"bad_scheme", "the destination must be an absolute http:// or https:// URL"}
	ErrRedirectUser    = &InvalidError{"userinfo", "the destination must not carry a user name or password (user@host)"}
	ErrRedirectHost    = &InvalidError{"bad_host", "the destination's host must be a DNS name (punycode for international ones, no trailing dot) or an IP address"}
	ErrRedirectPort    = &InvalidError{"bad_port", "the destination's port must be a number from 1 to 65535"}
	ErrRedirectEscape  = &InvalidError{"bad_escape", "every % in the destination must start an escape of two hex digits"}
)

// RedirectReasons lists the reasons of CheckRedirect.
var RedirectReasons = []*InvalidError{
	ErrRedirectMissing, ErrRedirectChar, ErrRedirectScheme, ErrRedirectUser,
	ErrRedirectHost, ErrRedirectPort, ErrRedirectEscape,
}

// CheckRedirect reports whether dest may be the Location of a click
// redirect and returns its host (without port or IPv6 brackets; a slice of
// dest), or the *InvalidError that refuses it.
//
// A browser must go exactly where the check believes it goes, whatever
// parser reads the URL, so the accepted form is narrow: an absolute
// http:// or https:// URL of printable ASCII, with a host that is a DNS name
// of letters, digits and hyphens (international names in punycode), a
// dotted-decimal IPv4 address or a bracketed IPv6 one, and an optional
// port. That leaves out, among others: javascript:, data: and vbscript:
// URLs; protocol-relative "//evil.example" and "/\evil.example"; backslashes
// anywhere (browsers read "https:\\evil.example" as https://evil.example);
// user information ("https://shop.example@evil.example" goes to
// evil.example); escapes in the host and malformed escapes anywhere; a
// trailing dot ("shop.example." is not the "shop.example" of a pixel's
// domains, though it resolves alike); numeric hosts other than
// dotted-decimal IPv4 ("0x7f.1", which browsers read as 127.0.0.1); white
// space and control characters, which browsers strip before parsing.
func CheckRedirect(dest []byte) (host []byte, err error) {
	if len(dest) == 0 {
		return nil, ErrRedirectMissing
	}
	for i := 0; i < len(dest); i++ {
		switch c := dest[i]; {
		case c <= ' ' || c >= 0x7f || c == '\\' || c == '"' || c == '<' || c == '>' || c == '`':
			return nil, ErrRedirectChar
		case c == '%':
			if i+2 >= len(dest) || !isHex(dest[i+1]) || !isHex(dest[i+2]) {
				return nil, ErrRedirectEscape
			}
		}
	}
	var rest []byte
	switch {
	case hasPrefixFold(dest, "https://"):
		rest = dest[len("https://"):]
	case hasPrefixFold(dest, "http://"):
		rest = dest[len("http://"):]
	default:
		return nil, ErrRedirectScheme
	}
	authority := rest
	for i, c := range rest {
		if c == '/' || c == '?' || c == '#' {
			authority = rest[:i]
			break
		}
	}
	for _, c := range authority {
		if c == '@' {
			return nil, ErrRedirectUser
		}
	}
	host, port := authority, []byte(nil)
	if len(host) > 0 && host[0] == '[' {
		end := -1
		for i, c := range host {
			if c == ']' {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, ErrRedirectHost
		}
		host, port = authority[1:end], authority[end+1:]
		if a, err := netip.ParseAddr(string(host)); err != nil || !a.Is6() || a.Zone() != "" {
			return nil, ErrRedirectHost
		}
	} else {
		for i, c := range host {
			if c == ':' {
				host, port = authority[:i], authority[i:]
				break
			}
		}
		if !validDNSHost(host) {
			return nil, ErrRedirectHost
		}
	}
	if len(port) > 0 && !validPort(port) {
		return nil, ErrRedirectPort
	}
	return host, nil
}

// validPort reports whether p is ":" and a port number 1-65535.
func validPort(p []byte) bool {
	if len(p) < 2 || len(p) > 6 || p[0] != ':' {
		return false
	}
	n := 0
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n >= 1 && n <= 65535
}

// validDNSHost reports whether h is a host name of labels of 1-63 letters,
// digits and inner hyphens, at most 253 bytes long, whose last label
// starts with a letter (no numeric top-level domain exists: a host that
// ends in digits must be a dotted-decimal IPv4 address, checked as such).
func validDNSHost(h []byte) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	label := 0 // start of the current label
	for i := 0; i <= len(h); i++ {
		if i < len(h) && h[i] != '.' {
			c := h[i] | 0x20
			if !('a' <= c && c <= 'z' || '0' <= h[i] && h[i] <= '9' || h[i] == '-') {
				return false
			}
			continue
		}
		n := i - label
		if n == 0 || n > 63 || h[label] == '-' || h[i-1] == '-' {
			return false // empty label (leading, double or trailing dot), too long, or hyphen at an end
		}
		if i == len(h) && '0' <= h[label] && h[label] <= '9' {
			a, err := netip.ParseAddr(string(h))
			return err == nil && a.Is4()
		}
		label = i + 1
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}
