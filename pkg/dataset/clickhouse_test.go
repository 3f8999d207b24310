package dataset

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// The ClickHouse test runs against this test binary's private server.
func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

// dedup is the raw events of pixel $1, each (event_id, event) once, the
// browser copy before a server copy, bots left out.
const dedup = `(SELECT * FROM events WHERE pixel_id = ? AND is_bot = 0
	ORDER BY event_id, event, channel = 'server' DESC LIMIT 1 BY event_id, event)`

// TestInsertMatchesOracle inserts a generated population into ClickHouse and
// checks that plain SQL over the raw rows gives the oracle's answers.
func TestInsertMatchesOracle(t *testing.T) {
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx := devstacktest.Context(t)
	// ReplacingMergeTree collapses rows of one sorting key when it merges
	// parts in the background: a replayed copy, and a browser and server
	// copy of one purchase on the same UTC day (keeping the one inserted
	// last, the server's). Merges are stopped so that every stored row is
	// counted, whenever they would have run.
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES events"); err != nil {
		t.Fatal(err)
	}
	p := Generate(DefaultConfig(3, 900))
	n, err := Insert(ctx, conn, p, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	_, total := digest(t, p)
	if n != total || n < 40_000 {
		t.Fatalf("inserted %d events of %d; the test wants about 50 000", n, total)
	}
	if got := devstacktest.QueryUint64(t, conn, "SELECT count() FROM events"); got != uint64(n) {
		t.Fatalf("events holds %d rows, want %d (duplicates included)", got, n)
	}

	// The oracle walks the events once per answer: from memory, not by
	// generating them again each time.
	cfg := p.Config()
	p = FromEvents(cfg.Pixels, p.All())
	from, to := cfg.Start, cfg.Start.AddDate(0, 0, cfg.Days+1)
	byDay := p.ConversionsByDay("Purchase")
	byCampaign := p.ConversionsByCampaign("Purchase", 30*24*time.Hour)
	for _, px := range cfg.Pixels {
		// Purchases per pixel day: count, unique converters, revenue per currency.
		rows, err := conn.Query(ctx, `SELECT toString(toDate(ts, ?)) AS day, currency, count(), uniqExact(visitor_id), sum(value)
			FROM `+dedup+` WHERE event = 'Purchase' GROUP BY day, currency ORDER BY day, currency`, px.TimeZone, px.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[DayKey]Conversions{}
		for rows.Next() {
			var day, cur string
			var count, uniq uint64 // uniq per currency: the oracle's converters are checked below
			var sum float64
			if err := rows.Scan(&day, &cur, &count, &uniq, &sum); err != nil {
				t.Fatal(err)
			}
			k := DayKey{px.ID, day}
			c := got[k]
			if c.Revenue == nil {
				c.Revenue = map[string]int64{}
			}
			c.Count += int(count)
			c.Revenue[cur] += int64(math.Round(sum * 100))
			got[k] = c
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		want := map[DayKey]Conversions{}
		for k, c := range byDay {
			if k.Pixel == px.ID {
				want[k] = Conversions{Count: c.Count, Revenue: c.Revenue}
			}
		}
		if len(want) == 0 {
			t.Fatalf("pixel %s: the oracle has no purchases", px.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("pixel %s: purchases by day from SQL\n %v\noracle\n %v", px.ID, got, want)
		}

		// Purchases by last-touch campaign, 30 days' lookback: the latest
		// page view with a campaign at or before each purchase.
		rows, err = conn.Query(ctx, `SELECT k.2 AS source, k.3 AS medium, k.4 AS campaign, c.3 AS currency, count(), sum(c.2) FROM
			(SELECT c, arrayFilter(t -> t.1 <= c.1 AND c.1 - t.1 <= ?, touches) AS f,
				if(length(f) = 0, tuple(toUInt64(0), '', '', ''), f[length(f)]) AS k FROM
			 (SELECT visitor_id,
				arraySort(groupArrayIf(tuple(ts_ms, utm_source, utm_medium, utm_campaign), event = 'PageView' AND utm_campaign != '')) AS touches,
				groupArrayIf(tuple(ts_ms, value, currency), event = 'Purchase') AS convs
			  FROM `+dedup+` WHERE event IN ('PageView', 'Purchase') GROUP BY visitor_id)
			 ARRAY JOIN convs AS c)
			GROUP BY source, medium, campaign, currency`, (30 * 24 * time.Hour).Milliseconds(), px.ID)
		if err != nil {
			t.Fatal(err)
		}
		gotC := map[CampaignKey]Conversions{}
		for rows.Next() {
			var k CampaignKey
			var cur string
			var count uint64
			var sum float64
			if err := rows.Scan(&k.Source, &k.Medium, &k.Campaign, &cur, &count, &sum); err != nil {
				t.Fatal(err)
			}
			k.Pixel = px.ID
			c := gotC[k]
			if c.Revenue == nil {
				c.Revenue = map[string]int64{}
			}
			c.Count += int(count)
			c.Revenue[cur] += int64(math.Round(sum * 100))
			gotC[k] = c
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		wantC := map[CampaignKey]Conversions{}
		for k, c := range byCampaign {
			if k.Pixel == px.ID {
				wantC[k] = Conversions{Count: c.Count, Revenue: c.Revenue}
			}
		}
		if len(wantC) < 3 || !reflect.DeepEqual(gotC, wantC) {
			t.Errorf("pixel %s: purchases by campaign from SQL\n %v\noracle\n %v", px.ID, gotC, wantC)
		}

		// Unique converters over the whole range.
		uniq := devstacktest.QueryUint64(t, conn, `SELECT uniqExact(visitor_id) FROM `+dedup+` WHERE event = 'Purchase'`, px.ID)
		if want := p.UniqueConverters(px.ID, "Purchase", from, to); uniq != uint64(want) || want == 0 {
			t.Errorf("pixel %s: %d unique converters from SQL, oracle %d", px.ID, uniq, want)
		}

		// The funnel, within an hour.
		steps := []string{"PageView", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase"}
		var levels []uint64
		if err := conn.QueryRow(ctx, `SELECT [countIf(l >= 1), countIf(l >= 2), countIf(l >= 3), countIf(l >= 4), countIf(l >= 5)] FROM
			(SELECT visitor_id, windowFunnel(3600)(ts, event = 'PageView', event = 'ViewContent', event = 'AddToCart', event = 'InitiateCheckout', event = 'Purchase') AS l
			 FROM `+dedup+` WHERE event IN ('PageView', 'ViewContent', 'AddToCart', 'InitiateCheckout', 'Purchase') GROUP BY visitor_id)`, px.ID).Scan(&levels); err != nil {
			t.Fatal(err)
		}
		wantF := p.Funnel(px.ID, steps, time.Hour, from, to)
		if fmt.Sprint(levels) != fmt.Sprint(wantF) || wantF[4] == 0 {
			t.Errorf("pixel %s: funnel from SQL %v, oracle %v", px.ID, levels, wantF)
		}

		// Engaged sessions and visitors over 60 s.
		var ev, es uint64
		if err := conn.QueryRow(ctx, `SELECT uniqExact(visitor_id), count() FROM
			(SELECT visitor_id, session_id, sum(m) AS s FROM
			 (SELECT visitor_id, session_id, page_view_id, max(engaged_ms) AS m FROM events
			  WHERE pixel_id = ? AND is_bot = 0 AND page_view_id != '' GROUP BY visitor_id, session_id, page_view_id)
			 GROUP BY visitor_id, session_id HAVING s > 60000)`, px.ID).Scan(&ev, &es); err != nil {
			t.Fatal(err)
		}
		if v, s := p.Engagement(px.ID, 60*time.Second); ev != uint64(v) || es != uint64(s) || s == 0 {
			t.Errorf("pixel %s: engaged over 60 s from SQL %d visitors, %d sessions; oracle %d, %d", px.ID, ev, es, v, s)
		}

		t.Logf("pixel %s: %d purchase days, %d converters, funnel %v, engaged %d visitors %d sessions", px.ID, len(want), uniq, levels, ev, es)

		// Cart abandoners of the last 7 days of the range.
		at := cfg.Start.AddDate(0, 0, cfg.Days)
		ab := devstacktest.QueryUint64(t, conn, `SELECT count() FROM
			(SELECT visitor_id FROM events WHERE pixel_id = ? AND is_bot = 0 AND ts >= toDateTime(?) AND ts < toDateTime(?)
			 AND event IN ('AddToCart', 'Purchase') GROUP BY visitor_id HAVING countIf(event = 'AddToCart') > 0 AND countIf(event = 'Purchase') = 0)`,
			px.ID, at.AddDate(0, 0, -7).Unix(), at.Unix())
		if want := p.Abandoners(px.ID, "AddToCart", "Purchase", 7*24*time.Hour, at); ab != uint64(len(want)) || len(want) == 0 {
			t.Errorf("pixel %s: %d cart abandoners from SQL, oracle %d", px.ID, ab, len(want))
		}
	}
}

// BenchmarkInsert measures Insert into the private ClickHouse: one op is
// one event. Run it with -benchtime 1000000x for a size worth measuring.
func BenchmarkInsert(b *testing.B) {
	o := devstacktest.Database(b)
	conn := devstacktest.Open(b, o)
	cfg := DefaultConfig(1, 0)
	cfg.Visitors = VisitorsFor(cfg, b.N) + 1
	p := Generate(cfg)
	b.ResetTimer()
	n, err := Insert(devstacktest.Context(b), conn, p, DefaultBatch)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
