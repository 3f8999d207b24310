package dataset

import (
	"sort"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// The oracle: exact answers computed in Go from a population's events, by
// the rules every report keeps, written out here independently of any SQL:
//   - each (event_id, event) counts once; of its copies the server's wins
//     over the browser's (as in every shipped query, and as ReplacingMergeTree
//     merges keep the last inserted copy, which is the server's), and
//     byte-identical replays are one;
//   - bots (is_bot=1) are excluded;
//   - days are the pixel's days, in its time zone;
//   - money is summed in cents per currency, never across currencies.

// Row is one de-duplicated event as the oracle reads it.
type Row struct {
	EventID, Pixel, Visitor, Session, Event string
	Channel, Campaign, Source, Medium       string
	PageView                                string
	TS                                      int64 // unix seconds
	Ms                                      int64 // unix milliseconds
	Cents                                   int64 // value in cents
	Currency                                string
	EngagedMs                               int64
}

// Rows returns the population's events once each by (event_id, event), the
// server copy winning, bots left out, in time order (ties by event_id). It
// keeps only events whose name keep accepts (nil: all), so that an oracle over
// a large population holds only what it needs.
func (p *Population) Rows(keep func(name []byte) bool) []Row {
	type key struct{ id, name string }
	seen := map[key]int{}
	var rows []Row
	_ = p.Events(func(e *event.Event) error {
		if e.IsBot || (keep != nil && !keep(e.Name)) {
			return nil
		}
		k := key{string(e.EventID), string(e.Name)}
		r := Row{
			EventID: k.id, Pixel: string(e.PixelID), Visitor: string(e.VisitorID), Session: string(e.SessionID), Event: k.name,
			Channel: string(e.Tracking[event.Channel]), Campaign: string(e.Tracking[event.UTMCampaign]),
			Source: string(e.Tracking[event.UTMSource]), Medium: string(e.Tracking[event.UTMMedium]),
			PageView: string(e.Tracking[event.PageViewID]),
			TS:       e.TS, Ms: e.Millis(), Cents: cents(e.Value), Currency: string(e.Currency), EngagedMs: e.EngagedMs,
		}
		if i, ok := seen[k]; ok {
			if rows[i].Channel != "server" && r.Channel == "server" {
				rows[i] = r
			}
			return nil
		}
		seen[k] = len(rows)
		rows = append(rows, r)
		return nil
	})
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Ms != rows[j].Ms {
			return rows[i].Ms < rows[j].Ms
		}
		return rows[i].EventID < rows[j].EventID
	})
	return rows
}

func cents(v float64) int64 {
	if v < 0 {
		return -int64(-v*100 + 0.5)
	}
	return int64(v*100 + 0.5)
}

func named(names ...string) func([]byte) bool {
	return func(n []byte) bool {
		for _, x := range names {
			if string(n) == x {
				return true
			}
		}
		return false
	}
}

// Conversions are the totals of one group of conversion events.
type Conversions struct {
	Count      int              // events, each (event_id, event) once
	Converters int              // distinct visitor ids among them
	Revenue    map[string]int64 // cents by currency
}

// DayKey names a pixel's day (YYYY-MM-DD in the pixel's time zone).
type DayKey struct{ Pixel, Day string }

// CampaignKey names a campaign of a pixel; empty for conversions no
// campaign touched.
type CampaignKey struct{ Pixel, Source, Medium, Campaign string }

// Day returns the pixel's day of unix second ts.
func (p *Population) Day(pixel string, ts int64) string {
	return time.Unix(ts, 0).In(p.Location(pixel)).Format("2006-01-02")
}

func group[K comparable](rows []Row, key func(*Row) (K, bool)) map[K]Conversions {
	out := map[K]Conversions{}
	visitors := map[K]map[string]bool{}
	for i := range rows {
		r := &rows[i]
		k, ok := key(r)
		if !ok {
			continue
		}
		c := out[k]
		if c.Revenue == nil {
			c.Revenue = map[string]int64{}
			visitors[k] = map[string]bool{}
		}
		c.Count++
		if r.Currency != "" {
			c.Revenue[r.Currency] += r.Cents
		}
		if !visitors[k][r.Visitor] {
			visitors[k][r.Visitor] = true
			c.Converters++
		}
		out[k] = c
	}
	return out
}

// ConversionsByDay returns the conversions named name per pixel and pixel's
// day.
func (p *Population) ConversionsByDay(name string) map[DayKey]Conversions {
	return group(p.Rows(named(name)), func(r *Row) (DayKey, bool) {
		return DayKey{r.Pixel, p.Day(r.Pixel, r.TS)}, true
	})
}

// ConversionsByCampaign returns the conversions named name per pixel and the
// campaign of their last touch: the latest page view of the same visitor with
// a utm_campaign at or before the conversion and at most lookback before it.
// Conversions without such a touch are under the pixel with empty campaign
// fields ("direct").
func (p *Population) ConversionsByCampaign(name string, lookback time.Duration) map[CampaignKey]Conversions {
	rows := p.Rows(named(name, "PageView"))
	type vk struct{ pixel, visitor string }
	last := map[vk]*Row{} // rows are in time order: the latest touch so far
	var conv []Row        // the conversions, with their touch's campaign
	for i := range rows {
		r := &rows[i]
		k := vk{r.Pixel, r.Visitor}
		if r.Event == "PageView" && r.Campaign != "" {
			last[k] = r
		}
		if r.Event == name {
			c := *r
			c.Source, c.Medium, c.Campaign = "", "", ""
			if t := last[k]; t != nil && r.Ms-t.Ms <= lookback.Milliseconds() {
				c.Source, c.Medium, c.Campaign = t.Source, t.Medium, t.Campaign
			}
			conv = append(conv, c)
		}
	}
	return group(conv, func(r *Row) (CampaignKey, bool) {
		return CampaignKey{r.Pixel, r.Source, r.Medium, r.Campaign}, true
	})
}

// UniqueConverters returns the distinct visitors of pixel with an event
// named name in [from, to).
func (p *Population) UniqueConverters(pixel, name string, from, to time.Time) int {
	seen := map[string]bool{}
	for _, r := range p.Rows(named(name)) {
		if r.Pixel == pixel && r.TS >= from.Unix() && r.TS < to.Unix() {
			seen[r.Visitor] = true
		}
	}
	return len(seen)
}

// Funnel returns, for each of steps, how many visitors of pixel reached it
// in order with every step within window of the first, as ClickHouse's
// windowFunnel counts (at second precision, as ts has): a visitor at level
// k counts for steps 1..k. Only first steps in [from, to) start a chain.
func (p *Population) Funnel(pixel string, steps []string, window time.Duration, from, to time.Time) []int {
	rows := p.Rows(named(steps...))
	byVisitor := map[string][]*Row{}
	var order []string
	for i := range rows {
		r := &rows[i]
		if r.Pixel != pixel || r.TS < from.Unix() || r.TS >= to.Unix() {
			continue
		}
		if byVisitor[r.Visitor] == nil {
			order = append(order, r.Visitor)
		}
		byVisitor[r.Visitor] = append(byVisitor[r.Visitor], r)
	}
	counts := make([]int, len(steps))
	for _, v := range order {
		// starts[k] is the start time of the best chain that reached step k.
		starts := make([]int64, len(steps))
		reached := make([]bool, len(steps))
		level := 0
		for _, r := range byVisitor[v] {
			for k, s := range steps {
				if r.Event != s {
					continue
				}
				if k == 0 {
					starts[0], reached[0] = r.TS, true
				} else if reached[k-1] && r.TS <= starts[k-1]+int64(window/time.Second) {
					starts[k], reached[k] = starts[k-1], true
				}
				if reached[k] && k+1 > level {
					level = k + 1
				}
			}
		}
		for k := 0; k < level; k++ {
			counts[k]++
		}
	}
	return counts
}

// Engagement counts the sessions of pixel, and their distinct visitors,
// whose engaged time is over threshold: the largest engaged_ms of each page
// view, summed over the session's page views. Sessions are (visitor_id,
// session_id) pairs; page views are page_view_id.
func (p *Population) Engagement(pixel string, threshold time.Duration) (visitors, sessions int) {
	type sk struct{ visitor, session string }
	type pk struct {
		sk
		pv string
	}
	// Copies do not change a maximum: no de-duplication, and only one
	// number per page view is kept, so a large population streams through.
	pages := map[pk]int64{}
	_ = p.Events(func(e *event.Event) error {
		pv := e.Tracking[event.PageViewID]
		if e.IsBot || len(pv) == 0 || string(e.PixelID) != pixel {
			return nil
		}
		k := pk{sk{string(e.VisitorID), string(e.SessionID)}, string(pv)}
		pages[k] = max(pages[k], e.EngagedMs)
		return nil
	})
	perSession := map[sk]int64{}
	for k, ms := range pages {
		perSession[k.sk] += ms
	}
	seen := map[string]bool{}
	for k, ms := range perSession {
		if ms > threshold.Milliseconds() {
			sessions++
			seen[k.visitor] = true
		}
	}
	return len(seen), sessions
}

// Abandoners returns the visitors of pixel who did `did` in [at-within, at)
// and did not do `not` in that window, sorted: the cart-abandoner audience
// with did=AddToCart, not=Purchase.
func (p *Population) Abandoners(pixel, did, not string, within time.Duration, at time.Time) []string {
	from, to := at.Add(-within).Unix(), at.Unix()
	dids, nots := map[string]bool{}, map[string]bool{}
	for _, r := range p.Rows(named(did, not)) {
		if r.Pixel != pixel || r.TS < from || r.TS >= to {
			continue
		}
		if r.Event == did {
			dids[r.Visitor] = true
		} else {
			nots[r.Visitor] = true
		}
	}
	var out []string
	for v := range dids {
		if !nots[v] {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
