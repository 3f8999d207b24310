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

// topicKafka is the kafka part's topic, on every broker it measures.
const topicKafka = "bench.kafka"

// KafkaResult is the kafka part: our publisher (pkg/publish, acks=all,
// the collector's defaults) writing the same generated events to the
// embedded broker, to one Apache Kafka broker and to three (replication
// factor 3, min.insync.replicas 2), and the bytes each event takes in
// Apache Kafka's log segments on disk.
type KafkaResult struct {
	Events      int        `json:"events"`
	ValueBytes  float64    `json:"value_bytes_per_event"` // mean encoded event (the message value)
	Compression string     `json:"compression"`           // the publisher's (the collector's default)
	Runs        []KafkaRun `json:"runs"`
}

// KafkaRun is one broker setup.
type KafkaRun struct {
	Broker       string  `json:"broker"`
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

	run, err := publishAll(ctx, []string{l.brokerAddr}, corpus)
	if err != nil {
		return fmt.Errorf("embedded broker: %w", err)
	}
	run.Broker = "embedded (devbroker)"
	kr.Runs = append(kr.Runs, run)
	l.printf("      embedded broker: %s events/s", fmt.Sprintf("%.0f", run.EventsPerSec))

	for _, brokers := range []int{1, 3} {
		dir := filepath.Join(l.work, fmt.Sprintf("apache-kafka-%d", brokers))
		k, err := devstack.StartKafka(ctx, devstack.KafkaConfig{Dir: dir, Brokers: brokers, Partitions: partitions, Topics: []string{topicKafka}, Out: l.log})
		if err != nil {
			return fmt.Errorf("Apache Kafka, %d broker(s): %w", brokers, err)
		}
		run, err := publishAll(ctx, strings.Split(k.Bootstrap(), ","), corpus)
		closeErr := k.Close()
		if err != nil {
			return fmt.Errorf("Apache Kafka, %d broker(s): %w", brokers, err)
		}
		if closeErr != nil {
			res.note(fmt.Sprintf("Apache Kafka, %d broker(s), did not stop cleanly: %v", brokers, closeErr))
		}
		run.Broker = fmt.Sprintf("Apache Kafka %s, %d broker(s)", devstack.KafkaVersion, brokers)
		if brokers == 3 {
			run.Broker += ", replication 3, min.insync.replicas 2"
		}
		// One replica's segments: broker 0 holds a replica of every
		// partition (replication factor = brokers).
		if run.LogBytes, err = logBytes(filepath.Join(dir, "broker-0", "data"), topicKafka); err != nil {
			return err
		}
		run.BytesPerEvent = float64(run.LogBytes) / float64(n)
		kr.Runs = append(kr.Runs, run)
		l.printf("      %s: %.0f events/s, %.0f bytes per event on disk", run.Broker, run.EventsPerSec, run.BytesPerEvent)
	}
	return nil
}

// publishAll publishes every event of c with a Publisher of the collector's
// defaults (no spool: a full queue waits here instead of dropping), closes
// it, and checks that the topic's partitions hold them all.
func publishAll(ctx context.Context, brokers []string, c *eventgen.Corpus) (KafkaRun, error) {
	cfg := publish.DefaultConfig()
	cfg.Brokers, cfg.Topic = brokers, topicKafka
	before, err := endOffsets(ctx, brokers[0])
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
	after, err := endOffsets(ctx, brokers[0])
	if err != nil {
		return KafkaRun{}, err
	}
	if got := after - before; got != int64(c.Len()) {
		return KafkaRun{}, fmt.Errorf("the topic holds %d new messages, want %d", got, c.Len())
	}
	return KafkaRun{EventsPerSec: float64(c.Len()) / took.Seconds(), Seconds: took.Seconds()}, nil
}

// endOffsets is the sum of the end offsets of topicKafka's partitions.
func endOffsets(ctx context.Context, broker string) (int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	req := map[string][]kafka.OffsetRequest{}
	for p := range partitions {
		req[topicKafka] = append(req[topicKafka], kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return 0, fmt.Errorf("cannot list the offsets of %s: %w", topicKafka, err)
	}
	var sum int64
	for _, po := range resp.Topics[topicKafka] {
		if po.Error != nil {
			return 0, fmt.Errorf("offsets of %s/%d: %w", topicKafka, po.Partition, po.Error)
		}
		sum += po.LastOffset
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
