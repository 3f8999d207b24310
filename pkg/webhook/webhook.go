// Package webhook delivers events to any HTTPS endpoint as signed JSON: the
// forwarder's third destination kind, for a team's own systems (a CRM, a
// data warehouse loader, a serverless function).
//
// A request is a POST of Build's body, {"sent_at": ..., "events": [...]},
// each event exactly as pkg/event writes it to Kafka (the column names of
// pixel.events, schemas/event-format.md), at most MaxBatch events. It is
// signed like Stripe's webhooks: the header X-Pixel-Timestamp holds the Unix
// seconds of the sending, and X-Pixel-Signature "v1=" and the hex
// HMAC-SHA256, keyed with the destination's signing secret, of the
// timestamp, a dot and the body. A receiver checks both with Verify, which
// also refuses a timestamp outside its tolerance, so that a captured request
// cannot be replayed later. X-Pixel-Delivery is a random id of the attempt
// for the receiver's logs; a retried batch is the same body (same sent_at,
// same event ids) under a new delivery id, so receivers de-duplicate on
// event_id.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/metacapi"
)

// MaxBatch is the most events one request carries; the caller splits
// larger batches.
const MaxBatch = 500

// MaxAnswer bounds how much of an answer is read and kept.
const MaxAnswer = 64 << 10

// DefaultTolerance is the age Verify allows a timestamp when given none,
// Stripe's default: wide enough for clock skew and a slow network, narrow
// enough that a replayed request is refused.
const DefaultTolerance = 5 * time.Minute

// The headers of a request.
const (
	HeaderTimestamp = "X-Pixel-Timestamp"
	HeaderSignature = "X-Pixel-Signature"
	HeaderDelivery  = "X-Pixel-Delivery"
)

// Build writes the body of one request: the events in order, each as
// event.AppendJSON writes it, and sent_at, now in UTC (RFC 3339 with
// nanoseconds). The caller passes at most MaxBatch events; the contract
// server (webhooktest) refuses more.
func Build(events []*event.Event, now time.Time) []byte {
	b := make([]byte, 0, 64+len(events)*512)
	b = append(b, `{"sent_at":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = event.AppendJSON(b, e)
	}
	return append(b, "]}"...)
}

// Sign returns the X-Pixel-Signature of body sent at timestamp (the
// X-Pixel-Timestamp header's text): "v1=" and the hex HMAC-SHA256 keyed with
// secret of timestamp + "." + body.
func Sign(secret []byte, timestamp string, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Errors of Verify; it wraps them with the detail.
var (
	ErrTimestamp = errors.New("webhook: X-Pixel-Timestamp is missing, malformed or outside the tolerance")
	ErrSignature = errors.New("webhook: X-Pixel-Signature does not match the body")
)

// maxSignatures bounds the entries of a signature header that Verify
// checks: a sender rotating its secret sends two.
const maxSignatures = 8

// Verify checks a received request: timestamp and signature are the
// X-Pixel-Timestamp and X-Pixel-Signature headers, body the raw body as
// received (before any JSON decoding). The timestamp must be Unix seconds
// within tolerance of now (tolerance ≤ 0: DefaultTolerance), either way; the
// signature holds one or more comma-separated "v1=<hex>" entries (Stripe's
// form, for a secret being rotated), one of which must be the HMAC of
// timestamp.body with secret. Entries of another scheme are ignored. The
// comparison takes constant time.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return errors.New("webhook: cannot verify without a signing secret: give the destination's signing_secret")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %v from now, more than %v", ErrTimestamp, timestamp, d.Round(time.Second), tolerance)
	}
	want := mac([]byte(secret), timestamp, body)
	if n := strings.Count(signature, ",") + 1; n > maxSignatures {
		return fmt.Errorf("%w: %d entries, at most %d", ErrSignature, n, maxSignatures)
	}
	entries := strings.Split(signature, ",")
	found := false
	for _, entry := range entries {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(entry), "v1=")
		if !ok {
			continue
		}
		found = true
		got, err := hex.DecodeString(hexSig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	if !found {
		return fmt.Errorf("%w: no v1= entry in %q", ErrSignature, truncate(signature, 100))
	}
	return ErrSignature
}

// parseTimestamp reads decimal Unix seconds: digits only (no sign, no
// fraction), so that a header has one text and so one signature.
func parseTimestamp(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if len(s) > 12 {
		return 0, fmt.Errorf("%q is too long for Unix seconds", truncate(s, 20))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not decimal Unix seconds", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Outcome is what the caller does with a sent request's events.
type Outcome uint8

const (
	// Accepted: the endpoint took the events (2xx); commit them.
	Accepted Outcome = iota + 1
	// Retry: send the same body again after Result.RetryAfter (0: the
	// caller's own backoff): 408, 429, 5xx, or no answer.
	Retry
	// Refused: the endpoint refused the request for good (any other
	// status); dead-letter the events with Result.Body.
	Refused
)

var outcomeNames = [...]string{Accepted: "accepted", Retry: "retry", Refused: "refused"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && outcomeNames[o] != "" {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is the classified answer to one request.
type Result struct {
	Outcome Outcome
	Status  int // HTTP status; 0 when no answer came
	// RetryAfter is the delay the endpoint asked for (Retry-After, seconds
	// or an HTTP date, capped at an hour); 0 when it did not ask.
	RetryAfter time.Duration
	// Body is the answer's body (at most MaxAnswer bytes): attach it to a
	// dead-lettered event.
	Body []byte
	// Reason says in words why a request is retried or refused.
	Reason string
}

// Client sends signed bodies to one endpoint. It starts no goroutine and
// never retries.
type Client struct {
	// HTTP is the client to send with; nil: a client with a 10 s timeout.
	// Redirects are never followed (a 3xx is Refused): the body and its
	// signature go only to the URL the destination names.
	HTTP   *http.Client
	URL    string
	Secret []byte           // the signing secret
	Now    func() time.Time // the clock of the timestamp and of an HTTP-date Retry-After; nil: time.Now
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// Send posts body (Build's, holding events events) once, signed, and
// classifies the answer. err is non-nil when the request was not sent or no
// answer came; the Result is then Retry with Status 0 for a network failure
// (the caller checks ctx itself), or Refused when the request cannot be
// made at all (no secret, a URL that does not parse, a batch out of range).
func (c *Client) Send(ctx context.Context, body []byte, events int) (Result, error) {
	if len(c.Secret) == 0 {
		return Result{Outcome: Refused, Reason: "no signing secret"}, errors.New("webhook: cannot send without a signing secret: set the destination's signing_secret credential")
	}
	if events < 1 || events > MaxBatch {
		return Result{Outcome: Refused, Reason: "batch size"}, fmt.Errorf("webhook: cannot send %d events in one request: send 1 to %d", events, MaxBatch)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: Refused, Reason: "bad URL"}, fmt.Errorf("webhook: cannot send to %q: %w", c.URL, err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", "pixel-webhook/1")
	hreq.Header.Set(HeaderTimestamp, ts)
	hreq.Header.Set(HeaderSignature, Sign(c.Secret, ts, body))
	hreq.Header.Set(HeaderDelivery, deliveryID())

	hc := *defaultHTTP
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(hreq)
	if err != nil {
		return Result{Outcome: Retry, Reason: "network"}, fmt.Errorf("webhook: cannot send to %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return Result{Outcome: Retry, Status: resp.StatusCode, Reason: "network"}, fmt.Errorf("webhook: cannot read the answer of %s: %w", c.URL, err)
	}
	r := Classify(resp.StatusCode, resp.Header.Get("Retry-After"), answer, now())
	if r.Outcome == Refused && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		r.Reason += " (redirect to " + truncate(resp.Header.Get("Location"), 200) + ": give the final URL)"
	}
	return r, nil
}

// deliveryID is 16 random bytes in hex.
func deliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b[:])
}

// Classify reads one answer: 2xx Accepted; 408, 429 and 5xx Retry, after
// Retry-After when given (delay-seconds or an HTTP date, read against now);
// any other status Refused, with the body.
func Classify(status int, retryAfter string, body []byte, now time.Time) Result {
	r := Result{Status: status, Body: body, Reason: "status " + strconv.Itoa(status)}
	switch {
	case status >= 200 && status < 300:
		r.Outcome, r.Reason = Accepted, ""
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		r.Outcome = Retry
		r.RetryAfter = metacapi.ParseRetryAfter(retryAfter, now)
	default:
		r.Outcome = Refused
		if len(body) > 0 {
			r.Reason += ": " + truncate(strings.TrimSpace(string(body)), 200)
		}
	}
	return r
}
