package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/webhook"
	"github.com/pixel-pipeline/pixel/pkg/webhook/webhooktest"
)

var now = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

var secret = []byte("whsec_test")

func sample(i int) *event.Event {
	e := &event.Event{
		EventID: []byte("e" + strconv.Itoa(i)), PixelID: []byte("px1"), VisitorID: []byte("v1"), SessionID: []byte("s1"),
		Name: []byte("Purchase"), TS: now.Unix() - 60, ReceivedAt: now.Unix() - 59, URL: []byte("https://shop.example/thanks?x=\"1\""),
		Value: 19.9, Currency: []byte("EUR"), OrderID: []byte("o-1"), ContentIDs: [][]byte{[]byte("sku1"), []byte("sku2")},
		IP: []byte("203.0.113.7"), UserAgent: []byte("Mozilla/5.0"), Props: []byte(`{"coupon":"X"}`), GPC: i%2 == 1,
	}
	e.Tracking[event.GCLID] = []byte("Cj0KCQ")
	e.Tracking[event.EmailSHA256] = []byte(strings.Repeat("ab", 32))
	return e
}

func samples(n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		out[i] = sample(i)
	}
	return out
}

func TestBuild(t *testing.T) {
	for _, n := range []int{0, 1, 3, webhook.MaxBatch} {
		evs := samples(n)
		body := webhook.Build(evs, now.In(time.FixedZone("CET", 3600)))
		var top struct {
			SentAt string            `json:"sent_at"`
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(body, &top); err != nil {
			t.Fatalf("%d events: body is not JSON: %v", n, err)
		}
		if top.SentAt != "2026-12-01T21:00:00Z" {
			t.Errorf("sent_at %q, want UTC RFC 3339", top.SentAt)
		}
		if len(top.Events) != n {
			t.Fatalf("%d events in the body, want %d", len(top.Events), n)
		}
		for i, raw := range top.Events {
			if want := event.AppendJSON(nil, evs[i]); !bytes.Equal(raw, want) {
				t.Errorf("events[%d] = %s, want pkg/event's %s", i, raw, want)
			}
		}
	}
	// Nanoseconds are kept.
	if b := webhook.Build(samples(1), now.Add(123456789)); !bytes.HasPrefix(b, []byte(`{"sent_at":"2026-12-01T21:00:00.123456789Z","events":[{"event_id":"e0"`)) {
		t.Errorf("body %.80s", b)
	}
}

func TestSignVerify(t *testing.T) {
	body := webhook.Build(samples(2), now)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := webhook.Sign(secret, ts, body)
	if !strings.HasPrefix(sig, "v1=") || len(sig) != 3+64 {
		t.Fatalf("signature %q is not v1=<64 hex>", sig)
	}
	// The documented construction, computed independently of Sign's code
	// path: a receiver in another language does exactly this.
	if got := webhook.Sign(secret, ts, body); got != sig {
		t.Fatalf("Sign is not deterministic: %q, %q", got, sig)
	}
	other := webhook.Sign([]byte("whsec_other"), ts, body)
	tampered := bytes.Replace(body, []byte(`"value":19.9`), []byte(`"value":1999`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatal("tampering changed nothing")
	}
	old := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	future := strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)
	for _, tc := range []struct {
		name           string
		secret, ts, sg string
		body           []byte
		tolerance      time.Duration
		want           error // nil: accepted
	}{
		{"valid", string(secret), ts, sig, body, 0, nil},
		{"valid, 4 minutes old", string(secret), strconv.FormatInt(now.Add(-4*time.Minute).Unix(), 10), webhook.Sign(secret, strconv.FormatInt(now.Add(-4*time.Minute).Unix(), 10), body), body, 0, nil},
		{"valid, rotating secrets", string(secret), ts, other + ", " + sig, body, 0, nil},
		{"valid, unknown scheme ignored", string(secret), ts, "v0=abc," + sig, body, 0, nil},
		{"valid, upper-case hex", string(secret), ts, "v1=" + strings.ToUpper(sig[3:]), body, 0, nil},
		{"tampered body", string(secret), ts, sig, tampered, 0, webhook.ErrSignature},
		{"empty body", string(secret), ts, sig, nil, 0, webhook.ErrSignature},
		{"tampered timestamp", string(secret), strconv.FormatInt(now.Unix()-1, 10), sig, body, 0, webhook.ErrSignature},
		{"wrong secret", "whsec_other", ts, sig, body, 0, webhook.ErrSignature},
		{"no v1 entry", string(secret), ts, "v0=" + sig[3:], body, 0, webhook.ErrSignature},
		{"empty signature", string(secret), ts, "", body, 0, webhook.ErrSignature},
		{"bare hex", string(secret), ts, sig[3:], body, 0, webhook.ErrSignature},
		{"short hex", string(secret), ts, sig[:len(sig)-2], body, 0, webhook.ErrSignature},
		{"odd hex", string(secret), ts, sig[:len(sig)-1], body, 0, webhook.ErrSignature},
		{"too many entries", string(secret), ts, strings.Repeat(other+",", 8) + sig, body, 0, webhook.ErrSignature},
		{"replayed after 6 minutes", string(secret), old, webhook.Sign(secret, old, body), body, 0, webhook.ErrTimestamp},
		{"6 minutes ahead", string(secret), future, webhook.Sign(secret, future, body), body, 0, webhook.ErrTimestamp},
		{"6 minutes within a 10 minute tolerance", string(secret), old, webhook.Sign(secret, old, body), body, 10 * time.Minute, nil},
		{"timestamp in ms", string(secret), strconv.FormatInt(now.UnixMilli(), 10), webhook.Sign(secret, strconv.FormatInt(now.UnixMilli(), 10), body), body, 0, webhook.ErrTimestamp},
		{"signed timestamp", string(secret), "+" + ts, webhook.Sign(secret, "+"+ts, body), body, 0, webhook.ErrTimestamp},
		{"fractional timestamp", string(secret), ts + ".5", webhook.Sign(secret, ts+".5", body), body, 0, webhook.ErrTimestamp},
		{"no timestamp", string(secret), "", sig, body, 0, webhook.ErrTimestamp},
	} {
		err := webhook.Verify(tc.secret, tc.ts, tc.sg, tc.body, now, tc.tolerance)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := webhook.Verify("", ts, sig, body, now, 0); err == nil || !strings.Contains(err.Error(), "signing_secret") {
		t.Errorf("no secret: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		outcome    webhook.Outcome
		delay      time.Duration
	}{
		{"200", 200, "", `{"ok":true}`, webhook.Accepted, 0},
		{"202 empty", 202, "", "", webhook.Accepted, 0},
		{"204", 204, "", "", webhook.Accepted, 0},
		{"429 seconds", 429, "12", "", webhook.Retry, 12 * time.Second},
		{"429 no header", 429, "", "", webhook.Retry, 0},
		{"429 bad header", 429, "soon", "", webhook.Retry, 0},
		{"429 huge header", 429, "99999999999999999999", "", webhook.Retry, time.Hour},
		{"503 HTTP date", 503, "Tue, 01 Dec 2026 21:01:00 GMT", "", webhook.Retry, time.Minute},
		{"503 past date", 503, "Tue, 01 Dec 2026 20:00:00 GMT", "", webhook.Retry, 0},
		{"500", 500, "", `{"error":"db down"}`, webhook.Retry, 0},
		{"502 HTML", 502, "", "<html>bad gateway</html>", webhook.Retry, 0},
		{"408", 408, "", "", webhook.Retry, 0},
		{"400 with body", 400, "30", `{"error":"bad"}`, webhook.Refused, 0},
		{"401", 401, "", "", webhook.Refused, 0},
		{"404", 404, "", "not found", webhook.Refused, 0},
		{"410", 410, "", "", webhook.Refused, 0},
		{"301", 301, "", "", webhook.Refused, 0},
		{"100", 100, "", "", webhook.Refused, 0},
	} {
		r := webhook.Classify(tc.status, tc.retryAfter, []byte(tc.body), now)
		if r.Outcome != tc.outcome || r.RetryAfter != tc.delay || r.Status != tc.status || string(r.Body) != tc.body {
			t.Errorf("%s: %+v, want %v after %v", tc.name, r, tc.outcome, tc.delay)
		}
		if r.Outcome != webhook.Accepted && !strings.Contains(r.Reason, strconv.Itoa(tc.status)) {
			t.Errorf("%s: reason %q does not name the status", tc.name, r.Reason)
		}
		if tc.outcome == webhook.Refused && tc.body != "" && !strings.Contains(r.Reason, tc.body) {
			t.Errorf("%s: reason %q leaves out the body", tc.name, r.Reason)
		}
	}
	for o, want := range map[webhook.Outcome]string{webhook.Accepted: "accepted", webhook.Retry: "retry", webhook.Refused: "refused", 0: "outcome(0)", 9: "outcome(9)"} {
		if o.String() != want {
			t.Errorf("Outcome(%d) = %q, want %q", o, o.String(), want)
		}
	}
}

func client(s *webhooktest.Server) *webhook.Client {
	return &webhook.Client{HTTP: s.Client(), URL: s.URL + "/hooks/pixel", Secret: secret, Now: func() time.Time { return now }}
}

func contract(t *testing.T) *webhooktest.Server {
	t.Helper()
	s := webhooktest.New(secret)
	s.Now = func() time.Time { return now }
	t.Cleanup(s.Close)
	return s
}

func TestSendAccepted(t *testing.T) {
	s := contract(t)
	c := client(s)
	evs := samples(3)
	r, err := c.Send(context.Background(), webhook.Build(evs, now), len(evs))
	if err != nil || r.Outcome != webhook.Accepted || r.Status != 200 {
		t.Fatalf("Send: %+v, %v", r, err)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Fatalf("contract violations: %v", v)
	}
	got := s.Received()
	if len(got) != 1 || len(got[0].Events) != 3 || !got[0].SentAt.Equal(now) || got[0].Timestamp != strconv.FormatInt(now.Unix(), 10) {
		t.Fatalf("received %+v", got)
	}
	for i, e := range s.Events() {
		if e["event_id"] != "e"+strconv.Itoa(i) || e["value"] != json.Number("19.9") || e["gclid"] != "Cj0KCQ" {
			t.Errorf("event %d: %v", i, e)
		}
	}
	// Another send is another delivery.
	if _, err := c.Send(context.Background(), webhook.Build(evs[:1], now), 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Received(); len(got) != 2 || got[0].Delivery == got[1].Delivery || len(got[0].Delivery) != 32 {
		t.Errorf("delivery ids %q, %q: want two different random ids", got[0].Delivery, got[1].Delivery)
	}
}

func TestSendFailures(t *testing.T) {
	body := webhook.Build(samples(2), now)
	for _, tc := range []struct {
		name    string
		f       webhooktest.Failure
		outcome webhook.Outcome
		delay   time.Duration
	}{
		{"429 seconds", webhooktest.RateLimited("7"), webhook.Retry, 7 * time.Second},
		{"429 HTTP date", webhooktest.RateLimited(now.Add(90 * time.Second).Format(http.TimeFormat)), webhook.Retry, 90 * time.Second},
		{"500", webhooktest.ServerError(), webhook.Retry, 0},
		{"400", webhooktest.Refusal(), webhook.Refused, 0},
	} {
		s := contract(t)
		s.FailNext(1, tc.f)
		c := client(s)
		r, err := c.Send(context.Background(), body, 2)
		if err != nil || r.Outcome != tc.outcome || r.RetryAfter != tc.delay || r.Status != tc.f.Status || string(r.Body) != tc.f.Body {
			t.Errorf("%s: %+v, %v; want %v after %v", tc.name, r, err, tc.outcome, tc.delay)
		}
		// The next attempt of the same body is accepted.
		if r, err := c.Send(context.Background(), body, 2); err != nil || r.Outcome != webhook.Accepted {
			t.Errorf("%s: second attempt %+v, %v", tc.name, r, err)
		}
		if s.Attempts() != 2 || len(s.Received()) != 1 || len(s.Violations()) != 0 {
			t.Errorf("%s: %d attempts, %d received, violations %v", tc.name, s.Attempts(), len(s.Received()), s.Violations())
		}
	}
}

func TestSendRefusedByContract(t *testing.T) {
	s := contract(t)
	c := client(s)
	c.Secret = []byte("whsec_wrong")
	r, err := c.Send(context.Background(), webhook.Build(samples(1), now), 1)
	if err != nil || r.Outcome != webhook.Refused || r.Status != 401 {
		t.Errorf("wrong secret: %+v, %v", r, err)
	}
	c = client(s)
	c.Now = func() time.Time { return now.Add(-time.Hour) } // a sender whose clock is an hour slow
	if r, _ := c.Send(context.Background(), webhook.Build(samples(1), now), 1); r.Outcome != webhook.Refused || r.Status != 401 {
		t.Errorf("stale timestamp: %+v", r)
	}
	c = client(s)
	if r, _ := c.Send(context.Background(), webhook.Build(samples(webhook.MaxBatch+1), now), webhook.MaxBatch); r.Outcome != webhook.Refused || r.Status != 400 {
		t.Errorf("501 events: %+v", r)
	}
	if v := s.Violations(); len(v) != 3 || !strings.Contains(v[0], "does not match") || !strings.Contains(v[1], "tolerance") || !strings.Contains(v[2], "more than 500") {
		t.Errorf("violations %q", v)
	}
	if len(s.Received()) != 0 {
		t.Errorf("received %d", len(s.Received()))
	}
}

func TestSendErrors(t *testing.T) {
	s := contract(t)
	body := webhook.Build(samples(1), now)
	c := client(s)
	c.Secret = nil
	if r, err := c.Send(context.Background(), body, 1); err == nil || r.Outcome != webhook.Refused || !strings.Contains(err.Error(), "signing_secret") {
		t.Errorf("no secret: %+v, %v", r, err)
	}
	c = client(s)
	for _, n := range []int{0, webhook.MaxBatch + 1} {
		if r, err := c.Send(context.Background(), body, n); err == nil || r.Outcome != webhook.Refused {
			t.Errorf("%d events: %+v, %v", n, r, err)
		}
	}
	c.URL = "://nope"
	if r, err := c.Send(context.Background(), body, 1); err == nil || r.Outcome != webhook.Refused {
		t.Errorf("bad URL: %+v, %v", r, err)
	}
	if s.Attempts() != 0 {
		t.Errorf("%d requests reached the server", s.Attempts())
	}

	// No answer: Retry, Status 0.
	down := webhooktest.New(secret)
	c = client(down)
	down.Close()
	if r, err := c.Send(context.Background(), body, 1); err == nil || r.Outcome != webhook.Retry || r.Status != 0 {
		t.Errorf("server down: %+v, %v", r, err)
	}
}

// TestSendNoRedirect: a redirect is refused, not followed: the signed body
// goes nowhere but the configured URL.
func TestSendNoRedirect(t *testing.T) {
	s := contract(t)
	redirect := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	c := &webhook.Client{HTTP: redirect.Client(), URL: redirect.URL, Secret: secret, Now: func() time.Time { return now }}
	// redirect.Client trusts only its own certificate; the contract server's
	// is another, so a followed redirect would fail with a network error.
	r, err := c.Send(context.Background(), webhook.Build(samples(1), now), 1)
	if err != nil || r.Outcome != webhook.Refused || r.Status != 307 || !strings.Contains(r.Reason, "/elsewhere") {
		t.Errorf("redirect: %+v, %v", r, err)
	}
	if s.Attempts() != 0 {
		t.Errorf("the redirect was followed")
	}
}

func BenchmarkBuild(b *testing.B) {
	evs := samples(webhook.MaxBatch)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(webhook.Build(evs, now))
	}
	b.SetBytes(int64(n))
}

// TestBuildAllocs: a body is one allocation when its events are of a
// usual size (the buffer is sized for 512 bytes an event).
func TestBuildAllocs(t *testing.T) {
	evs := samples(webhook.MaxBatch)
	if n := testing.AllocsPerRun(20, func() { webhook.Build(evs, now) }); n != 1 {
		t.Errorf("Build allocates %v times for %d events, want 1", n, len(evs))
	}
}
