package devstacktest

import (
	"context"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
)

// Context returns a context that ends after 60 s or when the test ends.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Open opens a connection with o, closed when the test ends.
func Open(t testing.TB, o chstore.Options) chstore.Conn {
	t.Helper()
	conn, err := chstore.Open(Context(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// QueryUint64 runs a query that returns one UInt64 and returns it, failing
// the test on error.
func QueryUint64(t testing.TB, conn chstore.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(Context(t), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
