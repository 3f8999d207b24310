package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/loadgen"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// collector mimics the real collector just enough: it answers every request
// with 200 and the GIF, issues _pxid/_pxsid to browsers that come without,
// and records what it received, judged by the real parser.
type collector struct {
	addr string
	srv  *fasthttp.Server

	requests atomic.Int64
	// stallAt > 0 freezes every request for stallFor once the stallAt-th
	// request arrived, as a GC pause or a full disk would.
	stallAt    int64
	stallFor   time.Duration
	stallUntil atomic.Int64
	// block, when set, holds every request until it is closed.
	block chan struct{}
	// idleTimeout closes idle keep-alive connections.
	idleTimeout time.Duration

	mu         sync.Mutex
	issued     map[string]string // _pxid issued → user agent it was issued to
	withCookie int
	strangers  int // requests with a _pxid this server never issued
	uaMismatch int // requests whose _pxid came from another browser
	valid      []string
	invalid    map[string]int
}

func startCollector(t *testing.T, edit func(*collector)) *collector {
	t.Helper()
	c := &collector{issued: map[string]string{}, invalid: map[string]int{}}
	if edit != nil {
		edit(c)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	c.srv = &fasthttp.Server{Handler: c.handle, ReadBufferSize: 16 << 10, IdleTimeout: c.idleTimeout}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		if c.block != nil {
			close(c.block)
		}
		_ = c.srv.Shutdown()
		<-done
	})
	return c
}

func (c *collector) target() string { return "http://" + c.addr }

func (c *collector) handle(ctx *fasthttp.RequestCtx) {
	n := c.requests.Add(1)
	if n == c.stallAt {
		c.stallUntil.Store(time.Now().Add(c.stallFor).UnixNano())
	}
	if until := time.Unix(0, c.stallUntil.Load()); time.Now().Before(until) {
		time.Sleep(time.Until(until))
	}
	if c.block != nil {
		<-c.block
	}

	h := pixel.AcquireHit()
	lim := pixel.DefaultLimits()
	err := pixel.ParseRawQuery(ctx.URI().QueryString(), h, &lim, time.Now())
	c.mu.Lock()
	if err != nil {
		var ie *pixel.InvalidError
		if errors.As(err, &ie) {
			c.invalid[ie.Reason]++
		} else {
			c.invalid[err.Error()]++
		}
	} else {
		c.valid = append(c.valid, string(h.Event.EventID))
	}
	ua := string(ctx.UserAgent())
	if id := string(ctx.Request.Header.Cookie(pixel.VisitorCookie)); id != "" {
		c.withCookie++
		switch issuedTo, ok := c.issued[id]; {
		case !ok:
			c.strangers++
		case issuedTo != ua:
			c.uaMismatch++
		}
	} else {
		// Ids in the form the real collector issues and accepts back.
		id = string(pixel.AppendNewID(nil))
		c.issued[id] = ua
		var ck fasthttp.Cookie
		ck.SetKey(pixel.VisitorCookie)
		ck.SetValue(id)
		ck.SetMaxAge(400 * 24 * 3600)
		ctx.Response.Header.SetCookie(&ck)
		ck.SetKey(pixel.SessionCookie)
		ck.SetValueBytes(pixel.AppendNewID(nil))
		ck.SetMaxAge(1800)
		ctx.Response.Header.SetCookie(&ck)
	}
	c.mu.Unlock()
	pixel.ReleaseHit(h)
	ctx.SetContentType("image/gif")
	ctx.SetBody(pixel.GIF)
}

// checkNoGoroutines fails when a goroutine of package loadgen outlives Run.
func checkNoGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte("pixel/pkg/loadgen.")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines of package loadgen still run after Run returned:\n%s", buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func run(t *testing.T, ctx context.Context, cfg loadgen.Config) *loadgen.Result {
	t.Helper()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkNoGoroutines(t)
	return res
}

func config(c *collector) loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.Target = c.target()
	cfg.Connections = 4
	cfg.Seed = 11
	return cfg
}

// An open loop sends at the rate it was given, whatever the server does.
func TestOpenLoopHonoursTheRate(t *testing.T) {
	c := startCollector(t, nil)
	cfg := config(c)
	cfg.Rate = 500
	cfg.Duration = 2 * time.Second
	res := run(t, context.Background(), cfg)

	t.Logf("late %d, max lag %s, latency %+v", res.Late, res.MaxLag, res.Latency)
	if res.Mode != "open" || res.Sent < 800 || res.Sent > 1200 {
		t.Fatalf("%s loop sent %d requests at 500/s for 2s, want 800..1200", res.Mode, res.Sent)
	}
	if res.Completed != res.Sent || res.Status[200] != res.Sent || res.Errors.Total() != 0 || c.requests.Load() != res.Sent {
		t.Errorf("sent %d, completed %d, 200s %v, errors %+v, server saw %d", res.Sent, res.Completed, res.Status, res.Errors, c.requests.Load())
	}
	// The schedule cannot end early; how much later depends on how busy
	// the machine is.
	if res.Elapsed < 1900*time.Millisecond || res.AchievedRate > 550 {
		t.Errorf("a 2s schedule at 500/s took %s, %.1f/s", res.Elapsed, res.AchievedRate)
	}
	var inTimeline int64
	for _, s := range res.Timeline {
		inTimeline += s.Requests
	}
	if len(res.Timeline) < 2 || inTimeline != res.Completed {
		t.Errorf("timeline %+v holds %d requests of %d", res.Timeline, inTimeline, res.Completed)
	}
	if res.Latency.Count != uint64(res.Completed) || res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
		t.Errorf("latency summary %+v", res.Latency)
	}
}

// Browsers that keep cookies send back what the collector set, each its own.
func TestReturningVisitorsSendTheirCookies(t *testing.T) {
	c := startCollector(t, nil)
	cfg := config(c)
	cfg.MaxRequests = 2000
	cfg.Mix.Visitors = 50
	cfg.Mix.CookieFraction = 1
	res := run(t, context.Background(), cfg)

	c.mu.Lock()
	defer c.mu.Unlock()
	if res.Sent != 2000 || res.Status[200] != 2000 {
		t.Fatalf("sent %d, status %v", res.Sent, res.Status)
	}
	// Each visitor's first hit has no cookie; a visitor's hits sent in
	// parallel before the first answer may be issued more than one.
	if len(c.issued) < 50 || len(c.issued) > 50+4*cfg.Connections {
		t.Errorf("50 visitors were issued %d visitor ids", len(c.issued))
	}
	if c.withCookie < 1900 || int64(c.withCookie) != res.WithCookies {
		t.Errorf("%d of 2000 requests carried a cookie (Result says %d)", c.withCookie, res.WithCookies)
	}
	if c.strangers != 0 || c.uaMismatch != 0 {
		t.Errorf("%d cookies were never issued, %d came from another browser", c.strangers, c.uaMismatch)
	}

	c2 := startCollector(t, nil)
	cfg = config(c2)
	cfg.MaxRequests = 500
	cfg.Mix.Visitors = 20
	cfg.Mix.CookieFraction = 0
	res = run(t, context.Background(), cfg)
	if c2.withCookie != 0 || res.WithCookies != 0 {
		t.Errorf("browsers that keep no cookies sent %d (Result says %d)", c2.withCookie, res.WithCookies)
	}
}

// The collector's parser judges every hit as the generator labelled it, and
// Result.EventIDs is exactly the set of valid hits the collector received.
func TestMalformedHitsAndEventIDsReachTheCollectorAsLabelled(t *testing.T) {
	c := startCollector(t, nil)
	cfg := config(c)
	cfg.MaxRequests = 3000
	cfg.Mix.MalformedFraction = 0.1
	cfg.Mix.EventIDs = true
	res := run(t, context.Background(), cfg)

	c.mu.Lock()
	defer c.mu.Unlock()
	slices.Sort(c.valid)
	if !slices.Equal(c.valid, res.EventIDs) {
		t.Fatalf("collector accepted %d hits, Result lists %d eids", len(c.valid), len(res.EventIDs))
	}
	if int64(len(res.EventIDs)) != res.Valid.OK || res.Valid.Sent+res.Malformed.Sent != 3000 || res.UncertainEventIDs != nil {
		t.Errorf("valid %+v, malformed %+v, %d eids, %d uncertain", res.Valid, res.Malformed, len(res.EventIDs), len(res.UncertainEventIDs))
	}
	if res.Malformed.Sent < 200 || res.Malformed.Sent > 400 {
		t.Errorf("%d malformed hits of 3000 at 10%%", res.Malformed.Sent)
	}
	for kind, n := range c.invalid {
		if res.MalformedKinds[kind].OK != int64(n) {
			t.Errorf("collector counted %d %s, Result %+v", n, kind, res.MalformedKinds[kind])
		}
	}
	if len(c.invalid) != len(res.MalformedKinds) {
		t.Errorf("collector reasons %v, Result kinds %v", c.invalid, res.MalformedKinds)
	}
	var events int64
	for _, e := range res.Events {
		events += e.Sent
	}
	if events != res.Valid.Sent || res.Events[loadgen.PageView].Sent < 2000 {
		t.Errorf("events %+v", res.Events)
	}
}

// A server that stalls for 500 ms once shows in the open-loop latency of
// every request scheduled during the stall, not only of the few in flight.
func TestCoordinatedOmissionIsCorrected(t *testing.T) {
	c := startCollector(t, func(c *collector) {
		c.stallAt = 100 // after about half a second
		c.stallFor = 500 * time.Millisecond
	})
	cfg := config(c)
	cfg.Rate = 200
	cfg.Duration = 2 * time.Second
	res := run(t, context.Background(), cfg)

	l := res.Latency
	t.Logf("latency %+v, late %d, max lag %s", l, res.Late, res.MaxLag)
	if l.Max < 450*time.Millisecond || l.P99 < 400*time.Millisecond {
		t.Errorf("max %s, p99 %s: the 500ms stall does not show", l.Max, l.P99)
	}
	// About 100 of 400 requests were due during the stall; measured from
	// their actual send time only the 4 in flight would show it.
	if l.P90 < 100*time.Millisecond {
		t.Errorf("p90 %s: requests scheduled during the stall were measured from their late send", l.P90)
	}
	// Three quarters of the requests were not due during the stall (how
	// fast the backlog clears depends on how busy the machine is).
	if l.P50 > 400*time.Millisecond || l.Min > 50*time.Millisecond {
		t.Errorf("p50 %s, min %s: the stall should not reach the median", l.P50, l.Min)
	}
	if res.Late < 50 || res.MaxLag < 400*time.Millisecond {
		t.Errorf("late %d, max lag %s", res.Late, res.MaxLag)
	}
	if res.Sent < 320 || res.Sent > 480 {
		t.Errorf("sent %d at 200/s for 2s", res.Sent)
	}
}

func TestCancelStopsPromptly(t *testing.T) {
	c := startCollector(t, func(c *collector) { c.block = make(chan struct{}) })
	for _, rate := range []float64{0, 100} {
		cfg := config(c)
		cfg.Rate = rate
		cfg.Duration = time.Minute
		cfg.Timeout = time.Minute
		cfg.Mix.EventIDs = true
		cfg.Mix.MalformedFraction = 0
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		res, err := loadgen.Run(ctx, cfg)
		took := time.Since(start)
		if !errors.Is(err, context.Canceled) || res == nil {
			t.Fatalf("rate %v: Run returned %v, %v", rate, res, err)
		}
		if took > 2*time.Second {
			t.Errorf("rate %v: Run took %s to stop after a cancel at 300ms (timeout and duration are a minute)", rate, took)
		}
		if res.Canceled < 1 || res.Canceled > int64(cfg.Connections) || res.Completed != 0 || res.Errors.Total() != 0 {
			t.Errorf("rate %v: canceled %d, completed %d, errors %+v", rate, res.Canceled, res.Completed, res.Errors)
		}
		if int64(len(res.UncertainEventIDs)) != res.Canceled {
			t.Errorf("rate %v: %d uncertain eids for %d cancelled requests", rate, len(res.UncertainEventIDs), res.Canceled)
		}
		checkNoGoroutines(t)
	}
}

func TestTransportErrorsAreCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	cfg := loadgen.DefaultConfig()
	cfg.Target = closed
	cfg.MaxRequests = 20
	cfg.Mix.EventIDs = true
	res := run(t, context.Background(), cfg)
	if res.Errors.Refused != 20 || res.Completed != 0 || res.Valid.OK != 0 || int64(len(res.UncertainEventIDs)) != res.Valid.Sent {
		t.Errorf("against a closed port: errors %+v, completed %d, valid %+v, %d uncertain", res.Errors, res.Completed, res.Valid, len(res.UncertainEventIDs))
	}

	c := startCollector(t, func(c *collector) {
		c.stallAt = 1
		c.stallFor = 400 * time.Millisecond
	})
	cfg = config(c)
	cfg.Connections = 2
	cfg.MaxRequests = 4
	cfg.Timeout = 100 * time.Millisecond
	res = run(t, context.Background(), cfg)
	if res.Errors.Timeout < 2 {
		t.Errorf("a server stalled for 400ms with a 100ms timeout: errors %+v, status %v", res.Errors, res.Status)
	}
}

func TestConfigIsChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*loadgen.Config)
		want error
	}{
		{"remote target", func(c *loadgen.Config) { c.Target = "http://10.1.2.3:8080" }, loadgen.ErrRemoteTarget},
		{"remote name", func(c *loadgen.Config) { c.Target = "http://collector.example.com" }, loadgen.ErrRemoteTarget},
		{"unbounded", func(c *loadgen.Config) { c.MaxRequests = 0; c.Duration = 0 }, nil},
		{"ftp", func(c *loadgen.Config) { c.Target = "ftp://127.0.0.1" }, nil},
		{"target with a path", func(c *loadgen.Config) { c.Target = "http://127.0.0.1:8080/p.gif?id=x" }, nil},
		{"negative rate", func(c *loadgen.Config) { c.Rate = -1 }, nil},
		{"cookie fraction", func(c *loadgen.Config) { c.Mix.CookieFraction = 2 }, nil},
	} {
		cfg := loadgen.DefaultConfig()
		cfg.MaxRequests = 1
		tc.edit(&cfg)
		res, err := loadgen.Run(context.Background(), cfg)
		if err == nil || res != nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Run returned %v, %v", tc.name, res, err)
		}
	}
	// AllowRemote lets a staging target through; a cancelled context keeps
	// this test from sending anything.
	cfg := loadgen.DefaultConfig()
	cfg.Target = "http://10.1.2.3:8080"
	cfg.AllowRemote = true
	cfg.MaxRequests = 1
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := loadgen.Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) || res == nil || res.Sent != 0 {
		t.Errorf("AllowRemote with a cancelled context: %v, %v", res, err)
	}
	for _, local := range []string{"http://localhost:1", "http://[::1]:1", "http://127.0.0.2:1"} {
		cfg := loadgen.DefaultConfig()
		cfg.Target = local
		if _, err := loadgen.Run(ctx, cfg); err != nil && errors.Is(err, loadgen.ErrRemoteTarget) {
			t.Errorf("%s refused as remote", local)
		}
	}
}

func TestResultIsJSON(t *testing.T) {
	c := startCollector(t, nil)
	cfg := config(c)
	cfg.MaxRequests = 200
	cfg.Mix.EventIDs = true
	res := run(t, context.Background(), cfg)
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	lat, _ := m["latency"].(map[string]any)
	status, _ := m["status"].(map[string]any)
	if lat["p99_ns"] == nil || status["200"] != float64(200) || m["timeline"] == nil || len(m["event_ids"].([]any)) != int(res.Valid.OK) {
		t.Errorf("JSON lacks fields: %s", b[:min(len(b), 600)])
	}
	var sb strings.Builder
	if err := res.WriteSummary(&sb); err != nil || !strings.Contains(sb.String(), "p99") || !strings.Contains(sb.String(), "200: 200") {
		t.Errorf("summary:\n%s", sb.String())
	}
	t.Logf("\n%s", sb.String())
}

// A request on a kept-alive connection the server closed while it was idle
// is sent again on a new connection, not counted as an error.
func TestStaleKeepAliveIsRetried(t *testing.T) {
	c := startCollector(t, func(c *collector) { c.idleTimeout = 30 * time.Millisecond })
	cfg := config(c)
	cfg.Connections = 1
	cfg.Rate = 10
	cfg.Duration = time.Second
	res := run(t, context.Background(), cfg)
	if res.Status[200] != res.Sent || res.Errors.Total() != 0 || res.Retries < res.Sent/2 {
		t.Errorf("sent %d, status %v, errors %+v, retries %d", res.Sent, res.Status, res.Errors, res.Retries)
	}
}
