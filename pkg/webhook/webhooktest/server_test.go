package webhooktest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/webhook"
)

var now = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

var secret = []byte("whsec_test")

func good() string {
	e := &event.Event{EventID: []byte("e1"), PixelID: []byte("px1"), VisitorID: []byte("v1"), Name: []byte("Purchase"),
		TS: now.Unix(), ReceivedAt: now.Unix(), URL: []byte("https://shop.example/"), Value: 5, Currency: []byte("EUR")}
	return string(event.AppendJSON(nil, e))
}

func body(events ...string) string {
	return `{"sent_at":"2026-12-01T21:00:00Z","events":[` + strings.Join(events, ",") + `]}`
}

func signed(b string) http.Header {
	ts := strconv.FormatInt(now.Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(webhook.HeaderTimestamp, ts)
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, []byte(b)))
	h.Set(webhook.HeaderDelivery, "d1")
	return h
}

func TestCheckValid(t *testing.T) {
	for _, b := range []string{
		body(good()),
		body(strings.Repeat(good()+",", webhook.MaxBatch-1) + good()),
		`{"events":[` + good() + `],"sent_at":"2026-12-01T21:00:00.5+01:00"}`,
	} {
		rec, status, p := Check(secret, http.MethodPost, signed(b), []byte(b), now, 0)
		if len(p) != 0 || status != 200 || len(rec.Events) == 0 || rec.Delivery != "d1" || rec.SentAt.IsZero() {
			t.Errorf("valid body refused (%d): %v\n%.200s", status, p, b)
		}
	}
}

func TestCheckViolations(t *testing.T) {
	r := func(old, new string) string { return body(strings.Replace(good(), old, new, 1)) }
	for _, tc := range []struct {
		name, method, body, want string
		header                   func(http.Header)
		status                   int
	}{
		{name: "GET", method: "GET", body: body(good()), want: "method"},
		{name: "form", body: body(good()), header: func(h http.Header) { h.Set("Content-Type", "text/plain") }, want: "Content-Type"},
		{name: "no delivery", body: body(good()), header: func(h http.Header) { h.Del(webhook.HeaderDelivery) }, want: "X-Pixel-Delivery"},
		{name: "no signature", body: body(good()), header: func(h http.Header) { h.Del(webhook.HeaderSignature) }, want: "X-Pixel-Signature", status: 401},
		{name: "old timestamp", body: body(good()), header: func(h http.Header) {
			ts := strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)
			h.Set(webhook.HeaderTimestamp, ts)
			h.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, []byte(body(good()))))
		}, want: "tolerance", status: 401},
		{name: "not JSON", body: `events=1`, want: "not a JSON object"},
		{name: "two values", body: body(good()) + `{}`, want: "more than one"},
		{name: "unknown field", body: `{"sent_at":"2026-12-01T21:00:00Z","events":[` + good() + `],"x":1}`, want: "unknown body field"},
		{name: "no sent_at", body: `{"events":[` + good() + `]}`, want: "sent_at is missing"},
		{name: "sent_at unix", body: `{"sent_at":"1764622800","events":[` + good() + `]}`, want: "not RFC 3339"},
		{name: "no events", body: `{"sent_at":"2026-12-01T21:00:00Z"}`, want: "events is missing"},
		{name: "events object", body: `{"sent_at":"2026-12-01T21:00:00Z","events":{}}`, want: "events is missing"},
		{name: "empty events", body: body(), want: "events is empty"},
		{name: "501 events", body: body(strings.Repeat(good()+",", webhook.MaxBatch) + good()), want: "more than 500"},
		{name: "event not object", body: body(`"e1"`), want: "not an object"},
		{name: "event without id", body: r(`"event_id":"e1",`, ``), want: "not a pixel event"},
		{name: "value as string", body: r(`"value":5`, `"value":"5"`), want: "not a pixel event"},
		{name: "other key order", body: r(`"event_id":"e1","pixel_id":"px1"`, `"pixel_id":"px1","event_id":"e1"`), want: "not as pkg/event writes it"},
		{name: "camelCase key", body: r(`"visitor_id":"v1"`, `"visitor_id":"v1","visitorId":"v1"`), want: "not as pkg/event writes it"},
		{name: "spaces", body: r(`"event":"Purchase"`, `"event": "Purchase"`), want: "not as pkg/event writes it"},
	} {
		method := tc.method
		if method == "" {
			method = http.MethodPost
		}
		h := signed(tc.body)
		if tc.header != nil {
			tc.header(h)
		}
		want := tc.status
		if want == 0 {
			want = 400
		}
		_, status, p := Check(secret, method, h, []byte(tc.body), now, 0)
		if status != want || len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, status, p, want, tc.want)
		}
	}
}

// FuzzCheck: the contract check never panics on a signed body of any
// shape, and what it accepts decodes to events.
func FuzzCheck(f *testing.F) {
	f.Add(body(good()))
	f.Add(body())
	f.Add(`{"sent_at":"2026-12-01T21:00:00Z","events":[{"event_id":1}]}`)
	f.Add(`{"sent_at":null,"events":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, b string) {
		rec, status, p := Check(secret, http.MethodPost, signed(b), []byte(b), now, 0)
		if len(p) == 0 && (status != 200 || len(rec.Events) == 0 || len(rec.Events) > webhook.MaxBatch) {
			t.Fatalf("accepted %q: status %d, %d events", b, status, len(rec.Events))
		}
		if len(p) > 0 && status == 200 {
			t.Fatalf("refused %q with status 200", b)
		}
	})
}
