package devstack

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Backoff is how long a Supervisor waits before it starts a child again
// that exited: Min after the first exit, doubling with every exit in a row up
// to Max, and Min again once the child had run for Reset.
type Backoff struct {
	Min, Max, Reset time.Duration
}

// DefaultBackoff is what `make run` uses: 0.5 s doubling to 30 s, back to
// 0.5 s after 30 s of running.
func DefaultBackoff() Backoff {
	return Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Reset: 30 * time.Second}
}

// Validate reports settings a supervisor cannot work with.
func (b Backoff) Validate() error {
	if b.Min <= 0 || b.Max < b.Min || b.Reset <= 0 {
		return fmt.Errorf("restart backoff %s to %s, reset after %s: want 0 < min <= max and a positive reset", b.Min, b.Max, b.Reset)
	}
	return nil
}

// Next returns the wait before the next start of a child whose last run
// lasted ran, after a wait of prev before that run (0: it has not been
// restarted yet).
func (b Backoff) Next(prev, ran time.Duration) time.Duration {
	if prev <= 0 || ran >= b.Reset {
		return b.Min
	}
	return min(2*prev, b.Max)
}

// Running is a started child the supervisor watches: a *Process or a
// *ClickHouse.
type Running interface {
	Exited() <-chan struct{} // closed when it ended
	Err() error              // how it ended, once Exited is closed
	Stop(timeout time.Duration) error
}

// StartFunc starts a child and waits until it serves. When it cannot, it
// returns an error, having stopped whatever it started.
type StartFunc func(ctx context.Context) (Running, error)

// restartTimeout bounds one restart, from the process's start until it serves.
const restartTimeout = 2 * time.Minute

// loggedRestarts is how many restarts in a row are all logged; beyond it,
// while the child keeps crashing, every tenth is.
const loggedRestarts = 5

// Supervisor keeps children running: when one exits it logs how, counts it
// and starts it again after a Backoff, for as long as it keeps exiting. Stop
// stops them in the reverse order they were added.
type Supervisor struct {
	backoff Backoff
	log     zerolog.Logger

	mu       sync.Mutex
	children []*child
	stopped  bool
}

type child struct {
	name     string
	start    StartFunc
	restarts atomic.Int64
	ctx      context.Context // ends when the supervisor stops the child
	cancel   context.CancelFunc
	stop     chan time.Duration // Stop's timeout, to the supervising goroutine
	done     chan error         // how stopping went
}

// NewSupervisor returns a supervisor restarting children with backoff b and
// logging to log.
func NewSupervisor(b Backoff, log zerolog.Logger) *Supervisor {
	return &Supervisor{backoff: b, log: log}
}

// Add starts a child with start and keeps it running until Stop. The first
// start's error is returned, and nothing is supervised then: a child that
// cannot start at all is a mistake to fix, not a crash to wait out.
func (s *Supervisor) Add(ctx context.Context, name string, start StartFunc) error {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return fmt.Errorf("cannot start %s: the supervisor is stopped", name)
	}
	r, err := start(ctx)
	if err != nil {
		return err
	}
	c := &child{name: name, start: start, stop: make(chan time.Duration), done: make(chan error, 1)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.Join(fmt.Errorf("cannot supervise %s: the supervisor is stopped", name), r.Stop(time.Minute))
	}
	s.children = append(s.children, c)
	go s.supervise(c, r)
	return nil
}

// Restarts returns how many times the named child was started again after
// it exited (the attempts, whether or not the new process came up).
func (s *Supervisor) Restarts(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.children {
		if c.name == name {
			return c.restarts.Load()
		}
	}
	return 0
}

// Stop stops the children in the reverse order of Add, each gracefully
// within timeout, and restarts none of them any more. A child waiting to be
// restarted is not started again.
func (s *Supervisor) Stop(timeout time.Duration) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	children := s.children
	s.mu.Unlock()
	var errs []error
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		c.cancel() // ends a restart in progress
		c.stop <- timeout
		start := time.Now()
		err := <-c.done
		ev := s.log.Info()
		if err != nil {
			ev = s.log.Warn().Err(err)
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
		ev.Str("child", c.name).Int64("took_ms", time.Since(start).Milliseconds()).Int64("restarts", c.restarts.Load()).Msg("child stopped")
	}
	return errors.Join(errs...)
}

// supervise watches one child until Stop, starting it again each time it
// exits.
func (s *Supervisor) supervise(c *child, r Running) {
	var wait time.Duration // the last backoff; 0 before the first restart
	inRow := 0             // restarts since the child last ran for Backoff.Reset
	for {
		up := time.Now()
		select {
		case timeout := <-c.stop:
			c.done <- r.Stop(timeout)
			return
		case <-r.Exited():
		}
		ran := time.Since(up)
		why := ExitStatus(r.Err())
		for {
			if ran >= s.backoff.Reset {
				inRow = 0
			}
			inRow++
			wait = s.backoff.Next(wait, ran)
			n := c.restarts.Add(1)
			if logged(inRow) {
				ev := s.log.Warn().Str("child", c.name).Str("exit", why).Int64("ran_ms", ran.Milliseconds()).
					Int64("restarts", n).Int64("restart_in_ms", wait.Milliseconds())
				if inRow == loggedRestarts {
					ev = ev.Str("note", "it keeps exiting; from now on every tenth restart is logged")
				}
				ev.Msg("child exited; starting it again")
			}
			select {
			case <-c.stop:
				c.done <- nil // nothing runs
				return
			case <-time.After(wait):
			}
			ctx, cancel := context.WithTimeout(c.ctx, restartTimeout)
			started := time.Now()
			next, err := c.start(ctx)
			cancel()
			if err == nil {
				r = next
				if logged(inRow) {
					s.log.Info().Str("child", c.name).Int64("restarts", n).Int64("took_ms", time.Since(started).Milliseconds()).Msg("child started again")
				}
				break
			}
			if c.ctx.Err() != nil { // Stop came during the start
				<-c.stop
				c.done <- nil
				return
			}
			ran, why = 0, "cannot start: "+err.Error()
		}
	}
}

// logged says whether the inRow-th restart in a row is logged: all of the
// first few, then every tenth.
func logged(inRow int) bool { return inRow <= loggedRestarts || inRow%10 == 0 }

// ExitStatus describes how a child process ended, from its Wait error:
// "exit status 3", "signal: killed", "exit status 0".
func ExitStatus(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &ee):
		return ee.String()
	}
	return err.Error()
}
