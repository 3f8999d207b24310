package pin_test

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/pixel-pipeline/pixel/bench/pin"
)

func TestCommand(t *testing.T) {
	if got := pin.Command("", "wrk", "-t1"); !slices.Equal(got, []string{"wrk", "-t1"}) {
		t.Errorf("no CPUs: %v", got)
	}
	got := pin.Command("1", "wrk", "-t1")
	if pin.Available() {
		if !slices.Equal(got, []string{"taskset", "-c", "1", "wrk", "-t1"}) {
			t.Errorf("pinned: %v", got)
		}
	} else if !slices.Equal(got, []string{"wrk", "-t1"}) {
		t.Errorf("without taskset: %v", got)
	}
}

func TestSet(t *testing.T) {
	if !pin.Available() {
		t.Skip("taskset is not installed or there is one core")
	}
	// A child of its own, so that the test process keeps its cores.
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := pin.Set(cmd.Process.Pid, "0"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("taskset", "-c", "-p", strconv.Itoa(cmd.Process.Pid)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "current affinity list: 0\n"; len(out) < len(want) || string(out[len(out)-len(want):]) != want {
		t.Errorf("taskset says %q", out)
	}
	if err := pin.Set(os.Getpid()+1_000_000, "0"); err == nil {
		t.Error("pinning a process that does not exist succeeded")
	}
}
