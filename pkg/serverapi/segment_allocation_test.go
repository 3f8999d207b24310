//go:build !race

package serverapi

import (
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// TestSegmentAllocations checks that reading a warm Body's Segment batch
// allocates nothing per message: mapping, hashing, times, props.
func TestSegmentAllocations(t *testing.T) {
	body := []byte(`{"batch":[{"type":"track","event":"Order Completed","messageId":"m1","anonymousId":"a1","userId":"u1",
		"timestamp":"2026-12-01T11:59:00.000+01:00","sentAt":"2026-12-01T11:59:01Z",
		"properties":{"revenue":"9.5","currency":"usd","order_id":"o1","products":[{"product_id":"p1"}],"coupon":"C"},
		"context":{"ip":"198.51.100.4","userAgent":"ua","campaign":{"name":"c"},"page":{"url":"https://x.example/"},"traits":{"email":"a@b.example"}}},
		{"type":"page","anonymousId":"a1","name":"Home"},{"type":"identify","userId":"u1","traits":{"phone":"+15550100000"}}]}`)
	var b Body
	var e event.Event
	lim := DefaultLimits()
	pixelID := []byte("px1")
	run := func() {
		if err := b.ResetSegment(body, &lim, ""); err != nil {
			t.Fatal(err)
		}
		for b.More() {
			if err := b.Next(&e, pixelID, testNow); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocations per batch, want 0", n)
	}
}
