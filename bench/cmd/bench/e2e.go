package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/pixel-pipeline/pixel/bench/marker"
	"github.com/pixel-pipeline/pixel/bench/pin"
	"github.com/pixel-pipeline/pixel/bench/procstat"
	"github.com/pixel-pipeline/pixel/bench/promtext"
	"github.com/pixel-pipeline/pixel/bench/report"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

// endToEnd runs the whole pipeline at half the collector's maximum rate
// (or -e2e-rate): loadgen sends valid hits with unique eids, a marker
// prober measures the lag from answer to readable row, the consumer's
// /metrics are scraped every second, and at the end the event ids in
// ClickHouse are compared with the hits that got a 200. The CPU time of
// every process of the pipeline is taken from the load's start until its
// last row.
func (l *lab) endToEnd(ctx context.Context, res *Results) error {
	rate := l.cfg.E2ERate
	switch {
	case rate > 0:
	case res.Collector != nil && res.Collector.Collector != nil:
		rate = res.Collector.Collector.RequestsPerSec / 2
	case l.cfg.runs(partCollector):
		return fmt.Errorf("the collector's maximum rate is unknown (its measurement failed); set -e2e-rate")
	default:
		rate = fallbackE2ERate
		res.note(fmt.Sprintf("end to end at %s hits/s: the collector's maximum was not measured in this run (-only) and -e2e-rate was not set", report.Thousands(rate)))
	}
	res.Setup.EndToEnd = "collector, consumer, broker and ClickHouse unpinned (both cores, as with make run), the load generator on core 1"
	if err := l.pinBroker(pin.All()); err != nil {
		return err
	}
	e := &EndToEndResult{Rate: rate, Duration: l.cfg.E2EDuration.Seconds()}
	res.EndToEnd = e

	const db = "bench_e2e"
	conn, err := l.migrate(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close()
	consAdmin, err := addr()
	if err != nil {
		return err
	}
	cons, err := l.start("consumer", "", l.bin("consumer"), "-admin-addr", consAdmin, "-kafka-brokers", l.brokerAddr,
		"-kafka-topic", topicE2E, "-kafka-group", "bench-e2e", "-clickhouse-addr", l.ch.Addr(),
		"-clickhouse-database", db, "-log-level", "warn")
	if err != nil {
		return err
	}
	defer l.stop(cons, 30*time.Second)
	collAddr, err := addr()
	if err != nil {
		return err
	}
	collAdmin, err := addr()
	if err != nil {
		return err
	}
	coll, err := l.start("collector", "", l.bin("collector"), "-addr", collAddr, "-admin-addr", collAdmin,
		"-kafka-brokers", l.brokerAddr, "-kafka-topic", topicE2E,
		"-spool-dir", filepath.Join(l.work, "spool-e2e"), "-drain-delay", "0", "-log-level", "warn", "-registry", "off")
	if err != nil {
		return err
	}
	defer l.stop(coll, 30*time.Second)
	if err := waitHTTP(ctx, cons, "http://"+consAdmin+"/healthz"); err != nil {
		return err
	}
	if err := waitHTTP(ctx, coll, "http://"+collAdmin+"/readyz"); err != nil {
		return err
	}
	consMem := procstat.SampleMemory(cons.Pid(), 100*time.Millisecond)
	collMem := procstat.SampleMemory(coll.Pid(), 100*time.Millisecond)
	defer func() {
		e.ConsumerRSSPeak, e.CollectorRSSPeak = consMem.Stop().Peak, collMem.Stop().Peak
	}()

	prefix := fmt.Sprintf("e2e-%d-", l.cfg.Seed)
	mk, err := marker.Start(ctx, marker.Config{
		Pixel: "http://" + collAddr + "/p.gif", Prefix: fmt.Sprintf("mk-%d-", l.cfg.Seed),
		Interval: 100 * time.Millisecond, Poll: 50 * time.Millisecond, Conn: conn, Table: db + ".events",
	})
	if err != nil {
		return err
	}
	scrapeCtx, stopScrape := context.WithCancel(ctx)
	scraped := make(chan []E2ESecond, 1)
	start := time.Now()
	go func() { scraped <- scrapeConsumer(scrapeCtx, "http://"+consAdmin+"/metrics", start) }()

	cfg := loadgen.DefaultConfig()
	cfg.Target = "http://" + collAddr
	cfg.Rate = rate
	cfg.Duration = l.cfg.E2EDuration
	cfg.Connections = l.cfg.WrkConnections
	cfg.Seed = uint64(l.cfg.Seed)
	cfg.Mix.EventIDs = true
	cfg.Mix.EventIDPrefix = prefix
	cfg.Mix.MalformedFraction = 0 // every hit must arrive: sent = answered = stored
	client := clientCPU
	if !pin.Available() {
		client = ""
	}
	undo, err := onClientCore(client)
	if err != nil {
		stopScrape()
		<-scraped
		mk.Drain(ctx, 0)
		return err
	}
	pids := []int{coll.Pid(), l.broker.Pid(), cons.Pid(), l.chPid}
	cpu0 := cpuTimes(pids)
	lg, err := loadgen.Run(ctx, cfg)
	loadEnd := time.Now()
	mk.StopSending()
	undo()
	if err != nil {
		stopScrape()
		<-scraped
		mk.Drain(ctx, 0)
		return fmt.Errorf("loadgen: %w", err)
	}
	e.Sent, e.Answered, e.Uncertain = lg.Sent, int64(len(lg.EventIDs)), int64(len(lg.UncertainEventIDs))
	e.Latency = lg.Latency
	l.printf("      loadgen: %d sent at %.0f/s, %d answered 200, p99 %s", lg.Sent, rate, len(lg.EventIDs), lg.Latency.P99)

	// Every answered id in ClickHouse, or the time is up.
	want := map[string]bool{}
	for _, id := range lg.EventIDs {
		want[id] = true
	}
	uncertain := map[string]bool{}
	for _, id := range lg.UncertainEventIDs {
		uncertain[id] = true
	}
	var got map[string]bool
	deadline := loadEnd.Add(time.Minute)
	for {
		if got, err = eventIDs(ctx, conn, db, prefix); err != nil {
			break
		}
		missing := 0
		for id := range want {
			if !got[id] {
				missing++
			}
		}
		e.Missing = int64(missing)
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.DrainS = time.Since(loadEnd).Seconds()
	if e.Missing == 0 {
		used, n := cpuSince(pids, cpu0), float64(e.Answered)
		e.CPU = PipelineCPU{Collector: perUnit(used[0], n), Broker: perUnit(used[1], n), Consumer: perUnit(used[2], n), ClickHouse: perUnit(used[3], n)}
	}
	e.Markers = mk.Drain(ctx, 10*time.Second)
	stopScrape()
	e.Timeline = <-scraped
	// The load generator's answers so far at each scrape (its timeline
	// starts with the load, a moment after the scrapes).
	shift := lg.Start.Sub(start).Seconds()
	for i := range e.Timeline {
		var ok int64
		for _, sec := range lg.Timeline {
			if float64(sec.Second+1)+shift <= e.Timeline[i].T+0.5 {
				ok += sec.OK
			}
		}
		e.Timeline[i].HitsOK = ok
	}
	if err != nil {
		return fmt.Errorf("cannot read the event ids back: %w", err)
	}
	for id := range got {
		if !want[id] && !uncertain[id] {
			e.Unknown++
		}
	}
	e.Distinct = int64(len(got))
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".events WHERE startsWith(event_id, ?)", prefix).Scan(&rows); err != nil {
		return err
	}
	e.Rows = int64(rows)
	if mk.Err() != nil {
		res.note("a marker poll failed: " + mk.Err().Error())
	}
	l.printf("      stored: %d of %d answered ids (%d missing) within %s; marker lag p50 %s p99 %s (%d markers); CPU per event: collector %.1f µs, broker %.1f µs, consumer %.1f µs, ClickHouse %.1f µs",
		e.Distinct, e.Answered, e.Missing, secs(e.DrainS), e.Markers.P50, e.Markers.P99, e.Markers.Found, e.CPU.Collector, e.CPU.Broker, e.CPU.Consumer, e.CPU.ClickHouse)
	return nil
}

// cpuTimes reads the CPU time of each process (0 for pid 0).
func cpuTimes(pids []int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		out[i] = cpuTime(pid)
	}
	return out
}

// cpuSince is the CPU time each process used since cpuTimes returned
// before; 0 for pid 0.
func cpuSince(pids []int, before []time.Duration) []time.Duration {
	now := cpuTimes(pids)
	for i := range now {
		if pids[i] <= 0 {
			now[i] = 0
			continue
		}
		now[i] -= before[i]
	}
	return now
}

// eventIDs returns the distinct event ids that start with prefix.
func eventIDs(ctx context.Context, conn chstore.Conn, db, prefix string) (map[string]bool, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT event_id FROM "+db+".events WHERE startsWith(event_id, ?)", prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		got[id] = true
	}
	return got, rows.Err()
}

// scrapeConsumer reads the consumer's rows and lag every second until ctx
// ends.
func scrapeConsumer(ctx context.Context, url string, start time.Time) []E2ESecond {
	var out []E2ESecond
	t := time.NewTicker(time.Second)
	defer t.Stop()
	prev := -1.0
	for {
		if m, err := promtext.Scrape(ctx, url); err == nil {
			s := E2ESecond{T: time.Since(start).Seconds(), RowsInserted: m["pixel_consumer_rows_inserted_total"], Lag: m["pixel_consumer_lag"]}
			if prev >= 0 && len(out) > 0 {
				if dt := s.T - out[len(out)-1].T; dt > 0 {
					s.RowsPerS = (s.RowsInserted - prev) / dt
				}
			}
			prev = s.RowsInserted
			out = append(out, s)
		}
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
	}
}
