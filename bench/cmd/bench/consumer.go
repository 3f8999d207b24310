package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/bench/chkafka"
	"github.com/pixel-pipeline/pixel/bench/eventgen"
	"github.com/pixel-pipeline/pixel/bench/procstat"
	"github.com/pixel-pipeline/pixel/bench/promtext"
	"github.com/pixel-pipeline/pixel/bench/report"
	"github.com/pixel-pipeline/pixel/pkg/batch"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// rawBatchSizes are the batch sizes of the raw insert: 100 000 rows, the
// ceiling as the targets define it, and the consumer's default -batch-rows.
// The faster of the two is the baseline, so that the consumer's own batch
// size cannot flatter it.
var rawBatchSizes = []int{100_000, batch.DefaultPolicy().MaxRows}

// pollEvery is how often the row count is read while a loader runs: the
// resolution of the consumer and engine timings.
const pollEvery = 100 * time.Millisecond

// consumer loads the same events four ways into fresh tables of the same
// schema: with raw columnar inserts (the ceiling), through the topic with
// our consumer, with the naive consumer and with ClickHouse's Kafka engine,
// and measures the CPU time each load costs per row.
func (l *lab) consumer(ctx context.Context, res *Results) error {
	n := l.cfg.Events
	cr := &ConsumerResult{Events: n, EngineOffsets: -1}
	res.Consumer = cr

	t0 := time.Now()
	corpus, err := eventgen.Generate(eventgen.Config{N: n, Seed: uint64(l.cfg.Seed), EventIDPrefix: fmt.Sprintf("ev-%d-", l.cfg.Seed)})
	if err != nil {
		return err
	}
	cr.GenerateS = time.Since(t0).Seconds()
	cr.AvgBytes = corpus.ValueBytes() / corpus.Len()
	l.printf("      generated %d events (%d bytes each on average) in %s", n, cr.AvgBytes, time.Since(t0).Round(100*time.Millisecond))

	// 1. The ceiling: the same rows, inserted directly, at the faster of the
	// batch sizes.
	for i, size := range rawBatchSizes {
		ld, err := l.rawInsert(ctx, corpus, size, fmt.Sprintf("bench_raw%d", i))
		if err != nil {
			return fmt.Errorf("raw insert: %w", err)
		}
		l.printf("      raw insert       %9.0f rows/s (%d rows in %d-row batches, insert time %s; CPU per row: inserting %.2f µs, ClickHouse %.2f µs)",
			ld.RowsPerS, ld.Rows, size, secs(ld.Seconds), ld.CPU.Loader, ld.CPU.ClickHouse)
		cr.RawRowsPerS = append(cr.RawRowsPerS, ld.RowsPerS)
		if cr.Raw == nil || ld.RowsPerS > cr.Raw.RowsPerS {
			cr.Raw, cr.BatchRows = ld, size
		}
	}
	if len(cr.RawRowsPerS) == 2 {
		res.note(fmt.Sprintf("raw insert: %s rows/s in %s-row batches, %s rows/s in %s-row batches (the consumer's default); the faster is the baseline",
			report.Thousands(cr.RawRowsPerS[0]), report.Thousands(float64(rawBatchSizes[0])), report.Thousands(cr.RawRowsPerS[1]), report.Thousands(float64(rawBatchSizes[1]))))
	}

	// 2. The topic, produced quickly with big batches.
	t0 = time.Now()
	if err := produce(ctx, l.brokerAddr, topicConsumer, corpus); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	cr.ProduceS = time.Since(t0).Seconds()
	l.printf("      produced %d messages to %s in %s", n, topicConsumer, time.Since(t0).Round(100*time.Millisecond))
	corpus = nil

	// 3. Our consumer, a fresh group and database, default batches.
	if err := l.ourConsumer(ctx, res, cr); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	l.printLoad("our consumer", cr.Ours)

	// 4. The naive consumer, a fresh group and database, our default batch
	// size and age.
	if err := l.naiveConsumer(ctx, res, cr); err != nil {
		return fmt.Errorf("naive consumer: %w", err)
	}
	l.printLoad("naive consumer", cr.Naive)

	// 5. ClickHouse's own Kafka engine on the same topic.
	if !l.cfg.Engine {
		res.note("ClickHouse's Kafka engine not measured (-engine=false)")
		return nil
	}
	if err := l.engine(ctx, res, cr); err != nil {
		return fmt.Errorf("the Kafka engine: %w", err)
	}
	l.printLoad("Kafka engine", cr.Engine)
	return nil
}

func (l *lab) printLoad(name string, ld *Load) {
	l.printf("      %-16s %9.0f rows/s (%d rows in %s, first rows after %s; CPU per row: loader %.2f µs, ClickHouse %.2f µs, broker %.2f µs)",
		name, ld.RowsPerS, ld.Rows, secs(ld.Seconds), secs(ld.FirstRowS), ld.CPU.Loader, ld.CPU.ClickHouse, ld.CPU.Broker)
}

func secs(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(10 * time.Millisecond)
}

// rawInsert decodes the messages into chstore.Rows and inserts them into
// database db in batches of batchRows; only the inserts are timed.
func (l *lab) rawInsert(ctx context.Context, c *eventgen.Corpus, batchRows int, db string) (*Load, error) {
	conn, err := l.migrate(ctx, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ld := &Load{Timeline: []Point{{0, 0}}}
	var rows chstore.Rows
	var e event.Event
	var spent, inserting time.Duration
	ch0 := cpuTime(l.chPid)
	for from := 0; from < c.Len(); from += batchRows {
		rows.Reset()
		for i := from; i < min(from+batchRows, c.Len()); i++ {
			if err := event.Parse(c.Value(i), &e); err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			rows.Append(&e)
		}
		t0, c0 := time.Now(), selfCPU()
		if err := chstore.Insert(ctx, conn, &rows, ""); err != nil {
			return nil, err
		}
		spent += time.Since(t0)
		inserting += selfCPU() - c0
		ld.Rows += int64(rows.Len())
		ld.Timeline = append(ld.Timeline, Point{spent.Seconds(), float64(ld.Rows)})
		if ld.FirstRowS == 0 {
			ld.FirstRowS = spent.Seconds()
		}
	}
	got, err := count(ctx, conn, db)
	if err != nil {
		return nil, err
	}
	if got != uint64(c.Len()) {
		return nil, fmt.Errorf("%d rows in the table after inserting %d", got, c.Len())
	}
	ld.Complete = true
	ld.Seconds = spent.Seconds()
	ld.RowsPerS = float64(ld.Rows) / ld.Seconds
	// ClickHouse over the whole loop: it is idle while the rows are decoded,
	// but for its merges, which inserting costs too.
	ld.CPU = LoadCPU{Loader: perUnit(inserting, float64(ld.Rows))}
	if l.chPid > 0 {
		ld.CPU.ClickHouse = perUnit(cpuTime(l.chPid)-ch0, float64(ld.Rows))
	}
	return ld, nil
}

func count(ctx context.Context, conn chstore.Conn, db string) (uint64, error) {
	var n uint64
	err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".events").Scan(&n)
	return n, err
}

// produce writes the corpus to topic with kafka-go in big synchronous
// batches from two goroutines, keyed by visitor like the collector.
func produce(ctx context.Context, broker, topic string, c *eventgen.Corpus) error {
	w := &kafka.Writer{
		Addr:         kafka.TCP(broker),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		BatchSize:    10_000,
		BatchBytes:   1 << 20, // the broker's message.max.bytes
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		WriteTimeout: 30 * time.Second,
	}
	defer w.Close()
	headers := []kafka.Header{{Key: event.Header, Value: []byte(event.Version)}}
	const chunk = 20_000
	const writers = 2
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]kafka.Message, 0, chunk)
			for from := g * chunk; from < c.Len(); from += writers * chunk {
				msgs = msgs[:0]
				for i := from; i < min(from+chunk, c.Len()); i++ {
					msgs = append(msgs, kafka.Message{Key: c.Key(i), Value: c.Value(i), Headers: headers})
				}
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					errs[g] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// poller reads a table's row count every pollEvery and keeps the timeline.
type poller struct {
	conn  chstore.Conn
	db    string
	start time.Time
	load  *Load
}

// until polls until want rows are in, ctx ends or within passes.
func (p *poller) until(ctx context.Context, want uint64, within time.Duration) error {
	deadline := time.Now().Add(within)
	p.load.Timeline = append(p.load.Timeline, Point{0, 0})
	var last uint64
	for {
		n, err := count(ctx, p.conn, p.db)
		if err != nil {
			return err
		}
		t := time.Since(p.start).Seconds()
		if n != last {
			if last == 0 {
				p.load.FirstRowS = t
			}
			p.load.Timeline = append(p.load.Timeline, Point{t, float64(n)})
			last = n
			p.load.Rows = int64(n)
			p.load.Seconds = t
		}
		if n >= want {
			p.load.Complete = true
			break
		}
		if time.Now().After(deadline) {
			p.load.Seconds = t
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	if p.load.Seconds > 0 {
		p.load.RowsPerS = float64(p.load.Rows) / p.load.Seconds
	}
	return nil
}

// ourConsumer starts bin/consumer on the produced topic with a fresh group
// and database and times it from its start until every event is readable.
func (l *lab) ourConsumer(ctx context.Context, res *Results, cr *ConsumerResult) error {
	const db = "bench_consumer"
	admin, err := addr()
	if err != nil {
		return err
	}
	var m promtext.Samples
	ld, mem, err := l.loadProcess(ctx, cr.Events, db, func() {
		m, _ = promtext.Scrape(ctx, "http://"+admin+"/metrics")
	}, "consumer", "-admin-addr", admin, "-kafka-brokers", l.brokerAddr,
		"-kafka-topic", topicConsumer, "-kafka-group", "bench-consumer", "-clickhouse-addr", l.ch.Addr(),
		"-clickhouse-database", db, "-log-level", "warn")
	cr.Ours = ld
	cr.RSSPeak, cr.RSSMax = mem.Peak, mem.RSS
	if err != nil {
		return err
	}
	cr.MetricsRows = m["pixel_consumer_rows_inserted_total"]
	if !ld.Complete {
		res.note(fmt.Sprintf("our consumer loaded only %d of %d events within 2 minutes", ld.Rows, cr.Events))
	}
	if cr.MetricsRows != float64(ld.Rows) {
		res.note(fmt.Sprintf("the consumer's pixel_consumer_rows_inserted_total says %.0f, the table holds %d rows", cr.MetricsRows, ld.Rows))
	}
	return nil
}

// naiveConsumer does as ourConsumer with bin/naiveconsumer, in batches of
// our consumer's default size and age.
func (l *lab) naiveConsumer(ctx context.Context, res *Results, cr *ConsumerResult) error {
	const db = "bench_naive"
	pol := batch.DefaultPolicy()
	ld, _, err := l.loadProcess(ctx, cr.Events, db, nil, "naiveconsumer", "-kafka-brokers", l.brokerAddr,
		"-kafka-topic", topicConsumer, "-kafka-group", "bench-naive-consumer", "-clickhouse-addr", l.ch.Addr(),
		"-clickhouse-database", db, "-batch-rows", strconv.Itoa(pol.MaxRows), "-batch-age", pol.MaxAge.String())
	cr.Naive = ld
	if err != nil {
		return err
	}
	if !ld.Complete {
		res.note(fmt.Sprintf("the naive consumer loaded only %d of %d events within 2 minutes", ld.Rows, cr.Events))
	}
	return nil
}

// loadProcess migrates database db, starts the loader bin with args and
// times it from its start until the table holds n rows (or 2 minutes
// passed). Before the loader stops, it takes the CPU time the loader, the
// broker and ClickHouse used meanwhile, and calls done, if not nil.
func (l *lab) loadProcess(ctx context.Context, n int, db string, done func(), bin string, args ...string) (*Load, procstat.Memory, error) {
	conn, err := l.migrate(ctx, db)
	if err != nil {
		return nil, procstat.Memory{}, err
	}
	defer conn.Close()
	ld := &Load{}
	start := time.Now()
	ch0, broker0 := cpuTime(l.chPid), cpuTime(l.broker.Pid())
	p, err := l.start(bin, "", l.bin(bin), args...)
	if err != nil {
		return ld, procstat.Memory{}, err
	}
	defer l.stop(p, 30*time.Second)
	mem := procstat.SampleMemory(p.Pid(), 100*time.Millisecond)
	pl := &poller{conn: conn, db: db, start: start, load: ld}
	err = pl.until(ctx, uint64(n), 2*time.Minute)
	rows := float64(ld.Rows)
	ld.CPU = LoadCPU{Loader: perUnit(cpuTime(p.Pid()), rows), Broker: perUnit(cpuTime(l.broker.Pid())-broker0, rows)}
	if l.chPid > 0 {
		ld.CPU.ClickHouse = perUnit(cpuTime(l.chPid)-ch0, rows)
	}
	if done != nil {
		done()
	}
	return ld, mem.Stop(), err
}

// engine creates a Kafka table and a materialized view on the same topic
// with a new consumer group, and times them from the CREATE until every
// event is readable.
func (l *lab) engine(ctx context.Context, res *Results, cr *ConsumerResult) error {
	const db = "bench_engine"
	conn, err := l.migrate(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close()
	pipe := chkafka.Pipeline{Database: db, Brokers: l.brokerAddr, Topic: topicConsumer, Group: "bench-clickhouse-engine", Consumers: 1}
	ld := &Load{}
	cr.Engine = ld
	start := time.Now()
	ch0, broker0 := cpuTime(l.chPid), cpuTime(l.broker.Pid())
	if err := pipe.Create(ctx, conn); err != nil {
		return err
	}
	pl := &poller{conn: conn, db: db, start: start, load: ld}
	err = pl.until(ctx, uint64(cr.Events), l.cfg.EngineTimeout)
	ld.CPU.Broker = perUnit(cpuTime(l.broker.Pid())-broker0, float64(ld.Rows))
	if l.chPid > 0 {
		ld.CPU.ClickHouse = perUnit(cpuTime(l.chPid)-ch0, float64(ld.Rows))
	}
	// Stop it whatever happened, with a context of its own: the run's may
	// be done.
	dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if derr := pipe.Drop(dctx, conn); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	if !ld.Complete {
		res.note(fmt.Sprintf("ClickHouse's Kafka engine loaded only %d of %d events within %s; its rate is over that time", ld.Rows, cr.Events, l.cfg.EngineTimeout))
	}
	// Did the engine commit what it read? (It commits with librdkafka's
	// OffsetCommit; a version the broker refused would show here.)
	if n, err := committed(dctx, l.brokerAddr, pipe.Group, topicConsumer); err == nil {
		cr.EngineOffsets = n
		if ld.Complete && n != int64(cr.Events) {
			res.note(fmt.Sprintf("ClickHouse's Kafka engine committed offsets for %d of %d messages", n, cr.Events))
		}
	} else {
		res.note("cannot read the Kafka engine's committed offsets: " + err.Error())
	}
	return nil
}

// committed sums a group's committed offsets over the topic's partitions.
func committed(ctx context.Context, broker, group, topic string) (int64, error) {
	c := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0, err
	}
	if resp.Error != nil {
		return 0, resp.Error
	}
	var sum int64
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return 0, p.Error
		}
		if p.CommittedOffset > 0 {
			sum += p.CommittedOffset
		}
	}
	return sum, nil
}
