package audience_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/audience"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// TestScale runs every rule on AUDIENCE_SCALE_EVENTS generated events (20
// per visitor over 90 days, 1 in 40 events with an email hash) and logs how
// long each took and how many rows it read: a measurement to run by hand
// (go test -run TestScale -v with the variable set), never a timed test, so
// it is skipped without the variable.
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUDIENCE_SCALE_EVENTS"))
	if n <= 0 {
		t.Skip("set AUDIENCE_SCALE_EVENTS to a number of events to measure the rules")
	}
	conn := devstacktest.Open(t, devstacktest.Database(t))
	ctx := devstacktest.Context(t)
	start := time.Now()
	err := conn.Exec(ctx, `
INSERT INTO events (event_id, pixel_id, visitor_id, session_id, event, ts, received_at, ts_ms, engaged_ms,
                    page_view_id, content_ids, channel, email_sha256, url, consent, gpc, is_bot)
SELECT
    toString(number), 'px', toString(v), concat(toString(v), '-', toString(intDiv(number, 5) % 4)),
    multiIf(number % 20 < 10, 'PageView', number % 20 < 15, 'PageEngagement', number % 20 < 18, 'ViewContent',
            number % 20 < 19, 'AddToCart', 'Purchase'),
    t, t, toUInt64(t) * 1000, intHash32(number + 1) % 120000,
    concat('pv', toString(intDiv(number, 2))), [concat('sku-', toString(intHash32(number) % 500))], 'browser',
    if(number % 40 = 0, lower(concat(hex(MD5(toString(v))), hex(MD5(toString(v + 1))))), ''),
    concat('https://shop.example/', if(number % 7 = 0, 'pricing', concat('p/', toString(number % 100)))),
    if(v % 50 = 0, 'denied', 'granted'), toUInt8(v % 97 = 0), toUInt8(v % 101 = 0)
FROM
(
    SELECT number, intDiv(number, 20) AS v,
           toDateTime('2026-11-30 12:00:00') - intHash32(number) % (90 * 86400) AS t
    FROM system.numbers LIMIT `+strconv.Itoa(n)+`
)`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d events in %v", n, time.Since(start).Round(time.Millisecond))
	for _, r := range []struct {
		rule   string
		params map[string]string
	}{
		{"engaged-no-purchase", nil}, {"cart-abandoners", nil}, {"viewed-not-bought", nil},
		{"purchasers", nil}, {"visited-pages", map[string]string{"pattern": "%/pricing%"}},
	} {
		params := map[string]string{"pixel": "px", "to": "2026-11-30", "tz": "UTC"}
		for k, v := range r.params {
			params[k] = v
		}
		var rows, bytes uint64
		id := fmt.Sprintf("scale-%s-%d", r.rule, time.Now().UnixNano())
		qctx := clickhouse.Context(ctx, clickhouse.WithProgress(func(p *clickhouse.Progress) {
			rows += p.Rows
			bytes += p.Bytes
		}), clickhouse.WithQueryID(id), clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1}))
		start := time.Now()
		a, err := audience.Run(qctx, conn, r.rule, params)
		if err != nil {
			t.Fatal(err)
		}
		excluded := 0
		for _, m := range a.Members {
			if m.Excluded != "" {
				excluded++
			}
		}
		took := time.Since(start).Round(time.Millisecond)
		// The query's peak memory, from the server's query log.
		var peak uint64
		if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err == nil {
			_ = conn.QueryRow(ctx, "SELECT max(memory_usage) FROM system.query_log WHERE query_id = ?", id).Scan(&peak)
		}
		t.Logf("%-20s %7d members (%d excluded) in %v, read %d rows, %d MB, peak memory %d MB", r.rule, len(a.Members), excluded,
			took, rows, bytes>>20, peak>>20)
	}
}
