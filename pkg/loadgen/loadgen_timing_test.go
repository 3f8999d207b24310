package loadgen_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/loadgen"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// BenchmarkRunClosedLoop measures the generator itself: a closed loop over 4
// connections against a fasthttp server that only answers the GIF, both in
// this process. ns/op is the inverse of its throughput on this machine.
func BenchmarkRunClosedLoop(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{ReadBufferSize: 16 << 10, Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("image/gif")
		ctx.Response.SetBodyRaw(pixel.GIF)
	}}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown() }()

	cfg := loadgen.DefaultConfig()
	cfg.Target = "http://" + ln.Addr().String()
	cfg.Connections = 4
	cfg.MaxRequests = int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if res.Status[200] != int64(b.N) {
		b.Fatalf("status %v, errors %+v", res.Status, res.Errors)
	}
	b.ReportMetric(res.AchievedRate, "req/s")
	b.ReportMetric(float64(res.Latency.P99)/float64(time.Microsecond), "p99-µs")
}

func BenchmarkFill(b *testing.B) {
	mix := loadgen.DefaultMix()
	mix.EventIDs = true
	g := newGenerator(b, 1, mix)
	var h loadgen.Hit
	b.ReportAllocs()
	var n int64
	for i := 0; b.Loop(); i++ {
		g.Fill(&h, uint64(i), genNow)
		n += int64(len(h.Query))
	}
	b.SetBytes(n / int64(b.N))
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := loadgen.NewHistogram()
	b.ReportAllocs()
	d := time.Duration(0)
	for b.Loop() {
		h.Record(d)
		d = (d + 7919*time.Nanosecond) % time.Second
	}
}
