// Package webhooktest is a contract server for pkg/webhook: a local HTTPS
// server (httptest.NewTLSServer) that checks every request as a careful
// receiver would and records the events it accepted. Tests of pkg/webhook
// and of the forwarder point their client at it. Its API has the shape of
// pkg/metacapi/metacapitest's (New, FailNext with RateLimited, ServerError
// and Refusal, Received, Events, Violations, Attempts), so that a test
// drives the three destination kinds alike.
//
// It checks: POST; Content-Type application/json; X-Pixel-Delivery
// present; X-Pixel-Timestamp and X-Pixel-Signature with webhook.Verify
// (secret, tolerance); the body an object of exactly sent_at (RFC 3339) and
// events (1 to webhook.MaxBatch objects); and each event exactly as
// pkg/event writes it: event.Parse accepts it and event.AppendJSON writes
// it back byte for byte. A request that breaks a rule is answered 400 (401
// for a signature or timestamp) with {"error": rule} and recorded in
// Violations, so that a test asserts there were none.
package webhooktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/webhook"
)

// Failure is a scripted answer.
type Failure struct {
	Status     int
	RetryAfter string // the Retry-After header, "" for none
	Body       string
}

// RateLimited is a 429 with Retry-After (seconds or an HTTP date).
func RateLimited(retryAfter string) Failure {
	return Failure{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Body: `{"error":"rate limited"}`}
}

// ServerError is a 500, as a receiver whose database is down answers.
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError, Body: `{"error":"internal error"}`}
}

// Refusal is a permanent 400 with the receiver's error body.
func Refusal() Failure {
	return Failure{Status: http.StatusBadRequest, Body: RefusalBody}
}

// RefusalBody is the body of Refusal.
const RefusalBody = `{"error":"invalid_event","message":"the receiver refused the batch"}`

// Received is one request the server accepted.
type Received struct {
	Delivery  string           // X-Pixel-Delivery
	Timestamp string           // X-Pixel-Timestamp
	SentAt    time.Time        // the body's sent_at
	Events    []map[string]any // the events array, numbers as json.Number
	Body      []byte
}

// Server is the contract server. Set its fields before the first request.
type Server struct {
	*httptest.Server

	// Secret is the signing secret it verifies with.
	Secret []byte
	// Tolerance is the timestamp tolerance; 0: webhook.DefaultTolerance.
	Tolerance time.Duration
	// Now is its clock for the timestamp; nil: time.Now.
	Now func() time.Time

	mu         sync.Mutex
	received   []Received
	violations []string
	failures   []Failure
	attempts   int
}

// New starts a contract server that verifies signatures with secret; close
// it with Close. Use its Client() (it trusts the server's certificate) as
// the webhook.Client's HTTP client and its URL as the Client's URL.
func New(secret []byte) *Server {
	s := &Server{Secret: secret}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// FailNext makes the next n valid requests get f instead of acceptance.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// Received returns the accepted requests, in order.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Events returns the events of all accepted requests, in order.
func (s *Server) Events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, r := range s.received {
		out = append(out, r.Events...)
	}
	return out
}

// Violations returns every way a request broke the contract, in order; a
// test asserts it is empty.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Attempts is the number of requests that reached the handler.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	rec, status, problems := Check(s.Secret, r.Method, r.Header, body, now, s.Tolerance)
	if len(problems) > 0 {
		s.violations = append(s.violations, problems...)
		msg, _ := json.Marshal(problems[0])
		answer(w, status, "", `{"error":`+string(msg)+`}`)
		return
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		answer(w, f.Status, f.RetryAfter, f.Body)
		return
	}
	s.received = append(s.received, rec)
	answer(w, http.StatusOK, "", fmt.Sprintf(`{"received":%d}`, len(rec.Events)))
}

func answer(w http.ResponseWriter, status int, retryAfter, body string) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// Check checks one request at the time now and returns it decoded, the
// status a receiver answers a broken one with (401 for a signature or
// timestamp, else 400), and every violation found (none: a valid request).
// The server calls it for every request; a test may call it directly.
func Check(secret []byte, method string, h http.Header, body []byte, now time.Time, tolerance time.Duration) (Received, int, []string) {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	rec := Received{Body: body, Delivery: h.Get(webhook.HeaderDelivery), Timestamp: h.Get(webhook.HeaderTimestamp)}
	if err := webhook.Verify(string(secret), rec.Timestamp, h.Get(webhook.HeaderSignature), body, now, tolerance); err != nil {
		return rec, http.StatusUnauthorized, []string{err.Error()}
	}
	if method != http.MethodPost {
		add("method %s, want POST", method)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		add("Content-Type %q, want application/json", ct)
	}
	if rec.Delivery == "" {
		add("no %s header", webhook.HeaderDelivery)
	}
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&top); err != nil {
		add("body is not a JSON object: %v", err)
		return rec, http.StatusBadRequest, p
	}
	if dec.More() {
		add("body holds more than one JSON value")
	}
	for k := range top {
		if k != "sent_at" && k != "events" {
			add("unknown body field %q", k)
		}
	}
	var sentAt string
	if err := json.Unmarshal(top["sent_at"], &sentAt); err != nil {
		add("sent_at is missing or not a string")
	} else if t, err := time.Parse(time.RFC3339Nano, sentAt); err != nil {
		add("sent_at %q is not RFC 3339: %v", sentAt, err)
	} else {
		rec.SentAt = t
	}
	var events []json.RawMessage
	if err := json.Unmarshal(top["events"], &events); err != nil || top["events"] == nil {
		add("events is missing or not an array")
	}
	switch n := len(events); {
	case top["events"] != nil && n == 0:
		add("events is empty")
	case n > webhook.MaxBatch:
		add("events holds %d events, more than %d", n, webhook.MaxBatch)
	}
	var e event.Event
	for i, raw := range events {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			add("events[%d] is not an object", i)
			continue
		}
		if err := event.Parse(raw, &e); err != nil {
			add("events[%d] is not a pixel event: %v", i, err)
			continue
		}
		if again := event.AppendJSON(nil, &e); !bytes.Equal(again, raw) {
			add("events[%d] is not as pkg/event writes it:\n got %s\nwant %s", i, raw, again)
			continue
		}
		rec.Events = append(rec.Events, m)
	}
	if len(p) > 0 {
		return rec, http.StatusBadRequest, p
	}
	return rec, http.StatusOK, nil
}
