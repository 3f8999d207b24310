package loadgen

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Every value falls in the bucket whose bounds bucketBounds gives, and
// buckets follow each other without gaps up to HistogramMax.
func TestBucketsTileTheRange(t *testing.T) {
	for _, b := range []uint8{latencyBits, timelineBits} {
		last := bucketIndex(uint64(HistogramMax), b)
		next := uint64(0)
		for i := 0; i <= last; i++ {
			lo, w := bucketBounds(i, b)
			if lo != next {
				t.Fatalf("bits %d: bucket %d starts at %d, want %d", b, i, lo, next)
			}
			for _, v := range []uint64{lo, lo + w/2, lo + w - 1} {
				if got := bucketIndex(v, b); got != i {
					t.Fatalf("bits %d: value %d in bucket %d, want %d", b, v, got, i)
				}
			}
			if lo >= 1<<b && float64(w)/float64(lo) > 2/float64(uint64(1)<<b) {
				t.Fatalf("bits %d: bucket %d is %d wide at %d", b, i, w, lo)
			}
			next = lo + w
		}
		if h := newHistogram(b); len(h.counts) != last+1 {
			t.Fatalf("bits %d: %d counters for %d buckets", b, len(h.counts), last+1)
		}
	}
}

// Sending a hit, from making it to recording the answer, allocates next to
// nothing once the worker's buffers have grown.
func TestSendAllocations(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{ReadBufferSize: 16 << 10, Handler: func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Cookie(pixel.VisitorCookie)) == 0 {
			ctx.Response.Header.Set("Set-Cookie", "_pxid=AAAAAAAAAAAAAAAAAAAAAA; Path=/; Max-Age=34560000")
			ctx.Response.Header.Add("Set-Cookie", "_pxsid=BBBBBBBBBBBBBBBBBBBBBA; Path=/; Max-Age=1800")
		}
		ctx.Response.SetBodyRaw(pixel.GIF)
	}}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown() }()

	cfg := DefaultConfig()
	cfg.Target = "http://" + ln.Addr().String()
	cfg.MaxRequests = 1
	cfg.Mix.CookieFraction = 1
	cfg.Mix.Visitors = 100
	cfg.Mix.EventIDs = true
	tgt, err := cfg.normalize()
	if err != nil {
		t.Fatal(err)
	}
	gen, err := NewGenerator(cfg.Seed, cfg.Mix)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: &cfg, tgt: tgt, gen: gen, jar: newJar(cfg.Mix.Visitors), start: time.Now()}
	w := newWorker(r)
	defer w.closeConn()
	ctx := context.Background()
	i := uint64(0)
	send := func() { w.send(ctx, i, 0); i++ }
	for range 2000 { // grow the buffers, fill the jar
		send()
	}
	w.st.okIDs = make([]uint64, 0, 1<<16) // what the eids cost is amortized, not per hit
	allocs := testing.AllocsPerRun(2000, send)
	t.Logf("%.2f allocations per hit", allocs)
	if allocs > 0.5 {
		t.Errorf("sending a hit allocates %.2f times", allocs)
	}
	if w.st.completed != int64(i) || w.st.status[200] != int64(i) || w.st.withCookies == 0 {
		t.Errorf("completed %d, 200s %d, with cookies %d of %d", w.st.completed, w.st.status[200], w.st.withCookies, i)
	}
}
