package collector_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails Accept with errno (EMFILE, as a process out of file
// descriptors does, unless set) while fail is above zero, then accepts as ln
// does.
type flakyListener struct {
	net.Listener
	errno  syscall.Errno
	fail   atomic.Int64
	calls  atomic.Int64 // Accept calls that failed
	closed atomic.Bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.closed.Load() && l.fail.Add(-1) >= 0 {
		l.calls.Add(1)
		errno := l.errno
		if errno == 0 {
			errno = syscall.EMFILE
		}
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept", errno)}
	}
	return l.Listener.Accept()
}

func (l *flakyListener) Close() error {
	l.closed.Store(true)
	return l.Listener.Close()
}

// startFlaky serves on a loopback listener whose first fail accepts fail
// with errno (0: EMFILE). stop shuts the server down (once; also when the
// test ends) and says how long that took.
func startFlaky(t *testing.T, errno syscall.Errno, fail int64) (ls *liveServer, fl *flakyListener, served <-chan error, stop func() time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl = &flakyListener{Listener: ln, errno: errno}
	fl.fail.Store(fail)
	ts := newTestServer(t, nil)
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(fl) }()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			if err := ts.srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			took = time.Since(start)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			default: // returned early: reported by the test
			}
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return &liveServer{testServer: ts, addr: ln.Addr().String()}, fl, done, stop
}

// TestAcceptErrorIsCountedAndRetried: accept failing with EMFILE, or with
// the error of a connection that broke in the backlog, must not stop the
// server (fasthttp's Serve returns on any error that is not a timeout), and
// each failure is counted. Only running out of descriptors pauses the loop:
// 50 pauses would take some 45s.
func TestAcceptErrorIsCountedAndRetried(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		fail  int64
	}{{syscall.EMFILE, 5}, {syscall.ECONNRESET, 50}} {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			start := time.Now()
			ls, fl, served, _ := startFlaky(t, tc.errno, tc.fail)
			acceptAfterErrors(t, ls, served)
			t.Logf("%d errors, answered after %v", tc.fail, time.Since(start).Round(time.Millisecond))
			ls.waitMetric(t, refused("accept_error"), float64(tc.fail))
			if n := fl.calls.Load(); n != tc.fail {
				t.Errorf("%d failed accepts, want %d", n, tc.fail)
			}
		})
	}
}

// acceptAfterErrors sends a request to ls and fails unless it is answered
// before Serve returns.
func acceptAfterErrors(t *testing.T, ls *liveServer, served <-chan error) {
	t.Helper()
	c := ls.dial(t) // waits in the backlog while accept fails
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The answer, or Serve returning, whichever comes first.
	status := make(chan int, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	select {
	case err := <-served:
		t.Fatalf("Serve returned on an accept error: %v", err)
	case code := <-status:
		if code != http.StatusOK {
			t.Fatalf("status %d after the accept errors, want 200", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer in 5s")
	}
}

// TestAcceptErrorDoesNotSpin: while accept keeps failing, the loop backs off
// instead of retrying at once, and Shutdown does not wait for the backoff.
func TestAcceptErrorDoesNotSpin(t *testing.T) {
	ls, fl, served, stop := startFlaky(t, syscall.EMFILE, 1<<40)
	start := time.Now()
	const n = 9
	deadline := start.Add(5 * time.Second)
	for fl.calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d failed accepts in 5s, want %d", fl.calls.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%d failed accepts took %v", n, took.Round(time.Millisecond))
	// A backoff of 5ms doubling waits 5+10+...+640 = 1275ms between the first nine.
	if took < time.Second {
		t.Errorf("%d failed accepts in %v: the accept loop spins", n, took)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned on an accept error: %v", err)
	default:
	}
	// The backoff is now at its 1s most; Shutdown must cut it short.
	took = stop()
	t.Logf("Shutdown took %v", took.Round(time.Millisecond))
	if took > 500*time.Millisecond {
		t.Errorf("Shutdown took %v while accept backed off", took)
	}
	// Stopped: every failed accept is counted, once.
	if got, want := ls.metric(t, refused("accept_error")), float64(fl.calls.Load()); got != want {
		t.Errorf("accept_error = %v, want %v", got, want)
	}
}
