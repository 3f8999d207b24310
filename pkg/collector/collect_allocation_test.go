//go:build !race

package collector_test

import (
	"bytes"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// TestCollectAllocations checks that POST /collect allocates nothing per
// event once pools and buffers are warm, through the whole request path
// (HTTP parsing, body, handler, encoding, response), as TestPixelAllocations
// does for the GIF.
func TestCollectAllocations(t *testing.T) {
	batch := "[" + purchaseJSON + `,{"id":"px1","ev":"ViewContent","dl":"https:\/\/shop.example\/p\/1","cd":{"content_ids":[1,2]}},{"id":"px1","ev":"Bad Name"}]`
	for _, tc := range []struct {
		name, request string
		published     int // messages per request
	}{
		{"returning visitor, sendBeacon", rawPOST("/collect", sendBeaconType, purchaseJSON, "Cookie: _ga=GA1.1.1.1; _pxid="+visitorID+"; _pxsid="+sessionID), 1},
		{"new visitor", rawPOST("/collect", sendBeaconType, `{"id":"px1","ev":"PageView","dl":"https://shop.example/"}`), 1},
		{"fetch with CORS", rawPOST("/collect", "application/json", purchaseJSON, "Origin: https://shop.example", "Cookie: _pxid="+visitorID), 1},
		{"batch of three, one invalid", rawPOST("/collect", sendBeaconType, batch, "Cookie: _pxid="+visitorID), 2},
		{"escapes", rawPOST("/collect", sendBeaconType, `{"id":"px1","dl":"https:\/\/x.example\/caf\u00e9","cd":{"q":"a\"b"}}`), 1},
		{"not JSON", rawPOST("/collect", sendBeaconType, `id=px1`), 0},
		{"opted out", rawPOST("/collect", sendBeaconType, purchaseJSON, "Sec-GPC: 1"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			s := newConnServer(ts.handler)
			runs := 200
			n := testing.AllocsPerRun(runs, func() {
				if err := s.serve(tc.request); err != nil {
					t.Fatal(err)
				}
			})
			// Make sure the runs did the real work, not a shortcut.
			if tc.published > 0 && !bytes.HasPrefix(s.conn.w.Bytes(), []byte("HTTP/1.1 204 No Content\r\n")) {
				t.Fatalf("response is not 204:\n%s", s.conn.w.Bytes())
			}
			if want := tc.published * (runs + 1); ts.pub.published != want {
				t.Fatalf("published %d messages, want %d", ts.pub.published, want)
			}
			if tc.published > 0 {
				var e event.Event
				if err := event.Parse(ts.pub.last.Value, &e); err != nil || string(e.IP) != "203.0.113.7" {
					t.Fatalf("published event with ip %q (%v)", e.IP, err)
				}
			}
			if n != 0 {
				t.Fatalf("%v allocations per request, want 0", n)
			}
		})
	}
}
