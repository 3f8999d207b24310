package apptest

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

// NewTrackingStack is a stack whose collector checks every hit against the
// pixel registry, refreshed every 200 ms so that tests need not wait.
func NewTrackingStack(t testing.TB) *devstack.Stack {
	t.Helper()
	s := NewStack(t, binDir)
	s.Cfg.Registry = "clickhouse"
	s.Cfg.CollectorArgs = append(s.Cfg.CollectorArgs, "-registry-refresh", "200ms")
	return s
}

// created is what `pixelctl pixel create -format json` prints.
type created struct {
	Pixel struct {
		ID      string   `json:"id"`
		Domains []string `json:"domains"`
	} `json:"pixel"`
	Secret   string `json:"secret"`
	Snippets struct {
		JS       string `json:"JS"`
		NoScript string `json:"NoScript"`
		ImageURL string `json:"ImageURL"`
	} `json:"snippets"`
}

// pixelctl runs bin/pixelctl against the stack's ClickHouse and collector
// and returns its standard output.
func pixelctl(t testing.TB, s *devstack.Stack, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Cfg.BinDir, "pixelctl"), args...)
	cmd.Env = append(os.Environ(), "CLICKHOUSE_ADDR="+s.ClickHouseAddr(), "PIXEL_COLLECTOR_URL=http://"+s.Cfg.CollectorAddr,
		destination.KeyFileEnv+"="+s.DestinationKeyFile())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pixelctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// createPixel registers a pixel with pixelctl and returns what it printed.
func createPixel(t testing.TB, s *devstack.Stack, args ...string) created {
	t.Helper()
	out := pixelctl(t, s, append([]string{"pixel", "create", "-format", "json"}, args...)...)
	var c created
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Pixel.ID == "" {
		t.Fatalf("pixelctl pixel create printed %q: %v", out, err)
	}
	return c
}

// get sends one GET to the collector with headers ("Name: value") and
// returns the response, body read.
func get(t testing.TB, client *http.Client, u string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v) // a later line replaces an earlier one (the default User-Agent)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36"

// TestRegistryAndPrivacy runs hits through the real collector, Kafka and
// consumer with the registry on: what each pixel's registration and
// settings let through, and what they do to it, as stored in ClickHouse.
func TestRegistryAndPrivacy(t *testing.T) {
	s := NewTrackingStack(t)
	Start(t, s)
	conn := Conn(t, s)
	// Registered once the stack runs: the collector's refresh picks them up.
	shop := createPixel(t, s, "-name", "Shop", "-domains", "shop.example,*.shop.example", "-ip", "truncate", "-gpc", "flag", "-dnt", "drop")
	strict := createPixel(t, s, "-name", "Strict", "-domains", "strict.example", "-ip", "drop", "-gpc", "drop")
	gone := createPixel(t, s, "-name", "Gone", "-domains", "gone.example")
	pixelctl(t, s, "pixel", "disable", gone.Pixel.ID)

	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + s.Cfg.CollectorAddr + "/p.gif?"
	hit := func(pixelID, eid, page string, headers ...string) {
		t.Helper()
		q := url.Values{"id": {pixelID}, "eid": {eid}, "dl": {page}}
		resp := get(t, client, base+q.Encode(), append([]string{"User-Agent: " + chromeUA}, headers...)...)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" {
			t.Fatalf("hit %s: status %d %s, want the GIF", eid, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	// Until the collector has loaded shop, its hits are unknown; poll with
	// a fresh event id each time until one is stored.
	var first string
	WaitForStored(t, conn, func(i int) string {
		first = fmt.Sprintf("reg-first-%d", i)
		hit(shop.Pixel.ID, first, "https://shop.example/")
		return first
	})

	hit(shop.Pixel.ID, "reg-campaign", "https://www.shop.example/landing?utm_source=news&utm_medium=email&utm_campaign=spring&gclid=G-1",
		"Referer: https://www.shop.example/landing")
	hit(shop.Pixel.ID, "reg-later", "https://shop.example/thanks", "Cookie: _pxclk=1|1767268000000|G-0|||F-0||")
	hit(shop.Pixel.ID, "reg-gpc", "https://shop.example/", "Sec-GPC: 1")
	hit(shop.Pixel.ID, "reg-bot", "https://shop.example/", "User-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
	hit(strict.Pixel.ID, "reg-ipdrop", "https://strict.example/")
	// Refused, each for its reason.
	refused := map[string]string{
		"reg-foreign":  "foreign_origin",
		"reg-unknown":  "unknown_pixel",
		"reg-disabled": "disabled_pixel",
		"reg-dnt":      "opted_out",
		"reg-gpcdrop":  "opted_out",
		"reg-optout":   "opted_out",
	}
	before := invalidCounts(t, s)
	hit(shop.Pixel.ID, "reg-foreign", "https://shop.example/", "Referer: https://evil.example/")
	hit("noSuchPixel123", "reg-unknown", "https://shop.example/")
	hit(gone.Pixel.ID, "reg-disabled", "https://gone.example/")
	hit(shop.Pixel.ID, "reg-dnt", "https://shop.example/", "DNT: 1")
	hit(strict.Pixel.ID, "reg-gpcdrop", "https://strict.example/", "Sec-GPC: 1")
	hit(shop.Pixel.ID, "reg-optout", "https://shop.example/", "Cookie: _pxoptout=1")
	after := invalidCounts(t, s)
	wantCounts := map[string]int{}
	for _, r := range refused {
		wantCounts[r]++
	}
	for reason, n := range wantCounts {
		if got := after[reason] - before[reason]; got != n {
			t.Errorf("pixel_hits_invalid_total{reason=%q} grew by %d, want %d", reason, got, n)
		}
	}

	stored := []string{"reg-campaign", "reg-later", "reg-gpc", "reg-bot", "reg-ipdrop"}
	q := "SELECT count() FROM pixel.events WHERE event_id IN ('" + strings.Join(stored, "','") + "')"
	if got := WaitCount(t, conn, q, uint64(len(stored)), 30*time.Second); got != uint64(len(stored)) {
		t.Fatalf("%d of the %d accepted hits stored", got, len(stored))
	}
	// The collector publishes nothing it refused: after every accepted hit
	// is stored, none of the refused ones is.
	var ids []string
	for id := range refused {
		ids = append(ids, id)
	}
	if n := countWhere(t, conn, "event_id IN ('"+strings.Join(ids, "','")+"')"); n != 0 {
		t.Errorf("%d refused hits stored", n)
	}

	type row struct {
		IP, UTMSource, UTMCampaign, GCLID, FBCLID, Channel, Consent string
		ClickMs                                                     uint64
		GPC, DNT, Bot                                               uint8
	}
	rows := map[string]row{}
	res, err := conn.Query(context.Background(), `SELECT event_id, ip, utm_source, utm_campaign, gclid, fbclid, channel, consent,
		click_ts_ms, gpc, dnt, is_bot FROM pixel.events WHERE event_id LIKE 'reg-%'`)
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		var id string
		var r row
		if err := res.Scan(&id, &r.IP, &r.UTMSource, &r.UTMCampaign, &r.GCLID, &r.FBCLID, &r.Channel, &r.Consent, &r.ClickMs, &r.GPC, &r.DNT, &r.Bot); err != nil {
			t.Fatal(err)
		}
		rows[id] = r
	}
	res.Close()
	check := func(id string, ok bool, what string) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s; row %+v", id, what, rows[id])
		}
	}
	c := rows["reg-campaign"]
	check("reg-campaign", c.UTMSource == "news" && c.UTMCampaign == "spring" && c.GCLID == "G-1" && c.ClickMs > 0, "want the campaign and the click id")
	check("reg-campaign", c.IP == "127.0.0.0", "want the IP truncated to /24")
	check("reg-campaign", c.Channel == "browser" && c.Consent == "granted", "want channel browser, consent granted")
	l := rows["reg-later"]
	check("reg-later", l.GCLID == "G-0" && l.FBCLID == "F-0" && l.ClickMs == 1767268000000, "want the click ids of the _pxclk cookie")
	check("reg-gpc", rows["reg-gpc"].GPC == 1, "want gpc=1 (the pixel records GPC flagged)")
	check("reg-bot", rows["reg-bot"].Bot == 1, "want is_bot=1 (flagged, not dropped)")
	check("reg-ipdrop", rows["reg-ipdrop"].IP == "", "want no IP (mode drop)")
	check(first, rows[first].Bot == 0 && rows[first].GPC == 0, "want a plain hit")

	// Forgetting a person: by visitor id, and by email (hashed as the
	// collector hashed the raw ud[em] it was sent).
	q2 := url.Values{"id": {shop.Pixel.ID}, "eid": {"reg-email"}, "dl": {"https://shop.example/"}, "ud[em]": {" Jane.Doe@Example.com"}}
	get(t, client, base+q2.Encode(), "User-Agent: "+chromeUA)
	WaitCount(t, conn, "SELECT count() FROM pixel.events WHERE event_id = 'reg-email'", 1, 30*time.Second)
	var visitor string
	if err := conn.QueryRow(context.Background(), "SELECT visitor_id FROM pixel.events WHERE event_id = 'reg-gpc'").Scan(&visitor); err != nil {
		t.Fatal(err)
	}
	pixelctl(t, s, "forget", "-visitor", visitor)
	pixelctl(t, s, "forget", "-email", "jane.doe@example.com")
	if n := countWhere(t, conn, "event_id IN ('reg-gpc', 'reg-email')"); n != 0 {
		t.Errorf("after pixelctl forget, %d of the person's events remain", n)
	}
	if n := countWhere(t, conn, "event_id IN ('reg-campaign', 'reg-later', 'reg-bot')"); n != 3 {
		t.Errorf("pixelctl forget removed other people's events: %d of 3 left", n)
	}
	var audits uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM pixel.erasures").Scan(&audits); err != nil || audits != 2 {
		t.Errorf("pixel.erasures holds %d requests (%v), want 2", audits, err)
	}

	// A pixel disabled while the collector runs stops recording without a
	// restart.
	pixelctl(t, s, "pixel", "disable", shop.Pixel.ID)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b := invalidCounts(t, s)["disabled_pixel"]
		hit(shop.Pixel.ID, "reg-after-disable", "https://shop.example/")
		if invalidCounts(t, s)["disabled_pixel"] > b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("30 s after pixelctl pixel disable, the collector still records the pixel's hits")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitForStored sends a hit with send(i) for i = 0, 1, ... until the event id
// it returns is stored: for the first hits of a pixel the collector may not
// know yet.
func WaitForStored(t testing.TB, conn chstore.Conn, send func(i int) string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var sent []string
	for i := 0; time.Now().Before(deadline); i++ {
		sent = append(sent, send(i))
		stopAt := time.Now().Add(time.Second)
		for time.Now().Before(stopAt) {
			if countWhere(t, conn, "event_id IN ('"+strings.Join(sent, "','")+"')") > 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Fatalf("none of %d hits was stored within a minute", len(sent))
}

func countWhere(t testing.TB, conn chstore.Conn, where string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM pixel.events WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// invalidCounts reads pixel_hits_invalid_total by reason from the collector.
func invalidCounts(t testing.TB, s *devstack.Stack) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + s.Cfg.CollectorAdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	if _, err := io.Copy(buf, resp.Body); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for line := range strings.Lines(buf.String()) {
		rest, ok := strings.CutPrefix(line, `pixel_hits_invalid_total{reason="`)
		if !ok {
			continue
		}
		reason, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		var n int
		fmt.Sscan(strings.TrimSpace(value), &n)
		out[reason] = n
	}
	return out
}

// post sends one POST to the collector and returns the status and body.
func post(t testing.TB, client *http.Client, u, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServerSideConversions sends a browser purchase and the backend's copy
// of it (same event_id) through the real stack: the shipped conversions
// query counts it once, with the server copy's value; a server event with the visitor's _pxid lands on
// that visitor; a wrong or missing secret is refused and nothing is stored.
func TestServerSideConversions(t *testing.T) {
	s := NewTrackingStack(t)
	Start(t, s)
	conn := Conn(t, s)
	shop := createPixel(t, s, "-name", "Shop", "-domains", "shop.example")
	client := &http.Client{Timeout: 10 * time.Second}
	collector := "http://" + s.Cfg.CollectorAddr

	// The browser's purchase, once the collector knows the pixel; its
	// answer gives the visitor's cookie, as a backend would read it.
	var visitor, orderID string
	WaitForStored(t, conn, func(i int) string {
		orderID = fmt.Sprintf("order-%d", i)
		q := url.Values{"id": {shop.Pixel.ID}, "ev": {"Purchase"}, "eid": {orderID}, "dl": {"https://shop.example/thanks"},
			"cd[value]": {"19.90"}, "cd[currency]": {"EUR"}, "cd[order_id]": {orderID}}
		resp := get(t, client, collector+"/p.gif?"+q.Encode(), "User-Agent: "+chromeUA)
		for _, c := range resp.Cookies() {
			if c.Name == "_pxid" {
				visitor = c.Value
			}
		}
		return orderID
	})
	if visitor == "" {
		t.Fatal("the browser's hit set no _pxid")
	}

	events := `{"events":[
		{"event":"Purchase","event_id":"` + orderID + `","visitor_id":"` + visitor + `","value":21.9,"currency":"EUR","order_id":"` + orderID + `",
		 "email":"Buyer@Example.com","ip":"198.51.100.4","user_agent":"` + chromeUA + `","url":"https://shop.example/thanks"},
		{"event":"Purchase","event_id":"phone-order-1","visitor_id":"` + visitor + `","value":5,"currency":"EUR","action_source":"phone_call"}]}`
	for _, bad := range [][]string{nil, {"Authorization: Bearer pxs_wrong"}} {
		if status, body := post(t, client, collector+"/v1/"+shop.Pixel.ID+"/events", events, bad...); status != http.StatusUnauthorized {
			t.Fatalf("secret %v: status %d %s, want 401", bad, status, body)
		}
	}
	status, body := post(t, client, collector+"/v1/"+shop.Pixel.ID+"/events", events, "Authorization: Bearer "+shop.Secret)
	if status != http.StatusOK || !strings.Contains(body, `"accepted":2`) {
		t.Fatalf("server events: %d %s", status, body)
	}
	// Both copies of the order and the phone order are stored; the refused
	// requests added nothing (the server copy is there once).
	q := "SELECT count() FROM pixel.events WHERE pixel_id = '" + shop.Pixel.ID + "' AND event = 'Purchase'"
	if got := WaitCount(t, conn, q, 3, 30*time.Second); got != 3 {
		t.Fatalf("%d purchases stored, want the browser's, the server's copy and the phone order", got)
	}
	var serverVisitor, channel, email string
	if err := conn.QueryRow(context.Background(), "SELECT visitor_id, channel, email_sha256 FROM pixel.events WHERE event_id = 'phone-order-1'").
		Scan(&serverVisitor, &channel, &email); err != nil {
		t.Fatal(err)
	}
	if serverVisitor != visitor || channel != "server" {
		t.Errorf("the phone order: visitor %q channel %q, want the browser's visitor %q and server", serverVisitor, channel, visitor)
	}
	if n := countWhere(t, conn, "email_sha256 != '' AND event_id = '"+orderID+"' AND channel = 'server'"); n != 1 {
		t.Errorf("the server copy carries no email hash")
	}

	// The shipped report: the order counts once, with the server copy's
	// value (the backend corrected it to 21.90), plus the phone order's 5.
	// Read by column name from the csv, so that the report may gain
	// columns (the pixel's time zone is UTC: its day is today's UTC day).
	today := time.Now().UTC().Format("2006-01-02")
	out := pixelctl(t, s, "report", "conversions", "-pixel", shop.Pixel.ID, "-from", today, "-to", today, "-format", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("pixelctl report conversions -format csv: %v\n%s", err, out)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	var conversions, revenue float64
	for _, r := range recs[1:] {
		if i, ok := col["pixel_id"]; r[0] == "Total" || ok && r[i] != shop.Pixel.ID {
			continue
		}
		n, _ := strconv.ParseFloat(r[col["conversions"]], 64)
		v, _ := strconv.ParseFloat(r[col["revenue"]], 64)
		conversions, revenue = conversions+n, revenue+v
	}
	if conversions != 2 || math.Abs(revenue-26.9) > 0.001 {
		t.Fatalf("pixelctl report conversions: %v conversions, %v revenue; want 2 conversions (the order once, at the server's 21.90; the phone order's 5) and 26.9 revenue\n%s", conversions, revenue, out)
	}
}
