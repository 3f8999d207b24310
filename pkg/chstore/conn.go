// Package chstore is the ClickHouse side of the pipeline: connecting over the
// native protocol, applying the versioned migrations under schemas/clickhouse
// (those that need a newer server only where it is new enough) and the
// columnar insert of event rows; pkg/analysis runs the queries under
// schemas/queries. Every statement comes from a .sql file under schemas/;
// values travel through the driver's batches and bound parameters.
package chstore

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"
)

// Options says where ClickHouse is. A zero field takes its value from
// DefaultOptions.
type Options struct {
	Addr        []string // native-protocol host:port
	Database    string
	User        string
	Password    string
	DialTimeout time.Duration
	ReadTimeout time.Duration
	// Cluster, when set, is the remote_servers cluster Migrate applies the
	// migrations to, ON CLUSTER, in their cluster form (cluster.go).
	Cluster string
}

// DefaultOptions are the defaults of every command that talks to ClickHouse:
// the server on this machine's native port, database pixel, user default.
func DefaultOptions() Options {
	return Options{
		Addr:        []string{"127.0.0.1:9000"},
		Database:    "pixel",
		User:        "default",
		DialTimeout: 5 * time.Second,
		ReadTimeout: 60 * time.Second,
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func (o *Options) defaults() error {
	def := DefaultOptions()
	if len(o.Addr) == 0 {
		o.Addr = def.Addr
	}
	if o.Database == "" {
		o.Database = def.Database
	}
	if !identRE.MatchString(o.Database) {
		return fmt.Errorf("chstore: database name %q must match %s", o.Database, identRE)
	}
	if o.Cluster != "" && !identRE.MatchString(o.Cluster) {
		return fmt.Errorf("chstore: cluster name %q must match %s", o.Cluster, identRE)
	}
	if o.User == "" {
		o.User = def.User
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = def.DialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = def.ReadTimeout
	}
	return nil
}

// Conn is a ClickHouse connection.
type Conn = driver.Conn

// Open connects to ClickHouse with the database as the default for every
// statement, and checks the connection. The database must exist unless
// Migrate is what runs next (use OpenServer for that).
func Open(ctx context.Context, o Options) (driver.Conn, error) {
	return open(ctx, o, true)
}

func open(ctx context.Context, o Options, useDB bool) (driver.Conn, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	db := o.Database
	if !useDB {
		db = "default"
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        o.Addr,
		Protocol:    clickhouse.Native,
		Auth:        clickhouse.Auth{Database: db, Username: o.User, Password: o.Password},
		DialTimeout: o.DialTimeout,
		ReadTimeout: o.ReadTimeout,
		Compression: &clickhouse.Compression{Method: compression(o.Addr)},
		ClientInfo:  clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "pixel", Version: "1"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot configure ClickHouse client for %v: %w", o.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("cannot reach ClickHouse at %v (native protocol, database %q): %w; check -clickhouse-addr and that the server runs", o.Addr, db, err)
	}
	return conn, nil
}

// compression is LZ4 for the native protocol's data blocks, except when
// every address is on this machine: there compressing only costs CPU on both
// ends (a quarter of the consumer's CPU went to compressing its inserts) and
// saves no network.
func compression(addrs []string) clickhouse.CompressionMethod {
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return clickhouse.CompressionLZ4
		}
	}
	return clickhouse.CompressionNone
}

// OpenRetrying connects to ClickHouse, waiting for it while it starts (a
// server that starts with its database); from says where its address came
// from, for the log and the error.
func OpenRetrying(ctx context.Context, o Options, from string, log zerolog.Logger) (conn Conn, err error) {
	for attempt := 1; ; attempt++ {
		conn, err = Open(ctx, o)
		if err == nil {
			return conn, nil
		}
		if attempt == 1 {
			log.Warn().Err(err).Strs("clickhouse", o.Addr).Str("clickhouse_from", from).Msg("ClickHouse is not reachable yet; retrying")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w; the address came from %s", err, from)
		case <-time.After(time.Second):
		}
	}
}
