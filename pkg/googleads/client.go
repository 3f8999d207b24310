package googleads

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the Google Ads API's REST endpoint.
const DefaultBaseURL = "https://googleads.googleapis.com"

// DefaultVersion is the API version the client speaks: v26, "the latest
// active version" on the reference pages (developers.google.com/google-ads/api/reference/rpc/v26/…).
// Google sunsets a version about a year after its release; the field shape
// used here (ClickConversion, Consent, partial failure) is unchanged since v15.
const DefaultVersion = "v26"

// MaxAnswer bounds the answer body the client reads: Google's answer to
// 2,000 conversions (a result or an error per row) stays well below it.
const MaxAnswer = 8 << 20

// Client sends uploadClickConversions requests. It holds no goroutines and
// never retries: Send makes one HTTP call and says what to do next.
type Client struct {
	HTTP    *http.Client // nil: http.DefaultClient
	BaseURL string       // "": DefaultBaseURL (a test server, a proxy)
	Version string       // "": DefaultVersion

	// DeveloperToken is the developer-token header: the API access of the
	// Google Ads manager account that the developer registered.
	DeveloperToken string
	// LoginCustomerID is the login-customer-id header, digits only: the
	// manager account through which the caller reaches the customer; ""
	// when the caller's user has direct access to the customer.
	LoginCustomerID string
	// Token returns a current OAuth 2.0 access token (scope
	// https://www.googleapis.com/auth/adwords) for the Authorization
	// header. Getting and refreshing it is the caller's business.
	Token func(ctx context.Context) (string, error)
}

// URL is the endpoint of an upload for customerID:
// {base}/{version}/customers/{customer_id}:uploadClickConversions.
func (c *Client) URL(customerID string) string {
	base, version := c.BaseURL, c.Version
	if base == "" {
		base = DefaultBaseURL
	}
	if version == "" {
		version = DefaultVersion
	}
	return strings.TrimRight(base, "/") + "/" + version + "/customers/" + customerID + ":uploadClickConversions"
}

// Send makes one upload and classifies the answer. err is non-nil when no
// answer came (the request could not be made, the network failed, ctx
// ended): then the Result is Retry with no delay of Google's, and the
// caller applies its own backoff, or stops when ctx is done.
func (c *Client) Send(ctx context.Context, req Request) (Result, error) {
	retry := Result{Outcome: Retry, Rows: len(req.Conversions)}
	if !digits(req.CustomerID) {
		return Result{Outcome: Permanent, Rows: len(req.Conversions)}, fmt.Errorf("cannot send the upload: customer id %q is not digits", req.CustomerID)
	}
	if c.Token == nil {
		return retry, errors.New("cannot send the upload: no access token source (set Client.Token)")
	}
	token, err := c.Token(ctx)
	if err != nil {
		return retry, fmt.Errorf("cannot get an access token for Google Ads: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL(req.CustomerID), bytes.NewReader(req.Body))
	if err != nil {
		return retry, fmt.Errorf("cannot make the upload request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+token)
	hreq.Header.Set("developer-token", c.DeveloperToken)
	if c.LoginCustomerID != "" {
		hreq.Header.Set("login-customer-id", c.LoginCustomerID)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return retry, fmt.Errorf("cannot upload to Google Ads: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return retry, fmt.Errorf("cannot read Google Ads' answer (HTTP %d): %w", resp.StatusCode, err)
	}
	return Classify(resp.StatusCode, resp.Header.Get("Retry-After"), body, len(req.Conversions), time.Now()), nil
}

// Outcome is what the caller does with a request after Google's answer.
type Outcome uint8

const (
	// Accepted: Google took the request. Rows refused inside it are listed
	// in Result.Refused (permanent refusals of those rows only).
	Accepted Outcome = iota
	// Retry: send the same request again after Result.Delay (429, 408, 5xx,
	// RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL, no answer).
	Retry
	// Permanent: Google refused the whole request for what it holds (a 4xx
	// with its error body): sending it again gives the same answer.
	Permanent
	// Unauthorized: Google refused the credentials (401, 403): the events
	// are not at fault, so they are neither sent on nor dead-lettered; the
	// destination waits until its token or access is fixed.
	Unauthorized
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	case Unauthorized:
		return "unauthorized"
	}
	return "unknown"
}

// Result is the classified answer to one request.
type Result struct {
	Outcome Outcome
	Status  int           // the HTTP status; 0 when no answer came
	Delay   time.Duration // for Retry: Retry-After, else Google's retryDelay, else 0 (the caller's backoff)
	Rows    int           // conversions in the request
	// Refused lists the rows Google refused inside an accepted request,
	// in row order, one entry per row with all its errors.
	Refused []RowError
	// Body is Google's answer, kept for the dead-letter record when
	// something was refused (Permanent, Unauthorized, or Refused rows).
	Body []byte
	// Status and message of Google's error ("INVALID_ARGUMENT", "Request
	// contains an invalid argument."), when the answer carried one.
	ErrorStatus, Message string
}

// AcceptedRows is the number of conversions Google recorded (or, with
// validateOnly, found valid).
func (r *Result) AcceptedRows() int {
	if r.Outcome != Accepted {
		return 0
	}
	return r.Rows - len(r.Refused)
}

// RowError is Google's refusal of one conversion of a request.
type RowError struct {
	Index   int      // into Request.Conversions
	Codes   []string // e.g. "conversionUploadError: UNPARSEABLE_GCLID"
	Message string   // the first error's message
	Detail  []byte   // the GoogleAdsError objects of the row, as Google sent them (a JSON array)
}

// The answer's JSON, as the REST interface writes a google.rpc.Status
// holding GoogleAdsFailure details (errors with an ErrorCode, a message and
// a location whose first field path element is conversions[index]).
type status struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Status  string         `json:"status"`
	Details []failureProto `json:"details"`
}

type failureProto struct {
	Errors []json.RawMessage `json:"errors"`
}

type adsError struct {
	ErrorCode map[string]json.RawMessage `json:"errorCode"`
	Message   string                     `json:"message"`
	Location  struct {
		FieldPathElements []struct {
			FieldName string `json:"fieldName"`
			Index     *int   `json:"index"`
		} `json:"fieldPathElements"`
	} `json:"location"`
	Details struct {
		QuotaErrorDetails struct {
			RetryDelay string `json:"retryDelay"`
		} `json:"quotaErrorDetails"`
	} `json:"details"`
}

// retryStatuses are the google.rpc codes worth a second try: quota
// ("RESOURCE_EXHAUSTED", the QuotaError family), a server that is down or
// overloaded, an internal error (Google Ads API "Error types": retry these
// with exponential backoff).
var retryStatuses = map[string]bool{"RESOURCE_EXHAUSTED": true, "UNAVAILABLE": true, "INTERNAL": true}

// Classify turns an HTTP answer to an upload of rows conversions into a
// Result. retryAfter is the Retry-After header ("" when absent), now the
// time to read an HTTP-date Retry-After against. It never fails: an answer
// it cannot read is classified by its status alone.
func Classify(code int, retryAfter string, body []byte, rows int, now time.Time) Result {
	r := Result{Status: code, Rows: rows}
	var answer struct {
		Error               *status `json:"error"`
		PartialFailureError *status `json:"partialFailureError"`
	}
	_ = json.Unmarshal(body, &answer) // unreadable: status code only
	if s := answer.Error; s != nil {
		r.ErrorStatus, r.Message = s.Status, s.Message
	}
	switch {
	case code == http.StatusOK:
		r.Outcome = Accepted
		if s := answer.PartialFailureError; s != nil && (s.Code != 0 || len(s.Details) > 0) {
			r.ErrorStatus, r.Message = s.Status, s.Message
			r.Body = body
			refused, ok := rowErrors(s, rows)
			if !ok {
				// An error that names no row of this request: which rows
				// Google kept is unknown, so nothing is claimed accepted.
				r.Outcome = Permanent
				return r
			}
			r.Refused = refused
		}
		return r
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500 || retryStatuses[r.ErrorStatus]:
		r.Outcome = Retry
		r.Delay = retryDelay(retryAfter, answer.Error, now)
		return r
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		r.Outcome = Unauthorized
	default:
		// Other 4xx (and anything else unexpected: a redirect, 2xx other
		// than 200): the request itself is refused.
		r.Outcome = Permanent
	}
	r.Body = body
	return r
}

// rowErrors groups the errors of a partial failure by row; ok is false
// when an error names no row in [0, rows).
func rowErrors(s *status, rows int) ([]RowError, bool) {
	byRow := map[int]*RowError{}
	var order []int
	for _, d := range s.Details {
		for _, raw := range d.Errors {
			var e adsError
			if json.Unmarshal(raw, &e) != nil {
				return nil, false
			}
			p := e.Location.FieldPathElements
			if len(p) == 0 || p[0].FieldName != "conversions" || p[0].Index == nil || *p[0].Index < 0 || *p[0].Index >= rows {
				return nil, false
			}
			i := *p[0].Index
			re := byRow[i]
			if re == nil {
				re = &RowError{Index: i, Message: e.Message, Detail: []byte{'['}}
				byRow[i] = re
				order = append(order, i)
			} else {
				re.Detail = append(re.Detail, ',')
			}
			re.Detail = append(re.Detail, raw...)
			re.Codes = append(re.Codes, errorCode(e.ErrorCode))
		}
	}
	if len(order) == 0 {
		return nil, false
	}
	out := make([]RowError, 0, len(order))
	for i := 0; i < rows && len(out) < len(order); i++ {
		if re := byRow[i]; re != nil {
			re.Detail = append(re.Detail, ']')
			out = append(out, *re)
		}
	}
	return out, true
}

// errorCode writes an ErrorCode ({"conversionUploadError":"UNPARSEABLE_GCLID"})
// as "conversionUploadError: UNPARSEABLE_GCLID".
func errorCode(m map[string]json.RawMessage) string {
	for k, v := range m { // an ErrorCode is a oneof: one key
		var name string
		if json.Unmarshal(v, &name) != nil {
			name = string(v)
		}
		return k + ": " + name
	}
	return "unknown"
}

// retryDelay is the wait Google asked for: the Retry-After header (seconds
// or an HTTP date), else the first QuotaErrorDetails.retryDelay ("30s").
func retryDelay(header string, s *status, now time.Time) time.Duration {
	if header != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(header)); err == nil && secs >= 0 {
			return time.Duration(min(secs, 24*3600)) * time.Second
		}
		if t, err := http.ParseTime(header); err == nil {
			return min(max(t.Sub(now), 0), 24*time.Hour).Truncate(time.Second)
		}
	}
	if s == nil {
		return 0
	}
	for _, d := range s.Details {
		for _, raw := range d.Errors {
			var e adsError
			if json.Unmarshal(raw, &e) != nil {
				continue
			}
			if v := e.Details.QuotaErrorDetails.RetryDelay; v != "" {
				if d, err := time.ParseDuration(v); err == nil && d >= 0 {
					return min(d, 24*time.Hour)
				}
			}
		}
	}
	return 0
}
