package dataset

import (
	"sort"
	"time"
)

// The oracle of the reports that follow visitors' paths (schemas/queries
// funnel, time-to-convert, attribution, abandoners, retention), by the rules
// of oracle.go (each event once, the server's copy winning, bots out, the
// pixel's days) and each report's own rules as its SQL header states them,
// written out here in Go. A report's range is two pixel days, YYYY-MM-DD,
// both inclusive.

const dayMs = 86_400_000

// addDays returns the day n days after day (YYYY-MM-DD).
func addDays(day string, n int) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic("dataset: " + err.Error())
	}
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

// monday returns the Monday of the week day (YYYY-MM-DD) is in.
func monday(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic("dataset: " + err.Error())
	}
	back := (int(t.Weekday()) + 6) % 7 // days since Monday
	return t.AddDate(0, 0, -back).Format(time.DateOnly)
}

// pixelRows returns Rows of pixel only, whose names keep accepts.
func (p *Population) pixelRows(pixel string, names ...string) []Row {
	var out []Row
	for _, r := range p.Rows(named(names...)) {
		if r.Pixel == pixel {
			out = append(out, r)
		}
	}
	return out
}

// FunnelStep is one row of the funnel report.
type FunnelStep struct {
	Step     int
	Event    string
	Visitors int
	Share    float64 // of the first step's visitors
	Dropped  int     // of the previous step's visitors, those who did not reach this one
	Rate     float64 // Dropped / the previous step's visitors
}

// FunnelReport returns the funnel report of pixel over the pixel days from
// to to: steps (empty ones and "-" left out) done in order, each within
// window of the first, counted as ClickHouse's windowFunnel counts them
// (Funnel), with every step's event in the range.
func (p *Population) FunnelReport(pixel string, steps []string, window time.Duration, from, to string) []FunnelStep {
	var used []string
	for _, s := range steps {
		if s != "" && s != "-" {
			used = append(used, s)
		}
	}
	if len(used) == 0 {
		return nil
	}
	loc := p.Location(pixel)
	start, err := time.ParseInLocation(time.DateOnly, from, loc)
	if err != nil {
		panic("dataset: " + err.Error())
	}
	end, err := time.ParseInLocation(time.DateOnly, addDays(to, 1), loc)
	if err != nil {
		panic("dataset: " + err.Error())
	}
	counts := p.Funnel(pixel, used, window, start, end)
	out := make([]FunnelStep, len(used))
	for i, s := range used {
		f := FunnelStep{Step: i + 1, Event: s, Visitors: counts[i]}
		if counts[0] > 0 {
			f.Share = float64(counts[i]) / float64(counts[0])
		}
		if i > 0 {
			f.Dropped = counts[i-1] - counts[i]
			if counts[i-1] > 0 {
				f.Rate = float64(f.Dropped) / float64(counts[i-1])
			}
		}
		out[i] = f
	}
	return out
}

// TimeBucket is one row of the time-to-convert report.
type TimeBucket struct {
	Bucket      string
	Converters  int
	Share       float64
	MedianHours float64 // not rounded: the report rounds to 2 decimals
	MeanHours   float64
}

// TimeBuckets are the buckets of time-to-convert, each from its lower bound
// (inclusive) to the next one's.
var TimeBuckets = []struct {
	Name string
	From time.Duration
}{
	{"< 1 h", 0}, {"1-6 h", time.Hour}, {"6-24 h", 6 * time.Hour}, {"1-3 d", 24 * time.Hour},
	{"3-7 d", 3 * 24 * time.Hour}, {"7-14 d", 7 * 24 * time.Hour}, {"14-30 d", 14 * 24 * time.Hour}, {"> 30 d", 30 * 24 * time.Hour},
}

// TimeToConvert returns the time-to-convert report of pixel: the visitors
// whose first event called name within [from-lookbackDays, to] is on a day
// from from to to, timed from their first page view (or that conversion,
// if earlier) in that span, per bucket, then a Total row.
func (p *Population) TimeToConvert(pixel, name string, from, to string, lookbackDays int) []TimeBucket {
	type first struct{ seen, conv int64 }
	per := map[string]*first{}
	var order []string
	earliest := addDays(from, -lookbackDays)
	for _, r := range p.pixelRows(pixel, name, "PageView") {
		day := p.Day(pixel, r.TS)
		if day < earliest || day > to {
			continue
		}
		f := per[r.Visitor]
		if f == nil {
			f = &first{seen: r.Ms, conv: -1}
			per[r.Visitor] = f
			order = append(order, r.Visitor)
		}
		f.seen = min(f.seen, r.Ms)
		if r.Event == name && (f.conv < 0 || r.Ms < f.conv) {
			f.conv = r.Ms
		}
	}
	buckets := make([][]int64, len(TimeBuckets)+1) // the last: all
	for _, v := range order {
		f := per[v]
		if f.conv < 0 {
			continue
		}
		if day := p.Day(pixel, f.conv/1000); day < from || day > to {
			continue
		}
		d := f.conv - f.seen
		b := 0
		for i, tb := range TimeBuckets {
			if d >= tb.From.Milliseconds() {
				b = i
			}
		}
		buckets[b] = append(buckets[b], d)
		buckets[len(TimeBuckets)] = append(buckets[len(TimeBuckets)], d)
	}
	total := len(buckets[len(TimeBuckets)])
	out := make([]TimeBucket, len(buckets))
	for i, ds := range buckets {
		name := "Total"
		if i < len(TimeBuckets) {
			name = TimeBuckets[i].Name
		}
		tb := TimeBucket{Bucket: name, Converters: len(ds)}
		if n := len(ds); n > 0 {
			sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
			tb.Share = float64(n) / float64(total)
			tb.MedianHours = float64(ds[(n+1)/2-1]+ds[(n+2)/2-1]) / 2 / 3_600_000
			var sum int64
			for _, d := range ds {
				sum += d
			}
			tb.MeanHours = float64(sum) / float64(n) / 3_600_000
		}
		out[i] = tb
	}
	return out
}

// CreditKey names a row of the attribution report: a campaign (or
// "(direct)", "(none)", "(none)"; or "Total", "", "" for the totals) and the
// conversions' currency.
type CreditKey struct{ Source, Medium, Campaign, Currency string }

// Credit is what a campaign is credited with.
type Credit struct {
	Conversions float64
	Revenue     float64 // in the currency's units, not rounded
}

// Attribution returns the attribution report of pixel under model (first,
// last, linear or position): each conversion called name on a day from from
// to to shares one credit among its touches (the visitor's page views with
// a utm_source, utm_medium or utm_campaign at or before it and at most
// lookbackDays days before it), or gives it to (direct) if it has none;
// the Total rows per currency count every conversion once.
func (p *Population) Attribution(pixel, name, model string, lookbackDays int, from, to string) map[CreditKey]Credit {
	rows := p.pixelRows(pixel, name, "PageView")
	touches := map[string][]Row{}
	for _, r := range rows {
		if r.Event == "PageView" && (r.Source != "" || r.Medium != "" || r.Campaign != "") {
			touches[r.Visitor] = append(touches[r.Visitor], r)
		}
	}
	for _, ts := range touches {
		sort.SliceStable(ts, func(i, j int) bool {
			a, b := ts[i], ts[j]
			if a.Ms != b.Ms {
				return a.Ms < b.Ms
			}
			if a.Source != b.Source {
				return a.Source < b.Source
			}
			if a.Medium != b.Medium {
				return a.Medium < b.Medium
			}
			return a.Campaign < b.Campaign
		})
	}
	out := map[CreditKey]Credit{}
	add := func(k CreditKey, credit float64, c *Row) {
		v := out[k]
		v.Conversions += credit
		v.Revenue += credit * float64(c.Cents) / 100
		out[k] = v
	}
	for i := range rows {
		c := &rows[i]
		if c.Event != name {
			continue
		}
		if day := p.Day(pixel, c.TS); day < from || day > to {
			continue
		}
		var mine []Row
		for _, t := range touches[c.Visitor] {
			if t.Ms <= c.Ms && c.Ms-t.Ms <= int64(lookbackDays)*dayMs {
				mine = append(mine, t)
			}
		}
		add(CreditKey{"Total", "", "", c.Currency}, 1, c)
		if len(mine) == 0 {
			add(CreditKey{"(direct)", "(none)", "(none)", c.Currency}, 1, c)
			continue
		}
		n := len(mine)
		for j, t := range mine {
			var credit float64
			switch model {
			case "first":
				if j == 0 {
					credit = 1
				}
			case "last":
				if j == n-1 {
					credit = 1
				}
			case "linear":
				credit = 1 / float64(n)
			case "position":
				switch {
				case n == 1:
					credit = 1
				case n == 2:
					credit = 0.5
				case j == 0 || j == n-1:
					credit = 0.4
				default:
					credit = 0.2 / float64(n-2)
				}
			default:
				panic("dataset: unknown attribution model " + model)
			}
			if credit > 0 {
				add(CreditKey{t.Source, t.Medium, t.Campaign, c.Currency}, credit, c)
			}
		}
	}
	return out
}

// AbandonDay is one row of the abandoners report.
type AbandonDay struct {
	Day                  string // or "Total"
	Visitors, Abandoners int
}

// AbandonersByDay returns the abandoners report of pixel: per day from from
// to to with an event called did, the visitors who did it that day and
// those of them with no event called not at or after their first did of the
// day and at most days days after it; then a Total row, per visitor from
// their first did in the range.
func (p *Population) AbandonersByDay(pixel, did, not string, days int, from, to string) []AbandonDay {
	type visitor struct {
		firsts []Row // the first did of each day, in time order
		nots   []int64
	}
	per := map[string]*visitor{}
	for _, r := range p.pixelRows(pixel, did, not) {
		v := per[r.Visitor]
		if v == nil {
			v = &visitor{}
			per[r.Visitor] = v
		}
		if r.Event == not {
			v.nots = append(v.nots, r.Ms)
		}
		if r.Event == did {
			day := p.Day(pixel, r.TS)
			if day < from || day > to {
				continue
			}
			if n := len(v.firsts); n == 0 || p.Day(pixel, v.firsts[n-1].TS) != day {
				v.firsts = append(v.firsts, r) // rows are in time order
			}
		}
	}
	byDay := map[string]*AbandonDay{}
	total := AbandonDay{Day: "Total"}
	for _, v := range per {
		if len(v.firsts) == 0 {
			continue
		}
		abandoned := func(x int64) bool {
			for _, y := range v.nots {
				if y >= x && y-x <= int64(days)*dayMs {
					return false
				}
			}
			return true
		}
		for _, x := range v.firsts {
			day := p.Day(pixel, x.TS)
			d := byDay[day]
			if d == nil {
				d = &AbandonDay{Day: day}
				byDay[day] = d
			}
			d.Visitors++
			if abandoned(x.Ms) {
				d.Abandoners++
			}
		}
		total.Visitors++
		if abandoned(v.firsts[0].Ms) {
			total.Abandoners++
		}
	}
	var out []AbandonDay
	for _, d := range byDay {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return append(out, total)
}

// RetentionRow is one row of the retention report.
type RetentionRow struct {
	Cohort                   string // its Monday, or "Total"
	Week                     int
	Visitors, CohortVisitors int
}

// Retention returns the retention report of pixel: cohorts of the visitors
// whose first page view within [from-lookbackDays, to] is on a day from
// from to to, by the Monday of that day's week; for weeks 0 to weeks after
// the cohort's, while the week starts on or before to, how many viewed a
// page in that week (within the span); then Total rows per week over the
// cohorts that have that week.
func (p *Population) Retention(pixel string, weeks, lookbackDays int, from, to string) []RetentionRow {
	type visitor struct {
		first  string
		active map[string]bool // Mondays of the weeks with a page view
	}
	per := map[string]*visitor{}
	earliest := addDays(from, -lookbackDays)
	for _, r := range p.pixelRows(pixel, "PageView") {
		day := p.Day(pixel, r.TS)
		if day < earliest || day > to {
			continue
		}
		v := per[r.Visitor]
		if v == nil {
			v = &visitor{first: day, active: map[string]bool{}}
			per[r.Visitor] = v
		}
		v.first = min(v.first, day)
		v.active[monday(day)] = true
	}
	type key struct {
		cohort string
		week   int
	}
	cells := map[key]*RetentionRow{}
	for _, v := range per {
		if v.first < from {
			continue // seen before the range
		}
		cohort := monday(v.first)
		for k := 0; k <= weeks; k++ {
			week := addDays(cohort, 7*k)
			if week > to {
				break
			}
			for _, c := range []string{cohort, "Total"} {
				cell := cells[key{c, k}]
				if cell == nil {
					cell = &RetentionRow{Cohort: c, Week: k}
					cells[key{c, k}] = cell
				}
				cell.CohortVisitors++
				if v.active[week] {
					cell.Visitors++
				}
			}
		}
	}
	var out []RetentionRow
	for _, c := range cells {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Cohort == "Total") != (b.Cohort == "Total") {
			return b.Cohort == "Total"
		}
		if a.Cohort != b.Cohort {
			return a.Cohort < b.Cohort
		}
		return a.Week < b.Week
	})
	return out
}
