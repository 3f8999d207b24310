package apptest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/googleads/googleadstest"
	"github.com/pixel-pipeline/pixel/pkg/metacapi/metacapitest"
)

// The shop of the forwarding test: the snippet as the registry gives it,
// nothing else; the test drives the visit.
var forwardShop = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title>
{{.Snippet}}
</head><body><h1>Shop</h1></body></html>`))

// TestForwardBrowser is issue 13's proof: two visitors in headless
// Chromium come from an ad (gclid and fbclid in the landing URL), stay
// engaged past the pixel's goal and buy. The first consented; the second
// said ad_user_data and ad_storage denied (Google's Consent Mode, as a
// consent banner sets them). The forwarder binary, on the stack's broker,
// sends the first visitor's Purchase and EngagedVisit, once each, to the
// Meta and Google contract servers (local HTTPS servers that check Meta's
// and Google's documented request formats: the live APIs are never
// called), with the browser's event id, the hashed email, the click ids
// and the deterministic engaged-visit id; and nothing of the second
// visitor, whose events the gate counts as refused for consent.
func TestForwardBrowser(t *testing.T) {
	chromium := findChromium(t)
	meta := metacapitest.New()
	t.Cleanup(meta.Close)
	google := googleadstest.New()
	t.Cleanup(google.Close)
	token := newTokenServer(t)

	// Every httptest TLS server has the same certificate: the forwarder
	// binary trusts it as Go programs trust a private CA, by SSL_CERT_FILE.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: meta.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", caFile)
	s := NewTrackingStack(t)
	AddForwarder(t, s)
	Start(t, s)
	conn := Conn(t, s)

	created := createPixel(t, s, "-name", "Forwarded shop", "-domains", "127.0.0.1", "-engagement-seconds", "2")
	px := created.Pixel.ID
	collector := "http://" + s.Cfg.CollectorAddr
	waitTagConfig(t, collector+"/px.js?id="+px, `engagementSeconds:2`)

	destinationCreate(t, s, `{"access_token":"meta-token"}`, "-pixel", px, "-kind", "meta", "-name", "Meta",
		"-meta-dataset", "1234567890", "-meta-base-url", meta.URL, "-events", "Purchase,EngagedVisit")
	googleCreds := `{"developer_token":"dev-token","client_id":"cid","client_secret":"csecret","refresh_token":"rtoken"}`
	destinationCreate(t, s, googleCreds, "-pixel", px, "-kind", "google", "-name", "Google purchases",
		"-google-customer", "1234567890", "-google-action", "111", "-google-action-name", "Purchase",
		"-google-base-url", google.URL, "-google-token-url", token.URL, "-events", "Purchase")
	destinationCreate(t, s, googleCreds, "-pixel", px, "-kind", "google", "-name", "Google engaged visits",
		"-google-customer", "1234567890", "-google-action", "222", "-google-action-name", "Engaged visit",
		"-google-base-url", google.URL, "-google-token-url", token.URL, "-events", "EngagedVisit")

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = forwardShop.Execute(w, map[string]any{"Snippet": template.HTML(created.Snippets.JS)})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	shop := "http://" + ln.Addr().String()

	visit(t, chromium, shop+"/?utm_source=google&gclid=GCLID-consented_1&fbclid=IwAR-consented-1",
		`pixel('identify', {email: ' Jane.Doe@Example.com '})`, "order-consented")
	visit(t, chromium, shop+"/?utm_source=google&gclid=GCLID-revoked_2&fbclid=IwAR-revoked-2",
		`pixel('consent', 'update', {ad_storage: 'denied', ad_user_data: 'denied'}); pixel('identify', {email: 'revoked@example.com'})`, "order-revoked")

	// What the collector stored of the consented visitor: the ids the
	// platforms must receive.
	where := fmt.Sprintf("pixel_id = '%s' AND order_id = 'order-consented' AND event = 'Purchase'", px)
	WaitCount(t, conn, "SELECT count() FROM pixel.events WHERE "+where, 1, 30*time.Second)
	var eventID, visitor, session string
	var clickMs uint64
	if err := conn.QueryRow(context.Background(), "SELECT event_id, visitor_id, session_id, click_ts_ms FROM pixel.events WHERE "+where+" LIMIT 1").
		Scan(&eventID, &visitor, &session, &clickMs); err != nil {
		t.Fatal(err)
	}
	if session == "" || clickMs == 0 {
		t.Fatalf("the consented purchase has session %q and click time %d", session, clickMs)
	}
	sum := sha256.Sum256([]byte(px + "|" + visitor + "|" + session))
	engagedID := "ev-" + hex.EncodeToString(sum[:])[:32]
	emailHash := hex.EncodeToString(sha(("jane.doe@example.com")))

	// The forwarder has seen everything once the revoked visitor's
	// Purchase and EngagedVisit were refused at each destination that
	// wants them: Meta 2, each Google action 1.
	metrics := "http://" + s.Cfg.ForwarderAdminAddr + "/metrics"
	deadline := time.Now().Add(60 * time.Second)
	for {
		gated := familySum(t, metrics, "forward_gated_total", `reason="consent"`)
		if gated >= 4 && len(meta.Events()) >= 2 && len(googleConversions(google)) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %v gated for consent, Meta has %d events, Google %d conversions; the forwarder's metrics:\n%s",
				gated, len(meta.Events()), len(googleConversions(google)), forwardMetrics(metrics))
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitForwarderIdle(t, metrics)

	if v := meta.Violations(); len(v) > 0 {
		t.Errorf("Meta contract violations: %v", v)
	}
	if v := google.Violations(); len(v) > 0 {
		t.Errorf("Google contract violations: %v", v)
	}
	got := map[string]map[string]any{}
	for _, ev := range meta.Events() {
		name, _ := ev["event_name"].(string)
		if got[name] != nil {
			t.Errorf("Meta received %s twice", name)
		}
		got[name] = ev
	}
	if len(got) != 2 || got["Purchase"] == nil || got["EngagedVisit"] == nil {
		t.Fatalf("Meta received %v, want the consented visitor's Purchase and EngagedVisit", mapKeys(got))
	}
	buy, engaged := got["Purchase"], got["EngagedVisit"]
	if buy["event_id"] != eventID {
		t.Errorf("Meta Purchase event_id %v, want the browser's %s", buy["event_id"], eventID)
	}
	if engaged["event_id"] != engagedID {
		t.Errorf("Meta EngagedVisit event_id %v, want %s", engaged["event_id"], engagedID)
	}
	wantFBC := fmt.Sprintf("fb.1.%d.IwAR-consented-1", clickMs)
	for name, ev := range got {
		ud, _ := ev["user_data"].(map[string]any)
		if em := fmt.Sprint(ud["em"]); em != "["+emailHash+"]" {
			t.Errorf("Meta %s: em %s, want [%s]", name, em, emailHash)
		}
		if ud["fbc"] != wantFBC {
			t.Errorf("Meta %s: fbc %v, want %s", name, ud["fbc"], wantFBC)
		}
		if ua, _ := ud["client_user_agent"].(string); ua != visitorAgent {
			t.Errorf("Meta %s: client_user_agent %q", name, ua)
		}
		if ev["action_source"] != "website" || !strings.HasPrefix(fmt.Sprint(ev["event_source_url"]), shop+"/") {
			t.Errorf("Meta %s: action_source %v, event_source_url %v", name, ev["action_source"], ev["event_source_url"])
		}
	}
	if cd, _ := buy["custom_data"].(map[string]any); fmt.Sprint(cd["value"]) != "49.5" || cd["currency"] != "EUR" || cd["order_id"] != "order-consented" {
		t.Errorf("Meta Purchase custom_data %v", cd)
	}

	byAction := map[string][]googleadstest.ClickConversion{}
	for _, c := range googleConversions(google) {
		byAction[c.ConversionAction] = append(byAction[c.ConversionAction], c)
	}
	purchases, visits := byAction["customers/1234567890/conversionActions/111"], byAction["customers/1234567890/conversionActions/222"]
	if len(purchases) != 1 || len(visits) != 1 || len(byAction) != 2 {
		t.Fatalf("Google received %v, want one purchase and one engaged visit", byAction)
	}
	p := purchases[0]
	if p.GCLID != "GCLID-consented_1" || p.OrderID != "order-consented" || p.ConversionValue == nil || *p.ConversionValue != 49.5 || p.CurrencyCode != "EUR" {
		t.Errorf("Google purchase %+v", p)
	}
	if len(p.UserIdentifiers) != 1 || p.UserIdentifiers[0].HashedEmail != emailHash {
		t.Errorf("Google purchase identifiers %+v, want the hashed email %s", p.UserIdentifiers, emailHash)
	}
	if v := visits[0]; v.GCLID != "GCLID-consented_1" || v.OrderID != engagedID {
		t.Errorf("Google engaged visit %+v, want gclid GCLID-consented_1 and order id %s (its event id: Google de-duplicates on it)", v, engagedID)
	}
}

// visitorAgent is the user agent of the test's visitors: Chromium's, as a
// person's desktop browser sends it.
const visitorAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"

// visit is one visitor's visit in a fresh browser: the landing page from
// an ad, then the page's own calls (consent, identify), activity until
// the engaged time is past 2 s, a purchase with orderID, and leaving the
// page, which sends the last engaged time.
func visit(t *testing.T, chromium, landing, calls, orderID string) {
	t.Helper()
	// As a person's browser: the collector rightly takes HeadlessChrome
	// and navigator.webdriver for a bot, and bots are never forwarded.
	_, ctx := newChromium(t, chromium, chromedp.UserAgent(visitorAgent),
		chromedp.Flag("disable-blink-features", "AutomationControlled"), chromedp.Flag("enable-automation", false))
	if err := chromedp.Do(ctx, chromedp.Navigate(landing)); err != nil {
		t.Fatal(err)
	}
	waitTagLoaded(t, ctx)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](calls+`; true`)); err != nil {
		t.Fatalf("evaluate %s: %v", calls, err)
	}
	// Input keeps the page engaged (the tag counts visible time with
	// input in the last activeSeconds); 4 s of it is well past the goal.
	for i := range 8 {
		if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, float64(10+i*5), float64(10+i*3))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	buy := fmt.Sprintf(`pixel('track', 'Purchase', {value: 49.5, currency: 'EUR', order_id: %q, content_ids: ['sku-1']}); true`, orderID)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](buy)); err != nil {
		t.Fatal(err)
	}
	// Leaving sends the final PageEngagement (sendBeacon on pagehide).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
}

// destinationCreate runs pixelctl destination create with the credentials
// on standard input.
func destinationCreate(t *testing.T, s *devstack.Stack, credentials string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Cfg.BinDir, "pixelctl"), append([]string{"destination", "create", "-credentials-stdin"}, args...)...)
	cmd.Env = append(os.Environ(), "CLICKHOUSE_ADDR="+s.ClickHouseAddr(), "PIXEL_DESTINATION_KEY_FILE="+s.DestinationKeyFile())
	cmd.Stdin = strings.NewReader(credentials)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pixelctl destination create %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newTokenServer is Google's OAuth 2.0 token endpoint for the refresh-token
// grant, as far as the forwarder uses it.
func newTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	ts := &tokenServer{}
	ts.srv = newTLS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "refresh_token" ||
			r.PostForm.Get("refresh_token") != "rtoken" || r.PostForm.Get("client_id") != "cid" || r.PostForm.Get("client_secret") != "csecret" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "ya29.test", "token_type": "Bearer", "expires_in": 3600})
	}))
	ts.URL = ts.srv.URL
	t.Cleanup(ts.srv.Close)
	return ts
}

func sha(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func googleConversions(s *googleadstest.Server) []googleadstest.ClickConversion {
	var out []googleadstest.ClickConversion
	for _, u := range s.Uploads() {
		out = append(out, u.Conversions...)
	}
	return out
}

func mapKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

type tokenServer struct {
	srv *httptest.Server
	URL string
}

func newTLS(h http.Handler) *httptest.Server { return httptest.NewTLSServer(h) }

// familySum adds up the series of a family whose labels hold match.
func familySum(t *testing.T, url, family, match string) float64 {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, family+"{") || !strings.Contains(name, match) {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			sum += v
		}
	}
	return sum
}

// waitForwarderIdle waits until every pipeline of the forwarder has read
// the topic to its end (lag 0) and holds nothing unsent.
func waitForwarderIdle(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for familySum(t, url, "forward_lag", "destination=") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the forwarder's lag did not reach 0 within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// forwardMetrics are the forward_* lines of the forwarder's metrics, for
// a failure's message.
func forwardMetrics(url string) string {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "forward_") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}
