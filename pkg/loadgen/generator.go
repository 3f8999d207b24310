package loadgen

import (
	"strconv"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// MalformedKinds are the kinds of bad hits the generator sends, named like
// the collector's pixel_hits_invalid_total{reason} labels, so that a test
// can compare Result.MalformedKinds with the collector's counters. They are
// invalid under the collector's default limits (pixel.DefaultLimits); a
// collector started with larger -max-url-len, -max-props or -max-prop-len
// accepts some of the too_long and too_many_props ones.
var MalformedKinds = []string{
	pixel.ErrMissingPixelID.Reason, // no id
	pixel.ErrBadPixelID.Reason,     // id "my shop", "<script>…", "démo", 129 characters
	pixel.ErrBadEvent.Reason,       // ev "Add To Cart", "purchase!", …
	pixel.ErrBadEventID.Reason,     // eid with a space, a tab, non-ASCII, 129 characters
	pixel.ErrBadTS.Reason,          // ts "yesterday", "-1", "1.767e12", 23 digits
	pixel.ErrBadValue.Reason,       // cd[value] "12,50", "€19.90", "NaN", "Infinity", "1e999"
	pixel.ErrBadCurrency.Reason,    // cd[currency] "EURO", "€", "US$"
	pixel.ErrBadContentIDs.Reason,  // cd[content_ids] `["SKU-1","SKU-2"`, `[SKU-1]`, trailing comma, escapes
	pixel.ErrBadProp.Reason,        // cd[my key], cd[bad/key], a non-ASCII key
	pixel.ErrTooManyProps.Reason,   // 40 custom properties
	pixel.ErrTooLong.Reason,        // dl or rl over 4096 bytes, cd[order_id] over 128, a custom value over 512
}

var (
	badIDs         = []string{"my shop", "<script>alert(1)</script>", "shop/demo", "démo", strings.Repeat("x", 129)}
	badEvents      = []string{"Add To Cart", "purchase!", "<img src=x>", "Käufe", strings.Repeat("E", 65)}
	badEventIDs    = []string{"has space", "tab\there", "ünïcødé", "del\x7f", strings.Repeat("7", 129)}
	badTS          = []string{"yesterday", "-1", "1.767e12", "17672688000000000000000", "0x1A"}
	badValues      = []string{"12,50", "€19.90", "NaN", "Infinity", "1e999", "free"}
	badCurrencies  = []string{"EURO", "€", "US$", "12", "E U"}
	badContentIDs  = []string{`["SKU-1","SKU-2"`, `[SKU-1]`, `["SKU-1",]`, `["SKU\"1"]`}
	badPropKeys    = []string{"my key", "bad/key", "ключ", "a+b", strings.Repeat("k", 65)}
	tooLongPadding = strings.Repeat("a", 4200)
)

// Generator turns hit numbers into hits. Hit i depends only on the seed, the
// Mix, i and the client time it is given, so every run with the same seed
// sends the same traffic whatever the concurrency. A Generator is immutable
// and safe for concurrent use; each goroutine fills its own Hit.
type Generator struct {
	seed      uint64
	mix       Mix
	eventCum  [5]float64 // cumulative event weights, normalized to 1
	sourceSum int
}

// NewGenerator checks mix, fills its defaults and returns a Generator.
func NewGenerator(seed uint64, mix Mix) (*Generator, error) {
	mix.PixelIDs = append([]string(nil), mix.PixelIDs...)
	if err := mix.normalize(seed); err != nil {
		return nil, err
	}
	g := &Generator{seed: seed, mix: mix}
	w := mix.Events.weights()
	var sum float64
	for _, x := range w {
		sum += x
	}
	var acc float64
	for i, x := range w {
		acc += x / sum
		g.eventCum[i] = acc
	}
	g.eventCum[4] = 1
	for _, s := range sources {
		g.sourceSum += s.weight
	}
	return g, nil
}

// Mix returns the mix with its defaults filled in.
func (g *Generator) Mix() Mix { return g.mix }

// Hit is one generated pixel request. Fill reuses its buffers: the byte
// slices are valid until the next Fill.
type Hit struct {
	// Index is the hit number.
	Index uint64
	// Visitor is the simulated browser, 0..Mix.Visitors-1.
	Visitor int
	// KeepsCookies says whether the visitor's browser sends back the
	// cookies the collector set.
	KeepsCookies bool
	// Event is the conversion event; for a malformed hit, the one it was
	// made from.
	Event string
	// Malformed is "" for a valid hit; for a bad one, the collector's
	// invalid-reason label (one of MalformedKinds).
	Malformed string
	// EventID is the eid the hit carries (nil when none or when the eid
	// itself is the malformed part).
	EventID []byte
	// Query is the query string after "/p.gif?", percent-encoded.
	Query []byte
	// UserAgent, AcceptLanguage and Referer are request headers; an empty
	// Referer is not sent.
	UserAgent      string
	AcceptLanguage string
	Referer        []byte

	r        rng
	ev       int  // index of Event in EventNames
	kind     int  // index of Malformed in MalformedKinds
	js       bool // the JS tag (ts, rl, encoded brackets) rather than an <img>
	pageType string
	eid      []byte
	page     []byte
	scratch  []byte
}

// Valid reports whether the collector must accept h.
func (h *Hit) Valid() bool { return h.Malformed == "" }

// profile is what stays the same across a visitor's hits.
type profile struct {
	ua, lang, site int
	cookies, js    bool
}

func (g *Generator) profile(v int) profile {
	r := rng{s: mix64(g.seed ^ 0x5bd1e9955bd1e995 ^ mix64(uint64(v)))}
	return profile{
		ua:      r.intn(len(userAgents)),
		lang:    r.intn(len(languages)),
		site:    r.intn(len(g.mix.PixelIDs)),
		cookies: r.float() < g.mix.CookieFraction,
		js:      r.float() < 0.8,
	}
}

// Fill makes h hit number i, sent by a browser whose clock reads now.
// It does not allocate once h's buffers have grown.
func (g *Generator) Fill(h *Hit, i uint64, now time.Time) {
	h.r = rng{s: mix64(g.seed ^ mix64(i^0x2545f4914f6cdd1d))}
	r := &h.r
	h.Index = i
	h.Visitor = r.intn(g.mix.Visitors)
	p := g.profile(h.Visitor)
	h.KeepsCookies = p.cookies
	h.js = p.js
	h.UserAgent = userAgents[p.ua]
	h.AcceptLanguage = languages[p.lang].acceptLanguage
	currency := languages[p.lang].currency

	ev := 0
	u := r.float()
	for ev < 4 && u >= g.eventCum[ev] {
		ev++
	}
	h.Event, h.ev = EventNames[ev], ev
	h.Malformed, h.kind = "", 0
	if r.float() < g.mix.MalformedFraction {
		h.kind = r.intn(len(MalformedKinds))
		h.Malformed = MalformedKinds[h.kind]
	}
	mal := h.Malformed
	h.EventID = nil
	h.eid = h.eid[:0]
	if g.mix.EventIDs {
		h.eid = append(h.eid, g.mix.EventIDPrefix...)
		h.eid = appendPadded(h.eid, i, 12)
		if mal != pixel.ErrBadEventID.Reason {
			h.EventID = h.eid
		}
	}

	site := sites[p.site%len(sites)]
	prod := r.intn(len(products))
	src := g.pickSource(r)
	g.buildPage(h, site, h.Event, prod, src)

	// The parameters, in the order the JS tag writes them.
	h.Query = h.Query[:0]
	switch mal {
	case pixel.ErrMissingPixelID.Reason:
	case pixel.ErrBadPixelID.Reason:
		h.param("id", pick(r, badIDs))
	default:
		h.param("id", g.mix.PixelIDs[p.site])
	}
	switch {
	case mal == pixel.ErrBadEvent.Reason:
		h.param("ev", pick(r, badEvents))
	case h.Event != PageView || h.js || r.float() < 0.5: // <img> tags often leave out ev=PageView
		h.param("ev", h.Event)
	}
	switch {
	case mal == pixel.ErrBadEventID.Reason:
		h.param("eid", pick(r, badEventIDs))
	case h.EventID != nil:
		h.key("eid")
		h.bytesValue(h.EventID)
	}
	tooLong := -1
	if mal == pixel.ErrTooLong.Reason {
		tooLong = r.intn(4)
	}
	if h.js || r.float() < 0.6 || tooLong == 0 { // otherwise the collector takes the Referer
		h.key("dl")
		h.bytesValue(h.page)
		if tooLong == 0 {
			h.value(tooLongPadding)
		}
	}
	if h.js || tooLong == 1 {
		h.appendReferrer(site, src)
		if tooLong == 1 {
			if len(h.scratch) == 0 {
				h.scratch = append(h.scratch, site...)
				h.scratch = append(h.scratch, '/')
			}
			h.scratch = append(h.scratch, "?q="...)
			h.scratch = append(h.scratch, tooLongPadding...)
		}
		if len(h.scratch) > 0 {
			h.key("rl")
			h.bytesValue(h.scratch)
		}
	}
	switch {
	case mal == pixel.ErrBadTS.Reason:
		h.param("ts", pick(r, badTS))
	case h.js:
		ms := now.UnixMilli() - int64(r.intn(3000))
		if r.float() < 0.02 {
			ms -= 3 * 24 * 3600 * 1000 // a wrong client clock: replaced by the receive time, still valid
		}
		h.key("ts")
		h.Query = strconv.AppendInt(h.Query, ms, 10)
	}
	g.customData(h, ev, prod, currency, tooLong)

	// Cache busters and other parameters the collector ignores.
	if h.js {
		h.key("_")
		h.Query = strconv.AppendUint(h.Query, 1_000_000_000_000+r.next()%9_000_000_000_000, 10)
	} else if r.float() < 0.5 {
		h.param("noscript", "1")
	}

	h.Referer = append(h.Referer[:0], site...)
	h.Referer = append(h.Referer, '/')
	if h.js && r.float() < 0.2 { // Referrer-Policy: unsafe-url or no-referrer-when-downgrade
		h.Referer = append(h.Referer[:0], h.page...)
	}
}

// buildPage writes the page URL (what dl carries) into h.page: shop paths
// with non-ASCII slugs, percent-encoded as location.href has them for the JS
// tag and raw UTF-8 as server-rendered <img> URLs often carry them, and the
// campaign parameters of the visit's source.
func (g *Generator) buildPage(h *Hit, site, event string, prod int, src *source) {
	r := &h.r
	h.page = append(h.page[:0], site...)
	var query bool
	switch event {
	case ViewContent, AddToCart:
		h.pageType = "product"
		h.page = append(h.page, "/products/"...)
		h.page = appendPath(h.page, products[prod].slug, h.js)
	case Purchase:
		h.pageType = "checkout"
		h.page = append(h.page, pick(r, thankYouPaths)...)
	case Lead:
		h.pageType = "form"
		h.page = append(h.page, pick(r, leadPaths)...)
	default:
		switch k := r.intn(10); {
		case k < 2:
			h.pageType = "home"
			h.page = append(h.page, '/')
		case k < 4:
			h.pageType = "category"
			h.page = append(h.page, "/collections/"...)
			h.page = appendPath(h.page, pick(r, categories), h.js)
		case k < 7:
			h.pageType = "product"
			h.page = append(h.page, "/products/"...)
			h.page = appendPath(h.page, products[prod].slug, h.js)
		case k < 8:
			h.pageType = "search"
			h.page = append(h.page, "/search?q="...)
			h.page = appendEscape(h.page, pick(r, searchTerms), true)
			query = true
		case k < 9:
			h.pageType = "article"
			h.page = append(h.page, "/blog/"...)
			h.page = appendPath(h.page, pick(r, blogPosts), h.js)
		default:
			h.pageType = "cart"
			h.page = append(h.page, "/cart"...)
		}
	}
	if src.utm == "" {
		return
	}
	if query {
		h.page = append(h.page, '&')
	} else {
		h.page = append(h.page, '?')
	}
	h.page = append(h.page, src.utm...)
	h.page = append(h.page, "&utm_campaign="...)
	h.page = appendEscape(h.page, pick(r, campaigns), false)
	if src.clickID != "" {
		h.page = append(h.page, '&')
		h.page = append(h.page, src.clickID...)
		h.page = append(h.page, '=')
		h.page = appendRandomToken(h.page, r, 24)
	}
}

// appendReferrer writes the visit's referrer (rl) into h.scratch, empty for
// direct visits.
func (h *Hit) appendReferrer(site string, src *source) {
	r := &h.r
	h.scratch = h.scratch[:0]
	ref := pick(r, src.referrer)
	switch ref {
	case "":
	case "internal":
		h.scratch = append(h.scratch, site...)
		h.scratch = append(h.scratch, "/collections/"...)
		h.scratch = appendPath(h.scratch, pick(r, categories), true)
	default:
		h.scratch = append(h.scratch, ref...)
		if ref == "https://www.bing.com/" {
			h.scratch = append(h.scratch, "search?q="...)
			h.scratch = appendEscape(h.scratch, pick(r, searchTerms), true)
		}
	}
}

// customData writes the cd[...] parameters: what the event carries, then
// custom properties, then whatever the hit's malformation needs.
func (g *Generator) customData(h *Hit, ev, prod int, currency string, tooLong int) {
	r := &h.r
	mal := h.Malformed
	var cents int64
	items := 0
	switch EventNames[ev] {
	case ViewContent, AddToCart:
		items = 1
		if r.float() < 0.8 {
			cents = price(prod)
		}
	case Purchase:
		items = 1 + r.intn(4)
		for k := 0; k < items; k++ {
			cents += price((prod + k*5) % len(products))
		}
	case Lead:
		if r.float() < 0.3 {
			cents = 500
		}
	}
	switch {
	case mal == pixel.ErrBadValue.Reason:
		h.cd("value")
		h.value(pick(r, badValues))
	case cents > 0:
		h.cd("value")
		h.Query = appendPrice(h.Query, cents, currency)
	}
	switch {
	case mal == pixel.ErrBadCurrency.Reason:
		h.cd("currency")
		h.value(pick(r, badCurrencies))
	case cents > 0:
		h.cd("currency")
		h.value(currency)
	}
	switch {
	case tooLong == 2:
		h.cd("order_id")
		h.value(tooLongPadding[:200])
	case EventNames[ev] == Purchase:
		h.cd("order_id")
		h.Query = strconv.AppendUint(h.Query, 100_000_000+r.next()%900_000_000, 10)
	}
	switch {
	case mal == pixel.ErrBadContentIDs.Reason:
		h.cd("content_ids")
		h.value(pick(r, badContentIDs))
	case items > 0:
		h.cd("content_ids")
		h.scratch = h.scratch[:0]
		format := r.intn(3)
		if !h.js {
			format = 2 // <img> tags use the plain list
		}
		if format < 2 {
			h.scratch = append(h.scratch, '[')
		}
		for k := 0; k < items; k++ {
			if k > 0 {
				h.scratch = append(h.scratch, ',')
			}
			sku := products[(prod+k*5)%len(products)].sku
			switch format {
			case 0: // ["SKU-10482","SKU-20931"]
				h.scratch = append(h.scratch, '"')
				h.scratch = append(h.scratch, sku...)
				h.scratch = append(h.scratch, '"')
			case 1: // [10482,20931]
				h.scratch = append(h.scratch, sku[4:]...)
			default: // SKU-10482,SKU-20931
				h.scratch = append(h.scratch, sku...)
			}
		}
		if format < 2 {
			h.scratch = append(h.scratch, ']')
		}
		h.bytesValue(h.scratch)
		if items > 1 {
			h.cd("num_items")
			h.Query = strconv.AppendInt(h.Query, int64(items), 10)
		}
		h.cd("content_type")
		h.value("product")
	}
	if EventNames[ev] == Lead {
		h.cd("lead_type")
		h.value(pick(r, leadTypes))
	}
	if EventNames[ev] == Purchase && r.float() < 0.25 {
		h.cd("coupon")
		h.value(pick(r, coupons))
	}
	if r.float() < g.mix.PropsFraction {
		n := 0
		for k, p := range customProps {
			if r.float() >= 0.4 && !(n == 0 && k == len(customProps)-1) {
				continue
			}
			n++
			h.cd(p.key)
			switch p.key {
			case "page_type":
				h.value(h.pageType)
			case "content_name":
				h.value(products[prod].name)
			default:
				h.value(pick(r, p.values))
			}
		}
	}
	switch mal {
	case pixel.ErrBadProp.Reason:
		h.cd(pick(r, badPropKeys))
		h.value("x")
	case pixel.ErrTooManyProps.Reason:
		for k := 1; k <= 40; k++ {
			h.Query = append(h.Query, "&cd[p"...)
			h.Query = appendPadded(h.Query, uint64(k), 2)
			h.Query = append(h.Query, "]=x"...)
		}
	}
	if tooLong == 3 {
		h.cd("note")
		h.value(tooLongPadding[:600])
	}
}

// price is a product's price in cents.
func price(prod int) int64 { return 990 + int64(prod*3779%15000) }

func (g *Generator) pickSource(r *rng) *source {
	n := r.intn(g.sourceSum)
	for k := range sources {
		if n -= sources[k].weight; n < 0 {
			return &sources[k]
		}
	}
	return &sources[len(sources)-1]
}

// key starts the parameter k.
func (h *Hit) key(k string) {
	if len(h.Query) > 0 {
		h.Query = append(h.Query, '&')
	}
	h.Query = append(h.Query, k...)
	h.Query = append(h.Query, '=')
}

// value appends a parameter value, percent-encoded: spaces as %20 from the
// JS tag (encodeURIComponent), as + from server-rendered tags.
func (h *Hit) value(v string) { h.Query = appendEscape(h.Query, v, !h.js) }

func (h *Hit) bytesValue(v []byte) { h.Query = appendEscape(h.Query, v, !h.js) }

func (h *Hit) param(k string, v string) {
	h.key(k)
	h.value(v)
}

// cd starts the parameter cd[name], its brackets percent-encoded as the JS
// tag sends them or raw as <img> tags have them.
func (h *Hit) cd(name string) {
	if len(h.Query) > 0 {
		h.Query = append(h.Query, '&')
	}
	if h.js {
		h.Query = append(h.Query, "cd%5B"...)
		h.Query = appendEscape(h.Query, name, false)
		h.Query = append(h.Query, "%5D="...)
		return
	}
	h.Query = append(h.Query, "cd["...)
	h.Query = appendEscape(h.Query, name, true)
	h.Query = append(h.Query, "]="...)
}

// appendEscape percent-encodes s as a query value: all but A-Z a-z 0-9 - _ . ~;
// a space becomes + when plus is set.
func appendEscape[T string | []byte](dst []byte, s T, plus bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~':
			dst = append(dst, c)
		case c == ' ' && plus:
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// appendPath appends a URL path segment: percent-encoding non-ASCII bytes
// and spaces when encode is set (as browsers report location.href), raw
// otherwise.
func appendPath(dst []byte, s string, encode bool) []byte {
	if !encode {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '#' {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// appendPrice writes cents as a decimal amount: "49.90", or "4990" for
// currencies without minor units (JPY).
func appendPrice(dst []byte, cents int64, currency string) []byte {
	if currency == "JPY" {
		return strconv.AppendInt(dst, cents, 10)
	}
	dst = strconv.AppendInt(dst, cents/100, 10)
	return append(dst, '.', byte('0'+cents/10%10), byte('0'+cents%10))
}

// appendPadded writes n in decimal with at least width digits.
func appendPadded(dst []byte, n uint64, width int) []byte {
	var buf [20]byte
	b := strconv.AppendUint(buf[:0], n, 10)
	for k := len(b); k < width; k++ {
		dst = append(dst, '0')
	}
	return append(dst, b...)
}

const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func appendRandomToken(dst []byte, r *rng, n int) []byte {
	for k := 0; k < n; k++ {
		dst = append(dst, tokenChars[r.next()>>58])
	}
	return dst
}

func pick(r *rng, s []string) string { return s[r.intn(len(s))] }

// rng is SplitMix64: tiny, fast, allocation-free and good enough to shape
// traffic. Each hit and each visitor gets its own stream, seeded by mix64.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// mix64 is SplitMix64's finalizer, a bijective hash of 64 bits.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a number in [0, n) for 0 < n < 2^32.
func (r *rng) intn(n int) int { return int((r.next() >> 32) * uint64(n) >> 32) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
