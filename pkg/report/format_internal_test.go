package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
)

func TestCell(t *testing.T) {
	money := analysis.Column{Name: "revenue", Type: "Float64"}
	for _, tc := range []struct {
		v    any
		col  analysis.Column
		want string
	}{
		{uint64(0), analysis.Column{Name: "n", Type: "UInt64"}, "0"},
		{uint64(999), analysis.Column{Name: "n", Type: "UInt64"}, "999"},
		{uint64(1000), analysis.Column{Name: "n", Type: "UInt64"}, "1,000"},
		{uint64(18446744073709551615), analysis.Column{Name: "n", Type: "UInt64"}, "18,446,744,073,709,551,615"},
		{int64(-1234567), analysis.Column{Name: "n", Type: "Int64"}, "-1,234,567"},
		{1234.5, money, "1,234.50"},
		{0.005, money, "0.01"},
		{-0.001, money, "0.00"},
		{-1234567.891, money, "-1,234,567.89"},
		{1e15, money, "1,000,000,000,000,000.00"},
		{2.456, analysis.Column{Name: "roas", Type: "Nullable(Float64)"}, "2.46"},
		{0.1234, analysis.Column{Name: "conversion_rate", Type: "Float64"}, "12.3%"},
		{1.0, analysis.Column{Name: "visitor_share", Type: "Float64"}, "100.0%"},
		{0.0, analysis.Column{Name: "drop_rate", Type: "Float64"}, "0.0%"},
		{math.NaN(), analysis.Column{Name: "conversion_rate", Type: "Float64"}, "-"},
		{math.Inf(1), money, "-"},
		{nil, analysis.Column{Name: "cpa", Type: "Nullable(Float64)"}, "-"},
		{"spring_sale", analysis.Column{Name: "campaign", Type: "String"}, "spring_sale"},
		{"", analysis.Column{Name: "campaign", Type: "String"}, ""},
		{time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), analysis.Column{Name: "day", Type: "Date"}, "2026-11-02"},
		{time.Date(2026, 11, 2, 13, 4, 5, 0, time.UTC), analysis.Column{Name: "at", Type: "DateTime"}, "2026-11-02 13:04:05"},
		{[]string{"a", "b"}, analysis.Column{Name: "ids", Type: "Array(String)"}, "['a','b']"},
	} {
		if got := Cell(tc.v, tc.col); got != tc.want {
			t.Errorf("Cell(%v, %s %s) = %q, want %q", tc.v, tc.col.Name, tc.col.Type, got, tc.want)
		}
	}
}

func sample() *Result {
	cols := []analysis.Column{{Name: "campaign", Type: "String"}, {Name: "currency", Type: "String"}, {Name: "cost", Type: "Float64"},
		{Name: "conversions", Type: "UInt64"}, {Name: "cpa", Type: "Nullable(Float64)"}, {Name: "conversion_rate", Type: "Float64"}}
	return &Result{
		Report: "cpa", Title: "Cost per acquisition.", Pixel: "px-shop-eu", TimeZone: "Europe/Paris",
		Range: Range{From: "2026-11-02", To: "2026-11-08"}, Params: map[string]string{"event": "Purchase"},
		Table: &analysis.Table{
			Columns: cols,
			Rows: [][]any{
				{"spring_sale", "EUR", 1234.5, uint64(1200), 1.03, 0.25},
				{"black_friday_2026", "EUR", 99.0, uint64(0), nil, math.NaN()},
				{"spring_sale", "USD", 0.0, uint64(3), nil, 0.5},
			},
			Totals: [][]any{
				{"Total", "EUR", 1333.5, uint64(1200), 1.11, 0.125},
				{"Total", "USD", 0.0, uint64(3), nil, 0.5},
			},
		},
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sample().Write(&b, TableFormat); err != nil {
		t.Fatal(err)
	}
	want := `cpa: Cost per acquisition.
pixel px-shop-eu, 2026-11-02 to 2026-11-08 (Europe/Paris days), bots excluded, event=Purchase

campaign           currency      cost  conversions   cpa  conversion_rate
spring_sale        EUR       1,234.50        1,200  1.03            25.0%
black_friday_2026  EUR          99.00            0     -                -
spring_sale        USD           0.00            3     -            50.0%
-----------------  --------  --------  -----------  ----  ---------------
Total              EUR       1,333.50        1,200  1.11            12.5%
Total              USD           0.00            3     -            50.0%
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}

	empty := sample()
	empty.Rows, empty.Totals = nil, nil
	b.Reset()
	_ = empty.Write(&b, TableFormat)
	if want := "campaign  currency  cost  conversions  cpa  conversion_rate\n(no rows)\n"; !strings.HasSuffix(b.String(), "\n\n"+want) {
		t.Errorf("empty table:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	r := sample()
	r.Rows[0][0] = `a "quoted", name`
	if err := r.Write(&b, CSVFormat); err != nil {
		t.Fatal(err)
	}
	want := `campaign,currency,cost,conversions,cpa,conversion_rate
"a ""quoted"", name",EUR,1234.5,1200,1.03,0.25
black_friday_2026,EUR,99,0,,
spring_sale,USD,0,3,,0.5
Total,EUR,1333.5,1200,1.11,0.125
Total,USD,0,3,,0.5
`
	if b.String() != want {
		t.Errorf("csv:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sample().Write(&b, JSONFormat); err != nil {
		t.Fatal(err)
	}
	// The keys keep the columns' order.
	if s := b.String(); !strings.Contains(s, `"campaign": "spring_sale",
      "currency": "EUR",
      "cost": 1234.5,
      "conversions": 1200,
      "cpa": 1.03,
      "conversion_rate": 0.25`) {
		t.Errorf("json rows not in column order:\n%s", s)
	}
	var got struct {
		Report, Title, Pixel string
		TimeZone             string `json:"time_zone"`
		From, To             string
		IncludeBots          bool `json:"include_bots"`
		Params               map[string]string
		Columns              []struct{ Name, Type string }
		Rows, Totals         []map[string]any
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.Report != "cpa" || got.Pixel != "px-shop-eu" || got.TimeZone != "Europe/Paris" || got.From != "2026-11-02" || got.To != "2026-11-08" ||
		got.IncludeBots || got.Params["event"] != "Purchase" || len(got.Columns) != 6 || got.Columns[4].Type != "Nullable(Float64)" {
		t.Errorf("json head: %+v", got)
	}
	if len(got.Rows) != 3 || len(got.Totals) != 2 {
		t.Fatalf("json: %d rows, %d totals", len(got.Rows), len(got.Totals))
	}
	if r := got.Rows[1]; r["cpa"] != nil || r["conversion_rate"] != nil || r["conversions"] != 0.0 || r["campaign"] != "black_friday_2026" {
		t.Errorf("NULL and NaN are null, numbers numbers: %v", r)
	}
	if r := got.Totals[0]; r["campaign"] != "Total" || r["cost"] != 1333.5 {
		t.Errorf("totals: %v", r)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"table", "csv", "json"} {
		if f, err := ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "TSV", "Table", "xml"} {
		if _, err := ParseFormat(s); err == nil {
			t.Errorf("ParseFormat(%q) accepted", s)
		}
	}
}
