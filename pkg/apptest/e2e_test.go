package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pixel-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if binDir, err = BuildBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := devstacktest.RunTests(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// hit is one request the test sends and, when valid, the row it expects.
type hit struct {
	n        int
	visitor  int // index of the browser (cookie jar) that sends it; -1 = no cookies
	query    url.Values
	ua       string
	xff      string
	gpc      bool
	valid    bool
	wantIP   string
	wantTS   int64
	wantEID  string // empty: server-generated
	wantURL  string
	wantRef  string
	wantVal  float64
	wantCur  string
	wantOrd  string
	wantIDs  []string
	wantProp string
	wantEv   string
}

// makeHits builds a realistic mix: browsers that keep cookies, one-off hits
// without cookies, conversions with custom data, and malformed hits.
func makeHits(n, browsers int, now time.Time) []hit {
	hits := make([]hit, 0, n)
	events := []string{"PageView", "PageView", "PageView", "ViewContent", "AddToCart", "Purchase", "Lead"}
	for i := 0; i < n; i++ {
		h := hit{n: i, visitor: -1, query: url.Values{}, valid: true}
		if i%3 != 0 {
			h.visitor = i % browsers
		}
		ev := events[i%len(events)]
		h.query.Set("id", "px-"+strconv.Itoa(i%4))
		h.query.Set("ev", ev)
		h.wantEv = ev
		h.query.Set("cd[hit]", strconv.Itoa(i))
		h.wantURL = fmt.Sprintf("https://shop.example/p/%d?utm_source=news&q=%s", i, url.QueryEscape("café ünïcode"))
		h.query.Set("dl", h.wantURL)
		if i%2 == 0 {
			h.wantRef = "https://www.search.example/?q=shoes"
			h.query.Set("rl", h.wantRef)
		}
		ts := now.Add(-time.Duration(i%60) * time.Second)
		h.query.Set("ts", strconv.FormatInt(ts.UnixMilli(), 10))
		h.wantTS = ts.Unix()
		if i%5 == 0 {
			h.wantEID = fmt.Sprintf("eid-%d", i)
			h.query.Set("eid", h.wantEID)
		}
		h.ua = fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) Test/%d \"quoted\"", i%7)
		h.xff = fmt.Sprintf("198.51.100.%d", i%250)
		h.wantIP = h.xff
		h.wantProp = fmt.Sprintf(`{"hit":"%d"}`, i)
		if ev == "Purchase" || ev == "AddToCart" {
			h.wantVal = float64(i%1000) + 0.25
			h.query.Set("cd[value]", strconv.FormatFloat(h.wantVal, 'f', -1, 64))
			h.query.Set("cd[currency]", "eur")
			h.wantCur = "EUR"
			h.wantIDs = []string{fmt.Sprintf("sku-%d", i%13), "sku-x"}
			h.query.Set("cd[content_ids]", fmt.Sprintf(`["sku-%d","sku-x"]`, i%13))
			h.query.Set("cd[color]", "red")
			h.wantProp = fmt.Sprintf(`{"hit":"%d","color":"red"}`, i)
		}
		if ev == "Purchase" {
			h.wantOrd = fmt.Sprintf("order-%d", i)
			h.query.Set("cd[order_id]", h.wantOrd)
		}
		// Every 10th hit is malformed in one way or another.
		switch i % 40 {
		case 9:
			h.query.Del("id")
			h.valid = false
		case 19:
			h.query.Set("cd[value]", "12,5€")
			h.valid = false
		case 29:
			h.query.Set("ts", "yesterday")
			h.valid = false
		case 39:
			h.gpc = true // Global Privacy Control: answered, not recorded
			h.valid = false
		}
		hits = append(hits, h)
	}
	return hits
}

func TestEndToEnd(t *testing.T) { endToEnd(t, NewStack(t, binDir)) }

// The same on real Apache Kafka: one broker, topics created up front
// (auto-creation is off, as in production). A JVM broker that has just
// started, on this small shared machine, takes longer than the collector's
// 250 ms -publish-spool-after to acknowledge the first burst of hits: they
// would be spooled and sent again, and the exact row count below (raw
// rows, not de-duplicated) would see the copies. So the window is wider
// here; the fault tests keep the default.
func TestEndToEndApacheKafka(t *testing.T) {
	s := NewStack(t, binDir)
	UseSharedKafka(t, s)
	s.Cfg.CollectorArgs = append(s.Cfg.CollectorArgs, "-publish-spool-after", "5s")
	endToEnd(t, s)
}

func endToEnd(t *testing.T, s *devstack.Stack) {
	s.Cfg.CollectorArgs = append(s.Cfg.CollectorArgs, "-trusted-proxies", "127.0.0.1")
	Start(t, s)
	conn := Conn(t, s)

	const n, browsers = 4000, 47
	start := time.Now()
	hits := makeHits(n, browsers, start)
	visitorOf := sendHits(t, "http://"+s.Cfg.CollectorAddr+"/p.gif", hits, browsers)
	sent := time.Since(start)

	var valid uint64
	for _, h := range hits {
		if h.valid {
			valid++
		}
	}
	got := WaitCount(t, conn, "SELECT count() FROM pixel.events", valid, 60*time.Second)
	loaded := time.Since(start)
	if got != valid {
		t.Fatalf("rows in pixel.events = %d, want exactly the %d valid hits of %d", got, valid, n)
	}
	t.Logf("%d hits (%d valid) sent in %s, all rows queryable after %s (%.0f rows/s end to end)",
		n, valid, sent.Round(time.Millisecond), loaded.Round(time.Millisecond), float64(valid)/loaded.Seconds())

	checkRows(t, conn, hits, visitorOf)
	checkMetrics(t, "http://"+s.Cfg.CollectorAdminAddr+"/metrics", map[string]uint64{
		`pixel_hits_total{outcome="accepted"}`:             valid,
		`pixel_hits_invalid_total{reason="missing_id"}`:    uint64(n / 40),
		`pixel_hits_invalid_total{reason="bad_value"}`:     uint64(n / 40),
		`pixel_hits_invalid_total{reason="bad_ts"}`:        uint64(n / 40),
		`pixel_hits_invalid_total{reason="opted_out"}`:     uint64(n / 40),
		`pixel_publish_acked_total`:                        valid,
		`pixel_publish_dropped_total{reason="queue_full"}`: 0,
	})
	// The rows are queryable as soon as pixel.events has them, while the
	// insert that stored them still runs the materialized views: the
	// consumer counts the rows when the insert returns.
	want := strconv.FormatUint(valid, 10)
	waitMetric(t, "http://"+s.Cfg.ConsumerAdminAddr+"/metrics", "pixel_consumer_rows_inserted_total",
		func(v string) bool { return v == want }, 30*time.Second)

	t.Run("kcat reads our topic", func(t *testing.T) { checkWithKcat(t, conn, s.Brokers(), s.Cfg.Topic, int(valid)) })

	// Graceful shutdown of every process exits cleanly.
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// sendHits sends every hit over real HTTP, browsers keeping their cookies,
// and checks each answer is the GIF. It returns each browser's visitor id.
func sendHits(t *testing.T, pixelURL string, hits []hit, browsers int) []string {
	t.Helper()
	jars := make([]*http.Client, browsers)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	for i := range jars {
		jar, _ := cookiejar.New(nil)
		jars[i] = &http.Client{Jar: jar, Transport: transport, Timeout: 10 * time.Second}
	}
	plain := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	// Each browser's hits go in order from one goroutine, as a browser would send them.
	work := make([][]hit, browsers+1)
	for _, h := range hits {
		w := h.visitor
		if w < 0 {
			w = browsers
		}
		work[w] = append(work[w], h)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(hits))
	for w := range work {
		client := plain
		if w < browsers {
			client = jars[w]
		}
		wg.Add(1)
		go func(client *http.Client, hs []hit) {
			defer wg.Done()
			for _, h := range hs {
				if err := sendOne(client, pixelURL, h); err != nil {
					errs <- err
					return
				}
			}
		}(client, work[w])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	u, _ := url.Parse(pixelURL)
	ids := make([]string, browsers)
	for i, c := range jars {
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == pixel.VisitorCookie {
				ids[i] = ck.Value
			}
		}
		if ids[i] == "" {
			t.Fatalf("browser %d has no %s cookie", i, pixel.VisitorCookie)
		}
	}
	return ids
}

func sendOne(client *http.Client, pixelURL string, h hit) error {
	req, err := http.NewRequest(http.MethodGet, pixelURL+"?"+h.query.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", h.ua)
	req.Header.Set("X-Forwarded-For", h.xff)
	if h.gpc {
		req.Header.Set("Sec-GPC", "1")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("hit %d: %w", h.n, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("hit %d: %w", h.n, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" || !bytes.Equal(body, pixel.GIF) {
		return fmt.Errorf("hit %d: got %d %q %d bytes, want 200 image/gif with the 43-byte GIF", h.n, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	return nil
}

type row struct {
	EventID, PixelID, VisitorID, SessionID, Event string
	TS, ReceivedAt                                time.Time
	URL, Referrer                                 string
	Value                                         float64
	Currency, OrderID                             string
	ContentIDs                                    []string
	IP, UserAgent, Props                          string
}

// checkRows compares every stored row with the hit it came from, found by
// the cd[hit] custom property.
func checkRows(t *testing.T, conn chstore.Conn, hits []hit, visitorOf []string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT event_id, pixel_id, visitor_id, session_id, event, ts, received_at,
		url, referrer, value, currency, order_id, content_ids, ip, user_agent, props FROM pixel.events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[int]bool{}
	sessionsOf := map[string]map[string]bool{}
	eventIDs := map[string]bool{}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.EventID, &r.PixelID, &r.VisitorID, &r.SessionID, &r.Event, &r.TS, &r.ReceivedAt,
			&r.URL, &r.Referrer, &r.Value, &r.Currency, &r.OrderID, &r.ContentIDs, &r.IP, &r.UserAgent, &r.Props); err != nil {
			t.Fatal(err)
		}
		var props map[string]string
		if err := json.Unmarshal([]byte(r.Props), &props); err != nil {
			t.Fatalf("props %q is not a JSON object of strings: %v", r.Props, err)
		}
		n, err := strconv.Atoi(props["hit"])
		if err != nil || n < 0 || n >= len(hits) {
			t.Fatalf("row without a valid hit number: %+v", r)
		}
		if seen[n] {
			t.Fatalf("hit %d stored twice", n)
		}
		seen[n] = true
		h := hits[n]
		if !h.valid {
			t.Fatalf("malformed hit %d was stored: %+v", n, r)
		}
		if eventIDs[r.EventID] {
			t.Fatalf("event_id %s appears twice", r.EventID)
		}
		eventIDs[r.EventID] = true
		check := func(field string, got, want any) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("hit %d: %s = %v, want %v", n, field, got, want)
			}
		}
		if h.wantEID != "" {
			check("event_id", r.EventID, h.wantEID)
		} else if len(r.EventID) != 36 || r.EventID[14] != '7' {
			t.Errorf("hit %d: server event_id %q is not a UUIDv7", n, r.EventID)
		}
		check("pixel_id", r.PixelID, "px-"+strconv.Itoa(n%4))
		check("event", r.Event, h.wantEv)
		check("ts", r.TS.Unix(), h.wantTS)
		if d := r.ReceivedAt.Sub(r.TS); d < -2*time.Second || d > 2*time.Minute {
			t.Errorf("hit %d: received_at %v far from ts %v", n, r.ReceivedAt, r.TS)
		}
		check("url", r.URL, h.wantURL)
		check("referrer", r.Referrer, h.wantRef)
		check("value", r.Value, h.wantVal)
		check("currency", r.Currency, h.wantCur)
		check("order_id", r.OrderID, h.wantOrd)
		check("content_ids", fmt.Sprint(r.ContentIDs), fmt.Sprint(orEmpty(h.wantIDs)))
		check("ip", r.IP, h.wantIP)
		check("user_agent", r.UserAgent, h.ua)
		wantProps := map[string]string{}
		_ = json.Unmarshal([]byte(h.wantProp), &wantProps)
		check("props", fmt.Sprint(props), fmt.Sprint(wantProps))
		if len(r.SessionID) != pixel.VisitorIDLen {
			t.Errorf("hit %d: session_id %q", n, r.SessionID)
		}
		if h.visitor >= 0 {
			check("visitor_id", r.VisitorID, visitorOf[h.visitor])
			if sessionsOf[r.VisitorID] == nil {
				sessionsOf[r.VisitorID] = map[string]bool{}
			}
			sessionsOf[r.VisitorID][r.SessionID] = true
		} else {
			if len(r.VisitorID) != pixel.VisitorIDLen {
				t.Errorf("hit %d: visitor_id %q is not a new 22-character id", n, r.VisitorID)
			}
			for _, v := range visitorOf {
				if v == r.VisitorID {
					t.Errorf("hit %d without cookies got browser visitor id %s", n, v)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for v, sessions := range sessionsOf {
		if len(sessions) != 1 {
			t.Errorf("visitor %s has %d sessions within one quick visit, want 1", v, len(sessions))
		}
	}
	var missing []int
	for _, h := range hits {
		if h.valid && !seen[h.n] {
			missing = append(missing, h.n)
		}
	}
	sort.Ints(missing)
	if len(missing) > 0 {
		t.Fatalf("%d valid hits missing, first: %v", len(missing), missing[:min(10, len(missing))])
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// checkMetrics reads a Prometheus endpoint and compares the named series.
func checkMetrics(t *testing.T, url string, want map[string]uint64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, val, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			got[name] = val
		}
	}
	for name, w := range want {
		if got[name] != strconv.FormatUint(w, 10) {
			t.Errorf("%s: %s = %q, want %d", url, name, got[name], w)
		}
	}
}

// checkWithKcat reads the topic with kcat, a Kafka client that is not ours
// (librdkafka), and checks every message is a wire-format event.
func checkWithKcat(t *testing.T, conn chstore.Conn, brokers, topic string, want int) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed; `make deps` installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-b", brokers, "-t", topic, "-C", "-e", "-q", "-J").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	// The columns as the server has them: the contract is that every field
	// is one.
	columns := map[string]bool{}
	rows, err := conn.Query(context.Background(), "SELECT name FROM system.columns WHERE database = 'pixel' AND table = 'events'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		columns[c] = true
	}
	rows.Close()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != want {
		t.Fatalf("kcat read %d messages, want %d", len(lines), want)
	}
	for _, line := range lines {
		var m struct {
			Key     string   `json:"key"`
			Payload string   `json:"payload"`
			Headers []string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("kcat output %q: %v", line, err)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
			t.Fatalf("message %q is not JSON: %v", m.Payload, err)
		}
		for k := range ev {
			if !columns[k] {
				t.Fatalf("message field %q is not a column of pixel.events", k)
			}
		}
		if ev["visitor_id"] != m.Key {
			t.Fatalf("key %q != visitor_id %v", m.Key, ev["visitor_id"])
		}
		if len(m.Headers) != 2 || m.Headers[0] != "pixel-format" || m.Headers[1] != "1" {
			t.Fatalf("headers %v, want [pixel-format 1]", m.Headers)
		}
	}
}
