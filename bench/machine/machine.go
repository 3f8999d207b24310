// Package machine describes the computer a benchmark ran on, so that its
// figures are never read without it: cores, CPU model, kernel, Go version.
package machine

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Info is the machine.
type Info struct {
	CPUs       int    `json:"cpus"`         // online cores (nproc)
	CPUModel   string `json:"cpu_model"`    // "model name" of /proc/cpuinfo
	Kernel     string `json:"kernel"`       // uname -r
	OS         string `json:"os"`           // PRETTY_NAME of /etc/os-release
	GoVersion  string `json:"go_version"`   // the toolchain that built the benchmark
	MemTotalKB int64  `json:"mem_total_kb"` // MemTotal of /proc/meminfo
	Taskset    bool   `json:"taskset"`      // processes can be pinned to cores
}

// Read gathers Info; what cannot be read stays empty.
func Read() Info {
	i := Info{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	i.CPUModel = field("/proc/cpuinfo", "model name", ":")
	i.Kernel = firstLine("/proc/sys/kernel/osrelease")
	i.OS = strings.Trim(field("/etc/os-release", "PRETTY_NAME", "="), `"`)
	if kb := strings.TrimSuffix(field("/proc/meminfo", "MemTotal", ":"), " kB"); kb != "" {
		for _, c := range kb {
			if c < '0' || c > '9' {
				kb = ""
				break
			}
		}
		for _, c := range kb {
			i.MemTotalKB = i.MemTotalKB*10 + int64(c-'0')
		}
	}
	_, err := exec.LookPath("taskset")
	i.Taskset = err == nil
	return i
}

// field returns the value of the first line "key<sep>value" of a file.
func field(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}
