// Package report turns benchmark figures into verdicts and tables: each
// Measure is a figure of ours, the baseline measured in the same run, their
// ratio and the target it must meet (PASS or MISS), and Table renders them
// as Markdown.
package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Verdicts.
const (
	Pass        = "PASS"
	Miss        = "MISS"
	Info        = "info"         // no target: for comparison only
	NotMeasured = "NOT MEASURED" // the run could not measure it; Note says why
)

// Units a Measure's values are in; Format renders each.
const (
	UnitReqPerSec    = "req/s"
	UnitRowsPerSec   = "rows/s"
	UnitEventsPerSec = "events/s"
	UnitSeconds      = "s"
	UnitBytes        = "bytes"
	UnitAllocs       = "allocs/op"
	UnitNsPerOp      = "ns/op"
	UnitCount        = "count"
)

// Target is what a figure must meet: On says whether the ratio to the
// baseline or the figure itself is compared, Op how, with Limit.
type Target struct {
	Text  string  `json:"text"`  // as the issue states it, e.g. "≥ 0.85× bare fasthttp"
	On    string  `json:"on"`    // "ratio" or "value"
	Op    string  `json:"op"`    // ">=", ">", "<=" or "=="
	Limit float64 `json:"limit"` // in the unit of On
}

// AtLeastRatio is a target on the ratio to the baseline.
func AtLeastRatio(limit float64, text string) *Target {
	return &Target{Text: text, On: "ratio", Op: ">=", Limit: limit}
}

// AboveRatio is a target on the ratio to the baseline that must be
// exceeded: ours ahead of the baseline.
func AboveRatio(limit float64, text string) *Target {
	return &Target{Text: text, On: "ratio", Op: ">", Limit: limit}
}

// AtMostRatio is a ceiling on the ratio to the baseline.
func AtMostRatio(limit float64, text string) *Target {
	return &Target{Text: text, On: "ratio", Op: "<=", Limit: limit}
}

// AtMost is a target on the figure itself.
func AtMost(limit float64, text string) *Target {
	return &Target{Text: text, On: "value", Op: "<=", Limit: limit}
}

// Exactly is a target on the figure itself.
func Exactly(limit float64, text string) *Target {
	return &Target{Text: text, On: "value", Op: "==", Limit: limit}
}

// Measure is one line of the summary.
type Measure struct {
	ID           string   `json:"id"`   // stable key, e.g. "collector_throughput"
	Name         string   `json:"name"` // what it measures, for a person
	Unit         string   `json:"unit"`
	Ours         *float64 `json:"ours"`
	Baseline     *float64 `json:"baseline"`
	BaselineName string   `json:"baseline_name"`
	// Ratio is Ours divided by Baseline.
	Ratio   *float64 `json:"ratio"`
	Target  *Target  `json:"target"`
	Verdict string   `json:"verdict"`
	Note    string   `json:"note,omitempty"`
}

// V boxes a value for a Measure; NaN and infinities become nil (JSON null).
func V(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Judge computes the ratio and the verdict. A measure without its own
// figure is NOT MEASURED; one without a target is info.
func (m *Measure) Judge() {
	m.Ratio = nil
	if m.Ours != nil && m.Baseline != nil && *m.Baseline != 0 {
		m.Ratio = V(*m.Ours / *m.Baseline)
	}
	switch {
	case m.Ours == nil:
		m.Verdict = NotMeasured
	case m.Target == nil:
		m.Verdict = Info
	default:
		v := m.Ours
		if m.Target.On == "ratio" {
			v = m.Ratio
		}
		if v == nil {
			m.Verdict = NotMeasured
			return
		}
		ok := false
		switch m.Target.Op {
		case ">=":
			ok = *v >= m.Target.Limit
		case ">":
			ok = *v > m.Target.Limit
		case "<=":
			ok = *v <= m.Target.Limit
		case "==":
			ok = *v == m.Target.Limit
		}
		m.Verdict = Miss
		if ok {
			m.Verdict = Pass
		}
	}
}

// Format renders a value in unit for a person: 68 068 req/s, 1.23 ms,
// 31.2 MiB.
func Format(unit string, v *float64) string {
	if v == nil {
		return "—"
	}
	x := *v
	switch unit {
	case UnitReqPerSec, UnitRowsPerSec, UnitEventsPerSec:
		return Thousands(x) + " " + unit
	case UnitSeconds:
		return Duration(x)
	case UnitBytes:
		return strconv.FormatFloat(x/(1<<20), 'f', 1, 64) + " MiB"
	case UnitAllocs:
		return strconv.FormatFloat(x, 'f', -1, 64) + " allocs/op"
	case UnitNsPerOp:
		return Thousands(x) + " ns/op"
	default:
		return Thousands(x)
	}
}

// Duration renders seconds with three significant digits: 850 µs, 1.23 ms, 1.5 s.
func Duration(s float64) string {
	a := math.Abs(s)
	switch {
	case a == 0:
		return "0"
	case a < 1e-3:
		return sig3(s*1e6) + " µs"
	case a < 1:
		return sig3(s*1e3) + " ms"
	default:
		return sig3(s) + " s"
	}
}

func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// Thousands renders a number rounded to an integer with spaces between
// groups of three digits; below 100 it keeps up to two decimals.
func Thousands(v float64) string {
	if math.Abs(v) < 100 && v != math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(" ")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Ratio renders a ratio as 0.85×.
func Ratio(r *float64) string {
	if r == nil {
		return "—"
	}
	switch a := math.Abs(*r); {
	case a >= 10:
		return strconv.FormatFloat(*r, 'f', 1, 64) + "×"
	default:
		return strconv.FormatFloat(*r, 'f', 2, 64) + "×"
	}
}

// SummaryTable writes the measures as a Markdown table.
func SummaryTable(w io.Writer, ms []Measure) error {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		base := Format(m.Unit, m.Baseline)
		if m.Baseline != nil && m.BaselineName != "" {
			base += " (" + m.BaselineName + ")"
		} else if m.BaselineName != "" {
			base = m.BaselineName
		}
		target := "—"
		if m.Target != nil {
			target = m.Target.Text
		}
		result := m.Verdict
		if result == Pass || result == Miss {
			result = "**" + result + "**"
		}
		name := m.Name
		if m.Note != "" {
			name += " — " + m.Note
		}
		rows = append(rows, []string{name, Format(m.Unit, m.Ours), base, Ratio(m.Ratio), target, result})
	}
	return Table(w, []string{"measure", "ours", "baseline", "ratio", "target", "result"}, rows)
}

// Table writes a Markdown table; the columns after the first are
// right-aligned when every cell in them starts with a digit or a dash.
func Table(w io.Writer, header []string, rows [][]string) error {
	var b strings.Builder
	b.WriteString("| " + strings.Join(escapeAll(header), " | ") + " |\n|")
	for i := range header {
		numeric := i > 0
		for _, r := range rows {
			if i < len(r) && r[i] != "" && !startsNumeric(r[i]) {
				numeric = false
			}
		}
		if numeric {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteByte('\n')
	for _, r := range rows {
		b.WriteString("| " + strings.Join(escapeAll(r), " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func startsNumeric(s string) bool {
	c := s[0]
	return c >= '0' && c <= '9' || c == '-' || strings.HasPrefix(s, "—")
}

func escapeAll(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	return out
}

// Percent renders a share 0..1 as 97%.
func Percent(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }
