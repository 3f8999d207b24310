package dataset

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// The audiences' oracle: the members of each retargeting rule of
// schemas/queries/audiences and why a member may not be exported, computed
// in Go from the population's events by the rules the audiences keep,
// written out here independently of the SQL:
//   - membership reads each (event_id, event) once, the server's copy
//     winning over the browser's; bots are members too (and excluded below);
//   - a window is -days days of the pixel's time zone up to To, inclusive;
//   - who a member is (the latest non-empty of each hashed identifier and of
//     external_id, by event time) and whether they are excluded comes from
//     all of their events of the pixel, every copy: consent (the latest
//     denial of consent, ad_user_data or ad_personalization is no older than
//     the latest grant), else optout (an erasure names their visitor id or
//     one of their email hashes), else gpc (a gpc=1 event, when the pixel
//     honours GPC), else bot (an is_bot event).

// AudienceWindow is what every audience rule takes.
type AudienceWindow struct {
	Pixel string
	To    string // the window's last day, YYYY-MM-DD in the pixel's time zone
	Days  int    // the window's length in days
	// HonourGPC is the pixel's GPC setting: drop (true) leaves out visitors
	// who sent Sec-GPC: 1, flag (false) does not.
	HonourGPC bool
	// Erased holds the erasure requests (pixel.erasures): visitor ids and
	// emails' email_sha256.
	ErasedVisitors, ErasedEmails map[string]bool
}

// AudienceMember is one member of an audience as the rule returns it.
type AudienceMember struct {
	// Values are the rule's own columns, as text: engaged_seconds;
	// last_cart; product_ids (['a','b']); purchases, last_purchase;
	// visits, last_visit. Times are YYYY-MM-DD hh:mm:ss in the pixel's zone.
	Values                         []string
	EmailSHA256, EmailGoogleSHA256 string
	PhoneSHA256, PhoneGoogleSHA256 string
	ExternalID                     string
	Excluded                       string // consent, optout, gpc, bot or ""
}

// audienceRow is one de-duplicated event of a pixel as the rules read it.
type audienceRow struct {
	event, visitor, session, pageView, url, props string
	ts, engagedMs                                 int64
	contentIDs                                    []string
	day                                           string // in the pixel's zone
}

// audienceRows returns the pixel's events named one of names (none: all), each
// (event_id, event) once with the server's copy winning, bots included.
func (p *Population) audienceRows(pixel string, names ...string) []audienceRow {
	type key struct{ id, name string }
	type copyOf struct {
		row    audienceRow
		server bool
	}
	keep := func([]byte) bool { return true }
	if len(names) > 0 {
		keep = named(names...)
	}
	loc := p.Location(pixel)
	seen := map[key]int{}
	var rows []copyOf
	_ = p.Events(func(e *event.Event) error {
		if string(e.PixelID) != pixel || !keep(e.Name) {
			return nil
		}
		r := audienceRow{
			event: string(e.Name), visitor: string(e.VisitorID), session: string(e.SessionID),
			pageView: string(e.Tracking[event.PageViewID]), url: string(e.URL), props: string(e.Props),
			ts: e.TS, engagedMs: e.EngagedMs, day: time.Unix(e.TS, 0).In(loc).Format(time.DateOnly),
		}
		for _, id := range e.ContentIDs {
			r.contentIDs = append(r.contentIDs, string(id))
		}
		server := string(e.Tracking[event.Channel]) == "server"
		k := key{string(e.EventID), r.event}
		if i, ok := seen[k]; ok {
			if server && !rows[i].server {
				rows[i] = copyOf{r, true}
			}
			return nil
		}
		seen[k] = len(rows)
		rows = append(rows, copyOf{r, server})
		return nil
	})
	out := make([]audienceRow, len(rows))
	for i := range rows {
		out[i] = rows[i].row
	}
	return out
}

// from returns the window's first day.
func (w AudienceWindow) from() string {
	to, err := time.Parse(time.DateOnly, w.To)
	if err != nil {
		panic("dataset: AudienceWindow.To " + strconv.Quote(w.To) + " is no YYYY-MM-DD")
	}
	return to.AddDate(0, 0, 1-w.Days).Format(time.DateOnly)
}

func (w AudienceWindow) in(day string) bool { return day >= w.from() && day <= w.To }

// members fills in who each of the visitors is and whether they are
// excluded, from all of their events of the pixel.
func (p *Population) members(w AudienceWindow, values map[string][]string) map[string]AudienceMember {
	type latest struct {
		ms    int64
		value string
	}
	type signal struct{ granted, denied int64 } // latest times, -1 never
	type who struct {
		ids              [5]latest // email, email google, phone, phone google, external id
		signals          [3]signal // consent, ad_user_data, ad_personalization
		erased, gpc, bot bool
	}
	columns := [5]int{event.EmailSHA256, event.EmailGoogleSHA256, event.PhoneSHA256, event.PhoneGoogleSHA256, event.ExternalID}
	signals := [3]int{event.Consent, event.AdUserData, event.AdPersonalization}
	people := map[string]*who{}
	for v := range values {
		x := &who{}
		for i := range x.ids {
			x.ids[i].ms = -1
		}
		for i := range x.signals {
			x.signals[i] = signal{-1, -1}
		}
		people[v] = x
	}
	_ = p.Events(func(e *event.Event) error {
		x := people[string(e.VisitorID)]
		if x == nil || string(e.PixelID) != w.Pixel {
			return nil
		}
		ms := e.Millis()
		for i, c := range columns {
			if v := e.Tracking[c]; len(v) > 0 && ms > x.ids[i].ms {
				x.ids[i] = latest{ms, string(v)}
			}
		}
		for i, c := range signals {
			switch string(e.Tracking[c]) {
			case "granted":
				x.signals[i].granted = max(x.signals[i].granted, ms)
			case "denied":
				x.signals[i].denied = max(x.signals[i].denied, ms)
			}
		}
		x.erased = x.erased || w.ErasedVisitors[string(e.VisitorID)] || w.ErasedEmails[string(e.Tracking[event.EmailSHA256])]
		x.gpc = x.gpc || e.GPC
		x.bot = x.bot || e.IsBot
		return nil
	})
	out := make(map[string]AudienceMember, len(values))
	for v, vals := range values {
		x := people[v]
		m := AudienceMember{Values: vals,
			EmailSHA256: x.ids[0].value, EmailGoogleSHA256: x.ids[1].value,
			PhoneSHA256: x.ids[2].value, PhoneGoogleSHA256: x.ids[3].value, ExternalID: x.ids[4].value}
		denied := false
		for _, s := range x.signals {
			// A tie excludes: a denial no older than the latest grant.
			denied = denied || (s.denied >= 0 && s.denied >= s.granted)
		}
		switch {
		case denied:
			m.Excluded = "consent"
		case x.erased:
			m.Excluded = "optout"
		case w.HonourGPC && x.gpc:
			m.Excluded = "gpc"
		case x.bot:
			m.Excluded = "bot"
		}
		out[v] = m
	}
	return out
}

// clock formats unix second ts as the rules do: in the pixel's zone.
func (p *Population) clock(pixel string, ts int64) string {
	return time.Unix(ts, 0).In(p.Location(pixel)).Format(time.DateTime)
}

// EngagedNoPurchase is the engaged-no-purchase audience: visitors with a
// session in the window engaged at least seconds (the sum over its page
// views of each one's largest engaged_ms) or holding an Engaged goal of at
// least seconds (or without a "seconds" property), and no Purchase in the
// window. Its value is the longest session's engaged time in whole seconds.
func (p *Population) EngagedNoPurchase(w AudienceWindow, seconds int) map[string]AudienceMember {
	type sk struct{ visitor, session string }
	type pk struct {
		sk
		pv string
	}
	pages := map[pk]int64{}
	sessions := map[sk]int64{}
	goals, buys := map[string]bool{}, map[string]bool{}
	for _, r := range p.audienceRows(w.Pixel) {
		if !w.in(r.day) {
			continue
		}
		s := sk{r.visitor, r.session}
		if _, ok := sessions[s]; !ok {
			sessions[s] = 0
		}
		if r.pageView != "" {
			k := pk{s, r.pageView}
			pages[k] = max(pages[k], r.engagedMs)
		}
		switch r.event {
		case Engaged:
			if goalSeconds(r.props, seconds) {
				goals[r.visitor] = true
			}
		case "Purchase":
			buys[r.visitor] = true
		}
	}
	for k, ms := range pages {
		sessions[k.sk] += ms
	}
	longest := map[string]int64{}
	for s, ms := range sessions {
		longest[s.visitor] = max(longest[s.visitor], ms)
	}
	values := map[string][]string{}
	for v, ms := range longest {
		if !buys[v] && (ms >= int64(seconds)*1000 || goals[v]) {
			values[v] = []string{strconv.FormatInt(ms/1000, 10)}
		}
	}
	return p.members(w, values)
}

// goalSeconds says whether an Engaged event's props make it a goal of at
// least seconds: no "seconds" property, or one (a number or a numeric
// string) of seconds or more.
func goalSeconds(props string, seconds int) bool {
	var m map[string]any
	if props == "" || json.Unmarshal([]byte(props), &m) != nil {
		return true
	}
	v, ok := m["seconds"]
	if !ok {
		return true
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case string:
		f, _ = strconv.ParseFloat(x, 64)
	}
	return f >= float64(seconds)
}

// CartAbandoners is the cart-abandoners audience: visitors with an
// AddToCart in the window and no Purchase from their last one in it until
// purchaseDays days after. Its value is that last add to cart's time.
func (p *Population) CartAbandoners(w AudienceWindow, purchaseDays int) map[string]AudienceMember {
	last := map[string]int64{}
	purchases := map[string][]int64{}
	for _, r := range p.audienceRows(w.Pixel, "AddToCart", "Purchase") {
		switch {
		case r.event == "Purchase":
			purchases[r.visitor] = append(purchases[r.visitor], r.ts)
		case w.in(r.day):
			last[r.visitor] = max(last[r.visitor], r.ts)
		}
	}
	values := map[string][]string{}
	for v, cart := range last {
		bought := false
		for _, ts := range purchases[v] {
			bought = bought || (ts >= cart && ts <= cart+int64(purchaseDays)*86400)
		}
		if !bought {
			values[v] = []string{p.clock(w.Pixel, cart)}
		}
	}
	return p.members(w, values)
}

// ViewedNotBought is the viewed-not-bought audience: visitors who viewed
// products (ViewContent content ids) in the window that they did not buy (a
// Purchase's content ids) up to its last day, however long before. Its
// value is those products, sorted, as ['a','b'].
func (p *Population) ViewedNotBought(w AudienceWindow) map[string]AudienceMember {
	viewed := map[string]map[string]bool{}
	bought := map[string]map[string]bool{}
	for _, r := range p.audienceRows(w.Pixel, "ViewContent", "Purchase") {
		var set map[string]map[string]bool
		switch {
		case r.event == "Purchase" && r.day <= w.To:
			set = bought
		case r.event == "ViewContent" && w.in(r.day):
			set = viewed
		default:
			continue
		}
		if set[r.visitor] == nil {
			set[r.visitor] = map[string]bool{}
		}
		for _, id := range r.contentIDs {
			set[r.visitor][id] = true
		}
	}
	values := map[string][]string{}
	for v, ids := range viewed {
		var left []string
		for id := range ids {
			if id != "" && !bought[v][id] {
				left = append(left, id)
			}
		}
		if len(left) == 0 {
			continue
		}
		sort.Strings(left)
		text := "["
		for i, id := range left {
			if i > 0 {
				text += ","
			}
			text += "'" + id + "'"
		}
		values[v] = []string{text + "]"}
	}
	return p.members(w, values)
}

// Purchasers is the purchasers audience: visitors with a Purchase in the
// window; its values are how many and the last one's time.
func (p *Population) Purchasers(w AudienceWindow) map[string]AudienceMember {
	return p.counted(w, "Purchase", func(audienceRow) bool { return true })
}

// VisitedPages is the visited-pages audience: visitors with a PageView in
// the window whose url is LIKE pattern (% any run of characters, _ one);
// its values are how many and the last one's time.
func (p *Population) VisitedPages(w AudienceWindow, pattern string) map[string]AudienceMember {
	return p.counted(w, "PageView", func(r audienceRow) bool { return like(r.url, pattern) })
}

func (p *Population) counted(w AudienceWindow, name string, match func(audienceRow) bool) map[string]AudienceMember {
	count, last := map[string]int{}, map[string]int64{}
	for _, r := range p.audienceRows(w.Pixel, name) {
		if w.in(r.day) && match(r) {
			count[r.visitor]++
			last[r.visitor] = max(last[r.visitor], r.ts)
		}
	}
	values := map[string][]string{}
	for v, n := range count {
		values[v] = []string{strconv.Itoa(n), p.clock(w.Pixel, last[v])}
	}
	return p.members(w, values)
}

// like matches s against an SQL LIKE pattern without escapes: % any run of
// bytes, _ one character (s is ASCII here).
func like(s, pattern string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if like(s[i:], pattern[1:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && like(s[1:], pattern[1:])
	default:
		return s != "" && s[0] == pattern[0] && like(s[1:], pattern[1:])
	}
}
