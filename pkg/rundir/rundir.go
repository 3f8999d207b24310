// Package rundir is what `make run` keeps in its run directory (run/ in the
// checkout) for other processes to read: LOCK, which devstack holds locked
// (flock) for as long as it runs and which holds its pid, and stack.env, the
// addresses of the stack it started as KEY=value lines, there only while the
// stack is up. A second devstack reads both to say that a stack runs already;
// the tools run from the checkout read stack.env (flagenv's fallback).
package rundir

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Default is make run's run directory, relative to the checkout.
const Default = "run"

const (
	lockFile = "LOCK"
	envFile  = "stack.env"
)

// From names the stack file of Default in messages: "using ClickHouse at
// 127.0.0.1:19000 (from run/stack.env, written by make run)".
const From = Default + "/" + envFile + ", written by make run"

// Lock is a run directory held by this process: no other devstack starts a
// stack in it until Release.
type Lock struct {
	dir string
	f   *os.File
}

// RunningError is Acquire's error when a devstack holds the directory
// already: its pid, and the addresses of its stack (none while it starts).
type RunningError struct {
	Dir  string
	Pid  int      // 0: unknown
	Vars []string // stack.env's KEY=value lines, in its order
}

func (e *RunningError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "a stack is already running in %s/", e.Dir)
	if e.Pid > 0 {
		fmt.Fprintf(&b, " (devstack, pid %d)", e.Pid)
	}
	if len(e.Vars) == 0 {
		b.WriteString(", still starting: it has not written its addresses yet")
	} else {
		b.WriteString(", using:")
		for _, kv := range e.Vars {
			b.WriteString("\n  " + kv)
		}
	}
	b.WriteString("\nUse that one (its banner is in the terminal that started it), or stop it first: Ctrl-C there")
	if e.Pid > 0 {
		fmt.Fprintf(&b, ", or kill %d", e.Pid)
	}
	b.WriteString(". Nothing was started or changed.")
	return b.String()
}

// Acquire takes dir's lock for this process, creating dir when needed, and
// writes its pid into the lock file. When another process holds the lock, it
// returns a *RunningError and touches nothing. A stack.env left by a stack
// that did not stop cleanly is removed.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the run directory: %w; check -dir", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the run directory's lock: %w; check -dir", err)
	}
	// A reader checks the lock with a shared lock for a moment; wait that out.
	deadline := time.Now().Add(200 * time.Millisecond)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		running := &RunningError{Dir: dir, Pid: readPid(dir)}
		running.Vars, _ = readEnvLines(dir)
		return nil, running
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", f.Name(), err)
	}
	l := &Lock{dir: dir, f: f}
	if err = f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		l.Release()
		return nil, fmt.Errorf("cannot write the pid into %s: %w", f.Name(), err)
	}
	if err := os.Remove(l.envPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.Release()
		return nil, fmt.Errorf("cannot remove the stale %s: %w", l.envPath(), err)
	}
	return l, nil
}

func (l *Lock) envPath() string { return filepath.Join(l.dir, envFile) }

// WriteEnv writes stack.env: a comment, then vars, each "KEY=value". It
// replaces the file at once, so that a reader sees all of it or none.
func (l *Lock) WriteEnv(vars []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by make run (devstack, pid %d) at %s; removed when it stops.\n", os.Getpid(), time.Now().Format(time.RFC3339))
	b.WriteString("# pixelctl, the consumer and the collector run from this checkout use these addresses\n")
	b.WriteString("# unless a flag or the variable says otherwise. In a shell: set -a; . " + filepath.Join(l.dir, envFile) + "; set +a\n")
	for _, kv := range vars {
		b.WriteString(kv + "\n")
	}
	tmp := l.envPath() + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, l.envPath()); err != nil {
		return fmt.Errorf("cannot write %s: %w", l.envPath(), err)
	}
	return nil
}

// RemoveEnv removes stack.env: the stack is stopping.
func (l *Lock) RemoveEnv() error {
	if l == nil {
		return nil
	}
	if err := os.Remove(l.envPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove %s: %w", l.envPath(), err)
	}
	return nil
}

// Release removes stack.env and gives up the lock. A nil Lock does nothing.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.RemoveEnv()
	l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// Env returns the variables of the stack running in dir, from its
// stack.env, or nil when none runs there: no stack.env, or no devstack holds
// the lock (it was killed, and the file is stale).
func Env(dir string) map[string]string {
	if !locked(dir) {
		return nil
	}
	lines, err := readEnvLines(dir)
	if err != nil {
		return nil
	}
	vars := map[string]string{}
	for _, kv := range lines {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	return vars
}

// locked reports whether a process holds dir's lock.
func locked(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

func readPid(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, lockFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// readEnvLines returns stack.env's KEY=value lines, without comments and
// blank lines.
func readEnvLines(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, envFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || !strings.Contains(line, "=") {
			continue
		}
		lines = append(lines, line)
	}
	return lines, sc.Err()
}
