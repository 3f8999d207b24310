package report_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/report"
	"github.com/pixel-pipeline/pixel/pkg/spend"
)

// loaded is a database holding a generated population, its pixels
// registered and its generated ad spend imported.
type loaded struct {
	conn  chstore.Conn
	opts  chstore.Options
	pop   *dataset.Population
	spend []dataset.Spend
}

func load(t *testing.T, visitors int) *loaded {
	t.Helper()
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx := devstacktest.Context(t)
	p := dataset.Generate(dataset.DefaultConfig(11, visitors))
	if _, err := dataset.Insert(ctx, conn, p, 20_000); err != nil {
		t.Fatal(err)
	}
	store := registry.NewStore(conn)
	for _, px := range p.Config().Pixels {
		if _, _, err := store.Create(ctx, registry.New{ID: px.ID, Name: px.ID, TimeZone: px.TimeZone, Settings: pixel.DefaultSettings()}); err != nil {
			t.Fatal(err)
		}
	}
	rows := p.Spend()
	f, err := spend.Parse(spend.CSV, dataset.SpendCSV(rows), spend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Rows) != len(rows) || len(f.Skipped) != 0 {
		t.Fatalf("spend file: %d rows of %d, skipped %v", len(f.Rows), len(rows), f.Skipped)
	}
	if err := spend.Write(ctx, conn, f, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := p.Config()
	return &loaded{conn: conn, opts: o, pop: dataset.FromEvents(cfg.Pixels, p.All()), spend: rows}
}

// costRow is a cpa or roas row read back from a Result.
func costRows(t *testing.T, res *report.Result) map[dataset.CampaignCostKey]dataset.CampaignCost {
	t.Helper()
	idx := map[string]int{}
	for i, c := range res.Columns {
		idx[c.Name] = i
	}
	out := map[dataset.CampaignCostKey]dataset.CampaignCost{}
	for _, rows := range [][][]any{res.Rows, res.Totals} {
		for _, r := range rows {
			k := dataset.CampaignCostKey{Campaign: r[idx["campaign"]].(string), Currency: r[idx["currency"]].(string)}
			if _, dup := out[k]; dup {
				t.Errorf("%s: two rows for %v", res.Report, k)
			}
			c := dataset.CampaignCost{
				CostMicros:   int64(math.Round(r[idx["cost"]].(float64) * 1e6)),
				Conversions:  int(r[idx["conversions"]].(uint64)),
				RevenueCents: int64(math.Round(r[idx["revenue"]].(float64) * 100)),
				Clicks:       r[idx["clicks"]].(uint64),
				Impressions:  r[idx["impressions"]].(uint64),
			}
			den := float64(c.Conversions)
			if c.CostMicros == 0 {
				den = 0 // no spend in this currency: no cost per conversion
			}
			checkRatio(t, res.Report, k, "cpa", r[idx["cpa"]], float64(c.CostMicros)/1e6, den)
			checkRatio(t, res.Report, k, "roas", r[idx["roas"]], float64(c.RevenueCents)/100, float64(c.CostMicros)/1e6)
			out[k] = c
		}
	}
	return out
}

// checkRatio checks a cpa or roas cell: num/den to the cent, NULL when den is 0.
func checkRatio(t *testing.T, name string, k dataset.CampaignCostKey, col string, got any, num, den float64) {
	t.Helper()
	if den == 0 {
		if got != nil {
			t.Errorf("%s %v: %s = %v, want NULL (nothing to divide by)", name, k, col, got)
		}
		return
	}
	f, ok := got.(float64)
	if want := num / den; !ok || math.Abs(f-want) > 0.005+1e-9 {
		t.Errorf("%s %v: %s = %v, want %.4f", name, k, col, got, want)
	}
}

func TestCPAAndROASMatchTheOracle(t *testing.T) {
	l := load(t, 700)
	ctx := devstacktest.Context(t)
	cfg := l.pop.Config()
	for _, tc := range []struct {
		pixel, account, from, to string
	}{
		{"px-shop-eu", dataset.AdAccount("px-shop-eu"), "2026-11-02", "2026-11-15"},
		{"px-shop-us", dataset.AdAccount("px-shop-us"), "2026-11-05", "2026-11-09"},
		{"px-shop-us", "*", "2026-11-02", "2026-11-16"}, // both accounts' spend: EUR and USD rows
	} {
		want := l.pop.CampaignCosts(l.spend, tc.pixel, "Purchase", tc.account, tc.from, tc.to)
		if len(want) < 4 {
			t.Fatalf("%v: the oracle has only %v", tc, want)
		}
		// The data set holds what the report must get right: a campaign
		// with spend and no conversion, and conversions in a currency the
		// campaign's spend is not in (a row of its own, no cost).
		if c, ok := want[dataset.CampaignCostKey{Campaign: spend.UTMCampaign(dataset.UnspentCampaign), Currency: cfg.Pixels[0].Currency}]; tc.pixel == "px-shop-eu" && (!ok || c.Conversions != 0 || c.CostMicros == 0) {
			t.Fatalf("%v: the unspent campaign is %+v, %v", tc, c, ok)
		}
		foreign := false
		for k, c := range want {
			foreign = foreign || (k.Campaign != "Total" && c.CostMicros == 0 && c.Conversions > 0)
		}
		if !foreign && tc.account != "*" {
			t.Fatalf("%v: no conversions in another currency than the spend's: %v", tc, want)
		}
		for _, name := range []string{"cpa", "roas"} {
			res, err := report.Run(ctx, l.conn, name, report.Options{Pixel: tc.pixel, From: tc.from, To: tc.to, Params: map[string]string{"account": tc.account}})
			if err != nil {
				t.Fatalf("%s %v: %v", name, tc, err)
			}
			got := costRows(t, res)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s %v:\n got %v\nwant %v", name, tc, got, want)
			}
		}
	}
}

// The settings Run sets exist on the server, and a GROUP BY that outgrows
// max_bytes_before_external_group_by spills to disk and gives the same
// answer instead of failing.
func TestMemorySettings(t *testing.T) {
	l := load(t, 300)
	ctx := devstacktest.Context(t)
	for _, name := range []string{"max_memory_usage", "max_bytes_before_external_group_by"} {
		if n := devstacktest.QueryUint64(t, l.conn, "SELECT count() FROM system.settings WHERE name = ?", name); n != 1 {
			t.Errorf("the server has no setting %s", name)
		}
	}
	o := report.Options{Pixel: "px-shop-eu", From: "2026-11-02", To: "2026-11-15"}
	want, err := report.Run(ctx, l.conn, "cpa", o)
	if err != nil {
		t.Fatal(err)
	}
	spills := func() uint64 {
		return devstacktest.QueryUint64(t, l.conn, "SELECT toUInt64(sum(value)) FROM system.events WHERE event = 'ExternalAggregationWritePart'")
	}
	before := spills()
	o.MaxMemoryUsage, o.MaxBytesBeforeExternalGroupBy = 256<<20, 1
	got, err := report.Run(ctx, l.conn, "cpa", o)
	if err != nil {
		t.Fatalf("with max_bytes_before_external_group_by = 1: %v", err)
	}
	if fmt.Sprint(got.Rows, got.Totals) != fmt.Sprint(want.Rows, want.Totals) {
		t.Errorf("with max_bytes_before_external_group_by = 1:\n%v\nwant:\n%v", got.Table, want.Table)
	}
	// ClickHouse spills a GROUP BY once it is two-level, which a small one
	// becomes at 100 000 keys: with the threshold at 1, every GROUP BY of
	// the report spills, and the answer is the same.
	q, err := report.Lookup("cpa")
	if err != nil {
		t.Fatal(err)
	}
	spillCtx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_memory_usage": 256 << 20, "max_bytes_before_external_group_by": 1, "group_by_two_level_threshold": 1,
	}))
	spilled, err := q.Table(spillCtx, l.conn, map[string]string{"pixel": "px-shop-eu", "from": "2026-11-02", "to": "2026-11-15", "tz": "Europe/Paris"})
	if err != nil {
		t.Fatalf("spilled: %v", err)
	}
	if after := spills(); after <= before {
		t.Errorf("ExternalAggregationWritePart %d, then %d: the GROUP BY did not spill", before, after)
	}
	if fmt.Sprint(spilled.Rows, spilled.Totals) != fmt.Sprint(want.Rows, want.Totals) {
		t.Errorf("spilled:\n%v\nin memory:\n%v", spilled, want.Table)
	}
	// And the limit is applied: a query over it fails.
	o.MaxMemoryUsage, o.MaxBytesBeforeExternalGroupBy = 1<<10, 1
	if _, err := report.Run(ctx, l.conn, "cpa", o); err == nil {
		t.Errorf("max_memory_usage of 1 KiB: no error; the setting is not applied")
	}
}
