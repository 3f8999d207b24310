package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/bench/marker"
	"github.com/pixel-pipeline/pixel/bench/pin"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

// markerPixel is the pixel id of the marker hits.
const markerPixel = "bench-marker"

// tradeoff runs the pipeline at -tradeoff-rate once for each batch size and
// age of our consumer (-tradeoff-batch-rows × -tradeoff-batch-ages): how
// late rows become readable, and what each batch size costs ClickHouse
// and the consumer, so that an operator can choose. Each run has its own
// topic, collector, consumer group and database, so that none inherits
// another's backlog.
func (l *lab) tradeoff(ctx context.Context, res *Results) error {
	tr := &TradeoffResult{Rate: l.cfg.TradeoffRate, Duration: l.cfg.TradeoffDuration.Seconds()}
	res.Tradeoff = tr
	if err := l.pinBroker(pin.All()); err != nil {
		return err
	}
	client := clientCPU
	if !pin.Available() {
		client = ""
	}
	for _, rows := range l.cfg.TradeoffBatchRows {
		for _, age := range l.cfg.TradeoffBatchAges {
			cell, err := l.tradeoffCell(ctx, len(tr.Cells), rows, age, client)
			if err != nil {
				return fmt.Errorf("-batch-rows %d -batch-age %s: %w", rows, age, err)
			}
			tr.Cells = append(tr.Cells, *cell)
			lag := cell.Markers
			l.printf("      batch %7d rows, %6s: %6.0f rows/s, lag p50 %-9s p99 %-9s (%d markers), last row %s after the load; CPU per row: consumer %.2f µs, ClickHouse %.2f µs",
				rows, age, cell.RowsPerS, lag.P50.Round(time.Millisecond), lag.P99.Round(time.Millisecond), lag.Found,
				secs(cell.LastRowS), cell.ConsumerCPU, cell.ClickHouseCPU)
		}
	}
	return nil
}

// tradeoffCell is one run of the trade-off: a fresh topic, collector,
// consumer (with batchRows and batchAge) and database; loadgen at the fixed
// rate with unique event ids and a marker hit every 50 ms.
func (l *lab) tradeoffCell(ctx context.Context, n, batchRows int, batchAge time.Duration, client string) (*TradeoffCell, error) {
	topic := topicTradeoff + "." + strconv.Itoa(n)
	if err := l.createTopics(ctx, topic, topic+".dlq"); err != nil {
		return nil, err
	}
	defer l.deleteTopic(context.WithoutCancel(ctx), topic)
	db := "bench_tradeoff" + strconv.Itoa(n)
	conn, err := l.migrate(ctx, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ad, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	collAddr, collAdmin, consAdmin := ad[0], ad[1], ad[2]
	coll, err := l.start("collector", "", l.bin("collector"), "-addr", collAddr, "-admin-addr", collAdmin,
		"-kafka-brokers", l.brokerAddr, "-kafka-topic", topic,
		"-spool-dir", filepath.Join(l.work, "spool-tradeoff"+strconv.Itoa(n)), "-drain-delay", "0", "-log-level", "warn", "-registry", "off")
	if err != nil {
		return nil, err
	}
	defer l.stop(coll, 30*time.Second)
	cons, err := l.start("consumer", "", l.bin("consumer"), "-admin-addr", consAdmin, "-kafka-brokers", l.brokerAddr,
		"-kafka-topic", topic, "-kafka-group", "bench-tradeoff", "-clickhouse-addr", l.ch.Addr(), "-clickhouse-database", db,
		"-batch-rows", strconv.Itoa(batchRows), "-batch-age", batchAge.String(), "-log-level", "warn")
	if err != nil {
		return nil, err
	}
	defer l.stop(cons, 30*time.Second)
	if err := waitHTTP(ctx, coll, "http://"+collAdmin+"/readyz"); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, cons, "http://"+consAdmin+"/healthz"); err != nil {
		return nil, err
	}
	pixelURL, table := "http://"+collAddr+"/p.gif", db+".events"
	seed := l.cfg.Seed

	// Wait until the consumer stores a first hit: it has joined its group
	// and been given the partitions, which is not the lag being measured.
	prime, err := marker.Start(ctx, marker.Config{Pixel: pixelURL, PixelID: markerPixel, Prefix: fmt.Sprintf("prime-%d-%d-", seed, n), Poll: 20 * time.Millisecond, Conn: conn, Table: table})
	if err != nil {
		return nil, err
	}
	if r := prime.Drain(ctx, 30*time.Second); r.Found == 0 {
		return nil, errors.New("the consumer stored no hit within 30 s of its start")
	}

	mk, err := marker.Start(ctx, marker.Config{
		Pixel: pixelURL, PixelID: markerPixel, Prefix: fmt.Sprintf("tm-%d-%d-", seed, n),
		Interval: 50 * time.Millisecond, Poll: 25 * time.Millisecond, Conn: conn, Table: table,
	})
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("to-%d-%d-", seed, n)
	cfg := loadgen.DefaultConfig()
	cfg.Target = "http://" + collAddr
	cfg.Rate = l.cfg.TradeoffRate
	cfg.Duration = l.cfg.TradeoffDuration
	cfg.Connections = l.cfg.WrkConnections
	cfg.Seed = uint64(seed) + uint64(n)
	cfg.Mix.EventIDs = true
	cfg.Mix.EventIDPrefix = prefix
	cfg.Mix.MalformedFraction = 0 // every hit is a row
	undo, err := onClientCore(client)
	if err != nil {
		mk.Drain(ctx, 0)
		return nil, err
	}
	pids := []int{cons.Pid(), l.chPid}
	cpu0 := cpuTimes(pids)
	start := time.Now()
	lg, err := loadgen.Run(ctx, cfg)
	loadEnd := time.Now()
	mk.StopSending()
	undo()
	if err != nil {
		mk.Drain(ctx, 0)
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	cell := &TradeoffCell{BatchRows: batchRows, BatchAge: batchAge.Seconds(), Sent: lg.Sent, Answered: int64(len(lg.EventIDs))}

	// Until every answered hit is readable, or 30 s. The rows may hold
	// copies: delivery is at least once, and a batch the consumer retried
	// after a slow insert (a loaded machine) is stored twice until
	// ReplacingMergeTree merges it. So once there are as many rows as
	// answered hits, the distinct ids decide, as the shipped queries count
	// them (asked only then: the cheap count keeps ClickHouse's measured
	// CPU time the load's).
	deadline := loadEnd.Add(30 * time.Second)
	for {
		rows, err := countHits(ctx, conn, table, "count()")
		if err == nil && int64(rows) >= cell.Answered {
			rows, err = countHits(ctx, conn, table, "uniqExact(event_id)")
		}
		if err != nil {
			mk.Drain(ctx, 0)
			return nil, err
		}
		cell.Stored = int64(rows)
		if int64(rows) >= cell.Answered || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	end := time.Now()
	used := cpuSince(pids, cpu0)
	cell.LastRowS = end.Sub(loadEnd).Seconds()
	cell.RowsPerS = float64(cell.Stored) / end.Sub(start).Seconds()
	cell.ConsumerCPU = perUnit(used[0], float64(cell.Stored))
	cell.ClickHouseCPU = perUnit(used[1], float64(cell.Stored))
	cell.Markers = mk.Drain(ctx, 5*time.Second)
	if cell.Stored < cell.Answered {
		return cell, fmt.Errorf("only %d of %d answered hits readable 30 s after the load", cell.Stored, cell.Answered)
	}
	return cell, nil
}

// countHits counts (what: count() or uniqExact(event_id)) the rows of
// table that are not marker hits: the load generator's. (pixel_id leads the sorting key: cheaper to read than the
// event ids, while the CPU time of ClickHouse is being measured.)
func countHits(ctx context.Context, conn chstore.Conn, table, what string) (uint64, error) {
	var n uint64
	err := conn.QueryRow(ctx, "SELECT "+what+" FROM "+table+" WHERE pixel_id != ?", markerPixel).Scan(&n)
	return n, err
}

// createTopics creates topics with the run's partitions.
func (l *lab) createTopics(ctx context.Context, topics ...string) error {
	c := &kafka.Client{Addr: kafka.TCP(l.brokerAddr), Timeout: 10 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: 1})
	}
	resp, err := c.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("cannot create topics %v: %w", topics, err)
	}
	for t, err := range resp.Errors {
		if err != nil {
			return fmt.Errorf("cannot create topic %s: %w", t, err)
		}
	}
	return nil
}
