package metacapi_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metacapi"
	"github.com/pixel-pipeline/pixel/pkg/metacapi/metacapitest"
)

// FuzzClassify: any answer is classified as one of the three outcomes
// without a panic; only a 2xx whose events_received equals the events sent
// is accepted; a delay comes only with a retry, and stays within [0, 1h].
func FuzzClassify(f *testing.F) {
	f.Add(200, "", []byte(`{"events_received":1,"messages":[],"fbtrace_id":"A"}`), 1)
	f.Add(429, "30", []byte(`{"error":{"message":"(#4)","code":4}}`), 5)
	f.Add(400, "", []byte(metacapitest.RefusalBody), 1)
	f.Add(500, "Tue, 01 Dec 2026 21:01:00 GMT", []byte(`{"error":{"code":1,"is_transient":true}}`), 1000)
	f.Add(400, "-5", []byte(`{"error":null}`), 0)
	f.Add(200, "", []byte(`{"events_received":1e400}`), 1)
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte, sent int) {
		r := metacapi.Classify(status, retryAfter, body, sent, now)
		switch r.Outcome {
		case metacapi.Accepted:
			if status < 200 || status > 299 || r.EventsReceived != sent {
				t.Fatalf("accepted status %d, %d of %d", status, r.EventsReceived, sent)
			}
		case metacapi.Retry, metacapi.Refused:
			if r.Reason == "" {
				t.Fatal("no reason")
			}
		default:
			t.Fatalf("outcome %v", r.Outcome)
		}
		if r.RetryAfter < 0 || r.RetryAfter > time.Hour || (r.RetryAfter != 0 && r.Outcome != metacapi.Retry) {
			t.Fatalf("delay %v with %v", r.RetryAfter, r.Outcome)
		}
		if (status == 429 || status >= 500) && r.Outcome != metacapi.Retry {
			t.Fatalf("status %d is %v", status, r.Outcome)
		}
	})
}

// FuzzBuild: whatever the event's strings hold, every built request is
// valid JSON that the contract server accepts, and every event is either
// built once or skipped with a reason.
func FuzzBuild(f *testing.F) {
	f.Add("Purchase", "eid", "https://shop.example/", "Mozilla/5.0", "203.0.113.7", "EUR", "o1", "sku", "IwAR", "user-1", "website", 19.9, int64(60), int64(0))
	f.Add("a\"b", "\x00\xff", "https://x/\u2028", "\\", "::1", "", "", "", "", "", "", 0.0, int64(0), int64(1))
	f.Add("Lead", "e", "", "", "", "", "", "", "fb", "", "phone_call", -1e15, int64(700000), int64(-1))
	f.Add("Purchase", "e", "https://a.example/", "UA", "::1", "EUR", "", "", "", "", "", math.NaN(), int64(1), int64(1))
	f.Add("Purchase", "e", "https://a.example/", "UA", "::1", "EUR", "", "", "", "", "", math.Inf(-1), int64(1), int64(1))
	f.Fuzz(func(t *testing.T, name, id, u, ua, ip, currency, order, content, fbclid, ext, src string, value float64, age, clickAgo int64) {
		e := &event.Event{
			EventID: []byte(id), Name: []byte(name), URL: []byte(u), UserAgent: []byte(ua), IP: []byte(ip),
			Currency: []byte(currency), OrderID: []byte(order), Value: value,
			TS: now.Unix() - age, ClickTSMs: now.UnixMilli() - clickAgo,
		}
		if content != "" {
			e.ContentIDs = [][]byte{[]byte(content)}
		}
		e.Tracking[event.FBCLID], e.Tracking[event.ExternalID], e.Tracking[event.ActionSource] = []byte(fbclid), []byte(ext), []byte(src)
		b, err := metacapi.NewBuilder(metacapi.Options{PixelID: "1", LimitedDataUse: age%2 == 0, TestEventCode: "T"})
		if err != nil {
			t.Fatal(err)
		}
		reqs, skips := b.Build([]*event.Event{e, e}, now)
		built := 0
		for _, r := range reqs {
			built += len(r.Events)
			if !json.Valid(r.Body) {
				t.Fatalf("invalid JSON: %q", r.Body)
			}
			if _, problems := metacapitest.Check(http.MethodPost, "/v25.0/1/events", url.Values{"access_token": {"t"}}, "application/json", r.Body, now); len(problems) > 0 && contractual(e) {
				t.Fatalf("contract violations %q\n%s", problems, r.Body)
			}
		}
		if built+len(skips) != 2 {
			t.Fatalf("%d built, %d skipped", built, len(skips))
		}
		for _, s := range skips {
			if s.Reason == "" {
				t.Fatal("skip without a reason")
			}
		}
	})
}

// contractual reports whether the builder promises a valid request for e.
// It does for every event the collector can write; the fuzzer also makes
// events it cannot (free text where the collector writes a parsed URL, IP
// or ISO 4217 code), and for those the builder only promises valid JSON.
func contractual(e *event.Event) bool {
	if len(e.URL) > 0 {
		pu, err := url.Parse(string(e.URL))
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return false
		}
	}
	if _, err := netip.ParseAddr(string(e.IP)); err != nil && len(e.IP) > 0 {
		return false
	}
	if c := e.Currency; len(c) > 0 && !(len(c) == 3 && isUpper(c[0]) && isUpper(c[1]) && isUpper(c[2])) {
		return false
	}
	// An fbclid comes from a URL query: never white space, never empty.
	return !strings.ContainsAny(string(e.Tracking[event.FBCLID]), " \t\n\r\v\f\u0085\u00a0.") || len(e.Tracking[event.FBCLID]) == 0
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
