package collector_test

import (
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
// same request answered with the GIF by a handler that does nothing else.
func BenchmarkBareHandler(b *testing.B) {
	benchmarkRequest(b, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("image/gif")
		ctx.Response.SetBodyRaw(pixel.GIF)
	}, rawGET(validHit, "Cookie: _ga=GA1.1.1.1; _pxid="+visitorID+"; _pxsid="+sessionID))
}
