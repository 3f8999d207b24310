// Package gobench runs Go micro-benchmarks (go test -bench) and reads their
// results, so that `make bench` can put ns/op and allocs/op of the hot
// paths next to the whole-system figures.
package gobench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config is one `go test -bench` invocation over one or more packages.
// The packages run one after the other (-p 1), never side by side.
type Config struct {
	Go        string   // the go command; default "go"
	Dir       string   // the module's directory
	Packages  []string // e.g. ./pkg/collector
	Pattern   string   // -bench regular expression
	BenchTime string   // -benchtime, e.g. 1s or 100x
	Timeout   time.Duration
}

// Result is one benchmark's line.
type Result struct {
	Package     string             `json:"package"`
	Name        string             `json:"name"` // without the -GOMAXPROCS suffix
	N           int64              `json:"n"`
	NsPerOp     float64            `json:"ns_per_op"`
	BytesPerOp  float64            `json:"bytes_per_op"`
	AllocsPerOp float64            `json:"allocs_per_op"`
	MBPerSec    float64            `json:"mb_per_sec,omitempty"`
	Extra       map[string]float64 `json:"extra,omitempty"` // b.ReportMetric units
}

// Run runs the benchmarks and returns their results, and go test's whole
// output for the log.
func Run(ctx context.Context, cfg Config) ([]Result, string, error) {
	if cfg.Go == "" {
		cfg.Go = "go"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	args := []string{"test", "-p", "1", "-count", "1", "-run", "^$", "-bench", cfg.Pattern, "-benchmem",
		"-timeout", cfg.Timeout.String()}
	if cfg.BenchTime != "" {
		args = append(args, "-benchtime", cfg.BenchTime)
	}
	args = append(args, cfg.Packages...)
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.Go, args...)
	cmd.Dir = cfg.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := Parse(out.String())
	if err != nil {
		return res, out.String(), fmt.Errorf("%s %s: %w", cfg.Go, strings.Join(args, " "), err)
	}
	return res, out.String(), nil
}

// Parse reads the benchmark lines of go test's output; a "pkg:" line names
// the package of the lines after it.
func Parse(out string) []Result {
	var res []Result
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		r := Result{Package: pkg, Name: trimProcs(f[0]), N: n}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch unit := f[i+1]; unit {
			case "ns/op":
				r.NsPerOp = v
			case "B/op":
				r.BytesPerOp = v
			case "allocs/op":
				r.AllocsPerOp = v
			case "MB/s":
				r.MBPerSec = v
			default:
				if r.Extra == nil {
					r.Extra = map[string]float64{}
				}
				r.Extra[unit] = v
			}
		}
		res = append(res, r)
	}
	return res
}

// trimProcs drops the -GOMAXPROCS suffix go test adds to a benchmark name.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}
