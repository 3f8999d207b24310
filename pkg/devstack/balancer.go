package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Balancer is the load balancer in front of the scaled-out stack's
// collectors, as a cloud's would be: it sends each request to the next
// collector, round robin, of those whose admin address answered /readyz on
// its last check, every CheckEvery. A collector that is stopped turns
// unready first and serves on for its drain delay, so that a balancer which
// checks more often than that sends it nothing once it stops. It is for
// make run-cluster and the tests, not for production, which has its own.
type Balancer struct {
	Addr       string
	CheckEvery time.Duration

	mu       sync.Mutex
	backends []*backend
	next     atomic.Uint64
	srv      *http.Server
	stop     chan struct{}
	done     chan struct{}
}

type backend struct {
	proxy *httputil.ReverseProxy
	ready string // the admin address's /readyz URL
	up    atomic.Bool
}

// NewBalancer returns a balancer for addr that checks its backends every
// 200 ms.
func NewBalancer(addr string) *Balancer {
	return &Balancer{Addr: addr, CheckEvery: 200 * time.Millisecond}
}

// Add puts a collector behind the balancer: public is its pixel address,
// admin its admin address. It receives traffic once its /readyz answers.
func (b *Balancer) Add(public, admin string) {
	target := &url.URL{Scheme: "http", Host: public}
	p := httputil.NewSingleHostReverseProxy(target)
	p.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	// A collector that went away mid-request: the client sees a 502, a
	// request not answered, and sends it again as a browser's beacon would not.
	p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	b.mu.Lock()
	b.backends = append(b.backends, &backend{proxy: p, ready: "http://" + admin + "/readyz"})
	b.mu.Unlock()
	b.check()
}

// Start listens on Addr and starts the checks.
func (b *Balancer) Start() error {
	ln, err := net.Listen("tcp", b.Addr)
	if err != nil {
		return fmt.Errorf("the collectors' balancer cannot listen on %s: %w", b.Addr, err)
	}
	b.Addr = ln.Addr().String()
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	go func() {
		defer close(b.done)
		t := time.NewTicker(b.CheckEvery)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.check()
			}
		}
	}()
	return nil
}

// check asks every backend's /readyz once.
func (b *Balancer) check() {
	b.mu.Lock()
	backends := b.backends
	b.mu.Unlock()
	client := &http.Client{Timeout: b.CheckEvery}
	for _, be := range backends {
		resp, err := client.Get(be.ready)
		up := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			resp.Body.Close()
		}
		be.up.Store(up)
	}
}

// ServeHTTP passes r to the next ready collector, or answers 503 when none is.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	backends := b.backends
	b.mu.Unlock()
	n := uint64(len(backends))
	start := b.next.Add(1)
	for i := range n {
		if be := backends[(start+i)%n]; be.up.Load() {
			be.proxy.ServeHTTP(w, r)
			return
		}
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

// Close stops the balancer.
func (b *Balancer) Close() error {
	if b.srv == nil {
		return nil
	}
	close(b.stop)
	<-b.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
