package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

func pixelctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, args, &out)
	return out.String(), err
}

func TestMigrateReportsSkippedMigrations(t *testing.T) {
	ch := devstacktest.ClickHouse(t)
	db := fmt.Sprintf("t_pixelctl_%06d", rand.IntN(1_000_000))
	args := []string{"migrate", "-clickhouse-addr", ch.Addr(), "-clickhouse-database", db}
	out, err := pixelctl(t, args...)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	ms, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := chstore.Open(context.Background(), chstore.Options{Addr: []string{ch.Addr()}, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server, err := chstore.ServerVersion(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	var applied, skipped []string
	var last uint32
	for _, m := range ms {
		if server.AtLeast(m.Requires) {
			applied = append(applied, fmt.Sprintf("applied %04d_%s\n", m.Version, m.Name))
			last = m.Version
		} else {
			skipped = append(skipped, fmt.Sprintf("skipped %04d_%s: it needs ClickHouse %d.%d or later, the server is %v; the first migrate after an upgrade applies it\n",
				m.Version, m.Name, m.Requires.Major, m.Requires.Minor, server))
		}
	}
	if server.AtLeast(chstore.InsertDeduplicationToken) == (len(skipped) > 0) {
		t.Fatalf("on ClickHouse %v: skipped %q", server, skipped)
	}
	tail := fmt.Sprintf("database %s is at version %d (ClickHouse %v)\n", db, last, server)
	if want := strings.Join(applied, "") + strings.Join(skipped, "") + tail; out != want {
		t.Fatalf("first migrate printed\n%s\nwant\n%s", out, want)
	}
	// The skipped ones are not recorded: every run reports them again.
	out, err = pixelctl(t, args...)
	if want := strings.Join(skipped, "") + tail; err != nil || out != want {
		t.Fatalf("second migrate: %v, printed\n%s\nwant\n%s", err, out, want)
	}
}
