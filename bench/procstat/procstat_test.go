package procstat_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/bench/procstat"
)

func TestSelf(t *testing.T) {
	m, err := procstat.ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("memory %+v", m)
	}
	s := procstat.SampleMemory(os.Getpid(), time.Millisecond)
	buf := make([]byte, 32<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	// Stop takes a last sample: no wait is needed for the sampler to see it.
	if got := s.Stop(); got.Peak < int64(len(buf)) {
		t.Errorf("peak %d after touching %d bytes", got.Peak, len(buf))
	}
	if _, err := procstat.CPUTime(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	before, err := procstat.ReadCPUs()
	if err != nil || len(before) == 0 {
		t.Fatalf("cpus %v, %v", before, err)
	}
	after, _ := procstat.ReadCPUs()
	for _, b := range procstat.BusyShare(before, after) {
		if b < 0 || b > 1 {
			t.Errorf("busy share %v", b)
		}
	}
	_ = buf[len(buf)-1]
}

// TestChildPID finds a child by an argument, and its CPU time.
func TestChildPID(t *testing.T) {
	cmd := exec.Command("sleep", "30.123")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid, err := procstat.ChildPID(os.Getpid(), "30.12")
	if err != nil || pid != cmd.Process.Pid {
		t.Fatalf("ChildPID = %d, %v; want %d", pid, err, cmd.Process.Pid)
	}
	if d, err := procstat.CPUTime(pid); err != nil || d < 0 {
		t.Errorf("CPUTime = %v, %v", d, err)
	}
	if _, err := procstat.ChildPID(os.Getpid(), "no-such-argument"); err == nil {
		t.Error("ChildPID found a child that does not exist")
	}
}
