package analysis

import (
	"context"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Result is a query's answer with every value as text, written the way
// ClickHouse's TSV format writes it (before escaping): 2026-01-31 for a
// Date, 2026-01-31 12:00:00 for a DateTime, ['a','b'] for an array.
type Result struct {
	Columns []string
	Rows    [][]string
}

// Run runs the query with the given parameter values (see Args) over conn,
// whose default database holds the events table.
func (q *Query) Run(ctx context.Context, conn driver.Conn, values map[string]string) (*Result, error) {
	res := &Result{}
	err := q.scan(ctx, conn, values, func(cols []Column) { res.Columns = names(cols) }, func(row []reflect.Value, cols []Column) {
		text := make([]string, len(row))
		for i, v := range row {
			text[i] = formatValue(v, cols[i].Type, false)
		}
		res.Rows = append(res.Rows, text)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func names(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// scan runs the query and calls row with each row's values, as the driver's
// scan types hold them; columns is called first, once.
func (q *Query) scan(ctx context.Context, conn driver.Conn, values map[string]string, columns func([]Column), row func([]reflect.Value, []Column)) error {
	args, err := q.Args(values)
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, q.SQL, args...)
	if err != nil {
		return fmt.Errorf("query %s: %w", q.Name, err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	cols := make([]Column, len(types))
	dest := make([]any, len(types))
	vals := make([]reflect.Value, len(types))
	for i, ct := range types {
		cols[i] = Column{Name: ct.Name(), Type: ct.DatabaseTypeName()}
		dest[i] = reflect.New(ct.ScanType()).Interface()
		vals[i] = reflect.ValueOf(dest[i]).Elem()
	}
	columns(cols)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("query %s: %w", q.Name, err)
		}
		row(vals, cols)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query %s: %w", q.Name, err)
	}
	return nil
}

// formatValue writes v as ClickHouse's text formats do; quoted is true for
// the elements of an array, where strings are written in single quotes.
func formatValue(v reflect.Value, dbType string, quoted bool) string {
	switch x := v.Interface().(type) {
	case string:
		if quoted {
			return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(x) + "'"
		}
		return x
	case time.Time:
		if strings.HasPrefix(dbType, "Date") && !strings.HasPrefix(dbType, "DateTime") {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.DateTime)
	case float64:
		return formatFloat(x, 64)
	case float32:
		return formatFloat(float64(x), 32)
	case bool:
		return strconv.FormatBool(x)
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Slice, reflect.Array:
		elem := strings.TrimSuffix(strings.TrimPrefix(dbType, "Array("), ")")
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatValue(v.Index(i), elem, true)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case reflect.Pointer:
		if v.IsNil() {
			return `\N`
		}
		return formatValue(v.Elem(), strings.TrimSuffix(strings.TrimPrefix(dbType, "Nullable("), ")"), quoted)
	}
	return fmt.Sprint(v.Interface())
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

// tsvEscaper escapes what ClickHouse's TabSeparated format escapes.
var tsvEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`, "\b", `\b`, "\f", `\f`)

// WriteTSV writes the result as tab-separated values, one row per line, with
// the column names first when header is true (ClickHouse's
// TabSeparatedWithNames).
func (r *Result) WriteTSV(w io.Writer, header bool) error {
	var b []byte
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b = append(b, '\t')
			}
			b = append(b, tsvEscaper.Replace(c)...)
		}
		b = append(b, '\n')
	}
	if header {
		line(r.Columns)
	}
	for _, row := range r.Rows {
		line(row)
	}
	_, err := w.Write(b)
	return err
}
