package collector_test

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// benchmarkRequest serves request over and over through the whole request
// path (HTTP parsing, handler, response writing).
func benchmarkRequest(b *testing.B, handler fasthttp.RequestHandler, request string) {
	s := newConnServer(handler)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.serve(request); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPixelHandler is a returning visitor's purchase: the common case.
func BenchmarkPixelHandler(b *testing.B) {
	ts := newTestServer(b, nil)
	benchmarkRequest(b, ts.handler, rawGET(validHit, "Cookie: _ga=GA1.1.1.1; _pxid="+visitorID+"; _pxsid="+sessionID))
}

// BenchmarkPixelHandlerNewVisitor also generates the visitor, session and event ids.
func BenchmarkPixelHandlerNewVisitor(b *testing.B) {
	ts := newTestServer(b, nil)
	benchmarkRequest(b, ts.handler, rawGET(validHit))
}

// BenchmarkPixelHandlerInvalid is a hit that is answered and counted, not published.
func BenchmarkPixelHandlerInvalid(b *testing.B) {
	ts := newTestServer(b, nil)
	benchmarkRequest(b, ts.handler, rawGET("/p.gif?ev=Purchase&ts=yesterday"))
}

// BenchmarkBareHandler is the floor the pixel handler is measured against: the
// same request answered with the same GIF, headers and cookies, as make
// bench's bare server does, by a handler that does nothing else.
func BenchmarkBareHandler(b *testing.B) {
	cookies := pixel.DefaultConfig().Cookie
	benchmarkRequest(b, func(ctx *fasthttp.RequestCtx) {
		pixel.WriteCookies(&ctx.Response.Header, &cookies, ctx.Request.Header.Cookie(pixel.VisitorCookie), ctx.Request.Header.Cookie(pixel.SessionCookie))
		pixel.WriteGIF(ctx)
	}, rawGET(validHit, "Cookie: _ga=GA1.1.1.1; _pxid="+visitorID+"; _pxsid="+sessionID))
}

// BenchmarkCollectHandler is the JS tag's purchase from a returning visitor:
// one event, sent with sendBeacon.
func BenchmarkCollectHandler(b *testing.B) {
	ts := newTestServer(b, nil)
	benchmarkRequest(b, ts.handler, rawPOST("/collect", sendBeaconType, purchaseJSON, "Cookie: _ga=GA1.1.1.1; _pxid="+visitorID+"; _pxsid="+sessionID))
}

// BenchmarkCollectHandlerBatch10 is ten events in one request; ns/op is per request.
func BenchmarkCollectHandlerBatch10(b *testing.B) {
	ts := newTestServer(b, nil)
	batch := "[" + strings.TrimSuffix(strings.Repeat(purchaseJSON+",", 10), ",") + "]"
	benchmarkRequest(b, ts.handler, rawPOST("/collect", sendBeaconType, batch, "Cookie: _pxid="+visitorID+"; _pxsid="+sessionID))
}

// BenchmarkTag serves the JS tag.
func BenchmarkTag(b *testing.B) {
	ts := newTestServer(b, nil)
	benchmarkRequest(b, ts.handler, rawGET("/px.js", "Accept-Encoding: gzip"))
}

// segmentTrack is analytics-go's Order Completed, as the library writes it.
const segmentTrack = `{"type":"track","event":"Order Completed","messageId":"2d8b5b2c-6c1a-4c8e-9d0e-6b1f5a3e9c10","anonymousId":"anon-1","userId":"u-42",` +
	`"timestamp":"2026-12-01T20:59:00.123456789Z","properties":{"orderId":"1001","revenue":129.99,"currency":"eur","coupon":"WINTER",` +
	`"products":[{"id":"sku-1","price":99.99},{"id":"sku-2","price":30}]},"context":{"ip":"198.51.100.4","userAgent":"` + browserUA + `",` +
	`"page":{"url":"https://shop.example/thanks?utm_source=news"},"campaign":{"name":"spring"},"traits":{"email":"Jane.Doe@gmail.com"},` +
	`"library":{"name":"analytics-go","version":"3.0.0"}}}`

// BenchmarkSegmentTrack is one Segment track call on /v1/track.
func BenchmarkSegmentTrack(b *testing.B) {
	ts := newSegmentServer(b, func(c *collector.Config) { c.ServerAPI.Rate, c.ServerAPI.Limits.MaxAge = 0, 1<<62 })
	ts.pub.keep = false
	benchmarkRequest(b, ts.handler, rawPOST("/v1/track", "application/json", segmentTrack, segAuth))
}

// BenchmarkSegmentBatch10 is ten of them in one /v1/batch request; ns/op
// is per request.
func BenchmarkSegmentBatch10(b *testing.B) {
	ts := newSegmentServer(b, func(c *collector.Config) { c.ServerAPI.Rate, c.ServerAPI.Limits.MaxAge = 0, 1<<62 })
	ts.pub.keep = false
	batch := `{"batch":[` + strings.TrimSuffix(strings.Repeat(segmentTrack+",", 10), ",") + `],"sentAt":"2026-12-01T20:59:01Z"}`
	benchmarkRequest(b, ts.handler, rawPOST("/v1/batch", "application/json", batch, segAuth))
}
