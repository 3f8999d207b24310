// Package eventgen makes realistic Kafka messages for the consumer
// benchmarks: it takes pkg/loadgen's simulated hits, turns each into the
// request a browser would send, builds the event from it with the
// collector's own code (pkg/pixel) and encodes it as the collector publishes
// it (pkg/event, key = visitor id). The messages are what a topic fed by
// real traffic holds, generated without a collector or a network.
package eventgen

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Config says which messages to make.
type Config struct {
	// N is the number of messages.
	N int
	// Seed makes the traffic deterministic (see loadgen.Config.Seed).
	Seed uint64
	// EventIDPrefix starts every event_id, followed by the hit number: the
	// ids are unique within a corpus.
	EventIDPrefix string
	// Now is the receive time of every event; zero means time.Now().
	Now time.Time
	// Workers generate in parallel; 0 means GOMAXPROCS.
	Workers int
}

// Corpus holds N encoded messages back to back in one buffer.
type Corpus struct {
	data []byte
	ends []int // per message: end of its key, end of its value
}

// Len is the number of messages.
func (c *Corpus) Len() int { return len(c.ends) / 2 }

// Key returns message i's key, the visitor id. The bytes belong to c.
func (c *Corpus) Key(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[2*i-1]
	}
	return c.data[start:c.ends[2*i]:c.ends[2*i]]
}

// Value returns message i's value, the event's JSON. The bytes belong to c.
func (c *Corpus) Value(i int) []byte {
	return c.data[c.ends[2*i]:c.ends[2*i+1]:c.ends[2*i+1]]
}

// ValueBytes is the size of all values together.
func (c *Corpus) ValueBytes() int {
	n := 0
	for i := range c.Len() {
		n += len(c.Value(i))
	}
	return n
}

func (c *Corpus) add(key, value []byte) {
	c.data = append(c.data, key...)
	c.ends = append(c.ends, len(c.data))
	c.data = append(c.data, value...)
	c.ends = append(c.ends, len(c.data))
}

// Generate makes cfg.N messages. Hit numbers 0..N-1 of a loadgen traffic mix
// without malformed hits become events in order, so message i has the
// event_id EventIDPrefix followed by i in 12 digits.
func Generate(cfg Config) (*Corpus, error) {
	if cfg.N <= 0 {
		return nil, errors.New("eventgen: N must be positive")
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, cfg.N)
	mix := loadgen.DefaultMix()
	mix.MalformedFraction = 0
	mix.EventIDs = true
	mix.EventIDPrefix = cfg.EventIDPrefix
	gen, err := loadgen.NewGenerator(cfg.Seed, mix)
	if err != nil {
		return nil, fmt.Errorf("eventgen: %w", err)
	}
	parts := make([]*Corpus, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		from, to := cfg.N*w/workers, cfg.N*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w], errs[w] = generate(gen, cfg.Seed, from, to, cfg.Now)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if workers == 1 {
		return parts[0], nil
	}
	size, count := 0, 0
	for _, p := range parts {
		size += len(p.data)
		count += len(p.ends)
	}
	c := &Corpus{data: make([]byte, 0, size), ends: make([]int, 0, count)}
	for _, p := range parts {
		base := len(c.data)
		c.data = append(c.data, p.data...)
		for _, e := range p.ends {
			c.ends = append(c.ends, base+e)
		}
	}
	return c, nil
}

// generate encodes hits from..to-1.
func generate(gen *loadgen.Generator, seed uint64, from, to int, now time.Time) (*Corpus, error) {
	c := &Corpus{data: make([]byte, 0, (to-from)*700), ends: make([]int, 0, 2*(to-from))}
	var (
		hit   loadgen.Hit
		req   fasthttp.Request
		ctx   fasthttp.RequestCtx
		uri   []byte
		ids   [2][]byte
		value []byte
		cfg   = pixel.DefaultConfig()
	)
	for i := from; i < to; i++ {
		gen.Fill(&hit, uint64(i), now.Add(-time.Duration(to-i)*time.Microsecond))
		req.Reset()
		uri = append(append(uri[:0], "/p.gif?"...), hit.Query...)
		req.Header.SetRequestURIBytes(uri)
		req.Header.SetHost("pixel.example.com")
		req.Header.SetUserAgent(hit.UserAgent)
		req.Header.Set(fasthttp.HeaderAcceptLanguage, hit.AcceptLanguage)
		if len(hit.Referer) > 0 {
			req.Header.SetRefererBytes(hit.Referer)
		}
		if hit.KeepsCookies {
			ids[0] = visitorCookie(ids[0][:0], seed, hit.Visitor, 0)
			ids[1] = visitorCookie(ids[1][:0], seed, hit.Visitor, 1)
			req.Header.SetCookieBytesKV([]byte(pixel.VisitorCookie), ids[0])
			req.Header.SetCookieBytesKV([]byte(pixel.SessionCookie), ids[1])
		}
		ctx.Init(&req, clientAddr(hit.Visitor), nil)
		h := pixel.AcquireHit()
		err := h.FromRequest(&ctx, &cfg, now)
		if err != nil {
			pixel.ReleaseHit(h)
			return nil, fmt.Errorf("eventgen: hit %d (%s) is not a valid event: %w", i, uri, err)
		}
		value = event.AppendJSON(value[:0], &h.Event)
		c.add(h.Event.VisitorID, value)
		pixel.ReleaseHit(h)
	}
	return c, nil
}

// visitorCookie appends the id a returning visitor's cookie holds: 16 bytes
// made from the seed, stable per visitor, as 22 characters of unpadded
// base64url, the one form the collector issues and accepts back
// (pixel.ValidCookieID).
func visitorCookie(dst []byte, seed uint64, visitor, which int) []byte {
	var raw [16]byte
	v := uint64(visitor)<<1 | uint64(which)
	binary.LittleEndian.PutUint64(raw[:8], mix64(seed^v))
	binary.LittleEndian.PutUint64(raw[8:], mix64(^seed^mix64(v)))
	return base64.RawURLEncoding.AppendEncode(dst, raw[:])
}

// clientAddr is a visitor's address: documentation ranges (RFC 5737 and
// RFC 3849), one in five of them IPv6. Nothing is sent there; it only
// fills the ip column as real traffic would.
func clientAddr(visitor int) net.Addr {
	v := uint64(visitor)
	if visitor%5 == 4 {
		ip := net.IP{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(ip[8:], mix64(v))
		return &net.TCPAddr{IP: ip, Port: 50000}
	}
	nets := [3][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
	n := nets[v%3]
	return &net.TCPAddr{IP: net.IPv4(n[0], n[1], n[2], byte(1+v/3%254)), Port: 50000}
}

// mix64 is SplitMix64's finalizer.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
