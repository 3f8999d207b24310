package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pixel-pipeline/pixel/bench/gobench"
	"github.com/pixel-pipeline/pixel/bench/machine"
	"github.com/pixel-pipeline/pixel/bench/marker"
	"github.com/pixel-pipeline/pixel/bench/pin"
	"github.com/pixel-pipeline/pixel/bench/report"
	"github.com/pixel-pipeline/pixel/bench/wrk"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

// SchemaVersion is the version of results.json's layout.
const SchemaVersion = 1

// Results is everything a run measured; results.json is this struct.
// Durations whose field names end in _ns are nanoseconds, _s seconds.
type Results struct {
	Schema   int              `json:"schema"`
	Mode     string           `json:"mode"` // full or quick
	Started  time.Time        `json:"started"`
	Elapsed  float64          `json:"elapsed_s"`
	Machine  machine.Info     `json:"machine"`
	Versions Versions         `json:"versions"`
	Setup    Setup            `json:"setup"`
	Measures []report.Measure `json:"measures"` // the summary table

	Collector *CollectorResult `json:"collector"`
	Latency   *LatencyResult   `json:"latency"`
	Consumer  *ConsumerResult  `json:"consumer"`
	EndToEnd  *EndToEndResult  `json:"end_to_end"`
	Micro     *MicroResult     `json:"micro"`

	// Notes are what prevented a measurement or qualifies one.
	Notes []string `json:"notes"`

	mu sync.Mutex
}

// Versions of the software measured and measuring.
type Versions struct {
	ClickHouse string `json:"clickhouse"`
	Wrk        string `json:"wrk"`
	Go         string `json:"go"`
}

// Setup is how the run was arranged.
type Setup struct {
	Pinned          bool    `json:"pinned"` // taskset pinned the processes below
	ServerCPU       string  `json:"server_cpu"`
	ClientCPU       string  `json:"client_cpu"`
	BrokerCPU       string  `json:"broker_cpu"` // -broker-cpu
	Broker          string  `json:"broker"`     // where the broker ran, for a person
	EndToEnd        string  `json:"end_to_end"` // how the end-to-end run was placed
	WrkConnections  int     `json:"wrk_connections"`
	WrkDuration     float64 `json:"wrk_duration_s"`
	LatencyDuration float64 `json:"latency_duration_s"`
	E2EDuration     float64 `json:"e2e_duration_s"`
	Events          int     `json:"events"`
	Seed            int64   `json:"seed"`
	Partitions      int     `json:"partitions"`
}

// CollectorResult is the throughput part: wrk against each server.
type CollectorResult struct {
	// Request is what wrk sent, identical for both servers.
	Request     WrkRequest     `json:"request"`
	Bare        *ThroughputRun `json:"bare"`
	Collector   *ThroughputRun `json:"collector"`
	OtherBroker *ThroughputRun `json:"collector_other_broker_placement,omitempty"` // full runs: the broker on the other core
	// The collector's own counters over its measured wrk run.
	Accepted  float64 `json:"accepted"`
	Invalid   float64 `json:"invalid"`
	Published float64 `json:"published"` // acknowledged by the broker, by the end of the phase
	Spooled   float64 `json:"spooled"`
	Dropped   float64 `json:"dropped"`
	// Resident memory over the whole phase (wrk and latency runs).
	RSSPeak     int64 `json:"rss_peak_bytes"`      // VmHWM
	RSSMax      int64 `json:"rss_max_bytes"`       // largest VmRSS sampled every 100 ms
	MetricsRSS  int64 `json:"metrics_rss_bytes"`   // process_resident_memory_bytes at the end
	BareRSSPeak int64 `json:"bare_rss_peak_bytes"` // the bare server's VmHWM
}

// WrkRequest is the request wrk repeats.
type WrkRequest struct {
	Path    string   `json:"path"`
	Headers []string `json:"headers"`
}

// ThroughputRun is the best of a server's wrk runs (the one least disturbed
// by whatever else the machine did) and how busy the cores were meanwhile.
type ThroughputRun struct {
	wrk.Result
	// Rounds are the req/s of every measured run, the best one included.
	Rounds         []float64 `json:"rounds"`
	ServerCoreBusy float64   `json:"server_core_busy"` // 0..1
	ClientCoreBusy float64   `json:"client_core_busy"`
	// BrokerCPU is the broker's CPU time over the run's wall time (1 = one
	// core).
	BrokerCPU float64 `json:"broker_cpu_share"`
	Broker    string  `json:"broker_cpu"`
	// Where the collector's events went during the run (its counters):
	// acknowledged by the broker, appended to the disk spool because the
	// queue was full, dropped. Zero for the bare server.
	Published float64 `json:"published"`
	Spooled   float64 `json:"spooled"`
	Dropped   float64 `json:"dropped"`
}

// LatencyResult is the open-loop part: loadgen at half the collector's
// maximum against each server.
type LatencyResult struct {
	Rate      float64     `json:"rate"`
	Duration  float64     `json:"duration_s"`
	Collector *LatencyRun `json:"collector"`
	Bare      *LatencyRun `json:"bare"`
}

// LatencyRun is one loadgen run.
type LatencyRun struct {
	// CPU shares over the run (1 = one core): the core-1 load generator
	// (this process) and the broker.
	LoadgenCPU     float64                `json:"loadgen_cpu_share"`
	BrokerCPU      float64                `json:"broker_cpu_share"`
	Broker         string                 `json:"broker_cpu"`
	ServerCoreBusy float64                `json:"server_core_busy"`
	ClientCoreBusy float64                `json:"client_core_busy"`
	Sent           int64                  `json:"sent"`
	Completed      int64                  `json:"completed"`
	OK             int64                  `json:"ok"`
	Late           int64                  `json:"late"`
	Errors         int64                  `json:"errors"`
	AchievedRate   float64                `json:"achieved_rate"`
	Latency        loadgen.LatencySummary `json:"latency"`
	Timeline       []loadgen.Second       `json:"timeline"`
}

// ConsumerResult is the consumer part: the same events loaded three ways.
type ConsumerResult struct {
	Events        int       `json:"events"`
	AvgBytes      int       `json:"avg_message_bytes"`
	GenerateS     float64   `json:"generate_s"`
	ProduceS      float64   `json:"produce_s"`
	BatchRows     int       `json:"raw_batch_rows"` // the batch size of the faster raw insert, the baseline
	RawRowsPerS   []float64 `json:"raw_rows_per_s"` // the raw insert at each of rawBatchSizes
	Raw           *Load     `json:"raw_insert"`
	Ours          *Load     `json:"consumer"`
	Engine        *Load     `json:"kafka_engine"`
	EngineOffsets int64     `json:"kafka_engine_committed_offsets"` // sum over partitions; -1 unknown
	// The consumer's own counters and memory.
	MetricsRows float64 `json:"consumer_metrics_rows_inserted"`
	RSSPeak     int64   `json:"consumer_rss_peak_bytes"`
	RSSMax      int64   `json:"consumer_rss_max_bytes"`
}

// Load is one way of loading the events into ClickHouse.
type Load struct {
	Rows      int64   `json:"rows"`     // in ClickHouse at the end
	Complete  bool    `json:"complete"` // every event arrived in time
	Seconds   float64 `json:"seconds"`  // from the start to the last row
	RowsPerS  float64 `json:"rows_per_s"`
	FirstRowS float64 `json:"first_row_s"` // when the first rows could be read
	// Timeline is rows readable in ClickHouse over time (raw insert: after
	// each batch), seconds from the start.
	Timeline []Point `json:"timeline"`
}

// Point is one sample of a timeline.
type Point struct {
	T float64 `json:"t_s"`
	V float64 `json:"v"`
}

// EndToEndResult is the end-to-end part.
type EndToEndResult struct {
	Rate     float64 `json:"rate"`
	Duration float64 `json:"duration_s"`
	// Hits of the load generator (all valid): sent, answered 200, failed in
	// transport (the collector may or may not have them), and the distinct
	// event ids of those in ClickHouse at the end.
	Sent      int64                  `json:"sent"`
	Answered  int64                  `json:"answered_200"`
	Uncertain int64                  `json:"uncertain"`
	Distinct  int64                  `json:"distinct_in_clickhouse"`
	Missing   int64                  `json:"missing"`    // answered 200, not in ClickHouse
	Unknown   int64                  `json:"unexpected"` // in ClickHouse, neither answered nor uncertain
	Rows      int64                  `json:"rows"`       // rows with those ids, duplicates included
	DrainS    float64                `json:"drain_s"`    // from the end of the load until every answered id was in
	Latency   loadgen.LatencySummary `json:"latency"`
	Markers   *marker.Result         `json:"markers"`
	Timeline  []E2ESecond            `json:"timeline"`
	// Resident memory of the two processes during the run.
	CollectorRSSPeak int64 `json:"collector_rss_peak_bytes"`
	ConsumerRSSPeak  int64 `json:"consumer_rss_peak_bytes"`
}

// E2ESecond is one second of the end-to-end run, from the consumer's and
// the collector's /metrics.
type E2ESecond struct {
	T            float64 `json:"t_s"`
	HitsOK       int64   `json:"hits_ok"`       // the load generator's 200s so far
	RowsInserted float64 `json:"rows_inserted"` // pixel_consumer_rows_inserted_total
	RowsPerS     float64 `json:"rows_per_s"`
	Lag          float64 `json:"lag"` // pixel_consumer_lag
}

// MicroResult is the go test micro-benchmarks.
type MicroResult struct {
	BenchTime string           `json:"benchtime"`
	Results   []gobench.Result `json:"results"`
	Missing   []string         `json:"missing,omitempty"`
}

func newResults(cfg *Config, started time.Time) *Results {
	mode := "full"
	if cfg.Quick {
		mode = "quick"
	}
	r := &Results{
		Schema: SchemaVersion, Mode: mode, Started: started, Machine: machine.Read(),
		Setup: Setup{
			Pinned: pin.Available(), ServerCPU: serverCPU, ClientCPU: clientCPU, BrokerCPU: cfg.BrokerCPU,
			WrkConnections: cfg.WrkConnections, WrkDuration: cfg.WrkDuration.Seconds(),
			LatencyDuration: cfg.LatencyDuration.Seconds(), E2EDuration: cfg.E2EDuration.Seconds(),
			Events: cfg.Events, Seed: cfg.Seed, Partitions: partitions,
		},
		Notes: []string{},
	}
	r.Versions.Go = r.Machine.GoVersion
	r.Versions.Wrk, _ = wrkVersion()
	if !r.Setup.Pinned {
		r.Setup.ServerCPU, r.Setup.ClientCPU = "", ""
		r.note("taskset is missing or there is one core: nothing was pinned, servers and load generators shared the cores")
	}
	return r
}

func (r *Results) note(s string) {
	r.mu.Lock()
	r.Notes = append(r.Notes, s)
	r.mu.Unlock()
}

func (r *Results) finish(elapsed time.Duration) { r.Elapsed = elapsed.Seconds() }

// The targets of the issue.
const (
	mib             = 1 << 20
	targetCollector = 0.85
	targetP99       = 0.002 // seconds
	targetCollRSS   = 64 * mib
	targetVsRaw     = 0.85
	targetVsEngine  = 3
	targetConsRSS   = 256 * mib
	targetE2EP99    = 2.0 // seconds
	benchPixel      = "BenchmarkPixelHandler"
	benchPixelNew   = "BenchmarkPixelHandlerNewVisitor"
	benchBare       = "BenchmarkBareHandler"
	benchParse      = "BenchmarkParse"
	benchAppendJSON = "BenchmarkAppendJSON"
	benchEnqueue    = "BenchmarkPublishEnqueue"
	benchThroughput = "BenchmarkPublishThroughput"
	benchRowsAppend = "BenchmarkRowsAppend"
)

// judge builds the summary table from the figures.
func (r *Results) judge() {
	var ms []report.Measure
	add := func(m report.Measure) {
		m.Judge()
		ms = append(ms, m)
	}
	f := func(v float64) *float64 { return report.V(v) }
	rate := func(t *ThroughputRun) *float64 {
		if t == nil {
			return nil
		}
		return f(t.RequestsPerSec)
	}

	// 1. The collector's ceiling.
	c := r.Collector
	if c == nil {
		c = &CollectorResult{}
	}
	add(report.Measure{ID: "collector_throughput", Name: "collector req/s (wrk -t1 -c" + itoa(r.Setup.WrkConnections) + ", server on core 0)",
		Unit: report.UnitReqPerSec, Ours: rate(c.Collector), Baseline: rate(c.Bare), BaselineName: "bare fasthttp",
		Target: report.AtLeastRatio(targetCollector, "≥ 0.85× bare fasthttp"), Note: brokerNote(c.Collector)})
	if c.OtherBroker != nil {
		add(report.Measure{ID: "collector_throughput_other_broker", Name: "collector req/s, for reference with the broker " + c.OtherBroker.Broker,
			Unit: report.UnitReqPerSec, Ours: rate(c.OtherBroker), Baseline: rate(c.Bare), BaselineName: "bare fasthttp", Note: publishNote(c.OtherBroker)})
	}
	// 2. The pixel handler's allocations and cost (go test).
	pixelB, bareB := r.bench(benchPixel), r.bench(benchBare)
	add(report.Measure{ID: "pixel_handler_allocs", Name: "pixel handler allocs/op (" + benchPixel + ")", Unit: report.UnitAllocs,
		Ours: allocs(pixelB), Baseline: allocs(bareB), BaselineName: "bare handler", Target: report.Exactly(0, "0 allocs/op")})
	add(report.Measure{ID: "pixel_handler_ns", Name: "pixel handler ns/op, whole request in memory (" + benchPixel + ")", Unit: report.UnitNsPerOp,
		Ours: nsop(pixelB), Baseline: nsop(bareB), BaselineName: benchBare})
	// 3. Latency at half the maximum.
	l := r.Latency
	if l == nil {
		l = &LatencyResult{}
	}
	p99 := func(run *LatencyRun) *float64 {
		if run == nil || run.Latency.Count == 0 {
			return nil
		}
		return f(run.Latency.P99.Seconds())
	}
	add(report.Measure{ID: "collector_p99", Name: "collector p99 at half its max (" + report.Thousands(l.Rate) + " req/s, open loop, CO-corrected)",
		Unit: report.UnitSeconds, Ours: p99(l.Collector), Baseline: p99(l.Bare), BaselineName: "bare fasthttp",
		Target: report.AtMost(targetP99, "≤ 2 ms")})
	// 4. Memory of the collector.
	add(report.Measure{ID: "collector_rss", Name: "collector RSS, peak over the wrk and latency runs (VmHWM)", Unit: report.UnitBytes,
		Ours: bytesOrNil(c.RSSPeak), Baseline: bytesOrNil(c.BareRSSPeak), BaselineName: "bare fasthttp",
		Target: report.AtMost(targetCollRSS, "≤ 64 MiB")})
	// 5. The consumer against both baselines.
	cr := r.Consumer
	if cr == nil {
		cr = &ConsumerResult{}
	}
	loadRate := func(ld *Load) *float64 {
		if ld == nil || ld.Rows == 0 {
			return nil
		}
		return f(ld.RowsPerS)
	}
	n := " (" + report.Thousands(float64(cr.Events)) + " events)"
	add(report.Measure{ID: "consumer_vs_raw", Name: "consumer rows/s, start to last row" + n, Unit: report.UnitRowsPerSec,
		Ours: loadRate(cr.Ours), Baseline: loadRate(cr.Raw), BaselineName: "raw columnar insert",
		Target: report.AtLeastRatio(targetVsRaw, "≥ 0.85× raw insert"), Note: incomplete(cr.Ours)})
	add(report.Measure{ID: "consumer_vs_engine", Name: "consumer rows/s vs ClickHouse's Kafka engine" + n, Unit: report.UnitRowsPerSec,
		Ours: loadRate(cr.Ours), Baseline: loadRate(cr.Engine), BaselineName: "Kafka engine",
		Target: report.AtLeastRatio(targetVsEngine, "≥ 3× Kafka engine"), Note: incomplete(cr.Engine)})
	add(report.Measure{ID: "consumer_rss", Name: "consumer RSS, peak while loading (VmHWM)", Unit: report.UnitBytes,
		Ours: bytesOrNil(max(cr.RSSPeak, r.e2eConsumerRSS())), Target: report.AtMost(targetConsRSS, "≤ 256 MiB")})
	// 6. End to end.
	e := r.EndToEnd
	if e == nil {
		e = &EndToEndResult{}
	}
	var lagP99, lagP50 *float64
	if e.Markers != nil && e.Markers.Found > 0 {
		lagP99, lagP50 = f(e.Markers.P99.Seconds()), f(e.Markers.P50.Seconds())
	}
	lagNote := ""
	if lagP50 != nil {
		lagNote = "p50 " + report.Duration(*lagP50) + ", polled every " + report.Duration(e.Markers.Poll.Seconds())
	}
	add(report.Measure{ID: "e2e_lag_p99", Name: "end-to-end lag p99, answer → row readable (marker hits at " + report.Thousands(e.Rate) + " req/s)",
		Unit: report.UnitSeconds, Ours: lagP99, Target: report.AtMost(targetE2EP99, "≤ 2 s"), Note: lagNote})
	var lost *float64
	if r.EndToEnd != nil && e.Answered > 0 {
		missing := e.Missing
		if e.Markers != nil {
			missing += int64(len(e.Markers.Missing))
		}
		lost = f(float64(missing))
	}
	add(report.Measure{ID: "e2e_loss", Name: "end-to-end loss: answered 200, not in ClickHouse", Unit: report.UnitCount,
		Ours: lost, BaselineName: "of " + report.Thousands(float64(e.Answered)) + " answered 200",
		Target: report.Exactly(0, "0 (zero loss)"), Note: lossNote(e)})
	// 7. The other micro-benchmarks, for reference.
	for _, m := range []struct{ id, name, bench string }{
		{"publish_enqueue_ns", "publish enqueue: Acquire + fill + Publish (" + benchEnqueue + ")", benchEnqueue},
		{"publish_throughput_ns", "publish to the broker, per event (" + benchThroughput + ")", benchThroughput},
		{"rows_append_ns", "columnar append of one event (" + benchRowsAppend + ")", benchRowsAppend},
		{"event_parse_ns", "message decode (" + benchParse + ")", benchParse},
	} {
		b := r.bench(m.bench)
		note := ""
		if b != nil {
			note = report.Thousands(b.AllocsPerOp) + " allocs/op, " + report.Thousands(b.BytesPerOp) + " B/op"
		}
		add(report.Measure{ID: m.id, Name: m.name, Unit: report.UnitNsPerOp, Ours: nsop(b), Note: note})
	}
	r.Measures = ms
}

func (r *Results) e2eConsumerRSS() int64 {
	if r.EndToEnd == nil {
		return 0
	}
	return r.EndToEnd.ConsumerRSSPeak
}

func brokerNote(t *ThroughputRun) string {
	if t == nil {
		return ""
	}
	s := "broker " + t.Broker
	if t.ServerCoreBusy > 0 && t.ServerCoreBusy < 0.9 {
		s += "; core 0 only " + report.Percent(t.ServerCoreBusy) + " busy: limited by the client"
	}
	if n := publishNote(t); n != "" {
		s += "; " + n
	}
	return s
}

// publishNote says where a wrk run's events went when not all reached the
// broker while it ran.
func publishNote(t *ThroughputRun) string {
	if t == nil || t.Spooled+t.Dropped == 0 {
		return ""
	}
	total := t.Published + t.Spooled + t.Dropped
	return fmt.Sprintf("%s of its events went to the disk spool and %s were dropped: the writes to Kafka did not keep up (queue full)",
		report.Percent(t.Spooled/total), report.Thousands(t.Dropped))
}

func incomplete(ld *Load) string {
	if ld != nil && !ld.Complete {
		return "incomplete: " + report.Thousands(float64(ld.Rows)) + " rows by the timeout"
	}
	return ""
}

func lossNote(e *EndToEndResult) string {
	if e.Sent == 0 {
		return ""
	}
	s := fmt.Sprintf("sent %d, answered 200 %d, distinct event_ids in ClickHouse %d", e.Sent, e.Answered, e.Distinct)
	if e.Markers != nil {
		s += fmt.Sprintf(", markers %d/%d found", e.Markers.Found, e.Markers.Answered)
	}
	if e.Uncertain > 0 || e.Unknown > 0 {
		s += fmt.Sprintf(", %d failed in transport, %d unexpected", e.Uncertain, e.Unknown)
	}
	return s
}

func (r *Results) bench(name string) *gobench.Result {
	if r.Micro == nil {
		return nil
	}
	for i := range r.Micro.Results {
		if r.Micro.Results[i].Name == name {
			return &r.Micro.Results[i]
		}
	}
	return nil
}

func allocs(b *gobench.Result) *float64 {
	if b == nil {
		return nil
	}
	return report.V(b.AllocsPerOp)
}

func nsop(b *gobench.Result) *float64 {
	if b == nil {
		return nil
	}
	return report.V(b.NsPerOp)
}

func bytesOrNil(n int64) *float64 {
	if n <= 0 {
		return nil
	}
	return report.V(float64(n))
}

func itoa(n int) string { return fmt.Sprint(n) }

// write saves results.json, results.md and the charts into dir.
func (r *Results) write(dir string) error {
	r.judge()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	r.markdown(&md)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	for name, svg := range r.charts() {
		if err := os.WriteFile(filepath.Join(dir, name), svg, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// markdown writes the report for a person.
func (r *Results) markdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "## make bench, %s run of %s\n\n", r.Mode, r.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Machine: %d × %s (nproc %d), Linux %s, %s, %s, ClickHouse %s, %s.\n",
		m.CPUs, orDash(m.CPUModel), m.CPUs, orDash(m.Kernel), orDash(m.OS), r.Versions.Go, orDash(r.Versions.ClickHouse), orDash(r.Versions.Wrk))
	fmt.Fprintf(w, "Setup: %s; broker: %s; end to end: %s. Took %s.\n\n",
		pinText(r.Setup), orDash(r.Setup.Broker), orDash(r.Setup.EndToEnd), time.Duration(r.Elapsed*float64(time.Second)).Round(time.Second))
	_ = report.SummaryTable(w, r.Measures)

	if l := r.Latency; l != nil && l.Collector != nil && l.Bare != nil {
		fmt.Fprintf(w, "\nLatency at %s req/s for %s, open loop from the scheduled send time (coordinated omission corrected):\n\n",
			report.Thousands(l.Rate), report.Duration(l.Duration))
		var rows [][]string
		for _, p := range []struct {
			name string
			c, b time.Duration
		}{
			{"p50", l.Collector.Latency.P50, l.Bare.Latency.P50},
			{"p90", l.Collector.Latency.P90, l.Bare.Latency.P90},
			{"p99", l.Collector.Latency.P99, l.Bare.Latency.P99},
			{"p99.9", l.Collector.Latency.P999, l.Bare.Latency.P999},
			{"max", l.Collector.Latency.Max, l.Bare.Latency.Max},
		} {
			rows = append(rows, []string{p.name, report.Duration(p.c.Seconds()), report.Duration(p.b.Seconds()), report.Ratio(ratio(p.c.Seconds(), p.b.Seconds()))})
		}
		rows = append(rows, []string{"late (sent > 1 ms after schedule)", report.Thousands(float64(l.Collector.Late)), report.Thousands(float64(l.Bare.Late)), "—"})
		_ = report.Table(w, []string{"percentile", "collector", "bare fasthttp", "ratio"}, rows)
	}
	if c := r.Consumer; c != nil && (c.Raw != nil || c.Ours != nil || c.Engine != nil) {
		fmt.Fprintf(w, "\nLoading %s events (%d bytes each on average) into a fresh table:\n\n", report.Thousands(float64(c.Events)), c.AvgBytes)
		var rows [][]string
		for _, ld := range []struct {
			name string
			l    *Load
		}{
			{fmt.Sprintf("raw chstore.Insert, %s-row batches (insert time only)", report.Thousands(float64(c.BatchRows))), c.Raw},
			{"our consumer (bin/consumer, default batches), from process start", c.Ours},
			{"ClickHouse Kafka engine + materialized view, from CREATE", c.Engine},
		} {
			if ld.l == nil {
				rows = append(rows, []string{ld.name, "—", "—", "—", "—"})
				continue
			}
			rows = append(rows, []string{ld.name, report.Thousands(float64(ld.l.Rows)), report.Duration(ld.l.Seconds),
				report.Duration(ld.l.FirstRowS), report.Thousands(ld.l.RowsPerS)})
		}
		_ = report.Table(w, []string{"loader", "rows", "time", "first rows after", "rows/s"}, rows)
	}
	if e := r.EndToEnd; e != nil && e.Sent > 0 {
		fmt.Fprintf(w, "\nEnd to end at %s req/s for %s: %d hits sent, %d answered 200, %d distinct event ids in ClickHouse (%d rows), all in %s after the load ended.",
			report.Thousands(e.Rate), report.Duration(e.Duration), e.Sent, e.Answered, e.Distinct, e.Rows, report.Duration(e.DrainS))
		if mk := e.Markers; mk != nil {
			fmt.Fprintf(w, " Marker lag (%d markers, answer → row readable, polled every %s, query %s): p50 %s, p90 %s, p99 %s, max %s.",
				mk.Found, report.Duration(mk.Poll.Seconds()), report.Duration(mk.QueryMean.Seconds()),
				report.Duration(mk.P50.Seconds()), report.Duration(mk.P90.Seconds()), report.Duration(mk.P99.Seconds()), report.Duration(mk.Max.Seconds()))
		}
		fmt.Fprintln(w)
	}
	if mr := r.Micro; mr != nil && len(mr.Results) > 0 {
		fmt.Fprintf(w, "\nMicro-benchmarks (go test -bench, -benchtime %s):\n\n", mr.BenchTime)
		var rows [][]string
		for _, b := range mr.Results {
			mbs := "—"
			if b.MBPerSec > 0 {
				mbs = report.Thousands(b.MBPerSec)
			}
			rows = append(rows, []string{strings.TrimPrefix(b.Package, "github.com/pixel-pipeline/pixel/") + " " + b.Name,
				report.Thousands(b.NsPerOp), report.Thousands(b.BytesPerOp), report.Thousands(b.AllocsPerOp), mbs})
		}
		_ = report.Table(w, []string{"benchmark", "ns/op", "B/op", "allocs/op", "MB/s"}, rows)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

func ratio(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	return report.V(a / b)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func pinText(s Setup) string {
	if !s.Pinned {
		return "nothing pinned (no taskset or one core)"
	}
	return fmt.Sprintf("servers under load pinned to core %s, wrk and loadgen to core %s (taskset)", s.ServerCPU, s.ClientCPU)
}

func wrkVersion() (string, error) { return wrk.Version() }
