package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

func TestAudienceExport(t *testing.T) {
	o := devstacktest.Database(t)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	with := func(args ...string) []string { return append(args, ch...) }
	if out, err := pixelctl(t, with("pixel", "create", "-name", "Shop", "-id", "shop", "-time-zone", "America/New_York", "-gpc", "flag", "-collector-url", "https://px.example")...); err != nil {
		t.Fatalf("pixel create: %v\n%s", err, out)
	}
	sha := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	ts := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).Unix()
	// 03:00 UTC on 1 December is still 30 November in New York, the
	// pixel's zone: in the window.
	night := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC).Unix()
	var rows chstore.Rows
	for _, x := range []struct {
		id, visitor, email string
		ts                 int64
		bot, gpc           bool
	}{
		{"a1", "alice", sha("alice@example.com"), ts, false, false}, {"b1", "bob", "", ts, false, false},
		{"r1", "robot", sha("r@example.com"), ts, true, false},
		{"n1", "night", sha("night@example.com"), night, false, false},
		// The pixel flags GPC (-gpc flag): it does not honour it, and exports the visitor.
		{"g1", "gpcer", sha("gpc@example.com"), ts, false, true},
	} {
		e := event.Event{EventID: []byte(x.id), PixelID: []byte("shop"), VisitorID: []byte(x.visitor), Name: []byte("AddToCart"), TS: x.ts, ReceivedAt: x.ts, IsBot: x.bot, GPC: x.gpc}
		e.Tracking[event.Channel] = []byte("browser")
		e.Tracking[event.EmailSHA256] = []byte(x.email)
		rows.Append(&e)
	}
	if err := chstore.Insert(devstacktest.Context(t), devstacktest.Open(t, o), &rows, ""); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "list.csv")
	stderr, err := pixelctlStderr(t, with("audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "meta", "-param", "to=2026-11-30", "-param", "days=7", "-o", file)...)
	if err != nil {
		t.Fatalf("audience export: %v\n%s", err, stderr)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := "EMAIL,PHONE,EXTERN_ID\n" + sha("alice@example.com") + ",,\n" + sha("gpc@example.com") + ",,\n" + sha("night@example.com") + ",,\n"; string(got) != want {
		t.Errorf("meta list:\n%s\nwant\n%s", got, want)
	}
	if want := "audience cart-abandoners of pixel shop up to 2026-11-30: exported 3; excluded 2 (consent 0, opted out 0, gpc 0, bot 1, no identifier 1)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q; want %q", stderr, want)
	}
	out, err := pixelctl(t, with("audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "ids", "-param", "to=2026-11-30")...)
	if err != nil || out != "visitor_id\nalice\nbob\ngpcer\nnight\n" {
		t.Errorf("ids: %v\n%q", err, out)
	}

	// The memory limits of pixelctl report apply: a limit too small for
	// any query fails it on the server.
	if _, err := pixelctl(t, with("audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "ids", "-param", "to=2026-11-30",
		"-max-memory-usage", "2000", "-max-bytes-before-external-group-by", "1000")...); err == nil || !strings.Contains(err.Error(), "Memory limit") {
		t.Errorf("-max-memory-usage 2000: %v; want ClickHouse's memory limit error", err)
	}

	// Wrong input: one line each, exit status 2 (a flagError or usageError).
	for _, args := range [][]string{
		{"audience", "export", "cart-abandoners", "-pixel", "nope", "-format", "meta"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "tiktok"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop"},
		{"audience", "export", "cart-abandoners", "-format", "meta"},
		{"audience", "export", "everyone", "-pixel", "shop", "-format", "meta"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "meta", "-param", "days=181"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "meta", "-param", "seconds=5"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "meta", "-param", "to=yesterday"},
		{"audience", "export", "-pixel", "shop", "-format", "meta"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "meta", "-param", "tz=UTC"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "meta", "-param", "gpc_mode=drop"},
		{"audience", "list"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "meta", "-max-memory-usage", "1GiB", "-max-bytes-before-external-group-by", "1GiB"},
		{"audience", "export", "cart-abandoners", "-pixel", "shop", "-format", "meta", "-max-memory-usage", "lots"},
	} {
		_, err := pixelctl(t, with(args...)...)
		var fe flagError
		var ue usageError
		if !errors.As(err, &fe) && !errors.As(err, &ue) {
			t.Errorf("%q: %v; want an error that exits with status 2", args, err)
		}
	}
	if out, err := pixelctl(t, "audience", "-help"); err != nil || !strings.Contains(out, "viewed-not-bought") || !strings.Contains(out, "-param pattern=String") {
		t.Errorf("audience -help: %v\n%s", err, out)
	}
}
