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
	c := newCmd("pixelctl forget", "Delete one person's events and record the request in erasures:\n"+
		"  pixelctl forget -visitor VISITOR_ID      (the _pxid cookie's value)\n"+
		"  pixelctl forget -email jane@example.com  (by its hashes; the address is not stored)\n"+
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
	fmt.Fprintf(out, "Deleted the events of %s %s: %d rows before the deletion. Recorded in erasures (requested by %s).\n", e.KeyKind, e.Key, e.RowsBefore, e.RequestedBy)
	return nil
}

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
	c := newCmd("pixelctl retention", "Remove events received more than -months months ago.\n"+
		"ClickHouse 19.6 and later: sets the table's TTL, which the server applies from then on by itself.\n"+
		"Older servers (18.16): drops each month partition whose whole month is that old, now; run it daily (cron).", false)
	var months int
	c.fs.Int(&months, "months", "PIXELCTL_RETENTION_MONTHS", 0, "keep this many `months` of events (required, 1 to 1200)")
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
	r, err := privacy.Retain(ctx, conn, months, time.Now())
	if err != nil {
		return err
	}
	if c.format == "json" {
		return writeJSON(out, struct {
			Server  string   `json:"server"`
			TTL     bool     `json:"ttl"`
			Months  int      `json:"months"`
			Dropped []string `json:"dropped_partitions"`
			Kept    []string `json:"kept_partitions"`
		}{r.Server.String(), r.TTL, months, nonNil(r.Dropped), nonNil(r.Kept)})
	}
	if r.TTL {
		fmt.Fprintf(out, "ClickHouse %v: events now expire %d months after received_at (TTL); the server removes them in its merges.\n", r.Server, months)
		return nil
	}
	fmt.Fprintf(out, "ClickHouse %v has no TTL: dropped %d month partitions (%s), kept %d (%s). Run this again regularly.\n",
		r.Server, len(r.Dropped), orNone(r.Dropped), len(r.Kept), orNone(r.Kept))
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
