package pixel

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// What the collector derives from a hit besides its parameters: campaigns
// and click ids from the page URL (and the click-id cookie), the referrer's
// host, hashed identifiers, and the pixel's settings applied (consent, IP
// mode, privacy signals). Everything here works on the Hit's buffers and
// allocates nothing once they have grown.

// maxRawIdentifier bounds a raw email or phone in ud[...] before hashing.
const maxRawIdentifier = 256

// setUserData handles one ud[...] parameter: a SHA-256 in hex is kept (in
// lower case); an email or phone in clear is kept aside for finishEvent to
// normalise and hash, and never published itself.
func (h *Hit) setUserData(param seenParams, val []byte, lim *Limits) error {
	val = bytes.TrimSpace(val)
	if len(val) == 0 {
		return nil
	}
	e := &h.Event
	if param == seenExternalID {
		if !ValidPrintable(val, lim.MaxIDLen) {
			return ErrBadUserData
		}
		e.Tracking[event.ExternalID] = val
		return nil
	}
	col := event.EmailSHA256
	switch param {
	case seenEmailGoogle:
		col = event.EmailGoogleSHA256
	case seenPhone:
		col = event.PhoneSHA256
	case seenPhoneGoogle:
		col = event.PhoneGoogleSHA256
	}
	start := len(h.hashes)
	var ok bool
	if h.hashes, ok = AppendLowerSHA256Hex(h.hashes, val); ok {
		e.Tracking[col] = h.hashes[start:len(h.hashes):len(h.hashes)]
		return nil
	}
	if len(val) > maxRawIdentifier {
		return ErrBadUserData
	}
	if col == event.EmailSHA256 || col == event.EmailGoogleSHA256 {
		h.rawEmail = val
	} else {
		h.rawPhone = val
	}
	return nil
}

// hashIdentifiers fills the hash columns that a raw email or phone of the
// event can fill and that no hash filled.
func (h *Hit) hashIdentifiers() {
	e := &h.Event
	hash := func(col int, raw []byte, appendHash func(dst, raw []byte) []byte) {
		if len(raw) == 0 || len(e.Tracking[col]) > 0 {
			return
		}
		start := len(h.hashes)
		h.hashes = appendHash(h.hashes, raw)
		if len(h.hashes) > start {
			e.Tracking[col] = h.hashes[start:len(h.hashes):len(h.hashes)]
		}
	}
	hash(event.EmailSHA256, h.rawEmail, AppendEmailSHA256)
	hash(event.EmailGoogleSHA256, h.rawEmail, AppendEmailGoogleSHA256)
	hash(event.PhoneSHA256, h.rawPhone, AppendPhoneSHA256)
	hash(event.PhoneGoogleSHA256, h.rawPhone, AppendPhoneGoogleSHA256)
	h.rawEmail, h.rawPhone = nil, nil
}

// URLHost returns the host of an absolute URL (scheme://[userinfo@]host[:port]...),
// without port or brackets, as a part of u; nil when u has none.
func URLHost(u []byte) []byte {
	i := bytes.Index(u, schemeSep)
	if i <= 0 {
		return nil
	}
	rest := u[i+len(schemeSep):]
	if j := bytes.IndexAny(rest, "/?#\\"); j >= 0 {
		rest = rest[:j]
	}
	if j := bytes.LastIndexByte(rest, '@'); j >= 0 {
		rest = rest[j+1:]
	}
	if len(rest) > 0 && rest[0] == '[' { // an IPv6 literal
		if j := bytes.IndexByte(rest, ']'); j > 0 {
			return rest[1:j]
		}
		return nil
	}
	if j := bytes.LastIndexByte(rest, ':'); j >= 0 {
		rest = rest[:j]
	}
	if len(rest) == 0 {
		return nil
	}
	return rest
}

var schemeSep = []byte("://")

// pageHost is the host of the page that sent the hit, for the registry's
// domain check: the Origin header's, else the Referer header's, else the
// page URL's (dl). nil when none says.
func (h *Hit) pageHost(origin, referer []byte) []byte {
	if host := URLHost(origin); host != nil {
		return host
	}
	if host := URLHost(referer); host != nil {
		return host
	}
	return URLHost(h.Event.URL)
}

// The campaign parameters of a page URL, by Tracking column.
var campaignParams = [...]struct {
	name string
	col  int
}{
	{"utm_source", event.UTMSource}, {"utm_medium", event.UTMMedium}, {"utm_campaign", event.UTMCampaign},
	{"utm_term", event.UTMTerm}, {"utm_content", event.UTMContent},
	{"gclid", event.GCLID}, {"gbraid", event.GBRAID}, {"wbraid", event.WBRAID},
	{"fbclid", event.FBCLID}, {"msclkid", event.MSCLKID}, {"ttclid", event.TTCLID},
}

// The click ids, in the order of the _pxclk cookie's fields.
var clickColumns = [...]int{event.GCLID, event.GBRAID, event.WBRAID, event.FBCLID, event.MSCLKID, event.TTCLID}

// maxClickID bounds one click id (Google's are about 100 characters).
const maxClickID = 512

// parseCampaign fills the campaign columns of h.Event (AppendCampaign) in
// h's buffer and reports whether the URL carried a click id.
func (h *Hit) parseCampaign() bool {
	var clicked bool
	h.derived, clicked = AppendCampaign(h.derived, &h.Event)
	return clicked
}

// AppendCampaign fills the UTM and click-id columns of e that are still
// empty from its page URL's query (the first of a repeated parameter
// counts; values decoded as a query is), and referrer_host from its
// referrer. The decoded values go into dst, which it returns grown, and e
// points into it. It reports whether the URL carried a click id.
func AppendCampaign(dst []byte, e *event.Event) ([]byte, bool) {
	if host := URLHost(e.Referrer); host != nil && len(e.Tracking[event.ReferrerHost]) == 0 {
		start := len(dst)
		for _, c := range host {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		e.Tracking[event.ReferrerHost] = dst[start:len(dst):len(dst)]
	}
	u := e.URL
	q := bytes.IndexByte(u, '?')
	if q < 0 {
		return dst, false
	}
	u = u[q+1:]
	if f := bytes.IndexByte(u, '#'); f >= 0 {
		u = u[:f]
	}
	clicked := false
	for len(u) > 0 {
		var kv []byte
		kv, u, _ = bytes.Cut(u, ampersand)
		k, v, _ := bytes.Cut(kv, equals)
		for _, p := range campaignParams {
			if string(k) != p.name || len(e.Tracking[p.col]) > 0 {
				continue
			}
			start := len(dst)
			dst = appendUnescaped(dst, v)
			val := dst[start:len(dst):len(dst)]
			if p.col >= event.GCLID && p.col <= event.TTCLID {
				if !validClickID(val) {
					dst = dst[:start]
					break
				}
				clicked = true
			}
			e.Tracking[p.col] = val
			break
		}
	}
	return dst, clicked
}

var (
	ampersand = []byte{'&'}
	equals    = []byte{'='}
)

// appendUnescaped appends the query value v decoded: %XX and '+'.
func appendUnescaped(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(v):
			if hi, lo := unhex[v[i+1]], unhex[v[i+2]]; hi|lo <= 0xf {
				c = hi<<4 | lo
				i += 2
			}
		}
		dst = append(dst, c)
	}
	return dst
}

// validClickID reports whether b can be a click id, and a field of the
// _pxclk cookie: 1..maxClickID bytes of [A-Za-z0-9_.~-].
func validClickID(b []byte) bool {
	if len(b) == 0 || len(b) > maxClickID {
		return false
	}
	for _, c := range b {
		if !isLetter(c) && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' && c != '~' {
			return false
		}
	}
	return true
}

// ClickCookie is the name of the cookie that keeps a visitor's latest click
// ids, like the ad networks' conversion linkers.
const ClickCookie = "_pxclk"

// The _pxclk value: "1|<ms>|<gclid>|<gbraid>|<wbraid>|<fbclid>|<msclkid>|<ttclid>",
// the version, when the click was seen (Unix ms), and the ids of one click
// (a new click replaces them all: the last ad click is the one a
// conversion is credited to).

// cookieClickTime is when the request's _pxclk cookie first saw the very
// click ids the event's URL carries (Unix ms), or 0 when the cookie holds
// another click, or none, or one we did not write. Every event of a
// landing page carries the ad's click ids in its URL, and so does a
// reload: that is the click seen earlier, whose time Meta's fbc and
// Google's click window count from, not a new click.
func (h *Hit) cookieClickTime() int64 {
	ms, ids, ok := parseClickCookie(h.clickCookie)
	if !ok || ms == 0 {
		return 0
	}
	for i, col := range clickColumns {
		if !bytes.Equal(ids[i], h.Event.Tracking[col]) {
			return 0
		}
	}
	return ms
}

// clickFromCookie fills the click-id columns of an event whose URL had
// none from the request's _pxclk cookie.
func (h *Hit) clickFromCookie() {
	ms, ids, ok := parseClickCookie(h.clickCookie)
	if !ok {
		return
	}
	e := &h.Event
	any := false
	for i, col := range clickColumns {
		e.Tracking[col] = ids[i]
		any = any || len(ids[i]) > 0
	}
	if any {
		e.ClickTSMs = ms
	}
}

// parseClickCookie reads a _pxclk value: when the click was seen (Unix ms)
// and its ids in clickColumns' order, pointing into v. ok is false for a
// value we did not write (another version, a bad time or click id).
func parseClickCookie(v []byte) (ms int64, ids [len(clickColumns)][]byte, ok bool) {
	if len(v) < 3 || v[0] != '1' || v[1] != '|' {
		return 0, ids, false
	}
	msText, v, found := bytes.Cut(v[2:], pipe)
	n, okMs := parseUint(msText)
	if !found || !okMs || n/1000 > event.MaxTime {
		return 0, ids, false
	}
	for i := range ids {
		var f []byte
		f, v, _ = bytes.Cut(v, pipe)
		if len(f) > 0 && !validClickID(f) {
			return 0, ids, false
		}
		ids[i] = f
	}
	return int64(n), ids, true
}

var pipe = []byte{'|'}

// appendClickCookie appends the _pxclk value for the click ids of e, seen at ms.
func appendClickCookie(dst []byte, e *event.Event, ms int64) []byte {
	dst = append(dst, '1', '|')
	dst = strconv.AppendInt(dst, ms, 10)
	for _, col := range clickColumns {
		dst = append(dst, '|')
		dst = append(dst, e.Tracking[col]...)
	}
	return dst
}

// ApplyIPMode returns the text of ip as the IP mode publishes it, in dst
// (which holds the text as seen).
func ApplyIPMode(dst []byte, mode IPMode, ip netip.Addr) []byte {
	switch mode {
	case IPDrop:
		return dst[:0]
	case IPTruncate:
		bits := 24
		if ip.Is6() {
			bits = 48
		}
		if p, err := ip.Prefix(bits); err == nil {
			return p.Addr().AppendTo(dst[:0])
		}
		return dst[:0] // no address to truncate
	}
	return dst
}
