package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
	_ "unsafe" // go:linkname, for clickhouse-go's binding

	_ "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/chdbcheck"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/schemas"
)

// bind is clickhouse-go's client-side binding of ? placeholders (see
// pkg/chdbcheck's test): the text the driver sends for Exec and Query.
//
//go:linkname bind github.com/ClickHouse/clickhouse-go/v2.bind
func bind(tz *time.Location, query string, args ...any) (string, error)

// TestStatementsOnCurrentClickHouse runs every statement of Forget and
// Retain, bound as the driver binds them, in chDB (current ClickHouse)
// after the migrations and a few events: the TTL statements, which 18.16
// cannot run, and the mutations with their IN subqueries must be valid
// there too. pkg/chdbcheck checks the migrations and reports the same way.
func TestStatementsOnCurrentClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("chDB: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	python, err := chdbcheck.Python(ctx)
	if errors.Is(err, chdbcheck.ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skipf("%v\nThe check of current ClickHouse syntax is skipped; CI (CI=true) fails instead.", err)
	}
	if err != nil {
		t.Fatal(err)
	}
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
			continue
		}
		for i, s := range m.Statements {
			sts = append(sts, chdbcheck.Statement{Name: fmt.Sprintf("migration %04d, statement %d", m.Version, i+1), SQL: s})
		}
	}
	sts = append(sts, chdbcheck.Statement{Name: "events", SQL: `INSERT INTO events (event_id, pixel_id, visitor_id, session_id, event, ts, received_at, email_sha256, page_view_id) VALUES
		('a', 'px', 'v1', 's1', 'PageView', '2026-11-02 10:00:00', '2026-11-02 10:00:00', '` + strings.Repeat("a", 64) + `', 'pv1'),
		('b', 'px', 'v2', 's2', 'Purchase', '2025-01-02 10:00:00', '2025-01-02 10:00:00', '', 'pv2')`})
	// Mutations wait for their execution, so that a failing one fails here.
	sts = append(sts, chdbcheck.Statement{Name: "mutations_sync", SQL: "SET mutations_sync = 2"})
	meta, google := strings.Repeat("a", 64), strings.Repeat("b", 64)
	ids := []string{"v1"}
	groups := []string{"px|" + fmt.Sprint(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC).Unix())}
	cutoff := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		query bool
		args  []any
	}{
		{"mutations", true, []any{[]string{"events", "sessions"}}},
		{"partitions", true, []any{"daily_stats"}},
		{"visitors_of_email", true, []any{meta, google, meta, google}},
		{"events_count_email", true, []any{meta, google, ids}},
		{"events_count_email", true, []any{meta, google, []string{}}},
		{"events_count_visitor", true, []any{"v1"}},
		{"daily_stats_groups_email", true, []any{meta, google, []string{}}},
		{"daily_stats_groups_visitors", true, []any{ids}},
		{"daily_stats_groups_counting", true, []any{[]string{"v1", "v2"}, []string{"v1", "v2"}}},
		{"sessions_count_visitors", true, []any{ids}},
		{"page_views_count_visitors", true, []any{ids}},
		{"visitors_count_visitors", true, []any{ids}},
		{"sessions_count_expired", true, []any{cutoff}},
		{"page_views_count_expired", true, []any{cutoff}},
		{"visitors_count_expired", true, []any{cutoff}},
		{"events_delete_email", false, []any{meta, google, ids}},
		{"events_delete_visitor", false, []any{"v1"}},
		{"sessions_delete_visitors", false, []any{ids}},
		{"page_views_delete_visitors", false, []any{ids}},
		{"visitors_delete_visitors", false, []any{ids}},
		{"daily_stats_delete_groups", false, []any{groups}},
		{"daily_stats_rebuild_groups", false, []any{groups}},
		{"sessions_delete_expired", false, []any{cutoff}},
		{"page_views_delete_expired", false, []any{cutoff}},
		{"visitors_delete_expired", false, []any{cutoff}},
		{"sessions_count_expired", true, []any{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"events_modify_ttl", false, []any{3}},
		{"daily_stats_modify_ttl", false, []any{3}},
		{"daily_stats_drop_partition", false, []any{uint32(202501)}},
		{"events_drop_partition", false, []any{uint32(202501)}},
	} {
		text, err := fs.ReadFile(schemas.FS, "internal/"+c.name+".sql")
		if err != nil {
			t.Fatal(err)
		}
		sql, err := bind(time.UTC, schemas.Statement(string(text)), c.args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sts = append(sts, chdbcheck.Statement{Name: "schemas/internal/" + c.name + ".sql", SQL: sql, Query: c.query})
	}
	// v1 was forgotten, v2 is older than the retention: nothing is left.
	sts = append(sts, chdbcheck.Statement{Name: "what is left", Query: true, SQL: `SELECT (SELECT count() FROM events) + (SELECT count() FROM sessions)
		+ (SELECT count() FROM page_views) + (SELECT count() FROM visitors) + (SELECT count() FROM daily_stats)`})
	version, outcomes, err := chdbcheck.Run(ctx, python, "pixel", sts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outcomes {
		if o.Error != "" {
			t.Errorf("ClickHouse %s (chDB): %s:\n%s", version, o.Name, o.Error)
		}
	}
	if left := outcomes[len(outcomes)-1]; strings.Trim(string(left.First), `"`) != "0" {
		t.Errorf("ClickHouse %s (chDB): %s rows left after forget and retention, want 0", version, left.First)
	}
	t.Logf("ClickHouse %s (chDB): %d statements", version, len(outcomes))
}
