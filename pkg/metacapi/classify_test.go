package metacapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	metaErr := func(code int, transient bool) string {
		s := `{"error":{"message":"m","type":"OAuthException","code":` + itoa(code) + `,"error_subcode":2804003,"fbtrace_id":"T"`
		if transient {
			s += `,"is_transient":true`
		}
		return s + `}}`
	}
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		sent       int
		outcome    Outcome
		delay      time.Duration
	}{
		{"accepted", 200, "", `{"events_received":3,"messages":[],"fbtrace_id":"A"}`, 3, Accepted, 0},
		{"accepted count short", 200, "", `{"events_received":2}`, 3, Refused, 0},
		{"200 without count", 200, "", `{"ok":true}`, 1, Refused, 0},
		{"200 not JSON", 200, "", `<html>`, 1, Refused, 0},
		{"200 count as string", 200, "", `{"events_received":"1"}`, 1, Refused, 0},
		{"429 seconds", 429, "12", metaErr(4, false), 1, Retry, 12 * time.Second},
		{"429 no header", 429, "", "", 1, Retry, 0},
		{"429 bad header", 429, "soon", "", 1, Retry, 0},
		{"429 huge header", 429, "99999999999999999999", "", 1, Retry, time.Hour},
		{"503 date", 503, "Tue, 01 Dec 2026 21:01:00 GMT", "", 1, Retry, time.Minute},
		{"503 past date", 503, "Tue, 01 Dec 2026 20:00:00 GMT", "", 1, Retry, 0},
		{"500 Meta body", 500, "", metaErr(1, true), 1, Retry, 0},
		{"502 HTML from a proxy", 502, "", "<html>bad gateway</html>", 1, Retry, 0},
		{"408", 408, "", "", 1, Retry, 0},
		{"400 code 1", 400, "", metaErr(1, false), 1, Retry, 0},
		{"400 code 2", 400, "", metaErr(2, false), 1, Retry, 0},
		{"400 code 4", 400, "5", metaErr(4, false), 1, Retry, 5 * time.Second},
		{"400 code 17", 400, "", metaErr(17, false), 1, Retry, 0},
		{"400 code 341", 400, "", metaErr(341, false), 1, Retry, 0},
		{"400 is_transient", 400, "", metaErr(9999, true), 1, Retry, 0},
		{"400 invalid parameter", 400, "", metaErr(100, false), 1, Refused, 0},
		{"400 bad token", 400, "", metaErr(190, false), 1, Refused, 0},
		{"403 no body", 403, "", "", 1, Refused, 0},
		{"404", 404, "", `{"error":{"message":"Unsupported post request","code":100}}`, 1, Refused, 0},
		{"301", 301, "", "", 1, Refused, 0},
	} {
		r := Classify(tc.status, tc.retryAfter, []byte(tc.body), tc.sent, now)
		if r.Outcome != tc.outcome || r.RetryAfter != tc.delay || r.Status != tc.status || string(r.Body) != tc.body {
			t.Errorf("%s: %+v, want %v after %v", tc.name, r, tc.outcome, tc.delay)
		}
		if r.Outcome != Accepted && r.Reason == "" {
			t.Errorf("%s: no reason", tc.name)
		}
		if strings.HasPrefix(tc.body, `{"error"`) && (r.Error == nil || r.Error.FBTraceID == "" && r.Error.Message == "") {
			t.Errorf("%s: error body not read: %+v", tc.name, r.Error)
		}
	}
	r := Classify(400, "", []byte(metaErr(100, false)), 1, now)
	if r.Error.Code != 100 || r.Error.ErrorSubcode != 2804003 || r.Error.Type != "OAuthException" || r.Error.FBTraceID != "T" || r.Error.Message != "m" {
		t.Errorf("error %+v", r.Error)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Accepted: "accepted", Retry: "retry", Refused: "refused", 0: "outcome(0)", 9: "outcome(9)"} {
		if o.String() != want {
			t.Errorf("%d: %s", o, o.String())
		}
	}
}

func TestParseRetryAfterDate(t *testing.T) {
	d := ParseRetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now)
	if d != 30*time.Second {
		t.Errorf("%v", d)
	}
}
