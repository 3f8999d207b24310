package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// reportDB is a database holding the generated data set, its pixels
// registered with pixelctl pixel create and its ad spend imported with
// pixelctl spend import; with appends the connection flags to a command.
func reportDB(t *testing.T, visitors int) (chstore.Conn, func(args ...string) []string) {
	t.Helper()
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	with := func(args ...string) []string { return append(append([]string(nil), args...), ch...) }
	p := dataset.Generate(dataset.DefaultConfig(5, visitors))
	if _, err := dataset.Insert(devstacktest.Context(t), conn, p, 20_000); err != nil {
		t.Fatal(err)
	}
	for _, px := range p.Config().Pixels {
		if out, err := pixelctl(t, with("pixel", "create", "-name", px.ID, "-id", px.ID, "-time-zone", px.TimeZone, "-collector-url", "https://px.example")...); err != nil {
			t.Fatalf("pixel create: %v\n%s", err, out)
		}
	}
	file := filepath.Join(t.TempDir(), "spend.csv")
	if err := os.WriteFile(file, dataset.SpendCSV(p.Spend()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := pixelctl(t, with("spend", "import", "-platform", "csv", file)...); err != nil {
		t.Fatalf("spend import: %v\n%s", err, out)
	}
	return conn, with
}

func TestReportCommand(t *testing.T) {
	conn, with := reportDB(t, 400)
	eu := []string{"-pixel", "px-shop-eu", "-from", "2026-11-02", "-to", "2026-11-15", "-param", "account=" + dataset.AdAccount("px-shop-eu")}

	table, err := pixelctl(t, with(append([]string{"report", "cpa"}, eu...)...)...)
	if err != nil {
		t.Fatalf("report cpa: %v\n%s", err, table)
	}
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "cpa: Cost per acquisition (and return on ad spend) by campaign") ||
		lines[1] != "pixel px-shop-eu, 2026-11-02 to 2026-11-15 (Europe/Paris days), bots excluded, account=ads-px-shop-eu event=Purchase order=cost" ||
		!strings.HasPrefix(lines[3], "campaign  ") {
		t.Fatalf("table heading:\n%s", table)
	}
	sep := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "-----") {
			sep = i
		}
	}
	if sep < 5 || !strings.HasPrefix(lines[sep+1], "Total ") || !strings.Contains(table, "black_friday_2026") {
		t.Fatalf("table: want rows, a line of dashes, then the totals:\n%s", table)
	}
	t.Logf("pixelctl report cpa %s:\n%s", strings.Join(eu, " "), table)

	// csv: the same rows, raw values; json: the same rows, totals apart.
	out, err := pixelctl(t, with(append([]string{"report", "cpa", "-format", "csv"}, eu...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || strings.Join(recs[0], ",") != "campaign,currency,cost,conversions,cpa,revenue,roas,clicks,impressions" {
		t.Fatalf("csv: %v\n%s", err, out)
	}
	if len(recs)-1 != len(lines)-5 { // heading, blank line, header, dashes
		t.Errorf("csv has %d rows, the table %d:\n%s\n%s", len(recs)-1, len(lines)-5, out, table)
	}
	// The name may follow the flags.
	if again, err := pixelctl(t, with(append(append([]string{"report", "-format", "csv"}, eu...), "cpa")...)...); err != nil || again != out {
		t.Errorf("flags before the name: %v\n%s\nwant\n%s", err, again, out)
	}
	for _, r := range recs[1:] {
		if strings.Contains(r[2], ",") {
			t.Errorf("csv cost %q is not a raw number", r[2])
		}
	}
	out, err = pixelctl(t, with(append([]string{"report", "roas", "-format", "json"}, eu...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		Report, Pixel, From, To string
		TimeZone                string `json:"time_zone"`
		Rows, Totals            []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if js.Report != "roas" || js.Pixel != "px-shop-eu" || js.TimeZone != "Europe/Paris" || js.From != "2026-11-02" || js.To != "2026-11-15" ||
		len(js.Rows) != len(recs)-1-len(js.Totals) || len(js.Totals) == 0 || js.Totals[0]["campaign"] != "Total" {
		t.Fatalf("json: %+v", js)
	}

	// -list and -help.
	out, err = pixelctl(t, "report", "-list")
	if err != nil || !strings.Contains(out, "cpa  ") || !strings.Contains(out, "roas  ") || !strings.Contains(out, "[-param account=*]") {
		t.Errorf("report -list: %v\n%s", err, out)
	}
	out, err = pixelctl(t, "report", "cpa", "-help")
	if err != nil || !strings.Contains(out, "pixelctl report cpa: Cost per acquisition") || !strings.Contains(out, "account String (default *)") || !strings.Contains(out, "-include-bots") {
		t.Errorf("report cpa -help: %v\n%s", err, out)
	}

	// -include-bots: a bot that landed from a campaign and bought counts
	// only then.
	ts := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	var rows chstore.Rows
	for i, name := range []string{"PageView", "Purchase"} {
		e := event.Event{EventID: []byte(fmt.Sprintf("bot-%d", i)), PixelID: []byte("px-shop-eu"), VisitorID: []byte("bot-v"), SessionID: []byte("bot-s"),
			Name: []byte(name), TS: ts.Unix() + int64(i), ReceivedAt: ts.Unix() + int64(i), IsBot: true}
		if name == "PageView" {
			e.Tracking[event.UTMCampaign] = []byte("Brand")
		} else {
			e.Value, e.Currency = 100, []byte("EUR")
		}
		rows.Append(&e)
	}
	if err := chstore.Insert(devstacktest.Context(t), conn, &rows, ""); err != nil {
		t.Fatal(err)
	}
	brand := func(args ...string) []string {
		out, err := pixelctl(t, with(append(append([]string{"report", "cpa", "-format", "csv"}, eu...), args...)...)...)
		if err != nil {
			t.Fatal(err)
		}
		recs, _ := csv.NewReader(strings.NewReader(out)).ReadAll()
		for _, r := range recs {
			if r[0] == "brand" && r[1] == "EUR" {
				return r
			}
		}
		t.Fatalf("no brand EUR row:\n%s", out)
		return nil
	}
	without, with2 := brand(), brand("-include-bots")
	if without[2] != with2[2] || fmt.Sprint(atoi(t, without[3])+1) != with2[3] {
		t.Errorf("-include-bots: brand EUR %v, then %v; want the same cost and one conversion more", without, with2)
	}
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// -last counts the pixel's days: with a pixel whose today is not UTC's,
// the range ends on the pixel's today and the spend of that day counts.
func TestReportLastUsesThePixelsZone(t *testing.T) {
	o := devstacktest.Database(t)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	// At any moment one of these zones has another date than UTC.
	zone := "Pacific/Kiritimati" // UTC+14
	if time.Now().UTC().Hour() < 10 {
		zone = "Pacific/Pago_Pago" // UTC-11
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := pixelctl(t, append([]string{"pixel", "create", "-name", "Far", "-id", "far", "-time-zone", zone, "-collector-url", "https://px.example"}, ch...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		now := time.Now()
		local, utc := now.In(loc).Format(time.DateOnly), now.UTC().Format(time.DateOnly)
		if local == utc {
			t.Fatalf("%s and UTC share the date %s", zone, local)
		}
		file := filepath.Join(t.TempDir(), "spend.csv")
		spendCSV := "date,platform,account,campaign,cost,currency,clicks,impressions\n" +
			local + ",google,acct,Far Away,10.00,EUR,1,1\n" + utc + ",google,acct,Far Away,1000.00,EUR,1,1\n"
		if err := os.WriteFile(file, []byte(spendCSV), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := pixelctl(t, append([]string{"spend", "import", "-platform", "csv", file}, ch...)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		out, err := pixelctl(t, append([]string{"report", "cpa", "-last", "1d", "-format", "json"}, ch...)...) // the only pixel: no -pixel
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if time.Now().In(loc).Format(time.DateOnly) != local && attempt == 0 {
			continue // the pixel's midnight passed meanwhile: once more
		}
		var js struct {
			From, To string
			Totals   []map[string]any
		}
		if err := json.Unmarshal([]byte(out), &js); err != nil {
			t.Fatal(err)
		}
		if js.From != local || js.To != local || len(js.Totals) != 1 || js.Totals[0]["cost"] != 10.0 {
			t.Fatalf("-last 1d in %s (today %s there, %s in UTC): %s", zone, local, utc, out)
		}
		return
	}
}

// Wrong input: one line, exit status 2, before ClickHouse is reached when
// it can be told without it.
func TestReportErrors(t *testing.T) {
	_, with := reportDB(t, 20)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "nope"}, `no report called "nope"; the reports are`},
		{[]string{"report", "cpa", "-pixel", "nope"}, `pixel "nope": no such pixel`},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-from", "2026-11-09", "-to", "2026-11-02"}, "-from 2026-11-09 is after -to 2026-11-02: the range is reversed"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-from", "2026-11-09"}, "give both -from and -to"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-last", "7d", "-from", "2026-11-02", "-to", "2026-11-03"}, "not both"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-last", "7y"}, `-last "7y"`},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-param", "nope=1"}, "report cpa has no parameter nope; it takes event (String, default Purchase), account (String, default *)"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-param", "pixel=x"}, "-param pixel: the report's pixel is set by -pixel"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-param", "bots=1"}, "set by -include-bots"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-param", "account"}, `-param "account": want name=value`},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-format", "tsv"}, `unknown format "tsv"`},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-nope"}, "flag provided but not defined: -nope"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "extra"}, `unexpected "extra"`},
		{[]string{"report", "cpa"}, "name the pixel with -pixel ID: the registry has 2 pixels"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-max-memory-usage", "1GiB", "-max-bytes-before-external-group-by", "1GiB"}, "less than -max-memory-usage"},
		{[]string{"report", "cpa", "-pixel", "px-shop-eu", "-max-memory-usage", "lots"}, `"lots" is not an amount of bytes`},
		{[]string{"report"}, "name the report"},
	} {
		_, err := pixelctl(t, with(tc.args...)...)
		var fe flagError
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || !errors.As(err, &fe) && !errors.As(err, &ue) {
			t.Errorf("%q: %v; want one line containing %q that exits with status 2", tc.args, err, tc.want)
		}
	}

	// The real exit status and stderr, from the built command.
	bin := filepath.Join(t.TempDir(), "pixelctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"report", "cpa", "-pixel", "nope"},
		{"report", "cpa", "-pixel", "px-shop-eu", "-from", "2026-11-09", "-to", "2026-11-02"},
		{"report", "cpa", "-pixel", "px-shop-eu", "-param", "nope=1"},
		{"report", "nope", "-pixel", "px-shop-eu"},
		{"report", "cpa", "-pixel", "px-shop-eu", "-nope"},
		{"report", "cpa", "-pixel", "px-shop-eu", "-last", "3y"},
	} {
		cmd := exec.Command(bin, with(args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), "pixelctl: ") {
			t.Errorf("pixelctl %q: %v, stderr %q; want exit status 2 and one line", args, err, stderr.String())
		}
	}
}
