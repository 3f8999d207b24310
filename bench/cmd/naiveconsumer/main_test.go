package main

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/bench/eventgen"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

// TestLoadsEveryEvent: the naive consumer stores every produced event with
// its fields, in batches of -batch-rows and a last one after -batch-age,
// and commits every offset.
func TestLoadsEveryEvent(t *testing.T) {
	const n, topic, group = 1234, "naive.events", "naive-test"
	broker := devstacktest.Broker(t, 4, topic)
	addr := broker.ListenAddrs()[0]
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	corpus, err := eventgen.Generate(eventgen.Config{N: n, Seed: 7, EventIDPrefix: "naive-"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := devstacktest.Context(t)
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: corpus.Key(i), Value: corpus.Value(i)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(rctx, config{brokers: []string{addr}, topic: topic, group: group, chAddr: o.Addr, database: o.Database,
			user: "default", batchRows: 500, batchAge: 200 * time.Millisecond})
	}()
	devstacktest.WaitFor(t, "every event in ClickHouse", time.Minute, func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("the consumer stopped: %v", err)
		default:
		}
		got := devstacktest.QueryUint64(t, conn, "SELECT count() FROM events")
		return got == n, "rows: " + strconv.FormatUint(got, 10)
	})
	client := &kafka.Client{Addr: kafka.TCP(addr)}
	devstacktest.WaitFor(t, "every offset committed", 30*time.Second, func() (bool, string) {
		resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2, 3}}})
		if err != nil {
			return false, err.Error()
		}
		var sum int64
		for _, p := range resp.Topics[topic] {
			sum += max(p.CommittedOffset, 0)
		}
		return sum == n, "committed: " + strconv.FormatInt(sum, 10)
	})
	stop()
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v", err)
	}

	// One event, column by column, against our decoder's reading of it.
	var want event.Event
	if err := event.Parse(corpus.Value(42), &want); err != nil {
		t.Fatal(err)
	}
	var got struct {
		pixel, visitor, session, name, url, ref, cur, order, ip, ua, props string
		ts, received                                                       time.Time
		value                                                              float64
		ids                                                                []string
	}
	if err := conn.QueryRow(ctx, "SELECT pixel_id, visitor_id, session_id, event, ts, received_at, url, referrer, value, currency, order_id, content_ids, ip, user_agent, props FROM events WHERE event_id = ?", string(want.EventID)).
		Scan(&got.pixel, &got.visitor, &got.session, &got.name, &got.ts, &got.received, &got.url, &got.ref, &got.value, &got.cur, &got.order, &got.ids, &got.ip, &got.ua, &got.props); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, id := range want.ContentIDs {
		ids = append(ids, string(id))
	}
	if got.pixel != string(want.PixelID) || got.visitor != string(want.VisitorID) || got.session != string(want.SessionID) ||
		got.name != string(want.Name) || got.ts.Unix() != want.TS || got.received.Unix() != want.ReceivedAt || got.url != string(want.URL) ||
		got.ref != string(want.Referrer) || got.value != want.Value || got.cur != string(want.Currency) || got.order != string(want.OrderID) ||
		!slices.Equal(got.ids, ids) || got.ip != string(want.IP) || got.ua != string(want.UserAgent) || got.props != string(want.Props) {
		t.Errorf("stored row %+v\nfor event %s", got, corpus.Value(42))
	}
}
