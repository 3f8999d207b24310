// Command naiveconsumer is the consumer a developer would write in an
// afternoon with the same libraries, the baseline `make bench` holds ours
// against: kafka-go's Reader in a consumer group, one FetchMessage per
// message, encoding/json into a struct (bench/naive.Event), clickhouse-go's
// row-wise batch.Append, and a Send then CommitMessages every -batch-rows
// rows or -batch-age after a batch's first message. The Reader and the
// ClickHouse client keep their defaults (1 MB fetches, synchronous commits;
// no compression), but for the Reader's MaxWait (see run).
//
// It is plain on purpose, and written to be fair rather than slow. What it
// does not do is what ours does on top: check the format version, validate
// each event and send the bad ones to a dead-letter topic instead of
// stopping, retry inserts, fetch the next batch while the last one is
// inserted, expose metrics and lag.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/bench/naive"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
)

// config is the command line.
type config struct {
	brokers      []string
	topic, group string
	chAddr       []string
	database     string
	user, pass   string
	batchRows    int
	batchAge     time.Duration
}

func main() {
	c := config{topic: "pixel.events", group: "naive-consumer", database: "pixel", user: "default"}
	fs := flagenv.New("naiveconsumer", "A naive pixel consumer (kafka-go Reader.FetchMessage, encoding/json, row-wise batch.Append):\nthe baseline `make bench` compares the consumer with. Not for production: a message that is not\nan event stops it.")
	fs.Kafka(&c.brokers, &c.topic)
	fs.String(&c.group, "kafka-group", "KAFKA_GROUP", c.group, "consumer group")
	fs.ClickHouse(&c.chAddr, &c.database, &c.user, &c.pass)
	fs.Int(&c.batchRows, "batch-rows", "NAIVECONSUMER_BATCH_ROWS", 25_000, "insert and commit every this many rows")
	fs.Duration(&c.batchAge, "batch-age", "NAIVECONSUMER_BATCH_AGE", 500*time.Millisecond, "insert and commit a batch this long after its first message")
	fs.Check(func() error {
		if c.batchRows < 1 || c.batchAge <= 0 {
			return errors.New("-batch-rows and -batch-age must be positive")
		}
		return nil
	})
	fs.ParseOrExit(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fs.RunOrExit(run(ctx, c))
}

// run loads batches until ctx ends.
func run(ctx context.Context, c config) error {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: c.chAddr,
		Auth: clickhouse.Auth{Database: c.database, Username: c.user, Password: c.pass},
	})
	if err != nil {
		return fmt.Errorf("cannot configure the ClickHouse client: %w", err)
	}
	defer conn.Close()
	// MaxWait is the one setting changed: with the default of 10 s, Close
	// waits that long for the idle fetches, the first thing one notices.
	// It does not slow a consumer with a backlog, whose fetches return at
	// once.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.brokers, GroupID: c.group, Topic: c.topic, MaxWait: time.Second})
	defer r.Close()
	for {
		err := loadBatch(ctx, r, conn, c)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// loadBatch waits for a message, then inserts it with those that follow
// until the batch is full or old enough, and commits their offsets.
func loadBatch(ctx context.Context, r *kafka.Reader, conn clickhouse.Conn, c config) error {
	first, err := r.FetchMessage(ctx)
	if err != nil {
		return err
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+c.database+".events ("+naive.Columns+")")
	if err != nil {
		return fmt.Errorf("cannot start an insert: %w", err)
	}
	defer batch.Abort()
	fctx, cancel := context.WithTimeout(ctx, c.batchAge)
	defer cancel()
	msgs := []kafka.Message{first}
	for m := first; ; {
		var e naive.Event
		if err := json.Unmarshal(m.Value, &e); err != nil {
			return fmt.Errorf("message at offset %d of partition %d: %w", m.Offset, m.Partition, err)
		}
		if err := batch.Append(e.EventID, e.PixelID, e.VisitorID, e.SessionID, e.Event, time.Unix(e.TS, 0), time.Unix(e.ReceivedAt, 0),
			e.URL, e.Referrer, e.Value, e.Currency, e.OrderID, e.ContentIDs, e.IP, e.UserAgent, e.Props); err != nil {
			return fmt.Errorf("cannot append a row: %w", err)
		}
		if len(msgs) >= c.batchRows {
			break
		}
		if m, err = r.FetchMessage(fctx); err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				break // the batch is old enough
			}
			return err
		}
		msgs = append(msgs, m)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("cannot insert %d rows: %w", len(msgs), err)
	}
	if err := r.CommitMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("cannot commit: %w", err)
	}
	return nil
}
