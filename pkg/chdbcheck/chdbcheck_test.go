package chdbcheck_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "unsafe" // go:linkname, for clickhouse-go's binding

	_ "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chdbcheck"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/schemas"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

// bind is clickhouse-go's client-side binding of ? placeholders, the very
// text a query sends to the server once analysis.Query.Run binds its
// arguments: strings quoted and escaped, numbers, arrays and floats as its
// literals. chDB has no native protocol to bind over, so the check binds the
// same way before it hands the text to chDB. (A renamed function fails this
// test's build, which is the moment to look again.)
//
//go:linkname bind github.com/ClickHouse/clickhouse-go/v2.bind
func bind(tz *time.Location, query string, args ...any) (string, error)

// plausible holds values for parameters that have no default, by name, then
// by type: those of the data set's inserted range. A new required
// parameter of another name or type needs a line here.
var plausible = map[string]string{
	"pixel": "px-shop-eu", "tz": "Europe/Paris", "from": "2026-11-02", "to": "2026-11-15",
	"pattern": "%/product/%",
}

var plausibleByType = map[string]string{"String": "Purchase", "Date": "2026-11-15", "UInt32": "7", "Float64": "1.5"}

// check is one shipped query with the values it runs with.
type check struct {
	file   string // schemas/queries/...
	query  analysis.Query
	values map[string]string
}

// shippedQueries lists every .sql file under schemas/queries, as embedded,
// and fails when a file on disk is not embedded (a new directory missing
// from schemas.FS's pattern would otherwise go unchecked, and unshipped).
func shippedQueries(t *testing.T) []check {
	t.Helper()
	dirs := map[string]bool{}
	embedded := map[string]bool{}
	if err := fs.WalkDir(schemas.FS, "queries", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sql") {
			dirs[path.Dir(p)] = true
			embedded[p] = true
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..", "schemas")
	if err := filepath.WalkDir(filepath.Join(root, "queries"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sql") {
			rel, _ := filepath.Rel(root, p)
			if !embedded[filepath.ToSlash(rel)] {
				t.Errorf("schemas/%s is not in schemas.FS: add its directory to the go:embed pattern of schemas/schemas.go", filepath.ToSlash(rel))
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	var out []check
	for _, dir := range names {
		qs, err := analysis.QueriesIn(dir)
		if err != nil {
			t.Fatalf("schemas/%s: %v", dir, err)
		}
		for _, q := range qs {
			values := map[string]string{}
			for _, p := range q.Params {
				if p.HasDefault {
					continue
				}
				v, ok := plausible[p.Name]
				if !ok {
					v, ok = plausibleByType[p.Type]
				}
				if !ok {
					t.Fatalf("schemas/%s/%s.sql: parameter -%s (%s) has no default and no plausible value; add one to plausible in %s", dir, q.Name, p.Name, p.Type, "pkg/chdbcheck/chdbcheck_test.go")
				}
				values[p.Name] = v
			}
			out = append(out, check{file: "schemas/" + dir + "/" + q.Name + ".sql", query: q, values: values})
		}
	}
	if len(out) < 5 {
		t.Fatalf("found %d queries under schemas/queries; the audiences alone are 5", len(out))
	}
	return out
}

// population is the few events both servers get: a small generated data
// set (browser and server copies, replays, bots, no consent, GPC).
func population(t *testing.T) *chstore.Rows {
	t.Helper()
	var rows chstore.Rows
	for _, e := range dataset.Generate(dataset.DefaultConfig(1, 30)).All() {
		rows.Append(&e)
	}
	return &rows
}

// insertValues is the consumer's insert (schemas/internal/insert_events.sql,
// which chstore.Insert sends with a columnar block) with rows as VALUES,
// in the same column order as chstore.Insert appends them.
func insertValues(t *testing.T, rows *chstore.Rows) string {
	t.Helper()
	text, err := fs.ReadFile(schemas.FS, "internal/insert_events.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmt := schemas.Statement(string(text))
	var b strings.Builder
	b.WriteString(stmt)
	b.WriteString(" VALUES ")
	for i := 0; i < rows.Len(); i++ {
		args := []any{
			rows.EventID[i], rows.PixelID[i], rows.VisitorID[i], rows.SessionID[i], rows.Event[i],
			rows.TS[i], rows.ReceivedAt[i], rows.URL[i], rows.Referrer[i], rows.Value[i],
			rows.Currency[i], rows.OrderID[i], rows.ContentIDs[i], rows.IP[i], rows.UserAgent[i], rows.Props[i],
			rows.TSMs[i], rows.EngagedMs[i], rows.ClickTSMs[i], rows.GPC[i], rows.DNT[i], rows.IsBot[i],
		}
		for c := range rows.Tracking {
			args = append(args, rows.Tracking[c][i])
		}
		if i == 0 {
			cols := strings.Count(stmt[strings.Index(stmt, "("):], ",") + 1
			if cols != len(args) {
				t.Fatalf("insert_events.sql names %d columns, the test %d values: follow chstore.Insert's columns", cols, len(args))
			}
		}
		row, err := bind(time.UTC, "("+strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")+")", args...)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// TestCurrentClickHouse applies every migration in chDB (current
// ClickHouse), inserts a small data set through the consumer's insert, and
// runs every shipped query with its defaults and plausible values bound as
// clickhouse-go binds them: any syntax or type error fails.
func TestCurrentClickHouse(t *testing.T) {
	ctx := devstacktest.Context(t)
	start := time.Now()
	python, err := chdbcheck.Python(ctx)
	if errors.Is(err, chdbcheck.ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skipf("%v\nThe check of current ClickHouse syntax is skipped; CI (CI=true) fails instead.", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	setup := time.Since(start)

	migrations, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := chstore.ParseVersion(chdbcheck.Version)
	if err != nil {
		t.Fatal(err)
	}
	var sts []chdbcheck.Statement
	for _, m := range migrations {
		if !engine.AtLeast(m.Requires) {
			t.Logf("migration %04d_%s requires ClickHouse %s, newer than chDB's %s: not applied", m.Version, m.Name, m.Requires, engine)
			continue
		}
		for i, s := range m.Statements {
			sts = append(sts, chdbcheck.Statement{Name: fmt.Sprintf("schemas/clickhouse/%04d_%s.sql, statement %d", m.Version, m.Name, i+1), SQL: s})
		}
	}
	rows := population(t)
	sts = append(sts, chdbcheck.Statement{Name: "the consumer's insert (schemas/internal/insert_events.sql)", SQL: insertValues(t, rows)})
	sts = append(sts, chdbcheck.Statement{Name: "the events inserted", SQL: "SELECT count() FROM events", Query: true})
	checks := shippedQueries(t)
	for _, c := range checks {
		args, err := c.query.Args(c.values)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		sql, err := bind(time.UTC, c.query.SQL, args...)
		if err != nil {
			t.Fatalf("%s: binding %v: %v", c.file, args, err)
		}
		sts = append(sts, chdbcheck.Statement{Name: fmt.Sprintf("%s %v", c.file, c.values), SQL: sql, Query: true})
	}
	run := time.Now()
	version, outcomes, err := chdbcheck.Run(ctx, python, "pixel", sts)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outcomes {
		if o.Error != "" {
			t.Errorf("ClickHouse %s (chDB): %s:\n%s", version, o.Name, o.Error)
			continue
		}
		// Current servers merge an inserted block in itself
		// (optimize_on_insert): the rows of one sorting key, a replay's
		// copies and a same-day server copy, become the last of them.
		if i == len(outcomes)-len(checks)-1 {
			n, err := strconv.Atoi(strings.Trim(string(o.First), `"`))
			if err != nil || n < distinct(rows) || n > rows.Len() {
				t.Errorf("events holds %s rows after inserting %d (%d distinct events)", o.First, rows.Len(), distinct(rows))
			}
		}
	}
	rowsOut := 0
	for _, o := range outcomes[len(outcomes)-len(checks):] {
		rowsOut += o.Rows
	}
	t.Logf("ClickHouse %s (chDB %s): %d migration statements, %d events, %d queries (%d rows) in %v; chDB ready in %v",
		version, chdbcheck.Version, len(sts)-len(checks)-2, rows.Len(), len(checks), rowsOut, time.Since(run).Round(time.Millisecond), setup.Round(time.Millisecond))
	if rowsOut == 0 {
		t.Error("every query answered nothing: the inserted data set should fill some")
	}
}

// TestClickHouse1816 runs every shipped query in the private ClickHouse
// 18.16 as pkg/analysis runs it, with the same values and data.
func TestClickHouse1816(t *testing.T) {
	conn := devstacktest.Open(t, devstacktest.Database(t))
	ctx := devstacktest.Context(t)
	rows := population(t)
	if err := chstore.Insert(ctx, conn, rows, ""); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range shippedQueries(t) {
		res, err := c.query.Run(ctx, conn, c.values)
		if err != nil {
			t.Errorf("ClickHouse 18.16: %s %v: %v", c.file, c.values, err)
			continue
		}
		total += len(res.Rows)
	}
	if total == 0 {
		t.Error("every query answered nothing: the inserted data set should fill some")
	}
}

// distinct is the number of distinct (event_id, event) of rows.
func distinct(rows *chstore.Rows) int {
	seen := map[[2]string]bool{}
	for i := 0; i < rows.Len(); i++ {
		seen[[2]string{rows.EventID[i], rows.Event[i]}] = true
	}
	return len(seen)
}
