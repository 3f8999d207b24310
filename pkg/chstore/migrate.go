package chstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/schemas"
)

// Migration is one versioned file under schemas/clickhouse: NNNN_name.sql.
//
// A file whose first line is "-- requires: 22.2" uses a feature of that
// ClickHouse release: Migrate applies it only on a server at least that new.
// On an older server it is skipped and not recorded, so the first Migrate
// after an upgrade applies it. Such a migration must be optional (a setting,
// an index); later migrations must not depend on it.
type Migration struct {
	Version    uint32
	Name       string
	Checksum   string   // sha256 of the file
	Statements []string // split on semicolons that end a line
	Requires   Version  // oldest server it runs on; zero: any
}

// requires reads the optional first line of a migration file,
// "-- requires: 22.2", and returns the version text.
func requires(file string) (string, bool) {
	first, _, _ := strings.Cut(file, "\n")
	c, ok := strings.CutPrefix(strings.TrimSpace(first), "--")
	if !ok {
		return "", false
	}
	return strings.CutPrefix(strings.TrimSpace(c), "requires:")
}

// Migrations reads the embedded migration files in version order.
func Migrations() ([]Migration, error) {
	return readMigrations(schemas.FS, "clickhouse")
}

func readMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s: name it NNNN_description.sql", e.Name())
		}
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migration files %s and %s share version %d", prev, e.Name(), v)
		}
		seen[uint32(v)] = e.Name()
		data, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		m := Migration{
			Version:    uint32(v),
			Name:       name,
			Checksum:   hex.EncodeToString(sum[:]),
			Statements: splitStatements(string(data)),
		}
		if req, ok := requires(string(data)); ok {
			if m.Requires, err = ParseVersion(req); err != nil {
				return nil, fmt.Errorf("migration file %s: %w", e.Name(), err)
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// splitStatements splits a file into statements at semicolons that end a line.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			if st := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(cur.String()), ";")); st != "" {
				out = append(out, st)
			}
			cur.Reset()
		}
	}
	if st := strings.TrimSpace(cur.String()); st != "" {
		out = append(out, st)
	}
	return out
}

// addColumnPattern is "ALTER TABLE t ADD COLUMN IF NOT EXISTS c ...", one
// column per statement.
// On a cluster the table is qualified by the database and the statement
// runs ON CLUSTER (see cluster.go).
var addColumnPattern = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(?:\w+\.)?(\w+)\s+(?:ON\s+CLUSTER\s+\w+\s+)?ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\s+(\w+)\s`)

// addColumnIfNotExists gives ADD COLUMN IF NOT EXISTS the same meaning on
// every server: ClickHouse 18.16 does not know the clause. For such a
// statement it reports skip when the column exists, else returns the
// statement without the clause; any other statement is returned as it is.
func addColumnIfNotExists(ctx context.Context, conn Conn, st string) (string, bool, error) {
	m := addColumnPattern.FindStringSubmatchIndex(st)
	if m == nil {
		return st, false, nil
	}
	table, column := st[m[2]:m[3]], st[m[4]:m[5]]
	var n uint64
	if err := conn.QueryRow(ctx, schemas.Internal("select_column_exists"), table, column).Scan(&n); err != nil {
		return "", false, fmt.Errorf("cannot check for column %s.%s: %w", table, column, err)
	}
	if n > 0 {
		return "", true, nil
	}
	clause := regexp.MustCompile(`(?i)\s+IF\s+NOT\s+EXISTS`).FindStringIndex(st[:m[5]])
	return st[:clause[0]] + st[clause[1]:], false, nil
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Applied []Migration // applied by this call
	Skipped []Migration // pending, but they require a newer server than Server
	Current uint32      // highest version now applied
	Server  Version     // the server's release
}

// Migrate creates the database when missing and applies every migration not
// yet recorded in its schema_migrations table, in version order. It is
// idempotent: statements use IF NOT EXISTS, so a run that died half-way can
// simply be repeated. An applied migration whose file changed is an error.
// A migration that requires a newer server than this one is skipped, not
// recorded, and listed in the result (see Migration).
func Migrate(ctx context.Context, o Options) (MigrateResult, error) {
	migrations, err := Migrations()
	if err != nil {
		return MigrateResult{}, err
	}
	return migrate(ctx, o, migrations, nil)
}

// migrate applies migrations. pretend, when not nil, stands in for the
// server's version() (tests pretend an upgrade with it).
func migrate(ctx context.Context, o Options, migrations []Migration, pretend *Version) (MigrateResult, error) {
	var res MigrateResult
	if err := o.defaults(); err != nil {
		return res, err
	}
	server, err := open(ctx, o, false)
	if err != nil {
		return res, err
	}
	err = execStatement(ctx, server, o, strings.ReplaceAll(schemas.Internal("create_database"), "{database}", o.Database))
	_ = server.Close()
	if err != nil {
		return res, fmt.Errorf("cannot create database %s: %w", o.Database, err)
	}
	conn, err := Open(ctx, o)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if err := execStatement(ctx, conn, o, schemas.Internal("create_migrations_table")); err != nil {
		return res, fmt.Errorf("cannot create %s.schema_migrations: %w", o.Database, err)
	}
	applied := map[uint32]string{}
	rows, err := conn.Query(ctx, schemas.Internal("select_migrations"))
	if err != nil {
		return res, fmt.Errorf("cannot read %s.schema_migrations: %w", o.Database, err)
	}
	for rows.Next() {
		var v uint32
		var name, sum string
		if err := rows.Scan(&v, &name, &sum); err != nil {
			rows.Close()
			return res, err
		}
		applied[v] = sum
		res.Current = max(res.Current, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	if pretend != nil {
		res.Server = *pretend
	} else if res.Server, err = ServerVersion(ctx, conn); err != nil {
		return res, err
	}
	for _, m := range migrations {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return res, fmt.Errorf("migration %04d_%s was changed after it was applied; add a new migration instead of editing an applied one", m.Version, m.Name)
			}
			continue
		}
		if !res.Server.AtLeast(m.Requires) {
			res.Skipped = append(res.Skipped, m)
			continue
		}
		for _, st := range m.Statements {
			if err := execStatement(ctx, conn, o, st); err != nil {
				return res, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		batch, err := conn.PrepareBatch(ctx, schemas.Internal("insert_migration"))
		if err != nil {
			return res, err
		}
		if err := batch.Append(m.Version, m.Name, m.Checksum, time.Now()); err != nil {
			return res, err
		}
		if err := batch.Send(); err != nil {
			return res, fmt.Errorf("cannot record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		res.Applied = append(res.Applied, m)
		res.Current = max(res.Current, m.Version)
	}
	return res, nil
}

// execStatement runs one statement of a migration: on a cluster
// (o.Cluster) its cluster form (cluster.go), ON CLUSTER or on one replica
// of each shard; an ADD COLUMN IF NOT EXISTS of a column that exists is
// skipped (addColumnIfNotExists).
func execStatement(ctx context.Context, conn Conn, o Options, st string) error {
	sts := []clusterStatement{{SQL: st}}
	if o.Cluster != "" {
		var err error
		if sts, err = clusterStatements(st, o.Cluster, o.Database); err != nil {
			return err
		}
	}
	for _, cs := range sts {
		var err error
		switch {
		case cs.PerShard:
			err = execOnNodes(ctx, conn, o, cs.SQL, false)
		case cs.PerNode:
			err = execOnNodes(ctx, conn, o, cs.SQL, true)
		default:
			err = execOne(ctx, conn, cs.SQL)
		}
		if err != nil && o.Cluster != "" {
			return fmt.Errorf("%w; the statement's cluster form: %.300s", err, cs.SQL)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func execOne(ctx context.Context, conn Conn, st string) error {
	st, skip, err := addColumnIfNotExists(ctx, conn, st)
	if err != nil || skip {
		return err
	}
	return conn.Exec(ctx, st)
}

// execOnNodes runs st on one replica of each shard of o.Cluster (the first
// that answers), or on every replica when every is true, as system.clusters
// on the connected node lists them.
func execOnNodes(ctx context.Context, conn Conn, o Options, st string, every bool) error {
	rows, err := conn.Query(ctx, schemas.Internal("select_cluster_replicas"), o.Cluster)
	if err != nil {
		return fmt.Errorf("cannot read the replicas of cluster %s: %w", o.Cluster, err)
	}
	shards := map[uint32][]string{}
	var order []uint32
	for rows.Next() {
		var shard uint32
		var host string
		var port uint16
		if err := rows.Scan(&shard, &host, &port); err != nil {
			rows.Close()
			return err
		}
		if shards[shard] == nil {
			order = append(order, shard)
		}
		shards[shard] = append(shards[shard], net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return fmt.Errorf("cluster %s is not in system.clusters of %v", o.Cluster, o.Addr)
	}
	for _, shard := range order {
		var errs []error
		done := false
		for _, addr := range shards[shard] {
			so := o
			so.Addr = []string{addr}
			c, err := Open(ctx, so)
			if err == nil {
				err = execOne(ctx, c, st)
				_ = c.Close()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", addr, err))
				if every {
					return errors.Join(errs...)
				}
				continue
			}
			done = true
			if !every {
				break
			}
		}
		if !done {
			return fmt.Errorf("shard %d of cluster %s: %w", shard, o.Cluster, errors.Join(errs...))
		}
	}
	return nil
}
