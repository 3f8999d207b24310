package devstack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// The supervisor's tests run real child processes: sh, and this test binary
// started again as a small server (serveChild).
func TestMain(m *testing.M) {
	if name := os.Getenv("DEVSTACK_TEST_CHILD"); name != "" {
		os.Exit(serveChild(name, os.Getenv("DEVSTACK_TEST_LOG")))
	}
	os.Exit(devstacktest.RunTests(m))
}

// serveChild is a child that runs until SIGTERM. It appends "NAME started
// PID" to the log once it handles SIGTERM, and "NAME stopped" when it got it.
func serveChild(name, log string) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	appendLine(log, fmt.Sprintf("%s started %d", name, os.Getpid()))
	<-sig
	appendLine(log, name+" stopped")
	return 0
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		panic(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// waitLimit bounds every poll; a healthy run needs a small fraction of it.
const waitLimit = 30 * time.Second

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	devstacktest.WaitFor(t, what, waitLimit, cond)
}

// logBuffer collects the supervisor's JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// entries returns the log lines with the given message, decoded.
func (l *logBuffer) entries(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

const exitedMsg = "child exited; starting it again"

func newSupervisor(b devstack.Backoff) (*devstack.Supervisor, *logBuffer) {
	var logs logBuffer
	return devstack.NewSupervisor(b, zerolog.New(&logs)), &logs
}

// shChild starts `sh -c script`, which counts as serving at once.
func shChild(name, script string) devstack.StartFunc {
	return func(context.Context) (devstack.Running, error) {
		p, err := devstack.StartProcess(name, "/bin/sh", []string{"-c", script}, nil, nil)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// testChild starts this test binary as serveChild and waits until it
// handles SIGTERM.
func testChild(t *testing.T, name, log string) devstack.StartFunc {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context) (devstack.Running, error) {
		before := len(readLines(t, log))
		p, err := devstack.StartProcess(name, exe, nil, []string{"DEVSTACK_TEST_CHILD=" + name, "DEVSTACK_TEST_LOG=" + log}, nil)
		if err != nil {
			return nil, err
		}
		want := fmt.Sprintf("%s started %d", name, p.Pid())
		for {
			for _, l := range readLines(t, log)[before:] {
				if l == want {
					return p, nil
				}
			}
			select {
			case <-p.Exited():
				return nil, fmt.Errorf("%s exited at start: %v", name, p.Err())
			case <-ctx.Done():
				p.Kill()
				return nil, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	b := devstack.DefaultBackoff()
	if b.Min != 500*time.Millisecond || b.Max != 30*time.Second {
		t.Fatalf("DefaultBackoff = %+v, want 0.5 s doubling to 30 s", b)
	}
	crash := 10 * time.Millisecond // a run that ends at once
	var got []time.Duration
	wait := time.Duration(0)
	for range 9 {
		wait = b.Next(wait, crash)
		got = append(got, wait)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("waits after crashes in a row: %v, want %v", got, want)
	}
	// A run as long as Reset starts over; a shorter one does not.
	if w := b.Next(wait, b.Reset); w != b.Min {
		t.Fatalf("after a run of %s: wait %s, want %s", b.Reset, w, b.Min)
	}
	if w := b.Next(4*time.Second, b.Reset-time.Millisecond); w != 8*time.Second {
		t.Fatalf("after a run just short of %s: wait %s, want 8s", b.Reset, w)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []devstack.Backoff{{}, {Min: time.Second, Max: time.Millisecond, Reset: time.Second}, {Min: time.Second, Max: time.Second}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}

// A child that crashes at once is started again and again with a growing
// wait, never given up on; the log says how it ended, and thins out.
func TestSupervisorRestartsCrashingChild(t *testing.T) {
	sup, logs := newSupervisor(devstack.Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond, Reset: time.Hour})
	if err := sup.Add(context.Background(), "crasher", shChild("crasher", "exit 3")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "12 restarts", func() (bool, string) {
		n := sup.Restarts("crasher")
		return n >= 12, fmt.Sprintf("%d restarts", n)
	})
	if err := sup.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	n := sup.Restarts("crasher")

	var logged []int
	for _, e := range logs.entries(t, exitedMsg) {
		r := int(e["restarts"].(float64))
		logged = append(logged, r)
		if e["child"] != "crasher" || e["exit"] != "exit status 3" {
			t.Errorf("restart %d logged as %v, want child crasher, exit status 3", r, e)
		}
		// The wait doubles from 10 ms to 80 ms.
		if want := min(10<<(r-1), 80); int(e["restart_in_ms"].(float64)) != want {
			t.Errorf("restart %d: restart_in_ms %v, want %d", r, e["restart_in_ms"], want)
		}
	}
	// The first five restarts are logged, then every tenth.
	want := []int{1, 2, 3, 4, 5}
	for r := 10; r <= int(n); r += 10 {
		want = append(want, r)
	}
	if fmt.Sprint(logged) != fmt.Sprint(want) {
		t.Fatalf("restarts logged: %v; want %v of %d", logged, want, n)
	}
	if after := sup.Restarts("crasher"); after != n {
		t.Fatalf("%d restarts after Stop returned, %d before", after, n)
	}
}

// The wait grows while a child crashes at once and starts over from Min
// after a run as long as Reset.
func TestSupervisorBackoffResetsAfterHealthyRun(t *testing.T) {
	count := filepath.Join(t.TempDir(), "runs")
	// Runs 0-2 crash at once; the later ones run for 2 s, twice Reset.
	script := `n=$(cat ` + count + ` 2>/dev/null || echo 0); echo $((n+1)) > ` + count + `
if [ "$n" -lt 3 ]; then exit 3; fi
sleep 2; exit 4`
	sup, logs := newSupervisor(devstack.Backoff{Min: 10 * time.Millisecond, Max: 10 * time.Second, Reset: time.Second})
	if err := sup.Add(context.Background(), "flaky", shChild("flaky", script)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "5 restarts", func() (bool, string) {
		n := sup.Restarts("flaky")
		return n >= 5, fmt.Sprintf("%d restarts", n)
	})
	if err := sup.Stop(10 * time.Second); err != nil {
		t.Logf("Stop: %v", err) // sh ends with SIGTERM's status
	}
	type restart struct {
		exit string
		wait int
	}
	var got []restart
	for _, e := range logs.entries(t, exitedMsg)[:5] {
		got = append(got, restart{e["exit"].(string), int(e["restart_in_ms"].(float64))})
	}
	want := []restart{{"exit status 3", 10}, {"exit status 3", 20}, {"exit status 3", 40}, {"exit status 4", 10}, {"exit status 4", 10}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restarts (exit, wait ms): %v, want %v", got, want)
	}
}

// A killed child is started again; Stop stops every child gracefully in the
// reverse order they were added.
func TestSupervisorRestartsKilledChildAndStopsInReverseOrder(t *testing.T) {
	log := filepath.Join(t.TempDir(), "children.log")
	sup, logs := newSupervisor(devstack.Backoff{Min: 10 * time.Millisecond, Max: time.Second, Reset: time.Hour})
	t.Cleanup(func() { _ = sup.Stop(10 * time.Second) })
	for _, name := range []string{"first", "second", "third"} {
		if err := sup.Add(context.Background(), name, testChild(t, name, log)); err != nil {
			t.Fatal(err)
		}
	}
	started := readLines(t, log)
	var pid int
	for _, l := range started {
		if p, ok := strings.CutPrefix(l, "second started "); ok {
			pid, _ = strconv.Atoi(p)
		}
	}
	if len(started) != 3 || pid == 0 {
		t.Fatalf("children log %v, want three started", started)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second started again", func() (bool, string) {
		lines := readLines(t, log)
		again := len(logs.entries(t, "child started again"))
		return len(lines) == 4 && strings.HasPrefix(lines[3], "second started ") && sup.Restarts("second") == 1 && again == 1,
			fmt.Sprintf("children log %v, %d restarts, %d logged as started again", lines, sup.Restarts("second"), again)
	})
	e := logs.entries(t, exitedMsg)
	if len(e) != 1 || e[0]["child"] != "second" || e[0]["exit"] != "signal: killed" || e[0]["restarts"] != 1.0 {
		t.Fatalf("restart log %v, want one line for second, signal: killed", e)
	}

	if err := sup.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := readLines(t, log)[4:]; strings.Join(got, ", ") != "third stopped, second stopped, first stopped" {
		t.Fatalf("stopped in the order %v, want third, second, first", got)
	}
	for _, name := range []string{"first", "third"} {
		if n := sup.Restarts(name); n != 0 {
			t.Fatalf("%s restarted %d times", name, n)
		}
	}
}

// A start that fails during a restart is retried with the growing wait; a
// Stop while the supervisor waits to restart returns at once and starts
// nothing.
func TestSupervisorRetriesFailedStartsAndStopsDuringBackoff(t *testing.T) {
	log := filepath.Join(t.TempDir(), "children.log")
	var calls atomic.Int32
	serve := testChild(t, "svc", log)
	start := func(ctx context.Context) (devstack.Running, error) {
		switch calls.Add(1) {
		case 1:
			return shChild("svc", "exit 1")(ctx)
		case 2, 3:
			return nil, errors.New("port in use")
		}
		return serve(ctx)
	}
	sup, logs := newSupervisor(devstack.Backoff{Min: 10 * time.Millisecond, Max: time.Second, Reset: time.Hour})
	if err := sup.Add(context.Background(), "svc", start); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the service to run after two failed starts", func() (bool, string) {
		lines, again := readLines(t, log), len(logs.entries(t, "child started again"))
		return len(lines) == 1 && again == 1, fmt.Sprintf("children log %v, %d starts, %d logged as started again", lines, calls.Load(), again)
	})
	var got []string
	for _, e := range logs.entries(t, exitedMsg) {
		got = append(got, fmt.Sprintf("%v after %vms", e["exit"], e["restart_in_ms"]))
	}
	if want := "[exit status 1 after 10ms cannot start: port in use after 20ms cannot start: port in use after 40ms]"; fmt.Sprint(got) != want {
		t.Fatalf("restarts %v, want %s", got, want)
	}
	if err := sup.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if lines := readLines(t, log); len(lines) != 2 || lines[1] != "svc stopped" {
		t.Fatalf("children log %v, want svc stopped gracefully", lines)
	}

	// A child that waits an hour to be started again.
	sup, _ = newSupervisor(devstack.Backoff{Min: time.Hour, Max: time.Hour, Reset: time.Hour})
	if err := sup.Add(context.Background(), "crasher", shChild("crasher", "exit 3")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the crash", func() (bool, string) { return sup.Restarts("crasher") == 1, "no restart yet" })
	stopped := make(chan error, 1)
	go func() { stopped <- sup.Stop(10 * time.Second) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Stop did not return while the supervisor waited to restart a child")
	}
	if err := sup.Add(context.Background(), "late", shChild("late", "exit 0")); err == nil {
		t.Fatal("Add after Stop succeeded")
	}
}
