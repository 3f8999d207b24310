package apptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

// cleanEnv is the test's environment without any of the pipeline's
// variables: a shell with nothing set, as a user's after a fresh login.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "CLICKHOUSE_"), strings.HasPrefix(name, "KAFKA_"), strings.HasPrefix(name, "COLLECTOR_"),
			strings.HasPrefix(name, "CONSUMER_"), strings.HasPrefix(name, "DEVSTACK_"), strings.HasPrefix(name, "DEVBROKER_"),
			strings.HasPrefix(name, "PIXELCTL_"), strings.HasPrefix(name, "CONSOLE_"), strings.HasPrefix(name, "LOG_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runIn runs a binary of binDir in dir with env, and returns its standard
// output, its standard error and its error.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// checkout returns a directory that looks like a checkout with a running
// make run: run/ in it is the stack's directory.
func checkout(t *testing.T, runDir string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(runDir, filepath.Join(dir, rundir.Default)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Run from a checkout with no flags and no environment, pixelctl and the
// consumer use the ClickHouse of the make run that runs there
// (run/stack.env), say so, and say where the address came from when they
// cannot reach it; a flag or a variable wins; the file of a make run that
// is not running any more is ignored.
func TestToolsReadTheStackFile(t *testing.T) {
	runDir := filepath.Join(t.TempDir(), "run")
	lock, err := rundir.Acquire(runDir) // this test is the running make run
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	port, err := devstack.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := lock.WriteEnv([]string{"CLICKHOUSE_ADDR=" + addr, "KAFKA_BROKERS=127.0.0.1:1", "KAFKA_TOPIC=pixel.events"}); err != nil {
		t.Fatal(err)
	}
	dir, env := checkout(t, runDir), cleanEnv()
	query := []string{"report", "conversions", "-from", "2026-01-01", "-to", "2026-01-02"}

	_, stderr, err := runIn(t, dir, env, "pixelctl", query...)
	for _, want := range []string{
		"using ClickHouse at " + addr + " (from run/stack.env, written by make run)\n",
		"cannot reach ClickHouse at [" + addr + "]",
		"the address came from run/stack.env, written by make run",
	} {
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("pixelctl from the checkout: %v, stderr lacks %q:\n%s", err, want, stderr)
		}
	}
	_, help, _ := runIn(t, dir, env, "pixelctl", "migrate", "-help")
	if !strings.Contains(help, "Now from run/stack.env, written by make run (a flag or a variable wins): -clickhouse-addr="+addr) {
		t.Errorf("pixelctl migrate -help does not say where -clickhouse-addr comes from:\n%s", help)
	}

	// The variable, then the flag, win over the file.
	_, stderr, err = runIn(t, dir, append(env, "CLICKHOUSE_ADDR=127.0.0.1:2"), "pixelctl", query...)
	if err == nil || strings.Contains(stderr, "using ClickHouse") || !strings.Contains(stderr, "at [127.0.0.1:2]") || !strings.Contains(stderr, "the address came from $CLICKHOUSE_ADDR") {
		t.Errorf("pixelctl with CLICKHOUSE_ADDR: %v\n%s", err, stderr)
	}
	_, stderr, err = runIn(t, dir, append(env, "CLICKHOUSE_ADDR=127.0.0.1:2"), "pixelctl", append(query, "-clickhouse-addr", "127.0.0.1:3")...)
	if err == nil || !strings.Contains(stderr, "at [127.0.0.1:3]") || !strings.Contains(stderr, "the address came from -clickhouse-addr") {
		t.Errorf("pixelctl with -clickhouse-addr after the query's name: %v\n%s", err, stderr)
	}

	// The consumer says which ClickHouse it waits for, and why that one.
	cmd := exec.Command(filepath.Join(binDir, "consumer"), "-admin-addr", "127.0.0.1:0")
	cmd.Dir, cmd.Env = dir, env
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	want := `"clickhouse":["` + addr + `"],"clickhouse_from":"run/stack.env, written by make run",`
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "ClickHouse is not reachable yet") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if out := logs.String(); !strings.Contains(out, want) || err == nil || !strings.Contains(out, "the address came from run/stack.env, written by make run") {
		t.Errorf("consumer from the checkout (%v) did not say which ClickHouse it waited for and why:\n%s", err, out)
	}

	// Once the stack stopped, the file is not believed, even if it is left.
	stale, _ := os.ReadFile(filepath.Join(runDir, "stack.env"))
	lock.Release()
	if err := os.WriteFile(filepath.Join(runDir, "stack.env"), stale, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, _ = runIn(t, dir, env, "pixelctl", append(query, "-clickhouse-database", "no_such_db")...)
	if strings.Contains(stderr, addr) {
		t.Errorf("pixelctl believed the stack.env of a stopped make run:\n%s", stderr)
	}
}

// A second make run on the same directory says once that a stack runs, with
// its pid and addresses, and exits at once, starting and changing nothing;
// the first one's stack.env names its servers until it stops.
func TestSecondMakeRunRefuses(t *testing.T) {
	s := NewStack(t, binDir)
	first := startDevstack(t, s)
	envFile := filepath.Join(s.Cfg.Dir, "stack.env")
	before, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("the running stack wrote no stack.env: %v", err)
	}
	for _, want := range []string{"CLICKHOUSE_ADDR=" + s.ClickHouseAddr() + "\n", "KAFKA_BROKERS=" + s.Cfg.BrokerAddr + "\n", "KAFKA_TOPIC=" + s.Cfg.Topic + "\n", "COLLECTOR_ADDR=" + s.Cfg.CollectorAddr + "\n"} {
		if !bytes.Contains(before, []byte(want)) {
			t.Errorf("stack.env lacks %q:\n%s", want, before)
		}
	}
	// The banner follows the readiness the start waited for: poll for it.
	want := "export CLICKHOUSE_ADDR=" + s.ClickHouseAddr() + " KAFKA_BROKERS=" + s.Cfg.BrokerAddr + " KAFKA_TOPIC=" + s.Cfg.Topic
	devstacktest.WaitFor(t, "the banner in stack.log", 10*time.Second, func() (bool, string) {
		log, _ := os.ReadFile(filepath.Join(s.Cfg.Dir, "stack.log"))
		return bytes.Contains(log, []byte(want)), fmt.Sprintf("stack.log lacks %q:\n%s", want, log)
	})
	lockBefore, _ := os.ReadFile(filepath.Join(s.Cfg.Dir, "LOCK"))

	// Other ports, so that a start that went ahead could not hide behind
	// a bind failure.
	start := time.Now()
	stdout, stderr, err := runIn(t, t.TempDir(), cleanEnv(), "devstack", "-dir", s.Cfg.Dir, "-bin-dir", binDir,
		"-collector-addr", "127.0.0.1:0", "-collector-admin-addr", "127.0.0.1:0", "-consumer-admin-addr", "127.0.0.1:0",
		"-console-addr", "127.0.0.1:0", "-console-admin-addr", "127.0.0.1:0", "-forwarder-admin-addr", "127.0.0.1:0",
		"-clickhouse-port", "0", "-clickhouse-http-port", "0", "-broker-addr", "127.0.0.1:0", "-demo-addr=")
	took := time.Since(start)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("second devstack: %v, want exit status 1\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	for _, want := range []string{
		"devstack: a stack is already running in " + s.Cfg.Dir + "/ (devstack, pid " + strconv.Itoa(first.cmd.Process.Pid) + "), using:\n",
		"  CLICKHOUSE_ADDR=" + s.ClickHouseAddr() + "\n",
		"  COLLECTOR_ADDR=" + s.Cfg.CollectorAddr + "\n",
		"Nothing was started or changed.",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("second devstack's message lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Count(stderr, "already running") != 1 || stdout != "" || strings.Contains(stderr, "applied") || strings.Contains(stderr, "migrat") {
		t.Errorf("second devstack said more than that a stack runs:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if took > 10*time.Second {
		t.Errorf("second devstack took %s to refuse", took)
	}
	after, _ := os.ReadFile(envFile)
	lockAfter, _ := os.ReadFile(filepath.Join(s.Cfg.Dir, "LOCK"))
	if !bytes.Equal(after, before) || !bytes.Equal(lockAfter, lockBefore) {
		t.Errorf("the second devstack changed the run directory:\nstack.env %q\nLOCK %q", after, lockAfter)
	}
	if err := first.waitHTTP("http://"+s.Cfg.CollectorAdminAddr+"/readyz", 10*time.Second); err != nil {
		t.Errorf("the first stack after the second devstack: %v", err)
	}
	t.Logf("second devstack refused in %s", took.Round(time.Millisecond))

	if err := first.interrupt(2 * time.Minute); err != nil {
		t.Fatalf("first devstack: %v", err)
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("stack.env after the stack stopped: %v", err)
	}
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
