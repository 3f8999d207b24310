package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// LateAfter is how far past its scheduled time a request may be when a
// worker becomes free to send it before it counts as late (open loop only).
// Timer and scheduler jitter do not make a request late, but like any
// delay they are part of its latency.
const LateAfter = time.Millisecond

// maxResponseBody bounds what is read of a response body.
const maxResponseBody = 1 << 20

// Run sends the traffic cfg describes and measures it. It returns when the
// run is over (Duration elapsed or MaxRequests sent, and the requests in
// flight answered or timed out) or when ctx is cancelled: then it aborts the
// requests in flight and returns what it measured so far together with
// ctx.Err(). Nothing it started keeps running after it returns.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Mix.PixelIDs = append([]string(nil), cfg.Mix.PixelIDs...)
	tgt, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	gen, err := NewGenerator(cfg.Seed, cfg.Mix)
	if err != nil {
		return nil, err
	}
	cfg.Mix = gen.Mix()
	r := &runner{cfg: &cfg, tgt: tgt, gen: gen, open: cfg.Rate > 0}
	if cfg.Mix.CookieFraction > 0 {
		r.jar = newJar(cfg.Mix.Visitors)
	}
	if tgt.tls {
		r.tlsConfig = &tls.Config{ServerName: tgt.tlsServer}
		if cfg.TLSConfig != nil {
			r.tlsConfig = cfg.TLSConfig.Clone()
			if r.tlsConfig.ServerName == "" {
				r.tlsConfig.ServerName = tgt.tlsServer
			}
		}
	}
	workers := make([]*worker, cfg.Connections)
	for k := range workers {
		workers[k] = newWorker(r)
	}

	// A cancelled ctx wakes the sleeping workers through ctx.Done and the
	// ones waiting for a response through an expired deadline.
	stop := context.AfterFunc(ctx, func() {
		for _, w := range workers {
			w.mu.Lock()
			if w.conn != nil {
				_ = w.conn.SetDeadline(time.Unix(1, 0))
			}
			w.mu.Unlock()
		}
	})
	defer stop()

	r.start = time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	wg.Wait()
	return r.result(workers), ctx.Err()
}

// runner is what the workers of one Run share.
type runner struct {
	cfg       *Config
	tgt       target
	gen       *Generator
	jar       *jar
	tlsConfig *tls.Config
	open      bool
	start     time.Time
	next      atomic.Uint64 // the next hit number to send
	timeline  timeline
}

// due is when hit i is scheduled, from the start (open loop).
func (r *runner) due(i uint64) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / r.cfg.Rate)
}

// worker sends one request at a time over its own keep-alive connection.
type worker struct {
	r *runner

	mu   sync.Mutex // conn, against the cancel callback of Run
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	used bool // conn has answered a request: a failure may be a stale keep-alive
	// dialFailed says the last request could not connect.
	dialFailed bool

	req    fasthttp.Request
	resp   fasthttp.Response
	cookie fasthttp.Cookie
	hit    Hit
	uri    []byte
	ids    [2][]byte // the visitor's cookies, copied out of the jar
	timer  *time.Timer

	st     stats
	sec    int // the timeline second being accumulated
	secAgg second
	end    time.Time // completion of the last request
}

func newWorker(r *runner) *worker {
	w := &worker{
		r:      r,
		br:     bufio.NewReaderSize(nil, 4096),
		bw:     bufio.NewWriterSize(nil, 4096),
		st:     newStats(),
		sec:    -1,
		secAgg: second{hist: newHistogram(timelineBits)},
	}
	h := &w.req.Header
	h.SetMethod(fasthttp.MethodGet)
	h.SetHost(r.tgt.host)
	// What browsers send for an <img>.
	h.Set(fasthttp.HeaderAccept, "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8")
	h.Set(fasthttp.HeaderAcceptEncoding, "gzip, deflate, br, zstd")
	h.Set("Sec-Fetch-Dest", "image")
	h.Set("Sec-Fetch-Mode", "no-cors")
	h.Set("Sec-Fetch-Site", "cross-site")
	return w
}

func (w *worker) run(ctx context.Context) {
	r, cfg := w.r, w.r.cfg
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	defer func() {
		w.timer.Stop()
		w.closeConn()
		w.flushSecond()
	}()
	for ctx.Err() == nil {
		i := r.next.Add(1) - 1
		if cfg.MaxRequests > 0 && i >= uint64(cfg.MaxRequests) {
			return
		}
		var due time.Duration
		if r.open {
			due = r.due(i)
			if cfg.Duration > 0 && due >= cfg.Duration {
				return
			}
			switch wait := due - time.Since(r.start); {
			case wait > 0:
				w.timer.Reset(wait)
				select {
				case <-w.timer.C:
				case <-ctx.Done():
					return
				}
			case -wait > LateAfter: // every worker was busy when it was due
				w.st.late++
				w.st.maxLag = max(w.st.maxLag, -wait)
			}
		} else if cfg.Duration > 0 && time.Since(r.start) >= cfg.Duration {
			return
		}
		w.send(ctx, i, due)
		if w.dialFailed && !r.open {
			// Nothing listens: pause rather than spin, so that a stopped
			// collector gets the CPU to restart.
			w.timer.Reset(dialBackoff)
			select {
			case <-w.timer.C:
			case <-ctx.Done():
				return
			}
		}
	}
}

// dialBackoff is how long a closed-loop worker waits after a failed dial.
const dialBackoff = 10 * time.Millisecond

// send makes hit i, sends it and records the outcome. In open loop, due is
// the scheduled send time and latency is measured from it.
func (w *worker) send(ctx context.Context, i uint64, due time.Duration) {
	r, h, st := w.r, &w.hit, &w.st
	sent := time.Now()
	r.gen.Fill(h, i, sent)
	w.buildRequest()
	from := sent
	if r.open {
		from = r.start.Add(due)
	}

	st.sent++
	hc, ec := &st.valid, &st.events[h.ev]
	if !h.Valid() {
		hc, ec = &st.malformed, &st.kinds[h.kind]
	}
	hc.Sent++
	ec.Sent++
	if h.KeepsCookies && len(w.ids[0]) > 0 {
		st.withCookies++
	}

	err := w.roundTrip(ctx, sent.Add(r.cfg.Timeout))
	end := time.Now()
	w.end = end
	if err != nil {
		hc.Failed++
		ec.Failed++
		if ctx.Err() != nil {
			st.canceled++
		} else {
			st.countError(err)
			w.timelineAdd(end, false, true, 0)
		}
		if r.cfg.Mix.EventIDs && h.Valid() {
			st.uncertainIDs = append(st.uncertainIDs, i)
		}
		return
	}
	st.completed++
	code := w.resp.StatusCode()
	if code >= 0 && code < len(st.status) {
		st.status[code]++
	} else {
		st.status[0]++
	}
	lat := end.Sub(from)
	st.hist.Record(lat)
	ok := code == fasthttp.StatusOK
	w.timelineAdd(end, ok, false, lat)
	if !ok {
		hc.Failed++
		ec.Failed++
		return
	}
	hc.OK++
	ec.OK++
	if h.Valid() && r.cfg.Mix.EventIDs {
		st.okIDs = append(st.okIDs, i)
	}
	if h.KeepsCookies && r.jar != nil {
		w.keepCookies()
	}
}

// buildRequest turns w.hit into w.req, with the visitor's cookies.
func (w *worker) buildRequest() {
	h, hdr := &w.hit, &w.req.Header
	w.uri = append(w.uri[:0], w.r.cfg.Path...)
	w.uri = append(w.uri, '?')
	w.uri = append(w.uri, h.Query...)
	hdr.SetRequestURIBytes(w.uri)
	hdr.SetUserAgent(h.UserAgent)
	hdr.Set(fasthttp.HeaderAcceptLanguage, h.AcceptLanguage)
	if len(h.Referer) > 0 {
		hdr.SetRefererBytes(h.Referer)
	} else {
		hdr.Del(fasthttp.HeaderReferer)
	}
	hdr.DelAllCookies()
	w.ids[0], w.ids[1] = w.ids[0][:0], w.ids[1][:0]
	if h.KeepsCookies && w.r.jar != nil {
		w.r.jar.load(h.Visitor, &w.ids)
		if len(w.ids[0]) > 0 {
			hdr.SetCookieBytesKV(visitorCookie, w.ids[0])
		}
		if len(w.ids[1]) > 0 {
			hdr.SetCookieBytesKV(sessionCookie, w.ids[1])
		}
	}
}

var (
	visitorCookie = []byte(pixel.VisitorCookie)
	sessionCookie = []byte(pixel.SessionCookie)
)

// keepCookies stores the _pxid and _pxsid the response set, as a browser
// does; an empty value deletes the cookie.
func (w *worker) keepCookies() {
	for key, value := range w.resp.Header.Cookies() {
		which := 0
		switch string(key) {
		case pixel.VisitorCookie:
		case pixel.SessionCookie:
			which = 1
		default:
			continue
		}
		w.cookie.Reset()
		if w.cookie.ParseBytes(value) != nil {
			continue
		}
		w.r.jar.store(w.hit.Visitor, which, w.cookie.Value())
	}
}

// roundTrip writes w.req and reads w.resp, dialling when needed. A request
// that fails on a kept-alive connection the server may have closed in the
// meantime is retried once on a new connection, as browsers do.
func (w *worker) roundTrip(ctx context.Context, deadline time.Time) error {
	for attempt := 0; ; attempt++ {
		w.dialFailed = false
		if w.conn == nil {
			if err := w.dial(ctx, deadline); err != nil {
				w.dialFailed = true
				return err
			}
		}
		used := w.used
		err := w.setDeadline(ctx, deadline)
		if err == nil {
			err = w.req.Write(w.bw)
		}
		if err == nil {
			err = w.bw.Flush()
		}
		if err == nil {
			err = w.resp.ReadLimitBody(w.br, maxResponseBody)
		}
		if err != nil {
			w.closeConn()
			if used && attempt == 0 && ctx.Err() == nil && stale(err) {
				w.st.retries++
				continue
			}
			return err
		}
		w.used = true
		if w.resp.ConnectionClose() {
			w.closeConn()
		}
		return nil
	}
}

// stale reports whether err looks like the server had closed the kept-alive
// connection before the request arrived.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (w *worker) dial(ctx context.Context, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	c, err := d.DialContext(ctx, "tcp", w.r.tgt.dialAddr)
	if err != nil {
		return err
	}
	if w.r.tlsConfig != nil {
		tc := tls.Client(c, w.r.tlsConfig)
		_ = tc.SetDeadline(deadline)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return err
		}
		c = tc
	}
	w.mu.Lock()
	w.conn = c
	w.mu.Unlock()
	w.br.Reset(c)
	w.bw.Reset(c)
	w.used = false
	return nil
}

// setDeadline sets the request's deadline unless ctx is done: under w.mu, so
// that it cannot undo the expired deadline the cancel callback sets.
func (w *worker) setDeadline(ctx context.Context, deadline time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	return w.conn.SetDeadline(deadline)
}

func (w *worker) closeConn() {
	w.mu.Lock()
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
	w.mu.Unlock()
}

// timelineAdd counts one finished request in the second it finished in.
func (w *worker) timelineAdd(end time.Time, ok, failed bool, lat time.Duration) {
	s := max(int(end.Sub(w.r.start)/time.Second), 0)
	if s != w.sec {
		w.flushSecond()
		w.sec = s
	}
	a := &w.secAgg
	a.requests++
	switch {
	case failed:
		a.errors++
	case ok:
		a.ok++
	}
	if !failed {
		a.hist.Record(lat)
	}
}

func (w *worker) flushSecond() {
	if w.sec >= 0 && w.secAgg.requests > 0 {
		w.r.timeline.add(w.sec, &w.secAgg)
	}
	w.secAgg.requests, w.secAgg.ok, w.secAgg.errors = 0, 0, 0
	w.secAgg.hist.Reset()
}

// classify names the kind of a transport error.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED):
		return "closed"
	default:
		return "other"
	}
}

// jar holds the cookies of the visitors that keep them.
type jar struct{ visitors []jarEntry }

type jarEntry struct {
	mu  sync.Mutex
	ids [2][]byte // _pxid, _pxsid
}

func newJar(n int) *jar { return &jar{visitors: make([]jarEntry, n)} }

// load copies visitor v's cookies into dst.
func (j *jar) load(v int, dst *[2][]byte) {
	e := &j.visitors[v]
	e.mu.Lock()
	dst[0] = append(dst[0][:0], e.ids[0]...)
	dst[1] = append(dst[1][:0], e.ids[1]...)
	e.mu.Unlock()
}

// store sets cookie which (0 _pxid, 1 _pxsid) of visitor v.
func (j *jar) store(v, which int, value []byte) {
	e := &j.visitors[v]
	e.mu.Lock()
	e.ids[which] = append(e.ids[which][:0], value...)
	e.mu.Unlock()
}
