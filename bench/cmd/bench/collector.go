package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pixel-pipeline/pixel/bench/pin"
	"github.com/pixel-pipeline/pixel/bench/procstat"
	"github.com/pixel-pipeline/pixel/bench/promtext"
	"github.com/pixel-pipeline/pixel/bench/wrk"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// wrkRequest is what wrk repeats against both servers: the first purchase
// of pkg/loadgen's traffic (a returning visitor's hit with cd[value],
// cd[currency], cd[content_ids] and more), with that browser's headers and
// a pair of visitor and session cookies. It carries no eid, so the
// collector generates one per hit and every hit is a new row.
func wrkRequest(seed uint64) (WrkRequest, error) {
	gen, err := loadgen.NewGenerator(seed, loadgen.DefaultMix())
	if err != nil {
		return WrkRequest{}, err
	}
	var h loadgen.Hit
	for i := uint64(0); i < 100_000; i++ {
		gen.Fill(&h, i, time.Now())
		if h.Valid() && h.Event == loadgen.Purchase && strings.Contains(string(h.Query), "cd") {
			req := WrkRequest{Path: loadgen.DefaultPath + "?" + string(h.Query), Headers: []string{
				"User-Agent: " + h.UserAgent,
				"Accept: image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
				"Accept-Language: " + h.AcceptLanguage,
				"Accept-Encoding: gzip, deflate, br, zstd",
				"Cookie: _ga=GA1.1.1234567890.1767268800; " + pixel.VisitorCookie + "=" + string(pixel.AppendNewID(nil)) +
					"; " + pixel.SessionCookie + "=" + string(pixel.AppendNewID(nil)),
				"Sec-Fetch-Dest: image", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Site: cross-site",
			}}
			if len(h.Referer) > 0 {
				req.Headers = append(req.Headers, "Referer: "+string(h.Referer))
			}
			return req, nil
		}
	}
	return WrkRequest{}, fmt.Errorf("no purchase among the first 100000 hits of seed %d", seed)
}

// collector measures the collector against the bare server and the naive
// collector: the maximum rate of each under wrk, then the latency of each
// at half the collector's maximum, open loop, and the CPU time each spends
// per request meanwhile. The servers run on core 0, wrk and loadgen on
// core 1; the broker where -broker-cpu says.
func (l *lab) collector(ctx context.Context, res *Results) error {
	cpu, client := serverCPU, clientCPU
	if !pin.Available() {
		cpu, client = "", ""
	}
	brokerCPU := map[string]string{"client": client, "server": cpu, "any": pin.All()}[l.cfg.BrokerCPU]
	res.Setup.Broker = map[string]string{
		"server": "devbroker pinned to core 0 with the collector while wrk and loadgen load it: the server side (collector and the broker it must feed) gets the one core the bare server gets, and core 1 is the load generator's alone in every run",
		"client": "devbroker pinned to core 1 with wrk and loadgen: the collector alone on core 0 like the bare server, the load generator sharing its core with the broker",
		"any":    "devbroker unpinned",
	}[l.cfg.BrokerCPU]
	if !pin.Available() {
		brokerCPU = ""
	}
	otherCPU := map[string]string{"client": cpu, "server": client}[l.cfg.BrokerCPU]

	req, err := wrkRequest(uint64(l.cfg.Seed))
	if err != nil {
		return err
	}
	cr := &CollectorResult{Request: req}
	res.Collector = cr

	// The three servers, side by side on the same core; only one is loaded
	// at a time.
	ad, err := freeAddrs(4)
	if err != nil {
		return err
	}
	bareAddr, collAddr, adminAddr, naiveAddr := ad[0], ad[1], ad[2], ad[3]
	bare, err := l.start("baregif", cpu, l.bin("baregif"), "-addr", bareAddr)
	if err != nil {
		return err
	}
	defer l.stop(bare, 10*time.Second)
	coll, err := l.start("collector", cpu, l.bin("collector"), "-addr", collAddr, "-admin-addr", adminAddr,
		"-kafka-brokers", l.brokerAddr, "-kafka-topic", topicCollector,
		"-spool-dir", filepath.Join(l.work, "spool-collector"), "-drain-delay", "0", "-log-level", "warn", "-registry", "off")
	if err != nil {
		return err
	}
	defer l.stop(coll, 30*time.Second)
	naive, err := l.start("naivecollector", cpu, l.bin("naivecollector"), "-addr", naiveAddr,
		"-kafka-brokers", l.brokerAddr, "-kafka-topic", topicNaive)
	if err != nil {
		return err
	}
	defer l.stop(naive, 10*time.Second)
	if err := waitHTTP(ctx, bare, "http://"+bareAddr+"/healthz"); err != nil {
		return err
	}
	if err := waitHTTP(ctx, coll, "http://"+adminAddr+"/readyz"); err != nil {
		return err
	}
	if err := waitHTTP(ctx, naive, "http://"+naiveAddr+"/healthz"); err != nil {
		return err
	}
	if err := l.pinBroker(brokerCPU); err != nil {
		return err
	}
	defer func() { _ = l.pinBroker(pin.All()) }()
	bareURL, collURL, naiveURL := "http://"+bareAddr, "http://"+collAddr, "http://"+naiveAddr
	if err := sameAnswer(ctx, bareURL, collURL, req); err != nil {
		res.note("the bare server does not answer like the collector: " + err.Error())
	}
	if err := sameAnswer(ctx, naiveURL, collURL, req); err != nil {
		res.note("the naive collector does not answer like the collector: " + err.Error())
	}
	collMem := procstat.SampleMemory(coll.Pid(), 100*time.Millisecond)
	bareMem := procstat.SampleMemory(bare.Pid(), 100*time.Millisecond)
	defer func() {
		m, b := collMem.Stop(), bareMem.Stop()
		cr.RSSPeak, cr.RSSMax, cr.BareRSSPeak = m.Peak, m.RSS, b.Peak
	}()

	metricsURL := "http://" + adminAddr + "/metrics"
	run := func(name, base string, server int, d time.Duration) (*ThroughputRun, error) {
		m0, _ := promtext.Scrape(ctx, metricsURL)
		u := l.usage(server)
		r, err := wrk.Run(ctx, wrk.Config{URL: base + req.Path, Connections: l.cfg.WrkConnections, Duration: d, Headers: req.Headers, CPUs: client})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		t := &ThroughputRun{Result: *r, Broker: brokerPlace(brokerCPU), Rounds: []float64{r.RequestsPerSec}}
		sp := u.since()
		t.ServerCoreBusy, t.ClientCoreBusy, t.BrokerCPU = sp.core0, sp.core1, sp.share(sp.broker)
		t.ServerCPUPerReq, t.BrokerCPUPerReq = perUnit(sp.server, float64(r.Requests)), perUnit(sp.broker, float64(r.Requests))
		if m1, err := promtext.Scrape(ctx, metricsURL); err == nil && m0 != nil && base == collURL {
			t.Published = m1["pixel_publish_acked_total"] - m0["pixel_publish_acked_total"]
			t.Spooled = m1["pixel_publish_spooled_total"] - m0["pixel_publish_spooled_total"]
			t.Dropped = m1.Sum("pixel_publish_dropped_total") - m0.Sum("pixel_publish_dropped_total")
			if m1["pixel_publish_spooling"] == 1 {
				// Let the replay empty the spool before the next run.
				l.waitSpoolEmpty(ctx, metricsURL)
			}
		}
		l.printf("      %-36s %9.0f req/s  (core 0 %3.0f%% busy, core 1 %3.0f%%; CPU per request %5.1f µs, broker %4.1f µs; %d errors, %d non-2xx)",
			name, r.RequestsPerSec, 100*t.ServerCoreBusy, 100*t.ClientCoreBusy, t.ServerCPUPerReq, t.BrokerCPUPerReq, r.SocketErrors, r.Non2xx)
		if r.SocketErrors > 0 || r.Non2xx > 0 {
			res.note(fmt.Sprintf("%s: wrk saw %d socket errors and %d answers other than 2xx/3xx", name, r.SocketErrors, r.Non2xx))
		}
		if base == naiveURL {
			cr.NaiveRequests += r.Requests
		}
		return t, nil
	}
	// best keeps the faster of two runs of a server and every round's rate.
	best := func(a, b *ThroughputRun) *ThroughputRun {
		if a == nil {
			return b
		}
		rounds := append(a.Rounds, b.Rounds...)
		if b.RequestsPerSec > a.RequestsPerSec {
			a = b
		}
		a.Rounds = rounds
		return a
	}
	warm := min(2*time.Second, l.cfg.WrkDuration)
	for _, w := range []struct {
		name, base string
		pid        int
	}{{"warm-up: bare", bareURL, bare.Pid()}, {"warm-up: collector", collURL, coll.Pid()}, {"warm-up: naive collector", naiveURL, naive.Pid()}} {
		if _, err := run(w.name, w.base, w.pid, warm); err != nil {
			return err
		}
	}
	// Alternate the servers, so that a disturbance of the shared machine
	// does not hit one of them only, and keep each one's best run.
	rounds := 2
	if l.cfg.Quick {
		rounds = 1
	}
	for i := range rounds {
		t, err := run(fmt.Sprintf("bare fasthttp, round %d", i+1), bareURL, bare.Pid(), l.cfg.WrkDuration)
		if err != nil {
			return err
		}
		cr.Bare = best(cr.Bare, t)
		m0, _ := promtext.Scrape(ctx, metricsURL)
		if t, err = run(fmt.Sprintf("collector, round %d", i+1), collURL, coll.Pid(), l.cfg.WrkDuration); err != nil {
			return err
		}
		cr.Collector = best(cr.Collector, t)
		m1, _ := promtext.Scrape(ctx, metricsURL)
		if m0 != nil && m1 != nil {
			cr.Accepted += m1[`pixel_hits_total{outcome="accepted"}`] - m0[`pixel_hits_total{outcome="accepted"}`]
			cr.Invalid += m1.Sum("pixel_hits_invalid_total") - m0.Sum("pixel_hits_invalid_total")
		}
		if t, err = run(fmt.Sprintf("naive collector, round %d", i+1), naiveURL, naive.Pid(), l.cfg.WrkDuration); err != nil {
			return err
		}
		cr.Naive = best(cr.Naive, t)
	}
	if cr.Invalid > 0 {
		res.note(fmt.Sprintf("the collector counted %.0f of wrk's hits as invalid: the request is not the valid hit it should be", cr.Invalid))
	}
	// The naive collector publishes asynchronously, a batch a second at
	// the latest: give it a few seconds to have published every hit wrk
	// had answered.
	cr.NaivePublished = l.waitPublished(ctx, topicNaive, cr.NaiveRequests, 5*time.Second)
	if cr.NaivePublished < cr.NaiveRequests {
		res.note(fmt.Sprintf("the naive collector published %d messages for the %d hits wrk had answered: it lost some (its writes are asynchronous, their errors unseen)", cr.NaivePublished, cr.NaiveRequests))
	}
	if !l.cfg.Quick && otherCPU != "" && cpu != "" {
		// For reference: the broker on the other core.
		if err := l.pinBroker(otherCPU); err != nil {
			return err
		}
		brokerWas := brokerCPU
		brokerCPU = otherCPU
		cr.OtherBroker, err = run("collector, broker on core "+otherCPU, collURL, coll.Pid(), l.cfg.WrkDuration)
		brokerCPU = brokerWas
		if err != nil {
			return err
		}
		if err := l.pinBroker(brokerCPU); err != nil {
			return err
		}
	}

	// Latency at half the collector's maximum, open loop, the collector
	// first.
	rate := cr.Collector.RequestsPerSec / 2
	lr := &LatencyResult{Rate: rate, Duration: l.cfg.LatencyDuration.Seconds()}
	res.Latency = lr
	if lr.Collector, err = l.latency(ctx, "collector", collURL, coll.Pid(), rate, client); err != nil {
		return err
	}
	if lr.Bare, err = l.latency(ctx, "bare fasthttp", bareURL, bare.Pid(), rate, client); err != nil {
		return err
	}
	if lr.Naive, err = l.latency(ctx, "naive collector", naiveURL, naive.Pid(), rate, client); err != nil {
		return err
	}
	for _, r := range []*LatencyRun{lr.Collector, lr.Bare, lr.Naive} {
		r.Broker = brokerPlace(brokerCPU)
	}

	if m, err := promtext.Scrape(ctx, metricsURL); err == nil {
		cr.Published = m["pixel_publish_acked_total"]
		cr.Spooled = m["pixel_publish_spooled_total"]
		cr.Dropped = m.Sum("pixel_publish_dropped_total")
		cr.MetricsRSS = int64(m["process_resident_memory_bytes"])
		if cr.Spooled > 0 || cr.Dropped > 0 {
			res.note(fmt.Sprintf("over the collector's runs it spooled %.0f events to disk and dropped %.0f, because its writes to Kafka did not keep up and its queue filled: while it spools, new events are appended to the spool file instead of being sent to Kafka (then replayed)", cr.Spooled, cr.Dropped))
		}
	}
	l.deleteTopic(ctx, topicCollector)
	l.deleteTopic(ctx, topicNaive)
	return nil
}

// waitPublished waits until topic holds at least want messages, or within
// passed, and returns how many it holds.
func (l *lab) waitPublished(ctx context.Context, topic string, want int64, within time.Duration) int64 {
	deadline := time.Now().Add(within)
	for {
		n, err := l.topicMessages(ctx, topic)
		if err != nil || n >= want || time.Now().After(deadline) || ctx.Err() != nil {
			return n
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitSpoolEmpty waits (at most a minute) until the collector has replayed
// its spool to the broker.
func (l *lab) waitSpoolEmpty(ctx context.Context, metricsURL string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if m, err := promtext.Scrape(ctx, metricsURL); err == nil && m["pixel_spool_records"] == 0 && m["pixel_publish_spooling"] == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// usage is a reading of the cores and of the CPU time of the broker, of
// this process and of the server under load, to compare with a later one.
type usage struct {
	l                    *lab
	server               int // pid; 0: none
	at                   time.Time
	cpus                 []procstat.CPUTimes
	broker, self, srvCPU time.Duration
}

func (l *lab) usage(server int) usage {
	u := usage{l: l, server: server, at: time.Now()}
	u.cpus, _ = procstat.ReadCPUs()
	if l.broker != nil {
		u.broker, _ = procstat.CPUTime(l.broker.Pid())
	}
	if server > 0 {
		u.srvCPU, _ = procstat.CPUTime(server)
	}
	u.self = selfCPU()
	return u
}

// spent is what was used between two readings of usage.
type spent struct {
	core0, core1         float64 // how busy cores 0 and 1 were, 0..1
	broker, self, server time.Duration
	wall                 time.Duration
}

// share is d over the wall time: 1 is one core.
func (s spent) share(d time.Duration) float64 {
	if s.wall <= 0 {
		return 0
	}
	return d.Seconds() / s.wall.Seconds()
}

// since returns what was used since u was read.
func (u usage) since() spent {
	v := u.l.usage(u.server)
	s := spent{wall: v.at.Sub(u.at), broker: v.broker - u.broker, self: v.self - u.self, server: v.srvCPU - u.srvCPU}
	if busy := procstat.BusyShare(u.cpus, v.cpus); len(busy) >= 2 {
		s.core0, s.core1 = busy[0], busy[1]
	}
	return s
}

// selfCPU is this process's CPU time, to the microsecond (getrusage), where
// /proc counts in 10 ms ticks.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perUnit is CPU time d per unit of n, in microseconds; 0 when either is
// unknown.
func perUnit(d time.Duration, n float64) float64 {
	if d <= 0 || n <= 0 {
		return 0
	}
	return d.Seconds() * 1e6 / n
}

func brokerPlace(cpus string) string {
	switch cpus {
	case "":
		return "unpinned"
	case pin.All():
		return "on all cores"
	default:
		return "on core " + cpus
	}
}

// onClientCore pins this process (the in-process load generator) to the
// client core with one P, so that its goroutines are not held up by a
// second thread competing for the same core; the returned func undoes it.
func onClientCore(cpus string) (undo func(), err error) {
	if cpus == "" {
		return func() {}, nil
	}
	if err := pin.Set(os.Getpid(), cpus); err != nil {
		return nil, err
	}
	procs := runtime.GOMAXPROCS(1)
	return func() {
		runtime.GOMAXPROCS(procs)
		_ = pin.Set(os.Getpid(), pin.All())
	}, nil
}

// latency runs loadgen open loop at rate against base for the configured
// time, from this process pinned to the client core.
func (l *lab) latency(ctx context.Context, name, base string, server int, rate float64, cpus string) (*LatencyRun, error) {
	undo, err := onClientCore(cpus)
	if err != nil {
		return nil, err
	}
	defer undo()
	cfg := loadgen.DefaultConfig()
	cfg.Target = base
	cfg.Rate = rate
	cfg.Duration = l.cfg.LatencyDuration
	cfg.Connections = l.cfg.WrkConnections
	cfg.Seed = uint64(l.cfg.Seed)
	u := l.usage(server)
	r, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("loadgen against %s: %w", name, err)
	}
	run := latencyRun(r)
	sp := u.since()
	run.ServerCoreBusy, run.ClientCoreBusy, run.BrokerCPU, run.LoadgenCPU = sp.core0, sp.core1, sp.share(sp.broker), sp.share(sp.self)
	run.ServerCPUPerReq = perUnit(sp.server, float64(r.Completed))
	l.printf("      %-36s p50 %s  p99 %s  p99.9 %s  max %s  (%d sent, %d late, %d errors; core 0 %.0f%% busy, core 1 %.0f%%; loadgen %.0f%%, broker %.0f%% of a core; CPU per request %.1f µs)",
		name+" at "+fmt.Sprintf("%.0f/s", rate), r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Sent, r.Late, r.Errors.Total(),
		100*run.ServerCoreBusy, 100*run.ClientCoreBusy, 100*run.LoadgenCPU, 100*run.BrokerCPU, run.ServerCPUPerReq)
	return run, nil
}

func latencyRun(r *loadgen.Result) *LatencyRun {
	return &LatencyRun{
		Sent: r.Sent, Completed: r.Completed, OK: r.Status[200], Late: r.Late, Errors: r.Errors.Total(),
		AchievedRate: r.AchievedRate, Latency: r.Latency, Timeline: r.Timeline,
	}
}

// sameAnswer checks that the bare server answers req as the collector
// does: status, body and the same headers and cookie attributes (values
// aside).
func sameAnswer(ctx context.Context, bare, coll string, req WrkRequest) error {
	h := http.Header{}
	for _, line := range req.Headers {
		k, v, _ := strings.Cut(line, ": ")
		h.Add(k, v)
	}
	rb, bb, err := get(ctx, bare+req.Path, h)
	if err != nil {
		return err
	}
	rc, bc, err := get(ctx, coll+req.Path, h)
	if err != nil {
		return err
	}
	if rb.StatusCode != rc.StatusCode || string(bb) != string(bc) || string(bc) != string(pixel.GIF) {
		return fmt.Errorf("status %d vs %d, body %d vs %d bytes", rb.StatusCode, rc.StatusCode, len(bb), len(bc))
	}
	names := func(r *http.Response) []string {
		var out []string
		for k := range r.Header {
			if k != "Date" {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	if a, b := names(rb), names(rc); !slices.Equal(a, b) {
		return fmt.Errorf("headers %v vs %v", a, b)
	}
	attrs := func(r *http.Response) []string {
		var out []string
		for _, c := range r.Cookies() {
			out = append(out, fmt.Sprintf("%s path=%s max-age=%d samesite=%v", c.Name, c.Path, c.MaxAge, c.SameSite))
		}
		slices.Sort(out)
		return out
	}
	if a, b := attrs(rb), attrs(rc); !slices.Equal(a, b) {
		return fmt.Errorf("cookies %v vs %v", a, b)
	}
	return nil
}
