package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// pixelctl spend import loads every fixture; importing them all again
// leaves pixel.ad_spend's rows and sums as they were.
func TestSpendImport(t *testing.T) {
	o := devstacktest.Database(t)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	conn := devstacktest.Open(t, o)
	const dir = "../../pkg/spend/testdata/"
	files := []struct{ platform, file, account string }{
		{"google", "google_campaigns.csv", "123-456-7890"},
		{"google", "google_campaigns_excel.csv", "987-654-3210"},
		{"meta", "meta_campaigns.csv", "act_1029384756"},
		{"csv", "spend.csv", ""},
	}
	type sums struct {
		Rows, Clicks, Impressions uint64
		Cost                      int64
	}
	table := func() map[string]sums {
		rows, err := conn.Query(devstacktest.Context(t), "SELECT concat(platform, ' ', currency), count(), sum(clicks), sum(impressions), sum(cost_micros) FROM ad_spend FINAL GROUP BY platform, currency")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]sums{}
		for rows.Next() {
			var k string
			var s sums
			if err := rows.Scan(&k, &s.Rows, &s.Clicks, &s.Impressions, &s.Cost); err != nil {
				t.Fatal(err)
			}
			m[k] = s
		}
		return m
	}
	want := map[string]sums{
		"google EUR":             {6, 3822, 145130, 3_895_130_000},
		"google USD":             {2, 2901, 358118, 3_280_460_000},
		"meta EUR":               {5, 2954, 148215, 1_719_830_000},
		"bing USD":               {2, 131, 4721, 116_950_000},
		"newsletter-sponsor EUR": {1, 0, 0, 400_000_000},
	}
	for round := 1; round <= 2; round++ {
		for _, f := range files {
			args := append([]string{"spend", "import", "-platform", f.platform, dir + f.file, "-format", "json"}, ch...)
			if f.account != "" {
				args = append(args, "-account", f.account)
			}
			out, err := pixelctl(t, args...)
			if err != nil {
				t.Fatalf("round %d, %s: %v\n%s", round, f.file, err, out)
			}
			var res struct {
				Rows    int
				DryRun  bool `json:"dry_run"`
				Skipped []struct{ Line int }
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || res.Rows == 0 || res.DryRun {
				t.Fatalf("%s: %v\n%s", f.file, err, out)
			}
		}
		got := table()
		if len(got) != len(want) {
			t.Fatalf("after round %d: %+v, want %+v", round, got, want)
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("after round %d, %s: %+v, want %+v", round, k, got[k], w)
			}
		}
	}

	out, err := pixelctl(t, append([]string{"spend", "import", "-platform", "google", "-account", "123-456-7890", dir + "google_campaigns.csv"}, ch...)...)
	for _, s := range []string{
		"Imported 6 rows of google spend from ../../pkg/spend/testdata/google_campaigns.csv (sha256 ",
		"Column names on line 3; 9 lines read after them: 6 rows, 0 summed into the row of an earlier line of the same campaign and day, 3 skipped.",
		"google       EUR     6  3,895.13   3,822      145,130",
		"line 10: totals row (Total: Account)",
	} {
		if err != nil || !strings.Contains(out, s) {
			t.Errorf("table output (%v) does not say %q:\n%s", err, s, out)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("Day,Campaign,Currency code,Cost\n2026-11-01,A,EUR,1\n2026-11-02,A,EUR,zwölf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"spend", "import", "-platform", "google", bad}, "give the account (-account)"},
		{[]string{"spend", "import", "-platform", "google", "-account", "1", bad}, `bad.csv: line 3, column "Cost": cannot read "zwölf"`},
		{[]string{"spend", "import", "-platform", "tiktok", bad}, "unknown platform"},
		{[]string{"spend", "import", bad}, "-platform is required"},
		{[]string{"spend", "import", "-platform", "meta"}, "name the file"},
		{[]string{"spend", "import", "-platform", "meta", "/nonexistent.csv"}, "no such file"},
		{[]string{"spend", "frobnicate"}, "unknown command"},
	} {
		out, err := pixelctl(t, append(tc.args, ch...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("pixelctl %q: %v, want an error saying %q\n%s", tc.args, err, tc.want, out)
		}
	}
	// The failed import wrote nothing.
	if n := devstacktest.QueryUint64(t, conn, "SELECT count() FROM ad_spend FINAL WHERE campaign = 'A'"); n != 0 {
		t.Errorf("a file with an error left %d rows", n)
	}
}
