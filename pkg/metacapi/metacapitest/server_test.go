package metacapitest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// good is a valid website event; each case below breaks one rule.
func good() string {
	return fmt.Sprintf(`{"event_name":"Purchase","event_time":%d,"event_id":"e1","action_source":"website",`+
		`"event_source_url":"https://shop.example/","user_data":{"em":["%s"],"client_ip_address":"203.0.113.7",`+
		`"client_user_agent":"UA","fbc":"fb.1.%d.IwAR"},"custom_data":{"value":1.5,"currency":"EUR"}}`, now.Unix()-10, hash, now.UnixMilli()-1000)
}

func body(events ...string) string { return `{"data":[` + strings.Join(events, ",") + `]}` }

var q = url.Values{"access_token": {"t"}}

func TestCheckValid(t *testing.T) {
	for _, b := range []string{
		body(good()),
		`{"data":[` + good() + `],"test_event_code":"TEST1"}`,
		body(strings.Replace(good(), `"action_source":"website"`, `"action_source":"phone_call"`, 1)),
		body(strings.Replace(good(), `"em":["`+hash+`"]`, `"em":"`+hash+`"`, 1)),
		body(strings.Replace(good(), `"event_id":"e1"`, `"event_id":"e1","data_processing_options":["LDU"],"data_processing_options_country":0,"data_processing_options_state":0`, 1)),
		body(strings.Replace(good(), `"event_id":"e1"`, `"event_id":"e1","data_processing_options":[]`, 1)),
		body(strings.Repeat(good()+",", 999) + good()),
	} {
		if rec, p := Check(http.MethodPost, "/v25.0/123/events", q, "application/json", []byte(b), now); len(p) != 0 || len(rec.Events) == 0 {
			t.Errorf("valid body refused: %v\n%.300s", p, b)
		}
	}
}

// TestCheckViolations: each rule of Meta's format is checked.
func TestCheckViolations(t *testing.T) {
	r := func(old, new string) string { return body(strings.Replace(good(), old, new, 1)) }
	for _, tc := range []struct {
		name, method, path, ctype, body, want string
		query                                 url.Values
	}{
		{name: "GET", method: "GET", body: body(good()), want: "method"},
		{name: "path", path: "/25/123/events", body: body(good()), want: "path"},
		{name: "path without events", path: "/v25.0/123", body: body(good()), want: "path"},
		{name: "no token", query: url.Values{}, body: body(good()), want: "access_token"},
		{name: "form body", ctype: "application/x-www-form-urlencoded", body: body(good()), want: "Content-Type"},
		{name: "not JSON", body: `data=[]`, want: "not a JSON object"},
		{name: "no data", body: `{}`, want: "data is missing"},
		{name: "empty data", body: `{"data":[]}`, want: "data is empty"},
		{name: "1001 events", body: body(strings.Repeat(good()+",", 1000) + good()), want: "more than 1000"},
		{name: "unknown body field", body: `{"data":[` + good() + `],"token":"x"}`, want: "unknown body field"},
		{name: "empty test_event_code", body: `{"data":[` + good() + `],"test_event_code":""}`, want: "test_event_code"},
		{name: "unknown event field", body: r(`"event_id":"e1"`, `"event_id":"e1","eventName":"x"`), want: "unknown field"},
		{name: "event_time as string", body: r(fmt.Sprint(now.Unix()-10), `"`+fmt.Sprint(now.Unix()-10)+`"`), want: "event_time is missing or not an integer"},
		{name: "event_time in ms", body: r(fmt.Sprint(now.Unix()-10), fmt.Sprint(now.UnixMilli())), want: "future"},
		{name: "event_time 8 days old", body: r(fmt.Sprint(now.Unix()-10), fmt.Sprint(now.Unix()-8*86400)), want: "7 days"},
		{name: "event_id number", body: r(`"event_id":"e1"`, `"event_id":1`), want: "event_id"},
		{name: "action_source", body: r(`"action_source":"website"`, `"action_source":"web"`), want: "action_source"},
		{name: "website without url", body: r(`"event_source_url":"https://shop.example/",`, ``), want: "event_source_url"},
		{name: "relative url", body: r(`"https://shop.example/"`, `"/thanks"`), want: "event_source_url"},
		{name: "no user_data", body: r(`"user_data":{`, `"x_user_data":{`), want: "user_data is missing"},
		{name: "unhashed email", body: r(`["`+hash+`"]`, `["jane@example.com"]`), want: "SHA-256"},
		{name: "upper-case hash", body: r(`["`+hash+`"]`, `["`+strings.ToUpper(hash)+`"]`), want: "SHA-256"},
		{name: "empty em array", body: r(`["`+hash+`"]`, `[]`), want: "empty array"},
		{name: "website without ip", body: r(`"client_ip_address":"203.0.113.7",`, ``), want: "without client_ip_address"},
		{name: "website without user agent", body: r(`,"client_user_agent":"UA"`, ``), want: "without client_user_agent"},
		{name: "bad ip", body: r(`203.0.113.7`, `203.0.113`), want: "not an IP"},
		{name: "unknown user_data field", body: r(`"client_user_agent"`, `"email":"x","client_user_agent"`), want: "unknown field"},
		{name: "fbc in seconds", body: r(fmt.Sprint(now.UnixMilli()-1000), fmt.Sprint(now.Unix())), want: "fbc"},
		{name: "fbc without prefix", body: r(`"fb.1.`, `"`), want: "fbc"},
		{name: "fbc from the future", body: r(fmt.Sprint(now.UnixMilli()-1000), fmt.Sprint(now.UnixMilli()+60000)), want: "future"},
		{name: "bad fbp", body: r(`"client_user_agent"`, `"fbp":"fb.1.x","client_user_agent"`), want: "fbp"},
		{name: "value without currency", body: r(`,"currency":"EUR"`, ``), want: "value without currency"},
		{name: "value as string", body: r(`"value":1.5`, `"value":"1.5"`), want: "value is not a number"},
		{name: "lower-case currency", body: r(`"EUR"`, `"eur"`), want: "ISO 4217"},
		{name: "content_ids numbers", body: r(`"value":1.5`, `"content_ids":[1],"value":1.5`), want: "content_ids"},
		{name: "content_type", body: r(`"value":1.5`, `"content_type":"sku","value":1.5`), want: "content_type"},
		{name: "custom_data array", body: r(`"custom_data":{"value":1.5,"currency":"EUR"}`, `"custom_data":[]`), want: "custom_data is not an object"},
		{name: "LDU without country", body: r(`"event_id":"e1"`, `"event_id":"e1","data_processing_options":["LDU"]`), want: "data_processing_options_country"},
		{name: "other option", body: r(`"event_id":"e1"`, `"event_id":"e1","data_processing_options":["XYZ"],"data_processing_options_country":0,"data_processing_options_state":0`), want: "only \"LDU\""},
	} {
		if tc.method == "" {
			tc.method = http.MethodPost
		}
		if tc.path == "" {
			tc.path = "/v25.0/123/events"
		}
		if tc.ctype == "" {
			tc.ctype = "application/json"
		}
		if tc.query == nil {
			tc.query = q
		}
		_, p := Check(tc.method, tc.path, tc.query, tc.ctype, []byte(tc.body), now)
		if !strings.Contains(strings.Join(p, "\n"), tc.want) {
			t.Errorf("%s: violations %q, want one with %q", tc.name, p, tc.want)
		}
	}
}

// TestServerAnswers: a violation is a 400 with Meta's error body and is
// recorded; scripted failures come in order, then acceptance.
func TestServerAnswers(t *testing.T) {
	s := New()
	defer s.Close()
	s.Now = func() time.Time { return now }
	post := func(b string) (*http.Response, error) {
		return s.Client().Post(s.URL+"/v25.0/123/events?access_token=t", "application/json", strings.NewReader(b))
	}
	resp, err := post(`{"data":[]}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || len(s.Violations()) != 1 {
		t.Fatalf("invalid request: %d, violations %v", resp.StatusCode, s.Violations())
	}
	s.FailNext(1, RateLimited("3"))
	s.FailNext(1, ServerError())
	for _, want := range []struct {
		status     int
		retryAfter string
	}{{429, "3"}, {500, ""}, {200, ""}} {
		resp, err := post(body(good()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want.status || resp.Header.Get("Retry-After") != want.retryAfter {
			t.Errorf("got %d Retry-After %q, want %+v", resp.StatusCode, resp.Header.Get("Retry-After"), want)
		}
	}
	if len(s.Received()) != 1 || len(s.Events()) != 1 || s.Attempts() != 4 {
		t.Errorf("received %d, events %d, attempts %d", len(s.Received()), len(s.Events()), s.Attempts())
	}
}

// FuzzCheck: the contract check reads any body without a panic, and a body
// it finds valid is a JSON object with 1 to 1,000 events.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(body(good())))
	f.Add([]byte(`{"data":[{"user_data":{"em":[1,null]},"data_processing_options":"LDU"}]}`))
	f.Add([]byte(`{"data":[{"custom_data":{"value":1,"content_ids":{}}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, p := Check(http.MethodPost, "/v25.0/1/events", q, "application/json", b, now)
		if len(p) == 0 && (len(rec.Events) == 0 || len(rec.Events) > 1000) {
			t.Fatalf("valid with %d events", len(rec.Events))
		}
	})
}
