package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/report"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// The data set's range and pixel, and "today" for the console's clock: the
// day after the data set's last day, so that last=30d covers it too.
const (
	dsFrom, dsTo = "2026-11-02", "2026-11-15"
	dsPixel      = "px-shop-eu"
)

var dsNow = time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)

// withDataset is a console on a database holding pkg/dataset's population
// (small: a few hundred visitors), its pixels registered and its ad spend
// imported, with the clock at dsNow.
func withDataset(t *testing.T, visitors int) (*testConsole, *dataset.Population) {
	t.Helper()
	tc := newTestConsole(t, func(o *Options) { o.Now = func() time.Time { return dsNow } })
	ctx := devstacktest.Context(t)
	p := dataset.Generate(dataset.DefaultConfig(7, visitors))
	if _, err := dataset.Insert(ctx, tc.conn, p, 0); err != nil {
		t.Fatal(err)
	}
	if err := dataset.Register(ctx, tc.conn, p.Config().Pixels); err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.LoadSpend(ctx, tc.conn, p, dsNow); err != nil {
		t.Fatal(err)
	}
	return tc, p
}

// runJSON is what pixelctl report NAME -format json prints for the options.
func runJSON(t *testing.T, tc *testConsole, name string, o report.Options) []byte {
	t.Helper()
	o.Now = func() time.Time { return dsNow }
	res, err := report.Run(devstacktest.Context(t), tc.conn, name, o)
	if err != nil {
		t.Fatalf("report.Run %s: %v", name, err)
	}
	var buf bytes.Buffer
	if err := res.Write(&buf, report.JSONFormat); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jsonReport is the part of a report's JSON the tests compare.
type jsonReport struct {
	From, To string
	Columns  []struct{ Name string }
	Rows     []map[string]any
	Totals   []map[string]any
}

func parseReport(t *testing.T, b []byte) jsonReport {
	t.Helper()
	var r jsonReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return r
}

// jsText is a parsed JSON value as JavaScript's String() writes it: what
// the tables' data-value attributes hold.
func jsText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

var (
	tableRe = regexp.MustCompile(`(?s)<table id="([^"]+)">(.*?)</table>`)
	rowRe   = regexp.MustCompile(`(?s)<tr( class="total")?>(.*?)</tr>`)
	cellRe  = regexp.MustCompile(`<td data-col="([^"]*)" data-value="([^"]*)"[^>]*>([^<]*)</td>`)
)

// pageTable is a table of a page: each row's cells by data-col, the raw
// value and the text.
type pageCell struct{ Value, Text string }

func pageTables(body string) map[string][]map[string]pageCell {
	out := map[string][]map[string]pageCell{}
	for _, m := range tableRe.FindAllStringSubmatch(body, -1) {
		rows := []map[string]pageCell{}
		for _, r := range rowRe.FindAllStringSubmatch(m[2], -1) {
			cells := cellRe.FindAllStringSubmatch(r[2], -1)
			if len(cells) == 0 {
				continue
			}
			row := map[string]pageCell{}
			for _, c := range cells {
				row[html.UnescapeString(c[1])] = pageCell{html.UnescapeString(c[2]), html.UnescapeString(c[3])}
			}
			rows = append(rows, row)
		}
		out[m[1]] = rows
	}
	return out
}

// noInlineScript fails if a page has a <script> without src that is not
// type=application/json (data, never run).
func noInlineScript(t *testing.T, what, body string) {
	t.Helper()
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(tag, ` src="`) && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("%s: inline script %s", what, tag)
		}
	}
	if strings.Contains(body, " style=") || strings.Contains(body, "<style") {
		t.Errorf("%s: inline style", what)
	}
}

func TestDashboardEqualsTheReports(t *testing.T) {
	tc, _ := withDataset(t, 150)
	c := tc.signIn(t, "vera", users.RoleViewer)
	res, body := c.get("/pixels/" + dsPixel + "/dashboard?from=" + dsFrom + "&to=" + dsTo)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %d\n%s", res.StatusCode, body)
	}
	noInlineScript(t, "dashboard", body)
	tables := pageTables(body)
	base := report.Options{Pixel: dsPixel, From: dsFrom, To: dsTo}
	for _, x := range []struct {
		name   string
		params map[string]string
	}{
		{"engaged", map[string]string{"seconds": "60"}},
		{"conversions", map[string]string{"by": "day"}},
		{"cpa", nil},
		{"campaigns", map[string]string{"by": "campaign"}},
		{"funnel", nil},
		{"pages", nil},
	} {
		o := base
		o.Params = x.params
		name := x.name
		if name == "campaigns" {
			name = "conversions"
		}
		want := parseReport(t, runJSON(t, tc, name, o))
		got := tables["report-"+x.name]
		all := append(append([]map[string]any{}, want.Rows...), want.Totals...)
		if len(all) == 0 {
			t.Errorf("%s: the data set gives no rows; the test proves nothing", x.name)
		}
		if len(got) != len(all) {
			t.Errorf("table #report-%s has %d rows, the report %d\n%s", x.name, len(got), len(all), body)
			continue
		}
		for i, row := range all {
			for _, col := range want.Columns {
				if g, w := got[i][col.Name].Value, jsText(row[col.Name]); g != w {
					t.Errorf("#report-%s row %d %s: data-value %q, pixelctl's json %q", x.name, i, col.Name, g, w)
				}
			}
		}
	}

	// The KPI tiles are the Total rows.
	engaged := parseReport(t, runJSON(t, tc, "engaged", report.Options{Pixel: dsPixel, From: dsFrom, To: dsTo, Params: map[string]string{"seconds": "60"}}))
	conv := parseReport(t, runJSON(t, tc, "conversions", report.Options{Pixel: dsPixel, From: dsFrom, To: dsTo}))
	var n float64
	for _, r := range conv.Totals {
		n += r["conversions"].(float64)
	}
	for id, want := range map[string]string{
		"kpi-visitors":     jsText(engaged.Totals[0]["visitors"]),
		"kpi-sessions":     jsText(engaged.Totals[0]["sessions"]),
		"kpi-engaged-rate": jsText(engaged.Totals[0]["engaged_rate"]),
		"kpi-conversions":  fmt.Sprint(n),
	} {
		m := regexp.MustCompile(`id="` + id + `" data-value="([^"]*)">([^<]*)<`).FindStringSubmatch(body)
		if m == nil || m[1] != want {
			t.Errorf("#%s: %q, want data-value %q", id, m, want)
		}
	}
	if !strings.Contains(body, "over 60 seconds") {
		t.Error("the engaged-visit rate does not say over how many seconds")
	}
	// The text is the table format's: a rate as a percent.
	if rate := tables["report-engaged"][len(tables["report-engaged"])-1]["engaged_rate"]; !strings.HasSuffix(rate.Text, "%") {
		t.Errorf("engaged_rate shown as %q; want a percent", rate.Text)
	}

	// The charts' data: a JSON block, escaped, one point per day.
	m := regexp.MustCompile(`(?s)<script type="application/json" id="chart-data">(.*?)</script>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no chart data")
	}
	var chart chartData
	if err := json.Unmarshal([]byte(m[1]), &chart); err != nil {
		t.Fatalf("chart data: %v\n%s", err, m[1])
	}
	if chart.Traffic == nil || len(chart.Traffic.Labels) != 14 || chart.Traffic.Labels[0] != dsFrom || len(chart.Traffic.Datasets) != 3 {
		t.Errorf("traffic chart: %+v", chart.Traffic)
	}
	var visitors float64
	for i, d := range chart.Traffic.Labels {
		for _, r := range engaged.Rows {
			if r["day"] == d {
				visitors += chart.Traffic.Datasets[0].Data[i]
				if chart.Traffic.Datasets[0].Data[i] != r["visitors"].(float64) {
					t.Errorf("traffic chart %s: %v visitors, report %v", d, chart.Traffic.Datasets[0].Data[i], r["visitors"])
				}
			}
		}
	}
	if visitors == 0 || chart.Conversions == nil || len(chart.Conversions.Datasets) < 2 {
		t.Errorf("conversions chart: %+v", chart.Conversions)
	}
	for _, id := range []string{`canvas id="chart-traffic"`, `canvas id="chart-conversions"`, `data-range="7d"`, `data-range="30d"`, `data-range="90d"`, `id="range-from"`, `id="range-to"`, `for="range-from"`} {
		if !strings.Contains(body, id) {
			t.Errorf("the dashboard has no %s", id)
		}
	}

	// The report API answers exactly what pixelctl report -format json
	// prints; any other query key is a report parameter.
	for _, x := range []struct{ path, name string }{
		{"/api/reports/conversions?pixel=" + dsPixel + "&from=" + dsFrom + "&to=" + dsTo + "&by=campaign", "conversions"},
		{"/api/reports/funnel?pixel=" + dsPixel + "&last=30d&steps=PageView,Purchase", "funnel"},
	} {
		res, got := c.api("GET", x.path, "", nil)
		q, _ := url.ParseQuery(strings.SplitN(x.path, "?", 2)[1])
		o, err := reportOptions(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := runJSON(t, tc, x.name, o); res.StatusCode != http.StatusOK || got != string(want) {
			t.Errorf("GET %s: %d\n%s\nwant\n%s", x.path, res.StatusCode, got, want)
		}
	}
	for _, path := range []string{
		"/api/reports/nope?pixel=" + dsPixel,
		"/api/reports/engaged?pixel=nope",
		"/api/reports/engaged?pixel=" + dsPixel + "&last=7x",
		"/api/reports/engaged?pixel=" + dsPixel + "&from=2026-11-10&to=2026-11-01",
		"/api/reports/engaged?pixel=" + dsPixel + "&colour=red",
		"/api/reports/engaged?pixel=" + dsPixel + "&tz=UTC",
		"/api/reports/engaged?pixel=" + dsPixel + "&seconds=1&seconds=2",
		"/api/reports/engaged?pixel=" + dsPixel + "&bots=yes",
	} {
		res, got := c.api("GET", path, "", nil)
		var e struct{ Error string }
		if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(got), &e) != nil || e.Error == "" {
			t.Errorf("GET %s: %d %s; want 400 with the error", path, res.StatusCode, got)
		}
	}
	res, got := c.api("GET", "/api/reports", "", nil)
	var list struct {
		Reports []struct {
			Name, Title string
			Params      []struct{ Name, Default string }
		}
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(got), &list) != nil || len(list.Reports) < 5 {
		t.Fatalf("GET /api/reports: %d %s", res.StatusCode, got)
	}
	for _, r := range list.Reports {
		if r.Name == "funnel" && (len(r.Params) != 2 || r.Params[1].Name != "steps" || !strings.HasPrefix(r.Params[1].Default, "PageView,")) {
			t.Errorf("funnel's params: %+v", r.Params)
		}
	}
}

func TestDashboardRange(t *testing.T) {
	today := time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC)
	for _, x := range []struct {
		query    string
		from, to string // of report.ParseRange, "" for an error
	}{
		{"", "2026-11-10", "2026-11-16"},
		{"last=7d", "2026-11-10", "2026-11-16"},
		{"last=30d", "2026-10-18", "2026-11-16"},
		{"last=90d", "2026-08-19", "2026-11-16"},
		{"from=2026-11-02&to=2026-11-15", "2026-11-02", "2026-11-15"},
		{"from=2026-11-02&to=2026-11-02", "2026-11-02", "2026-11-02"},
		{"last=4w", "", ""},
		{"last=7", "", ""},
		{"from=2026-11-02", "", ""},
		{"to=2026-11-02", "", ""},
		{"from=2026-11-15&to=2026-11-02", "", ""},
		{"from=yesterday&to=2026-11-02", "", ""},
		{"last=7d&from=2026-11-02&to=2026-11-15", "", ""},
	} {
		q, _ := url.ParseQuery(x.query)
		r, err := parseDashRange(q, today)
		if x.from == "" {
			if err == nil {
				t.Errorf("%q: %+v, want an error", x.query, r)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", x.query, err)
			continue
		}
		got, _ := report.ParseRange(r.From, r.To, r.Last, today)
		if got.From != x.from || got.To != x.to {
			t.Errorf("%q: %s to %s, want %s to %s", x.query, got.From, got.To, x.from, x.to)
		}
	}
}

func TestDashboardShowsAFailingReportInItsCard(t *testing.T) {
	tc, _ := withDataset(t, 40)
	c := tc.signIn(t, "vera", users.RoleViewer)
	// Nine funnel steps: the funnel report refuses them, the others run.
	res, body := c.get("/pixels/" + dsPixel + "/dashboard?last=30d&steps=a,b,c,d,e,f,g,h,i")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %d\n%s", res.StatusCode, body)
	}
	if !strings.Contains(body, `data-report="funnel"`) || strings.Contains(body, `id="report-funnel"`) {
		t.Errorf("the funnel's error is not in its card:\n%s", body)
	}
	for _, id := range []string{"report-engaged", "report-conversions", "report-cpa", "report-pages", "kpi-visitors"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("no #%s beside the failing funnel", id)
		}
	}
	noInlineScript(t, "dashboard", body)
	// The range links keep the steps asked for.
	if !strings.Contains(body, `data-range="7d" href="?last=7d&amp;steps=a%2cb%2cc%2cd%2ce%2cf%2cg%2ch%2ci"`) {
		t.Errorf("the 7d link drops the funnel's steps:\n%s", body)
	}

	// A bad range is a 400 with the range form, and no report runs.
	res, body = c.get("/pixels/" + dsPixel + "/dashboard?from=2026-11-15&to=2026-11-01")
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="range-error"`) || !strings.Contains(body, `id="range-from"`) {
		t.Errorf("reversed range: %d\n%s", res.StatusCode, body)
	}
	if res, _ := c.get("/pixels/nope/dashboard"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown pixel: %d, want 404", res.StatusCode)
	}
	// Hostile steps are text.
	_, body = c.get("/pixels/" + dsPixel + "/dashboard?steps=%3Cscript%3Ealert(1)%3C/script%3E")
	if strings.Contains(body, "<script>alert") {
		t.Error("the steps reached the page unescaped")
	}
}

func TestInsightsNeedSignIn(t *testing.T) {
	tc, _ := withDataset(t, 20)
	anon := tc.client(t)
	for _, path := range []string{"/pixels/" + dsPixel + "/dashboard", "/pixels/" + dsPixel + "/audiences", "/pixels/" + dsPixel + "/audiences/purchasers",
		"/pixels/" + dsPixel + "/audiences/purchasers/download?format=meta", "/spend"} {
		if res, _ := anon.get(path); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("GET %s without a session: %d %s, want 303 to /login", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	for _, path := range []string{"/api/reports", "/api/reports/engaged?pixel=" + dsPixel, "/api/audiences", "/api/audiences/purchasers?pixel=" + dsPixel, "/api/spend"} {
		if res, _ := anon.api("GET", path, "", nil); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d, want 401", path, res.StatusCode)
		}
	}
	if res, _ := anon.api("POST", "/api/spend?platform=csv", "", strings.NewReader("x")); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /api/spend without a session: %d, want 401", res.StatusCode)
	}
	// An API token is enough for a script.
	tc.user(t, "bot", users.RoleViewer)
	secret, _, err := tc.users.CreateToken(devstacktest.Context(t), "bot", "report script")
	if err != nil {
		t.Fatal(err)
	}
	res, got := anon.api("GET", "/api/reports/pages?pixel="+dsPixel+"&from="+dsFrom+"&to="+dsTo+"&limit=3", secret, nil)
	if want := runJSON(t, tc, "pages", report.Options{Pixel: dsPixel, From: dsFrom, To: dsTo, Params: map[string]string{"limit": "3"}}); res.StatusCode != http.StatusOK || got != string(want) {
		t.Errorf("the report API with a token: %d\n%s\nwant\n%s", res.StatusCode, got, want)
	}
}
