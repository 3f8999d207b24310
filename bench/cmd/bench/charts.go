package main

import (
	"math"

	"github.com/pixel-pipeline/pixel/bench/report"
	"github.com/pixel-pipeline/pixel/bench/svgchart"
)

const chartWidth = 900

// charts draws throughput.svg, latency.svg and consumer.svg; a part that was
// not measured shows as "no data".
func (r *Results) charts() map[string][]byte {
	sub := r.Machine.CPUModel + ", " + itoa(r.Machine.CPUs) + " cores, " + r.Started.Format("2006-01-02 15:04 UTC") + ", " + r.Mode + " run"
	nan := math.NaN()
	ratioNote := func(ours, base float64) string {
		if math.IsNaN(ours) || math.IsNaN(base) || base == 0 {
			return ""
		}
		return "(" + report.Ratio(report.V(ours/base)) + ")"
	}

	// Throughput: requests/s of each server, rows/s of each loader.
	c := r.Collector
	if c == nil {
		c = &CollectorResult{}
	}
	rps := func(t *ThroughputRun) float64 {
		if t == nil {
			return nan
		}
		return t.RequestsPerSec
	}
	bare, coll, naive := rps(c.Bare), rps(c.Collector), rps(c.Naive)
	httpGroups := []svgchart.Group{
		{Label: "bare fasthttp", Values: []float64{bare}},
		{Label: "collector", Values: []float64{coll}, Notes: []string{ratioNote(coll, bare)}},
		{Label: "naive collector", Values: []float64{naive}, Notes: []string{ratioNote(naive, bare)}},
	}
	if c.OtherBroker != nil {
		b := rps(c.OtherBroker)
		httpGroups = append(httpGroups, svgchart.Group{Label: "collector, broker " + c.OtherBroker.Broker, Values: []float64{b}, Notes: []string{ratioNote(b, bare)}})
	}
	cr := r.Consumer
	if cr == nil {
		cr = &ConsumerResult{}
	}
	lrate := func(l *Load) float64 {
		if l == nil || l.Rows == 0 {
			return nan
		}
		return l.RowsPerS
	}
	raw, ours, nc, eng := lrate(cr.Raw), lrate(cr.Ours), lrate(cr.Naive), lrate(cr.Engine)
	throughput := svgchart.Page("Throughput against baselines of the same run", sub, chartWidth,
		&svgchart.Bars{Title: "HTTP requests/s, wrk -t1 -c" + itoa(r.Setup.WrkConnections) + ", server on core 0, wrk on core 1, best of the runs", YLabel: "requests/s",
			SeriesNames: []string{"req/s"}, Groups: httpGroups},
		&svgchart.Bars{Title: "Rows/s into ClickHouse, " + report.Thousands(float64(cr.Events)) + " events", YLabel: "rows/s",
			SeriesNames: []string{"rows/s"}, Groups: []svgchart.Group{
				{Label: "raw columnar insert", Values: []float64{raw}},
				{Label: "our consumer", Values: []float64{ours}, Notes: []string{ratioNote(ours, raw)}},
				{Label: "naive consumer", Values: []float64{nc}, Notes: []string{ratioNote(nc, raw)}},
				{Label: "ClickHouse Kafka engine", Values: []float64{eng}, Notes: []string{ratioNote(eng, raw)}},
			}},
	)

	// Latency: percentiles of both servers, and p99 second by second.
	lat := r.Latency
	if lat == nil {
		lat = &LatencyResult{}
	}
	cats := []string{"p50", "p90", "p99", "p99.9", "max"}
	pct := func(run *LatencyRun) svgchart.Series {
		s := svgchart.Series{X: []float64{0, 1, 2, 3, 4}}
		if run == nil {
			s.Y = []float64{nan, nan, nan, nan, nan}
			return s
		}
		l := run.Latency
		s.Y = []float64{l.P50.Seconds(), l.P90.Seconds(), l.P99.Seconds(), l.P999.Seconds(), l.Max.Seconds()}
		return s
	}
	pc, pb, pn := pct(lat.Collector), pct(lat.Bare), pct(lat.Naive)
	pc.Name, pb.Name, pn.Name = "collector", "bare fasthttp", "naive collector"
	perSecond := func(name string, run *LatencyRun) svgchart.Series {
		s := svgchart.Series{Name: name}
		if run == nil {
			return s
		}
		for _, sec := range run.Timeline {
			s.X = append(s.X, float64(sec.Second))
			s.Y = append(s.Y, sec.P99.Seconds())
		}
		return s
	}
	lagSeries := svgchart.Series{Name: "marker lag"}
	if e := r.EndToEnd; e != nil && e.Markers != nil {
		for _, m := range e.Markers.Lags {
			y := nan
			if m.Lag >= 0 {
				y = m.Lag.Seconds()
			}
			lagSeries.X = append(lagSeries.X, m.Sent.Seconds())
			lagSeries.Y = append(lagSeries.Y, y)
		}
	}
	latency := svgchart.Page("Latency at half the collector's maximum ("+report.Thousands(lat.Rate)+" req/s, open loop, coordinated omission corrected)", sub, chartWidth,
		&svgchart.Line{Title: "Latency percentiles", XLabel: "percentile", YLabel: "latency", LogY: true, LegendLeft: true,
			XCategories: cats, YFormat: svgchart.Seconds, Series: []svgchart.Series{pc, pb, pn}},
		&svgchart.Line{Title: "p99 per second", XLabel: "seconds into the run", YLabel: "p99", LogY: true, YFormat: svgchart.Seconds,
			Series: []svgchart.Series{perSecond("collector", lat.Collector), perSecond("bare fasthttp", lat.Bare), perSecond("naive collector", lat.Naive)}},
		&svgchart.Line{Title: "End to end: hit answered → row readable in ClickHouse (marker hits, every 100 ms)", XLabel: "seconds into the run",
			YLabel: "lag", YFormat: svgchart.Seconds, Series: []svgchart.Series{lagSeries}},
	)

	// Consumer: rows readable over time for each loader; end to end rows/s
	// and lag.
	rowsOver := func(name string, l *Load) svgchart.Series {
		s := svgchart.Series{Name: name, Steps: true}
		if l == nil {
			return s
		}
		for _, p := range l.Timeline {
			s.X = append(s.X, p.T)
			s.Y = append(s.Y, p.V)
		}
		return s
	}
	in := svgchart.Series{Name: "hits answered 200 (loadgen)"}
	out := svgchart.Series{Name: "rows inserted (pixel_consumer_rows_inserted_total)"}
	lag := svgchart.Series{Name: "consumer lag (messages)"}
	if e := r.EndToEnd; e != nil {
		for _, s := range e.Timeline {
			out.X, out.Y = append(out.X, s.T), append(out.Y, s.RowsInserted)
			lag.X, lag.Y = append(lag.X, s.T), append(lag.Y, s.Lag)
			in.X, in.Y = append(in.X, s.T), append(in.Y, float64(s.HitsOK))
		}
	}
	consumer := svgchart.Page("Consumer: loading the same events four ways, and end to end", sub, chartWidth,
		&svgchart.Line{Title: "Rows readable in ClickHouse since the start (raw insert: insert time only)", XLabel: "seconds",
			YLabel: "rows", Series: []svgchart.Series{rowsOver("raw insert", cr.Raw), rowsOver("our consumer", cr.Ours), rowsOver("naive consumer", cr.Naive), rowsOver("Kafka engine", cr.Engine)}, LegendLeft: true},
		&svgchart.Line{Title: "End to end at " + report.Thousands(r.endToEndRate()) + " req/s: hits in, rows out (/metrics every second)", XLabel: "seconds",
			YLabel: "events so far", Series: []svgchart.Series{in, out}, LegendLeft: true},
		&svgchart.Line{Title: "End to end: pixel_consumer_lag", XLabel: "seconds", YLabel: "messages", Series: []svgchart.Series{lag}, PanelHeight: 220},
	)
	return map[string][]byte{"throughput.svg": throughput, "latency.svg": latency, "consumer.svg": consumer}
}

func (r *Results) endToEndRate() float64 {
	if r.EndToEnd == nil {
		return 0
	}
	return r.EndToEnd.Rate
}
