package report_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/report"
)

// TestMeasureReports prints how long cpa and roas take and how much memory
// their queries use over a large generated data set, from the server's
// query_log. A measurement, not a test: it runs only when
// PIXEL_REPORT_MEASURE_EVENTS names the number of events, e.g.
//
//	PIXEL_REPORT_MEASURE_EVENTS=10000000 go test -run TestMeasureReports -v -timeout 30m ./pkg/report
func TestMeasureReports(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PIXEL_REPORT_MEASURE_EVENTS"))
	if n <= 0 {
		t.Skip("set PIXEL_REPORT_MEASURE_EVENTS to measure")
	}
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // longer than devstacktest.Context's minute
	defer cancel()
	cfg := dataset.DefaultConfig(1, 0)
	cfg.Visitors = dataset.VisitorsFor(cfg, n)
	p := dataset.Generate(cfg)
	start := time.Now()
	inserted, err := dataset.Insert(ctx, conn, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d events of %d visitors in %v", inserted, cfg.Visitors, time.Since(start).Round(time.Second))
	if err := dataset.Register(ctx, conn, cfg.Pixels); err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.LoadSpend(ctx, conn, p, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cpa", "roas", "cpa"} {
		for _, r := range []struct{ from, to string }{{"2026-11-02", "2026-11-15"}, {"2026-11-09", "2026-11-15"}} {
			start := time.Now()
			res, err := report.Run(ctx, conn, name, report.Options{Pixel: "px-shop-eu", From: r.from, To: r.to, Params: map[string]string{"account": dataset.AdAccount("px-shop-eu")}, Settings: clickhouse.Settings{"log_queries": 1}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s..%s: %d rows, %v (client)", name, r.from, r.to, len(res.Rows)+len(res.Totals), time.Since(start).Round(time.Millisecond))
			var b strings.Builder
			if err := res.Write(&b, report.TableFormat); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", b.String())
		}
	}
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT query_duration_ms, memory_usage, read_rows, read_bytes FROM system.query_log
		WHERE type = 2 AND position(query, 'campaign_key') > 0 ORDER BY event_time`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ms, mem, readRows, readBytes uint64
		if err := rows.Scan(&ms, &mem, &readRows, &readBytes); err != nil {
			t.Fatal(err)
		}
		t.Logf("query_log: %d ms, peak memory %.1f MiB, read %d rows (%.1f MiB)", ms, float64(mem)/(1<<20), readRows, float64(readBytes)/(1<<20))
	}
}
