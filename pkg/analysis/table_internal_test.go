package analysis

import (
	"fmt"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// Table returns typed values, NULL as nil, and only the trailing rows
// labelled Total as totals.
func TestTable(t *testing.T) {
	q, err := parseQuery("typed", `-- Typed values.
-- param x Float64 = 2.5 a number
SELECT g, toUInt64(1) AS n, toInt64(-1) AS i, if(g = 'b', NULL, ?) AS v, toDate('2026-01-31') AS d, ['x', 'y'] AS ids, 0 / 0 AS nan
FROM (SELECT arrayJoin(['a', 'Total', 'b', 'Total']) AS g)`)
	if err != nil {
		t.Fatal(err)
	}
	conn := devstacktest.Open(t, devstacktest.Database(t))
	tab, err := q.Table(devstacktest.Context(t), conn, map[string]string{"x": "0.125"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tab.Columns); got != "[{g String} {n UInt64} {i Int64} {v Nullable(Float64)} {d Date} {ids Array(String)} {nan Float64}]" {
		t.Errorf("columns %s", got)
	}
	day := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	if len(tab.Rows) != 3 || len(tab.Totals) != 1 || tab.Rows[1][0] != "Total" || tab.Totals[0][0] != "Total" {
		t.Fatalf("rows %v, totals %v: want the last row alone as the totals", tab.Rows, tab.Totals)
	}
	r := tab.Rows[0]
	if r[1] != uint64(1) || r[2] != int64(-1) || r[3] != 0.125 || !r[4].(time.Time).Equal(day) || fmt.Sprint(r[5]) != "[x y]" {
		t.Errorf("row %#v", r)
	}
	if tab.Rows[2][3] != nil {
		t.Errorf("NULL is %#v, want nil", tab.Rows[2][3])
	}
	for i, want := range []string{"a", "1", "-1", "0.125", "2026-01-31", "['x','y']", ""} {
		if got := Text(r[i], tab.Columns[i]); got != want {
			t.Errorf("Text(%v, %s) = %q, want %q", r[i], tab.Columns[i].Type, got, want)
		}
	}
	if got := Text(nil, tab.Columns[3]); got != "" {
		t.Errorf("Text(NULL) = %q", got)
	}
}
