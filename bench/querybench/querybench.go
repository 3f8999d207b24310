// Package querybench is the logic of `make bench-reports` (bench/cmd/benchreports),
// which times every shipped report and audience query on a large generated
// data set: which values each query's parameters get from the data set,
// which tables a query reads, how each run's duration and peak memory are
// read back from ClickHouse's system.query_log, and how the runs are
// summarised and written as a Markdown table. The ClickHouse work lives in
// the command; everything here is plain Go, so its tests are quick.
package querybench

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
)

// Shipped returns every shipped query: schemas/queries/*.sql, then
// schemas/queries/audiences/*.sql, the latter named "audiences/NAME" so that
// a report and an audience of the same name stay apart. Listing the
// directories, not naming files, measures the reports merged later too.
func Shipped() ([]analysis.Query, error) {
	reports, err := analysis.Queries()
	if err != nil {
		return nil, fmt.Errorf("reading schemas/queries: %w", err)
	}
	audiences, err := analysis.QueriesIn("queries/audiences")
	if err != nil {
		return nil, fmt.Errorf("reading schemas/queries/audiences: %w", err)
	}
	for i := range audiences {
		audiences[i].Name = "audiences/" + audiences[i].Name
	}
	return append(reports, audiences...), nil
}

// DataSet is what the parameters of a query are picked from: one pixel of
// the generated population and the range of its events, in its days.
type DataSet struct {
	Pixel    string
	TimeZone string // the pixel's IANA zone
	From, To string // YYYY-MM-DD, the pixel's days; both inclusive
}

// DataSetOf returns pixel's DataSet in cfg: from the pixel's day of cfg.Start
// to its day of the end of the range (sessions that start on the last day
// may run past midnight, and a zone west of UTC starts a day earlier).
func DataSetOf(cfg dataset.Config, pixel string) (DataSet, error) {
	var px *dataset.Pixel
	var ids []string
	for i := range cfg.Pixels {
		ids = append(ids, cfg.Pixels[i].ID)
		if cfg.Pixels[i].ID == pixel {
			px = &cfg.Pixels[i]
		}
	}
	if px == nil {
		return DataSet{}, fmt.Errorf("the data set has no pixel %q; its pixels are %s", pixel, strings.Join(ids, ", "))
	}
	loc, err := time.LoadLocation(px.TimeZone)
	if err != nil {
		return DataSet{}, fmt.Errorf("pixel %s: time zone %q: %w", px.ID, px.TimeZone, err)
	}
	end := cfg.Start.Add(time.Duration(cfg.Days) * 24 * time.Hour)
	return DataSet{
		Pixel: px.ID, TimeZone: px.TimeZone,
		From: cfg.Start.In(loc).Format(time.DateOnly),
		To:   end.In(loc).Format(time.DateOnly),
	}, nil
}

// Fallbacks are the values of parameters that have no default and that the
// data set does not give: chosen to select something in the generated data.
var Fallbacks = map[string]string{
	"pattern": "%/product/%", // visited-pages: the generated product pages
}

// PickParams returns the values for q's parameters: an override first
// ("QUERY.NAME" before "NAME", so that one query can get its own value),
// then pixel, from, to and tz from ds, then the parameter's own default,
// then Fallbacks. A parameter none of these fills is an error naming the
// override that would.
func PickParams(q *analysis.Query, ds DataSet, overrides map[string]string) (map[string]string, error) {
	fromData := map[string]string{"pixel": ds.Pixel, "from": ds.From, "to": ds.To, "tz": ds.TimeZone}
	out := map[string]string{}
	for _, p := range q.Params {
		if v, ok := overrides[q.Name+"."+p.Name]; ok {
			out[p.Name] = v
			continue
		}
		if v, ok := overrides[p.Name]; ok {
			out[p.Name] = v
			continue
		}
		if v, ok := fromData[p.Name]; ok {
			out[p.Name] = v
			continue
		}
		if p.HasDefault {
			out[p.Name] = p.Default
			continue
		}
		if v, ok := Fallbacks[p.Name]; ok {
			out[p.Name] = v
			continue
		}
		return nil, fmt.Errorf("query %s needs a value for its parameter %s (%s, %s) and the data set gives none: pass -param %s.%s=VALUE", q.Name, p.Name, p.Type, p.Doc, q.Name, p.Name)
	}
	return out, nil
}

// FormatParams renders values as "k=v k=v" in name order.
func FormatParams(values map[string]string) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + values[k]
	}
	return strings.Join(parts, " ")
}

// Tables returns the tables sql reads — the names after FROM and JOIN that
// are not subqueries, table functions or ARRAY JOIN's arrays — without a
// database prefix, sorted, each once. It skips string literals, quoted names
// and comments.
func Tables(sql string) []string {
	toks := tokens(sql)
	var out []string
	for i := 0; i+1 < len(toks); i++ {
		kw := strings.ToUpper(toks[i])
		if kw != "FROM" && kw != "JOIN" {
			continue
		}
		if kw == "JOIN" && i > 0 && strings.EqualFold(toks[i-1], "ARRAY") {
			continue // ARRAY JOIN unfolds an array column, it reads no table
		}
		name := toks[i+1]
		if !isIdent(name) || i+2 < len(toks) && toks[i+2] == "(" {
			continue // a subquery, or a table function such as numbers(10)
		}
		if _, t, ok := strings.Cut(name, "."); ok {
			name = t
		}
		if name == "" {
			continue // a lone dot, not a name
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// tokens splits sql into identifiers (dots included: pixel.events) and
// single punctuation characters, leaving out literals and comments.
func tokens(sql string) []string {
	var out []string
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(sql) && sql[j] != c {
				if sql[j] == '\\' {
					j++
				}
				j++
			}
			if c != '\'' && j <= len(sql) { // a quoted name is a name
				out = append(out, sql[i+1:min(j, len(sql))])
			}
			i = j + 1
		case strings.HasPrefix(sql[i:], "--"):
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case identByte(c):
			j := i
			for j < len(sql) && (identByte(sql[j]) || sql[j] == '.') {
				j++
			}
			out = append(out, sql[i:j])
			i = j
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		default:
			out = append(out, sql[i:i+1])
			i++
		}
	}
	return out
}

func identByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !identByte(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

// Source describes the tables a query reads for the results table: the raw
// events table as "events (raw)", a table kinds names a rollup as
// "NAME (rollup)", any other table by its name.
func Source(tables []string, rollups map[string]bool) string {
	parts := make([]string, len(tables))
	for i, t := range tables {
		switch {
		case t == "events":
			parts[i] = "events (raw)"
		case rollups[t]:
			parts[i] = t + " (rollup)"
		default:
			parts[i] = t
		}
	}
	return strings.Join(parts, ", ")
}

// IsRollup tells from a table's engine (system.tables) whether it holds a
// pre-aggregation: a materialized view's target is Aggregating- or
// SummingMergeTree (or a ReplacingMergeTree fed by a view, which the
// command learns from the views' targets and passes in separately).
func IsRollup(engine string) bool {
	return strings.Contains(engine, "AggregatingMergeTree") || strings.Contains(engine, "SummingMergeTree") || engine == "MaterializedView"
}

// Query-log entry types, as system.query_log's type column numbers them
// (an Enum8 on current ClickHouse with the same values, a UInt8 on 18.16).
const (
	QueryStart               = 1
	QueryFinish              = 2
	ExceptionBeforeStart     = 3
	ExceptionWhileProcessing = 4
)

// LogRow is one row of system.query_log, the columns a run is judged by.
type LogRow struct {
	QueryID    string
	Type       uint8
	DurationMs uint64 // query_duration_ms
	Memory     uint64 // memory_usage: the query's peak, bytes
	ReadRows   uint64 // read_rows
	ReadBytes  uint64 // read_bytes
	ResultRows uint64 // result_rows
	Exception  string
}

// LogQuery selects the LogRows of a list of query ids (bound as the one
// parameter, an array). It reads columns that exist on 18.16 and current
// ClickHouse.
const LogQuery = `SELECT query_id, toUInt8(type), query_duration_ms, memory_usage, read_rows, read_bytes, result_rows, exception
FROM system.query_log WHERE has(?, query_id) AND toUInt8(type) != 1`

// Run is one run of a query as the query log recorded it.
type Run struct {
	QueryID    string `json:"query_id"`
	DurationMs uint64 `json:"duration_ms"`
	Memory     uint64 `json:"memory_bytes"`
	ReadRows   uint64 `json:"read_rows"`
	ReadBytes  uint64 `json:"read_bytes"`
	ResultRows uint64 `json:"result_rows"`
	Error      string `json:"error,omitempty"`
}

// Runs matches log rows to the runs ids, in the order of ids: each id needs
// its one end (finished or failed; the start rows are ignored). An id
// missing from the log is an error, the log was not flushed or is off.
func Runs(rows []LogRow, ids []string) ([]Run, error) {
	byID := map[string]LogRow{}
	for _, r := range rows {
		if r.Type == QueryStart {
			continue
		}
		if prev, ok := byID[r.QueryID]; ok && prev.Type != QueryFinish {
			continue // an exception row is the one to keep
		}
		byID[r.QueryID] = r
	}
	out := make([]Run, len(ids))
	var missing []string
	for i, id := range ids {
		r, ok := byID[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out[i] = Run{QueryID: id, DurationMs: r.DurationMs, Memory: r.Memory, ReadRows: r.ReadRows, ReadBytes: r.ReadBytes, ResultRows: r.ResultRows}
		if r.Type != QueryFinish {
			out[i].Error = firstLine(r.Exception)
			if out[i].Error == "" {
				out[i].Error = fmt.Sprintf("query_log type %d without an exception text", r.Type)
			}
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("system.query_log has no end of %d queries (%s): is query_log configured and were the logs flushed?", len(missing), strings.Join(missing, ", "))
	}
	return out, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Stat summarises the runs of one query: the first run is cold, the others
// warm.
type Stat struct {
	Runs      int     `json:"runs"`
	ColdMs    uint64  `json:"cold_ms"`
	MedianMs  float64 `json:"median_ms"` // of the warm runs (the cold one when there is only one)
	MaxMs     uint64  `json:"max_ms"`    // of the warm runs
	PeakBytes uint64  `json:"peak_memory_bytes"`
	ReadRows  uint64  `json:"read_rows"` // of the last run
	ReadBytes uint64  `json:"read_bytes"`
	Errors    int     `json:"errors"`
}

// Summarise returns the Stat of runs (in the order they ran).
func Summarise(runs []Run) Stat {
	var s Stat
	s.Runs = len(runs)
	if len(runs) == 0 {
		return s
	}
	s.ColdMs = runs[0].DurationMs
	warm := runs[1:]
	if len(warm) == 0 {
		warm = runs
	}
	ms := make([]float64, 0, len(warm))
	for _, r := range warm {
		ms = append(ms, float64(r.DurationMs))
		s.MaxMs = max(s.MaxMs, r.DurationMs)
	}
	s.MedianMs = median(ms)
	for _, r := range runs {
		s.PeakBytes = max(s.PeakBytes, r.Memory)
		if r.Error != "" {
			s.Errors++
		}
	}
	last := runs[len(runs)-1]
	s.ReadRows, s.ReadBytes = last.ReadRows, last.ReadBytes
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

var toTarget = regexp.MustCompile("(?i)\\bTO\\s+([A-Za-z0-9_.`\"]+)")

// ViewTarget returns the table a materialized view writes to, from its
// CREATE statement (system.tables' create_table_query): the table after
// TO, without database and quotes; "" for a view with its own inner table,
// which queries read by the view's name.
func ViewTarget(create string) string {
	// Only the head: a column named "to" in the SELECT is no target.
	if i := strings.Index(strings.ToUpper(create), "SELECT"); i >= 0 {
		create = create[:i]
	}
	m := toTarget.FindStringSubmatch(create)
	if m == nil {
		return ""
	}
	name := strings.NewReplacer("`", "", `"`, "").Replace(m[1])
	if _, t, ok := strings.Cut(name, "."); ok {
		name = t
	}
	return name
}
