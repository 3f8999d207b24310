package flagenv

import (
	"errors"
	"fmt"
	"github.com/pixel-pipeline/pixel/pkg/destination"
)

// The flag groups several commands share. Each fills fields of the options
// struct of the package that uses them (logging.Options, publish.Config,
// ingest.Config, chstore.Options), whose current values are the defaults:
// a default is written once, where its package declares its options.

// Logging adds -log-level and -log-format.
func (s *Set) Logging(level, format *string) {
	s.Func("log-level", "LOG_LEVEL", *level, "log `level`: debug, info, warn or error", func(v string) error {
		switch v {
		case "debug", "info", "warn", "error":
			*level = v
			return nil
		}
		return fmt.Errorf("unknown log level %q; use debug, info, warn or error", v)
	})
	s.Func("log-format", "LOG_FORMAT", *format, "log `format`: json, or console (one line a human reads; in colour on a terminal)", func(v string) error {
		switch v {
		case "json", "console":
			*format = v
			return nil
		}
		return fmt.Errorf("unknown log format %q; use json or console", v)
	})
}

// Kafka adds -kafka-brokers and -kafka-topic, which may also come from the
// fallback (a running make run's run/stack.env).
func (s *Set) Kafka(brokers *[]string, topic *string) {
	s.Strings(brokers, "kafka-brokers", "KAFKA_BROKERS", "Kafka bootstrap brokers, comma-separated `host:port,...`")
	s.String(topic, "kafka-topic", "KAFKA_TOPIC", *topic, "Kafka topic of the events")
	s.share("-kafka-brokers, -kafka-topic", "kafka-brokers", "kafka-topic")
	s.Check(func() error {
		if len(*brokers) == 0 {
			return errors.New("-kafka-brokers is empty; name at least one broker, host:port")
		}
		if *topic == "" {
			return errors.New("-kafka-topic is empty; name the topic of the events")
		}
		return nil
	})
}

// ClickHouse adds -clickhouse-addr, -clickhouse-database, -clickhouse-user
// and -clickhouse-password, which may also come from the fallback (a running
// make run's run/stack.env).
func (s *Set) ClickHouse(addr *[]string, database, user, password *string) {
	s.Strings(addr, "clickhouse-addr", "CLICKHOUSE_ADDR", "ClickHouse native-protocol addresses, comma-separated `host:port,...`")
	s.String(database, "clickhouse-database", "CLICKHOUSE_DATABASE", *database, "ClickHouse database")
	s.String(user, "clickhouse-user", "CLICKHOUSE_USER", *user, "ClickHouse user")
	s.String(password, "clickhouse-password", "CLICKHOUSE_PASSWORD", *password, "ClickHouse password")
	s.share("-clickhouse-*", "clickhouse-addr", "clickhouse-database", "clickhouse-user", "clickhouse-password")
	s.Check(func() error {
		if len(*addr) == 0 {
			return errors.New("-clickhouse-addr is empty; name at least one server, host:port (the native protocol, port 9000 by default)")
		}
		return nil
	})
}

// share lets the fallback hold the named flags' values; -help calls them
// group.
func (s *Set) share(group string, names ...string) {
	s.shared = append(s.shared, group)
	for _, name := range names {
		s.flags[name].shared = true
	}
}

// DestinationKey adds -destination-key-file (PIXEL_DESTINATION_KEY_FILE),
// the key file that seals the destinations' credentials, which may also
// come from the fallback (make run's run/stack.env names its key file).
func (s *Set) DestinationKey(path *string, usage string) {
	s.String(path, destination.KeyFileFlag, destination.KeyFileEnv, "", usage)
	s.share("-"+destination.KeyFileFlag, destination.KeyFileFlag)
}
