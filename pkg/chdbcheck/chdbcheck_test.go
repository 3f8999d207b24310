package chdbcheck_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
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

// step is one statement that chDB and the private 18.16 server both run,
// with the same text (values bound as clickhouse-go binds them), in the same
// order; a query's answers are compared.
type step struct {
	name string // what a failure names: the file and its values
	sql  string
}

// TestCurrentClickHouse gives chDB (current ClickHouse) and the private
// ClickHouse 18.16 the same schema (every migration each runs), the same
// generated data set (through the consumer's insert) and the same internal
// inserts, and requires every shipped query and every internal select to
// answer the same rows on both. Then it exercises, in chDB alone, what only
// newer servers do: insert_deduplication_token, TTLs, the mutations.
func TestCurrentClickHouse(t *testing.T) {
	ctx := devstacktest.Context(t)
	start := time.Now()
	python, err := chdbcheck.Python(ctx)
	if errors.Is(err, chdbcheck.ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skipf("%v\nThe check of current ClickHouse is skipped; CI (CI=true) fails instead.", err)
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
	applied := map[string]bool{}
	for _, m := range migrations {
		if !engine.AtLeast(m.Requires) { // every migration must be checked somewhere
			t.Errorf("migration %04d_%s requires ClickHouse %s, newer than chDB's %s: raise chdbcheck.Version", m.Version, m.Name, m.Requires, engine)
			continue
		}
		applied[m.Name] = true
		for i, s := range m.Statements {
			sts = append(sts, chdbcheck.Statement{Name: fmt.Sprintf("schemas/clickhouse/%04d_%s.sql, statement %d", m.Version, m.Name, i+1), SQL: s})
		}
	}
	if !applied["insert_deduplication"] {
		t.Fatal("migration 0003_insert_deduplication is missing: the token check below relies on its window")
	}
	nMigration := len(sts)

	// 18.16: a fresh migrated database (0003 skipped there: it requires
	// 22.2), the data set through chstore.Insert as the consumer sends it.
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	old := oldServer{port: devstacktest.ClickHouse(t).HTTPPort, database: o.Database}
	rows := population(t)
	if err := chstore.Insert(ctx, conn, rows, ""); err != nil {
		t.Fatal(err)
	}
	sts = append(sts, chdbcheck.Statement{Name: "the consumer's insert (schemas/internal/insert_events.sql)", SQL: insertValues(t, rows)})

	inserts, selects := internalSteps(t, rows)
	for _, s := range inserts {
		if _, err := old.run(ctx, s.sql, false); err != nil {
			t.Fatalf("ClickHouse 18.16: %s: %v", s.name, err)
		}
		sts = append(sts, chdbcheck.Statement{Name: s.name, SQL: s.sql})
	}
	checks := shippedQueries(t)
	var compared []step
	for _, c := range checks {
		args, err := c.query.Args(c.values)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		sql, err := bind(time.UTC, c.query.SQL, args...)
		if err != nil {
			t.Fatalf("%s: binding %v: %v", c.file, args, err)
		}
		compared = append(compared, step{name: fmt.Sprintf("%s %v", c.file, c.values), sql: sql})
	}
	compared = append(compared, selects...)

	// Current servers merge an inserted block in itself before writing it
	// (optimize_on_insert, 20.12 and later; 18.16 never does): the rows of
	// one sorting key in the events block (a replay's copies, a browser and
	// server copy of one event on one day) are already one in chDB and
	// still two on 18.16 until a merge. So every answer is compared twice:
	// as inserted, where the queries must not depend on it (they
	// de-duplicate, FINAL reads the newest version, the rollups' states are
	// idempotent), and after both servers merged every table fully
	// (OPTIMIZE ... FINAL: on both the last row of a ReplacingMergeTree key,
	// every AggregatingMergeTree state merged), where they hold the same
	// rows. Only the statements that count stored rows (storedRows) are left
	// out of the first: they count a copy until it is merged, by design.
	type phase struct {
		name  string
		steps []step
		first int // of its outcomes in chDB's
		want  []*answer
	}
	var unmerged []step
	for _, s := range compared {
		if !storedRows[s.name[:strings.IndexByte(s.name+" ", ' ')]] {
			unmerged = append(unmerged, s)
		}
	}
	phases := []*phase{{name: "as inserted", steps: unmerged}, {name: "merged", steps: compared}}
	oldStart := time.Now()
	for i, ph := range phases {
		if i == 1 {
			for _, table := range []string{"events", "pixels", "erasures", "ad_spend", "daily_stats", "sessions", "page_views", "visitors", "users", "api_tokens", "destinations"} {
				sql := "OPTIMIZE TABLE " + table + " FINAL"
				if _, err := old.run(ctx, sql, false); err != nil {
					t.Fatalf("ClickHouse 18.16: %s: %v", sql, err)
				}
				sts = append(sts, chdbcheck.Statement{Name: sql, SQL: sql})
			}
		}
		ph.first = len(sts)
		for _, s := range ph.steps {
			want, err := old.run(ctx, s.sql, true)
			if err != nil {
				t.Errorf("ClickHouse 18.16: %s: %v", s.name, err)
			}
			ph.want = append(ph.want, want)
			sts = append(sts, chdbcheck.Statement{Name: s.name, SQL: s.sql, Query: true})
		}
	}
	oldTime := time.Since(oldStart)
	features := featureSteps(t, rows)
	firstFeature := len(sts)
	for _, f := range features {
		sts = append(sts, f.statement)
	}

	run := time.Now()
	version, outcomes, err := chdbcheck.Run(ctx, python, "pixel", sts)
	if err != nil {
		t.Fatal(err)
	}
	chdbTime := time.Since(run)
	for _, o := range outcomes[:phases[0].first] {
		if o.Error != "" {
			t.Errorf("ClickHouse %s (chDB): %s:\n%s", version, o.Name, o.Error)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	answers, rowsCompared, empty := 0, 0, 0
	for _, ph := range phases {
		for i, s := range ph.steps {
			o := outcomes[ph.first+i]
			if o.Error != "" {
				t.Errorf("ClickHouse %s (chDB): %s:\n%s", version, s.name, o.Error)
				continue
			}
			want := ph.want[i]
			if want == nil {
				continue // its error is reported
			}
			got, err := chdbAnswer(o)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if diff := compare(want, got, orderedBy(s.sql)); diff != "" {
				t.Errorf("%s answers differently on ClickHouse 18.16 and %s (chDB), tables %s:\n%s", s.name, version, ph.name, diff)
			}
			answers++
			rowsCompared += len(want.rows)
			if len(want.rows) == 0 {
				empty++
			}
		}
	}
	for i, f := range features {
		o := outcomes[firstFeature+i]
		if o.Error != "" {
			t.Errorf("ClickHouse %s (chDB): %s:\n%s", version, o.Name, o.Error)
			continue
		}
		if f.want == nonZero && string(o.First) != "0" && string(o.First) != "null" {
			continue
		}
		if f.want != "" && string(o.First) != f.want {
			t.Errorf("ClickHouse %s (chDB): %s: %s, want %s", version, o.Name, o.First, f.want)
		}
	}
	t.Logf("ClickHouse %s (chDB %s) and 18.16: %d migration statements, %d events, %d internal inserts; %d shipped queries and %d internal selects, %d answers (%d rows, %d answers empty) compared as inserted and merged; %d feature statements; chDB ran in %v, 18.16 in %v; chDB ready in %v",
		version, chdbcheck.Version, nMigration, rows.Len(), len(inserts), len(checks), len(selects), answers, rowsCompared, empty, len(features),
		chdbTime.Round(time.Millisecond), oldTime.Round(time.Millisecond), setup.Round(time.Millisecond))
	if rowsCompared == 0 {
		t.Error("every query answered nothing: the inserted data set should fill some")
	}
}

// storedRows names the statements that count the rows stored, copies not
// yet merged included (pixelctl forget's "rows before" of its audit): their
// answers are compared once both servers merged.
var storedRows = map[string]bool{
	"schemas/internal/events_count_visitor.sql": true,
	"schemas/internal/events_count_email.sql":   true,
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
