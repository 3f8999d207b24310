// Package gobench runs Go micro-benchmarks (go test -bench) and reads their
// results, so that `make bench` can put ns/op and allocs/op of the hot
// paths next to the whole-system figures.
package gobench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/perf/benchfmt"
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

// Parse reads the benchmark lines of go test's output with
// golang.org/x/perf/benchfmt; a "pkg:" line names the package of the lines
// after it, and lines that are not results are skipped.
func Parse(out string) []Result {
	var res []Result
	rd := benchfmt.NewReader(strings.NewReader(out), "go test")
	for rd.Scan() {
		b, ok := rd.Result().(*benchfmt.Result)
		if !ok {
			continue // a syntax error or a unit line
		}
		r := Result{Package: b.GetConfig("pkg"), Name: "Benchmark" + trimProcs(b.Name), N: int64(b.Iters)}
		for _, v := range b.Values {
			// The reader converts units to seconds and bytes; keep go test's.
			value, unit := v.Value, v.Unit
			if v.OrigUnit != "" {
				value, unit = v.OrigValue, v.OrigUnit
			}
			switch unit {
			case "ns/op":
				r.NsPerOp = value
			case "B/op":
				r.BytesPerOp = value
			case "allocs/op":
				r.AllocsPerOp = value
			case "MB/s":
				r.MBPerSec = value
			default:
				if r.Extra == nil {
					r.Extra = map[string]float64{}
				}
				r.Extra[unit] = value
			}
		}
		res = append(res, r)
	}
	return res
}

// trimProcs drops the -GOMAXPROCS suffix go test adds to a benchmark name.
func trimProcs(name benchfmt.Name) string {
	base, parts := name.Parts()
	if n := len(parts); n > 0 && parts[n-1][0] == '-' {
		parts = parts[:n-1]
	}
	return string(bytes.Join(append([][]byte{base}, parts...), nil))
}
