package dataset

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// rollupDumps are queries that print each rollup whole, its states merged
// and finalised, arrays sorted: two databases with equal dumps hold the same
// rollups whatever their parts and merges.
var rollupDumps = map[string]string{
	"daily_stats": `SELECT pixel_id, toString(bucket), event, toString(is_bot), utm_source, utm_medium, utm_campaign, currency,
		toString(uniqExactMerge(events)), toString(uniqExactMerge(visitors)),
		arrayStringConcat(arraySort(arrayMap(x -> concat(x.1, ':', toString(x.2), ':', toString(x.3)), groupUniqArrayArrayMerge(revenue))), ' ')
		FROM daily_stats GROUP BY pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency
		ORDER BY pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency`,
	"sessions": `SELECT pixel_id, visitor_id, session_id, toString(minMerge(start_ts)), toString(maxMerge(end_ts)), toString(uniqExactArrayMerge(pages)),
		argMinMerge(landing_url), argMinMerge(landing_source), argMinMerge(landing_medium), argMinMerge(landing_campaign),
		argMinMerge(landing_ids) AS l, arrayStringConcat([l.1, l.2, l.3, l.4, l.5, l.6, l.7, l.8, l.9], '|'),
		arrayStringConcat(arraySort(arrayMap(x -> concat(x.1, ':', x.2, ':', toString(x.3), ':', toString(x.4), ':', toString(x.5), ':', x.6), groupUniqArrayArrayMerge(goals))), ' '),
		toString(maxMerge(converted)), toString(maxMerge(is_bot)), argMaxMerge(consent)
		FROM sessions GROUP BY pixel_id, visitor_id, session_id ORDER BY pixel_id, visitor_id, session_id`,
	"page_views": `SELECT pixel_id, visitor_id, session_id, page_view_id, toString(minMerge(start_ts)), argMinMerge(url), toString(maxMerge(engaged_ms)), toString(maxMerge(is_bot))
		FROM page_views GROUP BY pixel_id, visitor_id, session_id, page_view_id ORDER BY pixel_id, visitor_id, session_id, page_view_id`,
	"visitors": `SELECT pixel_id, visitor_id, toString(minMerge(first_seen)), toString(maxMerge(last_seen)), toString(uniqExactMerge(sessions)),
		arrayStringConcat(arraySort(groupUniqArrayArrayMerge(viewed)), ' '), arrayStringConcat(arraySort(groupUniqArrayArrayMerge(purchased)), ' '),
		arrayStringConcat(arraySort(arrayMap(x -> concat(x.1, ':', toString(x.2), ':', toString(x.3), ':', x.4), groupUniqArrayArrayMerge(purchases))), ' '),
		argMaxMerge(last_campaign) AS c, arrayStringConcat([c.1, c.2, c.3], '|'),
		argMaxMerge(email_sha256), argMaxMerge(email_google_sha256), argMaxMerge(phone_sha256), argMaxMerge(phone_google_sha256), argMaxMerge(external_id),
		argMaxMerge(consent) AS k, arrayStringConcat([k.1, k.2, k.3, k.4, k.5], '|'), toString(maxMerge(gpc)), toString(maxMerge(is_bot))
		FROM visitors GROUP BY pixel_id, visitor_id ORDER BY pixel_id, visitor_id`,
}

// sameRollups checks that the rollups of conn equal those of the fixture's
// database, where the views saw every event inserted once.
func sameRollups(t *testing.T, what string, conn chstore.Conn) {
	t.Helper()
	f := rollups(t)
	for table, sql := range rollupDumps {
		want, got := query(t, f.conn, sql), query(t, conn, sql)
		if len(want) < 500 {
			t.Fatalf("%s: %d rows; the test wants a few thousand", table, len(want))
		}
		if !reflect.DeepEqual(got, want) {
			for i := range min(len(got), len(want)) {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("%s: %s differs at row %d of %d/%d:\n got  %v\n want %v", what, table, i, len(got), len(want), got[i], want[i])
				}
			}
			t.Fatalf("%s: %s has %d rows, want %d", what, table, len(got), len(want))
		}
	}
}

// TestRollupsBackfill stores events before the rollups exist, each twice,
// then runs the rollup migrations as pixelctl migrate would: their
// backfill gives the rollups that the views give when the events are
// inserted after the migration.
func TestRollupsBackfill(t *testing.T) {
	f := rollups(t)
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx := devstacktest.Context(t)
	migrations, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var rollupMigrations []chstore.Migration
	for _, m := range migrations {
		if m.Version >= 8 && m.Version <= 11 {
			rollupMigrations = append(rollupMigrations, m)
		}
	}
	if len(rollupMigrations) != 4 {
		t.Fatalf("%d rollup migrations, want 0008 to 0011", len(rollupMigrations))
	}
	// Back to the database before the rollups: views first, so that no
	// insert reaches a dropped table.
	for _, table := range []string{"daily_stats", "sessions", "page_views", "visitors"} {
		for _, st := range []string{"DROP TABLE " + table + "_mv", "DROP TABLE " + table} {
			if err := conn.Exec(ctx, st); err != nil {
				t.Fatalf("%s: %v", st, err)
			}
		}
	}
	// A merge of events would collapse an event's copies before the
	// backfill reads them (keeping the server's, so the backfill would be
	// closer to the de-duplicated truth, but not equal to what the views
	// saw, which is what this test compares): merges are stopped.
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES events"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := Insert(ctx, conn, f.p, 10_000); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range rollupMigrations {
		for _, st := range m.Statements {
			if err := conn.Exec(ctx, st); err != nil {
				t.Fatalf("migration %04d_%s: %v", m.Version, m.Name, err)
			}
		}
	}
	sameRollups(t, "backfilled", conn)

	// A migration that died after its view and is run again, backfill
	// included, changes nothing either.
	for _, st := range rollupMigrations[1].Statements {
		if err := conn.Exec(ctx, st); err != nil {
			t.Fatalf("migration %04d_%s again: %v", rollupMigrations[1].Version, rollupMigrations[1].Name, err)
		}
	}
	sameRollups(t, "backfilled twice", conn)
}

// TestRollupsIdempotent inserts every event twice, then merges every part:
// the rollups equal those of one insert, before a merge and after.
func TestRollupsIdempotent(t *testing.T) {
	f := rollups(t)
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx := devstacktest.Context(t)
	for range 2 {
		if _, err := Insert(ctx, conn, f.p, 7_000); err != nil {
			t.Fatal(err)
		}
	}
	sameRollups(t, "inserted twice", conn)
	for _, table := range []string{"daily_stats", "sessions", "page_views", "visitors"} {
		if err := conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s FINAL", table)); err != nil {
			t.Fatal(err)
		}
	}
	sameRollups(t, "inserted twice and merged", conn)
}
