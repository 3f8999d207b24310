// Command consumer loads events from Kafka into ClickHouse: it reads the topic
// as a consumer group, batches by rows, bytes and age, inserts each batch with
// one columnar insert, sends messages that are not valid events to the
// dead-letter topic, and commits the offsets only after ClickHouse and the
// dead-letter topic both took their part.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/admin"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/ingest"
	"github.com/pixel-pipeline/pixel/pkg/logging"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

type config struct {
	adminAddr       string
	ingest          ingest.Config
	ch              chstore.Options
	migrate         bool
	shutdownTimeout time.Duration
	log             logging.Options
}

// newConfig returns the consumer's settings at their defaults and the flags
// that change them.
func newConfig() (*config, *flagenv.Set) {
	c := &config{ingest: ingest.DefaultConfig(), ch: chstore.DefaultOptions(), log: logging.DefaultOptions()}
	in, b := &c.ingest, &c.ingest.Batch
	fs := flagenv.New("consumer", "The pixel consumer: Kafka topic → batches → ClickHouse pixel.events, committing offsets after each insert.")
	fs.String(&c.adminAddr, "admin-addr", "CONSUMER_ADMIN_ADDR", "127.0.0.1:8082", "admin listen address: /metrics, /healthz, /readyz, /debug/pprof/")
	fs.Kafka(&in.Brokers, &in.Topic)
	fs.String(&in.DLQTopic, "dlq-topic", "KAFKA_DLQ_TOPIC", in.DLQTopic, "dead-letter topic for messages that are not valid events (empty: the -kafka-topic name + \".dlq\"); it must exist")
	fs.String(&in.Group, "kafka-group", "KAFKA_GROUP", in.Group, "consumer group; run more consumers with the same group to share the partitions")
	fs.ClickHouse(&c.ch.Addr, &c.ch.Database, &c.ch.User, &c.ch.Password)
	fs.Fallback(rundir.Env(rundir.Default), rundir.From)
	fs.Int(&b.MaxRows, "batch-rows", "CONSUMER_BATCH_ROWS", b.MaxRows, "flush a batch at this many rows")
	fs.Int(&b.MaxBytes, "batch-bytes", "CONSUMER_BATCH_BYTES", b.MaxBytes, "flush a batch at this many message bytes")
	fs.Duration(&b.MaxAge, "batch-age", "CONSUMER_BATCH_AGE", b.MaxAge, "flush a batch this long after its first message")
	fs.Duration(&in.InsertTimeout, "insert-timeout", "CONSUMER_INSERT_TIMEOUT", in.InsertTimeout, "time allowed for one insert attempt, one dead-letter write and one offset commit")
	fs.Duration(&in.MaxBackoff, "max-backoff", "CONSUMER_MAX_BACKOFF", in.MaxBackoff, "longest wait between insert or dead-letter retries")
	fs.Bool(&c.migrate, "migrate", "CONSUMER_MIGRATE", false, "apply the schema migrations at start (as pixelctl migrate does)")
	fs.Duration(&c.shutdownTimeout, "shutdown-timeout", "CONSUMER_SHUTDOWN_TIMEOUT", 30*time.Second, "time to insert and commit the last batch on SIGTERM")
	fs.Logging(&c.log.Level, &c.log.Format)
	fs.Check(func() error {
		if b.MaxRows <= 0 || b.MaxBytes <= 0 || b.MaxAge <= 0 {
			return errors.New("-batch-rows, -batch-bytes and -batch-age must be positive")
		}
		if in.DLQTopic == in.Topic {
			return errors.New("-dlq-topic must differ from -kafka-topic: dead letters read again would go round forever")
		}
		return nil
	})
	return c, fs
}

func main() {
	c, fs := newConfig()
	fs.ParseOrExit(os.Args[1:])
	log, err := c.log.Stderr("consumer")
	fs.RunOrExit(err)
	logging.RunOrExit(log, run(c, fs, log))
}

// run is the consumer's story: the migrations when asked, the ClickHouse
// connection, the ingester and the admin listener; then a signal, on which
// the ingester inserts and commits its last batch; then the rest stopped,
// with how long each took.
func run(c *config, fs *flagenv.Set, log zerolog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := metrics.NewSet()
	m.RegisterProcess()
	chFrom := fs.Source("clickhouse-addr").String()

	if c.migrate {
		res, err := chstore.Migrate(ctx, c.ch)
		if err != nil {
			return fmt.Errorf("%w; the address came from %s", err, chFrom)
		}
		for _, m := range res.Skipped {
			log.Info().Uint32("migration", m.Version).Str("name", m.Name).Stringer("requires", m.Requires).Stringer("server", res.Server).
				Msg("migration skipped: it needs a newer ClickHouse; the first migrate after an upgrade applies it")
		}
		log.Info().Int("applied", len(res.Applied)).Int("skipped", len(res.Skipped)).Uint32("version", res.Current).Msg("schema migrated")
	}
	conn, err := chstore.OpenRetrying(ctx, c.ch, chFrom, log)
	if err != nil {
		return err
	}

	in := ingest.New(c.ingest, conn, log, m)
	adm, err := admin.Start(c.adminAddr, m, in.Ready, log)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("cannot listen on admin address %s: %w; set -admin-addr or CONSUMER_ADMIN_ADDR", c.adminAddr, err)
	}
	log.Info().Str("admin_addr", adm.Addr()).Strs("kafka_brokers", c.ingest.Brokers).Str("kafka_brokers_from", fs.Source("kafka-brokers").String()).
		Str("topic", c.ingest.Topic).Str("dlq_topic", in.DLQTopic()).Str("group", c.ingest.Group).
		Strs("clickhouse", c.ch.Addr).Str("clickhouse_from", chFrom).Int("batch_rows", c.ingest.Batch.MaxRows).
		Dur("batch_age_ms", c.ingest.Batch.MaxAge).Msg("consumer started")

	err = in.Run(ctx, c.shutdownTimeout) // returns after the signal, with the last batch committed
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = logging.Stop(log, "admin listener", func() error { return adm.Close(sctx) })
	_ = logging.Stop(log, "ClickHouse connection", conn.Close)
	return err
}
