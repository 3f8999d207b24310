package querybench

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
)

func TestShippedListsReportsAndAudiences(t *testing.T) {
	qs, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	reports, _ := analysis.Queries()
	audiences, _ := analysis.QueriesIn("queries/audiences")
	if len(qs) != len(reports)+len(audiences) || len(audiences) == 0 || len(reports) == 0 {
		t.Fatalf("Shipped: %d queries, want the %d reports and %d audiences", len(qs), len(reports), len(audiences))
	}
	for _, q := range qs[len(reports):] {
		if !strings.HasPrefix(q.Name, "audiences/") {
			t.Errorf("audience %q not named audiences/NAME", q.Name)
		}
	}
}

func TestDataSetOf(t *testing.T) {
	cfg := dataset.DefaultConfig(1, 10) // 2026-11-02 00:00 UTC, 14 days
	for _, tc := range []struct {
		pixel, from, to, tz string
	}{
		{"px-shop-eu", "2026-11-02", "2026-11-16", "Europe/Paris"},
		// New York is behind UTC: the range starts on its 1 November.
		{"px-shop-us", "2026-11-01", "2026-11-15", "America/New_York"},
	} {
		ds, err := DataSetOf(cfg, tc.pixel)
		if err != nil {
			t.Fatal(err)
		}
		if want := (DataSet{tc.pixel, tc.tz, tc.from, tc.to}); ds != want {
			t.Errorf("DataSetOf(%s) = %+v, want %+v", tc.pixel, ds, want)
		}
	}
	if _, err := DataSetOf(cfg, "nope"); err == nil || !strings.Contains(err.Error(), "px-shop-eu, px-shop-us") {
		t.Errorf("unknown pixel: %v, want an error naming the data set's pixels", err)
	}
}

func TestPickParams(t *testing.T) {
	q := analysis.Query{Name: "audiences/visited-pages", Params: []analysis.Param{
		{Name: "pixel", Type: "String"},
		{Name: "from", Type: "Date"},
		{Name: "to", Type: "Date"},
		{Name: "tz", Type: "String"},
		{Name: "bots", Type: "UInt32", Default: "0", HasDefault: true},
		{Name: "days", Type: "UInt32", Default: "30", HasDefault: true},
		{Name: "pattern", Type: "String"},
	}}
	ds := DataSet{Pixel: "px-shop-eu", TimeZone: "Europe/Paris", From: "2026-11-02", To: "2026-11-16"}
	for _, tc := range []struct {
		name      string
		overrides map[string]string
		want      map[string]string
	}{
		{"from the data set, defaults, fallbacks", nil, map[string]string{
			"pixel": "px-shop-eu", "from": "2026-11-02", "to": "2026-11-16", "tz": "Europe/Paris",
			"bots": "0", "days": "30", "pattern": "%/product/%"}},
		{"overrides win, the query's own first", map[string]string{"days": "7", "audiences/visited-pages.days": "9", "pixel": "px-shop-us", "pattern": "%/checkout"}, map[string]string{
			"pixel": "px-shop-us", "from": "2026-11-02", "to": "2026-11-16", "tz": "Europe/Paris",
			"bots": "0", "days": "9", "pattern": "%/checkout"}},
	} {
		got, err := PickParams(&q, ds, tc.overrides)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		if _, err := q.Args(got); err != nil {
			t.Errorf("%s: the picked values do not bind: %v", tc.name, err)
		}
	}
	q.Params = append(q.Params, analysis.Param{Name: "steps", Type: "String", Doc: "the funnel's steps"})
	if _, err := PickParams(&q, ds, nil); err == nil || !strings.Contains(err.Error(), "-param audiences/visited-pages.steps=") {
		t.Errorf("a parameter nothing fills: %v, want an error naming the override", err)
	}
}

// Every shipped query gets a value for every parameter from the generated
// data set, and the values bind.
func TestPickParamsForEveryShippedQuery(t *testing.T) {
	qs, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	ds, err := DataSetOf(dataset.DefaultConfig(1, 10), "px-shop-eu")
	if err != nil {
		t.Fatal(err)
	}
	for i := range qs {
		v, err := PickParams(&qs[i], ds, nil)
		if err != nil {
			t.Errorf("%s: %v", qs[i].Name, err)
			continue
		}
		if _, err := qs[i].Args(v); err != nil {
			t.Errorf("%s: %v", qs[i].Name, err)
		}
	}
}

func TestTables(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{"SELECT count() FROM events WHERE event = 'FROM x'", []string{"events"}},
		{"SELECT * FROM (SELECT a FROM pixel.events) ANY LEFT JOIN (SELECT b FROM sessions_daily) USING a", []string{"events", "sessions_daily"}},
		{"SELECT * FROM numbers(10)", nil},
		{"SELECT * FROM `visitor_profiles` -- FROM comment\n /* JOIN hidden */ JOIN \"ad_spend\" USING x", []string{"ad_spend", "visitor_profiles"}},
		{"SELECT toDate(ts) FROM events WHERE x IN (SELECT y FROM events)", []string{"events"}},
		{"select 1 from daily_stats join events using k", []string{"daily_stats", "events"}},
		{"SELECT r FROM (SELECT rs FROM events) ARRAY JOIN rs AS r LEFT ARRAY JOIN [0, 1] AS total", []string{"events"}},
	} {
		if got := Tables(tc.sql); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Tables(%q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
	if got := Source([]string{"ad_spend", "daily_stats", "events"}, map[string]bool{"daily_stats": true}); got != "ad_spend, daily_stats (rollup), events (raw)" {
		t.Errorf("Source: %q", got)
	}
}

// Every shipped query reads at least one table.
func TestTablesOfShippedQueries(t *testing.T) {
	qs, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if len(Tables(q.SQL)) == 0 {
			t.Errorf("%s: no table found in its SQL", q.Name)
		}
	}
}

func FuzzTables(f *testing.F) {
	f.Add("SELECT * FROM events")
	f.Add("SELECT 'a\\'' FROM `x` JOIN \"y")
	f.Add("/* unterminated FROM t")
	f.Fuzz(func(t *testing.T, sql string) {
		for _, name := range Tables(sql) {
			if name == "" {
				t.Fatalf("Tables(%q) returned an empty name", sql)
			}
		}
	})
}

func TestRuns(t *testing.T) {
	rows := []LogRow{
		{QueryID: "a", Type: QueryStart},
		{QueryID: "a", Type: QueryFinish, DurationMs: 12, Memory: 1 << 20, ReadRows: 1000, ReadBytes: 9000, ResultRows: 3},
		{QueryID: "b", Type: QueryStart},
		{QueryID: "b", Type: ExceptionWhileProcessing, DurationMs: 40, Memory: 5 << 20,
			Exception: "Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded\nstack"},
		{QueryID: "other", Type: QueryFinish},
	}
	got, err := Runs(rows, []string{"b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{
		{QueryID: "b", DurationMs: 40, Memory: 5 << 20, Error: "Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded"},
		{QueryID: "a", DurationMs: 12, Memory: 1 << 20, ReadRows: 1000, ReadBytes: 9000, ResultRows: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Runs:\n got %+v\nwant %+v", got, want)
	}
	if _, err := Runs(rows[:1], []string{"a"}); err == nil || !strings.Contains(err.Error(), "flushed") {
		t.Errorf("a run with only its start logged: %v, want an error", err)
	}
}

func TestSummarise(t *testing.T) {
	runs := []Run{
		{DurationMs: 900, Memory: 10, ReadRows: 5},
		{DurationMs: 30, Memory: 40, ReadRows: 5},
		{DurationMs: 10, Memory: 20, ReadRows: 5},
		{DurationMs: 20, Memory: 20, ReadRows: 5},
		{DurationMs: 50, Memory: 20, ReadRows: 5, Error: "boom"},
	}
	s := Summarise(runs)
	want := Stat{Runs: 5, ColdMs: 900, MedianMs: 25, MaxMs: 50, PeakBytes: 40, ReadRows: 5, Errors: 1}
	if s != want {
		t.Errorf("Summarise = %+v, want %+v", s, want)
	}
	if s := Summarise(runs[:1]); s.MedianMs != 900 || s.MaxMs != 900 {
		t.Errorf("one run: %+v, want the cold run as the warm figures too", s)
	}
	if s := Summarise(nil); s.Runs != 0 || !math.IsNaN(median(nil)) {
		t.Errorf("no runs: %+v", s)
	}
}

func TestViewTarget(t *testing.T) {
	for create, want := range map[string]string{
		"CREATE MATERIALIZED VIEW pixel.daily_stats_mv TO pixel.daily_stats (`day` Date) AS SELECT 1 FROM pixel.events": "daily_stats",
		"CREATE MATERIALIZED VIEW pixel.sessions_mv to `sessions` AS SELECT 1 FROM pixel.events":                        "sessions",
		"CREATE MATERIALIZED VIEW pixel.v_mv ENGINE = MergeTree() ORDER BY x AS SELECT ? AS to FROM pixel.events":       "",
		"CREATE MATERIALIZED VIEW pixel.visitors ENGINE = AggregatingMergeTree() ORDER BY v AS SELECT 1":                "",
	} {
		if got := ViewTarget(create); got != want {
			t.Errorf("ViewTarget(%q) = %q, want %q", create, got, want)
		}
	}
}
