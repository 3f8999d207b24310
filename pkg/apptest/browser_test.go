package apptest

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The page a shop would serve: the snippet from the README, a purchase, and
// engagement after 2 seconds of visible time (the browser's virtual time).
var shopPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>checkout</title>
{{if .NoBeacon}}<script>navigator.sendBeacon = function () { return false; };</script>{{end}}
<script>window.pixel=window.pixel||function(){(pixel.q=pixel.q||[]).push(arguments)};pixel('init','{{.PixelID}}',{engagementSeconds:2});pixel('track','PageView');</script><script async src="{{.TagURL}}"></script>
</head><body><h1>Thank you</h1>
<script>
pixel('track','Purchase',{value:'19.90',currency:'EUR',content_ids:['sku-1']});
document.body.setAttribute('data-tracked', 'yes');
</script>
</body></html>`))

// TestBrowser loads a shop page that pastes the JS tag into headless
// Chromium and checks what lands in ClickHouse: the page view, the purchase
// and the engagement, for one visitor, sent with sendBeacon to POST /collect
// and, when the browser refuses the beacon, as GET /p.gif.
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	s := NewStack(t, binDir)
	Start(t, s)
	conn := Conn(t, s)

	for _, tc := range []struct {
		name     string
		noBeacon bool
	}{
		{"sendBeacon to POST /collect", false},
		{"GIF fallback", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pixelID := "browser-beacon"
			if tc.noBeacon {
				pixelID = "browser-gif"
			}
			pageURL := serveShopPage(t, map[string]any{
				"PixelID":  pixelID,
				"TagURL":   "http://" + s.Cfg.CollectorAddr + "/px.js",
				"NoBeacon": tc.noBeacon,
			})
			metricsURL := "http://" + s.Cfg.CollectorAdminAddr + "/metrics"
			before := routeCounts(t, metricsURL)
			dom := runChromium(t, chromium, pageURL)
			if !strings.Contains(dom, `data-tracked="yes"`) {
				t.Fatalf("the page's scripts did not run; chromium printed:\n%s", tail([]byte(dom), 2000))
			}

			// The tag also sends PageEngagement (the engaged time) when the
			// page is closed: counted apart, since a GIF sent while the page
			// is being closed may not leave the browser.
			q := fmt.Sprintf("SELECT count() FROM pixel.events WHERE pixel_id = '%s' AND event != 'PageEngagement'", pixelID)
			if got := WaitCount(t, conn, q, 3, 30*time.Second); got != 3 {
				t.Fatalf("%d events from the browser in ClickHouse, want PageView, Purchase and Engaged", got)
			}
			if !tc.noBeacon {
				q := fmt.Sprintf("SELECT count() FROM pixel.events WHERE pixel_id = '%s' AND event = 'PageEngagement'", pixelID)
				if got := WaitCount(t, conn, q, 1, 30*time.Second); got != 1 {
					t.Fatalf("%d PageEngagement events, want the one sendBeacon sent as the page closed", got)
				}
			}
			rows, err := conn.Query(context.Background(), `SELECT event, url, referrer, value, currency, content_ids, user_agent,
				visitor_id, session_id, event_id, ip, props FROM pixel.events WHERE pixel_id = ? AND event != 'PageEngagement' ORDER BY event`, pixelID)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			got := map[string]row{}
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.Event, &r.URL, &r.Referrer, &r.Value, &r.Currency, &r.ContentIDs, &r.UserAgent,
					&r.VisitorID, &r.SessionID, &r.EventID, &r.IP, &r.Props); err != nil {
					t.Fatal(err)
				}
				got[r.Event] = r
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			pv, buy, engaged := got["PageView"], got["Purchase"], got["Engaged"]
			if pv.Event == "" || buy.Event == "" || engaged.Event == "" {
				t.Fatalf("events %v, want PageView, Purchase and Engaged", keys(got))
			}
			for _, r := range []row{pv, buy, engaged} {
				if r.URL != pageURL {
					t.Errorf("%s: url %q, want the page %q", r.Event, r.URL, pageURL)
				}
				if !strings.Contains(r.UserAgent, "HeadlessChrome") {
					t.Errorf("%s: user_agent %q, want HeadlessChrome's", r.Event, r.UserAgent)
				}
				if len(r.EventID) != 36 || r.EventID[14] != '4' {
					t.Errorf("%s: event_id %q, want the tag's crypto.randomUUID()", r.Event, r.EventID)
				}
				if r.IP != "127.0.0.1" {
					t.Errorf("%s: ip %q", r.Event, r.IP)
				}
			}
			if buy.Value != 19.9 || buy.Currency != "EUR" || fmt.Sprint(buy.ContentIDs) != "[sku-1]" {
				t.Errorf("Purchase: value %v, currency %q, content_ids %v; want 19.9 EUR [sku-1]", buy.Value, buy.Currency, buy.ContentIDs)
			}
			if engaged.Props != `{"seconds":"2"}` {
				t.Errorf("Engaged: props %q", engaged.Props)
			}
			// Each transport was the one used: the beacon run sent no GIF,
			// the fallback run one GIF per event (PageEngagement's maybe) and no beacon.
			after := routeCounts(t, metricsURL)
			tags, beacons, gifs := after[0]-before[0], after[1]-before[1], after[2]-before[2]
			if tags < 1 || (!tc.noBeacon && (beacons < 1 || gifs != 0)) || (tc.noBeacon && (beacons != 0 || gifs < 3 || gifs > 4)) {
				t.Errorf("requests for /px.js %d, /collect %d, /p.gif %d", tags, beacons, gifs)
			}
			if pv.VisitorID == "" || buy.VisitorID != pv.VisitorID || engaged.VisitorID != pv.VisitorID {
				t.Errorf("visitor ids %q, %q, %q: want one visitor", pv.VisitorID, buy.VisitorID, engaged.VisitorID)
			}
			if buy.SessionID != pv.SessionID || engaged.SessionID != pv.SessionID {
				t.Errorf("session ids %q, %q, %q: want one session", pv.SessionID, buy.SessionID, engaged.SessionID)
			}
		})
	}
}

// findChromium fails the test when Chromium is missing: `make deps`
// installs Debian's package.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed; `make deps` installs it (as root: apt-get install chromium)")
	return ""
}

// serveShopPage serves the shop page on its own loopback port (another
// origin than the collector's, as a real shop is) and returns its URL.
func serveShopPage(t *testing.T, data map[string]any) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/checkout" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if err := shopPage.Execute(w, data); err != nil {
				t.Errorf("page: %v", err)
			}
		}),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/checkout"
}

// runChromium loads url in headless Chromium with its own profile, lets the
// page run for 5 seconds of virtual time, and returns the DOM it printed.
func runChromium(t *testing.T, chromium, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
		"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"),
		"--virtual-time-budget=5000", "--dump-dom", url)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(tail(ee.Stderr, 4000))
		}
		t.Fatalf("%s: %v\n%s", chromium, err, stderr)
	}
	return string(out)
}

// routeCounts reads the collector's requests for /px.js, /collect and /p.gif.
func routeCounts(t *testing.T, metricsURL string) [3]int {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var counts [3]int
	for i, path := range []string{"/px.js", "/collect", "/p.gif"} {
		series := `pixel_http_requests_total{path="` + path + `"} `
		for line := range strings.Lines(string(body)) {
			if v, ok := strings.CutPrefix(line, series); ok {
				if counts[i], err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
			}
		}
	}
	return counts
}

func keys(m map[string]row) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
