// Command devbroker runs an embedded Kafka-protocol broker (franz-go's kfake)
// for the one-machine dev stack and the tests. It speaks real Kafka on the wire
// (kafka-go, kcat and ClickHouse's Kafka engine talk to it), keeps its data in a
// directory when asked to, and is not meant for production: use real Kafka or
// Redpanda there (see deploy/).
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/kafkadefault"
	"github.com/pixel-pipeline/pixel/pkg/logging"
)

type config struct {
	addr       string // host:port
	host       string // of addr
	port       int    // of addr
	topics     []string
	partitions int
	dataDir    string
	syncWrites bool
	log        logging.Options
}

// newConfig returns devbroker's settings at their defaults and the flags
// that change them.
func newConfig() (*config, *flagenv.Set) {
	c := &config{
		topics:     []string{kafkadefault.Topic, kafkadefault.DeadLetterTopic(kafkadefault.Topic)},
		partitions: 4,
		log:        logging.DefaultOptions(),
	}
	fs := flagenv.New("devbroker", "An embedded Kafka-protocol broker (kfake) for development and tests. Not for production.")
	fs.Func("addr", "DEVBROKER_ADDR", kafkadefault.Broker, "listen address, `host:port`", func(v string) error {
		host, port, err := net.SplitHostPort(v)
		if err == nil {
			c.port, err = strconv.Atoi(port)
		}
		if err != nil {
			return fmt.Errorf("want host:port: %w", err)
		}
		c.addr, c.host = v, host
		return nil
	})
	fs.Strings(&c.topics, "topics", "DEVBROKER_TOPICS", "`topics` created at start, comma-separated")
	fs.Int(&c.partitions, "partitions", "DEVBROKER_PARTITIONS", c.partitions, "partitions of each created topic")
	fs.String(&c.dataDir, "data-dir", "DEVBROKER_DATA_DIR", "", "directory that keeps topics and committed offsets across restarts (empty: memory only, which slows down as the topics grow)")
	fs.Bool(&c.syncWrites, "sync", "DEVBROKER_SYNC", false, "fsync every produced batch before acknowledging it")
	fs.Logging(&c.log.Level, &c.log.Format)
	fs.Check(func() error {
		if c.partitions < 1 {
			return fmt.Errorf("-partitions is %d; it must be at least 1", c.partitions)
		}
		return nil
	})
	return c, fs
}

func main() {
	c, fs := newConfig()
	fs.ParseOrExit(os.Args[1:])
	log, err := c.log.Stderr("devbroker")
	fs.RunOrExit(err)
	logging.RunOrExit(log, run(c, log))
}

// run starts the broker, waits for a signal and stops it.
func run(c *config, log zerolog.Logger) error {
	opts := []kfake.Opt{
		kfake.Ports(c.port),
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(c.partitions),
		kfake.AllowAutoTopicCreation(),
		// kfake listens on 127.0.0.1; honour the host asked for.
		kfake.ListenFn(func(network, a string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(a)
			return net.Listen(network, net.JoinHostPort(c.host, p))
		}),
	}
	if len(c.topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(c.partitions), c.topics...))
	}
	if c.dataDir != "" {
		opts = append(opts, kfake.DataDir(c.dataDir))
	}
	if c.syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("cannot start the broker on %s: %w; check -addr and -data-dir", c.addr, err)
	}
	log.Info().Strs("addrs", cluster.ListenAddrs()).Strs("topics", c.topics).Int("partitions", c.partitions).
		Str("data_dir", c.dataDir).Msg("devbroker started")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	log.Info().Str("signal", (<-sig).String()).Msg("shutting down")
	return logging.Stop(log, "devbroker", func() error { cluster.Close(); return nil })
}
