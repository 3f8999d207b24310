package spend_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/unicode"

	"github.com/pixel-pipeline/pixel/pkg/spend"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// short is a row's comparable part, without Line and Date's type.
type short struct {
	Day, Platform, Account, Campaign, CampaignID, UTM, Currency string
	Cost                                                        int64
	Clicks, Impressions                                         uint64
}

func shorts(rows []spend.Row) []short {
	out := make([]short, len(rows))
	for i, r := range rows {
		out[i] = short{r.Date.Format(time.DateOnly), r.Platform, r.Account, r.Campaign, r.CampaignID, r.UTMCampaign, r.Currency, r.CostMicros, r.Clicks, r.Impressions}
	}
	return out
}

func TestParseFixtures(t *testing.T) {
	for _, tc := range []struct {
		file     string
		platform spend.Platform
		opts     spend.Options
		header   int
		read     int
		merged   int
		skipped  []spend.Skip
		rows     []short
	}{
		{
			file: "google_campaigns.csv", platform: spend.Google, opts: spend.Options{Account: "123-456-7890"}, header: 3, read: 9,
			skipped: []spend.Skip{{10, "totals row (Total: Account)"}, {11, "totals row (Total: Search)"}, {12, "totals row (Total: Campaigns)"}},
			rows: []short{
				{"2026-11-01", "google", "123-456-7890", "Black Friday - 2026", "", "black_friday_2026", "EUR", 1_234_560_000, 1024, 45678},
				{"2026-11-01", "google", "123-456-7890", "Brand Search", "", "brand_search", "EUR", 87_100_000, 312, 4120},
				{"2026-11-02", "google", "123-456-7890", "Black Friday - 2026", "", "black_friday_2026", "EUR", 1_502_030_000, 1311, 51002},
				{"2026-11-02", "google", "123-456-7890", "Brand Search", "", "brand_search", "EUR", 91_440_000, 330, 4380},
				{"2026-11-03", "google", "123-456-7890", "Black Friday - 2026", "", "black_friday_2026", "EUR", 980_000_000, 845, 39950},
				{"2026-11-03", "google", "123-456-7890", "Brand Search", "", "brand_search", "EUR", 0, 0, 0},
			},
		},
		{
			// CSV for Excel: UTF-16LE with a BOM, tabs, CRLF; segmented by
			// network, so two lines of one campaign and day are summed.
			file: "google_campaigns_excel.csv", platform: spend.Google, opts: spend.Options{Account: "987-654-3210"}, header: 3, read: 5, merged: 1,
			skipped: []spend.Skip{{7, "totals row (Total: Account)"}, {8, "totals row (Total: Campaigns)"}},
			rows: []short{
				{"2026-11-01", "google", "987-654-3210", "Black Friday - 2026", "20412345678", "black_friday_2026", "USD", 1_234_560_000, 1024, 45678},
				{"2026-11-02", "google", "987-654-3210", "Prospecting | PMax", "20498765432", "prospecting_|_pmax", "USD", 2_045_900_000, 1877, 312440},
			},
		},
		{
			file: "meta_campaigns.csv", platform: spend.Meta, opts: spend.Options{Account: "act_1029384756"}, header: 1, read: 6,
			skipped: []spend.Skip{{2, "summary row (no campaign)"}},
			rows: []short{
				{"2026-11-01", "meta", "act_1029384756", "Black Friday 2026", "", "black_friday_2026", "EUR", 410_340_000, 812, 40112},
				{"2026-11-01", "meta", "act_1029384756", "Retargeting, cart 30d", "", "retargeting,_cart_30d", "EUR", 125_100_000, 301, 9980},
				{"2026-11-02", "meta", "act_1029384756", "Black Friday 2026", "", "black_friday_2026", "EUR", 539_600_000, 978, 47391},
				{"2026-11-02", "meta", "act_1029384756", "Retargeting, cart 30d", "", "retargeting,_cart_30d", "EUR", 134_620_000, 287, 10233},
				{"2026-11-03", "meta", "act_1029384756", "Black Friday 2026", "", "black_friday_2026", "EUR", 510_170_000, 576, 40499},
			},
		},
		{
			file: "spend.csv", platform: spend.CSV, header: 1, read: 3,
			rows: []short{
				{"2026-11-01", "bing", "F123456", "black_friday_2026", "", "black_friday_2026", "USD", 55_200_000, 61, 2204},
				{"2026-11-01", "newsletter-sponsor", "acme-weekly", "Spring Sale 2026", "", "spring_sale_2026", "EUR", 400_000_000, 0, 0},
				{"2026-11-02", "bing", "F123456", "black_friday_2026", "", "black_friday_2026", "USD", 61_750_000, 70, 2517},
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := spend.Parse(tc.platform, read(t, tc.file), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if f.Header != tc.header || f.Read != tc.read || f.Merged != tc.merged || len(f.SHA256) != 64 {
				t.Errorf("header line %d, read %d, merged %d, sha256 %q; want %d, %d, %d", f.Header, f.Read, f.Merged, f.SHA256, tc.header, tc.read, tc.merged)
			}
			if got := f.Skipped; len(got) != len(tc.skipped) || (len(got) > 0 && !equalSkips(got, tc.skipped)) {
				t.Errorf("skipped %v, want %v", got, tc.skipped)
			}
			got := shorts(f.Rows)
			if len(got) != len(tc.rows) {
				t.Fatalf("%d rows, want %d:\n%+v", len(got), len(tc.rows), got)
			}
			for i := range got {
				if got[i] != tc.rows[i] {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], tc.rows[i])
				}
			}
		})
	}
}

func equalSkips(a, b []spend.Skip) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The totals of each fixture equal its own totals rows: nothing is lost or
// counted twice.
func TestFixtureTotalsMatchTheExportsTotals(t *testing.T) {
	for _, tc := range []struct {
		file     string
		platform spend.Platform
		want     spend.Total
	}{
		{"google_campaigns.csv", spend.Google, spend.Total{Platform: "google", Currency: "EUR", Rows: 6, CostMicros: 3_895_130_000, Clicks: 3822, Impressions: 145130}},
		{"google_campaigns_excel.csv", spend.Google, spend.Total{Platform: "google", Currency: "USD", Rows: 2, CostMicros: 3_280_460_000, Clicks: 2901, Impressions: 358118}},
		{"meta_campaigns.csv", spend.Meta, spend.Total{Platform: "meta", Currency: "EUR", Rows: 5, CostMicros: 1_719_830_000, Clicks: 2954, Impressions: 148215}},
	} {
		f, err := spend.Parse(tc.platform, read(t, tc.file), spend.Options{Account: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if got := spend.Totals(f.Rows); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: totals %+v, want %+v", tc.file, got, tc.want)
		}
	}
}

func TestParseVariants(t *testing.T) {
	const g = "Day,Campaign,Currency code,Cost,Clicks,Impr.\n"
	for _, tc := range []struct {
		name     string
		platform spend.Platform
		text     string
		opts     spend.Options
		want     []short
	}{
		{"utf-8 bom", spend.Google, "\uFEFF" + g + "2026-11-01,A,EUR,1.5,1,2\n", spend.Options{},
			[]short{{"2026-11-01", "google", "", "A", "", "a", "EUR", 1_500_000, 1, 2}}},
		{"decimal comma, semicolons", spend.Google, "Day;Campaign;Currency code;Cost;Clicks;Impr.\n2026-11-01;A;EUR;1.234,56;1.024;45.678\n", spend.Options{},
			[]short{{"2026-11-01", "google", "", "A", "", "a", "EUR", 1_234_560_000, 1024, 45678}}},
		{"decimal comma, quoted, commas", spend.Google, g + "01.11.2026,A,EUR,\"12,5\",3,4\n", spend.Options{},
			[]short{{"2026-11-01", "google", "", "A", "", "a", "EUR", 12_500_000, 3, 4}}},
		{"semicolons without evidence read decimal comma", spend.Google, "Day;Campaign;Currency code;Cost;Clicks;Impr.\n2026-11-01;A;EUR;1,250;1;2\n", spend.Options{},
			[]short{{"2026-11-01", "google", "", "A", "", "a", "EUR", 1_250_000, 1, 2}}},
		{"ambiguous comma is thousands", spend.Google, g + "2026-11-01,A,EUR,\"1,250\",1,2\n", spend.Options{},
			[]short{{"2026-11-01", "google", "", "A", "", "a", "EUR", 1_250_000_000, 1, 2}}},
		{"no-break spaces", spend.Google, g + "2026-11-01,A,EUR,\"1\u00a0234\u202f567,50\",1 000,2\n", spend.Options{},
			[]short{{"2026-11-01", "google", "", "A", "", "a", "EUR", 1_234_567_500_000, 1000, 2}}},
		{"English dates, -- as nothing", spend.Google, g + "\"Nov 1, 2026\",A,EUR,--,--,--\n", spend.Options{},
			[]short{{"2026-11-01", "google", "", "A", "", "a", "EUR", 0, 0, 0}}},
		{"currency from the option", spend.Google, "Day,Campaign,Cost\n2026-11-01,A,€3.00\n", spend.Options{Currency: "eur"},
			[]short{{"2026-11-01", "google", "", "A", "", "a", "EUR", 3_000_000, 0, 0}}},
		{"account column wins over the option", spend.Google, "Customer ID,Day,Campaign,Currency code,Cost\n111-222-3333,2026-11-01,A,EUR,1\n", spend.Options{Account: "x"},
			[]short{{"2026-11-01", "google", "111-222-3333", "A", "", "a", "EUR", 1_000_000, 0, 0}}},
		{"meta Day column, currency column", spend.Meta, "Day,Campaign name,Currency,Amount spent,Impressions,Link clicks\n2026-11-01,A,usd,2.00,10,1\n", spend.Options{},
			[]short{{"2026-11-01", "meta", "", "A", "", "a", "USD", 2_000_000, 1, 10}}},
		{"meta without link clicks", spend.Meta, "Reporting starts,Reporting ends,Campaign name,Amount spent (GBP)\n2026-11-01,2026-11-01,A,2\n", spend.Options{},
			[]short{{"2026-11-01", "meta", "", "A", "", "a", "GBP", 2_000_000, 0, 0}}},
		{"tabs, a comma in a column name, a campaign named Total", spend.Google, "Campaign\tDay\tCurrency code\tCost\tConv. value / cost, all\n\"Total Recall, promo\"\t2026-11-01\tEUR\t1,5\t2\nTotal: Account\t--\tEUR\t1,5\t2\n", spend.Options{},
			[]short{{"2026-11-01", "google", "", "Total Recall, promo", "", "total_recall,_promo", "EUR", 1_500_000, 0, 0}}},
		{"rounds beyond micros", spend.CSV, "date,platform,account,campaign,cost,currency,clicks,impressions\n2026-11-01,x,a,c,0.0000015,EUR,0,0\n", spend.Options{},
			[]short{{"2026-11-01", "x", "a", "c", "", "c", "EUR", 2, 0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Account == "" && tc.platform != spend.CSV {
				tc.opts.Account = "acct"
				for i := range tc.want {
					if tc.want[i].Account == "" {
						tc.want[i].Account = "acct"
					}
				}
			}
			f, err := spend.Parse(tc.platform, []byte(tc.text), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := shorts(f.Rows)
			if len(got) != len(tc.want) {
				t.Fatalf("rows %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseUTF16WithoutBOM(t *testing.T) {
	b, err := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder().Bytes([]byte("Day\tCampaign\tCurrency code\tCost\n2026-11-01\tA\tEUR\t1\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := spend.Parse(spend.Google, b, spend.Options{Account: "a"})
	if err != nil || len(f.Rows) != 1 || f.Rows[0].CostMicros != 1_000_000 {
		t.Fatalf("%v %+v", err, f)
	}
}

func TestParseErrors(t *testing.T) {
	const g = "Campaign report\nAll time\nDay,Campaign,Currency code,Cost,Clicks,Impr.\n"
	for _, tc := range []struct {
		name     string
		platform spend.Platform
		text     string
		line     int    // 0: not a *LineError
		want     string // in the message
	}{
		{"no header", spend.Google, "Reporting starts,Campaign name,Amount spent (EUR)\n", 0, "Day, Campaign, Currency code, Cost"},
		{"meta file as google", spend.Google, read2("meta_campaigns.csv"), 0, "Google Ads campaign report"},
		{"google file as meta", spend.Meta, read2("google_campaigns.csv"), 0, "Meta Ads Manager export"},
		{"bad cost", spend.Google, g + "2026-11-01,A,EUR,12x,1,2\n", 4, `column "Cost": cannot read "12x"`},
		{"bad grouping", spend.Google, g + "2026-11-01,A,EUR,1.5,\"1,00\",2\n", 4, `column "Clicks": cannot read "1,00": thousands separators`},
		{"fraction in a count", spend.Google, g + "2026-11-01,A,EUR,\"1,234.50\",2.5,2\n", 4, `column "Clicks": cannot read "2.5": a count has no fraction`},
		{"negative count", spend.Google, g + "2026-11-01,A,EUR,1.5,-1,2\n", 4, "not negative"},
		{"slashed date", spend.Google, g + "2026-11-01,A,EUR,1,1,1\n03/11/2026,A,EUR,1,1,2\n", 5, `column "Day": cannot read the day "03/11/2026"`},
		{"no currency", spend.Google, "Day,Campaign,Cost\n2026-11-01,A,1\n", 2, "-currency"},
		{"bad currency", spend.Google, g + "2026-11-01,A,Euro,1,1,2\n", 4, `"EURO" is not an ISO 4217`},
		{"two currencies of one key", spend.Google, g + "2026-11-01,A,EUR,1,1,2\n2026-11-01,A,USD,1,1,2\n", 5, "where line 4 has the same campaign and day in EUR"},
		{"short line", spend.Google, g + "2026-11-01,A,EUR\n", 4, "3 values, where the column names (line 3) have 6"},
		{"meta range", spend.Meta, "Reporting starts,Reporting ends,Campaign name,Amount spent (EUR)\n2026-11-01,2026-11-30,A,2\n", 2, "By time > Day"},
		{"csv without platform", spend.CSV, "date,platform,account,campaign,cost,currency,clicks,impressions\n2026-11-01,,a,c,1,EUR,0,0\n", 2, `column "platform": empty`},
		{"quote", spend.Google, g + "2026-11-01,\"A,EUR,1,1,2\n", 4, "or a quote?"},
		{"too large", spend.Google, g + "2026-11-01,A,EUR,9999999999999,1,2\n", 4, "more than 12 digits"},
		{"no account", spend.Meta, read2("meta_campaigns.csv"), 0, "-account"},
		{"unknown platform", spend.Platform("tiktok"), "x", 0, "unknown platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := spend.Options{Account: "a"}
			if tc.name == "no account" {
				o.Account = ""
			}
			_, err := spend.Parse(tc.platform, []byte(tc.text), o)
			if err == nil {
				t.Fatal("no error")
			}
			var le *spend.LineError
			if errors.As(err, &le) != (tc.line > 0) || (le != nil && le.Line != tc.line) {
				t.Errorf("error %q: want line %d", err, tc.line)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func read2(name string) string {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestUTMCampaign(t *testing.T) {
	for in, want := range utmCases {
		if got := spend.UTMCampaign(in); got != want {
			t.Errorf("UTMCampaign(%q) = %q, want %q", in, got, want)
		}
	}
}

// utmCases are also checked against ClickHouse's expression (store_test.go).
var utmCases = map[string]string{
	"Black Friday - 2026":   "black_friday_2026",
	"black-friday-2026":     "black_friday_2026",
	"black_friday_2026":     "black_friday_2026",
	"  Black  Friday 2026 ": "black_friday_2026",
	"Black+Friday+2026":     "black_friday_2026",
	"__x__":                 "x",
	"-":                     "",
	"":                      "",
	"Ärger im Büro":         "Ärger_im_büro",
	"Retargeting, cart 30d": "retargeting,_cart_30d",
	"A\tB\r\nC\fD\vE":       "a_b_c_d\ve",
	"Prospecting | PMax":    "prospecting_|_pmax",
	"ÉTÉ Sale":              "ÉtÉ_sale",
}

func TestFormatMicros(t *testing.T) {
	for in, want := range map[int64]string{0: "0.00", 1_234_560_000: "1234.56", 1_500_000: "1.50", 1: "0.000001", -2_500_000: "-2.50"} {
		if got := spend.FormatMicros(in); got != want {
			t.Errorf("FormatMicros(%d) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"google_campaigns.csv", "google_campaigns_excel.csv", "meta_campaigns.csv", "spend.csv"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Day;Campaign;Currency code;Cost;Clicks;Impr.\n2026-11-01;A;EUR;1.234,56;1.024;45.678\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range []spend.Platform{spend.Google, spend.Meta, spend.CSV} {
			file, err := spend.Parse(p, data, spend.Options{Currency: "EUR", Account: "a"})
			if err != nil {
				continue
			}
			if file.Read != len(file.Rows)+file.Merged+len(file.Skipped) {
				t.Fatalf("%s: read %d lines, but %d rows + %d merged + %d skipped", p, file.Read, len(file.Rows), file.Merged, len(file.Skipped))
			}
			seen := map[string]bool{}
			for _, r := range file.Rows {
				k := r.Platform + "\x00" + r.Account + "\x00" + r.Campaign + "\x00" + r.Date.String()
				if seen[k] {
					t.Fatalf("%s: two rows of one key %q", p, k)
				}
				seen[k] = true
				if r.Campaign == "" || len(r.Currency) != 3 || r.Line <= file.Header || r.UTMCampaign != spend.UTMCampaign(r.Campaign) {
					t.Fatalf("%s: row %+v", p, r)
				}
			}
		}
	})
}
