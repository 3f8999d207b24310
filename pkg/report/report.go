// Package report runs the reports shipped as schemas/queries/*.sql for one
// pixel of the registry: it fills the parameters every report declares
// (pixel, from, to, tz, bots) from the pixel and a date range in the pixel's
// time zone, checks the report's own parameters, runs it with query settings
// that keep its memory bounded, and writes the answer as an aligned table for
// people or as csv or json for machines. pixelctl report is its command.
package report

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// Memory limits of a report's query, the defaults of pixelctl report's
// -max-memory-usage and -max-bytes-before-external-group-by. A report
// de-duplicates raw events with GROUP BY event_id, event: past the second
// limit ClickHouse writes the GROUP BY's state to disk and merges it from
// there, so a long range runs slower instead of failing at the first.
const (
	DefaultMaxMemoryUsage                = 2 << 30 // 2 GiB
	DefaultMaxBytesBeforeExternalGroupBy = 1 << 30 // 1 GiB
)

// The parameters every report declares, which Run fills; -param cannot set
// them.
var standard = map[string]string{
	"pixel": "-pixel", "from": "-from or -last", "to": "-to or -last", "tz": "the pixel's time zone in the registry", "bots": "-include-bots",
}

// Options say which report to run for which pixel and days.
type Options struct {
	Pixel string // "" when the registry has exactly one pixel
	// Range is From and To (YYYY-MM-DD), or Last ("7d", "4w", "3m"); all
	// empty means Last "7d".
	From, To, Last string
	Params         map[string]string // the report's own parameters, by name
	IncludeBots    bool
	// MaxMemoryUsage and MaxBytesBeforeExternalGroupBy are the query's
	// settings of those names (0: the defaults above).
	MaxMemoryUsage, MaxBytesBeforeExternalGroupBy uint64
	// Settings are more query settings (log_queries for a measurement);
	// Run's own two win. A clickhouse.Context of the caller's is replaced.
	Settings clickhouse.Settings
	Now      func() time.Time // nil: time.Now
}

// MemorySettings are the query settings max_memory_usage and
// max_bytes_before_external_group_by (0: the defaults above), which pixelctl
// report and pixelctl audience export both set.
func MemorySettings(maxMemoryUsage, maxBytesBeforeExternalGroupBy uint64) clickhouse.Settings {
	if maxMemoryUsage == 0 {
		maxMemoryUsage = DefaultMaxMemoryUsage
	}
	if maxBytesBeforeExternalGroupBy == 0 {
		maxBytesBeforeExternalGroupBy = DefaultMaxBytesBeforeExternalGroupBy
	}
	return clickhouse.Settings{"max_memory_usage": int(maxMemoryUsage), "max_bytes_before_external_group_by": int(maxBytesBeforeExternalGroupBy)}
}

// Error is wrong input, told in one line: an unknown report, pixel or
// parameter, a bad value, a reversed range. pixelctl exits with status 2.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func inputErr(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// Lookup returns the shipped report called name.
func Lookup(name string) (analysis.Query, error) {
	q, err := analysis.Lookup(name)
	if err != nil {
		if qs, lerr := analysis.Queries(); lerr == nil && !has(qs, name) {
			return q, &Error{strings.NewReplacer("no query called", "no report called", "the shipped queries are", "the reports are").Replace(err.Error())}
		}
		return q, err
	}
	return q, nil
}

func has(qs []analysis.Query, name string) bool {
	for _, q := range qs {
		if q.Name == name {
			return true
		}
	}
	return false
}

// Check checks what can be checked without ClickHouse: the report exists,
// its parameters and the range are well formed. Run checks them again.
func Check(name string, o Options) (analysis.Query, error) {
	q, err := Lookup(name)
	if err != nil {
		return q, err
	}
	if _, err := ParseRange(o.From, o.To, o.Last, time.Now()); err != nil {
		return q, err
	}
	values, err := values(&q, o, Range{From: "2026-01-01", To: "2026-01-01"}, "UTC")
	if err != nil {
		return q, err
	}
	if _, err := q.Args(values); err != nil {
		return q, &Error{err.Error()}
	}
	return q, nil
}

func values(q *analysis.Query, o Options, r Range, tz string) (map[string]string, error) {
	vals := map[string]string{}
	names := make([]string, 0, len(o.Params))
	for k := range o.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if how, ok := standard[k]; ok {
			return nil, inputErr("-param %s: the report's %s is set by %s", k, k, how)
		}
		if _, ok := q.Param(k); !ok {
			return nil, inputErr("report %s has no parameter %s; it takes %s", q.Name, k, paramList(q))
		}
		vals[k] = o.Params[k]
	}
	bots := "0"
	if o.IncludeBots {
		bots = "1"
	}
	for k, v := range map[string]string{"from": r.From, "to": r.To, "tz": tz, "bots": bots, "pixel": o.Pixel} {
		if _, ok := q.Param(k); ok {
			vals[k] = v
		}
	}
	return vals, nil
}

// paramList names the report's own parameters, for messages.
func paramList(q *analysis.Query) string {
	var out []string
	for _, p := range q.Params {
		if _, ok := standard[p.Name]; ok {
			continue
		}
		s := p.Name + " (" + p.Type
		if p.HasDefault {
			s += ", default " + p.Default
		}
		out = append(out, s+")")
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// Result is a report's answer for one pixel and range.
type Result struct {
	Report   string
	Title    string
	Pixel    string
	TimeZone string
	Range    Range
	Bots     bool              // bots were included
	Params   map[string]string // the report's own parameters, defaults filled
	*analysis.Table
}

// Run runs report name for a pixel of the registry over conn.
func Run(ctx context.Context, conn chstore.Conn, name string, o Options) (*Result, error) {
	q, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	store := registry.NewStore(conn)
	if o.Pixel == "" {
		ps, err := store.List(ctx)
		if err != nil {
			return nil, err
		}
		if len(ps) != 1 {
			return nil, inputErr("name the pixel with -pixel ID: the registry has %d pixels (pixelctl pixel list shows them)", len(ps))
		}
		o.Pixel = ps[0].ID
	}
	p, err := store.Get(ctx, o.Pixel)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, &Error{err.Error()}
	} else if err != nil {
		return nil, err
	}
	tz := p.Zone()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("pixel %s: time zone %q: %w (fix it with pixelctl pixel update -time-zone)", p.ID, tz, err)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	r, err := ParseRange(o.From, o.To, o.Last, now().In(loc))
	if err != nil {
		return nil, err
	}
	vals, err := values(&q, o, r, tz)
	if err != nil {
		return nil, err
	}
	if _, err := q.Args(vals); err != nil {
		return nil, &Error{err.Error()}
	}
	settings := MemorySettings(o.MaxMemoryUsage, o.MaxBytesBeforeExternalGroupBy)
	for k, v := range o.Settings {
		if _, own := settings[k]; !own {
			settings[k] = v
		}
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(settings))
	t, err := q.Table(ctx, conn, vals)
	if err != nil {
		return nil, err
	}
	own := map[string]string{}
	for _, prm := range q.Params {
		if _, ok := standard[prm.Name]; !ok {
			own[prm.Name] = prm.Default
			if v, ok := vals[prm.Name]; ok {
				own[prm.Name] = v
			}
		}
	}
	return &Result{Report: q.Name, Title: q.Title, Pixel: p.ID, TimeZone: tz, Range: r, Bots: o.IncludeBots, Params: own, Table: t}, nil
}

// OwnParams are a report's own parameters, those Options.Params sets (Run
// fills the others: pixel, from, to, tz, bots).
func OwnParams(q *analysis.Query) []analysis.Param {
	var out []analysis.Param
	for _, p := range q.Params {
		if _, ok := standard[p.Name]; !ok {
			out = append(out, p)
		}
	}
	return out
}
