package apptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// The shop page of the console test: the snippet the console showed,
// pasted verbatim, then a buyer who gives an email and a Purchase.
var consoleShopPage = template.Must(template.New("shop").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shop</title></head>
<body><h1>Thank you</h1>
{{.Snippet}}
<script>
pixel('identify', {email: 'Buyer@Example.com'});
pixel('track', 'Purchase', {value: 42.5, currency: 'EUR', order_id: 'o-console-1'}, {eventID: 'o-console-1'});
</script>
</body></html>`))

// The hostile strings that hits carry into the console. Each would set
// window.__pwned if a page let it run.
var hostile = []string{
	`<script>window.__pwned=1</script>`,
	`"><img src=x onerror="window.__pwned=1">`,
	`javascript:window.__pwned=1`,
}

// TestConsoleBrowser drives the web console in headless Chromium, on the
// stack make run starts: sign in (with the keyboard), create a pixel in
// the form, paste the snippet the console shows into a page on 127.0.0.1,
// load it and see the install check turn green with that page's URL, the
// PageView and the Purchase in live events, the dashboard's numbers equal
// to pixelctl report's for the same range, and the purchasers audience's
// Meta file in Meta's format. Hits whose URL, referrer, properties and
// user agent hold script, an onerror image and javascript: links are shown
// as text on every page that lists them: no dialog, no exception, no
// console error, no element with a handler, no javascript: link. Every page
// carries the Content-Security-Policy and fits a 390 px phone.
//
// With PIXEL_SCREENSHOTS=dir (make screenshots: docs/screenshots) it writes
// a PNG of each page there, at 1280x800, the snippet and the dashboard also
// at 390x844, and the whole dashboard (dashboard-full.png).
func TestConsoleBrowser(t *testing.T) {
	chromium := findChromium(t)
	start := time.Now()
	s := NewTrackingStack(t)
	AddConsole(t, s)
	Start(t, s)
	conn := Conn(t, s)
	password := users.GeneratePassword()
	if _, err := users.NewStore(conn).Create(context.Background(), "ana", users.RoleAdmin, password); err != nil {
		t.Fatalf("create the console's admin: %v", err)
	}
	t.Logf("stack with the console up in %s", time.Since(start).Round(time.Millisecond))

	// A visitor's browser, not a robot's: the collector flags HeadlessChrome
	// and navigator.webdriver as bots, and the reports leave bots out.
	_, ctx := newChromium(t, chromium, chromedp.WindowSize(1280, 800), chromedp.UserAgent(chromeUA),
		chromedp.Flag("enable-automation", false), chromedp.Flag("disable-blink-features", "AutomationControlled"))
	b := &consoleTab{t: t, ctx: ctx, base: s.ConsoleURL(), shots: screenshotDir(t)}
	b.watch()

	// Sign in, with the keyboard only.
	b.mustOpen("/login")
	b.shot("login", false)
	b.do(chromedp.SendKeys("#name", "ana"), chromedp.SendKeys("#password", password))
	b.tabTo(`form[action="/login"] button[type=submit]`, 6)
	b.do(chromedp.KeyEvent(kb.Enter))
	b.waitPath("/pixels")

	// A pixel, created in the form.
	b.mustOpen("/pixels/new")
	b.do(chromedp.Focus("#pixel-name"))
	b.tabTo(`main form button[type=submit]`, 20)
	b.do(chromedp.SendKeys("#pixel-name", "Console shop"),
		chromedp.SetValue("#pixel-domains", "127.0.0.1"),
		chromedp.SetValue("#pixel-engagement", "5"),
		chromedp.SetValue("#pixel-timezone", "Europe/Berlin"))
	b.shot("pixel-new", false)
	b.do(chromedp.Click(`main form button[type=submit]`))
	path := b.waitPathMatch(`^/pixels/[^/]+/snippet$`)
	pixelID, _ := url.PathUnescape(strings.Split(path, "/")[2])
	t.Logf("pixel %s created in the console", pixelID)

	// The snippet, verbatim, into a shop page on another origin.
	snippet := b.eval(`document.querySelector('pre#snippet-js').textContent`)
	if !strings.Contains(snippet, pixelID) || !strings.Contains(snippet, "http://"+s.Cfg.CollectorAddr) {
		t.Fatalf("the snippet does not name pixel %s and collector %s:\n%s", pixelID, s.Cfg.CollectorAddr, snippet)
	}
	if st := b.eval(`document.getElementById('install-check').getAttribute('data-state')`); st != "waiting" {
		t.Errorf("install check %q before any hit, want waiting", st)
	}
	// The visitor came from a Google Ads campaign, whose spend the test
	// uploads below: the dashboard's campaign table then has its CPA.
	shop := serveConsoleShop(t, snippet) + "?utm_source=google&utm_medium=cpc&utm_campaign=spring_sale"

	// The shop in a second tab, loaded again every 3 s until the
	// collector's registry has the new pixel and a hit is stored; the
	// snippet page's install check then turns green with the shop's URL.
	shopTab, closeShop := chromedp.NewContext(ctx)
	defer closeShop()
	if err := chromedp.Do(shopTab, chromedp.Navigate(shop)); err != nil {
		t.Fatalf("load the shop: %v", err)
	}
	deadline := time.Now().Add(45 * time.Second)
	lastLoad := time.Now()
	for b.eval(`document.getElementById('install-check').getAttribute('data-state')`) != "installed" {
		if time.Now().After(deadline) {
			t.Fatalf("the install check did not turn green within 45 s of loading %s", shop)
		}
		if time.Since(lastLoad) > 3*time.Second {
			if err := chromedp.Do(shopTab, chromedp.Reload()); err != nil {
				t.Fatalf("reload the shop: %v", err)
			}
			lastLoad = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := b.eval(`document.getElementById('install-url').textContent`); got != shop {
		t.Errorf("install check shows %q, want the shop page %s", got, shop)
	}
	b.shot("snippet", true)
	closeShop() // its last PageEngagement goes out now, not while the dashboard is compared

	// Hostile hits, from the pixel's domain as the collector requires:
	// the first two before live events opens (the page's own rows, from
	// the template), the next two while it is open (rows its script adds).
	sendHostile(t, s, pixelID, shop, "a")
	q := fmt.Sprintf("SELECT count() FROM pixel.events WHERE pixel_id = '%s' AND event_id LIKE 'hostile-a-%%'", pixelID)
	if n := WaitCount(t, conn, q, 2, 30*time.Second); n != 2 {
		t.Fatalf("%d hostile events stored, want 2", n)
	}
	b.mustOpen("/pixels/" + pixelID + "/live")
	b.poll(`(() => { const n = [...document.querySelectorAll('#live-events tr.event-row td.ev-name')].map(td => td.textContent);
		return n.includes('PageView') && n.includes('Purchase') && n.includes('Hostile'); })()`, 30*time.Second,
		"live events lists the shop's PageView and Purchase, and a Hostile event")
	b.checkHostile("live events", hostile...)
	if got := b.eval(`[...document.querySelectorAll('#live-events tr.event-row')].filter(tr => tr.querySelector('td.ev-name').textContent === 'Purchase').map(tr => tr.querySelector('td.ev-page').textContent).join(' ')`); got != shop {
		t.Errorf("live events shows the Purchase on page %q, want the shop's %s", got, shop)
	}
	sendHostile(t, s, pixelID, shop, "b")
	b.poll(`[...document.querySelectorAll('#live-events tr.event-row td.ev-name')].filter(td => td.textContent === 'Hostile').length === 2`, 30*time.Second,
		"live events adds the Hostile event that arrived while it was open")
	b.checkHostile("live events, rows added while open", hostile...)
	b.shot("live", false)

	// The pixel list: status and last hit.
	b.mustOpen("/pixels")
	if got := b.eval(`document.querySelector('#pixels tr[data-pixel="` + pixelID + `"] td.status').textContent.trim()`); got != "active" {
		t.Errorf("pixel list status %q, want active", got)
	}
	if got := b.eval(`document.querySelector('#pixels tr[data-pixel="` + pixelID + `"] td.last-hit').textContent.trim()`); got == "" {
		t.Error("the pixel list shows no last hit for the pixel that has hits")
	}
	b.shot("pixels", false)

	// The campaign's spend, uploaded on the spend page.
	b.uploadSpend()

	// The dashboard equals pixelctl report for the range it shows.
	b.checkDashboard(s, pixelID)

	// The purchasers audience and its Meta customer list.
	b.mustOpen("/pixels/" + pixelID + "/audiences")
	b.waitFor(`#audiences tr[data-audience="purchasers"]`)
	b.shot("audiences", false)
	b.mustOpen("/pixels/" + pixelID + "/audiences/purchasers")
	b.checkMetaDownload()
	b.shot("audience", false)

	// A webhook destination: the form shows the chosen kind's section
	// only, and the signing secret typed into it is never shown again.
	b.mustOpen("/pixels/" + pixelID + "/destinations/new")
	b.eval(`(() => { const s = document.getElementById('dest-kind'); s.value = 'webhook'; s.dispatchEvent(new Event('change')); return ''; })()`)
	if b.eval(`String(document.getElementById('kind-meta').hidden)`) != "true" {
		t.Error("the destination form shows the Meta section for a webhook")
	}
	b.do(chromedp.SendKeys("#dest-name", "CRM webhook"), chromedp.SetValue("#webhook-url", "https://crm.example/pixel"),
		chromedp.SendKeys("#cred-signing_secret", "whsec_browser_secret"))
	b.shot("destination-new", false)
	b.do(chromedp.Click("#dest-save"))
	b.waitPath("/pixels/" + pixelID + "/destinations")
	b.waitFor(`#destinations tr[data-destination]`)
	if strings.Contains(b.eval(`document.documentElement.outerHTML`), "whsec_browser_secret") {
		t.Error("the destinations page shows the signing secret")
	}
	b.shot("destinations", false)
	b.do(chromedp.Click(`#destinations tr[data-destination] td a`))
	b.waitFor("#cred-signing_secret-state")
	if strings.Contains(b.eval(`document.documentElement.outerHTML`), "whsec_browser_secret") {
		t.Error("the destination's page shows the signing secret")
	}
	b.shot("destination", false)

	// The other pages, where they are built.
	for _, p := range []struct{ path, shot string }{{"/users", "users"}, {"/account", "account"}} {
		if b.open(p.path) {
			b.shot(p.shot, false)
		}
	}

	b.checkEvents()
	if len(b.pages) == 0 {
		t.Error("no document of the console was seen")
	}
	t.Logf("console browser test in %s; %d console documents, each with the CSP", time.Since(start).Round(time.Millisecond), len(b.pages))
}

// consoleTab is the tab the console is driven in, and what it saw.
type consoleTab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string // "" = no screenshots

	mu       sync.Mutex
	problems []string // dialogs, exceptions, console errors
	pages    []string // console documents loaded
	noCSP    []string // console documents without the CSP
}

// The CSP every page of the console carries (pkg/console, security.go).
const consoleCSP = "default-src 'none'; script-src 'self'"

// watch records the tab's dialogs (and dismisses them), uncaught
// exceptions, console.error calls and error entries of the browser log
// (a CSP refusal is one), and the CSP header of each console document.
func (b *consoleTab) watch() {
	b.t.Helper()
	err := chromedp.Listen(b.ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.problems = append(b.problems, fmt.Sprintf("a %s dialog opened: %q", ev.Type, ev.Message))
			go func() {
				_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, text))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problems = append(b.problems, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				b.problems = append(b.problems, fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventResponseReceived:
			if ev.Type != network.ResourceTypeDocument || !strings.HasPrefix(ev.Response.URL, b.base+"/") {
				return
			}
			b.pages = append(b.pages, ev.Response.URL)
			csp := ""
			for k, v := range ev.Response.Headers {
				if strings.EqualFold(k, "Content-Security-Policy") {
					csp, _ = v.(string)
				}
			}
			if !strings.HasPrefix(csp, consoleCSP) {
				b.noCSP = append(b.noCSP, fmt.Sprintf("%s: %q", ev.Response.URL, csp))
			}
		}
	})
	if err != nil {
		b.t.Fatalf("listen to the tab: %v", err)
	}
}

// checkEvents fails the test for what watch recorded.
func (b *consoleTab) checkEvents() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("in the console's tab: %s", p)
	}
	for _, p := range b.noCSP {
		b.t.Errorf("console page without the Content-Security-Policy: %s", p)
	}
}

func (b *consoleTab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression whose value is a string.
func (b *consoleTab) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// evalJSON evaluates an expression and decodes its JSON.stringify into v.
func (b *consoleTab) evalJSON(expr string, v any, opts ...chromedp.EvaluateOption) {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string]("(async () => JSON.stringify(await ("+expr+")))()", append(opts, chromedp.EvalAwaitPromise)...))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		b.t.Fatalf("evaluate %s: %v\n%s", expr, err, s)
	}
}

// open loads a console page and waits until its document is complete. It
// reports whether the page is built (the skeleton's placeholder says "Not
// built yet.").
func (b *consoleTab) open(path string) bool {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
	b.poll(`document.readyState === 'complete'`, 15*time.Second, path+" loaded")
	if strings.Contains(b.eval(`document.body.innerText`), "Not built yet.") {
		b.t.Logf("%s is not built yet", path)
		return false
	}
	return true
}

// mustOpen is open for the pages the test cannot do without.
func (b *consoleTab) mustOpen(path string) {
	b.t.Helper()
	if !b.open(path) {
		b.t.Fatalf("%s is the skeleton's placeholder: the test needs the page", path)
	}
}

// waitFor waits until an element matches sel.
func (b *consoleTab) waitFor(sel string) {
	b.t.Helper()
	b.poll(fmt.Sprintf(`document.querySelector(%q)`, sel), 15*time.Second, sel+" on the page")
}

// poll waits until a JavaScript condition holds, at most within.
func (b *consoleTab) poll(cond string, within time.Duration, what string) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within %s (%v); the page says:\n%s", what, within, err, b.eval(`document.body.innerText.slice(0, 2000)`))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *consoleTab) waitPath(want string) {
	b.t.Helper()
	b.poll(fmt.Sprintf(`location.pathname === %q && document.readyState === 'complete'`, want), 15*time.Second, "on "+want)
}

// waitPathMatch waits until the tab's path matches the regexp, and returns it.
func (b *consoleTab) waitPathMatch(re string) string {
	b.t.Helper()
	b.poll(fmt.Sprintf(`new RegExp(%q).test(location.pathname) && document.readyState === 'complete'`, re), 15*time.Second, "on a page "+re)
	return b.eval(`location.pathname`)
}

// tabTo presses Tab until the focus is on the element sel matches, at most
// max times: the control is reachable by keyboard.
func (b *consoleTab) tabTo(sel string, max int) {
	b.t.Helper()
	var seen []string
	for range max {
		b.do(chromedp.KeyEvent(kb.Tab))
		if ok, _ := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.activeElement && document.activeElement.matches(%q)`, sel))); ok {
			return
		}
		seen = append(seen, b.eval(`(e => e ? e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') : '')(document.activeElement)`))
	}
	b.t.Errorf("%s: the keyboard focus did not reach it in %d Tabs (it went %v)", sel, max, seen)
}

// checkHostile fails when anything of the hostile hits ran or became
// markup on the page, and when the strings shown are not on it as text.
func (b *consoleTab) checkHostile(what string, shown ...string) {
	b.t.Helper()
	var r struct {
		Pwned     bool     `json:"pwned"`
		Handlers  []string `json:"handlers"`
		JSLinks   []string `json:"jsLinks"`
		Text      string   `json:"text"`
		Overflows bool     `json:"overflows"`
	}
	b.evalJSON(`({
		pwned: typeof window.__pwned !== 'undefined',
		handlers: [...document.querySelectorAll('img[onerror], [onerror], [onload], [onclick]')].map(e => e.outerHTML.slice(0, 200)),
		jsLinks: [...document.querySelectorAll('a[href^="javascript:" i], [src^="javascript:" i], [action^="javascript:" i]')].map(e => e.outerHTML.slice(0, 200)),
		text: document.body.innerText,
	})`, &r)
	if r.Pwned {
		b.t.Errorf("%s: window.__pwned is set: a hit's text ran as script", what)
	}
	for _, h := range r.Handlers {
		b.t.Errorf("%s: an element with an event handler: %s", what, h)
	}
	for _, l := range r.JSLinks {
		b.t.Errorf("%s: a javascript: URL: %s", what, l)
	}
	for _, h := range shown {
		if !strings.Contains(r.Text, h) {
			b.t.Errorf("%s: the hostile text %q is not shown as text", what, h)
		}
	}
}

// shot writes a screenshot of the tab as NAME.png (1280x800) and, with
// phone, NAME-phone.png (390x844); with or without screenshots, it checks
// that every control of the page has a name a screen reader says, and at
// 390 px that the page does not scroll sideways.
func (b *consoleTab) shot(name string, phone bool) {
	b.t.Helper()
	b.settle()
	var unlabelled []string
	b.evalJSON(`[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href]')]
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby') && !e.textContent.trim() && !e.title)
		.map(e => e.outerHTML.slice(0, 160))`, &unlabelled)
	for _, e := range unlabelled {
		b.t.Errorf("%s: a control without a label: %s", name, e)
	}
	if b.shots != "" {
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 1, Mobile: true}); err != nil {
		b.t.Fatalf("phone size: %v", err)
	}
	defer func() {
		if _, err := chromedp.Call(b.ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
			b.t.Fatalf("back from the phone size: %v", err)
		}
	}()
	b.poll(`screen.width === 390`, 10*time.Second, name+" at 390 px")
	b.settle()
	// A phone lays the page out wider than its screen when something in
	// it does not fit (innerWidth grows with it): compare with 390.
	var w struct{ Scroll, Inner int }
	b.evalJSON(`({Scroll: document.documentElement.scrollWidth, Inner: window.innerWidth})`, &w)
	if w.Scroll > 390 || w.Inner > 390 {
		var wide []string
		b.evalJSON(`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391 && (!e.parentElement.closest('.table-wrap') || getComputedStyle(e).position === 'absolute')).slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))`, &wide)
		b.t.Errorf("%s at 390 px: the page is %d px wide (layout viewport %d px), it scrolls sideways (too wide: %v)", name, w.Scroll, w.Inner, wide)
	}
	if phone && b.shots != "" {
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(b.shots, name+"-phone.png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// fullShot writes a screenshot of the whole page, 1280 px wide, as
// NAME.png (with screenshots on).
func (b *consoleTab) fullShot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	b.settle()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// settle waits for two animation frames and for the charts, if any, to
// have drawn: a screenshot shows the page as a person sees it.
func (b *consoleTab) settle() {
	b.t.Helper()
	b.poll(`!window.Chart || !Chart.animator || [...document.querySelectorAll('canvas')].every(c => { const ch = Chart.getChart(c); return !ch || !Chart.animator.running(ch); })`,
		10*time.Second, "the charts drawn")
	var done bool
	b.evalJSON(`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, &done)
}

// reportTable is a table of the dashboard: its rows, each cell's data-value
// by data-col, and whether the row is a Total.
type reportTable struct {
	Rows []struct {
		Total bool              `json:"total"`
		Cells map[string]string `json:"cells"`
	} `json:"rows"`
}

// checkDashboard opens the dashboard of the last 7 days and compares its
// engaged-visits, conversions and campaign CPA tables with pixelctl
// report's JSON for the days it shows. Events may still arrive between the page and
// pixelctl (the consumer's batches): both are read again until they agree,
// within a deadline.
func (b *consoleTab) checkDashboard(s *devstack.Stack, pixelID string) {
	b.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for try := 1; ; try++ {
		b.mustOpen("/pixels/" + pixelID + "/dashboard?last=7d")
		b.waitFor("#report-engaged")
		b.waitFor("#report-conversions")
		b.waitFor("#report-cpa")
		from, to := b.eval(`document.getElementById('range-from').value`), b.eval(`document.getElementById('range-to').value`)
		seconds := regexp.MustCompile(`over (\d+) seconds`).FindStringSubmatch(b.eval(`document.body.innerText`))
		if seconds == nil {
			b.t.Fatal("the dashboard does not say over how many seconds a visit is engaged")
		}
		var page map[string]reportTable
		b.evalJSON(`Object.fromEntries(['engaged', 'conversions', 'cpa'].map(n => [n, {rows: [...document.querySelectorAll('#report-' + n + ' tbody tr')]
			.filter(tr => tr.querySelector('td[data-col]'))
			.map(tr => ({total: tr.classList.contains('total'), cells: Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.dataset.value]))}))}]))`, &page)
		diffs := []string{}
		for _, r := range []struct{ name, param string }{{"engaged", "seconds=" + seconds[1]}, {"conversions", "by=day"}, {"cpa", ""}} {
			args := []string{"report", r.name, "-pixel", pixelID, "-from", from, "-to", to, "-format", "json"}
			if r.param != "" {
				args = append(args, "-param", r.param)
			}
			out := pixelctl(b.t, s, args...)
			var want struct {
				Columns []struct{ Name string }
				Rows    []map[string]any
				Totals  []map[string]any
			}
			if err := json.Unmarshal([]byte(out), &want); err != nil {
				b.t.Fatalf("pixelctl report %s -format json: %v\n%s", r.name, err, out)
			}
			all := append(append([]map[string]any{}, want.Rows...), want.Totals...)
			got := page[r.name].Rows
			if len(got) != len(all) {
				diffs = append(diffs, fmt.Sprintf("#report-%s has %d rows, pixelctl report %s %d", r.name, len(got), r.name, len(all)))
				continue
			}
			for i, row := range all {
				if got[i].Total != (i >= len(want.Rows)) {
					diffs = append(diffs, fmt.Sprintf("#report-%s row %d: total %v", r.name, i, got[i].Total))
				}
				for _, c := range want.Columns {
					if g, w := got[i].Cells[c.Name], jsString(row[c.Name]); g != w {
						diffs = append(diffs, fmt.Sprintf("#report-%s row %d %s: data-value %q, pixelctl %q", r.name, i, c.Name, g, w))
					}
				}
			}
			if len(want.Totals) == 0 {
				diffs = append(diffs, fmt.Sprintf("pixelctl report %s has no Total row for %s to %s", r.name, from, to))
			}
		}
		// Not trivially equal: the shop's visit and purchase are there,
		// and the campaign's cost.
		if c := page["cpa"].Rows; len(c) == 0 || c[0].Cells["cost"] != "12.5" {
			diffs = append(diffs, fmt.Sprintf("#report-cpa %v, want spring_sale with its cost 12.5", c))
		}
		var kpi struct{ Visitors, Conversions string }
		b.evalJSON(`({Visitors: document.getElementById('kpi-visitors').dataset.value, Conversions: document.getElementById('kpi-conversions').dataset.value})`, &kpi)
		if kpi.Visitors == "0" || kpi.Visitors == "" || kpi.Conversions == "0" || kpi.Conversions == "" {
			diffs = append(diffs, fmt.Sprintf("KPIs: %+v visitors and conversions, want the shop's", kpi))
		}
		if len(diffs) == 0 {
			b.t.Logf("dashboard %s to %s equals pixelctl report (try %d): %s visitors, %s conversions", from, to, try, kpi.Visitors, kpi.Conversions)
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the dashboard (%s to %s) and pixelctl report differ:\n%s", from, to, strings.Join(diffs, "\n"))
		}
		time.Sleep(time.Second)
	}
	if b.eval(`typeof window.Chart`) != "function" || b.eval(`String(!!Chart.getChart(document.getElementById('chart-traffic')))`) != "true" {
		b.t.Error("the dashboard drew no traffic chart with Chart.js")
	}
	b.checkHostile("dashboard", hostile[0]) // the top pages list the hostile PageView's path
	b.shot("dashboard", true)
	b.fullShot("dashboard-full")
}

// uploadSpend uploads a day of spend of the campaign spring_sale in the
// csv format through the spend page's form, and checks what it says it
// imported.
func (b *consoleTab) uploadSpend() {
	b.t.Helper()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.t.Fatal(err)
	}
	file := filepath.Join(b.t.TempDir(), "spend.csv")
	csv := "date,platform,account,campaign,cost,currency,clicks,impressions\n" +
		time.Now().In(berlin).Format("2006-01-02") + ",google,123-456-7890,Spring Sale,12.50,EUR,30,1000\n"
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.mustOpen("/spend")
	b.do(chromedp.SetValue("#spend-platform", "csv"), chromedp.SetUploadFiles("#spend-file", []string{file}),
		chromedp.Click(`form[action="/spend"] button[type=submit]`))
	b.poll(`document.getElementById('spend-imported')`, 15*time.Second, "the spend page says what it imported")
	if got := b.eval(`document.querySelector('#spend-imported h2').textContent`); !strings.HasPrefix(got, "Imported 1 rows of") {
		b.t.Errorf("spend upload: %q, want 1 row imported", got)
	}
	if got := b.eval(`[...document.querySelectorAll('#spend-rows tbody tr td')].map(td => td.textContent).join('|')`); !strings.Contains(got, "Spring Sale|spring_sale|12.50|EUR") {
		b.t.Errorf("#spend-rows %q, want the Spring Sale row", got)
	}
	b.shot("spend", false)
}

// jsString is a JSON value as the data-value attributes hold it: a
// string as it is, anything else as its JSON.
func jsString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// checkMetaDownload fetches the Meta file the audience page links to, as
// the signed-in browser, and checks Meta's customer-list format: the
// header EMAIL,PHONE,EXTERN_ID, and the emails as SHA-256 hex, among them
// the shop's buyer's.
func (b *consoleTab) checkMetaDownload() {
	b.t.Helper()
	b.waitFor("#audience-count")
	if n := b.eval(`document.getElementById('audience-count').dataset.value`); n == "0" || n == "" {
		b.t.Errorf("purchasers audience counts %q people for Meta, want the buyers", n)
	}
	var r struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Body   string `json:"body"`
	}
	b.evalJSON(`fetch(document.getElementById('download-meta').href).then(async r => ({status: r.status, type: r.headers.get('Content-Type'), body: await r.text()}))`, &r)
	if r.Status != http.StatusOK {
		b.t.Fatalf("download-meta: %d %s", r.Status, r.Body)
	}
	recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil || len(recs) < 2 {
		b.t.Fatalf("download-meta (%s) is no CSV with a member: %v\n%s", r.Type, err, r.Body)
	}
	if got := strings.Join(recs[0], ","); got != "EMAIL,PHONE,EXTERN_ID" {
		b.t.Errorf("Meta file header %q, want EMAIL,PHONE,EXTERN_ID", got)
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	sum := sha256.Sum256([]byte("buyer@example.com"))
	buyer := false
	for _, rec := range recs[1:] {
		for i, v := range rec[:2] {
			if v != "" && !hex64.MatchString(v) {
				b.t.Errorf("Meta file %s %q is not a SHA-256 in hex", recs[0][i], v)
			}
		}
		buyer = buyer || rec[0] == hex.EncodeToString(sum[:])
	}
	if !buyer {
		b.t.Errorf("the Meta file lacks the shop's buyer (SHA-256 of buyer@example.com):\n%s", r.Body)
	}
}

// screenshotDir is $PIXEL_SCREENSHOTS (relative to the repository's root),
// created; "" when unset.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PIXEL_SCREENSHOTS")
	if dir == "" {
		return ""
	}
	if !filepath.IsAbs(dir) {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serveConsoleShop serves the shop page with the snippet on its own
// loopback port and returns its URL.
func serveConsoleShop(t *testing.T, snippet string) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/thanks" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if err := consoleShopPage.Execute(w, map[string]any{"Snippet": template.HTML(snippet)}); err != nil {
				t.Errorf("shop page: %v", err)
			}
		}),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/thanks"
}

// sendHostile posts two events (ids hostile-BATCH-1 and -2) to the
// collector's /collect as the shop's page would (its Origin: the pixel's
// domain), whose page URL, referrer, campaign, properties and user agent
// hold the hostile strings: a PageView (the dashboard's top pages list its
// path) and a custom event.
func sendHostile(t *testing.T, s *devstack.Stack, pixelID, shop, batch string) {
	t.Helper()
	origin := shop[:strings.Index(shop, "/thanks")]
	props := map[string]any{"note": hostile[0], "html": hostile[1], "link": hostile[2]}
	events := []map[string]any{
		{"id": pixelID, "ev": "PageView", "eid": "hostile-" + batch + "-1",
			"dl": origin + "/" + hostile[0] + "?utm_source=" + url.QueryEscape(hostile[1]) + "&utm_campaign=" + url.QueryEscape(hostile[0]),
			"rl": hostile[2], "cd": props},
		{"id": pixelID, "ev": "Hostile", "eid": "hostile-" + batch + "-2",
			"dl": hostile[2], "rl": origin + "/" + hostile[1], "cd": map[string]any{"value": 1, "currency": "EUR", "x": hostile[1]}},
	}
	body, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+s.Cfg.CollectorAddr+"/collect", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	req.Header.Set("User-Agent", chromeUA+" "+hostile[0])
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /collect of the hostile events: %d, want 204", resp.StatusCode)
	}
}
