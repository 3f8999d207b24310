// Command forwarder hands a pixel's conversions to the ad platforms: for
// every active destination of the registry (pixelctl destination, the
// console's Destinations page) it reads pixel.events as its own consumer
// group, keeps the events the destination wants that pass the consent gate,
// adds the engaged-visit conversion, sends them in batches to Meta's
// Conversions API, Google Ads or a webhook, retries what can be retried,
// dead-letters what the platform refused, and commits the offsets only
// then (pkg/forward).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/admin"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/forward"
	"github.com/pixel-pipeline/pixel/pkg/logging"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

type config struct {
	adminAddr string
	forward   forward.Config
	ch        chstore.Options
	keyFile   string
	log       logging.Options
}

// newConfig returns the forwarder's settings at their defaults and the flags
// that change them.
func newConfig() (*config, *flagenv.Set) {
	c := &config{forward: forward.DefaultConfig(), ch: chstore.DefaultOptions(), log: logging.DefaultOptions()}
	f := &c.forward
	fs := flagenv.New("forwarder", "The pixel forwarder: pixel.events → each active destination (Meta Conversions API, Google Ads, webhook), committing offsets after the platform answered.")
	fs.String(&c.adminAddr, "admin-addr", "FORWARDER_ADMIN_ADDR", ":8091", "admin listen address: /metrics, /healthz, /readyz, /debug/pprof/")
	fs.Kafka(&f.Brokers, &f.Topic)
	fs.String(&f.DLQTopic, "dlq-topic", "FORWARDER_DLQ_TOPIC", f.DLQTopic, "dead-letter topic of the events a platform refused; it must exist")
	fs.ClickHouse(&c.ch.Addr, &c.ch.Database, &c.ch.User, &c.ch.Password)
	fs.Fallback(rundir.Env(rundir.Default), rundir.From)
	fs.DestinationKey(&c.keyFile, "the destination key `file` that opens the credentials (the one pixelctl destination create made)")
	fs.Duration(&f.Refresh, "refresh", "FORWARDER_REFRESH", f.Refresh, "how often destinations, pixels and erasures are reloaded")
	fs.Duration(&f.Linger, "linger", "FORWARDER_LINGER", f.Linger, "how long a batch waits for more events before it is sent")
	fs.Duration(&f.MaxBackoff, "max-backoff", "FORWARDER_MAX_BACKOFF", f.MaxBackoff, "longest wait between retries of a request (a longer Retry-After is cut to it); an unauthorized destination retries at this interval")
	fs.Duration(&f.RequestTimeout, "request-timeout", "FORWARDER_REQUEST_TIMEOUT", f.RequestTimeout, "time allowed for one request to a platform")
	fs.Duration(&f.ShutdownTimeout, "shutdown-timeout", "FORWARDER_SHUTDOWN_TIMEOUT", f.ShutdownTimeout, "time to send and commit the last batches on SIGTERM")
	fs.Logging(&c.log.Level, &c.log.Format)
	fs.Check(func() error {
		if f.MinBackoff > f.MaxBackoff {
			f.MinBackoff = f.MaxBackoff
		}
		return f.Check()
	})
	return c, fs
}

func main() {
	c, fs := newConfig()
	fs.ParseOrExit(os.Args[1:])
	log, err := c.log.Stderr("forwarder")
	fs.RunOrExit(err)
	logging.RunOrExit(log, run(c, fs, log))
}

// run is the forwarder's story: the key, the ClickHouse connection, the
// admin listener and the forwarder; then a signal, on which every pipeline
// stops fetching, sends and commits its batch; then the rest stopped.
func run(c *config, fs *flagenv.Set, log zerolog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := metrics.NewSet()
	m.RegisterProcess()
	chFrom := fs.Source("clickhouse-addr").String()

	path, keyFrom := c.keyFile, fs.Source(destination.KeyFileFlag).String()
	if path == "" {
		return destination.ErrNoKey
	}
	key, err := destination.LoadKey(path)
	if err != nil {
		return fmt.Errorf("%w (the key file came from %s)", err, keyFrom)
	}
	conn, err := chstore.OpenRetrying(ctx, c.ch, chFrom, log)
	if err != nil {
		return err
	}
	f := forward.New(c.forward, forward.NewStoreSource(conn, key), log, m)
	adm, err := admin.Start(c.adminAddr, m, f.Ready, log)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("cannot listen on admin address %s: %w; set -admin-addr or FORWARDER_ADMIN_ADDR", c.adminAddr, err)
	}
	log.Info().Str("admin_addr", adm.Addr()).Strs("kafka_brokers", c.forward.Brokers).Str("kafka_brokers_from", fs.Source("kafka-brokers").String()).
		Str("topic", c.forward.Topic).Str("dlq_topic", c.forward.DLQTopic).Strs("clickhouse", c.ch.Addr).Str("clickhouse_from", chFrom).
		Str("key_file", path).Str("key_file_from", keyFrom).Dur("refresh_ms", c.forward.Refresh).Msg("forwarder started")

	err = f.Run(ctx) // returns after the signal, with the last batches committed
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = logging.Stop(log, "admin listener", func() error { return adm.Close(sctx) })
	_ = logging.Stop(log, "ClickHouse connection", conn.Close)
	return err
}
