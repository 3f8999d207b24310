package procstat_test

import (
	"os"
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
