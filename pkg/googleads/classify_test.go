package googleads

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

func TestClassify(t *testing.T) {
	rowErr := func(i int, code string) string {
		return `{"errorCode":{"conversionUploadError":"` + code + `"},"message":"m` + code + `","location":{"fieldPathElements":[{"fieldName":"conversions","index":` + itoa(i) + `},{"fieldName":"gclid"}]}}`
	}
	partial := func(errs ...string) string {
		b := `{"partialFailureError":{"code":3,"message":"failed","details":[{"@type":"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure","errors":[`
		for i, e := range errs {
			if i > 0 {
				b += ","
			}
			b += e
		}
		return b + `]}]},"results":[{},{}]}`
	}
	rpc := func(code int, status string) string {
		return `{"error":{"code":` + itoa(code) + `,"message":"msg","status":"` + status + `","details":[{"@type":"x","errors":[{"errorCode":{"quotaError":"RESOURCE_EXHAUSTED"},"message":"q","details":{"quotaErrorDetails":{"retryDelay":"12.5s"}}}]}]}}`
	}
	for _, tc := range []struct {
		name       string
		code       int
		retryAfter string
		body       string
		outcome    Outcome
		delay      time.Duration
		refused    []int
		codes      int // error codes of the first refused row
	}{
		{name: "200 empty", code: 200, body: `{}`, outcome: Accepted},
		{name: "200 not JSON", code: 200, body: `<html>`, outcome: Accepted},
		{name: "200 results only", code: 200, body: `{"results":[{"gclid":"a"}],"jobId":"9"}`, outcome: Accepted},
		{name: "200 empty partialFailureError", code: 200, body: `{"partialFailureError":{}}`, outcome: Accepted},
		{name: "partial failure rows", code: 200, body: partial(rowErr(3, "A"), rowErr(0, "B"), rowErr(3, "C")), outcome: Accepted, refused: []int{0, 3}, codes: 1},
		{name: "partial failure row out of range", code: 200, body: partial(rowErr(9, "A")), outcome: Permanent},
		{name: "partial failure without a location", code: 200, body: partial(`{"errorCode":{"requestError":"X"},"message":"m"}`), outcome: Permanent},
		{name: "partial failure negative index", code: 200, body: partial(rowErr(-1, "A")), outcome: Permanent},
		{name: "429 seconds", code: 429, retryAfter: "5", body: `{}`, outcome: Retry, delay: 5 * time.Second},
		{name: "429 date", code: 429, retryAfter: now.Add(time.Minute).Format(http.TimeFormat), outcome: Retry, delay: time.Minute},
		{name: "429 date in the past", code: 429, retryAfter: now.Add(-time.Minute).Format(http.TimeFormat), outcome: Retry},
		{name: "429 huge", code: 429, retryAfter: "99999999", outcome: Retry, delay: 24 * time.Hour},
		{name: "429 garbage header, body delay", code: 429, retryAfter: "soon", body: rpc(429, "RESOURCE_EXHAUSTED"), outcome: Retry, delay: 12500 * time.Millisecond},
		{name: "500", code: 500, body: `oops`, outcome: Retry},
		{name: "502", code: 502, outcome: Retry},
		{name: "408", code: 408, outcome: Retry},
		{name: "RESOURCE_EXHAUSTED as 400", code: 400, body: rpc(400, "RESOURCE_EXHAUSTED"), outcome: Retry, delay: 12500 * time.Millisecond},
		{name: "UNAVAILABLE", code: 400, body: rpc(400, "UNAVAILABLE"), outcome: Retry, delay: 12500 * time.Millisecond},
		{name: "INTERNAL", code: 400, body: rpc(400, "INTERNAL"), outcome: Retry, delay: 12500 * time.Millisecond},
		{name: "400 INVALID_ARGUMENT", code: 400, body: rpc(400, "INVALID_ARGUMENT"), outcome: Permanent},
		{name: "404", code: 404, body: `Not Found`, outcome: Permanent},
		{name: "401", code: 401, body: rpc(401, "UNAUTHENTICATED"), outcome: Unauthorized},
		{name: "403", code: 403, body: rpc(403, "PERMISSION_DENIED"), outcome: Unauthorized},
		{name: "204", code: 204, outcome: Permanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Classify(tc.code, tc.retryAfter, []byte(tc.body), 4, now)
			if r.Outcome != tc.outcome || r.Delay != tc.delay {
				t.Fatalf("%v %v, want %v %v", r.Outcome, r.Delay, tc.outcome, tc.delay)
			}
			if len(r.Refused) != len(tc.refused) {
				t.Fatalf("refused %+v, want rows %v", r.Refused, tc.refused)
			}
			for i, row := range r.Refused {
				if row.Index != tc.refused[i] || !json.Valid(row.Detail) {
					t.Fatalf("refused %+v, want rows %v", r.Refused, tc.refused)
				}
			}
			if len(r.Refused) > 0 {
				if got := r.Refused[1].Codes; len(got) != 2 || got[0] != "conversionUploadError: A" || got[1] != "conversionUploadError: C" || r.Refused[1].Message != "mA" {
					t.Fatalf("row 3 codes %v message %q", got, r.Refused[1].Message)
				}
				if r.AcceptedRows() != 2 {
					t.Fatalf("accepted %d", r.AcceptedRows())
				}
			}
			if (r.Outcome == Permanent || r.Outcome == Unauthorized) && string(r.Body) != tc.body {
				t.Fatalf("body %q not kept", r.Body)
			}
		})
	}
}

// FuzzClassify: any answer classifies without panicking into one outcome,
// with a bounded delay and refused rows that exist, once each, in order.
func FuzzClassify(f *testing.F) {
	f.Add(200, "", []byte(`{"partialFailureError":{"code":3,"details":[{"errors":[{"errorCode":{"conversionUploadError":"X"},"location":{"fieldPathElements":[{"fieldName":"conversions","index":1}]}}]}]}}`), 3)
	f.Add(429, "30", []byte(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"errors":[{"details":{"quotaErrorDetails":{"retryDelay":"3s"}}}]}]}}`), 1)
	f.Add(400, "", []byte(`{"error":{"code":400,"status":"INVALID_ARGUMENT"}}`), 2)
	f.Add(503, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(``), 0)
	f.Fuzz(func(t *testing.T, code int, retryAfter string, body []byte, rows int) {
		if rows < 0 || rows > MaxPerRequest {
			rows = 1
		}
		r := Classify(code, retryAfter, body, rows, now)
		if r.Outcome > Unauthorized {
			t.Fatalf("outcome %d", r.Outcome)
		}
		if r.Delay < 0 || r.Delay > 24*time.Hour || (r.Delay != 0 && r.Outcome != Retry) {
			t.Fatalf("delay %v for %v", r.Delay, r.Outcome)
		}
		if r.Outcome == Accepted && code != 200 {
			t.Fatalf("accepted a %d", code)
		}
		if len(r.Refused) > 0 && r.Outcome != Accepted {
			t.Fatalf("refused rows with %v", r.Outcome)
		}
		last := -1
		for _, row := range r.Refused {
			if row.Index <= last || row.Index >= rows || len(row.Codes) == 0 || !json.Valid(row.Detail) {
				t.Fatalf("refused rows %+v of %d", r.Refused, rows)
			}
			last = row.Index
		}
		if n := r.AcceptedRows(); n < 0 || n > rows {
			t.Fatalf("accepted %d of %d", n, rows)
		}
	})
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
