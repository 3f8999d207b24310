package devstacktest

import (
	"context"
	"os"
	"os/exec"
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

// MountTmpfs mounts a tmpfs of size (as mount's size= option, e.g. "2m") on
// a new directory until the test ends. It needs root, as make test runs;
// elsewhere, or where the mount fails, the test is skipped.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// WaitFor polls cond every 10 ms until it holds, failing the test after
// within with cond's last description of what it saw.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
