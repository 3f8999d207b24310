//go:build !race

package collector_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// TestSegmentAllocations checks that Segment's paths allocate nothing per
// request once pools and buffers are warm, through the whole request path
// (HTTP parsing, basic auth, the registry's lookup by write key, the body,
// hashing, encoding, the answer), as TestCollectAllocations does for
// POST /collect.
func TestSegmentAllocations(t *testing.T) {
	stamp := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	track := `{"type":"track","event":"Order Completed","messageId":"m-1","anonymousId":"anon-1","userId":"u-42","timestamp":"` + stamp + `",
		"properties":{"order_id":"1001","revenue":129.99,"currency":"eur","products":[{"product_id":"sku-1"}],"coupon":"WINTER"},
		"context":{"ip":"198.51.100.4","userAgent":"` + browserUA + `","page":{"url":"https://shop.example/thanks?utm_source=x"},
		"campaign":{"name":"spring"},"traits":{"email":"Jane.Doe@gmail.com"}}}`
	batch := `{"batch":[` + track + `,{"type":"page","anonymousId":"anon-1","name":"Home"},{"type":"identify","userId":"u-42","traits":{"phone":"+15550100000"}},` +
		`{"type":"group","groupId":"g"}],"sentAt":"` + stamp + `","context":{"library":{"name":"analytics-go"}}}`
	for _, tc := range []struct {
		name, request string
		published     int // messages per request
		key           string
	}{
		{"track", rawPOST("/v1/track", "application/json", track, segAuth), 1, segKey},
		{"batch of four, one refused", rawPOST("/v1/batch", "application/json", batch, segAuth), 3, segKey},
		{"truncating pixel", rawPOST("/v1/batch", "application/json", batch, basicAuth(segTruncKey, "")), 3, segTruncKey},
		{"wrong key", rawPOST("/v1/batch", "application/json", batch, basicAuth("pxs_wrong", "")), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newSegmentServer(t, func(c *collector.Config) { c.ServerAPI.Rate = 0 })
			ts.pub.keep = false
			s := newConnServer(ts.handler)
			runs := 200
			n := testing.AllocsPerRun(runs, func() {
				if err := s.serve(tc.request); err != nil {
					t.Fatal(err)
				}
			})
			// Make sure the runs did the real work, not a shortcut.
			if tc.published > 0 && !bytes.Contains(s.conn.w.Bytes(), []byte(`{"success":true,`)) {
				t.Fatalf("response is not a success:\n%s", s.conn.w.Bytes())
			}
			if want := tc.published * (runs + 1); ts.pub.published != want {
				t.Fatalf("published %d messages, want %d", ts.pub.published, want)
			}
			if tc.published > 0 {
				var e event.Event
				if err := event.Parse(ts.pub.last.Value, &e); err != nil || string(e.EventID) == "" {
					t.Fatalf("published event %s (%v)", ts.pub.last.Value, err)
				}
			}
			if n != 0 {
				t.Fatalf("%v allocations per request, want 0", n)
			}
		})
	}
}
