package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// SchemaVersion is the version of results.json's layout: 2 added the naive
// baselines, CPU time per request and row, the trade-off runs and the parts
// of the run.
const SchemaVersion = 2

// Results is everything a run measured; results.json is this struct.
// Durations whose field names end in _ns are nanoseconds, _us microseconds,
// _s seconds. CPU time is user plus system time of a process (all its
// threads) from /proc/<pid>/stat, over the measured window.
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
	Tradeoff  *TradeoffResult  `json:"tradeoff"`
	Kafka     *KafkaResult     `json:"kafka"`
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
	// Parts are the parts this run measured (-only).
	Parts []string `json:"parts"`
}

// CollectorResult is the throughput part: wrk against each server.
type CollectorResult struct {
	// Request is what wrk sent, identical for both servers.
	Request     WrkRequest     `json:"request"`
	Bare        *ThroughputRun `json:"bare"`
	Collector   *ThroughputRun `json:"collector"`
	Naive       *ThroughputRun `json:"naive"`
	OtherBroker *ThroughputRun `json:"collector_other_broker_placement,omitempty"` // full runs: the broker on the other core
	// NaiveRequests are the requests wrk completed against the naive
	// collector, and NaivePublished the messages in its topic after them:
	// it publishes every hit, so the second is at least the first.
	NaiveRequests  int64 `json:"naive_requests"`
	NaivePublished int64 `json:"naive_published"`
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
	// CPU time per request answered, of the server and of the broker.
	ServerCPUPerReq float64 `json:"server_cpu_us_per_request"`
	BrokerCPUPerReq float64 `json:"broker_cpu_us_per_request"`
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
	Naive     *LatencyRun `json:"naive"`
}

// LatencyRun is one loadgen run.
type LatencyRun struct {
	// CPU shares over the run (1 = one core): the core-1 load generator
	// (this process) and the broker.
	LoadgenCPU      float64                `json:"loadgen_cpu_share"`
	BrokerCPU       float64                `json:"broker_cpu_share"`
	Broker          string                 `json:"broker_cpu"`
	ServerCoreBusy  float64                `json:"server_core_busy"`
	ClientCoreBusy  float64                `json:"client_core_busy"`
	ServerCPUPerReq float64                `json:"server_cpu_us_per_request"`
	Sent            int64                  `json:"sent"`
	Completed       int64                  `json:"completed"`
	OK              int64                  `json:"ok"`
	Late            int64                  `json:"late"`
	Errors          int64                  `json:"errors"`
	AchievedRate    float64                `json:"achieved_rate"`
	Latency         loadgen.LatencySummary `json:"latency"`
	Timeline        []loadgen.Second       `json:"timeline"`
}

// ConsumerResult is the consumer part: the same events loaded four ways.
type ConsumerResult struct {
	Events        int       `json:"events"`
	AvgBytes      int       `json:"avg_message_bytes"`
	GenerateS     float64   `json:"generate_s"`
	ProduceS      float64   `json:"produce_s"`
	BatchRows     int       `json:"raw_batch_rows"` // the batch size of the faster raw insert, the baseline
	RawRowsPerS   []float64 `json:"raw_rows_per_s"` // the raw insert at each of rawBatchSizes
	Raw           *Load     `json:"raw_insert"`
	Ours          *Load     `json:"consumer"`
	Naive         *Load     `json:"naive_consumer"`
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
	CPU      LoadCPU `json:"cpu"`
}

// LoadCPU is the CPU time a load cost per row stored, over the timed
// window; 0 is not measured.
type LoadCPU struct {
	// Loader is the consumer process from its start; for the raw insert,
	// this process during its inserts; for the Kafka engine, nothing of its
	// own (it runs inside ClickHouse).
	Loader float64 `json:"loader_us_per_row"`
	// ClickHouse is the whole server (inserts, merges, the Kafka engine, the
	// count() polls), and Broker the embedded broker serving the fetches.
	ClickHouse float64 `json:"clickhouse_us_per_row"`
	Broker     float64 `json:"broker_us_per_row"`
}

// Total is the CPU time of the whole load per row.
func (c LoadCPU) Total() float64 { return c.Loader + c.ClickHouse + c.Broker }

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
	CollectorRSSPeak int64       `json:"collector_rss_peak_bytes"`
	ConsumerRSSPeak  int64       `json:"consumer_rss_peak_bytes"`
	CPU              PipelineCPU `json:"cpu"`
}

// PipelineCPU is the CPU time of each process of the pipeline per hit
// answered 200, over the load; 0 is not measured.
type PipelineCPU struct {
	Collector  float64 `json:"collector_us_per_event"`
	Broker     float64 `json:"broker_us_per_event"`
	Consumer   float64 `json:"consumer_us_per_event"`
	ClickHouse float64 `json:"clickhouse_us_per_event"`
}

// Total is the whole pipeline's CPU time per event.
func (c PipelineCPU) Total() float64 { return c.Collector + c.Broker + c.Consumer + c.ClickHouse }

// TradeoffResult is the trade-off part: the pipeline at a fixed rate with
// our consumer at each batch size and age.
type TradeoffResult struct {
	Rate     float64        `json:"rate"`
	Duration float64        `json:"duration_s"` // of each run's load
	Cells    []TradeoffCell `json:"cells"`
}

// TradeoffCell is one run of the trade-off: the consumer with -batch-rows
// BatchRows and -batch-age BatchAge.
type TradeoffCell struct {
	BatchRows int     `json:"batch_rows"`
	BatchAge  float64 `json:"batch_age_s"`
	Sent      int64   `json:"sent"`
	Answered  int64   `json:"answered_200"`
	Stored    int64   `json:"stored"` // of those, readable at the end
	// LastRowS is from the end of the load until every answered hit was
	// readable; RowsPerS is Stored over the load's time plus LastRowS.
	LastRowS float64 `json:"last_row_s"`
	RowsPerS float64 `json:"rows_per_s"`
	// Lag of marker hits sent during the load (answer → row readable).
	Markers *marker.Result `json:"markers"`
	// CPU time per stored row over the load and until its last row.
	ConsumerCPU   float64 `json:"consumer_cpu_us_per_row"`
	ClickHouseCPU float64 `json:"clickhouse_cpu_us_per_row"`
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
			Events: cfg.Events, Seed: cfg.Seed, Partitions: partitions, Parts: cfg.Parts,
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
	targetHandler   = 1.2 // × the bare handler's ns/op
	targetPublishNs = 500
	targetP99       = 0.002 // seconds
	targetCollRSS   = 64 * mib
	targetVsRaw     = 0.85
	targetVsEngine  = 3
	targetVsNaive   = 1 // ahead: more than 1×
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
	microsecond     = 1e-6 // CPU figures are kept in µs, measures in seconds
)

// judge builds the summary table from the figures: the lines of the parts
// the run measured (-only), in the order of the story.
func (r *Results) judge() {
	var ms []report.Measure
	add := func(part string, m report.Measure) {
		if !slices.Contains(r.Setup.Parts, part) {
			return
		}
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
	// cpu turns µs into the seconds of a measure; 0 is not measured.
	cpu := func(us float64) *float64 {
		if us <= 0 {
			return nil
		}
		return f(us * microsecond)
	}

	// 1. The collector's ceiling, and the naive collector.
	c := r.Collector
	if c == nil {
		c = &CollectorResult{}
	}
	wrkName := "(wrk -t1 -c" + itoa(r.Setup.WrkConnections) + ", server on core 0)"
	add(partCollector, report.Measure{ID: "collector_throughput", Name: "collector req/s " + wrkName,
		Unit: report.UnitReqPerSec, Ours: rate(c.Collector), Baseline: rate(c.Bare), BaselineName: "bare fasthttp",
		Target: report.AtLeastRatio(targetCollector, "≥ 0.85× bare fasthttp"), Note: brokerNote(c.Collector)})
	if c.OtherBroker != nil {
		add(partCollector, report.Measure{ID: "collector_throughput_other_broker", Name: "collector req/s, for reference with the broker " + c.OtherBroker.Broker,
			Unit: report.UnitReqPerSec, Ours: rate(c.OtherBroker), Baseline: rate(c.Bare), BaselineName: "bare fasthttp",
			Target: report.AtLeastRatio(targetCollector, "≥ 0.85× bare fasthttp"), Note: publishNote(c.OtherBroker)})
	}
	add(partCollector, report.Measure{ID: "collector_vs_naive", Name: "collector vs naive collector, req/s " + wrkName,
		Unit: report.UnitReqPerSec, Ours: rate(c.Collector), Baseline: rate(c.Naive), BaselineName: "naive collector",
		Target: report.AboveRatio(targetVsNaive, "> 1× naive collector"), Note: naiveNote(c)})
	var collCPU, bareCPU, naiveCPU, collBroker, naiveBroker float64
	if c.Collector != nil {
		collCPU, collBroker = c.Collector.ServerCPUPerReq, c.Collector.BrokerCPUPerReq
	}
	if c.Bare != nil {
		bareCPU = c.Bare.ServerCPUPerReq
	}
	if c.Naive != nil {
		naiveCPU, naiveBroker = c.Naive.ServerCPUPerReq, c.Naive.BrokerCPUPerReq
	}
	add(partCollector, report.Measure{ID: "collector_cpu_per_request", Name: "collector CPU per request, best wrk round (/proc utime+stime)",
		Unit: report.UnitSeconds, Ours: cpu(collCPU), Baseline: cpu(bareCPU), BaselineName: "bare fasthttp",
		Note: cpuNote("the broker adds", collBroker, "per request")})
	add(partCollector, report.Measure{ID: "collector_cpu_vs_naive", Name: "collector CPU per request vs the naive collector's",
		Unit: report.UnitSeconds, Ours: cpu(collCPU), Baseline: cpu(naiveCPU), BaselineName: "naive collector",
		Note: cpuNote("the broker adds", naiveBroker, "per naive request")})
	// 2. The micro-benchmarks with targets.
	pixelB, bareB := r.bench(benchPixel), r.bench(benchBare)
	add(partMicro, report.Measure{ID: "pixel_handler_allocs", Name: "pixel handler allocs/op (" + benchPixel + ")", Unit: report.UnitAllocs,
		Ours: allocs(pixelB), Baseline: allocs(bareB), BaselineName: "bare handler", Target: report.Exactly(0, "0 allocs/op")})
	add(partMicro, report.Measure{ID: "pixel_handler_ns", Name: "pixel handler ns/op, whole request in memory (" + benchPixel + ")", Unit: report.UnitNsPerOp,
		Ours: nsop(pixelB), Baseline: nsop(bareB), BaselineName: benchBare, Target: report.AtMostRatio(targetHandler, "≤ 1.2× bare handler")})
	pubB := r.bench(benchThroughput)
	add(partMicro, report.Measure{ID: "publish_throughput_ns", Name: "publish to the broker, per event (" + benchThroughput + ")", Unit: report.UnitNsPerOp,
		Ours: nsop(pubB), Target: report.AtMost(targetPublishNs, "≤ 500 ns/op"), Note: benchNote(pubB)})
	add(partMicro, report.Measure{ID: "publish_throughput_allocs", Name: "publish to the broker, allocs per event (" + benchThroughput + ")", Unit: report.UnitAllocs,
		Ours: allocs(pubB), Target: report.Exactly(0, "0 allocs/op amortised")})
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
	p99Note := ""
	if v := p99(l.Naive); v != nil {
		p99Note = "naive collector " + report.Duration(*v)
	}
	add(partCollector, report.Measure{ID: "collector_p99", Name: "collector p99 at half its max (" + report.Thousands(l.Rate) + " req/s, open loop, CO-corrected)",
		Unit: report.UnitSeconds, Ours: p99(l.Collector), Baseline: p99(l.Bare), BaselineName: "bare fasthttp",
		Target: report.AtMost(targetP99, "≤ 2 ms"), Note: p99Note})
	// 4. Memory of the collector.
	add(partCollector, report.Measure{ID: "collector_rss", Name: "collector RSS, peak over the wrk and latency runs (VmHWM)", Unit: report.UnitBytes,
		Ours: bytesOrNil(c.RSSPeak), Baseline: bytesOrNil(c.BareRSSPeak), BaselineName: "bare fasthttp",
		Target: report.AtMost(targetCollRSS, "≤ 64 MiB")})
	// 5. The consumer against its baselines.
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
	add(partConsumer, report.Measure{ID: "consumer_vs_raw", Name: "consumer rows/s, start to last row" + n, Unit: report.UnitRowsPerSec,
		Ours: loadRate(cr.Ours), Baseline: loadRate(cr.Raw), BaselineName: "raw columnar insert",
		Target: report.AtLeastRatio(targetVsRaw, "≥ 0.85× raw insert"), Note: incomplete(cr.Ours)})
	add(partConsumer, report.Measure{ID: "consumer_vs_engine", Name: "consumer rows/s vs ClickHouse's Kafka engine" + n, Unit: report.UnitRowsPerSec,
		Ours: loadRate(cr.Ours), Baseline: loadRate(cr.Engine), BaselineName: "Kafka engine",
		Target: report.AtLeastRatio(targetVsEngine, "≥ 3× Kafka engine"), Note: incomplete(cr.Engine)})
	add(partConsumer, report.Measure{ID: "consumer_vs_naive", Name: "consumer rows/s vs the naive consumer" + n, Unit: report.UnitRowsPerSec,
		Ours: loadRate(cr.Ours), Baseline: loadRate(cr.Naive), BaselineName: "naive consumer",
		Target: report.AboveRatio(targetVsNaive, "> 1× naive consumer"), Note: incomplete(cr.Naive)})
	loadCPU := func(ld *Load) LoadCPU {
		if ld == nil {
			return LoadCPU{}
		}
		return ld.CPU
	}
	add(partConsumer, report.Measure{ID: "consumer_cpu_per_row", Name: "consumer CPU per row, start to last row (/proc utime+stime)", Unit: report.UnitSeconds,
		Ours: cpu(loadCPU(cr.Ours).Loader), Baseline: cpu(loadCPU(cr.Naive).Loader), BaselineName: "naive consumer",
		Note: clickhouseCPUNote(cr)})
	add(partConsumer, report.Measure{ID: "consumer_rss", Name: "consumer RSS, peak while loading (VmHWM)", Unit: report.UnitBytes,
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
	add(partE2E, report.Measure{ID: "e2e_lag_p99", Name: "end-to-end lag p99, answer → row readable (marker hits at " + report.Thousands(e.Rate) + " req/s)",
		Unit: report.UnitSeconds, Ours: lagP99, Target: report.AtMost(targetE2EP99, "≤ 2 s"), Note: lagNote})
	var lost *float64
	if r.EndToEnd != nil && e.Answered > 0 {
		missing := e.Missing
		if e.Markers != nil {
			missing += int64(len(e.Markers.Missing))
		}
		lost = f(float64(missing))
	}
	add(partE2E, report.Measure{ID: "e2e_loss", Name: "end-to-end loss: answered 200, not in ClickHouse", Unit: report.UnitCount,
		Ours: lost, BaselineName: "of " + report.Thousands(float64(e.Answered)) + " answered 200",
		Target: report.Exactly(0, "0 (zero loss)"), Note: lossNote(e)})
	add(partE2E, report.Measure{ID: "e2e_cpu_per_event", Name: "pipeline CPU per event end to end (collector + broker + consumer + ClickHouse, load start to last row)",
		Unit: report.UnitSeconds, Ours: cpu(e.CPU.Total()), Note: pipelineCPUNote(e.CPU)})
	// 7. The other micro-benchmarks, for reference.
	for _, m := range []struct{ id, name, bench string }{
		{"publish_enqueue_ns", "publish enqueue: Acquire + fill + Publish (" + benchEnqueue + ")", benchEnqueue},
		{"rows_append_ns", "columnar append of one event (" + benchRowsAppend + ")", benchRowsAppend},
		{"event_parse_ns", "message decode (" + benchParse + ")", benchParse},
	} {
		b := r.bench(m.bench)
		add(partMicro, report.Measure{ID: m.id, Name: m.name, Unit: report.UnitNsPerOp, Ours: nsop(b), Note: benchNote(b)})
	}
	// 6. Our publisher on real Apache Kafka, next to the embedded broker.
	if k := r.Kafka; k != nil && len(k.Runs) > 0 {
		embedded := f(k.Runs[0].EventsPerSec)
		for _, run := range k.Runs[1:] {
			add(partKafka, report.Measure{ID: "kafka_publish_" + run.ID, Name: "publisher events/s acknowledged (pkg/publish, acks=all, compression " + run.Compression + "), " + run.Broker,
				Unit: report.UnitEventsPerSec, Ours: f(run.EventsPerSec), Baseline: embedded, BaselineName: "embedded broker, compression " + k.Compression,
				Note: fmt.Sprintf("%.0f bytes per event in the log segments of one replica (%.0f-byte events)", run.BytesPerEvent, k.ValueBytes)})
		}
	}
	r.Measures = ms
}

func benchNote(b *gobench.Result) string {
	if b == nil {
		return ""
	}
	return report.Thousands(b.AllocsPerOp) + " allocs/op, " + report.Thousands(b.BytesPerOp) + " B/op"
}

// cpuNote is "<what> 2.1 µs <per>", or nothing when us is not measured.
func cpuNote(what string, us float64, per string) string {
	if us <= 0 {
		return ""
	}
	return what + " " + report.Duration(us*microsecond) + " " + per
}

// naiveNote says whether the naive collector published every hit.
func naiveNote(c *CollectorResult) string {
	if c.NaiveRequests == 0 {
		return ""
	}
	return fmt.Sprintf("the naive collector published %s messages for %s hits answered", report.Thousands(float64(c.NaivePublished)), report.Thousands(float64(c.NaiveRequests)))
}

// clickhouseCPUNote gives ClickHouse's CPU per row during each load.
func clickhouseCPUNote(cr *ConsumerResult) string {
	var parts []string
	for _, ld := range []struct {
		name string
		l    *Load
	}{{"ours", cr.Ours}, {"naive", cr.Naive}, {"raw insert", cr.Raw}, {"Kafka engine", cr.Engine}} {
		if ld.l != nil && ld.l.CPU.ClickHouse > 0 {
			parts = append(parts, ld.name+" "+report.Duration(ld.l.CPU.ClickHouse*microsecond))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "ClickHouse per row: " + strings.Join(parts, ", ")
}

func pipelineCPUNote(c PipelineCPU) string {
	if c.Total() <= 0 {
		return ""
	}
	d := func(us float64) string { return report.Duration(us * microsecond) }
	return "collector " + d(c.Collector) + ", broker " + d(c.Broker) + ", consumer " + d(c.Consumer) + ", ClickHouse " + d(c.ClickHouse)
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

	if c := r.Collector; c != nil && (c.Bare != nil || c.Collector != nil || c.Naive != nil) {
		fmt.Fprintf(w, "\nThroughput and CPU time per request (the best wrk run of each; CPU time from /proc, user + system, over the run):\n\n")
		var rows [][]string
		for _, t := range []struct {
			name string
			t    *ThroughputRun
		}{
			{"bare fasthttp (bench/cmd/baregif)", c.Bare},
			{"our collector, broker " + brokerOf(c.Collector), c.Collector},
			{"our collector, broker " + brokerOf(c.OtherBroker), c.OtherBroker},
			{"naive collector (bench/cmd/naivecollector), broker " + brokerOf(c.Naive), c.Naive},
		} {
			if t.t == nil {
				continue
			}
			rows = append(rows, []string{t.name, report.Thousands(t.t.RequestsPerSec), usOrDash(t.t.ServerCPUPerReq), usOrDash(t.t.BrokerCPUPerReq),
				usOrDash(t.t.ServerCPUPerReq + t.t.BrokerCPUPerReq), report.Percent(t.t.ServerCoreBusy)})
		}
		_ = report.Table(w, []string{"server", "req/s", "server CPU per request", "broker CPU per request", "together", "core 0 busy"}, rows)
	}
	if l := r.Latency; l != nil && l.Collector != nil && l.Bare != nil {
		fmt.Fprintf(w, "\nLatency at %s req/s for %s, open loop from the scheduled send time (coordinated omission corrected):\n\n",
			report.Thousands(l.Rate), report.Duration(l.Duration))
		naive := l.Naive
		if naive == nil {
			naive = &LatencyRun{}
		}
		var rows [][]string
		for _, p := range []struct {
			name    string
			c, b, n time.Duration
		}{
			{"p50", l.Collector.Latency.P50, l.Bare.Latency.P50, naive.Latency.P50},
			{"p90", l.Collector.Latency.P90, l.Bare.Latency.P90, naive.Latency.P90},
			{"p99", l.Collector.Latency.P99, l.Bare.Latency.P99, naive.Latency.P99},
			{"p99.9", l.Collector.Latency.P999, l.Bare.Latency.P999, naive.Latency.P999},
			{"max", l.Collector.Latency.Max, l.Bare.Latency.Max, naive.Latency.Max},
		} {
			rows = append(rows, []string{p.name, report.Duration(p.c.Seconds()), report.Duration(p.b.Seconds()), report.Ratio(ratio(p.c.Seconds(), p.b.Seconds())),
				durOrDash(p.n), report.Ratio(ratio(p.c.Seconds(), p.n.Seconds()))})
		}
		rows = append(rows, []string{"late (sent > 1 ms after schedule)", report.Thousands(float64(l.Collector.Late)), report.Thousands(float64(l.Bare.Late)), "—",
			report.Thousands(float64(naive.Late)), "—"})
		rows = append(rows, []string{"server CPU per request", usOrDash(l.Collector.ServerCPUPerReq), usOrDash(l.Bare.ServerCPUPerReq),
			report.Ratio(ratio(l.Collector.ServerCPUPerReq, l.Bare.ServerCPUPerReq)), usOrDash(naive.ServerCPUPerReq), report.Ratio(ratio(l.Collector.ServerCPUPerReq, naive.ServerCPUPerReq))})
		_ = report.Table(w, []string{"percentile", "collector", "bare fasthttp", "ratio", "naive collector", "ratio"}, rows)
	}
	if c := r.Consumer; c != nil && (c.Raw != nil || c.Ours != nil || c.Engine != nil) {
		fmt.Fprintf(w, "\nLoading %s events (%d bytes each on average) into a fresh table; CPU time per row from /proc over the timed window (the loader: the consumer process from its start, this process during the raw inserts):\n\n", report.Thousands(float64(c.Events)), c.AvgBytes)
		var rows [][]string
		for _, ld := range []struct {
			name string
			l    *Load
		}{
			{fmt.Sprintf("raw chstore.Insert, %s-row batches (insert time only)", report.Thousands(float64(c.BatchRows))), c.Raw},
			{"our consumer (bin/consumer, default batches), from process start", c.Ours},
			{"naive consumer (bench/cmd/naiveconsumer, same batches), from process start", c.Naive},
			{"ClickHouse Kafka engine + materialized view, from CREATE", c.Engine},
		} {
			if ld.l == nil {
				rows = append(rows, []string{ld.name, "—", "—", "—", "—", "—", "—", "—", "—"})
				continue
			}
			cpu := ld.l.CPU
			rows = append(rows, []string{ld.name, report.Thousands(float64(ld.l.Rows)), report.Duration(ld.l.Seconds),
				report.Duration(ld.l.FirstRowS), report.Thousands(ld.l.RowsPerS),
				usOrDash(cpu.Loader), usOrDash(cpu.ClickHouse), usOrDash(cpu.Broker), usOrDash(cpu.Total())})
		}
		_ = report.Table(w, []string{"loader", "rows", "time", "first rows after", "rows/s", "loader CPU per row", "ClickHouse CPU per row", "broker CPU per row", "together"}, rows)
	}
	if e := r.EndToEnd; e != nil && e.Sent > 0 {
		fmt.Fprintf(w, "\nEnd to end at %s req/s for %s: %d hits sent, %d answered 200, %d distinct event ids in ClickHouse (%d rows), all in %s after the load ended.",
			report.Thousands(e.Rate), report.Duration(e.Duration), e.Sent, e.Answered, e.Distinct, e.Rows, report.Duration(e.DrainS))
		if mk := e.Markers; mk != nil {
			fmt.Fprintf(w, " Marker lag (%d markers, answer → row readable, polled every %s, query %s): p50 %s, p90 %s, p99 %s, max %s.",
				mk.Found, report.Duration(mk.Poll.Seconds()), report.Duration(mk.QueryMean.Seconds()),
				report.Duration(mk.P50.Seconds()), report.Duration(mk.P90.Seconds()), report.Duration(mk.P99.Seconds()), report.Duration(mk.Max.Seconds()))
		}
		if e.CPU.Total() > 0 {
			fmt.Fprintf(w, " CPU time per event from the load's start to its last row: %s (%s).", usOrDash(e.CPU.Total()), pipelineCPUNote(e.CPU))
		}
		fmt.Fprintln(w)
	}
	if t := r.Tradeoff; t != nil && len(t.Cells) > 0 {
		fmt.Fprintf(w, "\nThe consumer's batch size and age against lag: the pipeline at %s hits/s for %s per row of the table, a fresh topic, collector, consumer and table each; "+
			"lag of a marker hit every 50 ms (answer → row readable, polled every 25 ms); rows/s is the rows stored over the time from the load's start to its last row; CPU time per row stored over that time:\n\n",
			report.Thousands(t.Rate), report.Duration(t.Duration))
		var rows [][]string
		for _, c := range t.Cells {
			var p50, p99 time.Duration
			found := 0
			if c.Markers != nil {
				p50, p99, found = c.Markers.P50, c.Markers.P99, c.Markers.Found
			}
			rows = append(rows, []string{report.Thousands(float64(c.BatchRows)), report.Duration(c.BatchAge), report.Thousands(c.RowsPerS),
				durOrDash(p50), durOrDash(p99), itoa(found), report.Duration(c.LastRowS), usOrDash(c.ConsumerCPU), usOrDash(c.ClickHouseCPU)})
		}
		_ = report.Table(w, []string{"-batch-rows", "-batch-age", "rows/s", "lag p50", "lag p99", "markers", "last row after the load", "consumer CPU per row", "ClickHouse CPU per row"}, rows)
	}
	if k := r.Kafka; k != nil && len(k.Runs) > 0 {
		fmt.Fprintf(w, "\nOur publisher (pkg/publish, the collector's defaults, acks=all) writing %s generated events (%.0f bytes each):\n\n",
			report.Thousands(float64(k.Events)), k.ValueBytes)
		var rows [][]string
		for _, run := range k.Runs {
			per := "—"
			if run.LogBytes > 0 {
				per = fmt.Sprintf("%.0f", run.BytesPerEvent)
			}
			rows = append(rows, []string{run.Broker, run.Compression, report.Thousands(run.EventsPerSec), report.Duration(run.Seconds), per})
		}
		_ = report.Table(w, []string{"broker", "compression", "events/s acknowledged", "took", "log bytes per event (one replica)"}, rows)
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

// usOrDash renders microseconds; 0 is not measured.
func usOrDash(us float64) string {
	if us <= 0 {
		return "—"
	}
	return report.Duration(us * microsecond)
}

func durOrDash(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return report.Duration(d.Seconds())
}

func brokerOf(t *ThroughputRun) string {
	if t == nil {
		return ""
	}
	return t.Broker
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
