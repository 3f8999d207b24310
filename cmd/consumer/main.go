// Command consumer loads events from Kafka into ClickHouse: it reads the topic
// as a consumer group, batches by rows, bytes and age, inserts each batch with
// one columnar insert, sends messages that are not valid events to the
// dead-letter topic, and commits the offsets only after ClickHouse and the
// dead-letter topic both took their part.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/admin"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/ingest"
	"github.com/pixel-pipeline/pixel/pkg/logging"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

type config struct {
	adminAddr           string
	brokers, chAddr     string
	ingest              ingest.Config
	ch                  chstore.Options
	migrate             bool
	shutdownTimeout     time.Duration
	logLevel, logFormat string
}

func parseFlags(args []string) (*config, error) {
	c := &config{ingest: ingest.DefaultConfig()}
	in, b := &c.ingest, &c.ingest.Batch
	fs := flagenv.New("consumer", "The pixel consumer: Kafka topic → batches → ClickHouse pixel.events, committing offsets after each insert.")
	fs.String(&c.adminAddr, "admin-addr", "CONSUMER_ADMIN_ADDR", "127.0.0.1:8082", "admin listen address: /metrics, /healthz, /readyz, /debug/pprof/")
	fs.String(&c.brokers, "kafka-brokers", "KAFKA_BROKERS", strings.Join(in.Brokers, ","), "comma-separated Kafka bootstrap brokers")
	fs.String(&in.Topic, "kafka-topic", "KAFKA_TOPIC", in.Topic, "Kafka topic to read")
	fs.String(&in.DLQTopic, "dlq-topic", "KAFKA_DLQ_TOPIC", "", "dead-letter topic for messages that are not valid events (default: the -kafka-topic name + \".dlq\"); it must exist")
	fs.String(&in.Group, "kafka-group", "KAFKA_GROUP", in.Group, "consumer group id (members share the partitions)")
	fs.String(&c.chAddr, "clickhouse-addr", "CLICKHOUSE_ADDR", "127.0.0.1:9000", "comma-separated ClickHouse native-protocol addresses")
	fs.String(&c.ch.Database, "clickhouse-database", "CLICKHOUSE_DATABASE", "pixel", "ClickHouse database")
	fs.String(&c.ch.User, "clickhouse-user", "CLICKHOUSE_USER", "default", "ClickHouse user")
	fs.String(&c.ch.Password, "clickhouse-password", "CLICKHOUSE_PASSWORD", "", "ClickHouse password")
	fs.Bool(&c.migrate, "migrate", "CONSUMER_MIGRATE", false, "apply the schema migrations at start (as pixelctl migrate does)")
	fs.Int(&b.MaxRows, "batch-rows", "CONSUMER_BATCH_ROWS", b.MaxRows, "flush a batch at this many rows")
	fs.Int(&b.MaxBytes, "batch-bytes", "CONSUMER_BATCH_BYTES", b.MaxBytes, "flush a batch at this many message bytes")
	fs.Duration(&b.MaxAge, "batch-age", "CONSUMER_BATCH_AGE", b.MaxAge, "flush a batch this long after its first message")
	fs.Duration(&in.InsertTimeout, "insert-timeout", "CONSUMER_INSERT_TIMEOUT", in.InsertTimeout, "time allowed for one insert attempt, one dead-letter write and one offset commit")
	fs.Duration(&in.MaxBackoff, "max-backoff", "CONSUMER_MAX_BACKOFF", in.MaxBackoff, "longest wait between insert or dead-letter retries")
	fs.Duration(&c.shutdownTimeout, "shutdown-timeout", "CONSUMER_SHUTDOWN_TIMEOUT", 30*time.Second, "time to insert and commit the last batch on SIGTERM")
	fs.String(&c.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	fs.String(&c.logFormat, "log-format", "LOG_FORMAT", "json", "json or console")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	in.Brokers = flagenv.List(c.brokers)
	c.ch.Addr = flagenv.List(c.chAddr)
	if b.MaxRows <= 0 || b.MaxBytes <= 0 || b.MaxAge <= 0 {
		return nil, errors.New("-batch-rows, -batch-bytes and -batch-age must be positive")
	}
	if in.DLQTopic == in.Topic {
		return nil, errors.New("-dlq-topic must differ from -kafka-topic: dead letters read again would go round forever")
	}
	return c, nil
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(2)
	}
	log, err := logging.Stderr(c.logLevel, c.logFormat, "consumer")
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(2)
	}
	if err := run(c, log); err != nil {
		log.Error().Err(err).Msg("consumer stopped with an error")
		os.Exit(1)
	}
}

func run(c *config, log zerolog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := metrics.NewSet()
	m.RegisterProcess()

	if c.migrate {
		res, err := chstore.Migrate(ctx, c.ch)
		if err != nil {
			return err
		}
		for _, m := range res.Skipped {
			log.Info().Uint32("migration", m.Version).Str("name", m.Name).Stringer("requires", m.Requires).Stringer("server", res.Server).
				Msg("migration skipped: it needs a newer ClickHouse; the first migrate after an upgrade applies it")
		}
		log.Info().Int("applied", len(res.Applied)).Int("skipped", len(res.Skipped)).Uint32("version", res.Current).Msg("schema migrated")
	}
	conn, err := openRetrying(ctx, c.ch, log)
	if err != nil {
		return err
	}
	defer conn.Close()

	in := ingest.New(c.ingest, conn, log, m)
	adm, err := admin.Start(c.adminAddr, m, in.Ready, log)
	if err != nil {
		return fmt.Errorf("cannot listen on admin address %s: %w", c.adminAddr, err)
	}
	log.Info().Str("admin_addr", adm.Addr()).Strs("kafka_brokers", c.ingest.Brokers).Str("topic", c.ingest.Topic).Str("dlq_topic", in.DLQTopic()).
		Str("group", c.ingest.Group).Strs("clickhouse", c.ch.Addr).Int("batch_rows", c.ingest.Batch.MaxRows).
		Dur("batch_age", c.ingest.Batch.MaxAge).Msg("consumer started")

	err = in.Run(ctx, c.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = adm.Close(sctx)
	return err
}

// openRetrying connects to ClickHouse, waiting for it while it starts.
func openRetrying(ctx context.Context, o chstore.Options, log zerolog.Logger) (conn chstore.Conn, err error) {
	for attempt := 1; ; attempt++ {
		conn, err = chstore.Open(ctx, o)
		if err == nil {
			return conn, nil
		}
		if attempt == 1 {
			log.Warn().Err(err).Msg("ClickHouse is not reachable yet; retrying")
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Second):
		}
	}
}
