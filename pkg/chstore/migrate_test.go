package chstore_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

// freshOptions names a database that does not exist yet on the test server.
func freshOptions(t *testing.T, prefix string) chstore.Options {
	t.Helper()
	ch := devstack.TestClickHouse(t)
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
	migrations, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(migrations) == 0 {
		t.Fatal("no embedded migrations")
	}
	last := migrations[len(migrations)-1].Version

	res, err := chstore.Migrate(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != len(migrations) || res.Current != last {
		t.Fatalf("first run applied %d migrations up to %d; want %d up to %d", len(res.Applied), res.Current, len(migrations), last)
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

	// A second run finds everything applied and changes nothing.
	res, err = chstore.Migrate(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.Current != last {
		t.Fatalf("second run applied %d migrations, current %d; want 0, %d", len(res.Applied), res.Current, last)
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
