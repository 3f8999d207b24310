package collector

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// refusal is why the public listener refused a request or a connection: the
// reason label of pixel_http_refused_total.
type refusal int

const (
	refusedHeaderTooLarge refusal = iota // 431: request line plus headers over MaxHeaderBytes
	refusedBodyTooLarge                  // 413: body over MaxBodyBytes
	refusedBadRequest                    // 400: not HTTP, or truncated
	refusedTimeout                       // 408: not read within ReadTimeout (slow or silent clients)
	refusedMaxConns                      // 503: MaxConns connections open
	refusedMaxConnsPerIP                 // 429: MaxConnsPerIP connections open from the client's address
	refusedMethod                        // 405: a method the path does not serve
	refusedOrigin                        // 403: POST /collect from an origin not in CORSOrigins
	refusedContentType                   // 415: POST /collect body neither JSON nor text
	refusedAcceptError                   // no answer: accept failed (out of descriptors or memory), retried after a pause
	numRefusals
)

var refusalReasons = [numRefusals]string{
	"header_too_large", "body_too_large", "bad_request", "timeout",
	"max_conns", "max_conns_per_ip", "method_not_allowed", "origin_not_allowed", "unsupported_content_type",
	"accept_error",
}

// refuse counts r and answers with status and a short text that says why.
// It keeps headers already set (the CORS ones, so that fetch() can read it).
func (s *Server) refuse(ctx *fasthttp.RequestCtx, r refusal, status int, msg string) {
	s.refused[r].Inc()
	ctx.SetStatusCode(status)
	ctx.SetContentTypeBytes(contentTypeText)
	ctx.SetBodyString(msg)
}

func (s *Server) methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
	s.refuse(ctx, refusedMethod, fasthttp.StatusMethodNotAllowed, "method not allowed; use "+allow+"\n")
}

// handleError is fasthttp's ErrorHandler: it answers requests that could not
// be read or parsed, before any handler runs. fasthttp closes the connection
// afterwards.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	r, status, msg := classify(err)
	s.refused[r].Inc()
	if r != refusedTimeout {
		// The client may still be sending what we refused to read: close
		// gently so that it gets the answer rather than a reset.
		if c, ok := ctx.Conn().(*limitedConn); ok {
			c.linger.Store(true)
		}
	}
	ctx.Error(msg, status)
}

// classify maps fasthttp's read errors to a refusal.
func classify(err error) (refusal, int, string) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		return refusedHeaderTooLarge, fasthttp.StatusRequestHeaderFieldsTooLarge, "request line and headers are too large\n"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return refusedBodyTooLarge, fasthttp.StatusRequestEntityTooLarge, "request body is too large\n"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return refusedTimeout, fasthttp.StatusRequestTimeout, "request not received in time\n"
	}
	return refusedBadRequest, fasthttp.StatusBadRequest, "malformed request\n"
}

// connLimiter is the public listener with a cap on open connections, in all
// and per client address. fasthttp's own caps (Concurrency, MaxConnsPerIP)
// answer without telling anyone; this one counts each refusal. A refused
// connection gets a short 503 or 429 and is closed at once, in the accept
// loop, so that it costs no goroutine.
//
// It also keeps accept errors from fasthttp, whose Serve returns on any
// that is not a timeout: a process out of descriptors (EMFILE) would stop
// serving for good. Accept counts such an error, pauses and tries again.
type connLimiter struct {
	net.Listener
	maxConns, maxPerIP                 int
	refusedMax, refusedPer, acceptErrs *metrics.Counter
	log                                zerolog.Logger
	lastLog, lastAcceptLog             atomic.Int64 // unix seconds of the last warning
	closed                             chan struct{}
	closeOnce                          sync.Once
	mu                                 sync.Mutex
	open                               int
	perIP                              map[netip.Addr]int
	respMaxConns, respPerIP            []byte
}

func newConnLimiter(ln net.Listener, maxConns, maxPerIP int, refusedMax, refusedPer, acceptErrs *metrics.Counter, log zerolog.Logger) *connLimiter {
	return &connLimiter{
		Listener: ln, maxConns: maxConns, maxPerIP: maxPerIP,
		refusedMax: refusedMax, refusedPer: refusedPer, acceptErrs: acceptErrs, log: log,
		closed:       make(chan struct{}),
		perIP:        map[netip.Addr]int{},
		respMaxConns: refusalResponse("503 Service Unavailable", "too many connections; retry later\n"),
		respPerIP:    refusalResponse("429 Too Many Requests", "too many connections from your address\n"),
	}
}

func refusalResponse(status, body string) []byte {
	return []byte("HTTP/1.1 " + status + "\r\nConnection: close\r\nRetry-After: 1\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// Accept returns the next connection within the caps, refusing the others.
// A failed accept is counted and retried: at once when one connection broke
// in the backlog, after a pause (5ms doubling to 1s, as net/http does) when
// the process is out of resources. Other errors (the listener closed) are
// returned.
func (l *connLimiter) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			wait, retry := retryAccept(err)
			if !retry {
				return nil, err
			}
			l.acceptErrs.Inc()
			if !wait {
				l.warnAccept(err, 0)
				continue
			}
			pause = min(max(2*pause, minAcceptPause), maxAcceptPause)
			l.warnAccept(err, pause)
			select {
			case <-time.After(pause):
				continue
			case <-l.closed:
				return nil, net.ErrClosed // fasthttp's Serve then returns nil
			}
		}
		pause = 0
		ip := remoteIP(c)
		switch l.admit(ip) {
		case refusedMaxConns:
			l.refusedMax.Inc()
			l.warn("connection refused: -max-conns connections are open", ip)
			refuseConn(c, l.respMaxConns)
		case refusedMaxConnsPerIP:
			l.refusedPer.Inc()
			l.warn("connection refused: -max-conns-per-ip connections are open from this address", ip)
			refuseConn(c, l.respPerIP)
		default:
			return &limitedConn{Conn: c, l: l, ip: ip}, nil
		}
	}
}

// Close closes the listener and ends a pause in Accept.
func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

const (
	minAcceptPause = 5 * time.Millisecond
	maxAcceptPause = time.Second
)

// retryAccept says whether an accept error may go away, and whether only
// after a wait: the process or the system out of descriptors or memory, or
// a timeout, wait; a connection that broke in the backlog (Linux reports
// its error from accept, see accept(2)) does not hold up the next one. With
// the descriptors -max-conns leaves free, running out should not happen.
func retryAccept(err error) (wait, retry bool) {
	if errors.Is(err, net.ErrClosed) {
		return false, false
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
			return true, true
		case syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EPERM, syscall.ETIMEDOUT,
			syscall.ENETDOWN, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.EHOSTUNREACH,
			syscall.ENOPROTOOPT, syscall.EOPNOTSUPP:
			return false, true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true, true
	}
	return false, false
}

func (l *connLimiter) warnAccept(err error, pause time.Duration) {
	now := time.Now().Unix()
	if last := l.lastAcceptLog.Load(); now-last >= 60 && l.lastAcceptLog.CompareAndSwap(last, now) {
		l.log.Warn().Err(err).Dur("retry_in_ms", pause).Int("max_conns", l.maxConns).
			Msg("cannot accept a connection; retrying. Out of file descriptors (EMFILE): lower -max-conns or raise the open-file limit (logged once a minute; see pixel_http_refused_total)")
	}
}

// admit takes a slot for a connection from ip, or says which cap is reached
// (numRefusals when admitted).
func (l *connLimiter) admit(ip netip.Addr) refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxConns > 0 && l.open >= l.maxConns {
		return refusedMaxConns
	}
	if l.maxPerIP > 0 {
		if l.perIP[ip] >= l.maxPerIP {
			return refusedMaxConnsPerIP
		}
		l.perIP[ip]++
	}
	l.open++
	return numRefusals
}

func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	l.open--
	if l.maxPerIP > 0 {
		if n := l.perIP[ip] - 1; n > 0 {
			l.perIP[ip] = n
		} else {
			delete(l.perIP, ip)
		}
	}
	l.mu.Unlock()
}

// warn logs a refusal at most once a minute: a flood must not flood the log.
func (l *connLimiter) warn(msg string, ip netip.Addr) {
	now := time.Now().Unix()
	if last := l.lastLog.Load(); now-last >= 60 && l.lastLog.CompareAndSwap(last, now) {
		l.log.Warn().Str("client", ip.String()).Int("max_conns", l.maxConns).Int("max_conns_per_ip", l.maxPerIP).
			Msg(msg + " (logged once a minute; see pixel_http_refused_total)")
	}
}

// refuseConn writes a prepared response and closes c. The short deadline
// keeps a client that does not read from holding up the accept loop.
func refuseConn(c net.Conn, resp []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write(resp)
	_ = c.Close()
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	l      *connLimiter
	ip     netip.Addr
	linger atomic.Bool // close gently: the request was refused unread
	closed atomic.Bool
}

// How long and how much a refused client may still send after its answer.
// As net/http does, this lets the answer arrive instead of a TCP reset.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 1 << 20
)

func (c *limitedConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.Conn.Close()
	}
	if c.linger.Load() {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
			_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
		}
	}
	err := c.Conn.Close()
	c.l.release(c.ip)
	return err
}

// SetKeepAlive and SetKeepAlivePeriod let fasthttp's TCPKeepalive reach the
// TCP connection inside.
func (c *limitedConn) SetKeepAlive(on bool) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetKeepAlive(on)
	}
	return nil
}

func (c *limitedConn) SetKeepAlivePeriod(d time.Duration) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetKeepAlivePeriod(d)
	}
	return nil
}
