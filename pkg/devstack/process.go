package devstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is one of the pipeline's binaries running as a child process.
type Process struct {
	Name   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
}

// StartProcess starts bin with args and extra environment variables; its
// output goes to out. The child runs in its own process group, so that a
// terminal's Ctrl-C reaches only the parent, which then stops the children in
// order; it dies with its parent.
func StartProcess(name, bin string, args, env []string, out io.Writer) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s (%s): %w", name, bin, err)
	}
	p := &Process{Name: name, cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended; valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits up to timeout for a graceful exit, then kills.
// It returns the process's exit error (nil for a clean exit).
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed it", p.Name, timeout)
	}
}

// Kill stops the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.exited
}

// WaitTCP waits until addr accepts TCP connections, or the process exits.
func (p *Process) WaitTCP(ctx context.Context, addr string) error {
	return p.waitFor(ctx, addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// WaitHTTP waits until url answers 200, or the process exits.
func (p *Process) WaitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second}
	return p.waitFor(ctx, url, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (p *Process) waitFor(ctx context.Context, what string, ok func() bool) error {
	for !ok() {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before %s was ready: %v", p.Name, what, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready: %w", p.Name, what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// BinDir is the default folder of the binaries a stack starts: the one the
// running program is in (make build puts them all in bin/).
func BinDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find this program's folder: %w; set -bin-dir", err)
	}
	return filepath.Dir(exe), nil
}
