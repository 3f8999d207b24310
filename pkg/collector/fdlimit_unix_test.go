//go:build unix

package collector_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/collector"
)

// TestRaiseFDLimit lowers the soft open-file limit and raises it again with
// RaiseFDLimit, in a child process (this test binary run again), so that the
// test process's own limit is left alone.
func TestRaiseFDLimit(t *testing.T) {
	if os.Getenv("PIXEL_TEST_RAISE_FD_LIMIT") == "1" {
		raiseFDLimitChild()
		return
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 128 {
		t.Skipf("hard open-file limit %d: too low to lower the soft one", lim.Max)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRaiseFDLimit$")
	cmd.Env = append(os.Environ(), "PIXEL_TEST_RAISE_FD_LIMIT=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// The child prints the soft limit before and after.
	var before, after uint64
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "soft-before="); ok {
			before, _ = strconv.ParseUint(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "soft-after="); ok {
			after, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	t.Logf("hard limit %d; child's soft limit lowered to %d, raised to %d", lim.Max, before, after)
	if before != 64 || after != uint64(lim.Max) {
		t.Fatalf("child's soft limit went from %d to %d; want 64 to the hard limit %d\n%s", before, after, lim.Max, out)
	}
}

func raiseFDLimitChild() {
	fail := func(msg string, err error) {
		fmt.Println("child:", msg, err)
		os.Exit(1)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail("getrlimit", err)
	}
	lim.Cur = 64 // lowering the soft limit needs no privilege
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail("setrlimit", err)
	}
	fmt.Printf("soft-before=%d\n", lim.Cur)
	got, err := collector.RaiseFDLimit()
	if err != nil {
		fail("RaiseFDLimit", err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail("getrlimit", err)
	}
	if got != uint64(lim.Cur) {
		fmt.Println("child: RaiseFDLimit returned", got, "but the soft limit is", lim.Cur)
		os.Exit(1)
	}
	fmt.Printf("soft-after=%d\n", lim.Cur)
}

// TestMaxConnsFireBeforeDescriptorsRunOut runs a server in a child process
// whose open-file limit is 128 and whose -max-conns is fitted to it, holds
// 100 connections open to it from here, and checks that each one is either
// served or refused with a counted 503: none waits on an accept that fails
// for want of descriptors.
func TestMaxConnsFireBeforeDescriptorsRunOut(t *testing.T) {
	if os.Getenv("PIXEL_TEST_FD_CHILD") == "1" {
		fdLimitedServerChild(t)
		return
	}
	const fdLimit, conns = 128, 100
	cmd := exec.Command(os.Args[0], "-test.run=^TestMaxConnsFireBeforeDescriptorsRunOut$")
	cmd.Env = append(os.Environ(), "PIXEL_TEST_FD_CHILD=1", "PIXEL_TEST_FD_LIMIT="+strconv.Itoa(fdLimit))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	field := func(name string) string {
		t.Helper()
		for lines.Scan() {
			if v, ok := strings.CutPrefix(lines.Text(), name+"="); ok {
				return v
			}
		}
		t.Fatalf("the child did not print %s: %v", name, lines.Err())
		return ""
	}
	addr := field("addr")
	maxConns, _ := strconv.Atoi(field("max_conns"))

	var ok, refused int
	for i := range conns {
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		switch resp, _ := readResponse(t, c); resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("connection %d: status %d", i, resp.StatusCode)
		}
	}
	stdin.Close() // the child reports its counters and exits
	counted, _ := strconv.Atoi(field("max_conns_refused"))
	acceptErrors, _ := strconv.Atoi(field("accept_errors"))
	t.Logf("fd limit %d, -max-conns %d: %d served, %d refused (%d counted), %d accept errors",
		fdLimit, maxConns, ok, refused, counted, acceptErrors)
	if ok != maxConns || refused != conns-maxConns || counted != refused || acceptErrors != 0 {
		t.Errorf("want %d served and %d refused, counted, without accept errors", maxConns, conns-maxConns)
	}
}

func fdLimitedServerChild(t *testing.T) {
	fdLimit, _ := strconv.ParseUint(os.Getenv("PIXEL_TEST_FD_LIMIT"), 10, 64)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = fdLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	maxConns := collector.MaxConnsWithin(collector.DefaultConfig().MaxConns, fdLimit)
	ls := startLive(t, func(c *collector.Config) { c.MaxConns = maxConns })
	fmt.Printf("addr=%s\nmax_conns=%d\n", ls.addr, maxConns)
	io.Copy(io.Discard, os.Stdin) // until the parent is done
	fmt.Printf("max_conns_refused=%v\naccept_errors=%v\n", ls.metric(t, refused("max_conns")), ls.metric(t, refused("accept_error")))
}
