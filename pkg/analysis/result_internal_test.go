package analysis

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFormatValueAndTSV(t *testing.T) {
	day := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v      any
		dbType string
		want   string
	}{
		{"plain", "String", "plain"},
		{day, "Date", "2026-01-31"},
		{day.Add(13*time.Hour + 4*time.Minute + 5*time.Second), "DateTime", "2026-01-31 13:04:05"},
		{day, "DateTime('UTC')", "2026-01-31 00:00:00"},
		{uint64(18446744073709551615), "UInt64", "18446744073709551615"},
		{int64(-5), "Int64", "-5"},
		{uint8(1), "UInt8", "1"},
		{49.95, "Float64", "49.95"},
		{1e15, "Float64", "1000000000000000"},
		{-0.5, "Float64", "-0.5"},
		{[]string{"a", "it's", `back\slash`}, "Array(String)", `['a','it\'s','back\\slash']`},
		{[]string{}, "Array(String)", "[]"},
		{[]uint32{1, 2}, "Array(UInt32)", "[1,2]"},
	} {
		if got := formatValue(reflect.ValueOf(tc.v), tc.dbType, false); got != tc.want {
			t.Errorf("formatValue(%#v, %s) = %q, want %q", tc.v, tc.dbType, got, tc.want)
		}
	}
	r := &Result{Columns: []string{"a", "b"}, Rows: [][]string{{"tab\there", "line\nbreak"}, {`back\slash`, ""}}}
	var b bytes.Buffer
	if err := r.WriteTSV(&b, true); err != nil {
		t.Fatal(err)
	}
	if want := "a\tb\ntab\\there\tline\\nbreak\nback\\\\slash\t\n"; b.String() != want {
		t.Fatalf("WriteTSV = %q, want %q", b.String(), want)
	}
	b.Reset()
	_ = r.WriteTSV(&b, false)
	if !strings.HasPrefix(b.String(), "tab") {
		t.Fatalf("WriteTSV without header = %q", b.String())
	}
}
