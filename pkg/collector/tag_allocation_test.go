//go:build !race

package collector_test

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// TestTagAllocations checks that serving the tag allocates nothing per
// request, generic or a pixel's (its body is made once per registry
// snapshot, on the first request), so that a flood of /px.js costs no
// garbage.
func TestTagAllocations(t *testing.T) {
	var cur atomic.Pointer[registry.Snapshot]
	cur.Store(registry.NewSnapshot([]*registry.Pixel{tagPixel("shop1", 30, pixel.ConsentRequired, registry.StatusActive)}))
	for _, tc := range []struct{ name, uri, want string }{
		{"generic", "/px.js", ""},
		{"pixel", "/px.js?id=shop1", `{engagementSeconds:30,consent:"required"});`},
		{"unknown pixel", "/px.js?id=nope", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, registryOf(&cur))
			s := newConnServer(ts.handler)
			req := "GET " + tc.uri + " HTTP/1.1\r\nHost: px.shop.example\r\nAccept-Encoding: identity\r\n\r\n"
			n := testing.AllocsPerRun(200, func() {
				if err := s.serve(req); err != nil {
					t.Fatal(err)
				}
			})
			resp := s.conn.w.Bytes()
			if !bytes.Contains(resp, []byte("\r\nContent-Type: application/javascript; charset=utf-8\r\n")) || !bytes.Contains(resp, []byte(tc.want)) {
				t.Fatalf("response is not the tag %s:\n%.300s", tc.want, resp)
			}
			if n != 0 {
				t.Fatalf("%v allocations per request, want 0", n)
			}
		})
	}
}
