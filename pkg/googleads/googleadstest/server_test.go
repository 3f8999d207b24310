package googleadstest

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The contract server refuses what Google's documentation rules out, and
// names the rule.
func TestServerRefusesViolations(t *testing.T) {
	good := `{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00"}`
	for _, tc := range []struct {
		name, path, body, want string
		header                 map[string]string
		code                   int
	}{
		{name: "valid", body: `{"conversions":[` + good + `],"partialFailure":true}`, code: 200},
		{name: "wrong version", path: "/v19/customers/1:uploadClickConversions", body: `{}`, want: "API version", code: 404},
		{name: "wrong path", path: "/v26/customers/1-2:uploadClickConversions", body: `{}`, want: "not POST", code: 404},
		{name: "no developer token", header: map[string]string{"developer-token": ""}, body: `{}`, want: "developer-token", code: 400},
		{name: "no bearer", header: map[string]string{"Authorization": "Basic x"}, body: `{}`, want: "Bearer", code: 401},
		{name: "login customer id", header: map[string]string{"login-customer-id": "123-456"}, body: `{}`, want: "login-customer-id", code: 400},
		{name: "not JSON", header: map[string]string{"Content-Type": "text/plain"}, body: `{}`, want: "Content-Type", code: 400},
		{name: "no partial failure", body: `{"conversions":[` + good + `]}`, want: "partialFailure must be true", code: 400},
		{name: "partial failure false", body: `{"conversions":[` + good + `],"partialFailure":false}`, want: "partialFailure must be true", code: 400},
		{name: "snake case field", body: `{"conversions":[` + good + `],"partial_failure":true}`, want: "unknown field", code: 400},
		{name: "value as a string", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00","conversionValue":"5"}],"partialFailure":true}`, want: "cannot unmarshal", code: 400},
		{name: "no conversions", body: `{"conversions":[],"partialFailure":true}`, want: "0 conversions", code: 400},
		{name: "2001 conversions", body: `{"conversions":[` + strings.Repeat(good+",", 2000) + good + `],"partialFailure":true}`, want: "2001 conversions", code: 400},
		{name: "two click ids", body: `{"conversions":[{"gclid":"G1","wbraid":"W","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00"}],"partialFailure":true}`, want: "2 of gclid, gbraid, wbraid", code: 400},
		{name: "no click id", body: `{"conversions":[{"conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00"}],"partialFailure":true}`, want: "0 of gclid", code: 400},
		{name: "no zone", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45"}],"partialFailure":true}`, want: "conversionDateTime", code: 400},
		{name: "RFC 3339 time", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15T11:30:45+01:00"}],"partialFailure":true}`, want: "conversionDateTime", code: 400},
		{name: "impossible date", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-02-30 11:30:45+01:00"}],"partialFailure":true}`, want: "conversionDateTime", code: 400},
		{name: "bad action", body: `{"conversions":[{"gclid":"G1","conversionAction":"conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00"}],"partialFailure":true}`, want: "conversionAction", code: 400},
		{name: "currency", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00","currencyCode":"eur"}],"partialFailure":true}`, want: "ISO 4217", code: 400},
		{name: "upper-case hash", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00","userIdentifiers":[{"hashedEmail":"` + strings.ToUpper(hash) + `"}]}],"partialFailure":true}`, want: "64 lower-case hex", code: 400},
		{name: "two identifiers in one object", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00","userIdentifiers":[{"hashedEmail":"` + hash + `","hashedPhoneNumber":"` + hash + `"}]}],"partialFailure":true}`, want: "exactly one of hashedEmail", code: 400},
		{name: "identifiers with a wbraid", body: `{"conversions":[{"wbraid":"W1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00","userIdentifiers":[{"hashedEmail":"` + hash + `"}]}],"partialFailure":true}`, want: "VALUE_MUST_BE_UNSET", code: 400},
		{name: "ad personalization", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00","consent":{"adUserData":"GRANTED","adPersonalization":"GRANTED"}}],"partialFailure":true}`, want: "adPersonalization", code: 400},
		{name: "consent spelling", body: `{"conversions":[{"gclid":"G1","conversionAction":"customers/1/conversionActions/2","conversionDateTime":"2026-01-15 11:30:45+01:00","consent":{"adUserData":"granted"}}],"partialFailure":true}`, want: "GRANTED or DENIED", code: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			defer s.Close()
			path := tc.path
			if path == "" {
				path = "/v26/customers/1234567890:uploadClickConversions"
			}
			req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader([]byte(tc.body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer t")
			req.Header.Set("developer-token", "d")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, b.String())
			}
			v := s.Violations()
			if tc.want == "" {
				if len(v) > 0 || len(s.Uploads()) != 1 {
					t.Fatalf("violations %v, uploads %d", v, len(s.Uploads()))
				}
				return
			}
			if len(v) != 1 || !strings.Contains(v[0], tc.want) || !strings.Contains(b.String(), tc.want) {
				t.Fatalf("violations %v, answer %s; want %q", v, b.String(), tc.want)
			}
			if !strings.Contains(b.String(), `"status":"`) || len(s.Uploads()) != 0 {
				t.Fatalf("answer %s is not Google's error body, or the upload was recorded", b.String())
			}
		})
	}
}
