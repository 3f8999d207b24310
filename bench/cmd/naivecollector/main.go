// Command naivecollector is the collector a developer would write in an
// afternoon with the same libraries, the baseline `make bench` holds ours
// against: fasthttp, one struct per hit with the event's fields
// (bench/naive.Event) turned into JSON with encoding/json, and
// kafka-go's Writer with Async: true. It answers GET /p.gif with the same
// 200, 43-byte GIF, no-cache headers and two cookies as the collector and
// publishes every hit that names a pixel, keyed by visitor id with kafka-go's
// Murmur2Balancer (the partitioning of our collector and of Java clients).
// Everything else of the Writer is its default: batches of 100 messages or
// 1 s, acks=0 (RequireNone), errors unseen because the writes are async.
//
// It is plain on purpose, and written to be fair rather than slow: no
// reflection or allocation was added that such code would not have. What it
// does not do is what ours does on top: validate and bound every field, keep
// the acknowledgements, spool to disk when Kafka is away, expose metrics.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/bench/naive"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
)

func main() {
	var addr, topic string
	var brokers []string
	topic = "pixel.events"
	fs := flagenv.New("naivecollector", "A naive pixel collector (fasthttp, encoding/json, kafka-go's async Writer): the baseline\n`make bench` compares the collector with. Not for production: it validates nothing and loses\nevents silently when Kafka is away.")
	fs.String(&addr, "addr", "NAIVECOLLECTOR_ADDR", "127.0.0.1:8078", "listen address")
	fs.Kafka(&brokers, &topic)
	fs.ParseOrExit(os.Args[1:])
	fs.RunOrExit(run(addr, brokers, topic))
}

// run serves on addr until a signal, then flushes the writer.
func run(addr string, brokers []string, topic string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w; check -addr", addr, err)
	}
	w := &kafka.Writer{
		Addr:     kafka.TCP(brokers...),
		Topic:    topic,
		Balancer: &kafka.Murmur2Balancer{},
		Async:    true,
	}
	srv := newServer(&handler{w: w})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	}
	_ = srv.Shutdown()
	return w.Close()
}

// newServer is fasthttp's defaults (it says "Server: fasthttp" where ours
// says "Server: pixel").
func newServer(h *handler) *fasthttp.Server {
	return &fasthttp.Server{Handler: h.serve}
}

// writer is what the handler needs of kafka-go's Writer.
type writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

type handler struct{ w writer }

var gif = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func (h *handler) serve(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/p.gif":
		h.pixel(ctx)
	case "/healthz":
		ctx.SetBodyString("ok")
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

func (h *handler) pixel(ctx *fasthttp.RequestCtx) {
	ev, ok := eventOf(ctx, time.Now())
	if ok {
		value, err := json.Marshal(ev)
		if err == nil {
			_ = h.w.WriteMessages(context.Background(), kafka.Message{
				Key:     []byte(ev.VisitorID),
				Value:   value,
				Headers: []kafka.Header{{Key: "pixel-format", Value: []byte("1")}},
			})
		}
	}
	setCookie(ctx, "_pxid", ev.VisitorID, 400*24*time.Hour)
	setCookie(ctx, "_pxsid", ev.SessionID, 30*time.Minute)
	ctx.Response.Header.SetContentType("image/gif")
	ctx.Response.Header.Set("Cache-Control", "no-cache, no-store, must-revalidate, private, max-age=0")
	ctx.Response.Header.Set("Pragma", "no-cache")
	ctx.Response.Header.Set("Expires", "0")
	ctx.Response.Header.Set("Cross-Origin-Resource-Policy", "cross-origin")
	ctx.SetBody(gif)
}

// eventOf reads the hit's query parameters, headers and cookies; ok is
// false when it names no pixel.
func eventOf(ctx *fasthttp.RequestCtx, now time.Time) (ev naive.Event, ok bool) {
	ev = naive.Event{
		VisitorID:  string(ctx.Request.Header.Cookie("_pxid")),
		SessionID:  string(ctx.Request.Header.Cookie("_pxsid")),
		Event:      "PageView",
		TS:         now.Unix(),
		ReceivedAt: now.Unix(),
		URL:        string(ctx.Referer()),
		IP:         ctx.RemoteIP().String(),
		UserAgent:  string(ctx.UserAgent()),
	}
	if ev.VisitorID == "" {
		ev.VisitorID = newID()
	}
	if ev.SessionID == "" {
		ev.SessionID = newID()
	}
	props := map[string]string{}
	for k, v := range ctx.QueryArgs().All() {
		key, val := string(k), string(v)
		switch key {
		case "id":
			ev.PixelID = val
		case "ev":
			ev.Event = val
		case "eid":
			ev.EventID = val
		case "dl":
			ev.URL = val
		case "rl":
			ev.Referrer = val
		case "ts":
			if ms, err := strconv.ParseInt(val, 10, 64); err == nil && ms > 0 {
				ev.TS = ms / 1000
			}
		default:
			if name, ok := strings.CutPrefix(key, "cd["); ok && strings.HasSuffix(name, "]") {
				custom(&ev, props, strings.TrimSuffix(name, "]"), val)
			}
		}
	}
	if len(props) > 0 {
		b, _ := json.Marshal(props)
		ev.Props = string(b)
	}
	if ev.EventID == "" {
		ev.EventID = newUUID()
	}
	return ev, ev.PixelID != ""
}

// custom sets one cd[name] parameter.
func custom(ev *naive.Event, props map[string]string, name, val string) {
	switch name {
	case "value":
		ev.Value, _ = strconv.ParseFloat(val, 64)
	case "currency":
		ev.Currency = strings.ToUpper(val)
	case "order_id":
		ev.OrderID = val
	case "content_ids":
		if strings.HasPrefix(val, "[") {
			_ = json.Unmarshal([]byte(val), &ev.ContentIDs)
			return
		}
		for _, id := range strings.Split(val, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ev.ContentIDs = append(ev.ContentIDs, id)
			}
		}
	default:
		props[name] = val
	}
}

func setCookie(ctx *fasthttp.RequestCtx, name, value string, maxAge time.Duration) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(name)
	c.SetValue(value)
	c.SetPath("/")
	c.SetMaxAge(int(maxAge.Seconds()))
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	ctx.Response.Header.SetCookie(c)
}

// newID is a random 128-bit visitor or session id, as ours: 22 characters
// of base64url.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newUUID is a random UUID (version 4).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
