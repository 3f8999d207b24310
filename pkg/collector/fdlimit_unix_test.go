//go:build unix

package collector_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

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
	if before != 64 || after != lim.Max {
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
	if got != lim.Cur {
		fmt.Println("child: RaiseFDLimit returned", got, "but the soft limit is", lim.Cur)
		os.Exit(1)
	}
	fmt.Printf("soft-after=%d\n", lim.Cur)
}
