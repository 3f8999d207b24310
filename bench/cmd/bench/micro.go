package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/pixel-pipeline/pixel/bench/gobench"
)

// microBenchmarks are the hot paths' go test benchmarks, by package.
var microBenchmarks = []struct {
	pkg   string
	names []string
}{
	{"./pkg/collector", []string{benchPixel, benchPixelNew, benchBare}},
	{"./pkg/event", []string{benchParse, benchAppendJSON}},
	{"./pkg/publish", []string{benchEnqueue, benchThroughput}},
	{"./pkg/chstore", []string{benchRowsAppend}},
}

// micro runs the micro-benchmarks one package after the other, before any
// server starts, so that they have the machine to themselves.
func (l *lab) micro(ctx context.Context, res *Results) error {
	var pkgs, names []string
	for _, m := range microBenchmarks {
		pkgs = append(pkgs, m.pkg)
		names = append(names, m.names...)
	}
	cfg := gobench.Config{
		Go:        l.cfg.Go,
		Dir:       l.cfg.Src,
		Packages:  pkgs,
		Pattern:   "^(" + strings.Join(names, "|") + ")$",
		BenchTime: l.cfg.MicroBenchTime,
	}
	results, out, err := gobench.Run(ctx, cfg)
	l.mu.Lock()
	fmt.Fprintf(l.log, "--- go test -bench\n%s\n", out)
	l.mu.Unlock()
	mr := &MicroResult{BenchTime: cfg.BenchTime, Results: results}
	for _, n := range names {
		found := false
		for _, r := range results {
			found = found || r.Name == n
		}
		if !found {
			mr.Missing = append(mr.Missing, n)
		}
	}
	res.Micro = mr
	if err != nil {
		return fmt.Errorf("%w (see bench.log)", err)
	}
	if len(mr.Missing) > 0 {
		res.note("micro-benchmarks not found: " + strings.Join(mr.Missing, ", "))
	}
	for _, r := range results {
		l.printf("      %-36s %10.0f ns/op %8.0f B/op %6.0f allocs/op", r.Name, r.NsPerOp, r.BytesPerOp, r.AllocsPerOp)
	}
	return nil
}
