package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/bench/report"
)

// TestQuickRun builds the binaries and runs `bench -quick` end to end
// against real servers (a private ClickHouse, the embedded broker, the
// collector, the consumer and the bare server), then checks that every
// file was written and that results.json holds every part of the run. It
// checks the shape of the results, never the figures: they depend on the
// machine and on whatever else it is doing.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers for about a minute and a half")
	}
	for _, tool := range []string{"clickhouse-server", "wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := exec.LookPath("/usr/sbin/" + tool); err != nil {
				t.Fatalf("%s is not installed; run `make deps` as root", tool)
			}
		}
	}
	root := moduleRoot(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/...", "./bench/cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "bench"), "-quick", "-out", out, "-src", root)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	start := time.Now()
	err := cmd.Run()
	t.Logf("bench -quick took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("bench -quick: %v\n%s", err, stdout.String())
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*T*Z"))
	if len(dirs) != 1 {
		t.Fatalf("want one results folder in %s, got %v\n%s", out, dirs, stdout.String())
	}
	dir := dirs[0]
	for _, name := range []string{"results.json", "results.md", "throughput.svg", "latency.svg", "consumer.svg", "bench.log"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s is missing or empty: %v", name, err)
		}
	}
	for _, name := range []string{"throughput.svg", "latency.svg", "consumer.svg"} {
		checkSVG(t, filepath.Join(dir, name))
	}
	if !strings.Contains(stdout.String(), "| measure | ours | baseline | ratio | target | result |") {
		t.Errorf("the summary table was not printed:\n%s", stdout.String())
	}
	md, _ := os.ReadFile(filepath.Join(dir, "results.md"))
	for _, want := range []string{
		"| measure | ours | baseline | ratio | target | result |",
		"| server | req/s | server CPU per request |",
		"| percentile | collector | bare fasthttp | ratio | naive collector | ratio |",
		"| naive consumer (bench/cmd/naiveconsumer",
		"| -batch-rows | -batch-age | rows/s | lag p50 | lag p99 |",
		"| broker | compression | events/s acknowledged | took | log bytes per event (one replica) |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}

	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, data)
	if t.Failed() {
		t.Logf("output:\n%s", stdout.String())
	}
}

// checkResults checks that results.json is complete: every part measured,
// every summary line judged.
func checkResults(t *testing.T, data []byte) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var r Results
	if err := d.Decode(&r); err != nil {
		t.Fatalf("results.json does not decode: %v", err)
	}
	if r.Schema != SchemaVersion || r.Mode != "quick" || r.Started.IsZero() || r.Elapsed <= 0 {
		t.Errorf("header: schema %d, mode %q, started %s, elapsed %v", r.Schema, r.Mode, r.Started, r.Elapsed)
	}
	m := r.Machine
	if m.CPUs < 1 || m.Kernel == "" || m.GoVersion == "" || r.Versions.ClickHouse == "" || r.Versions.Wrk == "" {
		t.Errorf("machine or versions incomplete: %+v %+v", m, r.Versions)
	}
	if !slices.Equal(r.Setup.Parts, allParts) {
		t.Errorf("parts %v, want all: %v", r.Setup.Parts, allParts)
	}
	wantIDs := []string{
		"collector_throughput", "collector_vs_naive", "collector_cpu_per_request", "collector_cpu_vs_naive",
		"pixel_handler_allocs", "pixel_handler_ns", "publish_throughput_ns", "publish_throughput_allocs",
		"collector_p99", "collector_rss",
		"consumer_vs_raw", "consumer_vs_engine", "consumer_vs_naive", "consumer_cpu_per_row", "consumer_rss",
		"e2e_lag_p99", "e2e_loss", "e2e_cpu_per_event",
		"publish_enqueue_ns", "rows_append_ns", "event_parse_ns",
		"kafka_publish_apache_1", "kafka_publish_apache_1_zstd", "kafka_publish_apache_3",
	}
	got := map[string]report.Measure{}
	for _, ms := range r.Measures {
		got[ms.ID] = ms
	}
	for _, id := range wantIDs {
		ms, ok := got[id]
		switch {
		case !ok:
			t.Errorf("measure %s is missing", id)
		case ms.Verdict != report.Pass && ms.Verdict != report.Miss && ms.Verdict != report.Info:
			t.Errorf("measure %s: verdict %q (note %q)", id, ms.Verdict, ms.Note)
		case ms.Ours == nil:
			t.Errorf("measure %s has no figure", id)
		case ms.Target != nil && ms.Target.On == "ratio" && (ms.Baseline == nil || ms.Ratio == nil):
			t.Errorf("measure %s has no baseline or ratio", id)
		}
	}

	c := r.Collector
	if c == nil || c.Bare == nil || c.Collector == nil || c.Naive == nil || c.RSSPeak == 0 || c.Request.Path == "" {
		t.Fatalf("collector part incomplete: %+v", c)
	}
	if c.Accepted == 0 {
		t.Errorf("the collector accepted none of wrk's hits: %+v", c)
	}
	for name, run := range map[string]*ThroughputRun{"bare": c.Bare, "collector": c.Collector, "naive": c.Naive} {
		if run.Requests == 0 || run.ServerCPUPerReq <= 0 {
			t.Errorf("%s wrk run incomplete (requests, CPU per request): %+v", name, run)
		}
	}
	if c.Collector.BrokerCPUPerReq <= 0 || c.Naive.BrokerCPUPerReq <= 0 {
		t.Errorf("no broker CPU per request: collector %v µs, naive %v µs", c.Collector.BrokerCPUPerReq, c.Naive.BrokerCPUPerReq)
	}
	if c.NaiveRequests == 0 || c.NaivePublished < c.NaiveRequests {
		t.Errorf("the naive collector published %d messages for %d requests answered", c.NaivePublished, c.NaiveRequests)
	}
	l := r.Latency
	if l == nil || l.Rate <= 0 || l.Collector == nil || l.Bare == nil || l.Naive == nil || len(l.Collector.Timeline) == 0 {
		t.Fatalf("latency part incomplete: %+v", l)
	}
	for name, run := range map[string]*LatencyRun{"bare": l.Bare, "collector": l.Collector, "naive": l.Naive} {
		if run.Latency.Count == 0 || run.ServerCPUPerReq <= 0 {
			t.Errorf("%s latency run incomplete (count, CPU per request): %+v", name, run.Latency)
		}
	}
	cr := r.Consumer
	if cr == nil || cr.Events == 0 || cr.Raw == nil || cr.Ours == nil || cr.Naive == nil || cr.Engine == nil {
		t.Fatalf("consumer part incomplete: %+v", cr)
	}
	for name, ld := range map[string]*Load{"raw": cr.Raw, "ours": cr.Ours, "naive": cr.Naive, "engine": cr.Engine} {
		if ld.Rows == 0 || ld.RowsPerS <= 0 || len(ld.Timeline) < 2 || ld.CPU.ClickHouse <= 0 {
			t.Errorf("%s load incomplete (rows, rate, timeline, ClickHouse CPU): %+v", name, ld)
		}
	}
	for name, ld := range map[string]*Load{"raw": cr.Raw, "ours": cr.Ours, "naive": cr.Naive} {
		if ld.CPU.Loader <= 0 {
			t.Errorf("%s load: no loader CPU per row: %+v", name, ld.CPU)
		}
	}
	for name, ld := range map[string]*Load{"ours": cr.Ours, "naive": cr.Naive, "engine": cr.Engine} {
		if ld.CPU.Broker <= 0 {
			t.Errorf("%s load: no broker CPU per row: %+v", name, ld.CPU)
		}
	}
	if !cr.Raw.Complete || !cr.Ours.Complete || !cr.Naive.Complete || cr.RSSPeak == 0 {
		t.Errorf("the raw insert or a consumer did not load every event: raw %+v, ours %+v, naive %+v", cr.Raw, cr.Ours, cr.Naive)
	}
	e := r.EndToEnd
	if e == nil || e.Sent == 0 || e.Answered == 0 || e.Markers == nil || e.Markers.Answered == 0 || len(e.Timeline) == 0 {
		t.Fatalf("end-to-end part incomplete: %+v", e)
	}
	if e.Distinct+e.Missing < e.Answered {
		t.Errorf("end to end: %d distinct + %d missing < %d answered", e.Distinct, e.Missing, e.Answered)
	}
	if e.CPU.Collector <= 0 || e.CPU.Broker <= 0 || e.CPU.Consumer <= 0 || e.CPU.ClickHouse <= 0 {
		t.Errorf("end to end: CPU per event incomplete: %+v", e.CPU)
	}
	tr := r.Tradeoff
	if tr == nil || tr.Rate <= 0 || len(tr.Cells) != len(quickDefaults.TradeoffBatchRows)*len(quickDefaults.TradeoffBatchAges) {
		t.Fatalf("trade-off part incomplete: %+v", tr)
	}
	for _, c := range tr.Cells {
		if c.Answered == 0 || c.Stored != c.Answered || c.RowsPerS <= 0 || c.Markers == nil || c.Markers.Found == 0 ||
			c.ConsumerCPU <= 0 || c.ClickHouseCPU <= 0 || c.BatchRows <= 0 || c.BatchAge <= 0 {
			t.Errorf("trade-off run incomplete: %+v", c)
		}
	}
	mr := r.Micro
	if mr == nil || len(mr.Missing) > 0 || len(mr.Results) < len(microNames()) {
		t.Errorf("micro-benchmarks incomplete: %+v", mr)
	}
	for _, n := range r.Notes {
		if strings.Contains(n, "failed") || strings.Contains(n, "interrupted") || strings.Contains(n, "not measured") || strings.Contains(n, "does not answer like") {
			t.Errorf("a step did not finish: %s", n)
		}
	}
}

func microNames() []string {
	var out []string
	for _, m := range microBenchmarks {
		out = append(out, m.names...)
	}
	return out
}

// checkSVG decodes the whole document: it must be well-formed XML with an
// svg root.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Errorf("%s is not well-formed: %v", filepath.Base(path), err)
			return
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", filepath.Base(path), root)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-quick", "-bin-dir", "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.WrkDuration != quickDefaults.WrkDuration || c.Events != quickDefaults.Events || c.BinDir != "/x" || c.BrokerCPU != "server" {
		t.Errorf("quick defaults not applied: %+v", c)
	}
	t.Setenv("BENCH_EVENTS", "5000")
	c, err = parseFlags([]string{"-wrk-duration", "4s", "-bin-dir", "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.WrkDuration != 4*time.Second || c.Events != 5000 || c.LatencyDuration != fullDefaults.LatencyDuration {
		t.Errorf("flags and environment: %+v", c)
	}
	if !slices.Equal(c.Parts, allParts) || !slices.Equal(c.TradeoffBatchRows, fullDefaults.TradeoffBatchRows) {
		t.Errorf("default parts %v, trade-off batch rows %v", c.Parts, c.TradeoffBatchRows)
	}
	c, err = parseFlags([]string{"-only", "tradeoff,micro,consumer", "-micro=false", "-tradeoff-batch-rows", "10,20", "-tradeoff-batch-ages", "50ms", "-bin-dir", "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{partConsumer, partTradeoff}; !slices.Equal(c.Parts, want) {
		t.Errorf("-only with -micro=false: parts %v, want %v (in the order they run)", c.Parts, want)
	}
	if !slices.Equal(c.TradeoffBatchRows, []int{10, 20}) || !slices.Equal(c.TradeoffBatchAges, []time.Duration{50 * time.Millisecond}) {
		t.Errorf("trade-off lists: %v %v", c.TradeoffBatchRows, c.TradeoffBatchAges)
	}
	for _, bad := range [][]string{{"-broker-cpu", "nowhere"}, {"-events", "10"}, {"-wrk-duration", "10ms"}, {"extra"},
		{"-only", "collector,everything"}, {"-tradeoff-batch-rows", "0"}, {"-tradeoff-batch-ages", "soon"}, {"-tradeoff-rate", "0"}, {"-e2e-rate", "-1"}} {
		if _, err := parseFlags(append(bad, "-bin-dir", "/x")); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestJudgeOnlyParts: the summary holds the lines of the parts measured,
// and a part measured without its baseline is NOT MEASURED, not a verdict.
func TestJudgeOnlyParts(t *testing.T) {
	r := &Results{Setup: Setup{Parts: []string{partConsumer}}, Consumer: &ConsumerResult{
		Events: 1000,
		Ours:   &Load{Rows: 1000, RowsPerS: 200, Complete: true, CPU: LoadCPU{Loader: 3}},
		Naive:  &Load{Rows: 1000, RowsPerS: 100, Complete: true, CPU: LoadCPU{Loader: 6}},
	}}
	r.judge()
	got := map[string]string{}
	for _, m := range r.Measures {
		if !strings.HasPrefix(m.ID, "consumer_") {
			t.Errorf("measure %s in a consumer-only run", m.ID)
		}
		got[m.ID] = m.Verdict
	}
	for id, want := range map[string]string{
		"consumer_vs_naive": report.Pass, "consumer_vs_raw": report.NotMeasured, "consumer_cpu_per_row": report.Info,
	} {
		if got[id] != want {
			t.Errorf("%s: %q, want %q", id, got[id], want)
		}
	}
}
