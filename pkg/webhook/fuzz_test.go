package webhook_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/webhook"
)

// FuzzVerify: Verify never panics on any header text, accepts only a
// header holding the true signature, and always accepts what Sign wrote.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"sent_at":"2026-12-01T21:00:00Z","events":[]}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := webhook.Sign(secret, ts, body)
	for _, s := range []struct{ ts, sig string }{
		{ts, sig}, {ts, "v1=00," + sig}, {ts, ""}, {"", sig}, {ts, "v1="}, {ts, ",,,"}, {ts, "v1=zz"},
		{"-1", sig}, {"99999999999999999999", sig}, {ts + " ", sig}, {ts, " " + sig + " "}, {ts, strings.ToUpper(sig)},
	} {
		f.Add(s.ts, s.sig, body)
	}
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		err := webhook.Verify(string(secret), timestamp, signature, body, now, time.Hour)
		if err == nil {
			want := webhook.Sign(secret, timestamp, body)[3:]
			if !strings.Contains(strings.ToLower(signature), want) {
				t.Fatalf("accepted %q for %q without the true signature %s", signature, timestamp, want)
			}
			n, perr := strconv.ParseInt(timestamp, 10, 64)
			if perr != nil || n < now.Add(-time.Hour).Unix() || n > now.Add(time.Hour).Unix() {
				t.Fatalf("accepted timestamp %q", timestamp)
			}
		}
		if _, perr := strconv.ParseUint(timestamp, 10, 64); perr == nil && len(timestamp) <= 12 {
			if n, _ := strconv.ParseInt(timestamp, 10, 64); n >= now.Add(-time.Hour).Unix() && n <= now.Add(time.Hour).Unix() {
				if err := webhook.Verify(string(secret), timestamp, webhook.Sign(secret, timestamp, body), body, now, time.Hour); err != nil {
					t.Fatalf("Sign's own signature refused: %v", err)
				}
			}
		}
	})
}
