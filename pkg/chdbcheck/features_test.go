package chdbcheck_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chdbcheck"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/privacy"
	"github.com/pixel-pipeline/pixel/schemas"
)

// feature is a statement chDB runs after the comparison, and the first value
// it must answer as JSON (or nonZero), when it is a query.
type feature struct {
	statement chdbcheck.Statement
	want      string
}

// nonZero is the want of a count that must not be 0.
const nonZero = "not 0"

// probe is one PageView of pixel px-probe, a row of the consumer's insert
// (its column list) with values only for the columns the checks need.
func probe(t *testing.T, id, visitor string, received time.Time) []any {
	return probeOf(t, "px-probe", id, visitor, received)
}

func probeOf(t *testing.T, pixel, id, visitor string, received time.Time) []any {
	t.Helper()
	r := []any{id, pixel, visitor, "s-" + visitor, "PageView", received, received, "https://probe.example/", "", 0.0,
		"", "", []string{}, "", "", "", uint64(received.UnixMilli()), uint32(0), uint64(0), uint8(0), uint8(0), uint8(0)}
	for range event.NumTracking {
		r = append(r, "")
	}
	return r
}

// featureSteps exercise in chDB what the project does only on newer servers,
// each followed by the query that shows it worked:
//   - insert_deduplication_token (chstore.Insert sends it from 22.2 on) with
//     the window of migration 0003: a block inserted again with the same
//     token is not stored again, and neither is another block under that
//     token (the token alone names a batch); one under a new token is;
//     without a token, a byte-identical block is dropped as well.
//   - pixelctl retain on a server with TTLs (privacy.TTLVersion): the TTL
//     ALTERs of events and daily_stats apply (the server removes a row older
//     than the retention, and keeps a newer one), the rollups' expiry
//     deletes (mutations, waited for with mutations_sync where
//     privacy.Retain polls system.mutations), the partition drops of
//     older servers.
//   - pixelctl forget's deletes of an email and of a visitor, and the
//     daily_stats rebuild of their buckets (a neighbour's visit stays).
//
// The probe rows belong to a pixel of their own, px-probe, and run after
// every compared answer.
func featureSteps(t *testing.T, rows *chstore.Rows) []feature {
	t.Helper()
	engine, err := chstore.ParseVersion(chdbcheck.Version)
	if err != nil {
		t.Fatal(err)
	}
	if !engine.AtLeast(chstore.InsertDeduplicationToken) || !engine.AtLeast(privacy.TTLVersion) {
		t.Fatalf("chDB's ClickHouse %s predates insert_deduplication_token (%s) or TTLs (%s): the checks below would not be what production runs", engine, chstore.InsertDeduplicationToken, privacy.TTLVersion)
	}
	var fs []feature
	exec := func(name, sql string) {
		fs = append(fs, feature{statement: chdbcheck.Statement{Name: name, SQL: sql}})
	}
	expect := func(name, sql, want string) {
		fs = append(fs, feature{statement: chdbcheck.Statement{Name: name, SQL: sql, Query: true}, want: want})
	}
	internal := func(name string, args ...any) string {
		sql, err := bind(time.UTC, schemas.Internal(name), args...)
		if err != nil {
			t.Fatalf("schemas/internal/%s.sql: %v", name, err)
		}
		return sql
	}
	values := func(rs ...[]any) string {
		var vals []string
		for _, r := range rs {
			v, err := bind(time.UTC, "("+strings.TrimSuffix(strings.Repeat("?, ", len(r)), ", ")+")", r...)
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, v)
		}
		return strings.Join(vals, ", ")
	}
	// The consumer's insert with a token, as chstore.Insert's settings give
	// it (a SETTINGS clause here, a query setting over the native protocol).
	tokenInsert := func(token string, rs ...[]any) string {
		stmt := schemas.Internal("insert_events")
		return stmt + " SETTINGS insert_deduplication_token = '" + token + "' VALUES " + values(rs...)
	}
	count := func(where string) string {
		return "SELECT count() FROM events WHERE pixel_id = 'px-probe' AND " + where
	}

	now := time.Now().UTC().Truncate(time.Second)
	day := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	a := [][]any{probe(t, "dedup-1", "v-dedup", day), probe(t, "dedup-2", "v-dedup", day)}
	b := [][]any{probe(t, "dedup-3", "v-dedup", day), probe(t, "dedup-4", "v-dedup", day)}
	c := [][]any{probe(t, "dedup-5", "v-dedup", day)}
	exec("insert_deduplication_token: batch A, token t-1", tokenInsert("t-1", a...))
	exec("insert_deduplication_token: batch A again, token t-1 (a retry)", tokenInsert("t-1", a...))
	exec("insert_deduplication_token: batch C, token t-1", tokenInsert("t-1", c...))
	exec("insert_deduplication_token: batch B, token t-2", tokenInsert("t-2", b...))
	expect("insert_deduplication_token: batches A and B stored once each, C not at all", count("visitor_id = 'v-dedup'"), "4")
	// Without a token (older consumers, pixelctl backfills) the window
	// still drops a byte-identical block.
	d := [][]any{probe(t, "dedup-6", "v-dedup-plain", day)}
	exec("no token: batch D", schemas.Internal("insert_events")+" VALUES "+values(d...))
	exec("no token: batch D again", schemas.Internal("insert_events")+" VALUES "+values(d...))
	expect("no token: batch D stored once", count("visitor_id = 'v-dedup-plain'"), "1")

	// Mutations wait, as privacy.Retain and Forget wait for theirs.
	exec("SET mutations_sync", "SET mutations_sync = 2")
	old := time.Date(2020, 1, 15, 12, 0, 0, 0, time.UTC)
	cutoff := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	exec("the retention probes: one event of 2020, one of now", schemas.Internal("insert_events")+" VALUES "+values(probe(t, "ttl-old", "v-old", old), probe(t, "ttl-new", "v-new", now)))
	for _, table := range []string{"sessions", "page_views", "visitors"} {
		expect(table+": the 2020 probe is expired", internal(table+"_count_expired", cutoff), "1")
		exec(table+"_delete_expired", internal(table+"_delete_expired", cutoff))
		expect(table+": nothing expired is left", internal(table+"_count_expired", cutoff), "0")
	}
	ds := "SELECT count() FROM daily_stats WHERE pixel_id = 'px-probe' AND bucket < toDateTime('2021-01-01 00:00:00')"
	expect("daily_stats: the 2020 probe's group", ds, "1")
	exec("daily_stats_drop_partition 202001", internal("daily_stats_drop_partition", uint32(202001)))
	expect("daily_stats: the 2020 partition is gone", ds, "0")
	exec("events_modify_ttl 12 months", internal("events_modify_ttl", uint32(12)))
	exec("daily_stats_modify_ttl 12 months", internal("daily_stats_modify_ttl", uint32(12)))
	exec("a probe of 2025 in a partition of its own", schemas.Internal("insert_events")+" VALUES "+values(probe(t, "drop-1", "v-drop", time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC))))
	exec("events_drop_partition 202506", internal("events_drop_partition", uint32(202506)))
	expect("events: the dropped partition's probe is gone", count("event_id = 'drop-1'"), "0")
	exec("OPTIMIZE TABLE events FINAL (applies TTLs as a merge would)", "OPTIMIZE TABLE events FINAL")
	expect("events TTL: the 2020 probe is removed", count("event_id = 'ttl-old'"), "0")
	expect("events TTL: the probe of now is kept", count("event_id = 'ttl-new'"), "1")
	expect("the TTL is on the table", "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('events', 'daily_stats') AND engine_full LIKE '%TTL%'", "2")

	// pixelctl forget of one person of the data set.
	visitor, email, emailGoogle := subject(t, rows)
	vs := []string{visitor}
	var groups []string
	var pixel string
	var bucket int64
	for i := 0; i < rows.Len(); i++ {
		if rows.VisitorID[i] == visitor && rows.Event[i] != "PageEngagement" {
			groups = append(groups, fmt.Sprintf("%s|%d", rows.PixelID[i], rows.TS[i]/900*900))
			pixel, bucket = rows.PixelID[i], rows.TS[i]/900*900
		}
	}
	// A neighbour: another visitor's event in one of the forgotten
	// visitor's buckets, which the rebuilt bucket must still count.
	inBucket := map[string]bool{"v-neighbour": true}
	for i := 0; i < rows.Len(); i++ {
		if rows.PixelID[i] == pixel && rows.TS[i]/900*900 == bucket && rows.Event[i] != "PageEngagement" {
			inBucket[rows.VisitorID[i]] = true
		}
	}
	exec("a neighbour in the forgotten visitor's bucket", schemas.Internal("insert_events")+" VALUES "+values(probeOf(t, pixel, "neighbour-1", "v-neighbour", time.Unix(bucket, 0).UTC())))
	visitorsOfBucket := fmt.Sprintf("SELECT uniqExactMerge(visitors) FROM daily_stats WHERE pixel_id = %s AND bucket = toDateTime(%d)", quote(pixel), bucket)
	expect("daily_stats: the visitors of the bucket, before", visitorsOfBucket, fmt.Sprint(len(inBucket)))
	// pixelctl forget -email, then -visitor of the same person (the
	// events without the email are left for the second).
	expect("events with the forgotten email, before", internal("events_count_email", email, emailGoogle, []string{}), nonZero)
	exec("events_delete_email", internal("events_delete_email", email, emailGoogle, []string{}))
	expect("events: the forgotten email is gone", internal("events_count_email", email, emailGoogle, []string{}), "0")
	expect("events of the forgotten visitor, before", "SELECT count() > 0 FROM events WHERE visitor_id = "+quote(visitor), "1")
	expect("daily_stats: groups that count the forgotten visitor, before", "SELECT count() > 0 FROM ("+internal("daily_stats_groups_counting", vs, vs)+")", "1")
	exec("events_delete_visitor", internal("events_delete_visitor", visitor))
	for _, table := range []string{"sessions", "page_views", "visitors"} {
		exec(table+"_delete_visitors", internal(table+"_delete_visitors", vs))
		expect(table+": the forgotten visitor is gone", internal(table+"_count_visitors", vs), "0")
	}
	// Then the rebuild of the person's daily_stats buckets, as
	// privacy.Forget runs it once events no longer hold them.
	exec("daily_stats_delete_groups", internal("daily_stats_delete_groups", groups))
	exec("daily_stats_rebuild_groups", internal("daily_stats_rebuild_groups", groups))
	expect("events: the forgotten visitor is gone", internal("events_count_visitor", visitor), "0")
	expect("daily_stats: the groups are rebuilt without the visitor (no state counts the visitor)", internal("daily_stats_groups_counting", vs, vs), "null")
	expect("daily_stats: the rebuilt bucket counts the others", visitorsOfBucket, fmt.Sprint(len(inBucket)-1))
	return fs
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
