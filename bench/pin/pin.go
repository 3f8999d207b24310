// Package pin keeps benchmark processes on chosen CPU cores with taskset(1),
// so that a server and the load generator aimed at it do not take each
// other's CPU time. Where taskset is missing or the machine has a single
// core, nothing is pinned and Available says so.
package pin

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
)

// Available reports whether processes can be pinned: taskset is installed
// and there are at least two cores to keep apart.
func Available() bool {
	_, err := exec.LookPath("taskset")
	return err == nil && runtime.NumCPU() >= 2
}

// All is the CPU list of every core, e.g. "0-1".
func All() string {
	return "0-" + strconv.Itoa(runtime.NumCPU()-1)
}

// Command returns the argv that runs argv on cpus (a taskset CPU list such
// as "0" or "0-1"); argv itself when cpus is empty or pinning is not
// available. taskset execs the program, so its process id is the program's.
func Command(cpus string, argv ...string) []string {
	if cpus == "" || !Available() {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

// Set moves every thread of the running process pid to cpus; threads it
// starts later inherit the setting. It does nothing when cpus is empty or
// pinning is not available.
func Set(pid int, cpus string) error {
	if cpus == "" || !Available() {
		return nil
	}
	// taskset -a says nothing about a process that is gone.
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/task"); err != nil {
		return fmt.Errorf("cannot pin process %d: %w", pid, err)
	}
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cannot pin process %d to CPUs %s: %w: %s", pid, cpus, err, out)
	}
	return nil
}
