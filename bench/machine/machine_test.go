package machine_test

import (
	"runtime"
	"testing"

	"github.com/pixel-pipeline/pixel/bench/machine"
)

func TestRead(t *testing.T) {
	m := machine.Read()
	if m.CPUs != runtime.NumCPU() || m.GoVersion != runtime.Version() {
		t.Errorf("%+v", m)
	}
	if runtime.GOOS == "linux" && (m.Kernel == "" || m.MemTotalKB <= 0) {
		t.Errorf("kernel %q, memory %d kB: /proc was not read", m.Kernel, m.MemTotalKB)
	}
}
