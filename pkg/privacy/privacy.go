// Package privacy erases and expires people's data in ClickHouse: Forget
// deletes one person (by visitor id or by email hash) from events and from
// the rollups that hold visitor ids (sessions, page_views, visitors) and
// records the request in pixel.erasures; Retain removes events older than
// N months and the rollups' rows that old, with TTLs on servers that have
// them and by dropping whole month partitions on older ones (ClickHouse
// 18.16), and with mutations on the rollups that are not partitioned by
// time. pixelctl forget and pixelctl retention drive it; the console will
// too.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/schemas"
)

// Subject is whose events Forget deletes: a visitor id, or an email by its
// two hashes (EmailSubject computes them). The raw address never reaches
// ClickHouse, neither in the DELETE nor in the audit.
type Subject struct {
	VisitorID         string
	EmailSHA256       string // Meta's normalisation: email_sha256
	EmailGoogleSHA256 string // Google's: email_google_sha256
}

// Key kinds in pixel.erasures.
const (
	KindVisitor = "visitor_id"
	KindEmail   = "email_sha256"
)

// EmailSubject is the Subject of an email address: its hashes as the
// collector and the tag compute them (pkg/pixel's identity normalisation:
// trimmed and in lower case for email_sha256, and for gmail.com and
// googlemail.com also without the dots of the local part for
// email_google_sha256).
func EmailSubject(addr string) (Subject, error) {
	if !strings.Contains(addr, "@") {
		return Subject{}, fmt.Errorf("email %q has no @; give the whole address", addr)
	}
	meta := pixel.AppendEmailSHA256(nil, []byte(addr))
	google := pixel.AppendEmailGoogleSHA256(nil, []byte(addr))
	if len(meta) != pixel.SHA256HexLen || len(google) != pixel.SHA256HexLen {
		return Subject{}, fmt.Errorf("email %q normalises to nothing", addr)
	}
	return Subject{EmailSHA256: string(meta), EmailGoogleSHA256: string(google)}, nil
}

// Erasure is one finished erasure request, as pixel.erasures records it,
// with what it removed from each table.
type Erasure struct {
	RequestedAt time.Time `json:"requested_at"`
	FinishedAt  time.Time `json:"finished_at"`
	KeyKind     string    `json:"key_kind"`    // KindVisitor or KindEmail
	Key         string    `json:"key"`         // the visitor id, or the email's Meta hash
	RowsBefore  uint64    `json:"rows_before"` // rows of events, as recorded in erasures
	RequestedBy string    `json:"requested_by"`
	// Visitors is how many visitor ids were erased from the rollups: 1 for
	// a visitor id, for an email those it was seen with (0 or more).
	Visitors int       `json:"visitor_ids"`
	Removed  []Removed `json:"removed"` // events, then the rollups
}

// Removed is what an erasure or a retention run deleted from one table.
type Removed struct {
	Table string `json:"table"`
	// Rows: for events the stored rows; for a rollup its keys (sessions,
	// page views, profiles), however many partial rows each had.
	Rows uint64 `json:"rows"`
	// Left is what still matched after the deletion finished: the
	// person's data that arrived meanwhile (0 normally; forget again).
	Left uint64 `json:"left"`
}

// DefaultWait bounds Forget's and Retain's wait for their deletions when ctx
// has no deadline.
const DefaultWait = 10 * time.Minute

// rollupTables are the rollups that hold visitor ids (migrations 0009 to
// 0011), in the order Forget reports them. daily_stats holds none, only
// hashes of them inside its states: Forget rebuilds its buckets instead
// (rebuildDailyStats).
var rollupTables = []string{"sessions", "page_views", "visitors"}

// Forget deletes the subject from every table that can name them and waits
// until the deletions finished, then records the request in erasures:
//   - a visitor id: its events, and its rows of the sessions, page_views and
//     visitors rollups;
//   - an email: the visitor ids it was seen with (in events, either hash, or
//     as a visitors profile's latest hash), then the events carrying either
//     hash or one of those ids, and those ids' rows of the rollups;
//   - and daily_stats's rows of the 15-minute buckets that held the deleted
//     events, or whose states count one of the visitor ids, are computed
//     again from the events left (rebuildDailyStats):
//     they count everyone else as before and no longer hold the person's
//     hashed visitor id.
//
// ClickHouse deletes with mutations (ALTER TABLE ... DELETE, on 18.16 and
// current servers alike): each rewrites the parts holding such rows in the
// background, and Forget polls system.mutations until the mutations its
// statements created are done, or ctx (else DefaultWait) ends. A deletion
// still running then goes on in the server; Forget reports it and records
// nothing, and running it again is harmless.
//
// Events that arrive after the DELETE was issued (the visitor is still on
// the site, or Kafka holds a backlog) are not deleted, and the materialized
// views put them into the rollups again: forget a person after their data
// stopped arriving, or again later (Removed.Left counts them).
func Forget(ctx context.Context, conn chstore.Conn, who Subject, requestedBy string) (Erasure, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	e := Erasure{RequestedAt: time.Now().UTC().Truncate(time.Second), RequestedBy: requestedBy}
	var ids []string
	switch {
	case who.VisitorID != "" && who.EmailSHA256 == "" && who.EmailGoogleSHA256 == "":
		e.KeyKind, e.Key = KindVisitor, who.VisitorID
	case who.VisitorID == "" && pixel.IsSHA256Hex([]byte(who.EmailSHA256)) && pixel.IsSHA256Hex([]byte(who.EmailGoogleSHA256)):
		e.KeyKind, e.Key = KindEmail, who.EmailSHA256
	default:
		return e, errors.New("forget: give either a visitor id or an email (both hashes, lower-case hex), not both")
	}
	if strings.TrimSpace(requestedBy) == "" {
		return e, errors.New("forget: say who asked (requested by), for the audit")
	}
	// The events' statements and their arguments.
	count, del, args := "events_count_visitor", "events_delete_visitor", []any{who.VisitorID}
	if e.KeyKind == KindVisitor {
		ids = []string{who.VisitorID}
	} else {
		var err error
		if ids, err = emailVisitors(ctx, conn, who); err != nil {
			return e, err
		}
		count, del, args = "events_count_email", "events_delete_email", []any{who.EmailSHA256, who.EmailGoogleSHA256, ids}
	}
	e.Visitors = len(ids)
	type target struct {
		table, count, del string
		args              []any
	}
	targets := []target{{"events", count, del, args}}
	if len(ids) > 0 {
		for _, t := range rollupTables {
			targets = append(targets, target{t, t + "_count_visitors", t + "_delete_visitors", []any{ids}})
		}
	}
	for _, t := range targets {
		n, err := countRows(ctx, conn, t.count, t.args...)
		if err != nil {
			return e, fmt.Errorf("cannot count the %s rows to forget: %w; the rollups come with migrations 0008 to 0011 and the email columns with 0004: has pixelctl migrate run?", t.table, err)
		}
		e.Removed = append(e.Removed, Removed{Table: t.table, Rows: n})
	}
	e.RowsBefore = e.Removed[0].Rows
	groups, err := dailyStatsGroups(ctx, conn, who, ids)
	if err != nil {
		return e, err
	}
	before, err := mutations(ctx, conn)
	if err != nil {
		return e, err
	}
	issued := 0
	for i, t := range targets {
		// Nothing to delete, no mutation: it would rewrite every part of
		// the table for nothing (18.16 rewrites them all).
		if e.Removed[i].Rows == 0 {
			continue
		}
		if err := conn.Exec(ctx, schemas.Internal(t.del), t.args...); err != nil {
			return e, fmt.Errorf("cannot delete from %s (ALTER TABLE %s DELETE): %w; running forget again is harmless", t.table, t.table, err)
		}
		issued++
	}
	if err := waitMutations(ctx, conn, before, issued); err != nil {
		return e, err
	}
	for i, t := range targets {
		if e.Removed[i].Left, err = countRows(ctx, conn, t.count, t.args...); err != nil {
			return e, fmt.Errorf("cannot count the %s rows left after the deletion: %w", t.table, err)
		}
	}
	if err := rebuildDailyStats(ctx, conn, groups); err != nil {
		return e, err
	}
	e.Removed = append(e.Removed, Removed{Table: "daily_stats", Rows: uint64(len(groups))})
	e.FinishedAt = time.Now().UTC().Truncate(time.Second)
	batch, err := conn.PrepareBatch(ctx, schemas.Internal("erasures_insert"))
	if err == nil {
		if err = batch.Append(e.RequestedAt, e.FinishedAt, e.KeyKind, e.Key, e.RowsBefore, e.RequestedBy); err == nil {
			err = batch.Send()
		} else {
			_ = batch.Abort()
		}
	}
	if err != nil {
		return e, fmt.Errorf("the person was deleted, but cannot record the erasure in erasures: %w; has pixelctl migrate run?", err)
	}
	return e, nil
}

// dailyStatsGroups returns the daily_stats groups ('pixel|unix time' of a
// 15-minute bucket, sorted) that hold the subject: those of their events,
// before they are deleted, and those whose states count one of their
// visitor ids (events dropped from events but not from daily_stats).
func dailyStatsGroups(ctx context.Context, conn chstore.Conn, who Subject, ids []string) ([]string, error) {
	name, args := "daily_stats_groups_visitors", []any{ids}
	if who.VisitorID == "" {
		name, args = "daily_stats_groups_email", []any{who.EmailSHA256, who.EmailGoogleSHA256, ids}
	}
	set := map[string]bool{}
	if err := collect(ctx, conn, set, name, args...); err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if err := collect(ctx, conn, set, "daily_stats_groups_counting", ids, ids); err != nil {
			return nil, err
		}
	}
	groups := make([]string, 0, len(set))
	for g := range set {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	return groups, nil
}

// collect adds the strings a one-column statement returns to set.
func collect(ctx context.Context, conn chstore.Conn, set map[string]bool, name string, args ...any) error {
	rows, err := conn.Query(ctx, schemas.Internal(name), args...)
	if err != nil {
		return fmt.Errorf("cannot find the daily_stats buckets to forget (%s): %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return fmt.Errorf("cannot read the daily_stats buckets to forget (%s): %w", name, err)
		}
		set[g] = true
	}
	return rows.Err()
}

// rebuildDailyStats replaces daily_stats's rows of groups by the same rows
// computed from the events left. daily_stats names no one, but its
// visitors states are sets of 128-bit hashes of visitor ids: whoever holds
// an erased visitor id (the person's cookie, the erasures audit) could test
// which buckets, events and campaigns it was counted in. Rebuilt, its
// buckets count everyone else as before and hold nothing of the person.
//
// The DELETE mutation is created first and applies only to the parts that
// exist then; the rebuilt rows, inserted after it, are kept.
func rebuildDailyStats(ctx context.Context, conn chstore.Conn, groups []string) error {
	// The groups are spliced into the statements' text by the driver's
	// binding: a few thousand at a time keep each statement well under
	// the server's max_query_size (256 KiB by default).
	for len(groups) > rebuildChunk {
		if err := rebuildDailyStats(ctx, conn, groups[:rebuildChunk]); err != nil {
			return err
		}
		groups = groups[rebuildChunk:]
	}
	if len(groups) == 0 {
		return nil
	}
	before, err := mutations(ctx, conn)
	if err != nil {
		return err
	}
	if err := conn.Exec(ctx, schemas.Internal("daily_stats_delete_groups"), groups); err != nil {
		return fmt.Errorf("the person's events and rollup rows were deleted, but cannot delete daily_stats's rows of their %d buckets to rebuild them: %w; the buckets are %s", len(groups), err, strings.Join(groups, ", "))
	}
	if err := conn.Exec(ctx, schemas.Internal("daily_stats_rebuild_groups"), groups); err != nil {
		return fmt.Errorf("daily_stats's rows of %d buckets are being deleted, but cannot insert them again from events: %w; run schemas/internal/daily_stats_rebuild_groups.sql with the buckets %s", len(groups), err, strings.Join(groups, ", "))
	}
	return waitMutations(ctx, conn, before, 1)
}

// rebuildChunk is how many daily_stats groups one rebuild statement names:
// about 30 bytes each.
var rebuildChunk = 2000

// emailVisitors returns the visitor ids the subject's email was seen with.
func emailVisitors(ctx context.Context, conn chstore.Conn, who Subject) ([]string, error) {
	rows, err := conn.Query(ctx, schemas.Internal("visitors_of_email"), who.EmailSHA256, who.EmailGoogleSHA256, who.EmailSHA256, who.EmailGoogleSHA256)
	if err != nil {
		return nil, fmt.Errorf("cannot find the visitor ids of the email: %w; the email columns come with migration 0004 and the visitors rollup with 0011: has pixelctl migrate run?", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot read the visitor ids of the email: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func countRows(ctx context.Context, conn chstore.Conn, name string, args ...any) (uint64, error) {
	var n uint64
	err := conn.QueryRow(ctx, schemas.Internal(name), args...).Scan(&n)
	return n, err
}

// mutationTables are the tables whose mutations Forget and Retain wait for.
var mutationTables = append([]string{"events", "daily_stats"}, rollupTables...)

// mutations returns the mutations of mutationTables: table/id → done.
func mutations(ctx context.Context, conn chstore.Conn) (map[string]bool, error) {
	rows, err := conn.Query(ctx, schemas.Internal("mutations"), mutationTables)
	if err != nil {
		return nil, fmt.Errorf("cannot read system.mutations: %w", err)
	}
	defer rows.Close()
	m := map[string]bool{}
	for rows.Next() {
		var table, id string
		var done uint8
		if err := rows.Scan(&table, &id, &done); err != nil {
			return nil, fmt.Errorf("cannot read system.mutations: %w", err)
		}
		m[table+"/"+id] = done == 1
	}
	return m, rows.Err()
}

// waitMutations waits until there are at least want mutations not in before
// (one per ALTER ... DELETE issued since) and every such mutation is done.
func waitMutations(ctx context.Context, conn chstore.Conn, before map[string]bool, want int) error {
	for {
		now, err := mutations(ctx, conn)
		if err != nil {
			return err
		}
		var created, running int
		for id, done := range now {
			if _, old := before[id]; !old {
				created++
				if !done {
					running++
				}
			}
		}
		if created >= want && running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the deletion is still running in ClickHouse (%d of its mutations not done; see system.mutations): %w; it goes on, and running the command again later finishes and records it", running, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TTLVersion is the first ClickHouse release with table TTLs
// (ALTER TABLE ... MODIFY TTL).
var TTLVersion = chstore.Version{Major: 19, Minor: 6}

// Retention is what Retain did.
type Retention struct {
	Server chstore.Version
	// TTL: the TTLs of events (received_at) and daily_stats (bucket) were
	// set, and the server removes old rows in its merges.
	TTL bool
	// Else: the month partitions of events (toYYYYMM(received_at)) dropped
	// and kept, and those of daily_stats (toYYYYMM(bucket)).
	Dropped, Kept                     []string
	DailyStatsDropped, DailyStatsKept []string
	// Cutoff: sessions whose last event, page views that started and
	// profiles whose last event is before it were deleted (Removed: how
	// many of each). It is the events' cut-off: on servers without TTL the
	// first day of the oldest month kept, else months months before now.
	Cutoff  time.Time
	Removed []Removed // sessions, page_views, visitors
}

// Retain removes what is older than months months: events received, and
// the rollups' rows of events that old.
//
// events and daily_stats are partitioned by month (toYYYYMM(received_at),
// toYYYYMM(bucket)). On servers with TTL support Retain sets their TTLs,
// received_at and bucket + months MONTH, which the server applies from then
// on by itself. On older servers (18.16) it drops every month partition
// whose whole month lies that far back: it keeps up to one month more than
// a TTL would, and it removes only what is old now, so run it regularly (a
// daily cron job).
//
// sessions, page_views and visitors are not partitioned by time (a key's
// times are aggregate states, merged from several rows), so on every server
// Retain deletes, with a mutation it waits for as Forget does, the
// sessions whose last event (end_ts), the page views whose start (start_ts)
// and the profiles whose last event (last_seen) is before the events'
// cut-off. A session or profile with a newer event is kept whole: a
// returning visitor's profile keeps its first_seen, products, purchases
// and hashes from older events. The rollups' times are the events' ts, the
// events' partitions their received_at: a client clock far off, or events
// that arrived late, sit on different sides of the cut-off in each.
//
// now is the time "ago" counts from; the wait is bounded by ctx, else
// DefaultWait.
func Retain(ctx context.Context, conn chstore.Conn, months int, now time.Time) (Retention, error) {
	var r Retention
	if months < 1 || months > 1200 {
		return r, fmt.Errorf("retention of %d months: give 1 to 1200", months)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	var err error
	if r.Server, err = chstore.ServerVersion(ctx, conn); err != nil {
		return r, err
	}
	now = now.UTC()
	if r.Server.AtLeast(TTLVersion) {
		for _, table := range []string{"events", "daily_stats"} {
			if err := conn.Exec(ctx, schemas.Internal(table+"_modify_ttl"), months); err != nil {
				return r, fmt.Errorf("cannot set the TTL of %s: %w", table, err)
			}
		}
		r.TTL = true
		r.Cutoff = MonthsBefore(now, months)
	} else {
		if r.Dropped, r.Kept, err = dropPartitions(ctx, conn, "events", months, now); err != nil {
			return r, err
		}
		if r.DailyStatsDropped, r.DailyStatsKept, err = dropPartitions(ctx, conn, "daily_stats", months, now); err != nil {
			return r, err
		}
		r.Cutoff = time.Date(now.Year(), now.Month()-time.Month(months), 1, 0, 0, 0, 0, time.UTC)
	}
	before, err := mutations(ctx, conn)
	if err != nil {
		return r, err
	}
	issued := 0
	for _, table := range rollupTables {
		n, err := countRows(ctx, conn, table+"_count_expired", r.Cutoff)
		if err != nil {
			return r, fmt.Errorf("cannot count the expired rows of %s: %w; the rollups come with migrations 0008 to 0011: has pixelctl migrate run?", table, err)
		}
		r.Removed = append(r.Removed, Removed{Table: table, Rows: n})
		if n == 0 {
			continue // no mutation, which would rewrite every part for nothing
		}
		if err := conn.Exec(ctx, schemas.Internal(table+"_delete_expired"), r.Cutoff); err != nil {
			return r, fmt.Errorf("cannot delete the expired rows of %s: %w", table, err)
		}
		issued++
	}
	if err := waitMutations(ctx, conn, before, issued); err != nil {
		return r, err
	}
	for i, table := range rollupTables {
		if r.Removed[i].Left, err = countRows(ctx, conn, table+"_count_expired", r.Cutoff); err != nil {
			return r, fmt.Errorf("cannot count the expired rows left in %s: %w", table, err)
		}
	}
	return r, nil
}

// dropPartitions drops the month partitions of table whose whole month is
// more than months months before now, and returns those dropped and kept.
func dropPartitions(ctx context.Context, conn chstore.Conn, table string, months int, now time.Time) (dropped, kept []string, err error) {
	rows, err := conn.Query(ctx, schemas.Internal("partitions"), table)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the partitions of %s (system.parts): %w", table, err)
	}
	var parts []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, nil, err
		}
		parts = append(parts, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, p := range parts {
		month, err := time.Parse("200601", p)
		if err != nil {
			return dropped, kept, fmt.Errorf("partition %q of %s is not a month (YYYYMM); was %s created by pixelctl migrate?", p, table, table)
		}
		if !Expired(month, months, now) {
			kept = append(kept, p)
			continue
		}
		if err := conn.Exec(ctx, schemas.Internal(table+"_drop_partition"), uint32(month.Year()*100+int(month.Month()))); err != nil {
			return dropped, kept, fmt.Errorf("cannot drop partition %s of %s: %w", p, table, err)
		}
		dropped = append(dropped, p)
	}
	return dropped, kept, nil
}

// MonthsBefore is now minus months calendar months, the day clamped to the
// end of a shorter month (2026-05-31 minus 3 months is 2026-02-28) as
// ClickHouse's INTERVAL MONTH arithmetic clamps.
func MonthsBefore(now time.Time, months int) time.Time {
	first := time.Date(now.Year(), now.Month()-time.Month(months), 1, now.Hour(), now.Minute(), now.Second(), 0, now.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(now.Day(), last)-1)
}

// Expired reports whether every event of the month starting at month was
// received more than months months before now: the month after it begins
// at least months months before now.
func Expired(month time.Time, months int, now time.Time) bool {
	end := time.Date(month.Year(), month.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	return !end.AddDate(0, months, 0).After(now)
}
