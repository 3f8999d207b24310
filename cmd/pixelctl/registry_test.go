package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

func TestPixelCommands(t *testing.T) {
	o := devstacktest.Database(t)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	with := func(args ...string) []string { return append(args, ch...) }
	const collector = "https://px.shop.example"

	out, err := pixelctl(t, with("pixel", "create", "-name", "Demo shop", "-id", "demo", "-domains", "shop.example,*.Shop.example,127.0.0.1",
		"-consent", "required", "-ip", "truncate", "-engagement-seconds", "30", "-time-zone", "Europe/Berlin", "-collector-url", collector)...)
	if err != nil {
		t.Fatalf("pixel create: %v\n%s", err, out)
	}
	secret := regexp.MustCompile(`(?m)^  (pxs_[A-Za-z0-9_-]{43})$`).FindStringSubmatch(out)
	if secret == nil || !strings.Contains(out, "Store it now") {
		t.Fatalf("pixel create printed no secret:\n%s", out)
	}
	for _, want := range []string{
		"Created pixel demo.", "shop.example, *.shop.example, 127.0.0.1", "Europe/Berlin", "required", "truncate", "30 s",
		`<script>!function(w,d,u){`, `(window,document,'https://px.shop.example/px.js?id=demo');pixel('init','demo');pixel('track','PageView');</script>`,
		`<noscript><img height="1" width="1" style="display:none" alt="" referrerpolicy="no-referrer-when-downgrade" src="https://px.shop.example/p.gif?id=demo&amp;ev=PageView&amp;noscript=1"></noscript>`,
		"https://px.shop.example/p.gif?id=demo&ev=PageView&dl={PAGE_URL}",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pixel create does not print %q:\n%s", want, out)
		}
	}

	// -format json, a random id; the secret is printed, its hash and the link key are not.
	out, err = pixelctl(t, with("pixel", "create", "-name", "Blog", "-format", "json", "-collector-url", collector)...)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Pixel    registry.Record
		Secret   string
		Snippets registry.Snippets
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(created.Pixel.ID) != 16 || !strings.HasPrefix(created.Secret, "pxs_") || !strings.Contains(created.Snippets.JS, created.Pixel.ID) ||
		created.Pixel.EngagementSeconds != 60 || created.Pixel.Consent != "granted" || strings.Contains(out, "link_key") || strings.Contains(out, "secret_sha256") {
		t.Fatalf("pixel create -format json:\n%s", out)
	}

	out, err = pixelctl(t, with("pixel", "create", "-name", "Again", "-id", "demo")...)
	if err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("a second demo: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"pixel", "create", "-id", "x"}, // no name
		{"pixel", "create", "-name", "N", "-id", "track"},
		{"pixel", "create", "-name", "N", "-domains", "shop.example:8080"},
		{"pixel", "create", "-name", "N", "-consent", "maybe"},
		{"pixel", "create", "-name", "N", "-time-zone", "Nowhere/Else"},
		{"pixel", "create", "-name", "N", "-collector-url", "ftp://x"},
		{"pixel", "show"},
		{"pixel", "show", "nope"},
		{"pixel", "frobnicate"},
	} {
		if out, err := pixelctl(t, with(args...)...); err == nil {
			t.Errorf("pixelctl %q succeeded:\n%s", args, out)
		}
	}

	out, err = pixelctl(t, with("pixel", "list")...)
	if err != nil || !regexp.MustCompile(`(?m)^demo +Demo shop +active +shop.example,\*.shop.example,127.0.0.1 +required +truncate +30s +Europe/Berlin$`).MatchString(out) ||
		!strings.Contains(out, created.Pixel.ID) {
		t.Errorf("pixel list: %v\n%s", err, out)
	}

	// update: only the given flags change; the id may come before the flags or after.
	if _, err = pixelctl(t, with("pixel", "update", "demo", "-name", "Demo", "-dnt", "drop")...); err != nil {
		t.Fatal(err)
	}
	out, err = pixelctl(t, append(with("pixel", "show", "-format", "json"), "demo")...)
	var r registry.Record
	if err != nil || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("pixel show: %v\n%s", err, out)
	}
	if r.Name != "Demo" || r.DNT != "drop" || r.Consent != "required" || r.TimeZone != "Europe/Berlin" || len(r.Domains) != 3 || r.Status != "active" {
		t.Errorf("after update: %+v", r)
	}

	if out, err = pixelctl(t, with("pixel", "disable", "demo")...); err != nil || !strings.Contains(out, "disabled") {
		t.Errorf("pixel disable: %v\n%s", err, out)
	}
	if out, err = pixelctl(t, with("pixel", "snippet", "demo", "-collector-url", collector)...); err != nil || !strings.Contains(out, "is disabled") || !strings.Contains(out, "px.js?id=demo") {
		t.Errorf("pixel snippet of a disabled pixel: %v\n%s", err, out)
	}
	if out, err = pixelctl(t, with("pixel", "enable", "demo", "-format", "json")...); err != nil || !strings.Contains(out, `"status": "active"`) {
		t.Errorf("pixel enable: %v\n%s", err, out)
	}

	conn, err := chstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	store := registry.NewStore(conn)
	out, err = pixelctl(t, with("pixel", "rotate-secret", "demo", "-format", "json")...)
	var rot struct{ ID, Secret string }
	if err != nil || json.Unmarshal([]byte(out), &rot) != nil || rot.ID != "demo" || rot.Secret == secret[1] {
		t.Fatalf("rotate-secret: %v\n%s", err, out)
	}
	p, err := store.Get(context.Background(), "demo")
	if err != nil || !p.CheckSecret([]byte(rot.Secret)) || p.CheckSecret([]byte(secret[1])) {
		t.Fatalf("after rotate-secret the new secret does not work, or the old one does: %v", err)
	}

	// link sign: the link verifies with the pixel's key.
	dest := "https://shop.example/sale?utm_source=news&utm_campaign=xmas"
	out, err = pixelctl(t, with("link", "sign", "-pixel", "demo", "-collector-url", collector, dest)...)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(strings.TrimSpace(out))
	if err != nil || u.Host != "px.shop.example" || u.Path != "/r" || u.Query().Get("u") != dest || !registry.VerifyLink(p, []byte(dest), []byte(u.Query().Get("s"))) {
		t.Fatalf("link sign printed %q", out)
	}
	for _, args := range [][]string{
		{"link", "sign", "-pixel", "demo", "javascript:alert(1)"},
		{"link", "sign", "-pixel", "demo", "//evil.example/"},
		{"link", "sign", "-pixel", "demo"},
		{"link", "sign", dest},
		{"link", "sign", "-pixel", "nope", dest},
	} {
		if out, err := pixelctl(t, with(args...)...); err == nil {
			t.Errorf("pixelctl %q succeeded:\n%s", args, out)
		}
	}
}

// Without -collector-url, the snippets use make run's collector when it
// runs in this directory.
func TestCollectorURLFromStackFile(t *testing.T) {
	o := devstacktest.Database(t)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	t.Chdir(t.TempDir())
	t.Setenv("PIXEL_COLLECTOR_URL", "")
	os.Unsetenv("PIXEL_COLLECTOR_URL")
	out, err := pixelctl(t, append([]string{"pixel", "create", "-name", "N", "-id", "local"}, ch...)...)
	if err != nil || !strings.Contains(out, "'https://collector.example/px.js?id=local'") {
		t.Fatalf("without a stack: %v\n%s", err, out)
	}
	lock, err := rundir.Acquire(rundir.Default)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if err := lock.WriteEnv([]string{"COLLECTOR_ADDR=127.0.0.1:18080"}); err != nil {
		t.Fatal(err)
	}
	out, err = pixelctl(t, append([]string{"pixel", "snippet", "local"}, ch...)...)
	if err != nil || !strings.Contains(out, "'http://127.0.0.1:18080/px.js?id=local'") {
		t.Fatalf("with a stack: %v\n%s", err, out)
	}
}

func TestForgetAndRetentionCommands(t *testing.T) {
	o := devstacktest.Database(t)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	with := func(args ...string) []string { return append(args, ch...) }
	conn, err := chstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	now := time.Now()
	old := now.AddDate(0, -14, 0).Unix()
	var rows chstore.Rows
	for i, e := range []*event.Event{
		{EventID: []byte("a"), VisitorID: []byte("v1"), TS: now.Unix(), ReceivedAt: now.Unix()},
		{EventID: []byte("b"), VisitorID: []byte("v1"), TS: now.Unix(), ReceivedAt: now.Unix()},
		{EventID: []byte("c"), VisitorID: []byte("v2"), TS: now.Unix(), ReceivedAt: now.Unix()},
		{EventID: []byte("d"), VisitorID: []byte("v2"), TS: old, ReceivedAt: old},
		{EventID: []byte("e"), VisitorID: []byte("v3"), TS: old, ReceivedAt: old},
	} {
		e.Name = []byte("PageView")
		_ = i
		rows.Append(e)
	}
	if err := chstore.Insert(context.Background(), conn, &rows, ""); err != nil {
		t.Fatal(err)
	}
	out, err := pixelctl(t, with("forget", "-visitor", "v1", "-requested-by", "dpo@shop")...)
	if err != nil {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	for _, want := range []string{"Forgot visitor_id v1 (1 visitor id)", "dpo@shop", "events       2 rows deleted", "sessions     1 sessions deleted",
		"page_views   2 page views deleted", "visitors     1 profiles deleted", "daily_stats  1 buckets computed again without them"} {
		if !strings.Contains(out, want) {
			t.Errorf("forget's output lacks %q:\n%s", want, out)
		}
	}
	for _, table := range []string{"events", "sessions", "page_views", "visitors"} {
		var left uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+table+" WHERE visitor_id = 'v1'").Scan(&left); err != nil || left != 0 {
			t.Fatalf("%d rows of v1 left in %s (%v)", left, table, err)
		}
	}
	for _, args := range [][]string{{"forget"}, {"forget", "-visitor", "v", "-email", "a@b"}, {"forget", "-email", "nobody"}, {"retention"}, {"retention", "-months", "-3"}} {
		if out, err := pixelctl(t, with(args...)...); err == nil {
			t.Errorf("pixelctl %q succeeded:\n%s", args, out)
		}
	}

	out, err = pixelctl(t, with("retention", "-months", "12", "-format", "json")...)
	var r struct {
		TTL               bool
		Dropped           []string `json:"dropped_partitions"`
		DailyStatsDropped []string `json:"daily_stats_dropped_partitions"`
		Removed           []struct {
			Table string
			Rows  uint64
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("retention: %v\n%s", err, out)
	}
	oldMonth := []string{time.Unix(old, 0).UTC().Format("200601")}
	if !r.TTL && (!reflect.DeepEqual(r.Dropped, oldMonth) || !reflect.DeepEqual(r.DailyStatsDropped, oldMonth)) {
		t.Errorf("retention dropped %q and %q:\n%s", r.Dropped, r.DailyStatsDropped, out)
	}
	// v3 was last seen 14 months ago, v2 is seen now: only v3's session
	// and profile go, and the page views of 14 months ago (each PageView
	// without a page_view_id is one), v2's and v3's.
	if fmt.Sprint(r.Removed) != "[{sessions 1} {page_views 2} {visitors 1}]" {
		t.Errorf("retention removed %v:\n%s", r.Removed, out)
	}
	out, err = pixelctl(t, with("retention", "-months", "12")...)
	if err != nil || !strings.Contains(out, "Deleted from the rollups what is older than") || !strings.Contains(out, "0 sessions, 0 page views, 0 profiles") {
		t.Errorf("retention again: %v\n%s", err, out)
	}
}

// Every command's -help lists each of its flags with its variable.
func TestRegistryCommandsHelp(t *testing.T) {
	for _, cmd := range [][]string{
		{"pixel", "create"}, {"pixel", "list"}, {"pixel", "show"}, {"pixel", "update"}, {"pixel", "disable"}, {"pixel", "enable"},
		{"pixel", "rotate-secret"}, {"pixel", "snippet"}, {"link", "sign"}, {"forget"}, {"retention"},
	} {
		out, err := pixelctlStderr(t, append(cmd, "-help")...)
		if err == nil || !strings.Contains(err.Error(), "help requested") {
			t.Errorf("%q -help: %v", cmd, err)
		}
		for _, want := range []string{"Usage of pixelctl " + strings.Join(cmd, " "), "-clickhouse-addr", "-format", "[$PIXELCTL_FORMAT]"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q -help lacks %q:\n%s", cmd, want, out)
			}
		}
		flags := regexp.MustCompile(`(?m)^  -[a-z-]+`).FindAllString(out, -1)
		envs := regexp.MustCompile(`\[\$[A-Z_]+\]`).FindAllString(out, -1)
		if len(flags) == 0 || len(flags) != len(envs) {
			t.Errorf("%q -help: %d flags, %d variables:\n%s", cmd, len(flags), len(envs), out)
		}
	}
}

// pixelctlStderr runs pixelctl and returns what it wrote to standard
// error (where -help goes, as for every command).
func pixelctlStderr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	_, runErr := pixelctl(t, args...)
	os.Stderr = saved
	w.Close()
	return string(<-done), runErr
}
