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
	if !strings.Contains(string(md), "| measure | ours | baseline | ratio | target | result |") {
		t.Errorf("results.md lacks the summary table:\n%s", md)
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
	wantIDs := []string{
		"collector_throughput", "pixel_handler_allocs", "pixel_handler_ns", "collector_p99", "collector_rss",
		"consumer_vs_raw", "consumer_vs_engine", "consumer_rss", "e2e_lag_p99", "e2e_loss",
		"publish_enqueue_ns", "publish_throughput_ns", "rows_append_ns", "event_parse_ns",
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
	if c == nil || c.Bare == nil || c.Collector == nil || c.Bare.Requests == 0 || c.Collector.Requests == 0 || c.RSSPeak == 0 || c.Request.Path == "" {
		t.Errorf("collector part incomplete: %+v", c)
	} else if c.Accepted == 0 {
		t.Errorf("the collector accepted none of wrk's hits: %+v", c)
	}
	l := r.Latency
	if l == nil || l.Rate <= 0 || l.Collector == nil || l.Bare == nil || l.Collector.Latency.Count == 0 || l.Bare.Latency.Count == 0 || len(l.Collector.Timeline) == 0 {
		t.Errorf("latency part incomplete: %+v", l)
	}
	cr := r.Consumer
	if cr == nil || cr.Events == 0 || cr.Raw == nil || cr.Ours == nil || cr.Engine == nil {
		t.Fatalf("consumer part incomplete: %+v", cr)
	}
	for name, ld := range map[string]*Load{"raw": cr.Raw, "ours": cr.Ours, "engine": cr.Engine} {
		if ld.Rows == 0 || ld.RowsPerS <= 0 || len(ld.Timeline) < 2 {
			t.Errorf("%s load incomplete: %+v", name, ld)
		}
	}
	if !cr.Raw.Complete || !cr.Ours.Complete || cr.RSSPeak == 0 {
		t.Errorf("the raw insert or our consumer did not load every event: raw %+v, ours %+v", cr.Raw, cr.Ours)
	}
	e := r.EndToEnd
	if e == nil || e.Sent == 0 || e.Answered == 0 || e.Markers == nil || e.Markers.Answered == 0 || len(e.Timeline) == 0 {
		t.Fatalf("end-to-end part incomplete: %+v", e)
	}
	if e.Distinct+e.Missing < e.Answered {
		t.Errorf("end to end: %d distinct + %d missing < %d answered", e.Distinct, e.Missing, e.Answered)
	}
	mr := r.Micro
	if mr == nil || len(mr.Missing) > 0 || len(mr.Results) < len(microNames()) {
		t.Errorf("micro-benchmarks incomplete: %+v", mr)
	}
	for _, n := range r.Notes {
		if strings.Contains(n, "failed") || strings.Contains(n, "interrupted") {
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
	for _, bad := range [][]string{{"-broker-cpu", "nowhere"}, {"-events", "10"}, {"-wrk-duration", "10ms"}, {"extra"}} {
		if _, err := parseFlags(append(bad, "-bin-dir", "/x")); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
