package analysis

import (
	"context"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Column is a result column: its name and its ClickHouse type (String,
// UInt64, Nullable(Float64), Array(String), ...).
type Column struct {
	Name string
	Type string
}

// TotalLabel in a report's first column marks its totals rows (see
// Table.Totals).
const TotalLabel = "Total"

// Table is a query's answer with typed values, for formatting: each value is
// a string, an int64, a uint64, a float64, a bool, a time.Time (a Date or a
// DateTime), a slice for an Array, or nil for a NULL.
type Table struct {
	Columns []Column
	Rows    [][]any
	// Totals are the last rows whose first column is a String "Total": a
	// report that has totals returns them itself, as its last rows (the
	// same aggregation without the grouping, so that unique counts, rates
	// and per-currency sums are right), and they are kept apart here.
	Totals [][]any
}

// Table runs the query as Run does and returns its answer with typed values,
// the totals rows apart.
func (q *Query) Table(ctx context.Context, conn driver.Conn, values map[string]string) (*Table, error) {
	t := &Table{}
	err := q.scan(ctx, conn, values, func(cols []Column) { t.Columns = cols }, func(row []reflect.Value, _ []Column) {
		vals := make([]any, len(row))
		for i, v := range row {
			vals[i] = plain(v)
		}
		t.Rows = append(t.Rows, vals)
	})
	if err != nil {
		return nil, err
	}
	t.splitTotals()
	return t, nil
}

// splitTotals moves the trailing rows labelled Total into Totals.
func (t *Table) splitTotals() {
	if len(t.Columns) == 0 || t.Columns[0].Type != "String" {
		return
	}
	n := len(t.Rows)
	for n > 0 && t.Rows[n-1][0] == TotalLabel {
		n--
	}
	if n < len(t.Rows) {
		t.Rows, t.Totals = t.Rows[:n], t.Rows[n:]
	}
}

// plain returns v as one of Table's value types.
func plain(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	}
	if t, ok := v.Interface().(time.Time); ok {
		return t
	}
	if v.Kind() == reflect.Slice {
		// Copied: the driver reuses the scan destination.
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		return c.Interface()
	}
	return v.Interface()
}

// Text writes a Table value as ClickHouse's text formats write it, for
// machines: 2026-01-31 for a Date, 49.95 for a Float64 (shortest exact
// form), ['a','b'] for an array, and "" for a NULL or a NaN (no number).
func Text(v any, col Column) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		if math.IsNaN(x) {
			return ""
		}
	}
	return formatValue(reflect.ValueOf(v), strings.TrimSuffix(strings.TrimPrefix(col.Type, "Nullable("), ")"), false)
}
