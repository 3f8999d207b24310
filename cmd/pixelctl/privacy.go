package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/privacy"
)

func forgetCmd(ctx context.Context, args []string, out io.Writer) error {
	c := newCmd("pixelctl forget", "Delete one person from events and from the rollups that hold visitor ids (sessions, page_views,\n"+
		"visitors), compute daily_stats's buckets of their events again without them, and record the\n"+
		"request in erasures:\n"+
		"  pixelctl forget -visitor VISITOR_ID      (the _pxid cookie's value)\n"+
		"  pixelctl forget -email jane@example.com  (by its hashes, and every visitor id seen with them; the\n"+
		"                                           address is not stored)\n"+
		"It waits until ClickHouse finished the deletion. Events arriving meanwhile are not deleted: run it\n"+
		"again once the person's data stopped arriving.", false)
	var visitor, email, by string
	var wait time.Duration
	c.fs.String(&visitor, "visitor", "PIXELCTL_FORGET_VISITOR", "", "the visitor `id` whose events to delete")
	c.fs.String(&email, "email", "PIXELCTL_FORGET_EMAIL", "", "the email `address` whose events to delete (normalised and hashed as the collector does; matched on email_sha256 and email_google_sha256)")
	c.fs.String(&by, "requested-by", "PIXELCTL_REQUESTED_BY", "", "who asked, for the audit (empty: this login name)")
	c.fs.Duration(&wait, "wait", "PIXELCTL_FORGET_WAIT", privacy.DefaultWait, "longest wait for ClickHouse to finish the deletion")
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	var who privacy.Subject
	switch {
	case (visitor == "") == (email == ""):
		return flagError{errors.New("forget: give -visitor ID or -email ADDRESS (one of them)")}
	case visitor != "":
		who.VisitorID = visitor
	default:
		var err error
		if who, err = privacy.EmailSubject(email); err != nil {
			return flagError{err}
		}
	}
	if by == "" {
		by = loginName()
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	e, err := privacy.Forget(ctx, conn, who, by)
	if err != nil {
		return err
	}
	if c.format == "json" {
		return writeJSON(out, e)
	}
	ids := "1 visitor id"
	if e.KeyKind == privacy.KindEmail {
		ids = fmt.Sprintf("%d visitor ids seen with it", e.Visitors)
	}
	fmt.Fprintf(out, "Forgot %s %s (%s). Recorded in erasures (requested by %s).\n", e.KeyKind, e.Key, ids, e.RequestedBy)
	var left []string
	for _, r := range e.Removed {
		verb := "deleted"
		if r.Table == "daily_stats" {
			verb = "computed again without them"
		}
		fmt.Fprintf(out, "  %-12s %d %s %s\n", r.Table, r.Rows, units[r.Table], verb)
		if r.Left > 0 {
			left = append(left, fmt.Sprintf("%d %s in %s", r.Left, units[r.Table], r.Table))
		}
	}
	if e.Visitors == 0 {
		fmt.Fprintf(out, "  %-12s nothing: no visitor id was seen with the email\n", "rollups")
	}
	if len(left) > 0 {
		fmt.Fprintf(out, "Arrived during the deletion and not deleted: %s. Run forget again once the person's data stopped arriving.\n", strings.Join(left, ", "))
	}
	return nil
}

// units says what a table's Removed.Rows count.
var units = map[string]string{"events": "rows", "sessions": "sessions", "page_views": "page views", "visitors": "profiles", "daily_stats": "buckets"}

// loginName is the user running pixelctl, for the audit.
func loginName() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if host, err := os.Hostname(); err == nil && name != "" {
		return name + "@" + host
	}
	if name == "" {
		return "unknown"
	}
	return name
}

func retentionCmd(ctx context.Context, args []string, out io.Writer) error {
	c := newCmd("pixelctl retention", "Remove events received more than -months months ago, and the rollups' rows that old.\n"+
		"ClickHouse 19.6 and later: sets the TTLs of events and daily_stats, which the server applies from then on by itself.\n"+
		"Older servers (18.16): drops each month partition of events and daily_stats whose whole month is that old, now.\n"+
		"Both: deletes the sessions, page views and visitor profiles whose last event is older (a mutation, waited for).\n"+
		"Run it daily (cron).", false)
	var months int
	var wait time.Duration
	c.fs.Int(&months, "months", "PIXELCTL_RETENTION_MONTHS", 0, "keep this many `months` of events (required, 1 to 1200)")
	c.fs.Duration(&wait, "wait", "PIXELCTL_RETENTION_WAIT", privacy.DefaultWait, "longest wait for ClickHouse to finish the rollups' deletions")
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	if months == 0 {
		return flagError{errors.New("retention: -months is required")}
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	r, err := privacy.Retain(ctx, conn, months, time.Now())
	if err != nil {
		return err
	}
	if c.format == "json" {
		return writeJSON(out, struct {
			Server            string            `json:"server"`
			TTL               bool              `json:"ttl"`
			Months            int               `json:"months"`
			Dropped           []string          `json:"dropped_partitions"`
			Kept              []string          `json:"kept_partitions"`
			DailyStatsDropped []string          `json:"daily_stats_dropped_partitions"`
			DailyStatsKept    []string          `json:"daily_stats_kept_partitions"`
			Cutoff            time.Time         `json:"cutoff"`
			Removed           []privacy.Removed `json:"removed"`
		}{r.Server.String(), r.TTL, months, nonNil(r.Dropped), nonNil(r.Kept), nonNil(r.DailyStatsDropped), nonNil(r.DailyStatsKept), r.Cutoff, r.Removed})
	}
	if r.TTL {
		fmt.Fprintf(out, "ClickHouse %v: events now expire %d months after received_at, daily_stats %d months after its bucket (TTL); the server removes them in its merges.\n", r.Server, months, months)
	} else {
		fmt.Fprintf(out, "ClickHouse %v has no TTL: events: dropped %d month partitions (%s), kept %d (%s); daily_stats: dropped %d (%s), kept %d (%s).\n",
			r.Server, len(r.Dropped), orNone(r.Dropped), len(r.Kept), orNone(r.Kept), len(r.DailyStatsDropped), orNone(r.DailyStatsDropped), len(r.DailyStatsKept), orNone(r.DailyStatsKept))
	}
	var parts []string
	for _, d := range r.Removed {
		parts = append(parts, fmt.Sprintf("%d %s", d.Rows, units[d.Table]))
	}
	fmt.Fprintf(out, "Deleted from the rollups what is older than %s UTC (sessions and profiles by their last event, page views by their start): %s. Run this again regularly.\n",
		r.Cutoff.Format(time.DateTime), strings.Join(parts, ", "))
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
