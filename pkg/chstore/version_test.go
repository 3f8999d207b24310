package chstore_test

import (
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want chstore.Version
	}{
		{"18.16.1", chstore.Version{18, 16, 1}},
		{"22.2", chstore.Version{22, 2, 0}},
		{"24.3.2.23", chstore.Version{24, 3, 2}},
		{" 21.8.15.7\n", chstore.Version{21, 8, 15}},
		{"1.1.54394", chstore.Version{1, 1, 54394}},
	} {
		got, err := chstore.ParseVersion(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "22", "22.", ".2", "v22.2", "22.2-lts", "22.2.1.2.3", "22.-2", "x.y"} {
		if v, err := chstore.ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", bad, v)
		}
	}
}

func TestVersionCompare(t *testing.T) {
	ordered := []chstore.Version{{1, 1, 54394}, {18, 16, 0}, {18, 16, 1}, {18, 17, 0}, {21, 12, 9}, {22, 1, 99}, {22, 2, 0}, {22, 2, 1}, {22, 10, 0}, {24, 3, 2}}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
			if got := a.AtLeast(b); got != (i >= j) {
				t.Errorf("%v.AtLeast(%v) = %v", a, b, got)
			}
		}
	}
	if (chstore.Version{}).AtLeast(chstore.Version{0, 0, 1}) || !(chstore.Version{18, 16, 1}).AtLeast(chstore.Version{}) {
		t.Error("the zero version is older than any release, and every release is at least the zero version")
	}
	if s := (chstore.Version{22, 2, 0}).String(); s != "22.2.0" {
		t.Errorf("String() = %q", s)
	}
}

// The server's version() and the version it announces in the handshake (the
// insert path reads that one) agree; here they are 18.16, what Debian ships.
func TestServerVersion(t *testing.T) {
	conn := open(t, devstacktest.Database(t))
	v, err := chstore.ServerVersion(testContext(t), conn)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := conn.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v != (chstore.Version{int(hs.Version.Major), int(hs.Version.Minor), int(hs.Version.Patch)}) {
		t.Fatalf("version() is %v, the handshake says %v", v, hs.Version)
	}
	if !v.AtLeast(chstore.Version{18, 16, 0}) {
		t.Fatalf("server version %v: the project needs at least 18.16", v)
	}
	t.Logf("ClickHouse %v", v)
}

// An insert named by a token works on every server: one that knows
// insert_deduplication_token gets it and drops the retry of a stored block;
// an older one (18.16 here) would refuse the setting, so it gets none.
func TestInsertDeduplicationToken(t *testing.T) {
	o := devstacktest.Database(t)
	conn := open(t, o)
	ctx := testContext(t)
	v, err := chstore.ServerVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	rows := buildRows(testRows)
	n := uint64(len(testRows))
	if err := chstore.Insert(ctx, conn, rows, "pixel.events/0:0-5/"+rows.Digest()); err != nil {
		t.Fatalf("insert with a token on ClickHouse %v: %v", v, err)
	}
	if c := queryUint64(t, conn, "SELECT count() FROM events"); c != n {
		t.Fatalf("%d rows, want %d", c, n)
	}
	if v.AtLeast(chstore.InsertDeduplicationToken) {
		// The same block again under the same token is dropped (migration
		// 0003 gave the table its de-duplication window).
		if err := chstore.Insert(ctx, conn, rows, "pixel.events/0:0-5/"+rows.Digest()); err != nil {
			t.Fatal(err)
		}
		if c := queryUint64(t, conn, "SELECT count() FROM events"); c != n {
			t.Fatalf("a retry under the same token stored %d rows, want %d in all", c-n, n)
		}
		return
	}
	// What the version check saves us from on this server.
	forced := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_deduplication_token": "t"}))
	if err := conn.Exec(forced, "INSERT INTO events (event_id) SELECT 'forced'"); err == nil || !strings.Contains(err.Error(), "insert_deduplication_token") {
		t.Fatalf("ClickHouse %v took insert_deduplication_token (err = %v); raise chstore.InsertDeduplicationToken's check", v, err)
	}
	// Without the setting the retry is stored again, identical.
	if err := chstore.Insert(ctx, conn, rows, "pixel.events/0:0-5/"+rows.Digest()); err != nil {
		t.Fatal(err)
	}
	if c, d := queryUint64(t, conn, "SELECT count() FROM events"), queryUint64(t, conn, "SELECT count() FROM events_unique"); c != 2*n || d != n {
		t.Fatalf("after a retry on %v: %d rows, %d in events_unique; want %d and %d", v, c, d, 2*n, n)
	}
}
