package chstore

import (
	"context"
	"io/fs"
	"strings"
)

// InsertLocal is Insert into table (a cluster's events_local) instead of
// events.
func InsertLocal(ctx context.Context, conn Conn, table string, rows *Rows) error {
	return insert(ctx, conn, strings.Replace(insertEvents, "INSERT INTO events ", "INSERT INTO "+table+" ", 1), rows, "")
}

// MigrateFrom applies the migrations under dir of fsys instead of the
// embedded ones; pretend, when not nil, stands in for the server's version.
func MigrateFrom(ctx context.Context, o Options, fsys fs.FS, dir string, pretend *Version) (MigrateResult, error) {
	ms, err := readMigrations(fsys, dir)
	if err != nil {
		return MigrateResult{}, err
	}
	return migrate(ctx, o, ms, pretend)
}
