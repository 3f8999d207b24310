package dataset

import (
	"sort"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// The oracle of the reports that read the rollups (schemas/queries/
// conversions.sql, engaged.sql, pages.sql), computed from the population's
// events as stored, copies included, by the rules those reports document:
//   - an event counts once per group one of its copies falls in, and of its
//     copies in the group the server's value wins; copies of one event fall
//     into different groups only when they straddle a day (the server's copy
//     comes seconds later), and the 'Total' rows count every event once;
//   - bots are left out; days are the pixel's days;
//   - sessions are (visitor_id, session_id), their campaign the first
//     event's (by time in milliseconds).

// Total is the first grouping column of a report's totals rows.
const Total = "Total"

// NoCampaign is the conversions report's name for sessions whose landing
// page had no campaign (or source, or medium).
const NoCampaign = "(none)"

// ConversionKey names a row of the conversions report: its group (a day,
// campaign, source or medium, or Total) and currency.
type ConversionKey struct{ Dimension, Currency string }

// ConversionRow is a row of the conversions report.
type ConversionRow struct {
	Conversions, Converters, Visitors int
	Cents                             int64 // revenue in cents
}

// copyOf is one stored copy of an event, as the rollup oracles read it.
type copyOf struct {
	id, name, visitor, session, currency, pageView, url, channel string
	campaign, source, medium                                     string
	ts, ms, cents, engagedMs                                     int64
}

// copies calls fn with every stored event of pixel that is not a bot's,
// copies and replays included.
func (p *Population) copies(pixel string, fn func(c *copyOf)) {
	_ = p.Events(func(e *event.Event) error {
		if e.IsBot || string(e.PixelID) != pixel {
			return nil
		}
		fn(&copyOf{
			id: string(e.EventID), name: string(e.Name), visitor: string(e.VisitorID), session: string(e.SessionID),
			currency: string(e.Currency), pageView: string(e.Tracking[event.PageViewID]), url: string(e.URL),
			channel:  string(e.Tracking[event.Channel]),
			campaign: string(e.Tracking[event.UTMCampaign]), source: string(e.Tracking[event.UTMSource]), medium: string(e.Tracking[event.UTMMedium]),
			ts: e.TS, ms: e.Millis(), cents: cents(e.Value), engagedMs: e.EngagedMs,
		})
		return nil
	})
}

// inRange reports whether day (YYYY-MM-DD) is within [from, to].
func inRange(day, from, to string) bool { return day >= from && day <= to }

// winner keeps, of the copies of one event, the server's value.
type winner struct {
	server bool
	cents  int64
}

func (w *winner) add(c *copyOf, seen bool) {
	if !seen || (!w.server && c.channel == "server") {
		w.server, w.cents = c.channel == "server", c.cents
	}
}

// conversionGroups accumulates the conversions report's rows.
type conversionGroups struct {
	visitors   map[string]map[string]bool           // by group
	converters map[ConversionKey]map[string]bool    // by group and currency
	events     map[ConversionKey]map[string]*winner // by group and currency: event id → its winning copy
}

func newConversionGroups() *conversionGroups {
	return &conversionGroups{
		visitors:   map[string]map[string]bool{},
		converters: map[ConversionKey]map[string]bool{},
		events:     map[ConversionKey]map[string]*winner{},
	}
}

func (g *conversionGroups) visitor(group, visitor string) {
	if g.visitors[group] == nil {
		g.visitors[group] = map[string]bool{}
	}
	g.visitors[group][visitor] = true
}

func (g *conversionGroups) conversion(group string, c *copyOf) {
	k := ConversionKey{group, c.currency}
	if g.events[k] == nil {
		g.events[k] = map[string]*winner{}
		g.converters[k] = map[string]bool{}
	}
	w, seen := g.events[k][c.id]
	if !seen {
		w = &winner{}
		g.events[k][c.id] = w
	}
	w.add(c, seen)
	g.converters[k][c.visitor] = true
}

func (g *conversionGroups) rows() map[ConversionKey]ConversionRow {
	out := map[ConversionKey]ConversionRow{}
	for k, evs := range g.events {
		r := ConversionRow{Conversions: len(evs), Converters: len(g.converters[k]), Visitors: len(g.visitors[k.Dimension])}
		for _, w := range evs {
			r.Cents += w.cents
		}
		out[k] = r
	}
	// A group with visitors but no conversion is one row of zeros.
	for group, vs := range g.visitors {
		has := false
		for k := range g.events {
			if k.Dimension == group {
				has = true
				break
			}
		}
		if !has {
			out[ConversionKey{group, ""}] = ConversionRow{Visitors: len(vs)}
		}
	}
	return out
}

// ReportConversions returns the rows of the conversions report of pixel for
// the days [from, to] (YYYY-MM-DD in the pixel's zone), conversion event
// name and grouping by (day, campaign, source or medium), Total rows
// included, bots left out.
//
// By day, a conversion counts on its day and the visitors of a day are
// those with an event that day other than a PageEngagement heartbeat. By
// campaign, source or medium, the group is the landing campaign of the
// conversion's session, a session counts when its first event's day is in
// the range, and the visitors of a group are those of its sessions.
func (p *Population) ReportConversions(pixel, name, by, from, to string) map[ConversionKey]ConversionRow {
	g := newConversionGroups()
	if by == "day" {
		p.copies(pixel, func(c *copyOf) {
			day := p.Day(pixel, c.ts)
			if !inRange(day, from, to) {
				return
			}
			if c.name != PageEngagement {
				g.visitor(day, c.visitor)
				g.visitor(Total, c.visitor)
			}
			if c.name == name {
				g.conversion(day, c)
				g.conversion(Total, c)
			}
		})
		return g.rows()
	}
	type sk struct{ visitor, session string }
	type session struct {
		start, firstMs int64
		first          copyOf
		convs          []copyOf
	}
	sessions := map[sk]*session{}
	p.copies(pixel, func(c *copyOf) {
		k := sk{c.visitor, c.session}
		s := sessions[k]
		if s == nil {
			s = &session{start: c.ts, firstMs: c.ms, first: *c}
			sessions[k] = s
		}
		s.start = min(s.start, c.ts)
		if c.ms < s.firstMs {
			s.firstMs, s.first = c.ms, *c
		}
		if c.name == name {
			s.convs = append(s.convs, *c)
		}
	})
	for k, s := range sessions {
		if !inRange(p.Day(pixel, s.start), from, to) {
			continue
		}
		group := map[string]string{"campaign": s.first.campaign, "source": s.first.source, "medium": s.first.medium}[by]
		if group == "" {
			group = NoCampaign
		}
		g.visitor(group, k.visitor)
		g.visitor(Total, k.visitor)
		for i := range s.convs {
			g.conversion(group, &s.convs[i])
			g.conversion(Total, &s.convs[i])
		}
	}
	return g.rows()
}

// EngagedRow is a row of the engaged report.
type EngagedRow struct {
	Sessions, EngagedSessions, Visitors, EngagedVisitors int
}

// pageView is one page view as the engaged and pages oracles read it.
type pageView struct {
	visitor, session string
	start, firstMs   int64
	url              string
	engagedMs        int64
}

// pageViews returns the page views of pixel (events with a page_view_id,
// and PageViews without one, which the pixel GIF sends: each its own page
// view, by its event_id; bots left out): their first event's time and url,
// their largest engaged_ms.
func (p *Population) pageViews(pixel string) []*pageView {
	type pk struct{ visitor, session, pv string }
	m := map[pk]*pageView{}
	var out []*pageView
	p.copies(pixel, func(c *copyOf) {
		pv := c.pageView
		if pv == "" && c.name == "PageView" {
			pv = c.id
		}
		if pv == "" {
			return
		}
		k := pk{c.visitor, c.session, pv}
		v := m[k]
		if v == nil {
			v = &pageView{visitor: c.visitor, session: c.session, start: c.ts, firstMs: c.ms, url: c.url}
			m[k] = v
			out = append(out, v)
		}
		v.start = min(v.start, c.ts)
		if c.ms < v.firstMs {
			v.firstMs, v.url = c.ms, c.url
		}
		v.engagedMs = max(v.engagedMs, c.engagedMs)
	})
	return out
}

// ReportEngaged returns the rows of the engaged report of pixel for the days
// [from, to], Total included: per day of a session's first page view, its
// sessions with page views and how many had engaged time (the sum of their
// page views' largest engaged_ms) over threshold, and their visitors.
func (p *Population) ReportEngaged(pixel, from, to string, threshold time.Duration) map[string]EngagedRow {
	type sk struct{ visitor, session string }
	type session struct{ start, engaged int64 }
	sessions := map[sk]*session{}
	for _, v := range p.pageViews(pixel) {
		k := sk{v.visitor, v.session}
		s := sessions[k]
		if s == nil {
			s = &session{start: v.start}
			sessions[k] = s
		}
		s.start = min(s.start, v.start)
		s.engaged += v.engagedMs
	}
	type counts struct {
		sessions, engaged         int
		visitors, engagedVisitors map[string]bool
	}
	byDay := map[string]*counts{}
	for k, s := range sessions {
		day := p.Day(pixel, s.start)
		if !inRange(day, from, to) {
			continue
		}
		for _, d := range []string{day, Total} {
			c := byDay[d]
			if c == nil {
				c = &counts{visitors: map[string]bool{}, engagedVisitors: map[string]bool{}}
				byDay[d] = c
			}
			c.sessions++
			c.visitors[k.visitor] = true
			if s.engaged > threshold.Milliseconds() {
				c.engaged++
				c.engagedVisitors[k.visitor] = true
			}
		}
	}
	out := map[string]EngagedRow{}
	for d, c := range byDay {
		out[d] = EngagedRow{Sessions: c.sessions, EngagedSessions: c.engaged, Visitors: len(c.visitors), EngagedVisitors: len(c.engagedVisitors)}
	}
	return out
}

// PageRow is a row of the pages report.
type PageRow struct {
	Page            string
	Views, Visitors int
	EngagedMs       int64 // summed over the page's views
}

// URLPath returns the path of url as ClickHouse's path() does (no scheme,
// host, query string or fragment), "/" when it has none; a URL without a
// scheme has none for ClickHouse.
func URLPath(url string) string {
	i := strings.Index(url, "://")
	if i < 0 {
		return "/"
	}
	url = url[i+3:]
	if j := strings.IndexByte(url, '/'); j >= 0 {
		url = url[j:]
	} else {
		url = ""
	}
	if i := strings.IndexAny(url, "?#"); i >= 0 {
		url = url[:i]
	}
	if url == "" {
		return "/"
	}
	return url
}

// ReportPages returns the rows of the pages report of pixel for the days
// [from, to]: the limit pages with the most views (ties by path), then the
// Total of every page. A page view counts on the day of its first event,
// under the path of that event's url.
func (p *Population) ReportPages(pixel, from, to string, limit int) []PageRow {
	type acc struct {
		row      PageRow
		visitors map[string]bool
	}
	pages := map[string]*acc{}
	for _, v := range p.pageViews(pixel) {
		if !inRange(p.Day(pixel, v.start), from, to) {
			continue
		}
		for _, page := range []string{URLPath(v.url), Total} {
			a := pages[page]
			if a == nil {
				a = &acc{row: PageRow{Page: page}, visitors: map[string]bool{}}
				pages[page] = a
			}
			a.row.Views++
			a.row.EngagedMs += v.engagedMs
			a.visitors[v.visitor] = true
		}
	}
	var rows []PageRow
	var total PageRow
	for page, a := range pages {
		a.row.Visitors = len(a.visitors)
		if page == Total {
			total = a.row
			continue
		}
		rows = append(rows, a.row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Views != rows[j].Views {
			return rows[i].Views > rows[j].Views
		}
		return rows[i].Page < rows[j].Page
	})
	if len(rows) > limit {
		rows = rows[:limit]
	}
	if total.Views > 0 {
		rows = append(rows, total)
	}
	return rows
}
