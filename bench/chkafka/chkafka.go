// Package chkafka sets up ClickHouse's own Kafka table engine as the
// baseline the consumer is measured against: a Kafka table reading the
// events topic as JSONEachRow and a materialized view that moves what it
// reads into a copy of pixel.events. It is the setup the ClickHouse
// documentation recommends, with the server-wide librdkafka settings it
// needs against a fresh consumer group.
package chkafka

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
)

// ConfigXML is a config.d file for clickhouse-server. The <kafka> section
// holds librdkafka settings for every Kafka table of the server:
//
//   - auto_offset_reset=smallest: a new consumer group starts at the
//     beginning of the topic. librdkafka's default, largest, would wait for
//     messages produced after the table was created and never see the ones
//     the benchmark produced before.
//
// The offsets the engine commits are checked after each run (the
// benchmark reads the group's committed offsets back): librdkafka asks
// the broker which protocol versions it speaks (api.version.request, on
// by default since librdkafka 0.10) and so commits with an OffsetCommit
// version the embedded broker supports.
const ConfigXML = `<?xml version="1.0"?>
<!-- Written by pixel's make bench: librdkafka settings of the Kafka table engine. -->
<yandex>
  <kafka>
    <auto_offset_reset>smallest</auto_offset_reset>
  </kafka>
</yandex>
`

// WriteConfig writes ConfigXML into the config.d directory next to the
// server's config.xml in dir; clickhouse-server (18.16 too) merges every
// file there into its configuration at start.
func WriteConfig(dir string) error {
	d := filepath.Join(dir, "config.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, "pixel-bench-kafka.xml"), []byte(ConfigXML), 0o644)
}

// Pipeline is a Kafka table and the materialized view that copies what it
// reads into Database.events.
type Pipeline struct {
	Database  string // holds events (the target, created by the migrations) and the two new objects
	Brokers   string // comma-separated
	Topic     string
	Group     string // a consumer group of its own
	Consumers int    // kafka_num_consumers; default 1
}

var (
	ident  = regexp.MustCompile(`^[A-Za-z0-9_.:,-]+$`)      // topics, groups, broker lists
	dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) // databases
)

// Statements returns the SQL that creates the pipeline: the Kafka table
// has exactly the columns of the events table (CREATE TABLE ... AS), so the
// messages' field names map onto them as they do for our consumer, and a
// missing field takes its column's default, as the wire format says.
func (p Pipeline) Statements() ([]string, error) {
	if !dbName.MatchString(p.Database) {
		return nil, fmt.Errorf("chkafka: database %q is not a plain name", p.Database)
	}
	for _, s := range []string{p.Brokers, p.Topic, p.Group} {
		if !ident.MatchString(s) {
			return nil, fmt.Errorf("chkafka: %q is not a plain name", s)
		}
	}
	consumers := max(p.Consumers, 1)
	return []string{
		fmt.Sprintf("CREATE TABLE %s.events_queue AS %s.events ENGINE = Kafka SETTINGS "+
			"kafka_broker_list = '%s', kafka_topic_list = '%s', kafka_group_name = '%s', "+
			"kafka_format = 'JSONEachRow', kafka_num_consumers = %d",
			p.Database, p.Database, p.Brokers, p.Topic, p.Group, consumers),
		fmt.Sprintf("CREATE MATERIALIZED VIEW %s.events_queue_mv TO %s.events AS SELECT * FROM %s.events_queue",
			p.Database, p.Database, p.Database),
	}, nil
}

// Create creates the pipeline; the engine starts reading at once.
func (p Pipeline) Create(ctx context.Context, conn chstore.Conn) error {
	stmts, err := p.Statements()
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("cannot create the Kafka engine pipeline: %w (%s)", err, s)
		}
	}
	return nil
}

// Drop stops the engine: the view first, so nothing half-read is lost,
// then the Kafka table.
func (p Pipeline) Drop(ctx context.Context, conn chstore.Conn) error {
	if !dbName.MatchString(p.Database) {
		return fmt.Errorf("chkafka: database %q is not a plain name", p.Database)
	}
	for _, s := range []string{
		"DROP TABLE IF EXISTS " + p.Database + ".events_queue_mv",
		"DROP TABLE IF EXISTS " + p.Database + ".events_queue",
	} {
		if err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("cannot drop the Kafka engine pipeline: %w", err)
		}
	}
	return nil
}
