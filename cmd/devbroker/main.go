// Command devbroker runs an embedded Kafka-protocol broker (franz-go's kfake)
// for the one-machine dev stack and the tests. It speaks real Kafka on the wire
// (kafka-go, kcat and ClickHouse's Kafka engine talk to it), keeps its data in a
// directory when asked to, and is not meant for production: use real Kafka or
// Redpanda there (see deploy/).
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/logging"
)

func main() {
	var (
		addr, topics, dataDir, logLevel, logFormat string
		partitions                                 int
		syncWrites                                 bool
	)
	fs := flagenv.New("devbroker", "An embedded Kafka-protocol broker (kfake) for development and tests. Not for production.")
	fs.String(&addr, "addr", "DEVBROKER_ADDR", "127.0.0.1:9092", "listen address")
	fs.String(&topics, "topics", "DEVBROKER_TOPICS", "pixel.events,pixel.events.dlq", "comma-separated topics to create at start")
	fs.Int(&partitions, "partitions", "DEVBROKER_PARTITIONS", 4, "partitions of each created topic")
	fs.String(&dataDir, "data-dir", "DEVBROKER_DATA_DIR", "", "directory that keeps topics and committed offsets across restarts (empty: memory only, which slows down as the topics grow)")
	fs.Bool(&syncWrites, "sync", "DEVBROKER_SYNC", false, "fsync every produced batch before acknowledging it")
	fs.String(&logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	fs.String(&logFormat, "log-format", "LOG_FORMAT", "json", "json or console")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "devbroker:", err)
		os.Exit(2)
	}
	log, err := logging.Stderr(logLevel, logFormat, "devbroker")
	if err != nil {
		fmt.Fprintln(os.Stderr, "devbroker:", err)
		os.Exit(2)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatal().Err(err).Str("addr", addr).Msg("cannot parse -addr; want host:port")
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		log.Fatal().Err(err).Str("addr", addr).Msg("cannot parse the port of -addr")
	}
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(partitions),
		kfake.AllowAutoTopicCreation(),
		// kfake listens on 127.0.0.1; honour the host asked for.
		kfake.ListenFn(func(network, a string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(a)
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	var names []string
	for _, t := range strings.Split(topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			names = append(names, t)
		}
	}
	if len(names) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(partitions), names...))
	}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	if syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		log.Fatal().Err(err).Msg("cannot start the broker")
	}
	log.Info().Strs("addrs", cluster.ListenAddrs()).Strs("topics", names).Int("partitions", partitions).
		Str("data_dir", dataDir).Msg("devbroker started")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	start := time.Now()
	cluster.Close()
	log.Info().Str("signal", s.String()).Dur("took", time.Since(start)).Msg("devbroker stopped")
}
