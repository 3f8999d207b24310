package chstore_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// freshOptions names a database that does not exist yet on the test server.
func freshOptions(t *testing.T, prefix string) chstore.Options {
	t.Helper()
	ch := devstacktest.ClickHouse(t)
	return chstore.Options{Addr: []string{ch.Addr()}, Database: fmt.Sprintf("%s_%06d", prefix, rand.IntN(1_000_000))}
}

type migrationRecord struct {
	version        uint32
	name, checksum string
}

func appliedMigrations(t *testing.T, conn chstore.Conn) []migrationRecord {
	t.Helper()
	rows, err := conn.Query(testContext(t), "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []migrationRecord
	for rows.Next() {
		var r migrationRecord
		if err := rows.Scan(&r.version, &r.name, &r.checksum); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateCreatesDatabaseAndRecordsVersions(t *testing.T) {
	o := freshOptions(t, "t_migrate")
	all, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no embedded migrations")
	}
	server, err := chstore.ServerVersion(testContext(t), open(t, chstore.Options{Addr: o.Addr, Database: "default"}))
	if err != nil {
		t.Fatal(err)
	}
	// The migrations this server runs; the others wait for an upgrade.
	var migrations, skipped []chstore.Migration
	for _, m := range all {
		if server.AtLeast(m.Requires) {
			migrations = append(migrations, m)
		} else {
			skipped = append(skipped, m)
		}
	}
	last := migrations[len(migrations)-1].Version
	names := func(ms []chstore.Migration) string {
		var b strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&b, "%04d_%s ", m.Version, m.Name)
		}
		return b.String()
	}

	res, err := chstore.Migrate(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != len(migrations) || res.Current != last || names(res.Skipped) != names(skipped) || res.Server != server {
		t.Fatalf("first run on %v applied %d migrations up to %d, skipped %q; want %d up to %d, skipped %q",
			res.Server, len(res.Applied), res.Current, names(res.Skipped), len(migrations), last, names(skipped))
	}

	conn := open(t, o)
	if n := queryUint64(t, conn, "SELECT count() FROM system.tables WHERE database = ? AND name = 'events'", o.Database); n != 1 {
		t.Fatalf("%s.events: %d tables, want 1", o.Database, n)
	}
	want := make([]migrationRecord, len(migrations))
	for i, m := range migrations {
		want[i] = migrationRecord{m.Version, m.Name, m.Checksum}
	}
	if got := appliedMigrations(t, conn); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("schema_migrations = %v, want %v", got, want)
	}

	// A second run finds everything applied and changes nothing; what the
	// server is too old for is skipped again.
	res, err = chstore.Migrate(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.Current != last || names(res.Skipped) != names(skipped) {
		t.Fatalf("second run applied %d migrations, current %d, skipped %q; want 0, %d, %q", len(res.Applied), res.Current, names(res.Skipped), last, names(skipped))
	}
	if got := appliedMigrations(t, conn); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the second run schema_migrations = %v, want %v", got, want)
	}

	// A run that died after the statements but before recording them is
	// simply repeated: the statements are idempotent.
	if err := conn.Exec(testContext(t), "DROP TABLE schema_migrations"); err != nil {
		t.Fatal(err)
	}
	res, err = chstore.Migrate(testContext(t), o)
	if err != nil {
		t.Fatalf("repeating applied statements: %v", err)
	}
	if len(res.Applied) != len(migrations) {
		t.Fatalf("after losing the record, applied %d migrations, want %d", len(res.Applied), len(migrations))
	}
	if got := appliedMigrations(t, conn); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after repeating, schema_migrations = %v, want %v", got, want)
	}
}

func TestMigrateRefusesChangedMigration(t *testing.T) {
	o := freshOptions(t, "t_migrate_changed")
	migrations, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	first := migrations[0]

	// Record the first migration as applied with another file's checksum, as
	// if its file had been edited after it ran.
	server := open(t, chstore.Options{Addr: o.Addr, Database: "default"})
	ctx := testContext(t)
	for _, st := range []string{
		"CREATE DATABASE " + o.Database,
		"CREATE TABLE " + o.Database + ".schema_migrations (version UInt32, name String, checksum String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version",
		// INSERT ... SELECT: clickhouse-go's Exec of INSERT ... VALUES waits
		// for data blocks that ClickHouse 18.16 never asks for.
		fmt.Sprintf("INSERT INTO %s.schema_migrations SELECT %d, '%s', '%s', now()", o.Database, first.Version, first.Name, strings.Repeat("0", 64)),
	} {
		if err := server.Exec(ctx, st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}

	_, err = chstore.Migrate(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
		t.Fatalf("Migrate with a changed checksum: err = %v, want the changed-migration error", err)
	}
	conn := open(t, o)
	if n := queryUint64(t, conn, "SELECT count() FROM system.tables WHERE database = ? AND name = 'events'", o.Database); n != 0 {
		t.Fatal("Migrate ran statements of a changed migration")
	}
}

func TestMigrateRejectsBadDatabaseName(t *testing.T) {
	for _, name := range []string{"pixel; DROP DATABASE x", "1abc", "a-b", strings.Repeat("a", 65)} {
		_, err := chstore.Migrate(testContext(t), chstore.Options{Addr: []string{"127.0.0.1:1"}, Database: name})
		if err == nil || !strings.Contains(err.Error(), "must match") {
			t.Errorf("database %q: err = %v, want a name error before any connection", name, err)
		}
	}
}

// On ClickHouse 18.16 a migration that requires a newer server is skipped
// and not recorded, the others around it run; once the server is new enough
// (pretended here: the upgrade cannot happen in a test) the next run applies
// it, and the run after that has nothing left to do.
func TestMigrateSkipsWhatTheServerIsTooOldFor(t *testing.T) {
	o := freshOptions(t, "t_migrate_requires")
	fsys := fstest.MapFS{
		"m/0001_first.sql":  {Data: []byte("-- requires: 18.16\nCREATE TABLE IF NOT EXISTS first (x UInt8) ENGINE = Memory;\n")},
		"m/0002_future.sql": {Data: []byte("-- requires: 99.1\n-- a feature of a far newer server\nCREATE TABLE IF NOT EXISTS future (x UInt8) ENGINE = Memory;\n")},
		"m/0003_third.sql":  {Data: []byte("CREATE TABLE IF NOT EXISTS third (x UInt8) ENGINE = Memory;\n")},
	}
	ctx := testContext(t)
	tables := func(conn chstore.Conn) string {
		rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND name != 'schema_migrations' ORDER BY name", o.Database)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		return strings.Join(names, " ")
	}
	versions := func(ms []chstore.Migration) string {
		var s []string
		for _, m := range ms {
			s = append(s, fmt.Sprint(m.Version))
		}
		return strings.Join(s, " ")
	}
	check := func(run string, res chstore.MigrateResult, applied, skipped string, current uint32, wantTables, recorded string, conn chstore.Conn) {
		t.Helper()
		if got := versions(res.Applied); got != applied {
			t.Errorf("%s: applied %q, want %q", run, got, applied)
		}
		if got := versions(res.Skipped); got != skipped {
			t.Errorf("%s: skipped %q, want %q", run, got, skipped)
		}
		if res.Current != current {
			t.Errorf("%s: current %d, want %d", run, res.Current, current)
		}
		if got := tables(conn); got != wantTables {
			t.Errorf("%s: tables %q, want %q", run, got, wantTables)
		}
		var rec []string
		for _, r := range appliedMigrations(t, conn) {
			rec = append(rec, fmt.Sprint(r.version))
		}
		if got := strings.Join(rec, " "); got != recorded {
			t.Errorf("%s: schema_migrations holds %q, want %q", run, got, recorded)
		}
	}

	res, err := chstore.MigrateFrom(ctx, o, fsys, "m", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Server.AtLeast(chstore.Version{99, 1, 0}) || !res.Server.AtLeast(chstore.Version{18, 16, 0}) {
		t.Fatalf("server version %v", res.Server)
	}
	conn := open(t, o)
	check("first run", res, "1 3", "2", 3, "first third", "1 3", conn)

	res, err = chstore.MigrateFrom(ctx, o, fsys, "m", nil)
	if err != nil {
		t.Fatal(err)
	}
	check("second run", res, "", "2", 3, "first third", "1 3", conn)

	upgraded := chstore.Version{99, 1, 0}
	res, err = chstore.MigrateFrom(ctx, o, fsys, "m", &upgraded)
	if err != nil {
		t.Fatal(err)
	}
	check("after the upgrade", res, "2", "", 3, "first future third", "1 2 3", conn)

	res, err = chstore.MigrateFrom(ctx, o, fsys, "m", nil)
	if err != nil {
		t.Fatal(err)
	}
	check("once more", res, "", "", 3, "first future third", "1 2 3", conn)
}
