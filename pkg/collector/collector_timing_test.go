package collector_test

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

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
