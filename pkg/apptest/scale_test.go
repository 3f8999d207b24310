package apptest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

// The scale-out suite (make test-scale, which make test runs after the
// others): the shape make run-cluster starts — three Apache Kafka brokers
// (replication 3, min.insync.replicas 2, acks=all), ClickHouse 2 shards × 2
// replicas with ZooKeeper, two collectors behind a load balancer, two
// consumers in one group — under steady load, one fault at a time. Each
// fault ends like the single-machine fault tests: every hit answered 200 is
// in the cluster once through the shipped de-duplicating view, nothing that
// was not answered is there, and a line of figures with how long the
// pipeline took to catch up.

const scaleRate = 200 // hits per second through the balancer

func TestScaleOut(t *testing.T) {
	c := startClusterStack(t)
	conn := clusterConn(t, c)

	t.Run("Kafka partition leader killed", func(t *testing.T) {
		wait := clusterLoad(t, c, 21, 20*time.Second)
		time.Sleep(3 * time.Second)
		ctx := stepContext(t)
		leader, err := c.Kafka.Leader(ctx, c.Cfg.Topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		acked := collectorsAcked(c)
		killed := time.Now()
		c.Kafka.Kill(leader)
		// The other two elect new leaders and take acks=all writes (2
		// in sync of 3): the collectors' acknowledgements go on.
		resumed := caughtUp(t, "acknowledgements after the kill", killed, func() bool { return collectorsAcked(c) > acked+2*scaleRate })
		time.Sleep(5 * time.Second)
		back := time.Now()
		if err := c.Kafka.Restart(ctx, leader); err != nil {
			t.Fatalf("restart broker %d: %v", leader, err)
		}
		took := caughtUp(t, "the pipeline caught up", back, func() bool { return pipelineCaughtUp(t, c) })
		res := wait()
		reportLine(t, fmt.Sprintf("broker %d, leader of partition 0, SIGKILLed, started again after 5 s: writes went on with 2 of 3 in sync (2 s of traffic acknowledged within %s of the kill), caught up %s after the restart began; %s",
			leader+1, resumed, took, checkCluster(t, c, conn, res)))
	})

	t.Run("two of three brokers stopped 30s", func(t *testing.T) {
		// With replication 3 and min.insync.replicas 2 one broker down
		// still takes acks=all writes: two down is when they fail and the
		// collectors spool.
		wait := clusterLoad(t, c, 22, 36*time.Second)
		time.Sleep(3 * time.Second)
		stopped := time.Now()
		for _, i := range []int{1, 2} {
			if err := c.Kafka.Stop(i, 30*time.Second); err != nil {
				t.Fatalf("stop broker %d: %v", i, err)
			}
		}
		for _, s := range c.Collectors {
			waitMetric(t, "http://"+s.Cfg.CollectorAdminAddr+"/metrics", "pixel_spool_records", positive, 30*time.Second)
		}
		time.Sleep(time.Until(stopped.Add(30 * time.Second)))
		back := time.Now()
		ctx := stepContext(t)
		for _, i := range []int{1, 2} {
			if err := c.Kafka.Restart(ctx, i); err != nil {
				t.Fatalf("restart broker %d: %v", i, err)
			}
		}
		took := caughtUp(t, "the collectors' spools replayed and the pipeline caught up", back, func() bool { return pipelineCaughtUp(t, c) })
		res := wait()
		reportLine(t, fmt.Sprintf("brokers 2 and 3 stopped 30 s (1 in sync < min.insync.replicas 2; both collectors spooled): caught up %s after the restart began; %s", took, checkCluster(t, c, conn, res)))
	})

	t.Run("consumer added, then one SIGKILLed", func(t *testing.T) {
		wait := clusterLoad(t, c, 23, 22*time.Second)
		time.Sleep(3 * time.Second)
		ctx := stepContext(t)
		_, before, err := partitionOffsets(c)
		if err != nil {
			t.Fatal(err)
		}
		added := time.Now()
		if _, err := c.AddConsumer(ctx); err != nil {
			t.Fatalf("add a consumer: %v", err)
		}
		joined := caughtUp(t, "the group rebalanced onto three consumers", added, func() bool {
			return committedPast(c, before) && pipelineCaughtUp(t, c)
		})
		// Killed with a batch in hand: its partitions go to the others
		// once the group's session (10 s) times out, from the last commit.
		waitMetric(t, "http://"+c.Consumers[0].Cfg.ConsumerAdminAddr+"/metrics", "pixel_consumer_batch_pending", positive, 20*time.Second)
		_, before, err = partitionOffsets(c)
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		c.Consumers[0].Consumer.Kill()
		c.Consumers = c.Consumers[1:]
		took := caughtUp(t, "the other consumers took its partitions", killed, func() bool {
			return committedPast(c, before) && pipelineCaughtUp(t, c)
		})
		res := wait()
		reportLine(t, fmt.Sprintf("a third consumer joined (every partition committed again %s after it started), then the first was SIGKILLed mid-batch: every partition committed again and caught up %s after the kill; %s", joined, took, checkCluster(t, c, conn, res)))
	})

	t.Run("ClickHouse replica down 30s", func(t *testing.T) {
		wait := clusterLoad(t, c, 24, 36*time.Second)
		time.Sleep(3 * time.Second)
		// The node the first consumer inserts through: it goes on to the
		// next, and the shard's other replica takes the shard's rows.
		node := c.ClickHouse.Node(0, 0)
		if err := node.Stop(30 * time.Second); err != nil {
			t.Fatalf("stop replica: %v", err)
		}
		stopped := time.Now()
		inserted := consumersInserted(c)
		caughtUp(t, "inserts going on without the replica", stopped, func() bool { return consumersInserted(c) > inserted+5*scaleRate })
		time.Sleep(time.Until(stopped.Add(30 * time.Second)))
		back := time.Now()
		if err := node.Start(stepContext(t)); err != nil {
			t.Fatalf("restart replica: %v", err)
		}
		took := caughtUp(t, "the replica caught up with its shard", back, func() bool { return replicaCaughtUp(node) && pipelineCaughtUp(t, c) })
		res := wait()
		reportLine(t, fmt.Sprintf("shard 1's first replica stopped 30 s, inserts going on through the others: it caught up %s after its restart began; %s", took, checkCluster(t, c, conn, res)))
	})

	t.Run("ClickHouse shard down 15s", func(t *testing.T) {
		wait := clusterLoad(t, c, 25, 24*time.Second)
		time.Sleep(3 * time.Second)
		nodes := []*devstack.ClickHouse{c.ClickHouse.Node(1, 0), c.ClickHouse.Node(1, 1)}
		for _, n := range nodes {
			if err := n.Stop(30 * time.Second); err != nil {
				t.Fatalf("stop shard 2: %v", err)
			}
		}
		stopped := time.Now()
		for _, s := range c.Consumers {
			waitMetric(t, "http://"+s.Cfg.ConsumerAdminAddr+"/metrics", "pixel_consumer_insert_errors_total", positive, 20*time.Second)
		}
		// Every batch holds rows of both shards: from the first failed
		// insert on, nothing is committed until the shard is back.
		committed := groupCommitted(t, c)
		time.Sleep(time.Until(stopped.Add(15 * time.Second)))
		if now := groupCommitted(t, c); now != committed {
			t.Fatalf("the group committed %d offsets while a shard was down", now-committed)
		}
		back := time.Now()
		for _, n := range nodes {
			if err := n.Start(stepContext(t)); err != nil {
				t.Fatalf("restart shard 2: %v", err)
			}
		}
		took := caughtUp(t, "the consumers' held batches inserted", back, func() bool { return pipelineCaughtUp(t, c) })
		res := wait()
		reportLine(t, fmt.Sprintf("shard 2 (both replicas) stopped 15 s: the consumers held their batches and committed nothing; caught up %s after the restart began; %s", took, checkCluster(t, c, conn, res)))
	})

	t.Run("one collector of two SIGTERMed behind the balancer", func(t *testing.T) {
		wait := clusterLoad(t, c, 26, 12*time.Second)
		time.Sleep(3 * time.Second)
		s := c.Collectors[1]
		start := time.Now()
		if err := s.Collector.Stop(30 * time.Second); err != nil {
			t.Fatalf("the collector did not stop cleanly on SIGTERM: %v", err)
		}
		stopped := time.Since(start)
		time.Sleep(2 * time.Second)
		if err := s.StartCollector(stepContext(t)); err != nil {
			t.Fatalf("restart collector: %v", err)
		}
		res := wait()
		f := checkClusterFigures(t, c, conn, res)
		if f.distinct != f.answered {
			t.Fatalf("%d event ids stored for %d hits answered 200", f.distinct, f.answered)
		}
		reportLine(t, fmt.Sprintf("collector 2 SIGTERMed (unready, 1 s drain, stopped in %s), started again 2 s later; %s", stopped.Round(100*time.Millisecond), f))
	})
}

// startClusterStack starts the scaled-out stack on free ports for a test.
func startClusterStack(t *testing.T) *devstack.ClusterStack {
	t.Helper()
	cfg := devstack.DefaultClusterStackConfig()
	cfg.Dir = t.TempDir()
	cfg.BinDir = binDir
	cfg.PixelAddr = "127.0.0.1:0"
	cfg.ConsoleAddr = ""
	cfg.Registry = "off"
	cfg.Partitions = 6
	// A drain delay longer than the balancer's check: a stopping
	// collector is taken out before it closes its listener.
	cfg.CollectorArgs = []string{"-log-level", "warn", "-drain-delay", "1s"}
	cfg.ConsumerArgs = []string{"-log-level", "warn", "-batch-age", "200ms"}
	log, err := os.Create(filepath.Join(cfg.Dir, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	cfg.Out = log
	c := &devstack.ClusterStack{Cfg: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the cluster stack: %v", err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(cfg.Dir, "stack.log"))
			t.Logf("stack log:\n%s", tail(b, 12000))
		}
	})
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start the cluster stack: %v", err)
	}
	t.Logf("cluster stack up in %s: Kafka %s, ClickHouse %s", time.Since(start).Round(100*time.Millisecond), c.Brokers(), c.ClickHouseAddrs())
	return c
}

// clusterConn opens a connection to every ClickHouse node: queries go to
// the first that answers.
func clusterConn(t *testing.T, c *devstack.ClusterStack) chstore.Conn {
	t.Helper()
	o := chstore.DefaultOptions()
	o.Addr = c.ClickHouse.Addrs()
	conn, err := chstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// stepContext bounds one step of a scenario: a restart, a lookup.
func stepContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// clusterLoad runs the load generator against the balancer for d.
func clusterLoad(t *testing.T, c *devstack.ClusterStack, seed uint64, d time.Duration) func() *loadgen.Result {
	t.Helper()
	return loadTarget(context.Background(), t, c.PixelURL(), scaleRate, seed, d)
}

// checkCluster is checkClusterFigures as its report line.
func checkCluster(t *testing.T, c *devstack.ClusterStack, conn chstore.Conn, res ...*loadgen.Result) string {
	t.Helper()
	return checkClusterFigures(t, c, conn, res...).String()
}

// checkClusterFigures is checkExactlyOnce on the cluster: settled means
// every collector's spool empty and every consumer idle.
func checkClusterFigures(t *testing.T, c *devstack.ClusterStack, conn chstore.Conn, res ...*loadgen.Result) figures {
	t.Helper()
	return checkDelivered(t, func() {
		devstackWait(t, "the cluster settled", time.Minute, func() bool { return collectorsCaughtUp(c) && consumersIdle(c) })
	}, conn, res...)
}

func collectorAdmins(c *devstack.ClusterStack) []string {
	var a []string
	for _, s := range c.Collectors {
		a = append(a, s.Cfg.CollectorAdminAddr)
	}
	return a
}

func consumerAdmins(c *devstack.ClusterStack) []string {
	var a []string
	for _, s := range c.Consumers {
		a = append(a, s.Cfg.ConsumerAdminAddr)
	}
	return a
}

// collectorsCaughtUp: no collector spools or holds spooled records.
func collectorsCaughtUp(c *devstack.ClusterStack) bool {
	for _, a := range collectorAdmins(c) {
		url := "http://" + a + "/metrics"
		if metricValue(url, "pixel_publish_spooling") != "0" || metricValue(url, "pixel_spool_records") != "0" {
			return false
		}
	}
	return true
}

// pipelineCaughtUp: no collector spools, and the consumer group's
// committed offsets are less than a second of traffic behind the topic's
// end (Kafka's own view, which a dead member cannot misreport).
func pipelineCaughtUp(t *testing.T, c *devstack.ClusterStack) bool {
	if !collectorsCaughtUp(c) {
		return false
	}
	end, committed, err := groupOffsets(c)
	return err == nil && end-committed <= scaleRate
}

// groupCommitted is the sum of the consumer group's committed offsets.
func groupCommitted(t *testing.T, c *devstack.ClusterStack) int64 {
	t.Helper()
	_, committed, err := groupOffsets(c)
	if err != nil {
		t.Fatal(err)
	}
	return committed
}

// groupOffsets adds up the topic's end offsets and the consumer group's
// committed offsets (a partition without a commit counts 0).
func groupOffsets(c *devstack.ClusterStack) (end, committed int64, err error) {
	ends, commits, err := partitionOffsets(c)
	for p := range ends {
		end += ends[p]
		committed += commits[p]
	}
	return end, committed, err
}

// partitionOffsets are each partition's end offset and the consumer
// group's committed offset (0 without a commit).
func partitionOffsets(c *devstack.ClusterStack) (ends, commits []int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(strings.Split(c.Brokers(), ",")...), Timeout: 5 * time.Second}
	n := c.Cfg.Partitions
	ps := make([]int, n)
	reqs := make([]kafka.OffsetRequest, n)
	for i := range ps {
		ps[i], reqs[i] = i, kafka.LastOffsetOf(i)
	}
	ends, commits = make([]int64, n), make([]int64, n)
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.Cfg.Topic: reqs}})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range offs.Topics[c.Cfg.Topic] {
		if p.Error != nil {
			return nil, nil, p.Error
		}
		ends[p.Partition] = p.LastOffset
	}
	fetch, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: consumerGroup, Topics: map[string][]int{c.Cfg.Topic: ps}})
	if err != nil {
		return nil, nil, err
	}
	if fetch.Error != nil {
		return nil, nil, fetch.Error
	}
	for _, p := range fetch.Topics[c.Cfg.Topic] {
		if p.Error != nil {
			return nil, nil, p.Error
		}
		commits[p.Partition] = max(p.CommittedOffset, 0)
	}
	return ends, commits, nil
}

// committedPast: every partition's committed offset has moved past what it
// was in before (or reached the partition's end): after a rebalance, some
// member consumes and commits each partition again.
func committedPast(c *devstack.ClusterStack, before []int64) bool {
	ends, commits, err := partitionOffsets(c)
	if err != nil {
		return false
	}
	for p := range commits {
		if commits[p] <= before[p] && commits[p] < ends[p] {
			return false
		}
	}
	return true
}

// consumerGroup is the consumers' default group (-kafka-group).
const consumerGroup = "pixel-consumer"

// collectorsAcked is how many events Kafka acknowledged to the collectors.
func collectorsAcked(c *devstack.ClusterStack) float64 {
	n, _ := clusterMetricSum(c, collectorAdmins, "pixel_publish_acked_total")
	return n
}

// consumersInserted is how many rows the consumers inserted.
func consumersInserted(c *devstack.ClusterStack) float64 {
	n, _ := clusterMetricSum(c, consumerAdmins, "pixel_consumer_rows_inserted_total")
	return n
}

// consumersIdle: no consumer has a batch pending or any lag.
func consumersIdle(c *devstack.ClusterStack) bool {
	pending, ok1 := clusterMetricSum(c, consumerAdmins, "pixel_consumer_batch_pending")
	lag, ok2 := clusterMetricSum(c, consumerAdmins, "pixel_consumer_lag")
	return ok1 && ok2 && pending == 0 && lag == 0
}

// clusterMetricSum adds series over the processes whose admin addresses admins
// gives; ok is false when one of them does not answer.
func clusterMetricSum(c *devstack.ClusterStack, admins func(*devstack.ClusterStack) []string, series string) (float64, bool) {
	var sum float64
	for _, a := range admins(c) {
		v, err := strconv.ParseFloat(metricValue("http://"+a+"/metrics", series), 64)
		if err != nil {
			return 0, false
		}
		sum += v
	}
	return sum, true
}

// replicaCaughtUp: the node answers and has no replication queue left.
func replicaCaughtUp(node *devstack.ClickHouse) bool {
	o := chstore.DefaultOptions()
	o.Addr = []string{node.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := chstore.Open(ctx, o)
	if err != nil {
		return false
	}
	defer conn.Close()
	var queue, delay uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.replication_queue").Scan(&queue); err != nil {
		return false
	}
	if err := conn.QueryRow(ctx, "SELECT toUInt64(max(absolute_delay)) FROM system.replicas").Scan(&delay); err != nil {
		return false
	}
	return queue == 0 && delay == 0
}

// caughtUp polls cond until it holds (at most three minutes) and returns
// how long after since it did.
func caughtUp(t *testing.T, what string, since time.Time, cond func() bool) time.Duration {
	t.Helper()
	devstackWait(t, what, 3*time.Minute, cond)
	return time.Since(since).Round(100 * time.Millisecond)
}

// devstackWait polls cond every 200 ms until it holds or within passed.
func devstackWait(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
