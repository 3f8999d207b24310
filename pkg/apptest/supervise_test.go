package apptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

// devstackRun is bin/devstack running the stack a Stack config describes,
// the way `make run` runs it: every server under its supervisor.
type devstackRun struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
}

// startDevstack runs bin/devstack on s's ports and directory, with its output
// and its servers' in s's stack.log, and waits until the collector, the
// consumer and the console are ready. The test's end stops it as Ctrl-C
// would.
func startDevstack(t *testing.T, s *devstack.Stack) *devstackRun {
	t.Helper()
	if s.Cfg.ConsoleAddr == "" {
		AddConsole(t, s) // as make run: with the console
	}
	if s.Cfg.ForwarderAdminAddr == "" {
		AddForwarder(t, s) // and the forwarder
	}
	c := s.Cfg
	cmd := exec.Command(filepath.Join(binDir, "devstack"),
		"-dir", c.Dir, "-bin-dir", c.BinDir,
		"-collector-addr", c.CollectorAddr, "-collector-admin-addr", c.CollectorAdminAddr,
		"-consumer-admin-addr", c.ConsumerAdminAddr,
		"-console-addr", c.ConsoleAddr, "-console-admin-addr", c.ConsoleAdminAddr,
		"-forwarder-admin-addr", c.ForwarderAdminAddr,
		"-clickhouse-addr=", "-clickhouse-port", strconv.Itoa(c.ClickHouseTCPPort), "-clickhouse-http-port", strconv.Itoa(c.ClickHouseHTTPPort),
		"-kafka-brokers=", "-broker-addr", c.BrokerAddr,
		"-demo-addr=", "-log-format", "json", "-registry", c.Registry)
	// As NewStack's consumer: short batches, so that the test runs quickly.
	cmd.Env = append(os.Environ(), "CONSUMER_BATCH_AGE=200ms")
	cmd.Stdout, cmd.Stderr = c.Out, c.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start devstack: %v", err)
	}
	d := &devstackRun{cmd: cmd, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		if err := d.interrupt(2 * time.Minute); err != nil {
			t.Errorf("devstack: %v", err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(c.Dir, "stack.log"))
			t.Logf("stack log:\n%s", tail(b, 8000))
		}
	})
	for _, url := range []string{"http://" + c.CollectorAdminAddr + "/readyz", "http://" + c.ConsumerAdminAddr + "/readyz", "http://" + c.ConsoleAdminAddr + "/readyz"} {
		if err := d.waitHTTP(url, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// interrupt sends SIGINT, as Ctrl-C in the terminal does, and waits for
// devstack to stop its servers and exit; after timeout it kills it.
func (d *devstackRun) interrupt(timeout time.Duration) error {
	select {
	case <-d.exited:
		return d.err
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.exited:
		return d.err
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("did not stop within %s of SIGINT; killed it", timeout)
	}
}

// waitHTTP polls url until it answers 200, failing when devstack exits.
func (d *devstackRun) waitHTTP(url string, within time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.exited:
			return fmt.Errorf("devstack exited (%v) before %s answered 200", d.err, url)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s (last: %v)", url, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// child returns the pid of devstack's child process named comm (0: none).
func (d *devstackRun) child(t *testing.T, comm string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // it ended meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold anything but ")".
		i := bytes.LastIndexByte(stat, ')')
		open := bytes.IndexByte(stat, '(')
		if i < 0 || open < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && string(stat[open+1:i]) == comm && fields[1] == strconv.Itoa(d.cmd.Process.Pid) {
			return pid
		}
	}
	return 0
}

// logEntries returns devstack's JSON log lines with the given message, in
// order (its servers' lines and the banner are skipped).
func logEntries(t *testing.T, s *devstack.Stack, msg string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Cfg.Dir, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["component"] == "devstack" && e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// A consumer killed under load by SIGKILL is started again by make run's
// supervisor, on its own; the stack goes on, and every hit answered 200 is
// stored, once through the de-duplicating view. Its name puts it in
// make test-faults (-run TestFaults).
func TestFaultsSupervisor(t *testing.T) {
	const kills = 2
	s := NewStack(t, binDir)
	d := startDevstack(t, s)
	conn := Conn(t, s)
	consumer := "http://" + s.Cfg.ConsumerAdminAddr

	wait := load(t, s, 8, 35*time.Second)
	time.Sleep(4 * time.Second)
	var back, ready []time.Duration // after each kill: a new process, then /readyz 200
	for i := range kills {
		// Kill while a batch is fetched but not yet inserted and committed.
		waitMetric(t, consumer+"/metrics", "pixel_consumer_batch_pending", positive, 20*time.Second)
		old := d.child(t, "consumer")
		if old == 0 {
			t.Fatal("devstack runs no consumer")
		}
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		deadline := killed.Add(2 * time.Minute)
		for {
			if pid := d.child(t, "consumer"); pid != 0 && pid != old {
				break
			}
			select {
			case <-d.exited:
				t.Fatalf("devstack exited (%v) after the consumer was killed", d.err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: no new consumer %s after the old one was killed", i+1, time.Since(killed).Round(time.Second))
			}
			time.Sleep(20 * time.Millisecond)
		}
		back = append(back, time.Since(killed))
		// Ready means it reached Kafka again: it joined the group, which
		// waits for the killed member's session to time out (10 s).
		if err := d.waitHTTP(consumer+"/readyz", 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		ready = append(ready, time.Since(killed))
		if i < kills-1 {
			time.Sleep(3 * time.Second) // let it work before the next kill
		}
	}
	res := wait()
	f := checkExactlyOnce(t, s, conn, res)

	// The supervisor logged each exit and what it waited; the stack never
	// stopped, and stops on SIGINT, in reverse order.
	exits := logEntries(t, s, "child exited; starting it again")
	var waits []string
	for _, e := range exits {
		if e["child"] != "consumer" || e["exit"] != "signal: killed" {
			t.Fatalf("restart logged as %v, want the consumer's, signal: killed", e)
		}
		waits = append(waits, fmt.Sprintf("%vms", e["restart_in_ms"]))
	}
	if len(exits) != kills {
		t.Fatalf("%d restarts logged, want %d: %v", len(exits), kills, exits)
	}
	if err := d.interrupt(2 * time.Minute); err != nil {
		t.Fatalf("devstack after SIGINT: %v", err)
	}
	var order []string
	for _, e := range logEntries(t, s, "child stopped") {
		order = append(order, fmt.Sprintf("%v (%v restarts)", e["child"], e["restarts"]))
	}
	if want := fmt.Sprintf("console (0 restarts), collector (0 restarts), forwarder (0 restarts), consumer (%d restarts), devbroker (0 restarts), clickhouse (0 restarts)", kills); strings.Join(order, ", ") != want {
		t.Fatalf("stopped %v, want %s", order, want)
	}

	report(t, f)
	reportLine(t, fmt.Sprintf("consumer SIGKILLed %d times; the supervisor waited %s, a new consumer ran %s after each kill, /readyz 200 after %s",
		kills, strings.Join(waits, ", "), roundAll(back, 10*time.Millisecond), roundAll(ready, 100*time.Millisecond)))
}

func roundAll(ds []time.Duration, to time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Round(to).String())
	}
	return strings.Join(s, ", ")
}
