package apptest

import (
	"context"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The page of a site with a consent banner: the snippet, and a count of
// what the tag sends (sendBeacon and images), so that "nothing was sent"
// is something the page can say.
var consentPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>consent</title>
<script>
window.sent = 0;
var beacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = function (u, b) { window.sent++; return beacon(u, b); };
var Img = window.Image;
window.Image = function (w, h) { window.sent++; return new Img(w, h); };
</script>
{{.Snippet}}
</head><body><h1>Shop</h1></body></html>`))

// TestTagBrowserConsent runs a pixel in consent mode "required" in headless
// Chromium: before pixel('consent','grant') its events are recorded
// cookieless and the browser holds no _pxid; after the grant the visitor
// gets _pxid and the events carry the cookieless id too, to join on;
// after pixel('consent','revoke') the tag sends nothing.
func TestTagBrowserConsent(t *testing.T) {
	chromium := findChromium(t)
	s := NewTrackingStack(t)
	Start(t, s)
	conn := Conn(t, s)
	created := createPixel(t, s, "-name", "Consent", "-domains", "127.0.0.1", "-consent", "required")
	pixelID := created.Pixel.ID
	collector := "http://" + s.Cfg.CollectorAddr
	waitTagConfig(t, collector+"/px.js?id="+pixelID, `consent:"required"`)

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = consentPage.Execute(w, map[string]any{"Snippet": template.HTML(created.Snippets.JS)})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	_, ctx := newChromium(t, chromium)

	pxid := func() string {
		t.Helper()
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{collector + "/"}})
		if err != nil {
			t.Fatalf("read the browser's cookies: %v", err)
		}
		for _, c := range res.Cookies {
			if c.Name == "_pxid" {
				return c.Value
			}
		}
		return ""
	}
	// run evaluates expr in the page, waits for the tag to have sent what
	// it queued (it sends at the end of the task), and returns how many
	// requests the page made so far.
	run := func(expr string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr+`; new Promise(function (r) { setTimeout(function () { r(window.sent); }, 200); })`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return n
	}

	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")); err != nil {
		t.Fatal(err)
	}
	waitTagLoaded(t, ctx)
	run(`pixel('track', 'Lead', {}, {eventID: 'before-grant'})`)
	where := fmt.Sprintf("pixel_id = '%s'", pixelID)
	if got := WaitCount(t, conn, "SELECT count() FROM pixel.events WHERE "+where+" AND event_id = 'before-grant'", 1, 30*time.Second); got != 1 {
		t.Fatal("the event before the grant was not recorded cookieless")
	}
	if id := pxid(); id != "" {
		t.Fatalf("before the grant the browser holds _pxid=%s", id)
	}
	var visitor, cookieless, consent, session string
	if err := conn.QueryRow(context.Background(), "SELECT visitor_id, cookieless_id, consent, session_id FROM pixel.events WHERE "+where+" AND event_id = 'before-grant'").
		Scan(&visitor, &cookieless, &consent, &session); err != nil {
		t.Fatal(err)
	}
	if visitor == "" || visitor != cookieless || consent != "denied" || session != "" {
		t.Errorf("before the grant: visitor %q cookieless %q consent %q session %q; want the cookieless id, denied, no session", visitor, cookieless, consent, session)
	}

	run(`pixel('consent', 'grant'); pixel('track', 'Lead', {}, {eventID: 'after-grant'})`)
	if got := WaitCount(t, conn, "SELECT count() FROM pixel.events WHERE "+where+" AND event_id = 'after-grant'", 1, 30*time.Second); got != 1 {
		t.Fatal("the event after the grant was not recorded")
	}
	id := pxid()
	if id == "" {
		t.Fatal("after the grant the browser holds no _pxid")
	}
	var granted, joined string
	if err := conn.QueryRow(context.Background(), "SELECT visitor_id, cookieless_id, consent FROM pixel.events WHERE "+where+" AND event_id = 'after-grant'").
		Scan(&visitor, &joined, &granted); err != nil {
		t.Fatal(err)
	}
	if visitor != id || granted != "granted" || joined != cookieless {
		t.Errorf("after the grant: visitor %q (cookie %q) consent %q cookieless %q (before: %q)", visitor, id, granted, joined, cookieless)
	}

	before := run(`pixel('consent', 'revoke')`)
	after := run(`pixel('track', 'Lead', {}, {eventID: 'after-revoke'}); pixel('track', 'PageView')`)
	if after != before {
		t.Errorf("after the revoke the tag sent %d requests, want none", after-before)
	}
}
