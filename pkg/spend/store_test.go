package spend_test

import (
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/spend"
)

type tableTotals struct {
	rows, clicks, impressions uint64
	cost                      int64
	costUnits                 float64
}

func totals(t *testing.T, conn chstore.Conn, platform string) tableTotals {
	t.Helper()
	var s tableTotals
	if err := conn.QueryRow(devstacktest.Context(t), "SELECT count(), sum(cost_micros), sum(cost), sum(clicks), sum(impressions) FROM ad_spend FINAL WHERE platform = ?", platform).
		Scan(&s.rows, &s.cost, &s.costUnits, &s.clicks, &s.impressions); err != nil {
		t.Fatal(err)
	}
	return s
}

// Writing the same file twice leaves pixel.ad_spend as writing it once; a
// later file with a corrected day replaces that day only.
func TestWriteIsIdempotent(t *testing.T) {
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx := devstacktest.Context(t)
	if v, err := chstore.ServerVersion(ctx, conn); err == nil {
		t.Logf("ClickHouse %v", v)
	}
	f, err := spend.Parse(spend.Google, read(t, "google_campaigns.csv"), spend.Options{Account: "123-456-7890"})
	if err != nil {
		t.Fatal(err)
	}
	want := tableTotals{rows: 6, cost: 3_895_130_000, costUnits: 3895.13, clicks: 3822, impressions: 145130}
	now := time.Date(2026, 11, 4, 9, 0, 0, 0, time.UTC)
	for i := range 2 {
		if err := spend.Write(ctx, conn, f, now.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := totals(t, conn, "google"); got.rows != want.rows || got.cost != want.cost || got.clicks != want.clicks || got.impressions != want.impressions || got.costUnits < 3895.129 || got.costUnits > 3895.131 {
			t.Fatalf("after import %d: %+v, want %+v", i+1, got, want)
		}
	}
	// Google corrected Nov 3's Black Friday cost: the new export replaces
	// that row and leaves the others.
	fixed, err := spend.Parse(spend.Google, []byte("Day,Campaign,Currency code,Cost,Clicks,Impr.\n2026-11-03,Black Friday - 2026,EUR,990.00,845,\"39,950\"\n"), spend.Options{Account: "123-456-7890"})
	if err != nil {
		t.Fatal(err)
	}
	if err := spend.Write(ctx, conn, fixed, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := totals(t, conn, "google"); got.rows != 6 || got.cost != want.cost+10_000_000 {
		t.Fatalf("after the correction: %+v", got)
	}
	var hash, utm string
	var line uint32
	if err := conn.QueryRow(ctx, "SELECT source_sha256, utm_campaign, source_line FROM ad_spend FINAL WHERE date = '2026-11-01' AND campaign = 'Black Friday - 2026'").Scan(&hash, &utm, &line); err != nil {
		t.Fatal(err)
	}
	if hash != f.SHA256 || utm != "black_friday_2026" || line != 4 {
		t.Errorf("bookkeeping: %s %s %d", hash, utm, line)
	}
}

// The ClickHouse expression documented in 0007_ad_spend.sql gives the same
// key as UTMCampaign, so that reports join events to spend on it.
func TestUTMCampaignMatchesClickHouse(t *testing.T) {
	conn := devstacktest.Open(t, devstacktest.Database(t))
	for in, want := range utmCases {
		var got string
		if err := conn.QueryRow(devstacktest.Context(t), `SELECT replaceRegexpAll(replaceRegexpAll(lower(?), '[\\s_+-]+', '_'), '^_|_$', '')`, in).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("ClickHouse makes %q %q, UTMCampaign %q", in, got, want)
		}
	}
}
