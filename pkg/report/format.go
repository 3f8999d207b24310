package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
)

// Format is how Write writes a result.
type Format string

// The formats.
const (
	TableFormat Format = "table" // aligned columns, numbers for people, a totals row
	CSVFormat   Format = "csv"   // RFC 4180 with a header line, raw values
	JSONFormat  Format = "json"  // one object: the report, its range, rows as objects
)

// ParseFormat checks a format's name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case TableFormat, CSVFormat, JSONFormat:
		return f, nil
	}
	return "", inputErr("unknown format %q; use table, csv or json", s)
}

// Write writes the result in format f.
func (r *Result) Write(w io.Writer, f Format) error {
	switch f {
	case CSVFormat:
		return writeCSV(w, r.Table)
	case JSONFormat:
		return r.writeJSON(w)
	}
	if _, err := io.WriteString(w, r.heading()); err != nil {
		return err
	}
	return writeTable(w, r.Table)
}

// heading says what a table is: the report's title, then the pixel, the
// days, whether bots count and the report's own parameters.
func (r *Result) heading() string {
	bots := "bots excluded"
	if r.Bots {
		bots = "bots included"
	}
	var params []string
	for _, k := range sortedKeys(r.Params) {
		params = append(params, k+"="+r.Params[k])
	}
	line := fmt.Sprintf("pixel %s, %s to %s (%s days), %s", r.Pixel, r.Range.From, r.Range.To, r.TimeZone, bots)
	if len(params) > 0 {
		line += ", " + strings.Join(params, " ")
	}
	return r.Report + ": " + r.Title + "\n" + line + "\n\n"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// numeric says whether a column holds numbers (aligned right).
func numeric(c analysis.Column) bool {
	t := strings.TrimSuffix(strings.TrimPrefix(c.Type, "Nullable("), ")")
	return strings.Contains(t, "Int") || strings.HasPrefix(t, "Float") || strings.HasPrefix(t, "Decimal")
}

// isFraction says whether a column is a fraction 0..1, shown as a percent.
func isFraction(name string) bool {
	return strings.HasSuffix(name, "_rate") || strings.HasSuffix(name, "_share")
}

// Cell writes one value for a person: integers with thousands separators
// (12,345), other numbers with two decimals (1,234.50: money, ratios such
// as roas), fractions (columns named *_rate or *_share) as a percent with
// one decimal (12.3%), "-" for a NULL or a number that is not one (a rate of
// nothing), dates as YYYY-MM-DD.
func Cell(v any, c analysis.Column) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case int64:
		return Group(strconv.FormatInt(x, 10))
	case uint64:
		return Group(strconv.FormatUint(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "-"
		}
		if isFraction(c.Name) {
			return Group(strconv.FormatFloat(x*100, 'f', 1, 64)) + "%"
		}
		return Group(strconv.FormatFloat(x, 'f', 2, 64))
	case string:
		return x
	}
	return analysis.Text(v, c)
}

// Group puts thousands separators into the integer part of a decimal
// number: -1234567.5 is -1,234,567.5; pixelctl spend import prints its
// totals with it too.
func Group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	var b strings.Builder
	b.WriteString(sign)
	for i := 0; i < len(intPart); i++ {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(intPart[i])
	}
	b.WriteString(frac)
	if sign != "" && strings.Trim(b.String(), "-0.,") == "" {
		return b.String()[1:] // -0.00 is 0.00
	}
	return b.String()
}

// writeTable writes aligned columns, two spaces apart, numbers to the right,
// with a line of dashes before the totals rows.
func writeTable(w io.Writer, t *analysis.Table) error {
	cells := func(rows [][]any) [][]string {
		out := make([][]string, len(rows))
		for i, row := range rows {
			out[i] = make([]string, len(row))
			for j, v := range row {
				out[i][j] = Cell(v, t.Columns[j])
			}
		}
		return out
	}
	header := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c.Name
	}
	body, totals := cells(t.Rows), cells(t.Totals)
	width := make([]int, len(header))
	for _, rows := range [][][]string{{header}, body, totals} {
		for _, row := range rows {
			for i, c := range row {
				width[i] = max(width[i], utf8.RuneCountInString(c))
			}
		}
	}
	var b bytes.Buffer
	line := func(row []string) {
		var l strings.Builder
		for i, c := range row {
			if i > 0 {
				l.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if numeric(t.Columns[i]) {
				l.WriteString(pad + c)
			} else {
				l.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(header)
	for _, row := range body {
		line(row)
	}
	if len(body) == 0 && len(totals) == 0 {
		b.WriteString("(no rows)\n")
	}
	if len(totals) > 0 {
		dashes := make([]string, len(width))
		for i, n := range width {
			dashes[i] = strings.Repeat("-", n)
		}
		line(dashes)
		for _, row := range totals {
			line(row)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeCSV writes the header, the rows and the totals rows (first column
// Total) with raw values: 1234.5, not 1,234.50; a NULL is empty.
func writeCSV(w io.Writer, t *analysis.Table) error {
	cw := csv.NewWriter(w)
	header := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c.Name
	}
	_ = cw.Write(header)
	for _, rows := range [][][]any{t.Rows, t.Totals} {
		for _, row := range rows {
			rec := make([]string, len(row))
			for i, v := range row {
				rec[i] = analysis.Text(v, t.Columns[i])
			}
			_ = cw.Write(rec)
		}
	}
	cw.Flush()
	return cw.Error()
}

// jsonValue is a value as JSON has it: a NULL, NaN or infinity is null, a
// Date "2026-01-31", a DateTime "2026-01-31 12:00:00".
func jsonValue(v any, c analysis.Column) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case time.Time:
		return analysis.Text(x, c)
	}
	return v
}

// object is a JSON object whose keys keep their order.
type object struct {
	keys []string
	vals []any
}

func (o *object) add(k string, v any) { o.keys, o.vals = append(o.keys, k), append(o.vals, v) }

func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func rowObjects(t *analysis.Table, rows [][]any) []*object {
	out := make([]*object, len(rows))
	for i, row := range rows {
		o := &object{}
		for j, v := range row {
			o.add(t.Columns[j].Name, jsonValue(v, t.Columns[j]))
		}
		out[i] = o
	}
	return out
}

// writeJSON writes one object: report, title, pixel, time_zone, from, to,
// include_bots, params, columns (name and ClickHouse type), rows and totals
// (each row an object of the columns in order).
func (r *Result) writeJSON(w io.Writer) error {
	cols := make([]*object, len(r.Columns))
	for i, c := range r.Columns {
		cols[i] = &object{keys: []string{"name", "type"}, vals: []any{c.Name, c.Type}}
	}
	o := &object{}
	o.add("report", r.Report)
	o.add("title", r.Title)
	o.add("pixel", r.Pixel)
	o.add("time_zone", r.TimeZone)
	o.add("from", r.Range.From)
	o.add("to", r.Range.To)
	o.add("include_bots", r.Bots)
	o.add("params", r.Params)
	o.add("columns", cols)
	o.add("rows", rowObjects(r.Table, r.Rows))
	o.add("totals", rowObjects(r.Table, r.Totals))
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// JSONValue is a value as Write's json format writes it (see jsonValue):
// the console puts it into its tables' data-value attributes, so that a
// page's numbers can be compared with pixelctl report -format json.
func JSONValue(v any, c analysis.Column) any { return jsonValue(v, c) }

// Numeric says whether a column holds numbers, which the table format
// aligns right (the console too).
func Numeric(c analysis.Column) bool { return numeric(c) }
