package report_test

import (
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/bench/report"
)

func TestJudge(t *testing.T) {
	for _, c := range []struct {
		name string
		m    report.Measure
		want string
	}{
		{"ratio met", report.Measure{Ours: report.V(90), Baseline: report.V(100), Target: report.AtLeastRatio(0.85, "≥ 0.85×")}, report.Pass},
		{"ratio missed", report.Measure{Ours: report.V(80), Baseline: report.V(100), Target: report.AtLeastRatio(0.85, "≥ 0.85×")}, report.Miss},
		{"ratio without baseline", report.Measure{Ours: report.V(80), Target: report.AtLeastRatio(0.85, "≥ 0.85×")}, report.NotMeasured},
		{"ahead", report.Measure{Ours: report.V(101), Baseline: report.V(100), Target: report.AboveRatio(1, "> naive")}, report.Pass},
		{"level is not ahead", report.Measure{Ours: report.V(100), Baseline: report.V(100), Target: report.AboveRatio(1, "> naive")}, report.Miss},
		{"ratio ceiling met", report.Measure{Ours: report.V(120), Baseline: report.V(100), Target: report.AtMostRatio(1.2, "≤ 1.2×")}, report.Pass},
		{"ratio ceiling missed", report.Measure{Ours: report.V(121), Baseline: report.V(100), Target: report.AtMostRatio(1.2, "≤ 1.2×")}, report.Miss},
		{"value met", report.Measure{Ours: report.V(0.0012), Target: report.AtMost(0.002, "≤ 2 ms")}, report.Pass},
		{"value missed", report.Measure{Ours: report.V(0.0025), Target: report.AtMost(0.002, "≤ 2 ms")}, report.Miss},
		{"exact", report.Measure{Ours: report.V(0), Target: report.Exactly(0, "0")}, report.Pass},
		{"exact missed", report.Measure{Ours: report.V(3), Target: report.Exactly(0, "0")}, report.Miss},
		{"no target", report.Measure{Ours: report.V(3)}, report.Info},
		{"not measured", report.Measure{Target: report.AtMost(1, "≤ 1")}, report.NotMeasured},
	} {
		c.m.Judge()
		if c.m.Verdict != c.want {
			t.Errorf("%s: verdict %s, want %s", c.name, c.m.Verdict, c.want)
		}
	}
	m := report.Measure{Ours: report.V(50), Baseline: report.V(200)}
	m.Judge()
	if m.Ratio == nil || *m.Ratio != 0.25 {
		t.Errorf("ratio %v, want 0.25", m.Ratio)
	}
}

func TestSummaryTable(t *testing.T) {
	ms := []report.Measure{
		{Name: "collector req/s", Unit: report.UnitReqPerSec, Ours: report.V(24031.4), Baseline: report.V(68068.7), BaselineName: "bare fasthttp", Target: report.AtLeastRatio(0.85, "≥ 0.85× bare fasthttp")},
		{Name: "collector p99 | half max", Unit: report.UnitSeconds, Ours: report.V(0.00123), Target: report.AtMost(0.002, "≤ 2 ms")},
		{Name: "consumer RSS", Unit: report.UnitBytes, Note: "process exited"},
	}
	for i := range ms {
		ms[i].Judge()
	}
	var b strings.Builder
	if err := report.SummaryTable(&b, ms); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"| measure | ours | baseline | ratio | target | result |",
		"| collector req/s | 24 031 req/s | 68 069 req/s (bare fasthttp) | 0.35× | ≥ 0.85× bare fasthttp | **MISS** |",
		`| collector p99 \| half max | 1.23 ms | — | — | ≤ 2 ms | **PASS** |`,
		"| consumer RSS — process exited | — | — | — | — | NOT MEASURED |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		unit string
		v    float64
		want string
	}{
		{report.UnitSeconds, 0.00085, "850 µs"}, {report.UnitSeconds, 1.5, "1.50 s"},
		{report.UnitBytes, 33 << 20, "33.0 MiB"}, {report.UnitAllocs, 0, "0 allocs/op"},
		{report.UnitRowsPerSec, 1234567, "1 234 567 rows/s"}, {report.UnitNsPerOp, 3400, "3 400 ns/op"},
		{report.UnitCount, 0, "0"},
	} {
		if got := report.Format(c.unit, report.V(c.v)); got != c.want {
			t.Errorf("Format(%s, %v) = %q, want %q", c.unit, c.v, got, c.want)
		}
	}
}
