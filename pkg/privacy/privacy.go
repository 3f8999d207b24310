// Package privacy erases and expires people's data in ClickHouse: Forget
// deletes one person's events (by visitor id or by email hash) and records
// the request in pixel.erasures; Retain removes events older than N
// months, with a TTL on servers that have one and by dropping whole month
// partitions on older ones (ClickHouse 18.16). pixelctl forget and
// pixelctl retention drive it; the console will too.
package privacy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
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

// Erasure is one finished erasure request, as pixel.erasures records it.
type Erasure struct {
	RequestedAt time.Time `json:"requested_at"`
	FinishedAt  time.Time `json:"finished_at"`
	KeyKind     string    `json:"key_kind"` // KindVisitor or KindEmail
	Key         string    `json:"key"`      // the visitor id, or the email's Meta hash
	RowsBefore  uint64    `json:"rows_before"`
	RequestedBy string    `json:"requested_by"`
}

// DefaultWait bounds Forget's wait for the deletion when ctx has no
// deadline.
const DefaultWait = 10 * time.Minute

// Forget deletes the subject's events from the events table of conn's
// database and waits until the deletion finished, then records it in
// erasures. ClickHouse deletes with a mutation (ALTER TABLE ... DELETE, on
// 18.16 and current servers alike): it rewrites every part holding such
// rows in the background, and Forget polls system.mutations until the
// mutations its statement created are done, or ctx (else DefaultWait)
// ends. A deletion still running then goes on in the server; Forget
// reports it and records nothing, and running it again is harmless.
//
// Events that arrive after the DELETE was issued (the visitor is still on
// the site, or Kafka holds a backlog) are not deleted: forget a person
// after their data stopped arriving, or again later.
func Forget(ctx context.Context, conn chstore.Conn, who Subject, requestedBy string) (Erasure, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	e := Erasure{RequestedAt: time.Now().UTC().Truncate(time.Second), RequestedBy: requestedBy}
	var count, del string
	var args []any
	switch {
	case who.VisitorID != "" && who.EmailSHA256 == "" && who.EmailGoogleSHA256 == "":
		e.KeyKind, e.Key = KindVisitor, who.VisitorID
		count, del, args = "events_count_visitor", "events_delete_visitor", []any{who.VisitorID}
	case who.VisitorID == "" && isHex64(who.EmailSHA256) && isHex64(who.EmailGoogleSHA256):
		e.KeyKind, e.Key = KindEmail, who.EmailSHA256
		count, del, args = "events_count_email", "events_delete_email", []any{who.EmailSHA256, who.EmailGoogleSHA256}
	default:
		return e, errors.New("forget: give either a visitor id or an email (both hashes, lower-case hex), not both")
	}
	if strings.TrimSpace(requestedBy) == "" {
		return e, errors.New("forget: say who asked (requested by), for the audit")
	}
	if err := conn.QueryRow(ctx, statement(count), args...).Scan(&e.RowsBefore); err != nil {
		if e.KeyKind == KindEmail {
			return e, fmt.Errorf("cannot count the events to forget: %w; the email columns come with migration 0004: has pixelctl migrate run?", err)
		}
		return e, fmt.Errorf("cannot count the events to forget: %w", err)
	}
	before, err := mutations(ctx, conn)
	if err != nil {
		return e, err
	}
	if err := conn.Exec(ctx, statement(del), args...); err != nil {
		return e, fmt.Errorf("cannot delete the events (ALTER TABLE events DELETE): %w", err)
	}
	if err := waitMutations(ctx, conn, before); err != nil {
		return e, err
	}
	e.FinishedAt = time.Now().UTC().Truncate(time.Second)
	batch, err := conn.PrepareBatch(ctx, statement("erasures_insert"))
	if err == nil {
		if err = batch.Append(e.RequestedAt, e.FinishedAt, e.KeyKind, e.Key, e.RowsBefore, e.RequestedBy); err == nil {
			err = batch.Send()
		} else {
			_ = batch.Abort()
		}
	}
	if err != nil {
		return e, fmt.Errorf("the events were deleted, but cannot record the erasure in erasures: %w; has pixelctl migrate run?", err)
	}
	return e, nil
}

func isHex64(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// mutations returns the events table's mutations: id → done.
func mutations(ctx context.Context, conn chstore.Conn) (map[string]bool, error) {
	rows, err := conn.Query(ctx, statement("events_mutations"))
	if err != nil {
		return nil, fmt.Errorf("cannot read system.mutations: %w", err)
	}
	defer rows.Close()
	m := map[string]bool{}
	for rows.Next() {
		var id string
		var done uint8
		if err := rows.Scan(&id, &done); err != nil {
			return nil, fmt.Errorf("cannot read system.mutations: %w", err)
		}
		m[id] = done == 1
	}
	return m, rows.Err()
}

// waitMutations waits until the events table has a mutation not in before
// and every such mutation is done.
func waitMutations(ctx context.Context, conn chstore.Conn, before map[string]bool) error {
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
		if created > 0 && running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the deletion is still running in ClickHouse (%d of its mutations not done; see system.mutations): %w; it goes on, and running forget again later records it", running, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TTLVersion is the first ClickHouse release with table TTLs
// (ALTER TABLE ... MODIFY TTL).
var TTLVersion = chstore.Version{Major: 19, Minor: 6}

// Retention is what Retain did.
type Retention struct {
	Server  chstore.Version
	TTL     bool     // the table's TTL was set: the server removes old rows in its merges
	Dropped []string // else: the month partitions dropped (YYYYMM)
	Kept    []string // and those kept
}

// Retain removes events received more than months months ago. On servers
// with TTL support it sets the table's TTL, received_at + months MONTH,
// which the server applies from then on by itself. On older servers
// (18.16) it drops every month partition (toYYYYMM(received_at)) whose
// whole month lies that far back: it keeps up to one month more than a
// TTL would, and it removes only what is old now, so run it regularly
// (a daily cron job). now is the time "ago" counts from.
func Retain(ctx context.Context, conn chstore.Conn, months int, now time.Time) (Retention, error) {
	var r Retention
	if months < 1 || months > 1200 {
		return r, fmt.Errorf("retention of %d months: give 1 to 1200", months)
	}
	var err error
	if r.Server, err = chstore.ServerVersion(ctx, conn); err != nil {
		return r, err
	}
	if r.Server.AtLeast(TTLVersion) {
		if err := conn.Exec(ctx, statement("events_modify_ttl"), months); err != nil {
			return r, fmt.Errorf("cannot set the TTL of events: %w", err)
		}
		r.TTL = true
		return r, nil
	}
	rows, err := conn.Query(ctx, statement("events_partitions"))
	if err != nil {
		return r, fmt.Errorf("cannot read the partitions of events (system.parts): %w", err)
	}
	var parts []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return r, err
		}
		parts = append(parts, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	for _, p := range parts {
		month, err := time.Parse("200601", p)
		if err != nil {
			return r, fmt.Errorf("partition %q of events is not a month (YYYYMM); was events created by pixelctl migrate?", p)
		}
		if !Expired(month, months, now) {
			r.Kept = append(r.Kept, p)
			continue
		}
		if err := conn.Exec(ctx, statement("events_drop_partition"), uint32(month.Year()*100+int(month.Month()))); err != nil {
			return r, fmt.Errorf("cannot drop partition %s of events: %w", p, err)
		}
		r.Dropped = append(r.Dropped, p)
	}
	return r, nil
}

// Expired reports whether every event of the month starting at month was
// received more than months months before now: the month after it begins
// at least months months before now.
func Expired(month time.Time, months int, now time.Time) bool {
	end := time.Date(month.Year(), month.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	return !end.AddDate(0, months, 0).After(now)
}

// statement returns the SQL of schemas/internal/<name>.sql as it is sent.
func statement(name string) string {
	b, err := schemas.FS.ReadFile("internal/" + name + ".sql")
	if err != nil {
		panic("privacy: missing embedded statement " + name) // a build defect, not a runtime condition
	}
	return schemas.Statement(string(b))
}
