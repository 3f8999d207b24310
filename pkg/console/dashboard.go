package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/report"
)

// dashboardRoutes registers the dashboard page and the report API. Both run
// the shipped reports through report.Run, as pixelctl report does, so that
// the console's numbers are pixelctl's.
func (s *Server) dashboardRoutes() {
	s.page("GET /pixels/{id}/dashboard", "", s.dashboard)
	s.api("GET /api/reports", "", s.apiReports)
	s.api("GET /api/reports/{name}", "", s.apiReport)
}

// The dashboard's ranges: the links it offers.
var dashboardRanges = []string{"7d", "30d", "90d"}

// dashRange is the range a dashboard request asks for: Last, or From and To.
type dashRange struct{ Last, From, To string }

// parseDashRange reads ?last=7d|30d|90d or ?from=YYYY-MM-DD&to=YYYY-MM-DD
// (nothing is 7d) and checks it as report.ParseRange does.
func parseDashRange(q url.Values, today time.Time) (dashRange, error) {
	r := dashRange{Last: q.Get("last"), From: q.Get("from"), To: q.Get("to")}
	if r.Last == "" && r.From == "" && r.To == "" {
		r.Last = "7d"
	}
	if r.Last != "" {
		ok := false
		for _, l := range dashboardRanges {
			ok = ok || l == r.Last
		}
		if !ok {
			return r, errors.New("the range last=" + r.Last + " is not one the dashboard offers; use 7d, 30d or 90d, or from and to (YYYY-MM-DD)")
		}
	}
	if _, err := report.ParseRange(r.From, r.To, r.Last, today); err != nil {
		return r, errors.New("the range: " + strings.NewReplacer("-from", "from", "-to", "to", "-last", "last").Replace(err.Error()))
	}
	return r, nil
}

// The reports the dashboard shows, by reportCard.
const (
	cardEngaged     = "engaged"
	cardConversions = "conversions"
	cardCPA         = "cpa"
	cardFunnel      = "funnel"
	cardPages       = "pages"
	// cardCampaigns is the conversions report by landing campaign: the
	// campaigns' conversion rates, which the cpa report does not have.
	cardCampaigns = "campaigns"
)

// cardReports are the report behind each card, in the page's order.
var cardReports = []struct{ card, report string }{
	{cardEngaged, "engaged"}, {cardConversions, "conversions"}, {cardCPA, "cpa"}, {cardCampaigns, "conversions"}, {cardFunnel, "funnel"}, {cardPages, "pages"},
}

// reportCard is one report on the dashboard: its table, or the error it gave.
type reportCard struct {
	Name, Title, Error string
	Result             *report.Result
	Table              *reportTable
}

// reportTable is a report's table for the page: every cell with its raw
// value (data-value, as pixelctl report -format json writes it) and its
// text (as the table format writes it).
type reportTable struct {
	Columns []reportColumn
	Rows    [][]reportCell
	Totals  [][]reportCell
}

type reportColumn struct {
	Name    string
	Numeric bool
}

type reportCell struct {
	Col, Value, Text string
	Numeric          bool
}

// newTableView formats a report's table.
func newTableView(t *analysis.Table) *reportTable {
	v := &reportTable{}
	for _, c := range t.Columns {
		v.Columns = append(v.Columns, reportColumn{Name: c.Name, Numeric: report.Numeric(c)})
	}
	cells := func(rows [][]any) [][]reportCell {
		out := make([][]reportCell, len(rows))
		for i, row := range rows {
			out[i] = make([]reportCell, len(row))
			for j, x := range row {
				c := t.Columns[j]
				out[i][j] = reportCell{Col: c.Name, Value: rawValue(x, c), Text: report.Cell(x, c), Numeric: v.Columns[j].Numeric}
			}
		}
		return out
	}
	v.Rows, v.Totals = cells(t.Rows), cells(t.Totals)
	return v
}

// rawValue is a value as pixelctl report -format json writes it, the way
// JavaScript's String() would write the parsed JSON value: a string
// without quotes, a number as JSON writes it (the shortest exact form),
// null for a NULL or a number that is not one.
func rawValue(v any, c analysis.Column) string {
	j := report.JSONValue(v, c)
	if s, ok := j.(string); ok {
		return s
	}
	b, err := json.Marshal(j)
	if err != nil {
		return ""
	}
	return string(b)
}

// kpiTile is one tile.
type kpiTile struct {
	ID, Label, Text, Value, Note string
}

// chartData is what dashboard.js draws, in <script type="application/json"
// id="chart-data">: html/template escapes it for that context.
type chartData struct {
	Traffic     *chartSeries `json:"traffic,omitempty"`
	Conversions *chartSeries `json:"conversions,omitempty"`
}

type chartSeries struct {
	Labels   []string       `json:"labels"`
	Datasets []chartDataset `json:"datasets"`
}

type chartDataset struct {
	Label string    `json:"label"`
	Data  []float64 `json:"data"`
	Axis  string    `json:"axis"` // "count" or "money"
}

type dashboardView struct {
	Range            dashRange
	Ranges           []string
	From, To         string // the range run, for the custom inputs
	TimeZone         string
	EngagedSeconds   int
	Steps            string // the funnel's steps as given ("" the report's default)
	DefaultSteps     string
	Error            string // a bad range: no report ran
	KPIs             []kpiTile
	Cards            map[string]*reportCard
	Chart            chartData
	TrafficLabel     string
	ConversionsLabel string
}

// dashboard shows one pixel's reports for a range.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	v := &dashboardView{Ranges: dashboardRanges, EngagedSeconds: p.Settings.EngagementSeconds, TimeZone: p.Zone()}
	if v.EngagedSeconds <= 0 {
		v.EngagedSeconds = 60
	}
	if q, err := report.Lookup(cardFunnel); err == nil {
		if prm, ok := q.Param("steps"); ok {
			v.DefaultSteps = prm.Default
		}
	}
	v.Steps = strings.TrimSpace(r.URL.Query().Get("steps"))
	status := http.StatusOK
	loc, err := time.LoadLocation(v.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	v.Range, err = parseDashRange(r.URL.Query(), s.opts.Now().In(loc))
	if err != nil {
		v.Error, status = err.Error(), http.StatusBadRequest
		v.From, v.To = v.Range.From, v.Range.To
	} else {
		s.runCards(r.Context(), p, v)
	}
	s.renderView(w, r, status, "dashboard.html", &view{Title: "Dashboard · " + p.Name, Pixel: p, Data: v})
}

// runCards runs the dashboard's reports; one that fails shows its error in
// its card and the others still run.
func (s *Server) runCards(ctx context.Context, p *registry.Pixel, v *dashboardView) {
	params := map[string]map[string]string{
		cardEngaged:     {"seconds": strconv.Itoa(v.EngagedSeconds)},
		cardConversions: {"by": "day"},
		cardCPA:         {},
		cardCampaigns:   {"by": "campaign"},
		cardFunnel:      {},
		cardPages:       {},
	}
	if v.Steps != "" {
		params[cardFunnel]["steps"] = v.Steps
	}
	v.Cards = map[string]*reportCard{}
	for _, cr := range cardReports {
		name := cr.card
		c := &reportCard{Name: name}
		if q, err := report.Lookup(cr.report); err == nil {
			c.Title = q.Title
		}
		res, err := report.Run(ctx, s.conn, cr.report, report.Options{
			Pixel: p.ID, Last: v.Range.Last, From: v.Range.From, To: v.Range.To, Params: params[name], Now: s.opts.Now,
		})
		var re *report.Error
		switch {
		case errors.As(err, &re):
			c.Error = re.Error()
		case err != nil:
			s.log.Warn().Err(err).Str("report", name).Str("pixel", p.ID).Msg("a dashboard report failed")
			c.Error = "The report failed: " + err.Error()
		default:
			c.Result, c.Table = res, newTableView(res.Table)
			v.From, v.To = res.Range.From, res.Range.To
		}
		v.Cards[name] = c
	}
	v.KPIs = kpis(v.Cards[cardEngaged].Result, v.Cards[cardConversions].Result)
	days := rangeDays(v.From, v.To)
	v.Chart.Traffic = trafficSeries(v.Cards[cardEngaged].Result, days)
	v.Chart.Conversions = conversionSeries(v.Cards[cardConversions].Result, days)
	v.TrafficLabel = "Visitors, sessions and engaged sessions (over " + strconv.Itoa(v.EngagedSeconds) + " seconds) per day, " + v.From + " to " + v.To + "; the table below has the numbers."
	v.ConversionsLabel = "Conversions and revenue per currency per day, " + v.From + " to " + v.To + "; the table below has the numbers."
}

// colIndex is the index of the named column of t, or -1.
func colIndex(t *analysis.Table, name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// cellNumber is a table value as a float64 (0 for NULL or a non-number).
func cellNumber(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// kpis are the tiles, from the reports' Total rows.
func kpis(engaged, conversions *report.Result) []kpiTile {
	tile := func(id, label string, res *report.Result, col string) kpiTile {
		k := kpiTile{ID: id, Label: label, Text: "-"}
		if res == nil || len(res.Totals) == 0 {
			return k
		}
		i := colIndex(res.Table, col)
		if i < 0 {
			return k
		}
		c := res.Columns[i]
		k.Text, k.Value = report.Cell(res.Totals[0][i], c), rawValue(res.Totals[0][i], c)
		return k
	}
	out := []kpiTile{
		tile("kpi-visitors", "Visitors", engaged, "visitors"),
		tile("kpi-sessions", "Sessions", engaged, "sessions"),
		tile("kpi-engaged-rate", "Engaged-visit rate", engaged, "engaged_rate"),
	}
	conv := kpiTile{ID: "kpi-conversions", Label: "Conversions", Text: "-"}
	if conversions != nil && len(conversions.Totals) > 0 {
		// Conversions are counted across currencies (a count, not money);
		// revenue stays per currency.
		ci, ri, ki := colIndex(conversions.Table, "conversions"), colIndex(conversions.Table, "revenue"), colIndex(conversions.Table, "currency")
		var n uint64
		var revenue []string
		for _, row := range conversions.Totals {
			if ci >= 0 {
				if x, ok := row[ci].(uint64); ok {
					n += x
				}
			}
			if ri >= 0 && ki >= 0 {
				if cur, _ := row[ki].(string); cur != "" {
					revenue = append(revenue, report.Cell(row[ri], conversions.Columns[ri])+" "+cur)
				}
			}
		}
		conv.Text, conv.Value = report.Group(strconv.FormatUint(n, 10)), strconv.FormatUint(n, 10)
		if len(revenue) > 0 {
			conv.Note = "revenue " + strings.Join(revenue, ", ")
		}
	}
	return append(out, conv)
}

// rangeDays lists the days from from to to (at most ten years).
func rangeDays(from, to string) []string {
	f, err1 := time.Parse(time.DateOnly, from)
	t, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return nil
	}
	var out []string
	for d := f; !d.After(t) && len(out) < 3660; d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// trafficSeries is the engaged report's rows per day of the range: a day
// without sessions is zero.
func trafficSeries(res *report.Result, days []string) *chartSeries {
	if res == nil {
		return nil
	}
	at := map[string]int{}
	for i, d := range days {
		at[d] = i
	}
	s := &chartSeries{Labels: days}
	di := colIndex(res.Table, "day")
	for _, col := range []struct{ name, label string }{{"visitors", "Visitors"}, {"sessions", "Sessions"}, {"engaged_sessions", "Engaged sessions"}} {
		ds := chartDataset{Label: col.label, Data: make([]float64, len(days)), Axis: "count"}
		ci := colIndex(res.Table, col.name)
		for _, row := range res.Rows {
			d, _ := row[di].(string)
			if i, ok := at[d]; ok && ci >= 0 {
				ds.Data[i] = cellNumber(row[ci])
			}
		}
		s.Datasets = append(s.Datasets, ds)
	}
	return s
}

// conversionSeries is the conversions report (by=day) per day: the
// conversions of every currency, and the revenue of each currency.
func conversionSeries(res *report.Result, days []string) *chartSeries {
	if res == nil {
		return nil
	}
	at := map[string]int{}
	for i, d := range days {
		at[d] = i
	}
	s := &chartSeries{Labels: days}
	di, ki, ci, ri := colIndex(res.Table, "dimension"), colIndex(res.Table, "currency"), colIndex(res.Table, "conversions"), colIndex(res.Table, "revenue")
	if di < 0 || ki < 0 || ci < 0 || ri < 0 {
		return nil
	}
	conv := chartDataset{Label: "Conversions", Data: make([]float64, len(days)), Axis: "count"}
	revenue := map[string][]float64{}
	for _, row := range res.Rows {
		d, _ := row[di].(string)
		i, ok := at[d]
		if !ok {
			continue
		}
		conv.Data[i] += cellNumber(row[ci])
		if cur, _ := row[ki].(string); cur != "" {
			if revenue[cur] == nil {
				revenue[cur] = make([]float64, len(days))
			}
			revenue[cur][i] += cellNumber(row[ri])
		}
	}
	s.Datasets = append(s.Datasets, conv)
	curs := make([]string, 0, len(revenue))
	for c := range revenue {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	for _, c := range curs {
		s.Datasets = append(s.Datasets, chartDataset{Label: "Revenue " + c, Data: revenue[c], Axis: "money"})
	}
	return s
}

// The query keys of GET /api/reports/{name} that are not report
// parameters; every other key is one (?steps=PageView,Purchase).
var reportKeys = map[string]bool{"pixel": true, "from": true, "to": true, "last": true, "bots": true}

// apiReportParam is a report parameter in GET /api/reports.
type apiReportParam struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Default    string `json:"default"`
	HasDefault bool   `json:"has_default"`
	Doc        string `json:"doc"`
}

// apiReports lists the shipped reports and their own parameters.
func (s *Server) apiReports(w http.ResponseWriter, r *http.Request) {
	qs, err := analysis.Queries()
	if err != nil {
		apiError(w, http.StatusInternalServerError, "cannot read the reports: "+err.Error())
		return
	}
	type apiReport struct {
		Name   string           `json:"name"`
		Title  string           `json:"title"`
		Params []apiReportParam `json:"params"`
	}
	out := []apiReport{}
	for _, q := range qs {
		a := apiReport{Name: q.Name, Title: q.Title, Params: []apiReportParam{}}
		for _, p := range report.OwnParams(&q) {
			a.Params = append(a.Params, apiReportParam{Name: p.Name, Type: p.Type, Default: p.Default, HasDefault: p.HasDefault, Doc: p.Doc})
		}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"reports": out})
}

// reportOptions reads a report API request's query: pixel, last or from
// and to, bots=1, and the report's own parameters (every other key, once).
func reportOptions(q url.Values, now func() time.Time) (report.Options, error) {
	o := report.Options{Pixel: q.Get("pixel"), Last: q.Get("last"), From: q.Get("from"), To: q.Get("to"), Params: map[string]string{}, Now: now}
	switch q.Get("bots") {
	case "", "0":
	case "1":
		o.IncludeBots = true
	default:
		return o, errors.New("bots=" + q.Get("bots") + ": want 1 (count bots) or 0")
	}
	for k, vs := range q {
		if reportKeys[k] {
			if len(vs) > 1 {
				return o, errors.New(k + " given twice")
			}
			continue
		}
		if len(vs) > 1 {
			return o, errors.New("the parameter " + k + " given twice")
		}
		o.Params[k] = vs[0]
	}
	return o, nil
}

// apiReport answers exactly what pixelctl report NAME -format json prints.
func (s *Server) apiReport(w http.ResponseWriter, r *http.Request) {
	o, err := reportOptions(r.URL.Query(), s.opts.Now)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := report.Run(r.Context(), s.conn, r.PathValue("name"), o)
	var re *report.Error
	if errors.As(err, &re) {
		apiError(w, http.StatusBadRequest, re.Error())
		return
	} else if err != nil {
		s.log.Error().Err(err).Str("report", r.PathValue("name")).Msg("a report failed")
		apiError(w, http.StatusInternalServerError, "the report failed: "+err.Error())
		return
	}
	var buf strings.Builder
	if err := res.Write(&buf, report.JSONFormat); err != nil {
		apiError(w, http.StatusInternalServerError, "cannot write the report: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write([]byte(buf.String()))
}
