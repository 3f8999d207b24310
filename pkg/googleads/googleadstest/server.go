// Package googleadstest is a contract server for the Google Ads API's
// click-conversion upload: a local HTTPS server (httptest.NewTLSServer)
// that checks each request against Google's documented format and answers
// as Google does. Tests of pkg/googleads and of the forwarder use it; the
// live API is never called from tests.
//
// What it checks, with the rule's source:
//   - POST {base}/{version}/customers/{digits}:uploadClickConversions, JSON
//     (REST interface of ConversionUploadService);
//   - headers developer-token (non-empty), Authorization: Bearer <token>,
//     login-customer-id digits when present;
//   - the body: only the documented fields (lowerCamelCase proto names)
//     with their JSON types; partialFailure true (required for conversion
//     uploads); 1..2000 conversions (legacy_oci_guide: fewer than 2,001);
//   - each conversion: conversionAction customers/{digits}/conversionActions/{digits};
//     exactly one of gclid, gbraid, wbraid (GBRAID_WBRAID_BOTH_SET,
//     VALUE_MUST_BE_UNSET); conversionDateTime "yyyy-mm-dd hh:mm:ss+|-hh:mm"
//     (the zone is required); currencyCode three upper-case letters;
//     userIdentifiers only with a gclid, at most 5, each exactly one of
//     hashedEmail / hashedPhoneNumber of 64 lower-case hex digits;
//     consent.adUserData GRANTED or DENIED, no adPersonalization (only
//     for OfflineUserDataJobService and UserDataService); orderId a string.
//
// A request that breaks a rule is answered 400 INVALID_ARGUMENT with the
// rule in Google's error body and recorded in Violations, so that a test
// asserts there were none.
package googleadstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is the API version the server answers for; requests for another
// are refused as Google refuses an unknown version (404).
const Version = "v26"

// Upload is one request the server received and found valid.
type Upload struct {
	CustomerID      string
	DeveloperToken  string
	LoginCustomerID string
	AccessToken     string
	ValidateOnly    bool
	Conversions     []ClickConversion
}

// ClickConversion is a conversion as the server decoded it.
type ClickConversion struct {
	GCLID              string            `json:"gclid,omitempty"`
	GBRAID             string            `json:"gbraid,omitempty"`
	WBRAID             string            `json:"wbraid,omitempty"`
	ConversionAction   string            `json:"conversionAction"`
	ConversionDateTime string            `json:"conversionDateTime"`
	ConversionValue    *float64          `json:"conversionValue,omitempty"`
	CurrencyCode       string            `json:"currencyCode,omitempty"`
	OrderID            string            `json:"orderId,omitempty"`
	UserIdentifiers    []UserIdentifier  `json:"userIdentifiers,omitempty"`
	Consent            *Consent          `json:"consent,omitempty"`
	CustomVariables    []json.RawMessage `json:"customVariables,omitempty"`
}

// UserIdentifier is one enhanced-conversion identifier.
type UserIdentifier struct {
	HashedEmail       string `json:"hashedEmail,omitempty"`
	HashedPhoneNumber string `json:"hashedPhoneNumber,omitempty"`
}

// Consent is ClickConversion.consent.
type Consent struct {
	AdUserData        string `json:"adUserData,omitempty"`
	AdPersonalization string `json:"adPersonalization,omitempty"`
}

type request struct {
	Conversions    []ClickConversion `json:"conversions"`
	PartialFailure *bool             `json:"partialFailure"`
	ValidateOnly   bool              `json:"validateOnly"`
	JobID          *int32            `json:"jobId"`
}

// Answer is how the server answers the next request.
type Answer struct {
	// Status: 0 or 200 answers success; 429 and 5xx answer with Google's
	// error body; 400 answers a permanent refusal (Google's error body).
	Status int
	// RetryAfter is the Retry-After header value ("" for none).
	RetryAfter string
	// FailRows answers 200 with a partialFailureError for these rows
	// (indexes into conversions[]), each with Code (default
	// conversionUploadError UNPARSEABLE_GCLID).
	FailRows []int
	Code     string
}

// Server is the contract server.
type Server struct {
	*httptest.Server
	Token string // the access token it accepts; "" accepts any

	mu         sync.Mutex
	uploads    []Upload
	violations []string
	answers    []Answer
}

// New starts a contract server; close it with Close.
func New() *Server {
	s := &Server{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// Then queues answers for the next requests, in order; after them the
// server answers success.
func (s *Server) Then(a ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = append(s.answers, a...)
}

// Uploads returns the valid requests received so far, answered or refused.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// Violations returns the contract breaks found so far, one line each.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

var (
	pathRE     = regexp.MustCompile(`^/([^/]+)/customers/([0-9]+):uploadClickConversions$`)
	actionRE   = regexp.MustCompile(`^customers/[0-9]+/conversionActions/[0-9]+$`)
	dateTimeRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$`)
	hashRE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	digitsRE   = regexp.MustCompile(`^[0-9]+$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || m == nil {
		s.refuse(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("%s %s: not POST /{version}/customers/{customer_id}:uploadClickConversions", r.Method, r.URL.Path))
		return
	}
	if m[1] != Version {
		s.refuse(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("API version %q: this server answers %s", m[1], Version))
		return
	}
	up := Upload{
		CustomerID:      m[2],
		DeveloperToken:  r.Header.Get("developer-token"),
		LoginCustomerID: r.Header.Get("login-customer-id"),
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	switch {
	case !ok || token == "":
		s.refuse(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Authorization header is not \"Bearer <access token>\"")
		return
	case s.Token != "" && token != s.Token:
		s.answerError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials.", `{"authenticationError":"OAUTH_TOKEN_INVALID"}`, "", nil)
		return
	}
	up.AccessToken = token
	if up.DeveloperToken == "" {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", "developer-token header missing")
		return
	}
	if up.LoginCustomerID != "" && !digitsRE.MatchString(up.LoginCustomerID) {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", "login-customer-id header is not digits")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Content-Type "+ct+" is not application/json")
		return
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, 32<<20)); err != nil {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", "cannot read the body: "+err.Error())
		return
	}
	var req request
	dec := json.NewDecoder(&body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", "body does not match UploadClickConversionsRequest: "+err.Error())
		return
	}
	if dec.More() {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", "data after the JSON object")
		return
	}
	if problems := check(&req); len(problems) > 0 {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", strings.Join(problems, "; "))
		return
	}
	up.ValidateOnly = req.ValidateOnly
	up.Conversions = req.Conversions

	s.mu.Lock()
	s.uploads = append(s.uploads, up)
	var a Answer
	if len(s.answers) > 0 {
		a = s.answers[0]
		s.answers = s.answers[1:]
	}
	s.mu.Unlock()
	s.answer(w, a, &req)
}

// check applies the documented rules to a decoded request.
func check(req *request) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if req.PartialFailure == nil || !*req.PartialFailure {
		add("partialFailure must be true for conversion uploads")
	}
	if n := len(req.Conversions); n == 0 || n > 2000 {
		add("%d conversions: a request takes 1 to 2000 (TOO_MANY_MUTATE_OPERATIONS)", n)
	}
	for i, c := range req.Conversions {
		ids := 0
		for _, id := range []string{c.GCLID, c.GBRAID, c.WBRAID} {
			if id != "" {
				ids++
			}
		}
		if ids != 1 {
			add("conversions[%d]: %d of gclid, gbraid, wbraid set; exactly one is allowed", i, ids)
		}
		if !actionRE.MatchString(c.ConversionAction) {
			add("conversions[%d].conversionAction %q is not customers/{id}/conversionActions/{id}", i, c.ConversionAction)
		}
		if !dateTimeRE.MatchString(c.ConversionDateTime) {
			add("conversions[%d].conversionDateTime %q is not yyyy-mm-dd hh:mm:ss+|-hh:mm", i, c.ConversionDateTime)
		} else if _, err := time.Parse("2006-01-02 15:04:05-07:00", c.ConversionDateTime); err != nil {
			add("conversions[%d].conversionDateTime %q: %v", i, c.ConversionDateTime, err)
		}
		if c.CurrencyCode != "" && !currencyRE.MatchString(c.CurrencyCode) {
			add("conversions[%d].currencyCode %q is not ISO 4217", i, c.CurrencyCode)
		}
		if len(c.UserIdentifiers) > 0 && c.GCLID == "" {
			add("conversions[%d]: userIdentifiers with a gbraid or wbraid (VALUE_MUST_BE_UNSET)", i)
		}
		if len(c.CustomVariables) > 0 && c.GCLID == "" {
			add("conversions[%d]: customVariables with a gbraid or wbraid (VALUE_MUST_BE_UNSET)", i)
		}
		if len(c.UserIdentifiers) > 5 {
			add("conversions[%d]: %d userIdentifiers, at most 5", i, len(c.UserIdentifiers))
		}
		for j, u := range c.UserIdentifiers {
			switch {
			case (u.HashedEmail == "") == (u.HashedPhoneNumber == ""):
				add("conversions[%d].userIdentifiers[%d]: exactly one of hashedEmail, hashedPhoneNumber", i, j)
			case u.HashedEmail != "" && !hashRE.MatchString(u.HashedEmail):
				add("conversions[%d].userIdentifiers[%d].hashedEmail is not 64 lower-case hex digits", i, j)
			case u.HashedPhoneNumber != "" && !hashRE.MatchString(u.HashedPhoneNumber):
				add("conversions[%d].userIdentifiers[%d].hashedPhoneNumber is not 64 lower-case hex digits", i, j)
			}
		}
		if c.Consent != nil {
			if c.Consent.AdUserData != "GRANTED" && c.Consent.AdUserData != "DENIED" {
				add("conversions[%d].consent.adUserData %q is not GRANTED or DENIED", i, c.Consent.AdUserData)
			}
			if c.Consent.AdPersonalization != "" {
				add("conversions[%d].consent.adPersonalization is set: only OfflineUserDataJobService and UserDataService take it", i)
			}
		}
	}
	return p
}

// refuse answers a contract violation, and records it.
func (s *Server) refuse(w http.ResponseWriter, code int, status, msg string) {
	s.mu.Lock()
	s.violations = append(s.violations, msg)
	s.mu.Unlock()
	s.answerError(w, code, status, "Request contains an invalid argument.", `{"requestError":"INVALID_INPUT"}`, msg, nil)
}

// failure is the type URL of a GoogleAdsFailure detail.
const failure = "type.googleapis.com/google.ads.googleads." + Version + ".errors.GoogleAdsFailure"

// answerError writes Google's RPC error body: a google.rpc.Status whose
// details hold a GoogleAdsFailure.
func (s *Server) answerError(w http.ResponseWriter, code int, status, message, errorCode, detail string, extra map[string]any) {
	e := map[string]any{"errorCode": json.RawMessage(errorCode), "message": firstNonEmpty(detail, message)}
	for k, v := range extra {
		e[k] = v
	}
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code": code, "message": message, "status": status,
		"details": []any{map[string]any{"@type": failure, "errors": []any{e}, "requestId": "contract-test"}},
	}})
}

func (s *Server) answer(w http.ResponseWriter, a Answer, req *request) {
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	switch {
	case a.Status == http.StatusTooManyRequests:
		s.answerError(w, a.Status, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", `{"quotaError":"RESOURCE_EXHAUSTED"}`, "Too many requests. Retry in 30 seconds.",
			map[string]any{"details": map[string]any{"quotaErrorDetails": map[string]any{"rateScope": "DEVELOPER", "rateName": "Number of operations for basic access", "retryDelay": "30s"}}})
		return
	case a.Status >= 500:
		s.answerError(w, a.Status, "INTERNAL", "Internal error encountered.", `{"internalError":"INTERNAL_ERROR"}`, "An internal error has occurred.", nil)
		return
	case a.Status != 0 && a.Status != http.StatusOK:
		s.answerError(w, a.Status, "INVALID_ARGUMENT", "Request contains an invalid argument.", `{"conversionUploadError":"INVALID_CONVERSION_ACTION"}`, "The conversion action specified in the upload request cannot be found.", nil)
		return
	}
	failed := map[int]bool{}
	var errs []any
	code := a.Code
	if code == "" {
		code = "UNPARSEABLE_GCLID"
	}
	for _, i := range a.FailRows {
		if i < 0 || i >= len(req.Conversions) || failed[i] {
			continue
		}
		failed[i] = true
		errs = append(errs, map[string]any{
			"errorCode": map[string]string{"conversionUploadError": code},
			"message":   "The click ID could not be parsed.",
			"trigger":   map[string]string{"stringValue": req.Conversions[i].GCLID},
			"location":  map[string]any{"fieldPathElements": []any{map[string]any{"fieldName": "conversions", "index": i}, map[string]any{"fieldName": "gclid"}}},
		})
	}
	out := map[string]any{"jobId": strconv.Itoa(len(req.Conversions))}
	if len(errs) > 0 {
		out["partialFailureError"] = map[string]any{
			"code": 3, "message": fmt.Sprintf("%d conversion(s) failed, see details.", len(errs)),
			"details": []any{map[string]any{"@type": failure, "errors": errs, "requestId": "contract-test"}},
		}
	}
	if !req.ValidateOnly {
		results := make([]any, len(req.Conversions))
		for i, c := range req.Conversions {
			if failed[i] {
				results[i] = map[string]any{} // "Proto will be empty for rows that received an error"
				continue
			}
			results[i] = map[string]any{"gclid": c.GCLID, "gbraid": c.GBRAID, "wbraid": c.WBRAID, "conversionAction": c.ConversionAction, "conversionDateTime": c.ConversionDateTime}
		}
		out["results"] = results
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
