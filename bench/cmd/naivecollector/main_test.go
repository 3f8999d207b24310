package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/publish"
)

// hit is what make bench's wrk sends (a returning visitor's purchase with
// custom data), by hand.
const (
	hitPath = "/p.gif?id=demo&ev=Purchase&dl=https%3A%2F%2Fshop.example.com%2Fcheckout%2Fsuccess&cd[value]=135.49&cd[currency]=rub" +
		"&cd[order_id]=616099929&cd[content_ids]=SKU-40219%2CSKU-90210&cd[num_items]=2&cd[logged_in]=false&cd[content_name]=%E6%8A%B9%E8%8C%B6"
	hitUA      = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Mobile Safari/537.36"
	hitCookies = "_ga=GA1.1.1234567890.1767268800; _pxid=wbf-0bjsBlX1aRP83g-jGw; _pxsid=hhTmNp0UY-n3L3tYSIPUhQ"
)

// recorder keeps what the handler writes to Kafka.
type recorder struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (r *recorder) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, msgs...)
	r.mu.Unlock()
	return nil
}

func (r *recorder) messages() []kafka.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func requestCtx(path string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI(path)
	req.Header.Set("User-Agent", hitUA)
	req.Header.Set("Referer", "https://shop.example.com/")
	req.Header.Set("Cookie", hitCookies)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 40000}, nil)
	return ctx
}

// TestSameEventAsTheCollector: the naive collector must do the same job as
// ours on a valid hit, or the comparison flatters ours. Its JSON is a valid
// event of the wire format with every field our collector fills, equal to
// them (the generated event id and the order of the props aside).
func TestSameEventAsTheCollector(t *testing.T) {
	now := time.Unix(1_795_765_491, 0)
	ctx := requestCtx(hitPath)
	h := pixel.AcquireHit()
	defer pixel.ReleaseHit(h)
	cfg := pixel.DefaultConfig()
	if err := h.FromRequest(ctx, &cfg, now); err != nil {
		t.Fatalf("our collector refuses the hit: %v", err)
	}
	ours := &h.Event

	naive, ok := eventOf(requestCtx(hitPath), now)
	if !ok {
		t.Fatal("the naive collector takes no event from the hit")
	}
	data, err := json.Marshal(naive)
	if err != nil {
		t.Fatal(err)
	}
	var got event.Event
	if err := event.Parse(data, &got); err != nil {
		t.Fatalf("the naive collector's message is not a valid event: %v\n%s", err, data)
	}
	if len(got.EventID) != 36 {
		t.Errorf("event_id %q is not a UUID", got.EventID)
	}
	for _, f := range []struct {
		name       string
		naive, our []byte
	}{
		{"pixel_id", got.PixelID, ours.PixelID}, {"visitor_id", got.VisitorID, ours.VisitorID},
		{"session_id", got.SessionID, ours.SessionID}, {"event", got.Name, ours.Name}, {"url", got.URL, ours.URL},
		{"referrer", got.Referrer, ours.Referrer}, {"currency", got.Currency, ours.Currency},
		{"order_id", got.OrderID, ours.OrderID}, {"ip", got.IP, ours.IP}, {"user_agent", got.UserAgent, ours.UserAgent},
	} {
		if string(f.naive) != string(f.our) {
			t.Errorf("%s: naive %q, ours %q", f.name, f.naive, f.our)
		}
	}
	if got.TS != ours.TS || got.ReceivedAt != ours.ReceivedAt || got.Value != ours.Value {
		t.Errorf("ts, received_at, value: naive %d %d %v, ours %d %d %v", got.TS, got.ReceivedAt, got.Value, ours.TS, ours.ReceivedAt, ours.Value)
	}
	if a, b := strs(got.ContentIDs), strs(ours.ContentIDs); !slices.Equal(a, b) || len(a) != 2 {
		t.Errorf("content_ids: naive %q, ours %q", a, b)
	}
	var pn, po map[string]string
	if err := json.Unmarshal(got.Props, &pn); err != nil {
		t.Fatalf("naive props %q: %v", got.Props, err)
	}
	if err := json.Unmarshal(ours.Props, &po); err != nil {
		t.Fatalf("our props %q: %v", ours.Props, err)
	}
	if !maps.Equal(pn, po) || len(pn) != 3 {
		t.Errorf("props: naive %v, ours %v", pn, po)
	}
}

func strs(b [][]byte) []string {
	var out []string
	for _, s := range b {
		out = append(out, string(s))
	}
	return out
}

// TestPublishesEveryHit: each hit with a pixel id is one message keyed by
// the visitor, with the format header; a hit without one is answered and
// not published.
func TestPublishesEveryHit(t *testing.T) {
	rec := &recorder{}
	h := &handler{w: rec}
	for range 3 {
		h.serve(requestCtx(hitPath))
	}
	ctx := requestCtx("/p.gif?ev=PageView")
	h.serve(ctx)
	if ctx.Response.StatusCode() != http.StatusOK || string(ctx.Response.Body()) != string(pixel.GIF) {
		t.Errorf("a hit without id: %d, %d bytes", ctx.Response.StatusCode(), len(ctx.Response.Body()))
	}
	msgs := rec.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages for 3 valid hits", len(msgs))
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		if string(m.Key) != "wbf-0bjsBlX1aRP83g-jGw" || len(m.Headers) != 1 || m.Headers[0].Key != event.Header || string(m.Headers[0].Value) != event.Version {
			t.Errorf("message key %q, headers %v", m.Key, m.Headers)
		}
		var e event.Event
		if err := event.Parse(m.Value, &e); err != nil {
			t.Errorf("message %s: %v", m.Value, err)
		}
		ids[string(e.EventID)] = true
	}
	if len(ids) != 3 {
		t.Errorf("%d distinct event ids in 3 messages", len(ids))
	}
}

func serve(t *testing.T, srv *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// nopPublisher takes every event and forgets it.
type nopPublisher struct{ m publish.Message }

func (p *nopPublisher) Acquire() *publish.Message     { return &p.m }
func (p *nopPublisher) Publish(*publish.Message) bool { return true }
func (p *nopPublisher) Ready() error                  { return nil }

// TestAnswersLikeTheCollector: the same status, body, headers and cookies
// as our collector over HTTP, and a new visitor gets ids of the same form.
func TestAnswersLikeTheCollector(t *testing.T) {
	naive := serve(t, newServer(&handler{w: &recorder{}}))
	coll := collector.New(collector.DefaultConfig(), &nopPublisher{}, zerolog.Nop(), metrics.NewSet())
	ours := serve(t, &fasthttp.Server{Handler: coll.Handler(), Name: "pixel", NoDefaultServerHeader: true, NoDefaultContentType: true})
	get := func(base, cookie string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, base+hitPath, nil)
		req.Header.Set("User-Agent", hitUA)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	headers := func(r *http.Response) []string {
		var out []string
		for k := range r.Header {
			switch k {
			case "Date":
			case "Server", "Set-Cookie": // fasthttp or pixel; cookies below
				out = append(out, k)
			default:
				out = append(out, k+": "+r.Header.Get(k))
			}
		}
		slices.Sort(out)
		return out
	}
	cookies := func(r *http.Response, values bool) []string {
		var out []string
		for _, c := range r.Cookies() {
			v := strconv.Itoa(len(c.Value)) + " characters"
			if values {
				v = c.Value
			}
			out = append(out, c.Name+"="+v+" path="+c.Path+" max-age="+strconv.Itoa(c.MaxAge)+" samesite="+strconv.Itoa(int(c.SameSite)))
		}
		slices.Sort(out)
		return out
	}
	for _, cookie := range []string{hitCookies, ""} {
		rn, bn := get(naive, cookie)
		ro, bo := get(ours, cookie)
		if rn.StatusCode != http.StatusOK || rn.StatusCode != ro.StatusCode || bn != string(pixel.GIF) || bn != bo {
			t.Fatalf("cookie %q: naive %d (%d bytes), ours %d (%d bytes)", cookie, rn.StatusCode, len(bn), ro.StatusCode, len(bo))
		}
		if a, b := headers(rn), headers(ro); !slices.Equal(a, b) {
			t.Errorf("cookie %q: headers\nnaive %q\nours  %q", cookie, a, b)
		}
		if a, b := cookies(rn, cookie != ""), cookies(ro, cookie != ""); !slices.Equal(a, b) || len(a) != 2 {
			t.Errorf("cookie %q: cookies\nnaive %v\nours  %v", cookie, a, b)
		}
	}
}
