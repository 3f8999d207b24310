package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/bench/eventgen"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/publish"
)

// topicKafka is the kafka part's topic, on every broker it measures;
// topicKafkaZstd the one of the run with zstd, on one Apache Kafka broker.
const (
	topicKafka     = "bench.kafka"
	topicKafkaZstd = "bench.kafka.zstd"
)

// KafkaResult is the kafka part: our publisher (pkg/publish, acks=all,
// the collector's defaults) writing the same generated events to the
// embedded broker, to one Apache Kafka broker and to three (replication
// factor 3, min.insync.replicas 2), and the bytes each event takes in
// Apache Kafka's log segments on disk.
type KafkaResult struct {
	Events      int        `json:"events"`
	ValueBytes  float64    `json:"value_bytes_per_event"` // mean encoded event (the message value)
	Compression string     `json:"compression"`           // the publisher's (the collector's default)
	Runs        []KafkaRun `json:"runs"`                  // embedded, 1 broker, 3 brokers, then 1 broker with zstd
}

// KafkaRun is one broker setup.
type KafkaRun struct {
	ID           string  `json:"id"` // embedded, apache_1, apache_1_zstd, apache_3
	Broker       string  `json:"broker"`
	Compression  string  `json:"compression"`
	EventsPerSec float64 `json:"events_per_s"` // acknowledged, from the first Publish to Close
	Seconds      float64 `json:"seconds"`
	// LogBytes is the size of the topic's log segments of one replica;
	// 0 for the embedded broker, whose files are its own format.
	LogBytes      int64   `json:"log_bytes"`
	BytesPerEvent float64 `json:"log_bytes_per_event"`
}

func (l *lab) kafka(ctx context.Context, res *Results) error {
	n := max(l.cfg.Events/4, 10_000)
	corpus, err := eventgen.Generate(eventgen.Config{N: n, Seed: uint64(l.cfg.Seed), EventIDPrefix: fmt.Sprintf("kafka-%d-", l.cfg.Seed)})
	if err != nil {
		return err
	}
	kr := &KafkaResult{Events: n, ValueBytes: float64(corpus.ValueBytes()) / float64(n), Compression: publish.DefaultConfig().Compression}
	res.Kafka = kr

	run, err := publishAll(ctx, []string{l.brokerAddr}, topicKafka, kr.Compression, corpus)
	if err != nil {
		return fmt.Errorf("embedded broker: %w", err)
	}
	run.ID, run.Broker = "embedded", "embedded (devbroker)"
	kr.Runs = append(kr.Runs, run)
	l.printf("      embedded broker: %s events/s", fmt.Sprintf("%.0f", run.EventsPerSec))

	for _, brokers := range []int{1, 3} {
		dir := filepath.Join(l.work, fmt.Sprintf("apache-kafka-%d", brokers))
		name := fmt.Sprintf("Apache Kafka %s, 1 broker", devstack.KafkaVersion)
		runs := []struct{ topic, compression string }{{topicKafka, kr.Compression}, {topicKafkaZstd, "zstd"}}
		if brokers == 3 {
			name = fmt.Sprintf("Apache Kafka %s, 3 brokers, replication 3, min.insync.replicas 2", devstack.KafkaVersion)
			runs = runs[:1]
		}
		k, err := devstack.StartKafka(ctx, devstack.KafkaConfig{Dir: dir, Brokers: brokers, Partitions: partitions,
			Topics: []string{topicKafka, topicKafkaZstd}, Out: l.log, JVMFlags: benchJVMFlags})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, r := range runs {
			run, err := publishAll(ctx, strings.Split(k.Bootstrap(), ","), r.topic, r.compression, corpus)
			if err != nil {
				_ = k.Close()
				return fmt.Errorf("%s: %w", name, err)
			}
			run.ID, run.Broker = fmt.Sprintf("apache_%d", brokers), name
			if r.compression != kr.Compression {
				run.ID += "_" + r.compression
			}
			// One replica's segments: broker 0 holds a replica of every
			// partition (replication factor = brokers).
			if run.LogBytes, err = logBytes(filepath.Join(dir, "broker-0", "data"), r.topic); err != nil {
				_ = k.Close()
				return err
			}
			run.BytesPerEvent = float64(run.LogBytes) / float64(n)
			kr.Runs = append(kr.Runs, run)
			l.printf("      %s, compression %s: %.0f events/s, %.0f bytes per event on disk", run.Broker, run.Compression, run.EventsPerSec, run.BytesPerEvent)
		}
		if err := k.Close(); err != nil {
			res.note(fmt.Sprintf("%s did not stop cleanly: %v", name, err))
		}
	}
	return nil
}

// benchJVMFlags give the brokers the JIT compiler's full tiers, which the
// tests' fast-start flags leave out, and the heap of a small broker.
var benchJVMFlags = []string{"-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Xshare:auto"}

// publishAll publishes every event of c with a Publisher of the collector's
// defaults (no spool: a full queue waits here instead of dropping), closes
// it, and checks that the topic's partitions hold them all.
func publishAll(ctx context.Context, brokers []string, topic, compression string, c *eventgen.Corpus) (KafkaRun, error) {
	cfg := publish.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Compression = brokers, topic, compression
	before, err := endOffsets(ctx, brokers[0], topic)
	if err != nil {
		return KafkaRun{}, err
	}
	p, err := publish.New(cfg, zerolog.Nop(), metrics.NewSet())
	if err != nil {
		return KafkaRun{}, err
	}
	start := time.Now()
	for i := range c.Len() {
		for p.QueueLen() > cfg.QueueSize/2 {
			time.Sleep(100 * time.Microsecond)
		}
		m := p.Acquire()
		m.Key = append(m.Key, c.Key(i)...)
		m.Value = append(m.Value, c.Value(i)...)
		p.Publish(m)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		return KafkaRun{}, err
	}
	took := time.Since(start)
	after, err := endOffsets(ctx, brokers[0], topic)
	if err != nil {
		return KafkaRun{}, err
	}
	if got := after - before; got != int64(c.Len()) {
		return KafkaRun{}, fmt.Errorf("the topic holds %d new messages, want %d", got, c.Len())
	}
	return KafkaRun{Compression: compression, EventsPerSec: float64(c.Len()) / took.Seconds(), Seconds: took.Seconds()}, nil
}

// endOffsets is the sum of the end offsets of topic's partitions, as each
// partition's leader tells. A broker just started may answer that it does
// not lead a partition yet for a moment: it asks again for up to 10 s.
func endOffsets(ctx context.Context, broker, topic string) (int64, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		sum, err := tryEndOffsets(ctx, broker, topic)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return sum, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tryEndOffsets(ctx context.Context, broker, topic string) (int64, error) {
	var sum int64
	for p := range partitions {
		conn, err := kafka.DialLeader(ctx, "tcp", broker, topic, p)
		if err != nil {
			return 0, fmt.Errorf("cannot reach the leader of %s/%d: %w", topic, p, err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		end, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			return 0, fmt.Errorf("cannot read the end offset of %s/%d: %w", topic, p, err)
		}
		sum += end
	}
	return sum, nil
}

// logBytes is the size of topic's log segments (*.log) under a broker's
// data dir.
func logBytes(data, topic string) (int64, error) {
	var sum int64
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".log") && strings.HasPrefix(filepath.Base(filepath.Dir(path)), topic+"-") {
			info, err := d.Info()
			if err != nil {
				return err
			}
			sum += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot measure the log segments in %s: %w", data, err)
	}
	return sum, nil
}
