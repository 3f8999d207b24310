// Package procstat reads what Linux's /proc tells about a process and the
// CPUs: resident memory (now and at its peak), CPU time, and how busy each
// core was. The benchmarks use it to report memory and to tell whether the
// server's core was saturated.
package procstat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is a process's resident set, in bytes.
type Memory struct {
	RSS  int64 // VmRSS: now
	Peak int64 // VmHWM: the highest RSS since the process started
}

// ReadMemory reads /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("cannot read the memory of process %d: %w", pid, err)
	}
	var m Memory
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		f := strings.Fields(rest) // "12345 kB"
		if len(f) == 2 && f[1] == "kB" {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				*dst = n << 10
			}
		}
	}
	return m, nil
}

// MemorySampler records the largest resident set of a process while it runs.
type MemorySampler struct {
	pid  int
	stop context.CancelFunc
	done chan struct{}

	mu  sync.Mutex
	max Memory
}

// SampleMemory reads pid's memory every interval until Stop.
func SampleMemory(pid int, interval time.Duration) *MemorySampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &MemorySampler{pid: pid, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *MemorySampler) sample() {
	m, err := ReadMemory(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.max.RSS = max(s.max.RSS, m.RSS)
	s.max.Peak = max(s.max.Peak, m.Peak)
	s.mu.Unlock()
}

// Stop takes a last sample and returns the largest RSS seen and the
// process's own peak (VmHWM), which also covers the moments between samples.
func (s *MemorySampler) Stop() Memory {
	s.stop()
	<-s.done
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// CPUTimes are the jiffies one core spent busy and in total.
type CPUTimes struct{ Busy, Total uint64 }

// ReadCPUs reads the per-core counters of /proc/stat, indexed by core.
func ReadCPUs() ([]CPUTimes, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	var out []CPUTimes
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var t CPUTimes
		for i, s := range f[1:] {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cannot parse /proc/stat line %q", sc.Text())
			}
			if i >= 7 { // steal, guest, guest_nice: steal is time not given to us; guests are in user already
				if i == 7 {
					t.Total += n
				}
				continue
			}
			t.Total += n
			if i != 3 && i != 4 { // idle, iowait
				t.Busy += n
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// BusyShare returns, per core, the share of time (0..1) it was busy between
// two readings of ReadCPUs.
func BusyShare(before, after []CPUTimes) []float64 {
	out := make([]float64, min(len(before), len(after)))
	for i := range out {
		total := after[i].Total - before[i].Total
		if total > 0 {
			out[i] = float64(after[i].Busy-before[i].Busy) / float64(total)
		}
	}
	return out
}

// statFields returns the fields of /proc/<pid>/stat after the command name:
// f[0] is the state (field 3 of proc(5)), f[1] the parent's pid, f[11] and
// f[12] utime and stime.
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name, in parentheses, may hold spaces: fields start after it.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return nil, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	return f, nil
}

// CPUTime returns the CPU time (user and system, of all its threads) that
// process pid has used since it started, to the kernel's clock tick (10 ms).
func CPUTime(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	// USER_HZ is 100 on every Linux this runs on.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// ChildPID returns the pid of a child process of parent whose command line
// holds an argument containing arg: how the benchmark finds a server that a
// library started for it without telling its pid.
func ChildPID(parent int, arg string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(pid)
		if err != nil || f[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, a := range bytes.Split(cmdline, []byte{0}) {
			if bytes.Contains(a, []byte(arg)) {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no child of process %d has an argument containing %q", parent, arg)
}
