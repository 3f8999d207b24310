package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/privacy"
)

// exportCase is one export and the oracle's answer to it.
type exportCase struct {
	pixel, from, to string
	events          []string
	minValue        float64
}

// exportOracle is what the file must hold, computed from the population in
// Go: the events of the pixel whose copy falls in the range (the pixel's
// days), each (event_id, event) once, its fields from the server's copy,
// its click id, consent signals, gpc, bot and erasure from any copy.
type exportOracle struct {
	rows     []string // the file's rows after the header, in order
	read     int
	braid    int
	belowMin int
	gated    map[string]int
	skipped  map[string]int
}

func oracle(p *dataset.Population, all []event.Event, c exportCase, action string, erasedVisitors, erasedEmails map[string]bool) exportOracle {
	loc := p.Location(c.pixel)
	type key struct{ id, name string }
	groups := map[key][]*event.Event{}
	var order []key
	for i := range all {
		e := &all[i]
		day := p.Day(c.pixel, e.TS)
		if string(e.PixelID) != c.pixel || day < c.from || day > c.to || !slices.Contains(c.events, string(e.Name)) {
			continue
		}
		k := key{string(e.EventID), string(e.Name)}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	o := exportOracle{gated: map[string]int{}, skipped: map[string]int{}}
	type row struct {
		ts   int64
		id   string
		line string
	}
	var rows []row
	for _, k := range order {
		copies := groups[k]
		pick := copies[0]
		for _, e := range copies {
			if string(e.Tracking[event.Channel]) == "server" {
				pick = e
				break
			}
		}
		anyOf := func(col int) string {
			for _, e := range copies {
				if len(e.Tracking[col]) > 0 {
					return string(e.Tracking[col])
				}
			}
			return ""
		}
		signal := func(col int) string { // denied in any copy wins, then the server's
			for _, e := range copies {
				if string(e.Tracking[col]) == "denied" {
					return "denied"
				}
			}
			return string(pick.Tracking[col])
		}
		gclid, braid := anyOf(event.GCLID), anyOf(event.WBRAID)+anyOf(event.GBRAID)
		if gclid == "" && braid == "" {
			continue
		}
		o.read++
		if !(pick.Value >= c.minValue) {
			o.belowMin++
			continue
		}
		var gpc, bot, erased bool
		var clickMs int64
		for _, e := range copies {
			gpc, bot = gpc || e.GPC, bot || e.IsBot
			erased = erased || erasedVisitors[string(e.VisitorID)] || erasedEmails[string(e.Tracking[event.EmailSHA256])]
			clickMs = max(clickMs, e.ClickTSMs)
		}
		switch {
		case signal(event.Consent) == "denied" || signal(event.AdStorage) == "denied" || signal(event.AdUserData) == "denied":
			o.gated["consent"]++
			continue
		case gpc:
			o.gated["gpc"]++
			continue
		case erased:
			o.gated["optout"]++
			continue
		case bot:
			o.gated["bot"]++
			continue
		}
		if clickMs > 0 && pick.Millis()-clickMs > 90*86_400_000 {
			o.skipped["click older than 90 days"]++
			continue
		}
		if gclid == "" {
			o.braid++
			continue
		}
		value := ""
		if pick.Value != 0 || len(pick.Currency) > 0 {
			value = strconv.FormatFloat(pick.Value, 'f', -1, 64)
		}
		consent := map[string]string{"granted": "Granted", "denied": "Denied"}
		line := strings.Join([]string{gclid, action, time.Unix(pick.TS, 0).In(loc).Format("2006-01-02 15:04:05"), value, string(pick.Currency),
			consent[signal(event.AdUserData)], consent[signal(event.AdPersonalization)], string(pick.OrderID)}, ",")
		rows = append(rows, row{pick.TS, k.id, line})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].ts != rows[j].ts {
			return rows[i].ts < rows[j].ts
		}
		return rows[i].id < rows[j].id
	})
	for _, r := range rows {
		o.rows = append(o.rows, r.line)
	}
	return o
}

// extraConversions are hand-made events for what the generated data set
// lacks: a revoked consent, a bot and a GPC signal only on the browser's
// copy, an iOS click, an expired click, and a copy pair whose click id only
// the browser had.
func extraConversions(pixel string, loc *time.Location) []event.Event {
	at := time.Date(2026, 11, 10, 15, 0, 0, 0, loc)
	var out []event.Event
	add := func(id, channel string, sec int64, edit func(e *event.Event)) {
		ts := at.Unix() + sec
		e := event.Event{EventID: []byte(id), PixelID: []byte(pixel), VisitorID: []byte("v-" + id), Name: []byte("Purchase"),
			TS: ts, TSMs: ts * 1000, ReceivedAt: ts, URL: []byte("https://shop.example/thanks"), Value: 42.5, Currency: []byte("EUR"),
			OrderID: []byte("ord-" + id), ClickTSMs: (ts - 3600) * 1000}
		e.Tracking[event.Channel] = []byte(channel)
		e.Tracking[event.GCLID] = []byte("gclid-" + id)
		e.Tracking[event.Consent] = []byte("granted")
		edit(&e)
		out = append(out, e)
	}
	none := func(*event.Event) {}
	add("x-revoked", "browser", 1, func(e *event.Event) { e.Tracking[event.AdUserData] = []byte("denied") })
	add("x-adstorage", "browser", 2, func(e *event.Event) { e.Tracking[event.AdStorage] = []byte("denied") })
	add("x-bot", "browser", 3, func(e *event.Event) { e.IsBot = true })
	// GPC on the browser's copy only: the server's copy does not carry it.
	add("x-gpc", "browser", 4, func(e *event.Event) { e.GPC = true })
	add("x-gpc", "server", 9, none)
	add("x-ios", "browser", 5, func(e *event.Event) { e.Tracking[event.GCLID], e.Tracking[event.WBRAID] = nil, []byte("wbraid-x") })
	add("x-old", "browser", 6, func(e *event.Event) { e.ClickTSMs = e.TSMs - 91*86_400_000 })
	// The server's copy has no click id and another value: the click id
	// comes from the browser's, value and time from the server's.
	add("x-pair", "browser", 7, func(e *event.Event) {
		e.Tracking[event.AdUserData], e.Tracking[event.AdPersonalization] = []byte("granted"), []byte("denied")
	})
	add("x-pair", "server", 12, func(e *event.Event) { e.Tracking[event.GCLID], e.Value = nil, 40 })
	add("x-cheap", "browser", 8, func(e *event.Event) { e.Value = 1 })
	return out
}

// conversionEvents are the events of destination.DefaultEvents that are
// stored (EngagedVisit is the forwarder's).
var conversionEvents = slices.DeleteFunc(slices.Clone(destination.DefaultEvents), func(n string) bool { return n == destination.EngagedVisit })

func TestExportGoogleConversions(t *testing.T) {
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	with := func(args ...string) []string { return append(append([]string(nil), args...), ch...) }
	gen := dataset.Generate(dataset.DefaultConfig(13, 600))
	all := gen.All()
	pixels := gen.Config().Pixels
	for _, px := range pixels {
		all = append(all, extraConversions(px.ID, gen.Location(px.ID))...)
	}
	p := dataset.FromEvents(pixels, all)
	if _, err := dataset.Insert(devstacktest.Context(t), conn, p, 20_000); err != nil {
		t.Fatal(err)
	}
	for _, px := range pixels {
		if out, err := pixelctl(t, with("pixel", "create", "-name", px.ID, "-id", px.ID, "-time-zone", px.TimeZone, "-collector-url", "https://px.example")...); err != nil {
			t.Fatalf("pixel create: %v\n%s", err, out)
		}
	}

	// Erasure requests (pixelctl forget) for two visitors of each pixel
	// with gclid purchases, one by visitor id and one by email, recorded
	// without deleting: their events stand for those that arrived after it.
	erasedVisitors, erasedEmails := map[string]bool{}, map[string]bool{}
	byVisitor, byEmail := map[string]bool{}, map[string]bool{} // pixels done
	for i := range all {
		e := &all[i]
		px := string(e.PixelID)
		if string(e.Name) != "Purchase" || len(e.Tracking[event.GCLID]) == 0 || e.GPC || string(e.Tracking[event.Consent]) == "denied" {
			continue
		}
		switch {
		case !byVisitor[px]:
			erasedVisitors[string(e.VisitorID)], byVisitor[px] = true, true
		case !byEmail[px] && len(e.Tracking[event.EmailSHA256]) > 0 && !erasedVisitors[string(e.VisitorID)]:
			erasedEmails[string(e.Tracking[event.EmailSHA256])], byEmail[px] = true, true
		}
	}
	if len(erasedVisitors) != len(pixels) || len(erasedEmails) != len(pixels) {
		t.Fatalf("the data set has too few gclid purchasers to erase: %v %v", erasedVisitors, erasedEmails)
	}
	b, err := conn.PrepareBatch(devstacktest.Context(t), "INSERT INTO erasures (key_kind, key)")
	if err != nil {
		t.Fatal(err)
	}
	for k := range erasedVisitors {
		err = errors.Join(err, b.Append(privacy.KindVisitor, k))
	}
	for k := range erasedEmails {
		err = errors.Join(err, b.Append(privacy.KindEmail, k))
	}
	if err = errors.Join(err, b.Send()); err != nil {
		t.Fatal(err)
	}

	golden, err := os.ReadFile("../../pkg/googleads/testdata/google-conversions.csv")
	if err != nil {
		t.Fatal(err)
	}
	templateHeader := strings.Split(string(golden), "\n")[1]
	countsRE := regexp.MustCompile(`^google-conversions of pixel (\S+), (\S+) to (\S+) \((\S+) days\): read (\d+) conversions with a click id; written (\d+); left out (\d+) \(wbraid or gbraid (\d+), below -min-value (\d+), consent (\d+), gpc (\d+), optout (\d+), bot (\d+), no click id (\d+), bad click id (\d+), click older than 90 days (\d+), before its click (\d+)\)\n$`)

	const action = "Purchase (pixel)"
	for _, c := range []exportCase{
		{pixel: "px-shop-us", from: "2026-11-01", to: "2026-11-20", events: conversionEvents},
		{pixel: "px-shop-eu", from: "2026-11-01", to: "2026-11-20", events: conversionEvents},
		{pixel: "px-shop-eu", from: "2026-11-05", to: "2026-11-10", events: []string{"Purchase"}, minValue: 20},
		{pixel: "px-shop-us", from: "2026-11-01", to: "2026-11-20"}, // the default events: Purchase
	} {
		name := fmt.Sprintf("%s %s..%s %v ≥%v", c.pixel, c.from, c.to, c.events, c.minValue)
		file := filepath.Join(t.TempDir(), "conversions.csv")
		args := []string{"export", "google-conversions", "-pixel", c.pixel, "-action-name", action, "-from", c.from, "-to", c.to,
			"-min-value", fmt.Sprint(c.minValue), "-o", file}
		if c.events == nil {
			c.events = []string{"Purchase"} // the default
		} else {
			args = append(args, "-events", strings.Join(c.events, ","))
		}
		args = with(args...)
		want := oracle(p, all, c, action, erasedVisitors, erasedEmails)
		stderr, err := pixelctlStderr(t, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		sc := bufio.NewScanner(strings.NewReader(string(got)))
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) < 2 || lines[0] != "Parameters:TimeZone="+p.Location(c.pixel).String() || lines[1] != templateHeader {
			t.Fatalf("%s: head %q; want the time zone row and the template's header %q", name, lines[:min(2, len(lines))], templateHeader)
		}
		if !slices.Equal(lines[2:], want.rows) {
			t.Errorf("%s: %d rows, want %d\n got %q\nwant %q", name, len(lines)-2, len(want.rows), lines[2:], want.rows)
		}
		// Of the hand-made conversions only these two may be there (the
		// oracle says the same; this says it without the oracle).
		for _, l := range lines[2:] {
			if id := strings.Split(l, ",")[0]; strings.HasPrefix(id, "gclid-x-") && id != "gclid-x-pair" && id != "gclid-x-cheap" {
				t.Errorf("%s: a refused conversion is in the file: %s", name, l)
			}
		}
		m := countsRE.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("%s: stderr %q", name, stderr)
		}
		n := make([]int, len(m))
		for i := 5; i < len(m); i++ {
			n[i], _ = strconv.Atoi(m[i])
		}
		read, written, left := n[5], n[6], n[7]
		sum := 0
		for _, v := range n[8:] {
			sum += v
		}
		if read != written+left || left != sum {
			t.Errorf("%s: counts do not add up: %s", name, stderr)
		}
		gotCounts := fmt.Sprint(n[5:])
		wantCounts := fmt.Sprint([]int{want.read, len(want.rows), want.read - len(want.rows), want.braid, want.belowMin,
			want.gated["consent"], want.gated["gpc"], want.gated["optout"], want.gated["bot"], 0, 0, want.skipped["click older than 90 days"], 0})
		if gotCounts != wantCounts {
			t.Errorf("%s: counts %s, want %s\n%s", name, gotCounts, wantCounts, stderr)
		}
		if m[2] != c.from || m[3] != c.to || m[4] != p.Location(c.pixel).String() {
			t.Errorf("%s: stderr %q", name, stderr)
		}
		t.Logf("%s: %s", name, strings.TrimSpace(stderr))
	}

	// Each pixel's conversions meet every refusal at least once, so that
	// the cases above test them all.
	for _, px := range pixels {
		full := oracle(p, all, exportCase{pixel: px.ID, from: "2026-11-01", to: "2026-11-20", events: conversionEvents}, action, erasedVisitors, erasedEmails)
		for _, r := range []string{"consent", "gpc", "optout", "bot"} {
			if full.gated[r] == 0 {
				t.Errorf("no conversion of %s is refused for %s: the test does not test it", px.ID, r)
			}
		}
		if full.braid == 0 || full.skipped["click older than 90 days"] == 0 || len(full.rows) < 20 {
			t.Errorf("%s: %d rows, %d braid, %v skipped", px.ID, len(full.rows), full.braid, full.skipped)
		}
	}

	// stdout, and the default range (-last 30d) up to today.
	var out string
	stderr, err := pixelctlStderr(t, with("export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action)...)
	if err == nil {
		// The counts again on stderr: not for the test log.
		devNull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		saved := os.Stderr
		os.Stderr = devNull
		out, err = pixelctl(t, with("export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "-last", "30d")...)
		os.Stderr = saved
		devNull.Close()
	}
	today := time.Now().In(p.Location("px-shop-us"))
	if wantRange := fmt.Sprintf(", %s to %s (", today.AddDate(0, 0, -29).Format(time.DateOnly), today.Format(time.DateOnly)); err != nil || !strings.Contains(stderr, wantRange) ||
		!strings.HasPrefix(out, "Parameters:TimeZone=America/New_York\n"+templateHeader+"\n") {
		t.Errorf("to stdout: %v; stderr %q, want the range %q\n%.300s", err, stderr, wantRange, out)
	}

	// Wrong input: one line each, exit status 2.
	for _, args := range [][]string{
		{"export", "google-conversions", "-action-name", action},
		{"export", "google-conversions", "-pixel", "px-shop-us"},
		{"export", "google-conversions", "-pixel", "nope", "-action-name", action},
		{"export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "-from", "2026-11-05"},
		{"export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "-from", "2026-11-05", "-to", "2026-11-01"},
		{"export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "-last", "30d", "-from", "2026-11-01", "-to", "2026-11-05"},
		{"export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "-last", "forever"},
		{"export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "-events", "EngagedVisit"},
		{"export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "-events", ","},
		{"export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "-min-value", "-1"},
		{"export", "google-conversions", "-pixel", "px-shop-us", "-action-name", action, "extra"},
		{"export", "meta-conversions"},
		{"export"},
	} {
		_, err := pixelctl(t, with(args...)...)
		var fe flagError
		var ue usageError
		if !errors.As(err, &fe) && !errors.As(err, &ue) {
			t.Errorf("%q: %v; want an error that exits with status 2", args, err)
		}
	}
	if out, err := pixelctl(t, "export", "-help"); err != nil || !strings.Contains(out, "google-conversions -pixel ID -action-name NAME") {
		t.Errorf("export -help: %v\n%s", err, out)
	}
}
