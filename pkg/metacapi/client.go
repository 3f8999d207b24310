package metacapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Outcome is what the caller does with a sent request's events.
type Outcome uint8

const (
	// Accepted: Meta took the events; commit them.
	Accepted Outcome = iota + 1
	// Retry: send the same request again after Result.RetryAfter (0: the
	// caller's own backoff).
	Retry
	// Refused: Meta refused the request for good; send the events to the
	// dead-letter topic with Result.Body.
	Refused
)

var outcomeNames = [...]string{Accepted: "accepted", Retry: "retry", Refused: "refused"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && outcomeNames[o] != "" {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// APIError is Meta's error body: {"error":{"message","type","code",
// "error_subcode","is_transient","fbtrace_id",...}}
// (developers.facebook.com/docs/graph-api/using-graph-api/error-handling/).
type APIError struct {
	Message        string `json:"message"`
	Type           string `json:"type"`
	Code           int    `json:"code"`
	ErrorSubcode   int    `json:"error_subcode"`
	IsTransient    bool   `json:"is_transient"`
	ErrorUserTitle string `json:"error_user_title"`
	ErrorUserMsg   string `json:"error_user_msg"`
	FBTraceID      string `json:"fbtrace_id"`
}

// Result is the classified answer to one request.
type Result struct {
	Outcome Outcome
	Status  int // HTTP status; 0 when no answer came (network)
	// EventsReceived is Meta's events_received of an accepted request.
	EventsReceived int
	// RetryAfter is the delay Meta asked for (Retry-After); 0 when it did not
	// ask, and the caller uses its own backoff.
	RetryAfter time.Duration
	// Error is Meta's error body when the answer had one.
	Error *APIError
	// Body is the answer's body (at most MaxAnswer bytes): attach it to a
	// dead-lettered event.
	Body []byte
	// Reason says in words why a request is retried or refused.
	Reason string
}

// MaxAnswer bounds how much of an answer is read.
const MaxAnswer = 64 << 10

// maxRetryAfter caps a Retry-After: a longer one is a broken header, and
// the caller's backoff applies again after it anyway.
const maxRetryAfter = time.Hour

// transientCodes are the Graph API error codes Meta documents as temporary
// ("Wait and retry the operation"): 1 API Unknown, 2 API Service, 4 API Too
// Many Calls, 17 API User Too Many Calls, 341 Application limit reached
// (developers.facebook.com/docs/graph-api/using-graph-api/error-handling/).
var transientCodes = map[int]bool{1: true, 2: true, 4: true, 17: true, 341: true}

// Client sends built requests to Meta. It holds the access token, which it
// adds to the URL's query (using-the-api: "?access_token={TOKEN}") only when
// sending, and keeps out of every error it returns.
type Client struct {
	HTTP        *http.Client // nil: http.DefaultClient; set a Timeout (Meta suggests 1.5 s)
	AccessToken string
	// Now is the clock for an HTTP-date Retry-After; nil: time.Now.
	Now func() time.Time
}

// Send posts req once and classifies the answer. err is non-nil only when
// no answer came (a network failure, ctx done, a URL that does not parse);
// the Result is then Retry with Status 0, unless ctx is done, which the
// caller checks. Send starts no goroutine and never retries.
func (c *Client) Send(ctx context.Context, req Request) (Result, error) {
	if c.AccessToken == "" {
		return Result{}, errors.New("metacapi: cannot send without an access token: set Client.AccessToken to the Conversions API token of the pixel")
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return Result{}, fmt.Errorf("metacapi: cannot send: request URL does not parse: %w", err)
	}
	q := u.Query()
	q.Set("access_token", c.AccessToken)
	u.RawQuery = q.Encode()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return Result{}, fmt.Errorf("metacapi: cannot send to %s: %w", req.URL, redact(err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		// url.Error names the URL, token included: keep only the cause.
		return Result{Outcome: Retry, Reason: "network"}, fmt.Errorf("metacapi: cannot send to %s: %w", req.URL, redact(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return Result{Outcome: Retry, Status: resp.StatusCode, Reason: "network"}, fmt.Errorf("metacapi: cannot read the answer of %s: %w", req.URL, redact(err))
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return Classify(resp.StatusCode, resp.Header.Get("Retry-After"), body, len(req.Events), now()), nil
}

// redact drops the url.Error wrapper, whose text holds the URL and so the
// access token.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Classify reads one answer to a request of sent events:
//   - 200 with events_received equal to sent: Accepted. Another count is
//     Refused: Meta accepts or refuses a batch whole, so a mismatch is a
//     broken gateway, for a person to look at;
//   - 408, 429, 5xx, and a 4xx whose error code Meta documents as transient (or
//     that says is_transient): Retry, after Retry-After when given;
//   - any other status: Refused, carrying Meta's error body.
func Classify(status int, retryAfter string, body []byte, sent int, now time.Time) Result {
	r := Result{Status: status, Body: body}
	if status >= 200 && status < 300 {
		var ok struct {
			EventsReceived *int `json:"events_received"`
		}
		if err := json.Unmarshal(body, &ok); err != nil || ok.EventsReceived == nil {
			r.Outcome, r.Reason = Refused, "answer without events_received"
			return r
		}
		r.EventsReceived = *ok.EventsReceived
		if r.EventsReceived != sent {
			r.Outcome, r.Reason = Refused, "events_received "+strconv.Itoa(r.EventsReceived)+" of "+strconv.Itoa(sent)
			return r
		}
		r.Outcome = Accepted
		return r
	}
	var eb struct {
		Error *APIError `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
		r.Error = eb.Error
	}
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		r.Outcome, r.Reason = Retry, "status "+strconv.Itoa(status)
	case r.Error != nil && (transientCodes[r.Error.Code] || r.Error.IsTransient):
		r.Outcome, r.Reason = Retry, "transient error code "+strconv.Itoa(r.Error.Code)
	default:
		r.Outcome, r.Reason = Refused, "status "+strconv.Itoa(status)
		if r.Error != nil {
			r.Reason += ": " + r.Error.Message
		}
		return r
	}
	r.RetryAfter = ParseRetryAfter(retryAfter, now)
	return r
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110, 10.2.3). It returns 0 for an absent, malformed or past value,
// and caps the delay at an hour.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || err == nil && n > uint64(maxRetryAfter/time.Second):
		return maxRetryAfter
	case err == nil:
		d = time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}
