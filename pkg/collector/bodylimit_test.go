//go:build !race

package collector

import (
	"testing"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/publish"
)

type nopPublisher struct{ m publish.Message }

func (p *nopPublisher) Acquire() *publish.Message     { return &p.m }
func (p *nopPublisher) Publish(*publish.Message) bool { return true }
func (p *nopPublisher) Ready() error                  { return nil }

// TestBodyLimit checks fasthttp's HeaderReceived hook, which runs on every
// request, pixel hits included: the server API's paths get its body limit,
// every other path the listener's, and the hook allocates nothing.
func TestBodyLimit(t *testing.T) {
	s := New(DefaultConfig(), &nopPublisher{}, zerolog.Nop(), metrics.NewSet())
	for uri, want := range map[string]int{
		"/p.gif?id=px1&ev=PageView": 0, // 0: the listener's MaxRequestBodySize
		"/collect":                  0,
		"/v1/px1/events":            1 << 20,
		"/v1/track":                 1 << 20,
		"/v1":                       0,
	} {
		var h fasthttp.RequestHeader
		h.SetRequestURI(uri)
		var got int
		if n := testing.AllocsPerRun(100, func() { got = s.bodyLimit(&h).MaxRequestBodySize }); n != 0 {
			t.Errorf("%s: %v allocations", uri, n)
		}
		if got != want {
			t.Errorf("%s: MaxRequestBodySize %d, want %d", uri, got, want)
		}
	}
}
