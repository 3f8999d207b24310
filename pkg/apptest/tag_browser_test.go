package apptest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The shop's product page: the snippet in the head, a ViewContent, and a
// checkout that is a single-page-app navigation (pushState) followed by an
// identify with an email and a Purchase.
var tagShopPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>product</title></head>
<body style="height:3000px">
{{.Snippet}}
<h1>Product</h1>
<script>
pixel('track', 'ViewContent', {content_ids: ['sku-1'], value: 19.9, currency: 'EUR'});
window.checkout = function () {
  history.pushState({}, '', '/checkout');
  pixel('identify', {email: ' Jane.Doe@Example.com '});
  pixel('track', 'Purchase', {value: 19.9, currency: 'EUR', content_ids: ['sku-1'], order_id: 'o-1'}, {eventID: 'o-1'});
};
</script></body></html>`))

// TestTagBrowser drives the JS tag in headless Chromium over the DevTools
// protocol, on a page that pastes the snippet `pixelctl pixel create`
// printed: a product page with PageView and ViewContent, active for a
// while; a single-page-app checkout with identify and Purchase, active,
// then hidden (the window minimised, which headless Chromium turns into
// visibilityState 'hidden'), shown and active again, and closed. It checks
// in ClickHouse the events, one visitor and session, the email only as its
// hash, each page view's engaged_ms against the visible-and-active time the
// test measured (hidden time excluded, the last page's time present), and
// Engaged once at the pixel's registry goal (which reaches the tag through
// /px.js?id=ID). Then a browser with JavaScript disabled records a PageView
// with the page's URL through the <noscript> image.
func TestTagBrowser(t *testing.T) {
	chromium := findChromium(t)
	s := NewTrackingStack(t)
	Start(t, s)
	conn := Conn(t, s)

	const (
		goal    = 5 * time.Second // the Engaged goal: reached on the checkout page only
		active1 = 3 * time.Second // the product page, active
		active2 = 4 * time.Second // the checkout, active before it is hidden
		hidden  = 3 * time.Second
		active3 = 2 * time.Second // the checkout, shown again and active until closed
		slack   = 1500 * time.Millisecond
	)
	created := createPixel(t, s, "-name", "Tag browser", "-domains", "127.0.0.1", "-engagement-seconds", fmt.Sprint(int(goal/time.Second)))
	pixelID := created.Pixel.ID
	shop := serveTagShop(t, created.Snippets.JS)
	waitTagConfig(t, "http://"+s.Cfg.CollectorAddr+"/px.js?id="+pixelID, fmt.Sprintf(`{engagementSeconds:%d,`, int(goal/time.Second)))

	bctx, ctx := newChromium(t, chromium, chromedp.WindowSize(1200, 900))

	if err := chromedp.Do(ctx, chromedp.Navigate(shop+"/product")); err != nil {
		t.Fatalf("load the product page: %v", err)
	}
	loadedAt := waitTagLoaded(t, ctx)
	pointer := &mouse{}
	pointer.moveFor(t, ctx, active1)
	navAt := evalNow(t, ctx, `checkout(), Date.now()`)
	pointer.moveFor(t, ctx, active2)
	hideAt := setWindow(t, ctx, browser.WindowStateMinimized, "hidden")
	pointer.moveFor(t, ctx, hidden) // input to a hidden page counts for nothing
	showAt := setWindow(t, ctx, browser.WindowStateNormal, "visible")
	pointer.moveFor(t, ctx, active3)
	closeAt := evalNow(t, ctx, `Date.now()`)
	if _, err := chromedp.Call(ctx, page.Close, cdp.Empty{}); err != nil {
		t.Fatalf("close the page: %v", err)
	}
	wantProduct := navAt.Sub(loadedAt)
	wantCheckout := hideAt.Sub(navAt) + closeAt.Sub(showAt)
	t.Logf("visible and active: product %v, checkout %v (hidden %v excluded)", wantProduct, wantCheckout, showAt.Sub(hideAt))

	// Another visitor, JavaScript off: the <noscript> image.
	nctx, cancelNoJS := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancelNoJS()
	if _, err := chromedp.Call(nctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("turn JavaScript off: %v", err)
	}
	if err := chromedp.Do(nctx, chromedp.Navigate(shop+"/product?nojs=1")); err != nil {
		t.Fatalf("load the page without JavaScript: %v", err)
	}
	q := fmt.Sprintf("SELECT count() FROM pixel.events WHERE pixel_id = '%s' AND event = 'PageView' AND url = '%s'", pixelID, shop+"/product?nojs=1")
	if got := WaitCount(t, conn, q, 1, 30*time.Second); got != 1 {
		t.Errorf("%d PageViews with the page URL from the <noscript> image, want 1", got)
	}

	// PageView twice (the page, the SPA checkout), ViewContent, Purchase,
	// Engaged once; PageEngagement on leaving each page view and on hiding.
	js := fmt.Sprintf("pixel_id = '%s' AND url NOT LIKE '%%nojs=1'", pixelID) // the JavaScript visitor's events
	q = fmt.Sprintf("SELECT count() FROM pixel.events WHERE %s AND event != 'PageEngagement'", js)
	if got := WaitCount(t, conn, q, 5, 30*time.Second); got != 5 {
		t.Fatalf("%d events, want PageView x2, ViewContent, Purchase, Engaged", got)
	}
	q = fmt.Sprintf("SELECT count() FROM pixel.events WHERE %s AND event = 'PageEngagement'", js)
	if got := WaitCount(t, conn, q, 3, 30*time.Second); got != 3 {
		t.Fatalf("%d PageEngagement events, want 3: leaving the product page, hiding and closing the checkout", got)
	}
	rows, err := conn.Query(context.Background(), `SELECT event, url, referrer, value, currency, content_ids, visitor_id, session_id, event_id, props
		FROM pixel.events WHERE `+js+` ORDER BY ts, event`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	counts := map[string]int{}
	visitors, sessions := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Event, &r.URL, &r.Referrer, &r.Value, &r.Currency, &r.ContentIDs, &r.VisitorID, &r.SessionID, &r.EventID, &r.Props); err != nil {
			t.Fatal(err)
		}
		counts[r.Event]++
		visitors[r.VisitorID], sessions[r.SessionID] = true, true
		if strings.Contains(strings.ToLower(r.Props+r.URL+r.Referrer), "jane") {
			t.Errorf("%s carries the raw email: props %q", r.Event, r.Props)
		}
		switch {
		case r.Event == "Purchase":
			if r.Value != 19.9 || r.Currency != "EUR" || fmt.Sprint(r.ContentIDs) != "[sku-1]" || r.EventID != "o-1" || r.URL != shop+"/checkout" {
				t.Errorf("Purchase: value %v %q, content_ids %v, event_id %q, url %q", r.Value, r.Currency, r.ContentIDs, r.EventID, r.URL)
			}
		case r.Event == "PageView" && r.URL == shop+"/checkout":
			if r.Referrer != shop+"/product" {
				t.Errorf("the SPA PageView's referrer %q, want the product page", r.Referrer)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if counts["PageView"] != 2 || counts["ViewContent"] != 1 || counts["Purchase"] != 1 || counts["Engaged"] != 1 {
		t.Errorf("events %v", counts)
	}
	if len(visitors) != 1 || len(sessions) != 1 {
		t.Errorf("%d visitors, %d sessions; want one of each", len(visitors), len(sessions))
	}

	type pageView struct {
		url       string
		engagedMs uint64
	}
	pvRows, err := conn.Query(context.Background(), `SELECT page_view_id, anyIf(url, event = 'PageView'), max(engaged_ms)
		FROM pixel.events WHERE `+js+` GROUP BY page_view_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer pvRows.Close()
	views := map[string]pageView{}
	for pvRows.Next() {
		var id string
		var v pageView
		var ms uint32
		if err := pvRows.Scan(&id, &v.url, &ms); err != nil {
			t.Fatal(err)
		}
		v.engagedMs = uint64(ms)
		views[v.url] = v
	}
	if err := pvRows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(views) != 2 {
		t.Fatalf("page views %v, want the product page and the checkout", views)
	}
	for url, want := range map[string]time.Duration{shop + "/product": wantProduct, shop + "/checkout": wantCheckout} {
		got := time.Duration(views[url].engagedMs) * time.Millisecond
		if got < want-slack || got > want+slack {
			t.Errorf("%s: engaged_ms %v, want %v ± %v (visible and active; hidden time excluded)", url, got, want, slack)
		}
	}
	var engagedMs uint32
	var engagedURL, emailHash string
	if err := conn.QueryRow(context.Background(), `SELECT engaged_ms, url FROM pixel.events WHERE pixel_id = ? AND event = 'Engaged'`, pixelID).Scan(&engagedMs, &engagedURL); err != nil {
		t.Fatal(err)
	}
	if engagedURL != shop+"/checkout" || time.Duration(engagedMs)*time.Millisecond < goal || time.Duration(engagedMs)*time.Millisecond > goal+slack {
		t.Errorf("Engaged at %d ms on %s, want %v on the checkout", engagedMs, engagedURL, goal)
	}
	if err := conn.QueryRow(context.Background(), `SELECT email_sha256 FROM pixel.events WHERE pixel_id = ? AND event = 'Purchase'`, pixelID).Scan(&emailHash); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("jane.doe@example.com"))
	if emailHash != hex.EncodeToString(sum[:]) {
		t.Errorf("Purchase email_sha256 %q, want the SHA-256 of the normalised email", emailHash)
	}
}

// newChromium starts headless Chromium (DevTools over chromedp) with a
// fresh profile and returns the browser's context and a tab's, bounded to
// 90 s; the browser stops when the test ends.
func newChromium(t *testing.T, chromium string, opts ...chromedp.ExecAllocatorOption) (browser, tab context.Context) {
	t.Helper()
	opts = append(append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile"))), opts...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	tab, cancel := context.WithTimeout(browser, 90*time.Second)
	t.Cleanup(cancel)
	return browser, tab
}

// serveTagShop serves the product page (and the checkout URL, for a reload)
// on its own loopback port and returns its origin.
func serveTagShop(t *testing.T, snippet string) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/product" && r.URL.Path != "/checkout" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if err := tagShopPage.Execute(w, map[string]any{"Snippet": template.HTML(snippet)}); err != nil {
				t.Errorf("page: %v", err)
			}
		}),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// waitTagConfig polls the collector's /px.js?id=ID until the registry
// refresh brought the pixel: the tag then ends with its config call.
func waitTagConfig(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not carry %s 30 s after the pixel was created", url, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitTagLoaded polls until px.js ran (window.pixel.loaded) and returns the
// page's clock then: the tag's engaged-time clock starts when it runs.
func waitTagLoaded(t *testing.T, ctx context.Context) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.pixel && window.pixel.loaded ? Date.now() : 0`))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		if ms > 0 {
			return time.UnixMilli(int64(ms))
		}
		if time.Now().After(deadline) {
			t.Fatal("the tag did not load within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// evalNow runs expr, which ends in Date.now(), and returns that time of the page.
func evalNow(t *testing.T, ctx context.Context, expr string) time.Time {
	t.Helper()
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return time.UnixMilli(int64(ms))
}

// setWindow minimises or restores the browser window and waits until the
// page's visibilityState is want; it returns the page's time of the change.
func setWindow(t *testing.T, ctx context.Context, state browser.WindowState, want string) time.Time {
	t.Helper()
	w, err := chromedp.Call(ctx, browser.GetWindowForTarget, browser.GetWindowForTargetParams{})
	if err != nil {
		t.Fatalf("get the window: %v", err)
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetWindowBounds, browser.SetWindowBoundsParams{WindowID: w.WindowID, Bounds: &browser.Bounds{WindowState: state}}); err != nil {
		t.Fatalf("set the window %s: %v", state, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](fmt.Sprintf(`document.visibilityState === %q ? Date.now() : 0`, want)))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		if ms > 0 {
			return time.UnixMilli(int64(ms))
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibilityState is not %s 10 s after the window was set %s", want, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mouse moves the pointer over the page, as a reading visitor does.
type mouse struct{ x float64 }

// moveFor moves the mouse every 250 ms for d (the tag's activity window is
// 5 s, so the page stays active throughout).
func (m *mouse) moveFor(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		m.x = float64(int(m.x+37) % 800)
		if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: 100 + m.x, Y: 200}); err != nil {
			t.Fatalf("move the mouse: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
