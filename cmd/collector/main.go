// Command collector is the public edge of the pixel pipeline: it answers
// GET /p.gif with a 1×1 GIF and POST /collect (JSON events) with 204, serves
// the JS tag GET /px.js, and publishes each valid event to Kafka.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/admin"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/logging"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/publish"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
	"github.com/pixel-pipeline/pixel/pkg/spool"
)

type config struct {
	addr, adminAddr string
	tlsCert, tlsKey string
	publish         publish.Config
	server          collector.Config
	drainDelay      time.Duration
	shutdownTimeout time.Duration
	log             logging.Options

	registry        string // "clickhouse" or "off"
	registryRefresh time.Duration
	registryCache   string
	clickhouse      chstore.Options
	cookielessKey   string
}

// registryModes are the values of -registry.
var registryModes = []string{"clickhouse", "off"}

// sameSites are the values of -cookie-samesite.
var sameSites = map[string]fasthttp.CookieSameSite{
	"lax":    fasthttp.CookieSameSiteLaxMode,
	"strict": fasthttp.CookieSameSiteStrictMode,
	"none":   fasthttp.CookieSameSiteNoneMode,
}

// newConfig returns the collector's settings at their defaults and the flags
// that change them.
func newConfig() (*config, *flagenv.Set) {
	c := &config{publish: publish.DefaultConfig(), server: collector.DefaultConfig(), log: logging.DefaultOptions(), clickhouse: chstore.DefaultOptions()}
	fs := flagenv.New("collector", "The pixel collector: answers GET /p.gif and POST /collect, serves the JS tag GET /px.js,\nand publishes each valid event to Kafka.")
	p, s, lim := &c.publish, &c.server, &c.server.Pixel.Limits
	ck, pv := &c.server.Pixel.Cookie, &c.server.Pixel.Privacy

	fs.String(&c.addr, "addr", "COLLECTOR_ADDR", ":8080", "public listen address (the pixel)")
	fs.String(&c.tlsCert, "tls-cert", "COLLECTOR_TLS_CERT", "", "PEM certificate chain: with -tls-key, the public listener serves HTTPS (HTTP/1.1 keep-alive); empty: plain HTTP, for a TLS proxy in front")
	fs.String(&c.tlsKey, "tls-key", "COLLECTOR_TLS_KEY", "", "PEM private key of -tls-cert")
	fs.String(&c.adminAddr, "admin-addr", "COLLECTOR_ADMIN_ADDR", "127.0.0.1:8081", "admin listen address: /metrics, /healthz, /readyz, /debug/pprof/")
	fs.Kafka(&p.Brokers, &p.Topic)
	fs.Fallback(rundir.Env(rundir.Default), rundir.From)
	fs.String(&p.Compression, "kafka-compression", "KAFKA_COMPRESSION", p.Compression, "compression of produced batches: none, gzip, snappy, lz4, zstd")
	fs.Int(&p.QueueSize, "queue-size", "COLLECTOR_QUEUE_SIZE", p.QueueSize, "events waiting for Kafka; beyond it new events go to the disk spool (without one: are dropped and counted)")
	fs.Int(&p.Workers, "publish-workers", "COLLECTOR_PUBLISH_WORKERS", p.Workers, "concurrent batch writes to Kafka")
	fs.Int(&p.BatchSize, "publish-batch-size", "COLLECTOR_PUBLISH_BATCH_SIZE", p.BatchSize, "most events per write to Kafka")
	fs.Int(&p.BatchBytes, "publish-batch-bytes", "COLLECTOR_PUBLISH_BATCH_BYTES", p.BatchBytes, "most bytes per write to Kafka (Kafka's default message.max.bytes is 1 MB)")
	fs.Duration(&p.Linger, "publish-linger", "COLLECTOR_PUBLISH_LINGER", p.Linger, "how long events gather after the first before a write to Kafka: fewer, larger writes cost far less CPU (here and in the broker) than many small ones")
	fs.String(&p.SpoolDir, "spool-dir", "COLLECTOR_SPOOL_DIR", "/var/lib/pixel/spool", "disk spool for events Kafka cannot take (empty: no spool, drop instead)")
	fs.Duration(&p.SpoolAfter, "publish-spool-after", "COLLECTOR_PUBLISH_SPOOL_AFTER", p.SpoolAfter, "an event Kafka has not acknowledged this long after it arrived is written to the disk spool too: a crash loses at most this window, and a hung broker is detected by it")
	fs.Int64(&p.Spool.MaxBytes, "spool-max-bytes", "COLLECTOR_SPOOL_MAX_BYTES", spool.DefaultMaxBytes, "largest the spool grows; beyond it, while Kafka does not answer, events are dropped (counted) and /readyz is unready")
	fs.Int64(&p.Spool.SegmentBytes, "spool-segment-bytes", "COLLECTOR_SPOOL_SEGMENT_BYTES", spool.DefaultSegmentBytes, "size of one spool segment file")
	fs.Func("spool-fsync", "COLLECTOR_SPOOL_FSYNC", p.Spool.Fsync.String(), "fsync `policy` of the spool: always (fsync before the hit is answered), interval, never", func(v string) (err error) {
		p.Spool.Fsync, err = spool.ParseFsyncPolicy(v)
		return err
	})
	fs.Duration(&p.Spool.FsyncInterval, "spool-fsync-interval", "COLLECTOR_SPOOL_FSYNC_INTERVAL", spool.DefaultFsyncInterval, "fsync period of -spool-fsync=interval")

	fs.String(&ck.Domain, "cookie-domain", "COLLECTOR_COOKIE_DOMAIN", ck.Domain, "Domain attribute of the _pxid/_pxsid cookies (empty: host-only)")
	fs.Func("cookie-samesite", "COLLECTOR_COOKIE_SAMESITE", sameSiteName(ck.SameSite), "`SameSite` attribute of the cookies: lax, strict or none (none needs -cookie-secure)", func(v string) error {
		mode, ok := sameSites[strings.ToLower(v)]
		if !ok {
			return fmt.Errorf("unknown -cookie-samesite %q; use lax, strict or none", v)
		}
		ck.SameSite = mode
		return nil
	})
	fs.Bool(&ck.Secure, "cookie-secure", "COLLECTOR_COOKIE_SECURE", ck.Secure, "set the Secure attribute (serve the pixel over HTTPS)")
	fs.Duration(&ck.VisitorMaxAge, "cookie-max-age", "COLLECTOR_COOKIE_MAX_AGE", ck.VisitorMaxAge, "lifetime of the visitor cookie after the last hit (400 days, browsers' maximum)")
	fs.Duration(&ck.SessionTimeout, "session-timeout", "COLLECTOR_SESSION_TIMEOUT", ck.SessionTimeout, "inactivity that ends a session")
	fs.Duration(&ck.ClickMaxAge, "click-cookie-max-age", "COLLECTOR_CLICK_COOKIE_MAX_AGE", ck.ClickMaxAge, "how long the _pxclk cookie keeps a visitor's latest ad click ids (gclid, fbclid, ...) for later conversions")
	fs.Bool(&pv.HonorDNT, "honor-dnt", "COLLECTOR_HONOR_DNT", pv.HonorDNT, "with -registry=off: do not record hits from browsers sending DNT: 1, else record them flagged (registered pixels say it for themselves)")
	fs.Bool(&pv.HonorGPC, "honor-gpc", "COLLECTOR_HONOR_GPC", pv.HonorGPC, "with -registry=off: do not record hits from browsers sending Sec-GPC: 1, else record them flagged (registered pixels say it for themselves)")
	fs.String(&c.cookielessKey, "cookieless-key", "COLLECTOR_COOKIELESS_KEY", "", "secret (16+ characters) that the daily salts of cookieless visitor ids derive from; give every collector the same (empty: a key file in -spool-dir, created once; without a spool dir, a random key per start)")

	fs.Func("registry", "COLLECTOR_REGISTRY", "clickhouse", "where the pixel registry comes from: clickhouse (pixel.pixels; hits of unknown, disabled or foreign-origin pixels are not recorded) or off (every pixel id records, with default settings: load tests)", func(v string) error {
		for _, m := range registryModes {
			if v == m {
				c.registry = v
				return nil
			}
		}
		return fmt.Errorf("unknown -registry %q; use clickhouse or off", v)
	})
	fs.Duration(&c.registryRefresh, "registry-refresh", "COLLECTOR_REGISTRY_REFRESH", 10*time.Second, "how often the pixel registry is reloaded from ClickHouse (the last good copy serves while ClickHouse is away)")
	fs.String(&c.registryCache, "registry-cache", "COLLECTOR_REGISTRY_CACHE", "", "file that keeps the last good copy of the registry, read at start when ClickHouse is away (empty: registry.json in -spool-dir)")
	fs.ClickHouse(&c.clickhouse.Addr, &c.clickhouse.Database, &c.clickhouse.User, &c.clickhouse.Password)
	fs.String(&pv.OptOutCookie, "optout-cookie", "COLLECTOR_OPTOUT_COOKIE", pv.OptOutCookie, "do not record hits carrying this cookie (empty: none)")
	fs.Func("trusted-proxies", "COLLECTOR_TRUSTED_PROXIES", "", "comma-separated `IPs/CIDRs` whose X-Forwarded-For is believed (empty: none, the client is the peer address)", func(v string) (err error) {
		c.server.Pixel.TrustedProxies, err = pixel.ParseTrustedProxies(v)
		return err
	})

	fs.Int(&lim.MaxURLLen, "max-url-len", "COLLECTOR_MAX_URL_LEN", lim.MaxURLLen, "longest dl, rl or Referer accepted")
	fs.Int(&lim.MaxProps, "max-props", "COLLECTOR_MAX_PROPS", lim.MaxProps, "most custom cd[...] properties per hit")
	fs.Int(&lim.MaxPropValueLen, "max-prop-len", "COLLECTOR_MAX_PROP_LEN", lim.MaxPropValueLen, "longest custom property value")
	fs.Duration(&lim.MaxClockSkew, "max-clock-skew", "COLLECTOR_MAX_CLOCK_SKEW", lim.MaxClockSkew, "a ts further than this from the receive time is replaced by the receive time")
	fs.Duration(&s.ReadTimeout, "read-timeout", "COLLECTOR_READ_TIMEOUT", s.ReadTimeout, "time to read one request, headers and body; a slower one is refused with 408 (slow clients, trickled bodies)")
	fs.Duration(&s.WriteTimeout, "write-timeout", "COLLECTOR_WRITE_TIMEOUT", s.WriteTimeout, "time to write one response")
	fs.Duration(&s.IdleTimeout, "idle-timeout", "COLLECTOR_IDLE_TIMEOUT", s.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.Int(&s.MaxConns, "max-conns", "COLLECTOR_MAX_CONNS", s.MaxConns, "most concurrent connections; more are refused with 503. Lowered at start to the open-file limit (raised to the hard limit) less "+strconv.Itoa(collector.FDReserve)+" for the rest of the process, with a warning (0: that many)")
	fs.Int(&s.MaxConnsPerIP, "max-conns-per-ip", "COLLECTOR_MAX_CONNS_PER_IP", s.MaxConnsPerIP, "most concurrent connections from one peer address; more are refused with 429 (0: no limit; keep 0 behind a load balancer)")
	fs.Int(&s.MaxHeaderBytes, "max-header-bytes", "COLLECTOR_MAX_HEADER_BYTES", s.MaxHeaderBytes, "largest request line plus headers; larger is refused with 431")
	fs.Int(&s.MaxBodyBytes, "max-body-bytes", "COLLECTOR_MAX_BODY_BYTES", s.MaxBodyBytes, "largest request body (POST /collect); larger is refused with 413")
	fs.Int(&lim.MaxBatchEvents, "max-batch-events", "COLLECTOR_MAX_BATCH_EVENTS", lim.MaxBatchEvents, "most events read from one POST /collect; each one beyond is counted (too_many_events)")
	fs.Func("cors-origins", "COLLECTOR_CORS_ORIGINS", "*", "page `origins` allowed to POST /collect from a browser: * (any, echoed) or a list such as https://shop.example,https://*.shop.example", func(v string) (err error) {
		s.CORSOrigins, err = collector.ParseOrigins(v)
		return err
	})
	api := &s.ServerAPI
	fs.Int(&api.MaxBodyBytes, "server-api-max-body-bytes", "COLLECTOR_SERVER_API_MAX_BODY_BYTES", api.MaxBodyBytes, "largest body of POST /v1/{pixel}/events (server-side events); larger is refused with 413")
	fs.Int(&api.Limits.MaxEvents, "server-api-max-events", "COLLECTOR_SERVER_API_MAX_EVENTS", api.Limits.MaxEvents, "most events in one server-side request; more is refused with 413 (Meta's limit is 1000)")
	fs.Float64(&api.Rate, "server-api-rate", "COLLECTOR_SERVER_API_RATE", api.Rate, "server-side requests per second and pixel; beyond it and -server-api-burst, 429 (0: no limit)")
	fs.Int(&api.Burst, "server-api-burst", "COLLECTOR_SERVER_API_BURST", api.Burst, "server-side requests a pixel may send at once above -server-api-rate")
	fs.Duration(&api.Limits.MaxAge, "server-api-max-age", "COLLECTOR_SERVER_API_MAX_AGE", api.Limits.MaxAge, "oldest event time a server-side event may have (Meta's limit is 7 days)")
	fs.Duration(&c.drainDelay, "drain-delay", "COLLECTOR_DRAIN_DELAY", 5*time.Second, "on SIGTERM, how long /readyz is unready while hits are still answered, before the listener closes: time for a load balancer to stop sending (a second signal cuts it short)")
	fs.Duration(&c.shutdownTimeout, "shutdown-timeout", "COLLECTOR_SHUTDOWN_TIMEOUT", 20*time.Second, "time to finish requests and flush events on SIGTERM")
	fs.Logging(&c.log.Level, &c.log.Format)

	fs.Check(func() error {
		if (c.tlsCert == "") != (c.tlsKey == "") {
			return errors.New("-tls-cert and -tls-key go together: give both to serve HTTPS, or neither for plain HTTP")
		}
		if c.tlsCert != "" {
			if _, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey); err != nil {
				return fmt.Errorf("cannot load -tls-cert %s and -tls-key %s: %w", c.tlsCert, c.tlsKey, err)
			}
		}
		if c.cookielessKey != "" && len(c.cookielessKey) < 16 {
			return errors.New("-cookieless-key is shorter than 16 characters; use a long random secret")
		}
		if c.registryRefresh <= 0 {
			return fmt.Errorf("-registry-refresh is %v; it must be positive", c.registryRefresh)
		}
		if ck.SameSite == fasthttp.CookieSameSiteNoneMode && !ck.Secure {
			return errors.New("-cookie-samesite=none needs -cookie-secure: browsers reject SameSite=None cookies without Secure")
		}
		for _, v := range []struct {
			flag string
			n    int
		}{{"max-header-bytes", s.MaxHeaderBytes}, {"max-body-bytes", s.MaxBodyBytes}, {"max-batch-events", lim.MaxBatchEvents},
			{"server-api-max-body-bytes", api.MaxBodyBytes}, {"server-api-max-events", api.Limits.MaxEvents}, {"server-api-burst", api.Burst}} {
			if v.n < 1 {
				return fmt.Errorf("-%s is %d; it must be at least 1", v.flag, v.n)
			}
		}
		return nil
	})
	return c, fs
}

// cookielessKey is -cookieless-key, else the key file in the spool
// directory (made once), else nil (a random key for this process).
func cookielessKey(c *config, log zerolog.Logger) ([]byte, error) {
	if c.cookielessKey != "" {
		return []byte(c.cookielessKey), nil
	}
	if c.publish.SpoolDir == "" {
		log.Warn().Msg("no -cookieless-key and no -spool-dir: cookieless visitor ids change when the collector restarts")
		return nil, nil
	}
	path := filepath.Join(c.publish.SpoolDir, "cookieless.key")
	if key, err := os.ReadFile(path); err == nil && len(key) >= 16 {
		return key, nil
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.MkdirAll(c.publish.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create -spool-dir for the cookieless key: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("cannot write the cookieless key %s: %w; set -cookieless-key", path, err)
	}
	return key, nil
}

func sameSiteName(mode fasthttp.CookieSameSite) string {
	for name, m := range sameSites {
		if m == mode {
			return name
		}
	}
	return ""
}

// gcPercent is the collector's GOGC unless the environment sets one. Its live
// heap is a few megabytes, so at the default of 100 the garbage collector
// would run every few megabytes allocated (kafka-go allocates per batch);
// 400 lets the heap grow to about five times the live data between cycles,
// which on the benchmark machine raised the request rate by about a tenth
// for some 20 MB of memory.
const gcPercent = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	c, fs := newConfig()
	fs.ParseOrExit(os.Args[1:])
	log, err := c.log.Stderr("collector")
	fs.RunOrExit(err)
	logging.RunOrExit(log, run(c, fs, log))
}

// run is the collector's story: the publisher, the server and the admin
// listener; then a signal; then the drain delay, and each part stopped in
// turn, with how long it took.
func run(c *config, fs *flagenv.Set, log zerolog.Logger) error {
	fdLimit := fitFDLimit(&c.server, log)
	m := metrics.NewSet()
	m.RegisterProcess()

	pub, err := publish.New(c.publish, log, m)
	if err != nil {
		return err
	}
	kafkaFrom := fs.Source("kafka-brokers").String()
	probeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := pub.Probe(probeCtx); err != nil {
		log.Warn().Err(err).Strs("kafka_brokers", c.publish.Brokers).Str("kafka_brokers_from", kafkaFrom).
			Msg("Kafka is not reachable yet; answering hits and retrying in the background")
	}
	cancel()

	key, err := cookielessKey(c, log)
	if err != nil {
		return err
	}
	c.server.Pixel.Cookieless = pixel.NewCookielessSalts(key)
	ready := func() error { return nil }
	if c.registry == "clickhouse" {
		loader := registry.NewClickHouseLoader(c.clickhouse)
		defer loader.Close()
		cache := c.registryCache
		if cache == "" && c.publish.SpoolDir != "" {
			cache = filepath.Join(c.publish.SpoolDir, "registry.json")
		}
		w := registry.Watch(context.Background(), loader, c.registryRefresh, cache, log, m)
		defer w.Close()
		c.server.Registry, ready = w.Current, w.Ready
		log.Info().Int("pixels", w.Current().Len()).Strs("clickhouse_addr", c.clickhouse.Addr).
			Str("clickhouse_addr_from", fs.Source("clickhouse-addr").String()).Dur("refresh_ms", c.registryRefresh).Msg("pixel registry")
	} else {
		log.Warn().Msg("-registry=off: every pixel id is recorded, with default settings")
	}

	srv := collector.New(c.server, pub, log, m)
	adm, err := admin.Start(c.adminAddr, m, func() error {
		if err := ready(); err != nil {
			return err
		}
		return srv.Ready()
	}, log)
	if err != nil {
		return fmt.Errorf("cannot listen on admin address %s: %w; set -admin-addr or COLLECTOR_ADMIN_ADDR", c.adminAddr, err)
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w; set -addr or COLLECTOR_ADDR", c.addr, err)
	}
	serveErr := make(chan error, 1)
	go func() {
		if c.tlsCert != "" {
			serveErr <- srv.ServeTLS(ln, c.tlsCert, c.tlsKey)
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	log.Info().Str("addr", ln.Addr().String()).Bool("tls", c.tlsCert != "").Str("admin_addr", adm.Addr()).
		Strs("kafka_brokers", c.publish.Brokers).Str("kafka_brokers_from", kafkaFrom).Str("topic", c.publish.Topic).
		Int("max_conns", c.server.MaxConns).Uint64("fd_limit", fdLimit).Msg("collector started")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Info().Str("signal", s.String()).Msg("shutting down")
	case err := <-serveErr:
		return fmt.Errorf("public listener failed: %w", err)
	}

	// Lame duck: unready, still answering, until load balancers notice.
	start := time.Now()
	drainCtx, stopDrain := context.WithCancel(context.Background())
	go func() {
		select {
		case s := <-sig:
			log.Info().Str("signal", s.String()).Msg("second signal: ending the drain delay")
			stopDrain()
		case <-drainCtx.Done():
		}
	}()
	srv.Drain(drainCtx, c.drainDelay)
	stopDrain()
	log.Info().Dur("took_ms", time.Since(start)).Msg("drain delay over; closing the listener")

	ctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	_ = logging.Stop(log, "public listener", func() error {
		if err := srv.Shutdown(ctx); err != nil {
			return fmt.Errorf("open requests did not finish within -shutdown-timeout: %w", err)
		}
		return nil
	})
	perr := logging.Stop(log, "publisher", func() error { return pub.Close(ctx) })
	if n := pub.QueueLen(); n > 0 {
		log.Warn().Int("unsent", n).Msg("the publisher stopped with events still in its queue")
	}
	_ = logging.Stop(log, "admin listener", func() error { return adm.Close(ctx) })
	return perr
}

// fitFDLimit raises the open-file limit to the hard limit and keeps
// -max-conns under it, with collector.FDReserve descriptors to spare, so that
// the cap refuses connections with a counted 503 before accept runs out of
// descriptors. It returns the limit (0: none known).
func fitFDLimit(s *collector.Config, log zerolog.Logger) uint64 {
	fdLimit, err := collector.RaiseFDLimit()
	if err != nil {
		log.Warn().Err(err).Uint64("fd_limit", fdLimit).Msg("running with the open-file limit as it is")
	}
	n := collector.MaxConnsWithin(s.MaxConns, fdLimit)
	switch {
	case n == s.MaxConns:
	case s.MaxConns == 0:
		log.Info().Int("max_conns", n).Uint64("fd_limit", fdLimit).Int("fd_reserve", collector.FDReserve).
			Msg("-max-conns=0: connections capped by the open-file limit")
	default:
		log.Warn().Int("max_conns_requested", s.MaxConns).Int("max_conns", n).Uint64("fd_limit", fdLimit).
			Int("fd_reserve", collector.FDReserve).
			Msg("-max-conns lowered to fit the open-file limit; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) to allow more")
	}
	s.MaxConns = n
	return fdLimit
}
