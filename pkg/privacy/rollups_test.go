package privacy_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/privacy"
)

// Forget and Retain on a generated data set (pkg/dataset), against every
// rollup's full content before and after.

// snapshots are every rollup's merged rows, one per key, each value as
// text: the key's columns joined by '|' → its finalized states. Arrays of
// distinct values are sorted, so that the text does not depend on the
// order of merges.
var snapshots = []struct {
	table string
	keys  int // leading columns that are the key; visitor_id is the 2nd
	sql   string
}{
	{"sessions", 3, `SELECT pixel_id, visitor_id, session_id, toString(minMerge(start_ts), 'UTC'), toString(maxMerge(end_ts), 'UTC'),
		uniqExactArrayMerge(pages), argMinMerge(landing_url), argMinMerge(landing_source), argMinMerge(landing_medium),
		argMinMerge(landing_campaign), argMinMerge(landing_ids), arraySort(groupUniqArrayArrayMerge(goals)),
		maxMerge(converted), maxMerge(is_bot), argMaxMerge(consent)
		FROM sessions GROUP BY pixel_id, visitor_id, session_id`},
	{"page_views", 4, `SELECT pixel_id, visitor_id, session_id, page_view_id, toString(minMerge(start_ts), 'UTC'), argMinMerge(url),
		maxMerge(engaged_ms), maxMerge(is_bot)
		FROM page_views GROUP BY pixel_id, visitor_id, session_id, page_view_id`},
	{"visitors", 2, `SELECT pixel_id, visitor_id, toString(minMerge(first_seen), 'UTC'), toString(maxMerge(last_seen), 'UTC'), uniqExactMerge(sessions),
		arraySort(groupUniqArrayArrayMerge(viewed)), arraySort(groupUniqArrayArrayMerge(purchased)),
		arraySort(groupUniqArrayArrayMerge(purchases)), argMaxMerge(last_campaign), argMaxMerge(email_sha256),
		argMaxMerge(email_google_sha256), argMaxMerge(phone_sha256), argMaxMerge(phone_google_sha256),
		argMaxMerge(external_id), argMaxMerge(consent), maxMerge(gpc), maxMerge(is_bot)
		FROM visitors GROUP BY pixel_id, visitor_id`},
	// daily_stats has no visitor ids: its key is (pixel, bucket, event, ...).
	{"daily_stats", 8, `SELECT pixel_id, toString(bucket, 'UTC'), event, is_bot, utm_source, utm_medium, utm_campaign, currency,
		uniqExactMerge(events), uniqExactMerge(visitors), arraySort(groupUniqArrayArrayMerge(revenue))
		FROM daily_stats GROUP BY pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency`},
}

type snapshot map[string]map[string]string // table → key → row

func take(t *testing.T, conn chstore.Conn) snapshot {
	t.Helper()
	s := snapshot{}
	for _, q := range snapshots {
		res, err := (&analysis.Query{Name: q.table, SQL: q.sql}).Run(devstacktest.Context(t), conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, r := range res.Rows {
			m[strings.Join(r[:q.keys], "|")] = strings.Join(r[q.keys:], "\t")
		}
		s[q.table] = m
	}
	return s
}

// without is s less the rows whose visitor_id (the key's 2nd column) is one
// of ids; daily_stats, which has no visitor_id, is copied whole.
func (s snapshot) without(ids ...string) snapshot {
	out := snapshot{}
	for table, m := range s {
		out[table] = map[string]string{}
		for k, v := range m {
			if table != "daily_stats" && contains(ids, strings.Split(k, "|")[1]) {
				continue
			}
			out[table][k] = v
		}
	}
	return out
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// of counts s's rows of the visitor ids, per rollup that holds visitor ids.
func (s snapshot) of(ids ...string) map[string]uint64 {
	n := map[string]uint64{}
	for _, table := range []string{"sessions", "page_views", "visitors"} {
		for k := range s[table] {
			if contains(ids, strings.Split(k, "|")[1]) {
				n[table]++
			}
		}
	}
	return n
}

func same(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	for table, w := range want {
		g := got[table]
		if len(w) == 0 {
			t.Errorf("%s: %s is empty: nothing compared", what, table)
		}
		if reflect.DeepEqual(g, w) {
			continue
		}
		var diff []string
		for k, v := range w {
			if g[k] != v {
				diff = append(diff, fmt.Sprintf("%s: got %q, want %q", k, g[k], v))
			}
		}
		for k, v := range g {
			if _, ok := w[k]; !ok {
				diff = append(diff, fmt.Sprintf("%s: got %q, want no row", k, v))
			}
		}
		if len(diff) > 5 {
			diff = append(diff[:5], fmt.Sprintf("... %d differences", len(diff)))
		}
		t.Errorf("%s: %s differs (%d rows, want %d):\n%s", what, table, len(g), len(w), strings.Join(diff, "\n"))
	}
}

// freshDailyStats is daily_stats as its view would compute it from the events
// stored now, in the snapshot's form.
const freshDailyStats = `SELECT pixel_id, toString(toStartOfFifteenMinutes(ts), 'UTC') AS b, event, is_bot, utm_source, utm_medium, utm_campaign, currency,
	uniqExact(event_id), uniqExact(visitor_id),
	arraySort(groupUniqArrayArray(arraySlice([tuple(event_id, toUInt8(channel = 'server'), value)], 1, value != 0)))
	FROM events WHERE event != 'PageEngagement'
	GROUP BY pixel_id, b, event, is_bot, utm_source, utm_medium, utm_campaign, currency`

// counted is how many daily_stats rows count one of the visitor ids in
// their visitors state: those whose count does not grow when the ids' own
// state is merged in. The states hold 128-bit hashes of the ids, so this
// is what whoever holds an id can learn from daily_stats.
const counted = `SELECT countIf(with_them = without_them) FROM
	(SELECT uniqExactMerge(s) AS with_them, uniqExactMergeIf(s, own = 0) AS without_them FROM
		(SELECT pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency, visitors AS s, 0 AS own FROM daily_stats
		 UNION ALL
		 SELECT pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency, them AS s, 1 AS own
		 FROM (SELECT DISTINCT pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency FROM daily_stats) AS keys
		 CROSS JOIN (SELECT uniqExactState(arrayJoin(?)) AS them) AS states)
	 GROUP BY pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency)`

// groupsOf is the daily_stats groups ('pixel|bucket' as the snapshot
// writes them) holding events that match where.
func groupsOf(t *testing.T, conn chstore.Conn, where string, args ...any) map[string]bool {
	t.Helper()
	rows, err := conn.Query(devstacktest.Context(t), "SELECT DISTINCT concat(pixel_id, '|', toString(toStartOfFifteenMinutes(ts), 'UTC')) FROM events WHERE event != 'PageEngagement' AND ("+where+")", args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	g := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		g[k] = true
	}
	return g
}

// withDailyStats sets want's daily_stats to before's rows outside groups
// and to the rows computed afresh from the events now inside them.
func withDailyStats(t *testing.T, conn chstore.Conn, want, before snapshot, groups map[string]bool) {
	t.Helper()
	res, err := (&analysis.Query{Name: "fresh", SQL: freshDailyStats}).Run(devstacktest.Context(t), conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	group := func(k string) string { f := strings.Split(k, "|"); return f[0] + "|" + f[1] }
	want["daily_stats"] = map[string]string{}
	for k, v := range before["daily_stats"] {
		if !groups[group(k)] {
			want["daily_stats"][k] = v
		}
	}
	for _, r := range res.Rows {
		if k := strings.Join(r[:8], "|"); groups[group(k)] {
			want["daily_stats"][k] = strings.Join(r[8:], "\t")
		}
	}
}

// countedIn sums counted over the ids, one at a time (merging in several
// ids' state leaves a row's count unchanged only if it holds them all).
func countedIn(t *testing.T, conn chstore.Conn, ids ...string) uint64 {
	t.Helper()
	var sum uint64
	for _, id := range ids {
		var n uint64
		if err := conn.QueryRow(devstacktest.Context(t), counted, []string{id}).Scan(&n); err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	return sum
}

// generated inserts a generated population into a new database.
func generated(t *testing.T, cfg dataset.Config) (chstore.Conn, int) {
	t.Helper()
	conn := open(t)
	n, err := dataset.Insert(devstacktest.Context(t), conn, dataset.Generate(cfg), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	// One part per month: no background merge collapses copies of an event
	// (ReplacingMergeTree) later, between the test's counts, or between a
	// rebuild of daily_stats from events and the test's own computation
	// from them. OPTIMIZE does nothing, silently, while a background merge
	// holds some of the parts: issue it until one part per month is left.
	devstacktest.WaitFor(t, "events merged into one part per month", time.Minute, func() (bool, string) {
		if err := conn.Exec(devstacktest.Context(t), "OPTIMIZE TABLE events FINAL"); err != nil {
			t.Fatal(err)
		}
		var parts, months uint64
		if err := conn.QueryRow(devstacktest.Context(t), "SELECT count(), uniqExact(partition) FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active").Scan(&parts, &months); err != nil {
			t.Fatal(err)
		}
		return parts == months, fmt.Sprintf("%d parts in %d months", parts, months)
	})
	return conn, n
}

func removed(e privacy.Erasure) map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range e.Removed {
		if r.Table != "events" {
			m[r.Table] = r.Rows
		}
		if r.Left != 0 {
			m[r.Table+" left"] = r.Left
		}
	}
	return m
}

// TestForgetRollups forgets a visitor, then an email seen with two visitor
// ids (one only in its profile, the events that carried it gone), on about
// 50 000 generated events: each disappears from events and from every
// rollup that holds visitor ids, every other row of every rollup is as it
// was, and forgetting again removes nothing and changes nothing.
func TestForgetRollups(t *testing.T) {
	ctx := devstacktest.Context(t)
	conn, n := generated(t, dataset.DefaultConfig(11, 900))
	t.Logf("%d events", n)

	// The two visitors with the most events among those with an email.
	var ids, emails, googles []string
	rows, err := conn.Query(ctx, `SELECT visitor_id, any(email_sha256), any(email_google_sha256) FROM events
		WHERE email_sha256 != '' GROUP BY visitor_id ORDER BY count() DESC, visitor_id LIMIT 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, e, g string
		if err := rows.Scan(&id, &e, &g); err != nil {
			t.Fatal(err)
		}
		ids, emails, googles = append(ids, id), append(emails, e), append(googles, g)
	}
	rows.Close()
	if len(ids) != 2 {
		t.Fatalf("visitors with an email: %q", ids)
	}

	// By visitor id.
	before := take(t, conn)
	want := before.of(ids[0])
	if want["sessions"] == 0 || want["page_views"] == 0 || want["visitors"] != 1 {
		t.Fatalf("the visitor has too little to forget: %v", want)
	}
	eventsBefore := count(t, conn, "1")
	mine := count(t, conn, "visitor_id = ?", ids[0])
	groups := groupsOf(t, conn, "visitor_id = ?", ids[0])
	if n := countedIn(t, conn, ids[0]); n == 0 {
		t.Fatal("daily_stats does not count the visitor: the test proves nothing")
	} else {
		t.Logf("daily_stats rows that count the visitor: %d, in %d buckets", n, len(groups))
	}
	start := time.Now()
	e, err := privacy.Forget(ctx, conn, privacy.Subject{VisitorID: ids[0]}, "dpo")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("forget -visitor: %v, %+v", time.Since(start), e.Removed)
	want["daily_stats"] = uint64(len(groups))
	if e.RowsBefore != mine || e.Visitors != 1 || e.Removed[0].Table != "events" || e.Removed[0].Rows != mine || !reflect.DeepEqual(removed(e), want) {
		t.Errorf("erasure %+v, want %d events and %v", e, mine, want)
	}
	if left := count(t, conn, "visitor_id = ?", ids[0]); left != 0 || count(t, conn, "1") != eventsBefore-mine {
		t.Errorf("%d events of the visitor left; %d events, want %d", left, count(t, conn, "1"), eventsBefore-mine)
	}
	after := take(t, conn)
	want2 := before.without(ids[0])
	withDailyStats(t, conn, want2, before, groups)
	same(t, "forget -visitor", after, want2)
	if n := countedIn(t, conn, ids[0]); n != 0 {
		t.Errorf("%d daily_stats rows still count the visitor", n)
	}

	// Again: nothing left to remove, nothing changes.
	if e, err := privacy.Forget(ctx, conn, privacy.Subject{VisitorID: ids[0]}, "dpo"); err != nil || e.RowsBefore != 0 || len(removed(e)) != 4 || removed(e)["sessions"]+removed(e)["page_views"]+removed(e)["visitors"]+removed(e)["daily_stats"] != 0 {
		t.Errorf("forget again: %+v, %v", e, err)
	}
	same(t, "forget -visitor again", take(t, conn), after)

	// By email: ids[1] carries it in its events; "v-old" carried it once,
	// in an event of October that retention has since dropped from events:
	// only its profile has
	// it, beside events of its own without the email.
	who := privacy.Subject{EmailSHA256: emails[1], EmailGoogleSHA256: googles[1]}
	oldAt := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC).Unix()
	newAt := time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC).Unix()
	identified := &event.Event{EventID: []byte("old-1"), PixelID: []byte("px-shop-us"), VisitorID: []byte("v-old"), SessionID: []byte("s-old"), Name: []byte("Lead"), TS: oldAt, ReceivedAt: oldAt}
	identified.Tracking[event.EmailSHA256], identified.Tracking[event.EmailGoogleSHA256] = []byte(emails[1]), []byte(googles[1])
	later := &event.Event{EventID: []byte("old-2"), PixelID: []byte("px-shop-us"), VisitorID: []byte("v-old"), SessionID: []byte("s-new"), Name: []byte("PageView"), TS: newAt, ReceivedAt: newAt}
	later.Tracking[event.PageViewID] = []byte("pv-new")
	insert(t, conn, identified, later)
	// Retention drops October of events, where only that event is; its
	// session, profile and daily_stats bucket stay (as when an event is
	// received in an earlier month than its ts says).
	if err := conn.Exec(ctx, "ALTER TABLE events DROP PARTITION 202610"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, "event_id = 'old-1'"); n != 0 {
		t.Fatalf("%d rows of old-1 left", n)
	}
	before = take(t, conn)
	people := []string{ids[1], "v-old"}
	want = before.of(people...)
	if want["visitors"] != 2 || before["visitors"]["px-shop-us|v-old"] == "" || !strings.Contains(before["visitors"]["px-shop-us|v-old"], emails[1]) {
		t.Fatalf("the profiles to forget: %v", want)
	}
	eventsBefore = count(t, conn, "1")
	mine = count(t, conn, "visitor_id IN (?, 'v-old')", ids[1])
	groups = groupsOf(t, conn, "visitor_id IN (?, 'v-old')", ids[1])
	groups["px-shop-us|2026-10-01 10:00:00"] = true // only in daily_stats
	if countedIn(t, conn, people...) == 0 {
		t.Fatal("daily_stats does not count the email's visitors")
	}
	want["daily_stats"] = uint64(len(groups))
	// Several rebuild statements of at most 3 buckets each.
	defer privacy.SetRebuildChunk(3)()
	start = time.Now()
	if e, err = privacy.Forget(ctx, conn, who, "dpo"); err != nil {
		t.Fatal(err)
	}
	t.Logf("forget -email: %v, %+v", time.Since(start), e.Removed)
	if e.RowsBefore != mine || e.Visitors != 2 || e.KeyKind != privacy.KindEmail || !reflect.DeepEqual(removed(e), want) {
		t.Errorf("erasure %+v, want %d events and %v", e, mine, want)
	}
	if left := count(t, conn, "visitor_id IN (?, 'v-old') OR email_sha256 = ? OR email_google_sha256 = ?", ids[1], emails[1], googles[1]); left != 0 || count(t, conn, "1") != eventsBefore-mine {
		t.Errorf("%d events of the email left; %d events, want %d", left, count(t, conn, "1"), eventsBefore-mine)
	}
	after = take(t, conn)
	want2 = before.without(people...)
	withDailyStats(t, conn, want2, before, groups)
	same(t, "forget -email", after, want2)
	if n := countedIn(t, conn, people...); n != 0 {
		t.Errorf("%d daily_stats rows still count the email's visitors", n)
	}
	if e, err := privacy.Forget(ctx, conn, who, "dpo"); err != nil || e.RowsBefore != 0 || e.Visitors != 0 || len(e.Removed) != 2 || e.Removed[1].Rows != 0 {
		t.Errorf("forget the email again: %+v, %v", e, err)
	}
	same(t, "forget -email again", take(t, conn), after)
}

// TestRetainRollups runs retention over generated events of three months:
// the rollups lose exactly their rows older than the cut-off (sessions by
// their last event, page views by their start, profiles by their last
// event, daily_stats by its bucket's month) and keep every newer row as it
// was.
func TestRetainRollups(t *testing.T) {
	ctx := context.Background()
	cfg := dataset.DefaultConfig(5, 300)
	cfg.Start, cfg.Days = time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC), 50
	conn, _ := generated(t, cfg)
	before := take(t, conn)
	now := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	r, err := privacy.Retain(ctx, conn, 3, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.TTL {
		t.Skipf("ClickHouse %v has TTLs; this test is for 18.16's partitions", r.Server)
	}
	cutoff := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if !r.Cutoff.Equal(cutoff) || !reflect.DeepEqual(r.Dropped, []string{"202609"}) || !reflect.DeepEqual(r.DailyStatsDropped, []string{"202609"}) ||
		!reflect.DeepEqual(r.DailyStatsKept, []string{"202610", "202611"}) {
		t.Errorf("retention %+v", r)
	}
	// The rows a row's time says to keep: its column (after the key) that
	// holds the time retention looks at.
	when := map[string]int{"sessions": 1, "page_views": 0, "visitors": 1, "daily_stats": -1}
	want := snapshot{}
	gone := map[string]uint64{}
	for table, m := range before {
		want[table] = map[string]string{}
		for k, v := range m {
			var at string
			if i := when[table]; i >= 0 {
				at = strings.Split(v, "\t")[i]
			} else {
				at = strings.Split(k, "|")[1] // the bucket
			}
			ts, err := time.Parse(time.DateTime, at)
			if err != nil {
				t.Fatalf("%s %s: %v", table, k, err)
			}
			if ts.Before(cutoff) {
				gone[table]++
				continue
			}
			want[table][k] = v
		}
	}
	for i, table := range []string{"sessions", "page_views", "visitors"} {
		if gone[table] == 0 || r.Removed[i].Table != table || r.Removed[i].Rows != gone[table] || r.Removed[i].Left != 0 {
			t.Errorf("%s: removed %+v, want %d", table, r.Removed[i], gone[table])
		}
	}
	if gone["daily_stats"] == 0 {
		t.Error("no old daily_stats rows to drop")
	}
	after := take(t, conn)
	same(t, "retention", after, want)

	// Again: nothing more goes.
	if r, err := privacy.Retain(ctx, conn, 3, now); err != nil || len(r.Dropped)+len(r.DailyStatsDropped) != 0 || r.Removed[0].Rows+r.Removed[1].Rows+r.Removed[2].Rows != 0 {
		t.Errorf("retention again: %+v, %v", r, err)
	}
	same(t, "retention again", take(t, conn), after)
}

func TestMonthsBefore(t *testing.T) {
	for _, tc := range []struct {
		now    string
		months int
		want   string
	}{
		{"2026-12-01 10:00:00", 3, "2026-09-01 10:00:00"},
		{"2026-05-31 23:59:59", 3, "2026-02-28 23:59:59"},
		{"2028-03-31 00:00:00", 1, "2028-02-29 00:00:00"},
		{"2026-01-15 12:00:00", 13, "2024-12-15 12:00:00"},
		{"2026-07-31 00:00:00", 1200, "1926-07-31 00:00:00"},
	} {
		now, _ := time.Parse(time.DateTime, tc.now)
		if got := privacy.MonthsBefore(now, tc.months).Format(time.DateTime); got != tc.want {
			t.Errorf("MonthsBefore(%s, %d) = %s, want %s", tc.now, tc.months, got, tc.want)
		}
	}
}
