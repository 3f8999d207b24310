// Package dataset generates a known population of tracked visitors — pixels
// in their time zones, campaigns with click ids, sessions over days with page
// views and engaged-time heartbeats, funnels with drop-offs, purchases in two
// currencies, browser and server copies of one purchase, replayed
// duplicates, bots, visitors without consent, visitors who send Global
// Privacy Control and visitors with hashed emails and phones — as pixel events, the same for the same Config on every run. Its
// oracle (oracle.go) computes the exact answers reports must give from the
// events in Go, never through SQL, so that every report and audience can be
// checked against a number no one can argue with. Insert writes the events
// straight into ClickHouse for large sizes; small sizes can be sent through
// the real pipeline from Events.
package dataset

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
	_ "time/tzdata" // pixels' time zones resolve on a machine without zoneinfo

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Pixel is one generated site's pixel.
type Pixel struct {
	ID       string
	TimeZone string // IANA name: the pixel's days are days in this zone
	Currency string // the currency most of its purchases are in
	// ConsentRequired pixels record visitors without consent cookieless
	// (consent=denied, visitor_id = the day's cookieless_id, no session);
	// every event of such a pixel carries cookieless_id, as the collector
	// writes it.
	ConsentRequired bool
	Site            string // the origin its page URLs start with
	// FlagsGPC pixels record hits that send Sec-GPC: 1 with gpc=1 (the
	// registry's -gpc flag); the others drop them (-gpc drop), so no
	// visitor of theirs sends it.
	FlagsGPC bool
}

// Campaign is an ad campaign visitors land from, as its tagged URLs name it.
type Campaign struct {
	Source, Medium, Name string
	ClickID              int // the click-id column its ad clicks carry: event.GCLID, event.FBCLID, or -1 for none
}

// Config describes a population. Start from DefaultConfig: a zero rate means
// none of that feature.
type Config struct {
	Seed     uint64
	Start    time.Time // the first moment of the generated range (UTC)
	Days     int       // sessions start within [Start, Start+Days)
	Visitors int       // visitors, bots included

	Pixels    []Pixel
	Campaigns []Campaign

	BotRate       float64 // visitors that are crawlers (is_bot=1, a Googlebot UA)
	NoConsentRate float64 // visitors of ConsentRequired pixels that never consent
	EmailRate     float64 // consenting visitors whose email the site knows (email_sha256 on checkout and purchase)
	PhoneRate     float64 // of those, visitors whose phone the site knows too (phone_sha256 beside the email)
	GPCRate       float64 // visitors of FlagsGPC pixels whose browser sends Sec-GPC: 1 (gpc=1 on its events)
	CampaignRate  float64 // sessions that land from a campaign
	ServerRate    float64 // purchases of consenting visitors the site also sends from its server (same event_id, channel=server)
	BlockedRate   float64 // consenting visitors whose browser blocks the tag's purchase: only the server copy arrives
	ReplayRate    float64 // sessions whose events the pipeline stores twice, byte-identical (a Kafka replay)
	ForeignRate   float64 // purchases in the other pixel's currency

	// Funnel step rates: of sessions, those that view a product; of those,
	// that add to cart; then that start checkout; then that purchase.
	ViewRate, CartRate, CheckoutRate, PurchaseRate float64
}

// DefaultConfig returns a population of visitors over two weeks with every
// feature present.
func DefaultConfig(seed uint64, visitors int) Config {
	return Config{
		Seed:     seed,
		Start:    time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
		Days:     14,
		Visitors: visitors,
		Pixels: []Pixel{
			{ID: "px-shop-eu", TimeZone: "Europe/Paris", Currency: "EUR", ConsentRequired: true, Site: "https://shop.example.eu"},
			{ID: "px-shop-us", TimeZone: "America/New_York", Currency: "USD", Site: "https://shop.example.com", FlagsGPC: true},
		},
		Campaigns: []Campaign{
			{Source: "google", Medium: "cpc", Name: "spring_sale", ClickID: event.GCLID},
			{Source: "google", Medium: "cpc", Name: "brand", ClickID: event.GCLID},
			{Source: "facebook", Medium: "paid_social", Name: "retargeting", ClickID: event.FBCLID},
			{Source: "newsletter", Medium: "email", Name: "weekly", ClickID: -1},
		},
		BotRate: 0.04, NoConsentRate: 0.15, EmailRate: 0.3, PhoneRate: 0.5, GPCRate: 0.06, CampaignRate: 0.45,
		ServerRate: 0.5, BlockedRate: 0.05, ReplayRate: 0.02, ForeignRate: 0.2,
		ViewRate: 0.6, CartRate: 0.4, CheckoutRate: 0.6, PurchaseRate: 0.7,
	}
}

// Population is a generated (or hand-written) set of events. Its events are
// produced on demand, visitor by visitor, so that a population of tens of
// millions of events never sits in memory.
type Population struct {
	cfg    Config
	zones  map[string]*time.Location // by pixel id
	events []event.Event             // a hand-written population (FromEvents), else nil
}

// Generate returns the population cfg describes. It panics on a Config no
// population can come from (no pixels, an unknown time zone), a programming
// error of the caller.
func Generate(cfg Config) *Population {
	if len(cfg.Pixels) == 0 || cfg.Days <= 0 || cfg.Visitors < 0 {
		panic("dataset: Config needs pixels, Days > 0 and Visitors >= 0: start from DefaultConfig")
	}
	return &Population{cfg: cfg, zones: zones(cfg.Pixels)}
}

// FromEvents returns a population of exactly the events evs, for pixels:
// oracle tests on a population checked by hand.
func FromEvents(pixels []Pixel, evs []event.Event) *Population {
	return &Population{cfg: Config{Pixels: pixels}, zones: zones(pixels), events: evs}
}

func zones(pixels []Pixel) map[string]*time.Location {
	m := make(map[string]*time.Location, len(pixels))
	for _, p := range pixels {
		loc, err := time.LoadLocation(p.TimeZone)
		if err != nil {
			panic(fmt.Sprintf("dataset: pixel %s: time zone %q: %v", p.ID, p.TimeZone, err))
		}
		m[p.ID] = loc
	}
	return m
}

// VisitorsFor returns about how many visitors of cfg make events events: it
// generates the first thousand visitors and scales. For sizing a bench run
// ("10 million events"); the exact count is what Events yields.
func VisitorsFor(cfg Config, events int) int {
	sample := cfg
	sample.Visitors = 1000
	n := 0
	_ = Generate(sample).Events(func(*event.Event) error { n++; return nil })
	if n == 0 {
		return 0
	}
	return int(int64(events) * int64(sample.Visitors) / int64(n))
}

// Config returns the configuration the population was generated from.
func (p *Population) Config() Config { return p.cfg }

// Location returns the time zone of pixel id (UTC for an unknown pixel).
func (p *Population) Location(id string) *time.Location {
	if loc, ok := p.zones[id]; ok {
		return loc
	}
	return time.UTC
}

// Events calls fn with every event in the population's order: visitor by
// visitor, each visitor's events in time order, a replayed session's copies
// right after the session. The event and its bytes are valid only during the
// call (they are reused): copy what must outlive it. An error from fn stops
// the walk and is returned.
func (p *Population) Events(fn func(*event.Event) error) error {
	if p.events != nil {
		for i := range p.events {
			if err := fn(&p.events[i]); err != nil {
				return err
			}
		}
		return nil
	}
	g := generator{cfg: &p.cfg}
	for v := 0; v < p.cfg.Visitors; v++ {
		g.visitor(v)
		for i := range g.out {
			if err := fn(&g.out[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// All returns every event, each owning its memory. For small populations:
// Events streams large ones.
func (p *Population) All() []event.Event {
	var all []event.Event
	_ = p.Events(func(e *event.Event) error {
		all = append(all, Clone(e))
		return nil
	})
	return all
}

// Clone returns a copy of e that shares no memory with it.
func Clone(e *event.Event) event.Event {
	c := *e
	dup := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return append([]byte(nil), b...)
	}
	c.EventID, c.PixelID, c.VisitorID, c.SessionID, c.Name = dup(e.EventID), dup(e.PixelID), dup(e.VisitorID), dup(e.SessionID), dup(e.Name)
	c.URL, c.Referrer, c.Currency, c.OrderID = dup(e.URL), dup(e.Referrer), dup(e.Currency), dup(e.OrderID)
	c.IP, c.UserAgent, c.Props = dup(e.IP), dup(e.UserAgent), dup(e.Props)
	c.ContentIDs = nil
	for _, id := range e.ContentIDs {
		c.ContentIDs = append(c.ContentIDs, dup(id))
	}
	for i := range c.Tracking {
		c.Tracking[i] = dup(e.Tracking[i])
	}
	return c
}

// The catalogue: product ids and their prices in cents (the same figure in
// either currency, as many shops price).
var products = [...]struct {
	id    string
	cents int64
}{
	{"sku-101", 1990}, {"sku-102", 4900}, {"sku-103", 12900}, {"sku-104", 2450},
	{"sku-105", 899}, {"sku-106", 7999}, {"sku-107", 35000}, {"sku-108", 1500},
}

var browsers = [...]string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
}

// GooglebotUA is the user agent of the generated bots.
const GooglebotUA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

// Engaged is the goal the tag fires once a page view's engaged time reaches
// EngagedAfter; PageEngagement carries the heartbeats.
const (
	Engaged        = "Engaged"
	PageEngagement = "PageEngagement"
	EngagedAfter   = 60 * time.Second
	heartbeatMs    = 15_000 // the tag's heartbeat period of engaged time
)

// generator builds one visitor's events at a time into out, its bytes in
// mem, both reused for the next visitor.
type generator struct {
	cfg *Config
	rng *rand.Rand
	pcg rand.PCG
	out []event.Event
	mem arena

	// the visitor being generated
	px         *Pixel
	idx        int
	visitorID  []byte
	ua, ip     []byte
	bot        bool
	denied     bool
	blocked    bool
	email      []byte // email_sha256, or nil
	emailG     []byte // email_google_sha256
	phone      []byte // phone_sha256, or nil
	phoneG     []byte // phone_google_sha256
	gpc        bool   // the browser sends Sec-GPC: 1
	currency   []byte
	clickCol   int // the click-id column of the last click, -1 none
	clickID    []byte
	clickMs    int64
	sessionID  []byte
	cookieless []byte // the day's cookieless id (ConsentRequired pixels)
	day        int64  // the UTC day cookieless was made for
	orders     int
}

// arena hands out byte slices from chunks that never move, so a slice stays
// valid until reset.
type arena struct {
	chunks [][]byte
	cur    int
}

func (a *arena) take(n int) []byte {
	for {
		if a.cur == len(a.chunks) {
			a.chunks = append(a.chunks, make([]byte, 0, max(64<<10, n)))
		}
		c := a.chunks[a.cur]
		if cap(c)-len(c) >= n {
			a.chunks[a.cur] = c[:len(c)+n]
			return c[len(c) : len(c)+n : len(c)+n]
		}
		a.cur++
	}
}

func (a *arena) reset() {
	for i := range a.chunks[:min(a.cur+1, len(a.chunks))] {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.cur = 0
}

// str copies s into the arena.
func (g *generator) str(s string) []byte {
	b := g.mem.take(len(s))
	copy(b, s)
	return b
}

// id returns n random bytes as base64url, the form of the collector's ids.
func (g *generator) id(n int) []byte {
	var raw [24]byte
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(raw[i:], g.rng.Uint64())
	}
	b := g.mem.take(base64.RawURLEncoding.EncodedLen(n))
	base64.RawURLEncoding.Encode(b, raw[:n])
	return b
}

func (g *generator) chance(p float64) bool { return p > 0 && g.rng.Float64() < p }

// coin is a chance p for the visitor being generated that draws nothing
// from its random stream: a hash of (seed, visitor, salt).
func (g *generator) coin(salt uint64, p float64) bool {
	if p <= 0 {
		return false
	}
	var in [24]byte
	binary.LittleEndian.PutUint64(in[0:], g.cfg.Seed)
	binary.LittleEndian.PutUint64(in[8:], uint64(g.idx))
	binary.LittleEndian.PutUint64(in[16:], salt)
	sum := sha256.Sum256(in[:])
	return float64(binary.LittleEndian.Uint64(sum[:])>>11)/(1<<53) < p
}

// visitor generates visitor v's events into g.out. Each visitor has its own
// random stream, seeded by (Seed, v), so a visitor's events do not depend on
// the ones before it.
func (g *generator) visitor(v int) {
	cfg := g.cfg
	g.out = g.out[:0]
	g.mem.reset()
	g.pcg.Seed(cfg.Seed, uint64(v)+1)
	if g.rng == nil {
		g.rng = rand.New(&g.pcg)
	}
	g.idx = v
	g.px = &cfg.Pixels[v%len(cfg.Pixels)]
	g.visitorID = g.id(16)
	g.bot = g.chance(cfg.BotRate)
	g.denied = !g.bot && g.px.ConsentRequired && g.chance(cfg.NoConsentRate)
	g.blocked = !g.bot && !g.denied && g.chance(cfg.BlockedRate)
	g.email, g.emailG = nil, nil
	if !g.bot && !g.denied && g.chance(cfg.EmailRate) {
		// Mixed case and spaces: the hash is of the normalised address.
		raw := fmt.Sprintf("  Visitor.%d@GMail.com ", v)
		g.email = pixel.AppendEmailSHA256(nil, []byte(raw))
		g.emailG = pixel.AppendEmailGoogleSHA256(nil, []byte(raw))
	}
	// Phones and GPC come from coins of their own, not from the visitor's
	// random stream, so that adding them changed no other event.
	g.phone, g.phoneG = nil, nil
	if g.email != nil && g.coin(1, cfg.PhoneRate) {
		raw := fmt.Sprintf("+1 (650) 555-%04d", v%10000)
		g.phone = pixel.AppendPhoneSHA256(nil, []byte(raw))
		g.phoneG = pixel.AppendPhoneGoogleSHA256(nil, []byte(raw))
	}
	g.gpc = !g.bot && g.px.FlagsGPC && g.coin(2, cfg.GPCRate)
	g.currency = g.str(g.px.Currency)
	if len(cfg.Pixels) > 1 && g.chance(cfg.ForeignRate) {
		g.currency = g.str(cfg.Pixels[(v+1)%len(cfg.Pixels)].Currency)
	}
	if g.bot {
		g.ua = g.str(GooglebotUA)
		g.ip = g.str(fmt.Sprintf("66.249.66.%d", 1+g.rng.IntN(254)))
	} else {
		g.ua = g.str(browsers[g.rng.IntN(len(browsers))])
		g.ip = g.str(fmt.Sprintf("198.51.%d.%d", g.rng.IntN(256), 1+g.rng.IntN(254)))
	}
	g.clickCol, g.clickID, g.clickMs = -1, nil, 0
	g.day, g.orders = -1, 0

	start := cfg.Start.UnixMilli()
	end := start + int64(cfg.Days)*86_400_000
	t := start + g.rng.Int64N(end-start)
	sessions := 1 + g.rng.IntN(4)
	if g.bot {
		sessions = 1
	}
	for s := 0; s < sessions && t < end; s++ {
		first := len(g.out)
		t = g.session(t)
		// Heartbeats of a page come after the funnel events on it; the
		// server's copy after the browser's: order the visit by time.
		sort.SliceStable(g.out[first:], func(i, j int) bool { return g.out[first+i].TSMs < g.out[first+j].TSMs })
		if g.chance(cfg.ReplayRate) {
			// A replay stores the same messages again, byte for byte.
			g.out = append(g.out, g.out[first:]...)
		}
		// The next visit: at least an hour later, so sessions never merge.
		t += 3_600_000 + g.rng.Int64N(3*86_400_000)
	}
}

// session generates one visit starting at ms and returns when it ended.
func (g *generator) session(ms int64) int64 {
	cfg := g.cfg
	g.sessionID = nil
	if !g.denied && !g.bot {
		g.sessionID = g.id(16)
	}
	var landing []byte
	var camp *Campaign
	if !g.bot && len(cfg.Campaigns) > 0 && g.chance(cfg.CampaignRate) {
		camp = &cfg.Campaigns[g.rng.IntN(len(cfg.Campaigns))]
		if camp.ClickID >= 0 {
			g.clickCol, g.clickID, g.clickMs = camp.ClickID, g.id(16), ms
		}
		q := "?utm_source=" + camp.Source + "&utm_medium=" + camp.Medium + "&utm_campaign=" + camp.Name
		if camp.ClickID >= 0 {
			q += "&" + event.TrackingColumns[camp.ClickID] + "=" + string(g.clickID)
		}
		landing = g.str(q)
	}
	referrer := ""
	switch {
	case camp != nil && camp.Source == "google":
		referrer = "https://www.google.com/"
	case camp != nil && camp.Source == "facebook":
		referrer = "https://m.facebook.com/"
	}

	// The pages of the visit: browsing, then as far down the funnel as the
	// visitor goes.
	pages := 1 + g.rng.IntN(4)
	step := 0 // 1 viewed a product, 2 added to cart, 3 checkout, 4 purchased
	if !g.bot && g.chance(cfg.ViewRate) {
		step = 1
		if g.chance(cfg.CartRate) {
			step = 2
			if g.chance(cfg.CheckoutRate) {
				step = 3
				if g.chance(cfg.PurchaseRate) {
					step = 4
				}
			}
		}
	}
	prod := &products[g.rng.IntN(len(products))]
	qty := int64(1 + g.rng.IntN(3))
	total := pages + max(0, step-1) // product page, checkout page, thank-you page
	if step >= 1 {
		total++
	}
	for p := 0; p < total; p++ {
		path := "/category/" + strconv.Itoa(1+g.rng.IntN(9))
		kind := 0 // the funnel step this page is for
		if step >= 1 && p >= pages {
			kind = p - pages + 1
			path = [...]string{"", "/product/" + prod.id, "", "/checkout", "/thank-you"}[kind]
			if kind == 2 {
				kind = 0 // AddToCart stays on the product page
			}
		}
		url := g.px.Site + path
		if p == 0 {
			url = g.px.Site + "/" + string(landing)
		}
		pv := g.id(12)
		e := g.base("PageView", ms, pv)
		e.URL = g.str(url)
		if p == 0 {
			e.Referrer = g.str(referrer)
			e.Tracking[event.ReferrerHost] = g.str(hostOf(referrer))
			if camp != nil {
				e.Tracking[event.UTMSource], e.Tracking[event.UTMMedium], e.Tracking[event.UTMCampaign] = g.str(camp.Source), g.str(camp.Medium), g.str(camp.Name)
			}
		}
		g.emit(e)
		engaged := int64(g.rng.IntN(150_000)) // this page's engaged time, ms
		if g.bot {
			engaged = 0
		}
		at := ms // wall clock of the page
		switch {
		case kind == 1:
			at += 2000 + g.rng.Int64N(5000)
			vc := g.base("ViewContent", at, pv)
			vc.URL = g.str(url)
			vc.ContentIDs = [][]byte{g.str(prod.id)}
			vc.Value, vc.Currency = float64(prod.cents)/100, g.currency
			g.emit(vc)
			if step >= 2 {
				at += 3000 + g.rng.Int64N(20_000)
				ac := g.base("AddToCart", at, pv)
				ac.URL = g.str(url)
				ac.ContentIDs = [][]byte{g.str(prod.id)}
				ac.Value, ac.Currency = float64(prod.cents*qty)/100, g.currency
				g.emit(ac)
			}
		case kind == 3:
			at += 1000 + g.rng.Int64N(5000)
			ic := g.base("InitiateCheckout", at, pv)
			ic.URL = g.str(url)
			ic.ContentIDs = [][]byte{g.str(prod.id)}
			ic.Value, ic.Currency = float64(prod.cents*qty)/100, g.currency
			ic.Tracking[event.EmailSHA256], ic.Tracking[event.EmailGoogleSHA256] = g.email, g.emailG
			ic.Tracking[event.PhoneSHA256], ic.Tracking[event.PhoneGoogleSHA256] = g.phone, g.phoneG
			g.emit(ic)
		case kind == 4:
			at += 500 + g.rng.Int64N(2000)
			g.purchase(at, pv, url, prod.id, prod.cents*qty)
		}
		// Heartbeats of engaged time, the Engaged goal at 60 s, and the last
		// report when the page is left (so the last page counts).
		for hb := int64(heartbeatMs); hb < engaged; hb += heartbeatMs {
			g.engagement(PageEngagement, ms+hb+hb/4, pv, hb, url)
			if hb == EngagedAfter.Milliseconds() {
				g.engagement(Engaged, ms+hb+hb/4+1, pv, hb, url)
			}
		}
		leave := ms + engaged + engaged/4 + 1000
		if engaged > 0 {
			g.engagement(PageEngagement, leave, pv, engaged, url)
		}
		ms = max(leave, at+1000) + 1000 + g.rng.Int64N(10_000)
	}
	return ms
}

func hostOf(url string) string {
	if len(url) < 8 {
		return ""
	}
	h := url[8:]
	for i := range len(h) {
		if h[i] == '/' {
			return h[:i]
		}
	}
	return h
}

// base returns a browser event of the visitor at ms on page view pv.
func (g *generator) base(name string, ms int64, pv []byte) event.Event {
	e := event.Event{
		EventID:   g.id(15),
		PixelID:   g.str(g.px.ID),
		VisitorID: g.visitorID,
		SessionID: g.sessionID,
		Name:      g.str(name),
		TS:        ms / 1000,
		TSMs:      ms,
		// The collector receives a hit a moment after the page sends it.
		ReceivedAt: (ms + 20 + int64(g.rng.IntN(900))) / 1000,
		IP:         g.ip,
		UserAgent:  g.ua,
		IsBot:      g.bot,
		GPC:        g.gpc,
	}
	e.Tracking[event.PageViewID] = pv
	e.Tracking[event.Channel] = g.str("browser")
	e.Tracking[event.ActionSource] = g.str("website")
	e.Tracking[event.Consent] = g.str("granted")
	if g.px.ConsentRequired {
		e.Tracking[event.CookielessID] = g.cookielessID(ms)
	}
	if g.denied {
		e.VisitorID = e.Tracking[event.CookielessID]
		e.Tracking[event.Consent] = g.str("denied")
	}
	// Click ids: from the landing URL, then from the _pxclk cookie, which a
	// visitor without consent does not keep.
	if g.clickCol >= 0 && (!g.denied || g.clickMs == ms) {
		e.Tracking[g.clickCol] = g.clickID
		e.ClickTSMs = g.clickMs
	}
	return e
}

// cookielessID returns the visitor's cookieless id on the UTC day of ms. The
// collector's salt changes every day, so the id does, mid-session too; it is
// a hash of (seed, visitor, day) rather than a draw from the visitor's
// random stream so that it is the same whatever order events are made in.
func (g *generator) cookielessID(ms int64) []byte {
	day := ms / 86_400_000
	if day == g.day {
		return g.cookieless
	}
	var in [24]byte
	binary.LittleEndian.PutUint64(in[0:], g.cfg.Seed)
	binary.LittleEndian.PutUint64(in[8:], uint64(g.idx))
	binary.LittleEndian.PutUint64(in[16:], uint64(day))
	sum := sha256.Sum256(in[:])
	g.day = day
	g.cookieless = g.mem.take(base64.RawURLEncoding.EncodedLen(16))
	base64.RawURLEncoding.Encode(g.cookieless, sum[:16])
	return g.cookieless
}

func (g *generator) emit(e event.Event) { g.out = append(g.out, e) }

// engagement emits a heartbeat (or the Engaged goal) of page view pv with
// its cumulative engaged time.
func (g *generator) engagement(name string, ms int64, pv []byte, engagedMs int64, url string) {
	e := g.base(name, ms, pv)
	e.URL = g.str(url)
	e.EngagedMs = engagedMs
	g.emit(e)
}

// purchase emits a purchase of cents at ms: the browser's copy, unless the
// browser blocks it, and the server's copy of the same event_id when the site
// sends one (always when the browser's is blocked).
func (g *generator) purchase(ms int64, pv []byte, url, product string, cents int64) {
	g.orders++
	e := g.base("Purchase", ms, pv)
	e.URL = g.str(url)
	e.ContentIDs = [][]byte{g.str(product)}
	e.Value, e.Currency = float64(cents)/100, g.currency
	e.OrderID = g.str(fmt.Sprintf("ord-%d-%d", g.idx, g.orders))
	e.Tracking[event.EmailSHA256], e.Tracking[event.EmailGoogleSHA256] = g.email, g.emailG
	e.Tracking[event.PhoneSHA256], e.Tracking[event.PhoneGoogleSHA256] = g.phone, g.phoneG
	if !g.blocked {
		g.emit(e)
	}
	// The site's server sends only what it may: nothing of a visitor who
	// did not consent, whose cookieless id it does not know anyway.
	if g.blocked || (!g.denied && g.chance(g.cfg.ServerRate)) {
		s := e
		// The server sends it from the order system a few seconds later:
		// no page view, its own receive time.
		later := ms + 2000 + g.rng.Int64N(30_000)
		s.TS, s.TSMs = later/1000, later
		s.ReceivedAt = s.TS + 1
		s.Tracking[event.PageViewID] = nil
		s.Tracking[event.CookielessID] = nil // the server API has no such field
		s.GPC = false                        // nor a browser's headers
		s.Tracking[event.Channel] = g.str("server")
		s.Tracking[event.ExternalID] = g.str(fmt.Sprintf("cust-%d", g.idx))
		g.emit(s)
	}
}
