// Command bench is `make bench`: a short benchmark of the whole pipeline on
// one machine. It starts a private ClickHouse and the embedded broker, runs
// each of our components next to baselines measured in the same run — the
// collector against a bare fasthttp server (bench/cmd/baregif) and a naive
// collector (bench/cmd/naivecollector), the consumer against a raw columnar
// insert, a naive consumer (bench/cmd/naiveconsumer) and ClickHouse's own
// Kafka engine — with the CPU each spends per request or row, and prints
// every figure as a ratio to its baseline with its target and a PASS or
// MISS, because a shared two-core machine is too noisy for absolute
// figures. It also runs the pipeline end to end, and the consumer at a fixed
// rate with several batch sizes and ages (the lag against cost trade-off).
// It writes results.json, results.md and three SVG charts into
// <out>/<UTC timestamp>/.
//
//	make bench                          # full run, about 5 minutes
//	bin/bench -quick                    # about 1½ minutes: the smoke run the tests use
//	bin/bench -only consumer,tradeoff   # some parts only
//	bin/bench -help                     # every setting
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pixel-pipeline/pixel/bench/report"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
)

// Config is every setting of a run. Zero durations and counts take the
// defaults of the mode (full or -quick).
type Config struct {
	Out    string // results go to Out/<UTC timestamp>/
	BinDir string // collector, consumer, devbroker, baregif
	Src    string // the module, for the go test micro-benchmarks
	Go     string // the go command
	Quick  bool
	Keep   bool // keep the work directory (ClickHouse data, broker, logs)
	Seed   int64

	WrkDuration     time.Duration
	WrkConnections  int
	LatencyDuration time.Duration
	E2EDuration     time.Duration
	Events          int
	BrokerCPU       string // client, server or any
	Micro           bool
	MicroBenchTime  string
	Engine          bool
	EngineTimeout   time.Duration
	// Parts are the parts to run, in the order of the parts list.
	Parts             []string
	E2ERate           float64 // 0: half the collector's maximum of this run
	TradeoffRate      float64
	TradeoffDuration  time.Duration
	TradeoffBatchRows []int
	TradeoffBatchAges []time.Duration
}

// The parts of a run, in the order they run: the micro-benchmarks first, on
// a quiet machine, then the collector, whose maximum sets the rate of the
// end-to-end run.
const (
	partMicro     = "micro"
	partCollector = "collector"
	partConsumer  = "consumer"
	partE2E       = "e2e"
	partTradeoff  = "tradeoff"
	partKafka     = "kafka"
)

var allParts = []string{partMicro, partCollector, partConsumer, partE2E, partTradeoff, partKafka}

// fallbackE2ERate is the end-to-end rate when this run does not measure the
// collector's maximum and -e2e-rate is not given.
const fallbackE2ERate = 20_000

func (c *Config) runs(part string) bool { return slices.Contains(c.Parts, part) }

// Defaults of the two modes.
var (
	fullDefaults = Config{
		WrkDuration: 10 * time.Second, LatencyDuration: 20 * time.Second, E2EDuration: 25 * time.Second,
		Events: 1_000_000, MicroBenchTime: "1s", EngineTimeout: 2 * time.Minute,
		TradeoffDuration:  3 * time.Second,
		TradeoffBatchRows: []int{1_000, 5_000, 25_000, 100_000},
		TradeoffBatchAges: []time.Duration{100 * time.Millisecond, time.Second},
	}
	quickDefaults = Config{
		WrkDuration: 3 * time.Second, LatencyDuration: 5 * time.Second, E2EDuration: 8 * time.Second,
		Events: 200_000, MicroBenchTime: "100ms", EngineTimeout: time.Minute,
		TradeoffDuration:  2 * time.Second,
		TradeoffBatchRows: []int{1_000, 25_000},
		TradeoffBatchAges: []time.Duration{100 * time.Millisecond},
	}
)

func parseFlags(args []string) (*Config, error) {
	c, fs := newConfig()
	return c, fs.Parse(args)
}

// newConfig returns a run's settings and the flags that fill them; Parse
// applies the mode's defaults and checks them.
func newConfig() (*Config, *flagenv.Set) {
	c := &Config{}
	fs := flagenv.New("bench", "Benchmarks the pipeline on this machine against baselines measured in the same run:\n"+
		"collector vs a bare fasthttp server and a naive collector (wrk, then latency at half the\n"+
		"collector's maximum), consumer vs a raw columnar insert, a naive consumer and ClickHouse's\n"+
		"Kafka engine, the CPU time of each per request or row, end-to-end lag, the consumer's batch\n"+
		"size and age against lag, and the go test micro-benchmarks of the hot paths. Prints a\n"+
		"Markdown table and writes results.json, results.md, throughput.svg, latency.svg and\n"+
		"consumer.svg into <out>/<UTC timestamp>/.\n"+
		"Servers run on loopback only; servers are pinned to core 0 and load generators to core 1\n"+
		"with taskset when it is installed. Durations and counts of 0 take the mode's default\n"+
		"(full / -quick).")
	fs.String(&c.Out, "out", "BENCH_OUT", filepath.Join("bench", "results"), "`folder` that receives one results folder per run")
	fs.String(&c.BinDir, "bin-dir", "BENCH_BIN_DIR", "", "`folder` with collector, consumer, devbroker and baregif (default: this program's own folder)")
	fs.String(&c.Src, "src", "BENCH_SRC", ".", "the module's `folder`, where go test runs the micro-benchmarks")
	fs.String(&c.Go, "go", "BENCH_GO", "go", "the go `command` for the micro-benchmarks")
	fs.Bool(&c.Quick, "quick", "BENCH_QUICK", false, "a smoke run of about a minute: shorter loads, 200k events (what go test ./bench/... runs)")
	fs.Bool(&c.Keep, "keep", "BENCH_KEEP", false, "keep the work folder (ClickHouse data, broker, spool) instead of removing it")
	fs.Int64(&c.Seed, "seed", "BENCH_SEED", 1, "seed of the generated traffic and events")
	fs.Duration(&c.WrkDuration, "wrk-duration", "BENCH_WRK_DURATION", 0, "each wrk run (10s; 3s with -quick)")
	fs.Int(&c.WrkConnections, "wrk-connections", "BENCH_WRK_CONNECTIONS", 64, "wrk's connections (one thread)")
	fs.Duration(&c.LatencyDuration, "latency-duration", "BENCH_LATENCY_DURATION", 0, "each open-loop latency run at half the collector's maximum (20s; 5s with -quick)")
	fs.Duration(&c.E2EDuration, "e2e-duration", "BENCH_E2E_DURATION", 0, "the end-to-end run at half the collector's maximum (25s; 8s with -quick)")
	fs.Int(&c.Events, "events", "BENCH_EVENTS", 0, "events for the consumer benchmarks (1000000; 200000 with -quick)")
	fs.String(&c.BrokerCPU, "broker-cpu", "BENCH_BROKER_CPU", "server", "where the broker runs while wrk and loadgen load the collector: server (core 0 with the collector: the server side gets the bare server's one core, the client's core stays the load generator's), client (core 1 with the load generator) or any (unpinned). Full runs also measure the other pinned placement, for reference")
	fs.Bool(&c.Micro, "micro", "BENCH_MICRO", true, "run the go test micro-benchmarks")
	fs.String(&c.MicroBenchTime, "micro-benchtime", "BENCH_MICRO_BENCHTIME", "", "-benchtime of the micro-benchmarks (1s; 100ms with -quick)")
	fs.Bool(&c.Engine, "engine", "BENCH_ENGINE", true, "measure ClickHouse's Kafka engine")
	fs.Duration(&c.EngineTimeout, "engine-timeout", "BENCH_ENGINE_TIMEOUT", 0, "longest wait for the Kafka engine to load every event (2m; 1m with -quick)")
	fs.Strings(&c.Parts, "only", "BENCH_ONLY", "run only these `parts`, comma-separated: "+strings.Join(allParts, ", ")+" (default: all)")
	fs.Float64(&c.E2ERate, "e2e-rate", "BENCH_E2E_RATE", 0, "hits/s of the end-to-end run (0: half the collector's maximum measured in this run, or 20000 when -only leaves the collector out)")
	fs.Float64(&c.TradeoffRate, "tradeoff-rate", "BENCH_TRADEOFF_RATE", 10_000, "hits/s of the batch size and age trade-off runs")
	fs.Duration(&c.TradeoffDuration, "tradeoff-duration", "BENCH_TRADEOFF_DURATION", 0, "load of each trade-off run (3s; 2s with -quick)")
	fs.Func("tradeoff-batch-rows", "BENCH_TRADEOFF_BATCH_ROWS", "", "the consumer's -batch-rows of the trade-off runs, comma-separated `list` (1000,5000,25000,100000; 1000,25000 with -quick)", func(v string) error {
		c.TradeoffBatchRows = nil
		for _, f := range flagenv.List(v) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				return fmt.Errorf("-tradeoff-batch-rows: %q is not a positive number of rows", f)
			}
			c.TradeoffBatchRows = append(c.TradeoffBatchRows, n)
		}
		return nil
	})
	fs.Func("tradeoff-batch-ages", "BENCH_TRADEOFF_BATCH_AGES", "", "the consumer's -batch-age of the trade-off runs, comma-separated `list` (100ms,1s; 100ms with -quick)", func(v string) error {
		c.TradeoffBatchAges = nil
		for _, f := range flagenv.List(v) {
			d, err := time.ParseDuration(f)
			if err != nil || d <= 0 {
				return fmt.Errorf("-tradeoff-batch-ages: %q is not a positive duration", f)
			}
			c.TradeoffBatchAges = append(c.TradeoffBatchAges, d)
		}
		return nil
	})
	fs.Check(func() error { return c.complete(fs.Args()) })
	return c, fs
}

// complete fills the settings left at 0 with the mode's defaults and checks
// the result.
func (c *Config) complete(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q; every setting is a flag, see -help", args)
	}
	def := fullDefaults
	if c.Quick {
		def = quickDefaults
	}
	if c.WrkDuration == 0 {
		c.WrkDuration = def.WrkDuration
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = def.LatencyDuration
	}
	if c.E2EDuration == 0 {
		c.E2EDuration = def.E2EDuration
	}
	if c.Events == 0 {
		c.Events = def.Events
	}
	if c.MicroBenchTime == "" {
		c.MicroBenchTime = def.MicroBenchTime
	}
	if c.EngineTimeout == 0 {
		c.EngineTimeout = def.EngineTimeout
	}
	if c.TradeoffDuration == 0 {
		c.TradeoffDuration = def.TradeoffDuration
	}
	if len(c.TradeoffBatchRows) == 0 {
		c.TradeoffBatchRows = def.TradeoffBatchRows
	}
	if len(c.TradeoffBatchAges) == 0 {
		c.TradeoffBatchAges = def.TradeoffBatchAges
	}
	if len(c.Parts) == 0 {
		c.Parts = allParts
	}
	for _, p := range c.Parts {
		if !slices.Contains(allParts, p) {
			return fmt.Errorf("-only %q: the parts are %s", p, strings.Join(allParts, ", "))
		}
	}
	// In the order they run, each once; -micro=false leaves the
	// micro-benchmarks out as it always did.
	var parts []string
	for _, p := range allParts {
		if slices.Contains(c.Parts, p) && (p != partMicro || c.Micro) {
			parts = append(parts, p)
		}
	}
	c.Parts = parts
	if c.E2ERate < 0 || c.TradeoffRate <= 0 || c.TradeoffDuration < time.Second {
		return errors.New("-e2e-rate must not be negative, -tradeoff-rate must be positive and -tradeoff-duration at least 1s")
	}
	switch c.BrokerCPU {
	case "client", "server", "any":
	default:
		return fmt.Errorf("-broker-cpu %q: use client, server or any", c.BrokerCPU)
	}
	if c.WrkDuration < time.Second || c.LatencyDuration < time.Second || c.E2EDuration < time.Second {
		return errors.New("-wrk-duration, -latency-duration and -e2e-duration must be at least 1s")
	}
	if c.Events < 1000 || c.WrkConnections < 1 || c.Seed < 0 {
		return errors.New("-events must be at least 1000, -wrk-connections at least 1 and -seed not negative")
	}
	if c.BinDir != "" {
		return nil
	}
	var err error
	c.BinDir, err = devstack.BinDir()
	return err
}

func main() {
	cfg, fs := newConfig()
	fs.ParseOrExit(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dir, err := run(ctx, cfg, os.Stdout)
	if dir != "" {
		fmt.Printf("\nresults: %s\n", dir)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "bench: interrupted; the results hold what was measured before")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// required are the binaries the run starts.
var required = []string{"collector", "consumer", "devbroker", "baregif", "naivecollector", "naiveconsumer"}

// run is the whole benchmark: it returns the results folder (once made) and
// an error when the run could not be carried out; figures that miss their
// targets are not errors.
func run(ctx context.Context, cfg *Config, stdout *os.File) (string, error) {
	for _, name := range required {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, name)); err != nil {
			return "", fmt.Errorf("%s is missing in %s: %w; build with `make bench` (go build -o bin/ ./cmd/... ./bench/cmd/...) or set -bin-dir", name, cfg.BinDir, err)
		}
	}
	started := time.Now().UTC()
	dir := filepath.Join(cfg.Out, started.Format("20060102T150405Z"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cannot create the results folder: %w; check -out", err)
	}
	l, err := newLab(cfg, dir, stdout)
	if err != nil {
		return dir, err
	}
	res := newResults(cfg, started)
	defer func() {
		l.close()
		res.finish(time.Since(started))
		if err := res.write(dir); err != nil {
			l.printf("cannot write the results: %v", err)
		}
	}()

	// The story: micro-benchmarks on a quiet machine, then the servers, then
	// each component against its baselines, the collector first because
	// its maximum sets the rate of the latency and end-to-end runs.
	type step struct {
		part string // "" for the servers
		name string
		run  func(context.Context, *Results) error
		max  time.Duration
	}
	cells := time.Duration(len(cfg.TradeoffBatchRows) * len(cfg.TradeoffBatchAges))
	all := []step{
		{partMicro, "micro-benchmarks (go test -bench)", l.micro, 6 * time.Minute},
		{"", "start ClickHouse and the broker", l.startServers, 2 * time.Minute},
		{partCollector, "collector vs bare fasthttp and the naive collector: throughput (wrk) and latency (loadgen)", l.collector, 2*time.Minute + 7*cfg.WrkDuration + 3*cfg.LatencyDuration},
		{partConsumer, "consumer vs raw insert, the naive consumer and ClickHouse's Kafka engine", l.consumer, 4*time.Minute + cfg.EngineTimeout},
		{partE2E, "end to end at half the collector's maximum", l.endToEnd, 3*time.Minute + cfg.E2EDuration},
		{partTradeoff, "the consumer's batch size and age against lag, at " + report.Thousands(cfg.TradeoffRate) + " hits/s", l.tradeoff, time.Minute + cells*(30*time.Second+cfg.TradeoffDuration)},
		{partKafka, "our publisher (acks=all) to the embedded broker, 1 Apache Kafka broker and 3", l.kafka, 5 * time.Minute},
	}
	var steps []step
	for _, s := range all {
		if s.part == "" && (cfg.runs(partCollector) || cfg.runs(partConsumer) || cfg.runs(partE2E) || cfg.runs(partTradeoff) || cfg.runs(partKafka)) || cfg.runs(s.part) {
			steps = append(steps, s)
		}
	}
	if !cfg.Micro {
		res.note("micro-benchmarks skipped (-micro=false)")
	}
	for i, s := range steps {
		if ctx.Err() != nil {
			break
		}
		l.printf("[%d/%d] %s", i+1, len(steps), s.name)
		t0 := time.Now()
		sctx, cancel := context.WithTimeout(ctx, s.max)
		err := s.run(sctx, res)
		cancel()
		if err != nil {
			res.note(fmt.Sprintf("step failed: %s: %v", s.name, err))
			l.printf("      failed after %s: %v", time.Since(t0).Round(100*time.Millisecond), err)
			if s.part == "" { // nothing runs without the servers
				return dir, err
			}
			continue
		}
		l.printf("      done in %s", time.Since(t0).Round(100*time.Millisecond))
	}
	if ctx.Err() != nil {
		res.note("interrupted: the run was cancelled before it finished")
	}
	res.finish(time.Since(started))
	res.judge()
	var b strings.Builder
	res.markdown(&b)
	fmt.Fprint(stdout, "\n"+b.String())
	return dir, nil
}
