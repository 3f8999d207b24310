// Package metacapitest is a contract server for Meta's Conversions API: a
// local HTTPS server (httptest.NewTLSServer) that checks every request
// against Meta's documented format and answers as Meta does. Tests of
// pkg/metacapi and of the forwarder point their client at it; the live API
// is never called. It checks the path (/{version}/{pixel_id}/events), the
// access token, the data array (1 to 1,000 events), each event's field names
// and JSON types, that hashed identifiers are 64 lower-case hex digits, that
// website events carry event_source_url, client_ip_address and
// client_user_agent, the fbc format, that event_time lies within the last 7
// days and not in the future, the action_source values and limited data
// use; and it records what it accepted. It can be told to answer the next
// requests with 429 and Retry-After, 500, or a permanent 400 with Meta's
// error body.
//
// Sources: developers.facebook.com/documentation/ads-commerce/conversions-api/using-the-api,
// …/conversions-api/parameters/server-event, …/customer-information-parameters,
// …/fbp-and-fbc, developers.facebook.com/docs/marketing-apis/data-processing-options,
// developers.facebook.com/docs/graph-api/using-graph-api/error-handling/.
package metacapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Failure is a scripted answer.
type Failure struct {
	Status     int
	RetryAfter string // the Retry-After header, "" for none
	Body       string
}

// RateLimited is Meta's throttling answer: 429 with Retry-After and error
// code 4 (API Too Many Calls).
func RateLimited(retryAfter string) Failure {
	return Failure{Status: http.StatusTooManyRequests, RetryAfter: retryAfter,
		Body: `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"is_transient":true,"fbtrace_id":"AtestRateLimit"}}`}
}

// ServerError is a 500 with Meta's "unknown error" body (code 1).
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError,
		Body: `{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1,"is_transient":true,"fbtrace_id":"AtestServerError"}}`}
}

// Refusal is a permanent 400 as Meta sends it for an invalid parameter
// (code 100, a Conversions API subcode).
func Refusal() Failure {
	return Failure{Status: http.StatusBadRequest, Body: RefusalBody}
}

// RefusalBody is the body of Refusal.
const RefusalBody = `{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003,"is_transient":false,"error_user_title":"Invalid event","error_user_msg":"The event was refused.","fbtrace_id":"AtestRefusal"}}`

// Received is one request the server accepted.
type Received struct {
	Version       string
	PixelID       string
	TestEventCode string
	Events        []map[string]any // the data array, numbers as json.Number
	Body          []byte
}

// Server is the contract server. Its fields are read under its lock; set
// them before the first request.
type Server struct {
	*httptest.Server

	// Token is the access token it expects; "" accepts any non-empty one.
	Token string
	// Now is its clock for event_time and fbc checks; nil: time.Now.
	Now func() time.Time

	mu         sync.Mutex
	received   []Received
	violations []string
	failures   []Failure
	attempts   int
}

// New starts a contract server; close it with Close. Use its Client() (it
// trusts the server's certificate) as the metacapi.Client's HTTP client.
func New() *Server {
	s := &Server{}
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

// Violations returns every way a request broke Meta's format, in order;
// a test asserts it is empty.
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
	rec, problems := Check(r.Method, r.URL.Path, r.URL.Query(), r.Header.Get("Content-Type"), body, now)
	tokenOK := s.Token == "" || r.URL.Query().Get("access_token") == s.Token
	if len(problems) > 0 {
		s.violations = append(s.violations, problems...)
		answer(w, http.StatusBadRequest, "", fmt.Sprintf(`{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804019,"is_transient":false,"error_user_title":"Server-side API parameter error","error_user_msg":%q,"fbtrace_id":"AtestContract"}}`, problems[0]))
		return
	}
	if !tokenOK {
		answer(w, http.StatusBadRequest, "", `{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AtestToken"}}`)
		return
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		answer(w, f.Status, f.RetryAfter, f.Body)
		return
	}
	s.received = append(s.received, rec)
	answer(w, http.StatusOK, "", `{"events_received":`+strconv.Itoa(len(rec.Events))+`,"messages":[],"fbtrace_id":"AtestAccepted"}`)
}

func answer(w http.ResponseWriter, status int, retryAfter, body string) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

var (
	pathRE    = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([0-9A-Za-z_-]+)/events$`)
	fbcRE     = regexp.MustCompile(`^fb\.[0-2]\.([0-9]{13})\.[^\s.][^\s]*$`)
	fbpRE     = regexp.MustCompile(`^fb\.[0-2]\.[0-9]{13}\.[0-9]+$`)
	hashRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	currRE    = regexp.MustCompile(`^[A-Z]{3}$`)
	actionSrc = map[string]bool{"email": true, "website": true, "app": true, "phone_call": true, "chat": true,
		"physical_store": true, "system_generated": true, "business_messaging": true, "other": true}
	bodyKeys  = map[string]bool{"data": true, "test_event_code": true, "partner_agent": true, "namespace_id": true, "upload_id": true, "access_token": true}
	eventKeys = map[string]bool{"event_name": true, "event_time": true, "event_id": true, "action_source": true, "event_source_url": true,
		"user_data": true, "custom_data": true, "opt_out": true, "data_processing_options": true, "data_processing_options_country": true,
		"data_processing_options_state": true, "referrer_url": true, "app_data": true, "original_event_data": true, "messaging_channel": true}
	// user_data fields: hashed ones (SHA-256 hex, string or array) and the
	// ones sent in clear.
	hashedKeys = map[string]bool{"em": true, "ph": true, "fn": true, "ln": true, "db": true, "ge": true, "ct": true, "st": true, "zp": true, "country": true, "external_id": true}
	clearKeys  = map[string]bool{"client_ip_address": true, "client_user_agent": true, "fbc": true, "fbp": true, "subscription_id": true,
		"fb_login_id": true, "lead_id": true, "anon_id": true, "madid": true, "page_id": true, "page_scoped_user_id": true, "ctwa_clid": true, "ig_account_id": true, "ig_sid": true}
	customKeys = map[string]bool{"value": true, "currency": true, "content_ids": true, "content_type": true, "content_name": true, "content_category": true,
		"contents": true, "order_id": true, "num_items": true, "search_string": true, "status": true, "predicted_ltv": true, "delivery_category": true}
)

// Check checks one request against Meta's format at the time now and
// returns it decoded, with every violation found (none: a valid request).
// The server calls it for every request; a test may call it directly.
func Check(method, path string, query url.Values, contentType string, body []byte, now time.Time) (Received, []string) {
	var p problems
	rec := Received{Body: body}
	if method != http.MethodPost {
		p.add("method %s, want POST", method)
	}
	m := pathRE.FindStringSubmatch(path)
	if m == nil {
		p.add("path %q is not /{version}/{pixel_id}/events", path)
	} else {
		rec.Version, rec.PixelID = m[1], m[2]
	}
	if query.Get("access_token") == "" {
		p.add("no access_token in the query")
	}
	if !strings.HasPrefix(contentType, "application/json") {
		p.add("Content-Type %q, want application/json", contentType)
	}
	var top map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		p.add("body is not a JSON object: %v", err)
		return rec, p
	}
	if dec.More() {
		p.add("body holds more than one JSON value")
	}
	for k := range top {
		if !bodyKeys[k] {
			p.add("unknown body field %q", k)
		}
	}
	if v, ok := top["test_event_code"]; ok {
		if s, ok := v.(string); ok && s != "" {
			rec.TestEventCode = s
		} else {
			p.add("test_event_code is not a non-empty string")
		}
	}
	data, ok := top["data"].([]any)
	switch {
	case !ok:
		p.add("data is missing or not an array")
	case len(data) == 0:
		p.add("data is empty")
	case len(data) > 1000:
		p.add("data holds %d events, more than 1000", len(data))
	}
	for i, v := range data {
		ev, ok := v.(map[string]any)
		if !ok {
			p.add("data[%d] is not an object", i)
			continue
		}
		checkEvent(&p, fmt.Sprintf("data[%d]", i), ev, now)
		rec.Events = append(rec.Events, ev)
	}
	return rec, p
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func checkEvent(p *problems, at string, ev map[string]any, now time.Time) {
	for k := range ev {
		if !eventKeys[k] {
			p.add("%s: unknown field %q", at, k)
		}
	}
	if s, ok := ev["event_name"].(string); !ok || s == "" {
		p.add("%s: event_name is missing or not a non-empty string", at)
	}
	if t, ok := integer(ev["event_time"]); !ok {
		p.add("%s: event_time is missing or not an integer (Unix seconds)", at)
	} else {
		if t > now.Unix() {
			p.add("%s: event_time %d is in the future", at, t)
		}
		if t < now.Add(-7*24*time.Hour).Unix() {
			p.add("%s: event_time %d is more than 7 days old", at, t)
		}
	}
	if v, ok := ev["event_id"]; ok {
		if s, ok := v.(string); !ok || s == "" {
			p.add("%s: event_id is not a non-empty string", at)
		}
	}
	src, ok := ev["action_source"].(string)
	if !ok || !actionSrc[src] {
		p.add("%s: action_source %v is not one of Meta's values", at, ev["action_source"])
	}
	website := src == "website"
	if v, ok := ev["event_source_url"]; ok || website {
		s, _ := v.(string)
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("%s: event_source_url %v is not an absolute http(s) URL", at, v)
		}
	}
	ud, ok := ev["user_data"].(map[string]any)
	if !ok {
		p.add("%s: user_data is missing or not an object", at)
	} else {
		checkUserData(p, at+".user_data", ud, website, now)
	}
	if v, ok := ev["custom_data"]; ok {
		if cd, ok := v.(map[string]any); ok {
			checkCustomData(p, at+".custom_data", cd)
		} else {
			p.add("%s: custom_data is not an object", at)
		}
	}
	if v, ok := ev["data_processing_options"]; ok {
		opts, ok := v.([]any)
		if !ok {
			p.add("%s: data_processing_options is not an array", at)
		}
		ldu := false
		for _, o := range opts {
			if o != "LDU" {
				p.add("%s: data_processing_options holds %v, only \"LDU\" exists", at, o)
			}
			ldu = true
		}
		if ldu {
			for _, k := range []string{"data_processing_options_country", "data_processing_options_state"} {
				if _, ok := integer(ev[k]); !ok {
					p.add("%s: %s is missing or not an integer with LDU", at, k)
				}
			}
		}
	}
}

func checkUserData(p *problems, at string, ud map[string]any, website bool, now time.Time) {
	for k, v := range ud {
		switch {
		case hashedKeys[k]:
			vals, ok := v.([]any)
			if !ok {
				vals = []any{v}
			}
			if len(vals) == 0 {
				p.add("%s.%s is an empty array", at, k)
			}
			for _, h := range vals {
				if s, ok := h.(string); !ok || !hashRE.MatchString(s) {
					p.add("%s.%s holds %v, not a SHA-256 in 64 lower-case hex digits", at, k, h)
				}
			}
		case clearKeys[k]:
			if s, ok := v.(string); !ok || s == "" {
				p.add("%s.%s is not a non-empty string", at, k)
			}
		default:
			p.add("%s: unknown field %q", at, k)
		}
	}
	if ip, ok := ud["client_ip_address"].(string); ok {
		if _, err := netip.ParseAddr(ip); err != nil {
			p.add("%s.client_ip_address %q is not an IP address", at, ip)
		}
	}
	if website {
		for _, k := range []string{"client_ip_address", "client_user_agent"} {
			if _, ok := ud[k]; !ok {
				p.add("%s: website event without %s", at, k)
			}
		}
	}
	if fbc, ok := ud["fbc"].(string); ok {
		m := fbcRE.FindStringSubmatch(fbc)
		if m == nil {
			p.add("%s.fbc %q is not fb.<subdomain index>.<creation time ms>.<fbclid>", at, fbc)
		} else if ms, _ := strconv.ParseInt(m[1], 10, 64); ms > now.UnixMilli() {
			p.add("%s.fbc %q was created in the future", at, fbc)
		}
	}
	if fbp, ok := ud["fbp"].(string); ok && !fbpRE.MatchString(fbp) {
		p.add("%s.fbp %q is not fb.<subdomain index>.<creation time ms>.<random number>", at, fbp)
	}
}

func checkCustomData(p *problems, at string, cd map[string]any) {
	for k := range cd {
		if !customKeys[k] {
			p.add("%s: unknown field %q", at, k)
		}
	}
	if v, ok := cd["value"]; ok {
		if _, ok := v.(json.Number); !ok {
			p.add("%s.value is not a number", at)
		}
		if _, ok := cd["currency"]; !ok {
			p.add("%s: value without currency", at)
		}
	}
	if v, ok := cd["currency"]; ok {
		if s, ok := v.(string); !ok || !currRE.MatchString(s) {
			p.add("%s.currency %v is not an ISO 4217 code", at, v)
		}
	}
	if v, ok := cd["content_ids"]; ok {
		ids, ok := v.([]any)
		if !ok {
			p.add("%s.content_ids is not an array", at)
		}
		for _, id := range ids {
			if _, ok := id.(string); !ok {
				p.add("%s.content_ids holds %v, not a string", at, id)
			}
		}
	}
	if v, ok := cd["content_type"]; ok && v != "product" && v != "product_group" {
		p.add("%s.content_type %v is not product or product_group", at, v)
	}
	if v, ok := cd["order_id"]; ok {
		if s, ok := v.(string); !ok || s == "" {
			p.add("%s.order_id is not a non-empty string", at)
		}
	}
}

// integer reads a JSON integer.
func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}
