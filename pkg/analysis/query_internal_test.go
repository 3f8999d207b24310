package analysis

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pixel-pipeline/pixel/schemas"
)

func TestParseQuery(t *testing.T) {
	const text = `-- Title line.
--
-- More about it,
-- on two lines.
--
-- param pixel String            the pixel
-- param from  Date              first day
-- param n     UInt32 = 7        a number
-- param ev    String = Purchase the event
-- bind from, pixel, n, from, ev
SELECT '?', "?", ` + "`?`" + `, x -- a ? in a comment
FROM t WHERE d >= toDate(?) AND p = ? AND n < ? /* ? */ AND d <= toDate(?) + 1 AND e = ? AND s = 'it\'s ?';
`
	q, err := parseQuery("demo", text)
	if err != nil {
		t.Fatal(err)
	}
	want := Query{
		Name:  "demo",
		Title: "Title line.",
		Doc:   "More about it,\non two lines.",
		Params: []Param{
			{Name: "pixel", Type: "String", Doc: "the pixel"},
			{Name: "from", Type: "Date", Doc: "first day"},
			{Name: "n", Type: "UInt32", Default: "7", HasDefault: true, Doc: "a number"},
			{Name: "ev", Type: "String", Default: "Purchase", HasDefault: true, Doc: "the event"},
		},
		Bind: []string{"from", "pixel", "n", "from", "ev"},
		SQL:  schemas.Statement(text),
	}
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("parseQuery:\n got %+v\nwant %+v", q, want)
	}
	args, err := q.Args(map[string]string{"pixel": "p'1", "from": "2026-01-02"})
	if err != nil || !reflect.DeepEqual(args, []any{"2026-01-02", "p'1", uint64(7), "2026-01-02", "Purchase"}) {
		t.Fatalf("Args = %#v, %v", args, err)
	}

	// Without a bind line the parameters fill the placeholders in order.
	q, err = parseQuery("plain", "-- T\n-- param a String x\n-- param b Date y\nSELECT ? , toDate(?)")
	if err != nil || !reflect.DeepEqual(q.Bind, []string{"a", "b"}) {
		t.Fatalf("bind = %v, %v", q.Bind, err)
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"SELECT 1", "title"},
		{"-- only a title\n", "title"},
		{"-- T\n-- param a String x\nSELECT ?, ?", "2 ? placeholders but 1 bound"},
		{"-- T\n-- param a String x\nSELECT 1", "0 ? placeholders but 1 bound"},
		{"-- T\n-- param a String x\n-- bind a, b\nSELECT ?, ?", `"b", which is not a declared parameter`},
		{"-- T\n-- param a String x\n-- param b String y\n-- bind a\nSELECT ?", "b is declared but never bound"},
		{"-- T\n-- param a Decimal x\nSELECT ?", "want String, String(one|of|these), Array(String)[N], Date, UInt32 or Float64"},
		{"-- T\n-- param a Float64 = nan x\nSELECT ?", "default of parameter a"},
		{"-- T\n-- param a UInt32 = many x\nSELECT ?", "default of parameter a"},
		{"-- T\n-- param A String x\nSELECT ?", "must match"},
		{"-- T\n-- param a\nSELECT ?", "want \"param name Type"},
		{"-- T\n-- param a String x\n-- param a Date y\nSELECT ?, ?", "declared twice"},
	} {
		if _, err := parseQuery("q", tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseQuery(%q) = %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
	_, err := readQueries(fstest.MapFS{"q/bad.sql": {Data: []byte("SELECT 1")}}, "q")
	if err == nil || !strings.Contains(err.Error(), "q/bad.sql") {
		t.Fatalf("readQueries: %v, want the file named", err)
	}
}

// FuzzArgs feeds any text to each parameter type (pixelctl report -param
// values): a value is refused with an error or converted to the type's Go
// value, never anything else, and never panics.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{"2026-01-31", "7", "2.5", "-1", "1e309", "nan", "4294967296", "shop' OR 1", ""} {
		f.Add(s)
	}
	q, err := parseQuery("fuzz", "-- T\n-- param d Date x\n-- param n UInt32 = 1 x\n-- param f Float64 = 1 x\n-- param s String = a x\nSELECT toDate(?), ?, ?, ?")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, name := range []string{"d", "n", "f", "s"} {
			vals := map[string]string{"d": "2026-01-01", name: v}
			args, err := q.Args(vals)
			if err != nil {
				continue
			}
			switch x := args[map[string]int{"d": 0, "n": 1, "f": 2, "s": 3}[name]].(type) {
			case string:
				if name == "d" && len(x) != 10 {
					t.Fatalf("Date %q became %q", v, x)
				}
			case uint64:
				if x > 1<<32-1 {
					t.Fatalf("UInt32 %q became %d", v, x)
				}
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					t.Fatalf("Float64 %q became %v", v, x)
				}
			default:
				t.Fatalf("%s %q became %T", name, v, x)
			}
		}
	})
}

func TestSameAs(t *testing.T) {
	base := "-- Cost by campaign.\n--\n-- param order String = cost how to sort\n-- param n UInt32 = 1 a number\nSELECT ? AS o, ? AS n;\n"
	qs, err := readQueries(fstest.MapFS{
		"q/cpa.sql":  {Data: []byte(base)},
		"q/roas.sql": {Data: []byte("-- Return by campaign.\n--\n-- The cpa query, best return first.\n--\n-- same cpa order=roas\n")},
	}, "q")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 2 || qs[1].Name != "roas" || qs[1].Title != "Return by campaign." || qs[1].Doc != "The cpa query, best return first." ||
		qs[1].SQL != qs[0].SQL || qs[1].Params[0].Default != "roas" || qs[0].Params[0].Default != "cost" || qs[1].Params[1].Default != "1" {
		t.Fatalf("queries = %+v", qs)
	}
	for _, bad := range []string{
		"-- T.\n-- same nope order=roas\n", // no such query
		"-- T.\n-- same cpa sort=roas\n",   // no such parameter
		"-- T.\n-- same cpa n=many\n",      // not a UInt32
		"--\n-- same cpa order=roas\n",     // no title
		"-- T.\n-- same cpa\nSELECT 1\n",   // SQL of its own
	} {
		if _, err := readQueries(fstest.MapFS{"q/cpa.sql": {Data: []byte(base)}, "q/x.sql": {Data: []byte(bad)}}, "q"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestChoiceParam(t *testing.T) {
	q, err := parseQuery("q", "-- T\n-- param by String(day|campaign) = day what a row is\nSELECT ?")
	if err != nil {
		t.Fatal(err)
	}
	if args, err := q.Args(map[string]string{"by": "campaign"}); err != nil || args[0] != "campaign" {
		t.Fatalf("Args(campaign) = %v, %v", args, err)
	}
	if args, err := q.Args(nil); err != nil || args[0] != "day" {
		t.Fatalf("Args() = %v, %v", args, err)
	}
	if _, err := q.Args(map[string]string{"by": "week"}); err == nil || !strings.Contains(err.Error(), `"week" is not one of day, campaign`) {
		t.Fatalf("Args(week) = %v", err)
	}
	for _, bad := range []string{
		"-- T\n-- param by String() = day x\nSELECT ?",              // no choices
		"-- T\n-- param by String(day|campaign) = week x\nSELECT ?", // default not a choice
	} {
		if _, err := parseQuery("q", bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestArrayParam(t *testing.T) {
	q, err := parseQuery("q", "-- T\n-- param steps Array(String)[3] = a,b the steps\nSELECT ?")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"PageView, Purchase", []string{"PageView", "Purchase"}, ""},
		{"x", []string{"x"}, ""},
		{"a,,b", nil, "empty item"},
		{"", nil, "empty item"},
		{"a,b,c,d", nil, "at most 3"},
	} {
		args, err := q.Args(map[string]string{"steps": tc.in})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(args[0].([]string), tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, args, err, tc.want)
		}
	}
	if _, err := parseQuery("q", "-- T\n-- param steps Array(String)[0] = a x\nSELECT ?"); err == nil {
		t.Error("Array(String)[0]: no error")
	}
}
