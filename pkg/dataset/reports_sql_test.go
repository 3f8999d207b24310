package dataset

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// runReport runs the shipped query name through pkg/analysis with values
// and returns its columns and rows.
func runReport(t *testing.T, conn chstore.Conn, name string, values map[string]string) ([]string, [][]string) {
	t.Helper()
	q, err := analysis.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Run(devstacktest.Context(t), conn, values)
	if err != nil {
		t.Fatalf("%s %v: %v", name, values, err)
	}
	return res.Columns, res.Rows
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a count", s)
	}
	return n
}

func toFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return f
}

// lastRowsTotal checks that the rows whose first column is Total are the
// last ones and that there are some.
func lastRowsTotal(t *testing.T, what string, rows [][]string) {
	t.Helper()
	seen := false
	for _, r := range rows {
		if r[0] == Total {
			seen = true
		} else if seen {
			t.Errorf("%s: row %v after the Total rows", what, r)
		}
	}
	if !seen {
		t.Errorf("%s: no Total row", what)
	}
}

// ranges are the day ranges the reports are checked over: the whole
// population, and a few days inside it whose edges cut sessions.
var ranges = [][2]string{{"2026-11-01", "2026-11-17"}, {"2026-11-05", "2026-11-08"}}

func TestReportConversionsMatchOracle(t *testing.T) {
	f := rollups(t)
	for _, px := range f.p.Config().Pixels {
		for _, r := range ranges {
			for _, by := range []string{"day", "campaign", "source", "medium"} {
				for _, name := range []string{"Purchase", "AddToCart"} {
					values := map[string]string{"pixel": px.ID, "from": r[0], "to": r[1], "tz": px.TimeZone, "by": by, "event": name}
					what := px.ID + " " + r[0] + ".." + r[1] + " by " + by + " " + name
					cols, rows := runReport(t, f.conn, "conversions", values)
					if got := strings.Join(cols, " "); got != "dimension currency conversions converters visitors conversion_rate revenue" {
						t.Fatalf("conversions columns %q", got)
					}
					lastRowsTotal(t, what, rows)
					got := map[ConversionKey]ConversionRow{}
					for _, row := range rows {
						c := ConversionRow{Conversions: atoi(t, row[2]), Converters: atoi(t, row[3]), Visitors: atoi(t, row[4]),
							Cents: int64(math.Round(toFloat(t, row[6]) * 100))}
						if rate := toFloat(t, row[5]); math.Abs(rate*float64(c.Visitors)-float64(c.Converters)) > 1e-6 {
							t.Errorf("%s: row %v: conversion_rate is not converters / visitors", what, row)
						}
						got[ConversionKey{row[0], row[1]}] = c
					}
					want := f.p.ReportConversions(px.ID, name, by, r[0], r[1])
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s:\n report %v\n oracle %v", what, got, want)
					}
					if by == "campaign" && r == ranges[0] && len(want) < 6 {
						t.Errorf("%s: only %d rows; the test wants campaigns in both currencies", what, len(want))
					}
				}
			}
		}
		// The Total rows count each purchase once, the server's copy: the
		// oracle's Rows, by any grouping.
		want := map[string]ConversionRow{}
		visitors := map[string]map[string]bool{}
		for _, row := range f.p.Rows(named("Purchase")) {
			if row.Pixel != px.ID {
				continue
			}
			w := want[row.Currency]
			w.Conversions++
			w.Cents += row.Cents
			want[row.Currency] = w
			if visitors[row.Currency] == nil {
				visitors[row.Currency] = map[string]bool{}
			}
			visitors[row.Currency][row.Visitor] = true
		}
		for _, by := range []string{"day", "campaign"} {
			_, rows := runReport(t, f.conn, "conversions", map[string]string{"pixel": px.ID, "from": ranges[0][0], "to": ranges[0][1], "tz": px.TimeZone, "by": by})
			got := map[string]ConversionRow{}
			for _, row := range rows {
				if row[0] == Total {
					got[row[1]] = ConversionRow{Conversions: atoi(t, row[2]), Converters: atoi(t, row[3]), Cents: int64(math.Round(toFloat(t, row[6]) * 100))}
				}
			}
			for cur, v := range visitors {
				w := want[cur]
				w.Converters = len(v)
				want[cur] = w
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s by %s: Total rows %v, oracle's purchases %v", px.ID, by, got, want)
			}
		}
	}
	// Bots are left out unless asked for, and -by takes four values.
	px := f.p.Config().Pixels[1]
	values := map[string]string{"pixel": px.ID, "from": ranges[0][0], "to": ranges[0][1], "tz": px.TimeZone}
	_, without := runReport(t, f.conn, "conversions", values)
	values["bots"] = "1"
	_, with := runReport(t, f.conn, "conversions", values)
	if a, b := atoi(t, without[len(without)-1][4]), atoi(t, with[len(with)-1][4]); b <= a {
		t.Errorf("conversions: %d visitors with bots, %d without", b, a)
	}
	values["by"] = "week"
	q, _ := analysis.Lookup("conversions")
	if _, err := q.Run(devstacktest.Context(t), f.conn, values); err == nil {
		t.Error("conversions -by week: no error")
	}
}

func TestReportEngagedMatchesOracle(t *testing.T) {
	f := rollups(t)
	for _, px := range f.p.Config().Pixels {
		for _, r := range ranges {
			for _, seconds := range []int{60, 30, 300} {
				what := px.ID + " " + r[0] + ".." + r[1] + " over " + strconv.Itoa(seconds) + " s"
				cols, rows := runReport(t, f.conn, "engaged", map[string]string{"pixel": px.ID, "from": r[0], "to": r[1], "tz": px.TimeZone, "seconds": strconv.Itoa(seconds)})
				if got := strings.Join(cols, " "); got != "day sessions engaged_sessions engaged_rate visitors engaged_visitors" {
					t.Fatalf("engaged columns %q", got)
				}
				lastRowsTotal(t, what, rows)
				got := map[string]EngagedRow{}
				for _, row := range rows {
					e := EngagedRow{Sessions: atoi(t, row[1]), EngagedSessions: atoi(t, row[2]), Visitors: atoi(t, row[4]), EngagedVisitors: atoi(t, row[5])}
					if rate := toFloat(t, row[3]); math.Abs(rate*float64(e.Sessions)-float64(e.EngagedSessions)) > 1e-6 {
						t.Errorf("%s: row %v: engaged_rate is not engaged_sessions / sessions", what, row)
					}
					got[row[0]] = e
				}
				want := f.p.ReportEngaged(px.ID, r[0], r[1], time.Duration(seconds)*time.Second)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\n report %v\n oracle %v", what, got, want)
				}
				if tot := want[Total]; tot.EngagedSessions == 0 || tot.EngagedSessions == tot.Sessions && seconds == 300 {
					t.Errorf("%s: oracle %v: the test wants engaged and other sessions", what, tot)
				}
			}
		}
		// Over the whole range and a minute, the Total is the oracle's
		// Engagement, which reads no days.
		_, rows := runReport(t, f.conn, "engaged", map[string]string{"pixel": px.ID, "from": ranges[0][0], "to": ranges[0][1], "tz": px.TimeZone})
		last := rows[len(rows)-1]
		if v, s := f.p.Engagement(px.ID, time.Minute); atoi(t, last[5]) != v || atoi(t, last[2]) != s {
			t.Errorf("%s: engaged Total %v; Engagement oracle %d visitors, %d sessions", px.ID, last, v, s)
		}
	}
}

func TestReportPagesMatchesOracle(t *testing.T) {
	f := rollups(t)
	for _, px := range f.p.Config().Pixels {
		for _, r := range ranges {
			for _, limit := range []int{5, 100} {
				what := px.ID + " " + r[0] + ".." + r[1] + " limit " + strconv.Itoa(limit)
				cols, rows := runReport(t, f.conn, "pages", map[string]string{"pixel": px.ID, "from": r[0], "to": r[1], "tz": px.TimeZone, "limit": strconv.Itoa(limit)})
				if got := strings.Join(cols, " "); got != "page views visitors engaged_seconds avg_engaged_seconds" {
					t.Fatalf("pages columns %q", got)
				}
				lastRowsTotal(t, what, rows)
				want := f.p.ReportPages(px.ID, r[0], r[1], limit)
				if len(rows) != len(want) {
					t.Fatalf("%s: %d rows, oracle %d:\n%v\n%v", what, len(rows), len(want), rows, want)
				}
				for i, row := range rows {
					w := want[i]
					engaged, avg := toFloat(t, row[3]), toFloat(t, row[4])
					if row[0] != w.Page || atoi(t, row[1]) != w.Views || atoi(t, row[2]) != w.Visitors ||
						math.Abs(engaged*1000-float64(w.EngagedMs)) > 50 || math.Abs(avg*1000-float64(w.EngagedMs)/float64(w.Views)) > 50 {
						t.Errorf("%s: row %d %v, oracle %+v", what, i, row, w)
					}
				}
				if limit == 5 && len(rows) != 6 {
					t.Errorf("%s: %d rows, want 5 pages and the Total", what, len(rows))
				}
			}
		}
	}
}

// TestURLPathMatchesClickHouse checks the oracle's URLPath against the
// expression pages.sql groups by, on URLs of every shape.
func TestURLPathMatchesClickHouse(t *testing.T) {
	f := rollups(t)
	for _, u := range []string{
		"https://shop.example/product/sku-1?utm_source=x#top", "https://shop.example", "https://shop.example/",
		"https://shop.example?utm_campaign=a", "http://shop.example:8080/a/b/", "https://shop.example/#frag",
		"https://shop.example/a%20b", "/relative/path?q=1", "", "https://shop.example//double",
	} {
		rows := query(t, f.conn, "SELECT if(path(?) = '', '/', path(?))", u, u)
		if got := URLPath(u); rows[0][0] != got {
			t.Errorf("URLPath(%q) = %q, ClickHouse %q", u, got, rows[0][0])
		}
	}
}

// FuzzURLPath: any input gives a path that starts with '/' and holds no
// query string or fragment.
func FuzzURLPath(f *testing.F) {
	for _, s := range []string{"https://a.b/c?d#e", "https://a.b", "", "://", "x://?#/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := URLPath(s)
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#") {
			t.Fatalf("URLPath(%q) = %q", s, p)
		}
	})
}
