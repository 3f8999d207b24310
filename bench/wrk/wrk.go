// Package wrk runs the wrk HTTP benchmarking tool (a closed loop: every
// connection sends its next request as soon as the last one is answered)
// and reads its report. `make bench` uses it for the maximum throughput of
// the collector and of a bare server, with the very same request.
package wrk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pixel-pipeline/pixel/bench/pin"
)

// ErrNotInstalled means wrk is not on the PATH.
var ErrNotInstalled = errors.New("wrk is not installed; run `make deps` as root (apt-get install wrk)")

// Config is one wrk run.
type Config struct {
	URL         string
	Threads     int           // -t; default 1
	Connections int           // -c; default 64
	Duration    time.Duration // -d; whole seconds, default 10s
	Headers     []string      // -H, "Name: value"
	CPUs        string        // taskset CPU list to run wrk on; empty: anywhere
}

// Result is what wrk reported.
type Result struct {
	Command  []string      `json:"command"`
	Requests int64         `json:"requests"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	// RequestsPerSec is wrk's own figure: Requests divided by Elapsed.
	RequestsPerSec float64 `json:"requests_per_sec"`
	// Latency from wrk's closed loop (not corrected for coordinated
	// omission: a slow answer delays the requests behind it unrecorded).
	LatencyMean time.Duration         `json:"latency_mean_ns"`
	LatencyMax  time.Duration         `json:"latency_max_ns"`
	Percentiles map[int]time.Duration `json:"latency_percentiles_ns"` // 50, 75, 90, 99
	// SocketErrors adds up connect, read, write and timeout errors.
	SocketErrors int64 `json:"socket_errors"`
	// Non2xx counts answers that were neither 2xx nor 3xx.
	Non2xx int64 `json:"non_2xx"`
}

// Version returns wrk's version line, or ErrNotInstalled.
func Version() (string, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return "", ErrNotInstalled
	}
	// wrk -v prints its version and usage and exits 1.
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	return strings.TrimSpace(line), nil
}

// Run runs wrk and parses its report. ctx cancels it.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, ErrNotInstalled
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 64
	}
	secs := int(cfg.Duration.Round(time.Second) / time.Second)
	if secs <= 0 {
		secs = 10
	}
	argv := []string{"wrk", "-t" + strconv.Itoa(cfg.Threads), "-c" + strconv.Itoa(cfg.Connections),
		"-d" + strconv.Itoa(secs) + "s", "--latency"}
	for _, h := range cfg.Headers {
		argv = append(argv, "-H", h)
	}
	argv = append(argv, cfg.URL)
	argv = pin.Command(cfg.CPUs, argv...)

	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("wrk failed: %w\n%s", err, out.String())
	}
	res, err := Parse(out.String())
	if err != nil {
		return nil, err
	}
	res.Command = argv
	return res, nil
}

var (
	reTotal   = regexp.MustCompile(`(\d+) requests in ([0-9.]+\w+),`)
	reRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reLatency = regexp.MustCompile(`(?m)^\s+Latency\s+(\S+)\s+\S+\s+(\S+)`)
	rePct     = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+(\S+)`)
	reSocket  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// Parse reads wrk's text report (with or without --latency).
func Parse(out string) (*Result, error) {
	r := &Result{Percentiles: map[int]time.Duration{}}
	m := reTotal.FindStringSubmatch(out)
	rate := reRate.FindStringSubmatch(out)
	if m == nil || rate == nil {
		return nil, fmt.Errorf("cannot read wrk's report:\n%s", out)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.Elapsed, _ = ParseDuration(m[2])
	r.RequestsPerSec, _ = strconv.ParseFloat(rate[1], 64)
	if m := reLatency.FindStringSubmatch(out); m != nil {
		r.LatencyMean, _ = ParseDuration(m[1])
		r.LatencyMax, _ = ParseDuration(m[2])
	}
	for _, m := range rePct.FindAllStringSubmatch(out, -1) {
		p, _ := strconv.Atoi(m[1])
		r.Percentiles[p], _ = ParseDuration(m[2])
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r, nil
}

// ParseDuration reads wrk's durations: 840.00us, 1.20ms, 3.00s, 2.00m, 1.00h.
func ParseDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("cannot parse wrk duration %q", s)
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("cannot parse wrk duration %q", s)
}
