package rundir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLockAndEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if Env(dir) != nil {
		t.Fatal("Env of a directory that does not exist")
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if Env(dir) != nil {
		t.Fatal("Env before the stack wrote its addresses")
	}
	// A second devstack: refused, told who runs and where, nothing touched.
	_, err = Acquire(dir)
	var running *RunningError
	if !errors.As(err, &running) || running.Pid != os.Getpid() || len(running.Vars) != 0 ||
		!strings.Contains(err.Error(), "still starting") || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Acquire while starting: %v", err)
	}

	vars := []string{"CLICKHOUSE_ADDR=127.0.0.1:19000", "KAFKA_BROKERS=127.0.0.1:19092"}
	if err := l.WriteEnv(vars); err != nil {
		t.Fatal(err)
	}
	if got := Env(dir); got["CLICKHOUSE_ADDR"] != "127.0.0.1:19000" || got["KAFKA_BROKERS"] != "127.0.0.1:19092" || len(got) != 2 {
		t.Fatalf("Env = %v", got)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "stack.env"))
	_, err = Acquire(dir)
	if !errors.As(err, &running) || strings.Join(running.Vars, ",") != strings.Join(vars, ",") ||
		!strings.Contains(err.Error(), "\n  CLICKHOUSE_ADDR=127.0.0.1:19000\n  KAFKA_BROKERS=127.0.0.1:19092\n") {
		t.Fatalf("second Acquire while running: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "stack.env")); string(after) != string(before) {
		t.Fatalf("the refused Acquire changed stack.env:\n%s", after)
	}

	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stack.env")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stack.env after Release: %v", err)
	}
	if Env(dir) != nil {
		t.Fatal("Env after Release")
	}
	l, err = Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l.Release()
}

// A stack.env whose devstack was killed is not believed, and the next
// devstack removes it.
func TestStaleEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "LOCK"), []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stack.env"), []byte("CLICKHOUSE_ADDR=127.0.0.1:19000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if Env(dir) != nil {
		t.Fatal("a stale stack.env was believed")
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := os.Stat(filepath.Join(dir, "stack.env")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale stack.env kept: %v", err)
	}
	if pid, _ := os.ReadFile(filepath.Join(dir, "LOCK")); string(pid) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("LOCK holds %q", pid)
	}
}
