package dataset

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// The rollups (schemas/clickhouse/0008-0011) against the raw events and the
// oracle, and the reports that read them (schemas/queries/conversions.sql,
// engaged.sql, pages.sql) against the oracle.

// rollupFixture is a generated population inserted once into a database
// whose rollups the materialized views filled, shared by the tests of this
// file: the population held in memory, so that the oracle does not generate
// it again for every answer.
type rollupFixture struct {
	p    *Population
	o    chstore.Options
	conn chstore.Conn
	n    int // events inserted
}

var (
	fixtureOnce sync.Once
	fixture     rollupFixture
	fixtureErr  error
)

// rollupPopulation is the population of the rollup tests: about 50 000
// events, with replays, server copies, bots and visitors without consent.
func rollupPopulation() *Population {
	cfg := DefaultConfig(7, 900)
	return FromEvents(cfg.Pixels, Generate(cfg).All())
}

func rollups(t *testing.T) *rollupFixture {
	t.Helper()
	fixtureOnce.Do(func() {
		// The database outlives the first test that asked for it: the
		// private server goes away with the test binary.
		o := devstacktest.Database(t)
		conn, err := chstore.Open(devstacktest.Context(t), o)
		if err != nil {
			fixtureErr = err
			return
		}
		// ReplacingMergeTree collapses an event's copies when it merges
		// parts of events; merges are stopped so that the raw events the
		// rollups are checked against hold every copy (the views saw them
		// all, at insert).
		if err := conn.Exec(devstacktest.Context(t), "SYSTEM STOP MERGES events"); err != nil {
			fixtureErr = err
			return
		}
		p := rollupPopulation()
		n, err := Insert(devstacktest.Context(t), conn, p, 10_000)
		fixture, fixtureErr = rollupFixture{p: p, o: o, conn: conn, n: n}, err
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return &fixture
}

// query runs sql (no parameters but those in args, bound as ?) and returns
// its rows as ClickHouse's text would show them.
func query(t *testing.T, conn chstore.Conn, sql string, args ...string) [][]string {
	t.Helper()
	q := analysis.Query{Name: "test", SQL: sql}
	values := map[string]string{}
	for i, a := range args {
		name := fmt.Sprintf("a%d", i)
		q.Params = append(q.Params, analysis.Param{Name: name, Type: "String"})
		q.Bind = append(q.Bind, name)
		values[name] = a
	}
	res, err := q.Run(devstacktest.Context(t), conn, values)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	return res.Rows
}

// asMap reads rows of (key columns..., value) into key → value, the keys
// joined by '|'.
func asMap(rows [][]string) map[string]string {
	m := map[string]string{}
	for _, r := range rows {
		m[strings.Join(r[:len(r)-1], "|")] = r[len(r)-1]
	}
	return m
}

func sameMap(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(want) == 0 {
		t.Errorf("%s: nothing to compare", what)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n rollup %v\n raw    %v", what, got, want)
	}
}

// dedupRaw is pixel $1's raw events, each (event_id, event) once by GROUP BY
// (which can spill to disk, unlike LIMIT 1 BY), the server's copy winning,
// bots left out: the de-duplication of schemas/README.md, "Each event once".
const dedupRaw = `(SELECT event_id, event, t.1 AS visitor_id, t.2 AS session_id, t.3 AS value, t.4 AS currency FROM
	(SELECT event_id, event, argMax(tuple(visitor_id, session_id, value, currency), channel = 'server') AS t
	 FROM events WHERE pixel_id = ? AND is_bot = 0
	 GROUP BY event_id, event))`

// TestRollupsMatchRawEvents checks each rollup's totals against the same
// totals from the raw events de-duplicated with GROUP BY, and against the
// oracle where it has them: the duplicates in the input (replays, server
// copies) change nothing.
func TestRollupsMatchRawEvents(t *testing.T) {
	f := rollups(t)
	conn := f.conn
	raw := devstacktest.QueryUint64(t, conn, "SELECT count() FROM events")
	distinct := devstacktest.QueryUint64(t, conn, "SELECT count() FROM (SELECT event_id, event FROM events GROUP BY event_id, event)")
	if raw != uint64(f.n) || distinct >= raw {
		t.Fatalf("events holds %d rows, %d distinct events, %d inserted: the test wants duplicates stored", raw, distinct, f.n)
	}
	for _, px := range f.p.Config().Pixels {
		t.Run(px.ID, func(t *testing.T) {
			// daily_stats: events, visitors and revenue per event name.
			sameMap(t, "daily_stats events per event", asMap(query(t, conn,
				`SELECT event, toString(uniqExactMerge(events)) FROM daily_stats WHERE pixel_id = ? AND is_bot = 0 GROUP BY event`, px.ID)),
				asMap(query(t, conn, `SELECT event, toString(count()) FROM `+dedupRaw+` WHERE event != 'PageEngagement' GROUP BY event`, px.ID)))
			sameMap(t, "daily_stats visitors per event", asMap(query(t, conn,
				`SELECT event, toString(uniqExactMerge(visitors)) FROM daily_stats WHERE pixel_id = ? AND is_bot = 0 GROUP BY event`, px.ID)),
				asMap(query(t, conn, `SELECT event, toString(uniqExact(visitor_id)) FROM `+dedupRaw+` WHERE event != 'PageEngagement' GROUP BY event`, px.ID)))
			revenue := asMap(query(t, conn, `SELECT event, currency, toString(round(arraySum(arrayMap((x, first) -> if(first = 1, x.3, 0), s, arrayEnumerateUniq(arrayMap(x -> x.1, s)))), 2))
				FROM (SELECT event, currency, arrayReverseSort(groupUniqArrayArrayMerge(revenue)) AS s FROM daily_stats WHERE pixel_id = ? AND is_bot = 0 GROUP BY event, currency)
				WHERE length(s) > 0`, px.ID))
			sameMap(t, "daily_stats revenue per event and currency", revenue,
				asMap(query(t, conn, `SELECT event, currency, toString(round(sum(value), 2)) FROM `+dedupRaw+` WHERE event != 'PageEngagement' AND value != 0 GROUP BY event, currency`, px.ID)))
			// The oracle's purchases: each once, the server's copy, bots out.
			count := map[string]int{}
			cents := map[string]int64{}
			for _, r := range f.p.Rows(nil) {
				if r.Pixel == px.ID && r.Event != PageEngagement {
					count[r.Event]++
					if r.Event == "Purchase" {
						cents[r.Currency] += r.Cents
					}
				}
			}
			events := asMap(query(t, conn, `SELECT event, toString(uniqExactMerge(events)) FROM daily_stats WHERE pixel_id = ? AND is_bot = 0 GROUP BY event`, px.ID))
			for name, n := range count {
				if events[name] != strconv.Itoa(n) {
					t.Errorf("daily_stats: %s %s events, oracle %d", events[name], name, n)
				}
			}
			for cur, c := range cents {
				if got := revenue["Purchase|"+cur]; !sameCents(got, c) {
					t.Errorf("daily_stats: Purchase revenue %s %s, oracle %d cents", got, cur, c)
				}
			}

			// sessions: how many, their pages, landing campaigns, conversions.
			sameMap(t, "sessions", asMap(query(t, conn, `SELECT campaign, toString(count()), toString(sum(pages)), toString(sum(converted)), toString(sum(goals)) FROM
				(SELECT argMinMerge(landing_campaign) AS campaign, uniqExactArrayMerge(pages) AS pages, maxMerge(converted) AS converted,
					length(arrayDistinct(arrayMap(x -> x.2, groupUniqArrayArrayMerge(goals)))) AS goals
				 FROM sessions WHERE pixel_id = ? GROUP BY visitor_id, session_id HAVING maxMerge(is_bot) = 0)
				GROUP BY campaign`, px.ID)),
				asMap(query(t, conn, `SELECT campaign, toString(count()), toString(sum(pages)), toString(sum(converted)), toString(sum(goals)) FROM
				(SELECT argMin(utm_campaign, ts_ms) AS campaign, uniqExactIf(page_view_id, page_view_id != '') AS pages,
					max(event = 'Purchase' OR (value > 0 AND event NOT IN ('ViewContent', 'AddToCart', 'AddToWishlist', 'InitiateCheckout', 'AddPaymentInfo'))) AS converted,
					uniqExactIf(event_id, event NOT IN ('PageView', 'PageEngagement', 'Engaged')) AS goals
				 FROM events WHERE pixel_id = ? AND is_bot = 0 GROUP BY visitor_id, session_id)
				GROUP BY campaign`, px.ID)))

			// page_views: how many, their engaged time; and the oracle's
			// engaged sessions and visitors over a minute.
			sameMap(t, "page_views", asMap(query(t, conn, `SELECT 'all', toString(count()), toString(sum(m)) FROM
				(SELECT maxMerge(engaged_ms) AS m FROM page_views WHERE pixel_id = ? GROUP BY visitor_id, session_id, page_view_id HAVING maxMerge(is_bot) = 0)`, px.ID)),
				asMap(query(t, conn, `SELECT 'all', toString(count()), toString(sum(m)) FROM
				(SELECT max(engaged_ms) AS m FROM events WHERE pixel_id = ? AND is_bot = 0 AND page_view_id != '' GROUP BY visitor_id, session_id, page_view_id)`, px.ID)))
			ev := query(t, conn, `SELECT toString(uniqExact(visitor_id)), toString(count()) FROM
				(SELECT visitor_id, sum(m) AS s FROM
				 (SELECT visitor_id, session_id, maxMerge(engaged_ms) AS m, maxMerge(is_bot) AS b FROM page_views WHERE pixel_id = ? GROUP BY visitor_id, session_id, page_view_id)
				 WHERE b = 0 GROUP BY visitor_id, session_id HAVING s > 60000)`, px.ID)
			if v, s := f.p.Engagement(px.ID, time.Minute); ev[0][0] != strconv.Itoa(v) || ev[0][1] != strconv.Itoa(s) {
				t.Errorf("page_views: engaged over 60 s %v visitors, sessions; oracle %d, %d", ev[0], v, s)
			}

			// visitors: the profile against the raw events.
			profile := `SELECT 'all', toString(count()), toString(sum(sessions)), toString(sum(viewed)), toString(sum(purchased)),
				toString(countIf(email != '')), toString(countIf(external != '')), toString(countIf(campaign != '')), toString(countIf(consent = 'granted'))`
			sameMap(t, "visitors", asMap(query(t, conn, profile+` FROM
				(SELECT uniqExactMerge(sessions) AS sessions, length(groupUniqArrayArrayMerge(viewed)) AS viewed, length(groupUniqArrayArrayMerge(purchased)) AS purchased,
					argMaxMerge(email_sha256) AS email, argMaxMerge(external_id) AS external, argMaxMerge(last_campaign).3 AS campaign, argMaxMerge(consent).1 AS consent
				 FROM visitors WHERE pixel_id = ? GROUP BY visitor_id HAVING maxMerge(is_bot) = 0)`, px.ID)),
				asMap(query(t, conn, profile+` FROM
				(SELECT uniqExact(session_id) AS sessions, length(groupUniqArrayArray(arraySlice(content_ids, 1, (event = 'ViewContent') * length(content_ids)))) AS viewed,
					length(groupUniqArrayArray(arraySlice(content_ids, 1, (event = 'Purchase') * length(content_ids)))) AS purchased,
					anyIf(email_sha256, email_sha256 != '') AS email, anyIf(external_id, external_id != '') AS external,
					argMaxIf(utm_campaign, ts_ms, utm_campaign != '') AS campaign, argMaxIf(consent, ts_ms, consent != '') AS consent
				 FROM events WHERE pixel_id = ? AND is_bot = 0 GROUP BY visitor_id)`, px.ID)))
			purchases := asMap(query(t, conn, `SELECT c.4 AS currency, toString(count()), toString(round(sum(c.3), 2)) FROM
				(SELECT arrayReverseSort(groupUniqArrayArrayMerge(purchases)) AS s,
					arrayFilter((x, first) -> first = 1, s, arrayEnumerateUniq(arrayMap(x -> x.1, s))) AS p
				 FROM visitors WHERE pixel_id = ? GROUP BY visitor_id HAVING maxMerge(is_bot) = 0)
				ARRAY JOIN p AS c GROUP BY currency`, px.ID))
			sameMap(t, "visitors purchases", purchases,
				asMap(query(t, conn, `SELECT currency, toString(count()), toString(round(sum(value), 2)) FROM `+dedupRaw+` WHERE event = 'Purchase' GROUP BY currency`, px.ID)))
			for cur, c := range cents {
				if got := byPrefix(purchases, cur+"|"); !sameCents(got, c) {
					t.Errorf("visitors: Purchase revenue %s %s, oracle %d cents", got, cur, c)
				}
			}
		})
	}
}

// sameCents reports whether a revenue as the rollups print it is cents.
func sameCents(s string, cents int64) bool {
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && int64(math.Round(f*100)) == cents
}

// byPrefix returns the value of the key of m that starts with prefix.
func byPrefix(m map[string]string, prefix string) string {
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			return v
		}
	}
	return ""
}
