// Command benchreports is `make bench-reports`: how fast every shipped
// report and audience query answers, and with how much memory, on a large
// generated data set in a private ClickHouse. It starts a private server
// (pkg/devstack) with the query log on, applies every migration (the
// rollups' materialized views included), registers the data set's pixels,
// generates and inserts -events events with pkg/dataset and the data set's
// ad spend, waits for the background merges to settle, then runs each query
// of schemas/queries/ and schemas/queries/audiences/ -runs times with
// max_memory_usage and max_bytes_before_external_group_by set (pixelctl
// report's defaults), the first run after dropping
// ClickHouse's caches (cold). Each run's duration, peak memory and rows
// read come from system.query_log. It writes results.md and results.json
// into <out>/<UTC timestamp>/ and exits 1 when any query failed (an error,
// or the memory limit exceeded).
//
//	make bench-reports                                # 10 million events, about 6 minutes
//	BENCH_REPORTS_EVENTS=1000000 make bench-reports   # 1 million, about 30 s (what make bench runs)
//	bin/benchreports -help                            # every setting
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/bench/machine"
	"github.com/pixel-pipeline/pixel/bench/querybench"
	benchreport "github.com/pixel-pipeline/pixel/bench/report"
	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/report"
)

// Config is every setting of a run.
type Config struct {
	Out           string
	Events        int
	Runs          int
	Seed          int64
	Pixel         string
	Params        []string // NAME=VALUE or QUERY.NAME=VALUE
	Only          []string // query names; empty: all
	MaxMemory     int64
	ExternalGroup int64
	Batch         int
	SettleTimeout time.Duration
	QueryTimeout  time.Duration
	Keep          bool
}

func newConfig() (*Config, *flagenv.Set) {
	c := &Config{}
	fs := flagenv.New("benchreports", "Times every shipped report and audience query (schemas/queries/*.sql and\n"+
		"schemas/queries/audiences/*.sql) on a generated data set (pkg/dataset) in a private ClickHouse:\n"+
		"each query -runs times with max_memory_usage set, the first run cold; duration, peak memory and\n"+
		"rows read from system.query_log. Also the insert rate and the tables' sizes. Writes results.md and\n"+
		"results.json into <out>/<UTC timestamp>/; exits 1 when a query fails or exceeds the memory limit.")
	fs.String(&c.Out, "out", "BENCH_OUT", filepath.Join("bench", "results"), "`folder` that receives one results folder per run")
	fs.Int(&c.Events, "events", "BENCH_REPORTS_EVENTS", 10_000_000, "about how many events to generate and insert")
	fs.Int(&c.Runs, "runs", "BENCH_REPORTS_RUNS", 5, "runs of each query; the first is reported as cold")
	fs.Int64(&c.Seed, "seed", "BENCH_SEED", 1, "seed of the generated data set")
	fs.String(&c.Pixel, "pixel", "BENCH_REPORTS_PIXEL", "px-shop-eu", "the data set's `pixel` the queries ask about")
	fs.Strings(&c.Params, "param", "BENCH_REPORTS_PARAMS", "parameter values, comma-separated `list` of NAME=VALUE or QUERY.NAME=VALUE, over those picked from the data set")
	fs.Strings(&c.Only, "only", "BENCH_REPORTS_ONLY", "run only these queries, comma-separated `names` (audiences as audiences/NAME)")
	fs.Int64(&c.MaxMemory, "max-memory", "BENCH_REPORTS_MAX_MEMORY", report.DefaultMaxMemoryUsage, "max_memory_usage of each query, `bytes` (pixelctl report's default)")
	fs.Int64(&c.ExternalGroup, "external-group-by", "BENCH_REPORTS_EXTERNAL_GROUP_BY", report.DefaultMaxBytesBeforeExternalGroupBy, "max_bytes_before_external_group_by of each query, `bytes` (pixelctl report's default; 0: never spill)")
	fs.Int(&c.Batch, "batch", "BENCH_REPORTS_BATCH", dataset.DefaultBatch, "events per insert")
	fs.Duration(&c.SettleTimeout, "settle-timeout", "BENCH_REPORTS_SETTLE_TIMEOUT", 3*time.Minute, "longest wait for the background merges to settle after the insert")
	fs.Duration(&c.QueryTimeout, "query-timeout", "BENCH_REPORTS_QUERY_TIMEOUT", 5*time.Minute, "longest run of one query")
	fs.Bool(&c.Keep, "keep", "BENCH_KEEP", false, "keep the private ClickHouse's folder instead of removing it")
	fs.Check(func() error {
		if len(fs.Args()) > 0 {
			return fmt.Errorf("unexpected arguments %q; every setting is a flag, see -help", fs.Args())
		}
		if c.Events < 1000 || c.Runs < 1 || c.Batch < 1 || c.Seed < 0 {
			return errors.New("-events must be at least 1000, -runs and -batch at least 1, -seed not negative")
		}
		if c.MaxMemory < 1<<20 || c.ExternalGroup < 0 || c.ExternalGroup >= c.MaxMemory {
			return errors.New("-max-memory must be at least 1 MiB and -external-group-by from 0 to below -max-memory")
		}
		_, err := c.overrides()
		return err
	})
	return c, fs
}

func (c *Config) overrides() (map[string]string, error) {
	out := map[string]string{}
	for _, p := range c.Params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-param %q: want NAME=VALUE or QUERY.NAME=VALUE", p)
		}
		out[k] = v
	}
	return out, nil
}

func main() {
	cfg, fs := newConfig()
	fs.ParseOrExit(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dir, failed, err := run(ctx, cfg, os.Stdout)
	if dir != "" {
		fmt.Printf("\nresults: %s\n", dir)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "benchreports: interrupted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchreports:", err)
		os.Exit(1)
	case failed > 0:
		fmt.Fprintf(os.Stderr, "benchreports: %d queries failed; see the table\n", failed)
		os.Exit(1)
	}
}

// queryLogXML turns the query log on in the private server (devstack's
// configuration has none): the runs' figures are read back from it. Merged
// from config.d, as clickhouse-server 18.16 and current do.
const queryLogXML = `<?xml version="1.0"?>
<!-- Written by pixel's make bench-reports: each run's duration and memory are read from the query log. -->
<yandex>
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>1000</flush_interval_milliseconds>
  </query_log>
</yandex>
`

// Results is what a run measured; results.json holds it as it is.
type Results struct {
	Started    time.Time          `json:"started"`
	Took       string             `json:"took"`
	Machine    machine.Info       `json:"machine"`
	ClickHouse string             `json:"clickhouse"`
	Seed       int64              `json:"seed"`
	Visitors   int                `json:"visitors"`
	Events     int                `json:"events"`
	GenerateS  float64            `json:"generate_seconds"` // generating alone, counted before the insert
	InsertS    float64            `json:"insert_seconds"`   // generating and inserting
	Batch      int                `json:"batch"`
	SpendRows  int                `json:"spend_rows"` // generated ad spend loaded into ad_spend
	SettleS    float64            `json:"settle_seconds"`
	Settled    bool               `json:"settled"`
	DataSet    querybench.DataSet `json:"data_set"`
	MaxMemory  int64              `json:"max_memory_usage"`
	External   int64              `json:"max_bytes_before_external_group_by"`
	Tables     []Table            `json:"tables"`
	Queries    []QueryRe          `json:"queries"`
	Notes      []string           `json:"notes"`
	// The 1-minute load average of the machine when the queries started and
	// ended: a shared machine's figures are read with it.
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

// Table is one table's size from system.parts (active parts).
type Table struct {
	Name         string `json:"name"`
	Engine       string `json:"engine"`
	Rollup       bool   `json:"rollup"`
	Parts        uint64 `json:"parts"`
	Rows         uint64 `json:"rows"`
	Bytes        uint64 `json:"bytes_on_disk"`
	Uncompressed uint64 `json:"uncompressed_bytes"`
}

// QueryRe is one query's runs.
type QueryRe struct {
	Name   string           `json:"name"`
	Params string           `json:"params"`
	Source string           `json:"source"`
	Rows   int              `json:"rows_returned"`
	Runs   []querybench.Run `json:"runs"`
	Stat   querybench.Stat  `json:"stat"`
	Error  string           `json:"error,omitempty"`
	WallMs []float64        `json:"wall_ms"` // as the client saw them, reading every row
	ids    []string         // the runs' query ids
}

type lab struct {
	cfg     *Config
	stdout  io.Writer
	log     *os.File
	work    string // the private ClickHouse's folder
	ch      *devstack.ClickHouse
	conn    chstore.Conn
	res     *Results
	rollups map[string]bool   // the rollup tables and views, found by sizes
	engines map[string]string // every table and view of the database: its engine
}

func (l *lab) printf(format string, args ...any) {
	line := time.Now().UTC().Format("15:04:05") + " bench-reports: " + fmt.Sprintf(format, args...) + "\n"
	fmt.Fprint(l.stdout, line)
	fmt.Fprint(l.log, line)
}

// run is the whole benchmark: the results folder, how many queries failed,
// and an error when the run could not be carried out.
func run(ctx context.Context, cfg *Config, stdout io.Writer) (string, int, error) {
	overrides, _ := cfg.overrides()
	queries, err := selected(cfg.Only)
	if err != nil {
		return "", 0, err
	}
	started := time.Now().UTC()
	dir := filepath.Join(cfg.Out, started.Format("20060102T150405Z"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("cannot create the results folder: %w; check -out", err)
	}
	log, err := os.Create(filepath.Join(dir, "bench.log"))
	if err != nil {
		return dir, 0, err
	}
	defer log.Close()
	res := &Results{Started: started, Machine: machine.Read(), Seed: cfg.Seed, Batch: cfg.Batch, MaxMemory: cfg.MaxMemory, External: cfg.ExternalGroup}
	work, err := os.MkdirTemp("", "pixel-bench-reports-")
	if err != nil {
		return dir, 0, err
	}
	l := &lab{cfg: cfg, stdout: stdout, log: log, work: work, res: res}
	defer func() {
		if l.conn != nil {
			l.conn.Close()
		}
		if l.ch != nil {
			if err := l.ch.Stop(30 * time.Second); err != nil {
				l.printf("stopping ClickHouse: %v", err)
			}
		}
		if cfg.Keep {
			l.printf("work folder kept: %s", work)
		} else {
			os.RemoveAll(work)
		}
	}()

	gen := dataset.DefaultConfig(uint64(cfg.Seed), 0)
	if res.DataSet, err = querybench.DataSetOf(gen, cfg.Pixel); err != nil {
		return dir, 0, err
	}
	steps := []struct {
		name string
		fn   func(context.Context, *dataset.Config) error
	}{
		{"start a private ClickHouse with the query log, migrate, register the data set's pixels", l.start},
		{fmt.Sprintf("generate and insert about %s events", benchreport.Thousands(float64(cfg.Events))), l.insert},
		{"wait for the background merges to settle", l.settle},
		{"table sizes", l.sizes},
	}
	for i, s := range steps {
		l.printf("[%d/%d] %s", i+1, len(steps)+1, s.name)
		t0 := time.Now()
		if err := s.fn(ctx, &gen); err != nil {
			return dir, 0, fmt.Errorf("%s: %w", s.name, err)
		}
		l.printf("      done in %s", time.Since(t0).Round(100*time.Millisecond))
	}
	l.printf("[%d/%d] run %d queries %d times each", len(steps)+1, len(steps)+1, len(queries), cfg.Runs)
	res.LoadBefore = loadAverage()
	failed := l.queries(ctx, queries, overrides)
	res.LoadAfter = loadAverage()
	res.Took = time.Since(started).Round(time.Second).String()
	if err := write(dir, res); err != nil {
		return dir, failed, err
	}
	b, _ := os.ReadFile(filepath.Join(dir, "results.md"))
	fmt.Fprint(stdout, "\n"+string(b))
	return dir, failed, ctx.Err()
}

// selected returns the shipped queries named in only (all when empty).
func selected(only []string) ([]analysis.Query, error) {
	qs, err := querybench.Shipped()
	if err != nil {
		return nil, err
	}
	if len(only) == 0 {
		return qs, nil
	}
	var out []analysis.Query
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
		if slices.Contains(only, q.Name) {
			out = append(out, q)
		}
	}
	if len(out) != len(only) {
		return nil, fmt.Errorf("-only %s: the shipped queries are %s", strings.Join(only, ","), strings.Join(names, ", "))
	}
	return out, nil
}

func (l *lab) start(ctx context.Context, _ *dataset.Config) error {
	ch, err := devstack.NewClickHouse(filepath.Join(l.work, "clickhouse"), 0, 0)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(ch.Dir, "config.d"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ch.Dir, "config.d", "pixel-bench-query-log.xml"), []byte(queryLogXML), 0o644); err != nil {
		return err
	}
	if err := ch.Start(ctx); err != nil {
		return err
	}
	l.ch = ch
	o := chstore.Options{Addr: []string{ch.Addr()}, Database: "pixel", ReadTimeout: l.cfg.QueryTimeout}
	if _, err := chstore.Migrate(ctx, o); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if l.conn, err = chstore.Open(ctx, o); err != nil {
		return err
	}
	if v, err := chstore.ServerVersion(ctx, l.conn); err == nil {
		l.res.ClickHouse = v.String()
	}
	// The data set's pixels, with their domains and time zones, as a
	// report that reads the registry finds them.
	if err := dataset.Register(ctx, l.conn, dataset.DefaultConfig(uint64(l.cfg.Seed), 0).Pixels); err != nil {
		return err
	}
	return nil
}

func (l *lab) insert(ctx context.Context, gen *dataset.Config) error {
	gen.Visitors = dataset.VisitorsFor(*gen, l.cfg.Events)
	pop := dataset.Generate(*gen)
	// Generating alone first: the exact count, and how much of the insert
	// time is the generator's.
	t0 := time.Now()
	n := 0
	if err := pop.Events(func(*event.Event) error { n++; return ctx.Err() }); err != nil {
		return err
	}
	l.res.GenerateS = time.Since(t0).Seconds()
	t0 = time.Now()
	inserted, err := dataset.Insert(ctx, l.conn, pop, l.cfg.Batch)
	if err != nil {
		return err
	}
	l.res.InsertS = time.Since(t0).Seconds()
	l.res.Visitors, l.res.Events = gen.Visitors, inserted
	if inserted != n {
		return fmt.Errorf("inserted %d events, the population has %d", inserted, n)
	}
	// The generated ad spend of the campaigns, as pixelctl spend import
	// loads it, so that cpa and roas have costs to divide.
	if l.res.SpendRows, err = dataset.LoadSpend(ctx, l.conn, pop, time.Now()); err != nil {
		return err
	}
	l.printf("      %s events of %s visitors in %.1f s: %s events/s (generating alone: %.1f s)",
		benchreport.Thousands(float64(inserted)), benchreport.Thousands(float64(gen.Visitors)), l.res.InsertS,
		benchreport.Thousands(float64(inserted)/l.res.InsertS), l.res.GenerateS)
	return nil
}

// settle waits until no merge runs in the database and the count of active
// parts stayed the same for three polls a second apart: the table as a
// server that has been running for a while holds it. No OPTIMIZE ... FINAL:
// it would collapse every duplicate into one row, which a live table never
// is (new parts keep arriving), and so flatter the raw-event queries.
func (l *lab) settle(ctx context.Context, _ *dataset.Config) error {
	t0 := time.Now()
	deadline := t0.Add(l.cfg.SettleTimeout)
	var last, stable uint64
	for {
		var merges, parts uint64
		if err := l.conn.QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = 'pixel'").Scan(&merges); err != nil {
			return err
		}
		if err := l.conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = 'pixel' AND active").Scan(&parts); err != nil {
			return err
		}
		if merges == 0 && parts == last {
			stable++
		} else {
			stable = 0
		}
		last = parts
		if stable >= 3 {
			l.res.Settled = true
			break
		}
		if time.Now().After(deadline) {
			l.res.Notes = append(l.res.Notes, fmt.Sprintf("merges had not settled after %s (-settle-timeout): %d active parts, %d merges running", l.cfg.SettleTimeout, parts, merges))
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	l.res.SettleS = time.Since(t0).Seconds()
	return nil
}

// sizes reads each table's active parts and which tables are rollups: the
// targets of materialized views and Aggregating/SummingMergeTree tables.
func (l *lab) sizes(ctx context.Context, _ *dataset.Config) error {
	engines := map[string]string{}
	rollups := map[string]bool{}
	rows, err := l.conn.Query(ctx, "SELECT name, engine, create_table_query FROM system.tables WHERE database = 'pixel'")
	if err != nil {
		return err
	}
	for rows.Next() {
		var name, engine, create string
		if err := rows.Scan(&name, &engine, &create); err != nil {
			rows.Close()
			return err
		}
		engines[name] = engine
		if querybench.IsRollup(engine) {
			rollups[name] = true
		}
		if engine == "MaterializedView" {
			if t := querybench.ViewTarget(create); t != "" {
				rollups[t] = true
			} else {
				rollups[".inner."+name] = true
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	prows, err := l.conn.Query(ctx, `SELECT table, count(), sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes)
		FROM system.parts WHERE database = 'pixel' AND active GROUP BY table ORDER BY table`)
	if err != nil {
		return err
	}
	defer prows.Close()
	sized := map[string]Table{}
	for prows.Next() {
		var t Table
		if err := prows.Scan(&t.Name, &t.Parts, &t.Rows, &t.Bytes, &t.Uncompressed); err != nil {
			return err
		}
		sized[t.Name] = t
	}
	if err := prows.Err(); err != nil {
		return err
	}
	// Every table, the empty ones too; views hold nothing themselves.
	names := make([]string, 0, len(engines))
	for name, engine := range engines {
		if engine != "MaterializedView" && engine != "View" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		t := sized[name]
		t.Name, t.Engine, t.Rollup = name, engines[name], rollups[name]
		l.res.Tables = append(l.res.Tables, t)
	}
	l.rollups, l.engines = rollups, engines
	return nil
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// queries runs every query and returns how many failed.
func (l *lab) queries(ctx context.Context, queries []analysis.Query, overrides map[string]string) int {
	runID := time.Now().UTC().Format("150405")
	var ids []string
	failed := 0
	for i := range queries {
		q := &queries[i]
		var tables []string // the names after FROM that are tables of the database (not aliases)
		for _, t := range querybench.Tables(q.SQL) {
			if _, ok := l.engines[t]; ok {
				tables = append(tables, t)
			}
		}
		qr := QueryRe{Name: q.Name, Source: querybench.Source(tables, l.rollups)}
		values, err := querybench.PickParams(q, l.res.DataSet, overrides)
		var args []any
		if err == nil {
			args, err = q.Args(values)
		}
		qr.Params = querybench.FormatParams(values)
		if err != nil {
			qr.Error = err.Error()
			failed++
			l.res.Queries = append(l.res.Queries, qr)
			l.printf("      %s: %v", q.Name, err)
			continue
		}
		var qids []string
		for k := 0; k < l.cfg.Runs; k++ {
			id := fmt.Sprintf("bench-reports-%s-%s-%d", runID, unsafeID.ReplaceAllString(q.Name, "_"), k)
			qids = append(qids, id)
			if k == 0 {
				// Cold: ClickHouse's own caches dropped (the OS page cache
				// stays warm: dropping it needs root and slows everyone).
				for _, st := range []string{"SYSTEM DROP MARK CACHE", "SYSTEM DROP UNCOMPRESSED CACHE"} {
					if err := l.conn.Exec(ctx, st); err != nil {
						l.res.Notes = append(l.res.Notes, st+": "+err.Error())
					}
				}
			}
			n, wall, err := l.runOnce(ctx, q, args, id)
			qr.WallMs = append(qr.WallMs, float64(wall.Microseconds())/1000)
			if err != nil && qr.Error == "" {
				qr.Error = firstLine(err.Error())
			}
			if k == 0 {
				qr.Rows = n
			} else if n != qr.Rows && err == nil && qr.Error == "" {
				qr.Error = fmt.Sprintf("run %d returned %d rows, the first %d", k+1, n, qr.Rows)
			}
		}
		walls := make([]string, len(qr.WallMs))
		for i, ms := range qr.WallMs {
			walls[i] = fmt.Sprintf("%.0f", ms)
		}
		l.printf("      %s: %s rows; as the client saw the runs: %s ms", q.Name, benchreport.Thousands(float64(qr.Rows)), strings.Join(walls, ", "))
		ids = append(ids, qids...)
		qr.ids = qids
		l.res.Queries = append(l.res.Queries, qr)
	}
	// The runs' figures, from the query log. The server logs a query's end
	// after its client has the answer, so the last query's end may come
	// after the flush: flush and read again until every run has ended,
	// within a deadline.
	var logRows []querybench.LogRow
	for deadline := time.Now().Add(15 * time.Second); ; {
		if err := l.conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
			l.res.Notes = append(l.res.Notes, "SYSTEM FLUSH LOGS: "+err.Error())
			break
		}
		var err error
		if logRows, err = l.readLog(ctx, ids); err != nil {
			l.res.Notes = append(l.res.Notes, "reading system.query_log: "+err.Error())
			break
		}
		if _, missing := querybench.Runs(logRows, ids); missing == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range l.res.Queries {
		qr := &l.res.Queries[i]
		if len(qr.ids) == 0 {
			continue // its parameters failed; counted already
		}
		runs, err := querybench.Runs(logRows, qr.ids)
		qr.Runs = runs
		qr.Stat = querybench.Summarise(runs)
		if err != nil && qr.Error == "" {
			qr.Error = err.Error()
		}
		for _, r := range runs {
			if r.Error != "" && qr.Error == "" {
				qr.Error = r.Error
			}
			if r.Memory > uint64(l.cfg.MaxMemory) && qr.Error == "" {
				qr.Error = fmt.Sprintf("peak memory %d bytes over max_memory_usage %d", r.Memory, l.cfg.MaxMemory)
			}
		}
		if qr.Error != "" {
			failed++
		}
		l.printf("      %-32s %6s rows  cold %6d ms  median %8.1f ms  max %6d ms  peak %7.1f MiB  read %s rows %s",
			qr.Name, benchreport.Thousands(float64(qr.Rows)), qr.Stat.ColdMs, qr.Stat.MedianMs, qr.Stat.MaxMs,
			float64(qr.Stat.PeakBytes)/(1<<20), benchreport.Thousands(float64(qr.Stat.ReadRows)), qr.Error)
	}
	return failed
}

// runOnce runs q once under id with the memory settings, reading every row,
// and returns how many rows it returned and the time the client saw.
func (l *lab) runOnce(ctx context.Context, q *analysis.Query, args []any, id string) (int, time.Duration, error) {
	qctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	defer cancel()
	qctx = clickhouse.Context(qctx, clickhouse.WithQueryID(id), clickhouse.WithSettings(clickhouse.Settings{
		"max_memory_usage":                   int(l.cfg.MaxMemory),
		"max_bytes_before_external_group_by": int(l.cfg.ExternalGroup),
		"log_queries":                        1,
	}))
	t0 := time.Now()
	rows, err := l.conn.Query(qctx, q.SQL, args...)
	if err != nil {
		return 0, time.Since(t0), err
	}
	n := 0
	for rows.Next() {
		n++
	}
	err = rows.Err()
	rows.Close()
	return n, time.Since(t0), err
}

func (l *lab) readLog(ctx context.Context, ids []string) ([]querybench.LogRow, error) {
	rows, err := l.conn.Query(ctx, querybench.LogQuery, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []querybench.LogRow
	for rows.Next() {
		var r querybench.LogRow
		if err := rows.Scan(&r.QueryID, &r.Type, &r.DurationMs, &r.Memory, &r.ReadRows, &r.ReadBytes, &r.ResultRows, &r.Exception); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// loadAverage is the first field of /proc/loadavg, "" where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func mib(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// write writes results.json and results.md into dir.
func write(dir string, r *Results) error {
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	markdown(&b, r)
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(b.String()), 0o644)
}

func markdown(w io.Writer, r *Results) {
	m := r.Machine
	fmt.Fprintf(w, "## make bench-reports, run of %s UTC\n\n", r.Started.Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "Machine: %d × %s (nproc %d), Linux %s, %s, %s, ClickHouse %s.\n", m.CPUs, m.CPUModel, m.CPUs, m.Kernel, m.OS, m.GoVersion, r.ClickHouse)
	settled := fmt.Sprintf("background merges settled after %.0f s (no OPTIMIZE: duplicates stay as a live table holds them)", r.SettleS)
	if !r.Settled {
		settled = fmt.Sprintf("background merges still running after %.0f s", r.SettleS)
	}
	fmt.Fprintf(w, "Setup: %s events of %s visitors (pkg/dataset, seed %d), inserted with dataset.Insert in %s-event batches at %s events/s (%s, of which generating %s), and %s rows of its generated ad spend (dataset.Spend); %s. "+
		"Each query %d times with max_memory_usage = %s MiB and max_bytes_before_external_group_by = %s MiB; the first run after SYSTEM DROP MARK CACHE and DROP UNCOMPRESSED CACHE (cold; the OS page cache stays warm), median and max of the others. "+
		"Figures from system.query_log (query_duration_ms, memory_usage, read_rows); load average %s before the queries, %s after (on %d cores). Parameters: pixel=%s from=%s to=%s tz=%s, the rest their defaults (below). Took %s.\n\n",
		benchreport.Thousands(float64(r.Events)), benchreport.Thousands(float64(r.Visitors)), r.Seed, benchreport.Thousands(float64(r.Batch)),
		benchreport.Thousands(float64(r.Events)/r.InsertS), benchreport.Duration(r.InsertS), benchreport.Duration(r.GenerateS), benchreport.Thousands(float64(r.SpendRows)), settled,
		runsOf(r), mib(uint64(r.MaxMemory)), mib(uint64(r.External)), r.LoadBefore, r.LoadAfter, m.CPUs,
		r.DataSet.Pixel, r.DataSet.From, r.DataSet.To, r.DataSet.TimeZone, r.Took)
	var rows [][]string
	for _, q := range r.Queries {
		result := "ok"
		if q.Error != "" {
			result = "**FAIL**: " + clip(q.Error, 160) // the whole text is in results.json
		}
		rows = append(rows, []string{q.Name, q.Source, benchreport.Thousands(float64(q.Rows)),
			benchreport.Thousands(float64(q.Stat.ColdMs)), fmt.Sprintf("%.0f", q.Stat.MedianMs), benchreport.Thousands(float64(q.Stat.MaxMs)),
			mib(q.Stat.PeakBytes), benchreport.Thousands(float64(q.Stat.ReadRows)), result})
	}
	_ = benchreport.Table(w, []string{"query", "source table", "rows returned", "cold ms", "median ms", "max ms", "peak memory MiB", "rows read", "result"}, rows)
	fmt.Fprintf(w, "\nTables after the insert (active parts, system.parts):\n\n")
	rows = nil
	for _, t := range r.Tables {
		kind := ""
		switch {
		case t.Name == "events":
			kind = "raw events"
		case t.Rollup:
			kind = "rollup"
		}
		rows = append(rows, []string{t.Name, t.Engine, kind, benchreport.Thousands(float64(t.Rows)), benchreport.Thousands(float64(t.Parts)), mib(t.Bytes), mib(t.Uncompressed)})
	}
	_ = benchreport.Table(w, []string{"table", "engine", "kind", "rows", "parts", "MiB on disk", "MiB uncompressed"}, rows)
	fmt.Fprintf(w, "\nParameters of each query:\n\n")
	for _, q := range r.Queries {
		fmt.Fprintf(w, "- %s: %s\n", q.Name, q.Params)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func runsOf(r *Results) int {
	for _, q := range r.Queries {
		if q.Stat.Runs > 0 {
			return q.Stat.Runs
		}
	}
	return 0
}
