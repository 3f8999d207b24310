package collector_test

import (
	"context"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	analytics "gopkg.in/segmentio/analytics-go.v3"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/kafkadefault"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/publish"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// segmentCallback records what the Segment client says of each message.
type segmentCallback struct {
	mu        sync.Mutex
	succeeded []string // messageIds
	failed    []error
}

func (c *segmentCallback) Success(m analytics.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m := m.(type) {
	case analytics.Track:
		c.succeeded = append(c.succeeded, m.MessageId)
	case analytics.Page:
		c.succeeded = append(c.succeeded, m.MessageId)
	case analytics.Identify:
		c.succeeded = append(c.succeeded, m.MessageId)
	}
}

func (c *segmentCallback) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = append(c.failed, err)
}

// TestSegmentClientToKafka sends track, page and identify calls with
// Segment's own Go library (analytics-go v3, not ours), in batches, to a
// collector serving on loopback, which publishes through the real
// publisher to an in-process Kafka broker; the messages read back from
// the topic are the rows ClickHouse would load, checked field by field.
func TestSegmentClientToKafka(t *testing.T) {
	cluster := devstacktest.Broker(t, 1, kafkadefault.Topic)
	brokers := cluster.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub, err := publish.New(publish.Config{Brokers: brokers, Topic: kafkadefault.Topic, Linger: time.Millisecond, WriteTimeout: 2 * time.Second},
		zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := collector.DefaultConfig()
	snap := segmentSnapshot()
	cfg.Registry = func() *registry.Snapshot { return snap }
	srv := collector.New(cfg, pub, zerolog.Nop(), metrics.NewSet())
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	cb := &segmentCallback{}
	client, err := analytics.NewWithConfig(segKey, analytics.Config{
		Endpoint:  "http://" + ln.Addr().String(),
		BatchSize: 2, // three batches for the five messages, the last flushed by Close
		Interval:  time.Hour,
		Callback:  cb,
		Logger:    testLogger{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Millisecond)
	const ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
	pageCtx := &analytics.Context{
		IP:        net.ParseIP("198.51.100.23"),
		UserAgent: ua,
		Page:      analytics.PageInfo{URL: "https://shop.example/thanks?fbclid=FB1", Referrer: "https://www.facebook.com/"},
		Campaign:  analytics.CampaignInfo{Name: "spring", Source: "facebook", Medium: "paid", Term: "boots", Content: "video"},
		Traits:    analytics.NewTraits().SetEmail(" Jane.Doe@GMail.com "),
	}
	messages := []analytics.Message{
		analytics.Page{MessageId: "seg-page-1", AnonymousId: "anon-7", Name: "Thanks", Timestamp: at, Context: pageCtx,
			Properties: analytics.NewProperties().SetURL("https://shop.example/thanks?fbclid=FB1")},
		analytics.Track{MessageId: "seg-order-1001", AnonymousId: "anon-7", UserId: "cust-42", Event: "Order Completed", Timestamp: at, Context: pageCtx,
			Properties: analytics.NewProperties().SetOrderId("1001").SetRevenue(129.99).SetCurrency("eur").SetCoupon("WINTER").
				SetProducts(analytics.Product{ID: "sku-1", Price: 99.99}, analytics.Product{ID: "sku-2", Price: 30})},
		analytics.Track{MessageId: "seg-video-1", AnonymousId: "anon-7", Event: "Video Played", Timestamp: at,
			Properties: analytics.NewProperties().Set("seconds", 42)},
		analytics.Identify{MessageId: "seg-identify-1", AnonymousId: "anon-7", UserId: "cust-42", Timestamp: at,
			Traits: analytics.NewTraits().SetEmail("jane.doe@gmail.com").SetPhone("+1 (555) 010-0000").SetName("Jane Doe")},
		analytics.Track{MessageId: "seg-signup-1", UserId: "cust-43", Event: "Signed Up", Timestamp: at},
	}
	for _, m := range messages {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil { // flushes and waits for the answers
		t.Fatal(err)
	}
	sort.Strings(cb.succeeded)
	if len(cb.failed) != 0 || len(cb.succeeded) != len(messages) {
		t.Fatalf("the client delivered %v, failed %v", cb.succeeded, cb.failed)
	}

	rows := readTopic(ctx, t, brokers, len(messages))
	email, emailGoogle := secretHash("jane.doe@gmail.com"), secretHash("janedoe@gmail.com")
	for id, want := range map[string]map[string]string{
		"seg-page-1": {"event": "PageView", "visitor_id": "anon-7", "url": "https://shop.example/thanks?fbclid=FB1",
			"referrer": "https://www.facebook.com/", "referrer_host": "www.facebook.com", "fbclid": "FB1", "props": `{"name":"Thanks"}`,
			"ip": "198.51.100.23", "user_agent": ua, "utm_campaign": "spring", "utm_source": "facebook", "utm_medium": "paid",
			"utm_term": "boots", "utm_content": "video", "email_sha256": email, "email_google_sha256": emailGoogle, "external_id": ""},
		"seg-order-1001": {"event": "Purchase", "visitor_id": "anon-7", "external_id": "cust-42", "order_id": "1001",
			"value": "129.99", "currency": "EUR", "content_ids": "sku-1,sku-2", "props": `{"coupon":"WINTER"}`,
			"url": "https://shop.example/thanks?fbclid=FB1", "fbclid": "FB1", "ip": "198.51.100.23", "email_sha256": email},
		"seg-video-1": {"event": "Video Played", "props": `{"seconds":"42"}`, "url": "", "ip": "", "action_source": "other"},
		"seg-identify-1": {"event": "Identify", "visitor_id": "anon-7", "external_id": "cust-42", "email_sha256": email,
			"email_google_sha256": emailGoogle, "phone_sha256": secretHash("15550100000"), "phone_google_sha256": secretHash("+15550100000"), "props": "", "action_source": "other"},
		"seg-signup-1": {"event": "CompleteRegistration", "external_id": "cust-43", "action_source": "other"},
	} {
		row, ok := rows[id]
		if !ok {
			t.Errorf("%s did not reach Kafka", id)
			continue
		}
		for field, v := range map[string]string{"pixel_id": "seg1", "channel": "server", "consent": "granted", "format": event.Version} {
			if _, set := want[field]; !set {
				want[field] = v
			}
		}
		if _, set := want["action_source"]; !set {
			want["action_source"] = "website"
		}
		for field, v := range want {
			if row[field] != v {
				t.Errorf("%s: %s = %q, want %q", id, field, row[field], v)
			}
		}
		// The event time is the library's timestamp, corrected by the
		// batch's sentAt for the clock skew: within the few seconds the
		// test's request took, never before the timestamp itself.
		if ms := row["ts_ms"]; ms < formatMs(at) || ms > formatMs(time.Now()) {
			t.Errorf("%s: ts_ms %s, want from %s", id, ms, formatMs(at))
		}
		for _, raw := range []string{"jane", "(555)", "010-0000"} {
			if strings.Contains(strings.ToLower(row["raw"]), raw) {
				t.Errorf("%s: the raw %q reached Kafka: %s", id, raw, row["raw"])
			}
		}
	}
	if v := rows["seg-signup-1"]["visitor_id"]; len(v) != 22 {
		t.Errorf("a userId-only message: visitor_id %q, want a new id", v)
	}
}

// testLogger is the Segment client's log, in the test's.
type testLogger struct{ t *testing.T }

func (l testLogger) Logf(format string, args ...any) { l.t.Logf("analytics-go: "+format, args...) }
func (l testLogger) Errorf(format string, args ...any) {
	l.t.Logf("analytics-go error: "+format, args...)
}

func formatMs(t time.Time) string { return padMs(t.UnixMilli()) }

// padMs writes ms with a fixed width, so that strings compare as numbers.
func padMs(ms int64) string {
	s := make([]byte, 0, 16)
	for d := int64(1e15); d > 0; d /= 10 {
		s = append(s, byte('0'+ms/d%10))
	}
	return string(s)
}

// readTopic reads n messages of the events topic, failing at ctx's end,
// and returns them by event_id as field texts (content_ids joined by
// commas, ts_ms padded; "raw": the message, "format": its header).
func readTopic(ctx context.Context, t *testing.T, brokers []string, n int) map[string]map[string]string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: kafkadefault.Topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rows := map[string]map[string]string{}
	for len(rows) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d of %d messages: %v", len(rows), n, err)
		}
		var e event.Event
		if err := event.Parse(m.Value, &e); err != nil {
			t.Fatalf("message %s: %v", m.Value, err)
		}
		row := map[string]string{
			"raw": string(m.Value), "key": string(m.Key), "pixel_id": string(e.PixelID), "event": string(e.Name),
			"visitor_id": string(e.VisitorID), "url": string(e.URL), "referrer": string(e.Referrer), "order_id": string(e.OrderID),
			"currency": string(e.Currency), "ip": string(e.IP), "user_agent": string(e.UserAgent), "props": string(e.Props),
			"ts_ms": padMs(e.Millis()),
		}
		if e.Value != 0 {
			row["value"] = strconv.FormatFloat(e.Value, 'g', -1, 64)
		}
		for _, h := range m.Headers {
			if h.Key == event.Header {
				row["format"] = string(h.Value)
			}
		}
		ids := ""
		for i, id := range e.ContentIDs {
			if i > 0 {
				ids += ","
			}
			ids += string(id)
		}
		row["content_ids"] = ids
		for i, col := range event.TrackingColumns {
			row[col] = string(e.Tracking[i])
		}
		if row["key"] != row["visitor_id"] {
			t.Errorf("message key %q, visitor_id %q", row["key"], row["visitor_id"])
		}
		rows[string(e.EventID)] = row
	}
	return rows
}
