package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

func pixelctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, args, &out)
	return out.String(), err
}

func TestMigrateReportsSkippedMigrations(t *testing.T) {
	ch := devstacktest.ClickHouse(t)
	db := fmt.Sprintf("t_pixelctl_%06d", rand.IntN(1_000_000))
	args := []string{"migrate", "-clickhouse-addr", ch.Addr(), "-clickhouse-database", db}
	out, err := pixelctl(t, args...)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	ms, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := chstore.Open(context.Background(), chstore.Options{Addr: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server, err := chstore.ServerVersion(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	var applied, skipped []string
	var last uint32
	for _, m := range ms {
		if server.AtLeast(m.Requires) {
			applied = append(applied, fmt.Sprintf("applied %04d_%s\n", m.Version, m.Name))
			last = m.Version
		} else {
			skipped = append(skipped, fmt.Sprintf("skipped %04d_%s: it needs ClickHouse %d.%d or later, the server is %v; the first migrate after an upgrade applies it\n",
				m.Version, m.Name, m.Requires.Major, m.Requires.Minor, server))
		}
	}
	if server.AtLeast(chstore.InsertDeduplicationToken) == (len(skipped) > 0) {
		t.Fatalf("on ClickHouse %v: skipped %q", server, skipped)
	}
	tail := fmt.Sprintf("database %s is at version %d (ClickHouse %v)\n", db, last, server)
	if want := strings.Join(applied, "") + strings.Join(skipped, "") + tail; out != want {
		t.Fatalf("first migrate printed\n%s\nwant\n%s", out, want)
	}
	// The skipped ones are not recorded: every run reports them again.
	out, err = pixelctl(t, args...)
	if want := strings.Join(skipped, "") + tail; err != nil || out != want {
		t.Fatalf("second migrate: %v, printed\n%s\nwant\n%s", err, out, want)
	}
}

func TestQueryCommand(t *testing.T) {
	o := devstacktest.Database(t)
	conn, err := chstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rows chstore.Rows
	ts := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC).Unix()
	for i, v := range []float64{10, 2.5, 2.5} {
		id := fmt.Sprintf("e%d", min(i, 1)) // e1 twice: a replay
		rows.Append(&event.Event{EventID: []byte(id), PixelID: []byte("px\t1"), VisitorID: []byte("v"), Name: []byte("Purchase"), TS: ts, ReceivedAt: ts, Value: v})
	}
	if err := chstore.Insert(context.Background(), conn, &rows, ""); err != nil {
		t.Fatal(err)
	}
	conns := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}

	out, err := pixelctl(t, append(append([]string{"query"}, conns...), "conversions", "-from", "2026-01-10", "-to", "2026-01-10")...)
	if want := "pixel_id\tday\tconversions\trevenue\npx\\t1\t2026-01-10\t2\t12.5\n"; err != nil || out != want {
		t.Fatalf("query conversions: %v, printed %q, want %q", err, out, want)
	}
	// The connection flags may follow the name; -header=false drops the names.
	out, err = pixelctl(t, append([]string{"query", "-header=false", "conversions", "-from", "2026-01-10", "-to", "2026-01-11", "-event", "Lead"}, conns...)...)
	if err != nil || out != "" {
		t.Fatalf("query conversions -event Lead: %v, printed %q, want nothing", err, out)
	}

	out, err = pixelctl(t, "query", "-list")
	if err != nil {
		t.Fatal(err)
	}
	qs, _ := analysis.Queries()
	for _, q := range qs {
		if !strings.Contains(out, q.Name+"  ") || !strings.Contains(out, q.Title) {
			t.Errorf("query -list does not show %s:\n%s", q.Name, out)
		}
	}

	// Bad parameters are refused before any connection is made.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "-clickhouse-addr", "127.0.0.1:1", "nope"}, `no query called "nope"`},
		{[]string{"query", "-clickhouse-addr", "127.0.0.1:1", "conversions", "-from", "2026-01-10"}, "needs -to"},
		{[]string{"query", "-clickhouse-addr", "127.0.0.1:1", "funnel", "-from", "2026-01-10", "-to", "x"}, "not a date"},
		{[]string{"query", "-clickhouse-addr", "127.0.0.1:1", "funnel", "-pixel", "p"}, "not defined: -pixel"},
		{[]string{"query", "-clickhouse-addr", "127.0.0.1:1", "funnel", "extra"}, "unexpected \"extra\""},
		{[]string{"query"}, "name a query"},
	} {
		if _, err := pixelctl(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("pixelctl %q = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// No query parameter may take the name of a pixelctl query flag.
func TestQueryParamsDoNotShadowFlags(t *testing.T) {
	qs, err := analysis.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		for _, p := range q.Params {
			switch p.Name {
			case "clickhouse-addr", "clickhouse-database", "clickhouse-user", "clickhouse-password", "header", "list", "help", "h":
				t.Errorf("query %s: parameter -%s is also a flag of pixelctl query", q.Name, p.Name)
			}
		}
	}
}
