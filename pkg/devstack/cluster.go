package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/kafkadefault"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

// ClusterStackConfig is the scaled-out shape on one machine: what
// make run-cluster starts and what the scale-out tests break.
type ClusterStackConfig struct {
	// Dir holds LOCK, stack.env and the destination key, as the
	// single-machine stack's does, and every server's data under
	// Dir/cluster/: make run-cluster uses run/, so that the tools run
	// from the checkout find it as they find make run's.
	Dir    string
	BinDir string

	KafkaBrokers int // real Apache Kafka brokers: 3
	Partitions   int
	Topic        string

	Shards, Replicas int    // of the ClickHouse cluster: 2 × 2
	ClusterName      string // "pixel"

	Collectors int    // behind the balancer: 2
	Consumers  int    // in one consumer group: 2
	PixelAddr  string // the balancer in front of the collectors
	// ConsoleAddr is the web console's address (empty: no console);
	// its admin address is a free port.
	ConsoleAddr string

	Registry      string // the collectors' -registry
	AfterMigrate  func(ctx context.Context, c *ClusterStack) error
	CollectorArgs []string
	ConsumerArgs  []string
	ConsoleArgs   []string
	Out           io.Writer // the pipeline's processes' logs
	// ServersOut takes the Kafka brokers', ZooKeeper's and ClickHouse's
	// own output, which is long and mostly Java's; nil: Out.
	ServersOut io.Writer
}

// DefaultClusterStackConfig is what make run-cluster starts.
func DefaultClusterStackConfig() ClusterStackConfig {
	return ClusterStackConfig{
		Dir:          rundir.Default,
		KafkaBrokers: 3,
		Partitions:   8,
		Topic:        kafkadefault.Topic,
		Shards:       2,
		Replicas:     2,
		ClusterName:  "pixel",
		Collectors:   2,
		Consumers:    2,
		PixelAddr:    "127.0.0.1:8080",
		ConsoleAddr:  "127.0.0.1:8088",
		Registry:     "clickhouse",
		Out:          os.Stderr,
	}
}

// ClusterStack is the running scaled-out pipeline. Each collector, consumer
// and the console is a Stack of its own that uses the shared Kafka and
// ClickHouse clusters, so that it starts and stops its one process the way
// the single-machine stack does.
type ClusterStack struct {
	Cfg        ClusterStackConfig
	Kafka      *Kafka
	ClickHouse *ClickHouseCluster
	Balancer   *Balancer
	Collectors []*Stack // Collectors[i].Collector is the process
	Consumers  []*Stack // Consumers[i].Consumer is the process
	Console    *Stack   // nil without a console

	lock *rundir.Lock
}

// Brokers is the Kafka bootstrap list.
func (c *ClusterStack) Brokers() string { return c.Kafka.Bootstrap() }

// ClickHouseAddrs are every ClickHouse node's native address, comma-separated,
// shard-major: the list the tools take (clickhouse-go tries them in turn).
func (c *ClusterStack) ClickHouseAddrs() string { return strings.Join(c.ClickHouse.Addrs(), ",") }

// PixelURL is the balancer's URL: where hits go.
func (c *ClusterStack) PixelURL() string { return "http://" + c.Balancer.Addr }

// Addrs are the KEY=value lines of Dir/stack.env while the stack runs.
func (c *ClusterStack) Addrs() []string {
	addrs := []string{
		"CLICKHOUSE_ADDR=" + c.ClickHouseAddrs(),
		"PIXELCTL_CLUSTER=" + c.ClickHouse.Name(), // pixelctl migrate applies ON CLUSTER
		"KAFKA_BROKERS=" + c.Brokers(),
		"KAFKA_TOPIC=" + c.Cfg.Topic,
		"COLLECTOR_ADDR=" + c.Balancer.Addr,
		destination.KeyFileEnv + "=" + c.destinationKeyFile(),
	}
	if c.Console != nil {
		addrs = append(addrs, "CONSOLE_ADDR="+c.Console.Cfg.ConsoleAddr)
	}
	return addrs
}

func (c *ClusterStack) destinationKeyFile() string {
	abs, err := filepath.Abs(c.Cfg.Dir)
	if err != nil {
		abs = c.Cfg.Dir
	}
	return filepath.Join(abs, "destination.key")
}

// Start brings the cluster up: ZooKeeper and the ClickHouse nodes, the Kafka
// brokers, the migrations ON CLUSTER, the consumers, the collectors behind
// the balancer, the console. On error it stops what it started.
func (c *ClusterStack) Start(ctx context.Context) (err error) {
	l, err := rundir.Acquire(c.Cfg.Dir)
	if err != nil {
		return err
	}
	c.lock = l
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	if _, err := destination.LoadOrCreateKey(c.destinationKeyFile()); err != nil {
		return err
	}
	// The two clusters start side by side: both spend their time in a JVM
	// or a server warming up, not in this process.
	chDone := make(chan error, 1)
	go func() {
		ch, err := StartClickHouseCluster(ctx, ClickHouseClusterConfig{
			Dir: filepath.Join(c.Cfg.Dir, "cluster", "clickhouse"), Shards: c.Cfg.Shards, Replicas: c.Cfg.Replicas,
			Name: c.Cfg.ClusterName, Out: c.serversOut(),
		})
		c.ClickHouse = ch
		chDone <- err
	}()
	k, kerr := StartKafka(ctx, KafkaConfig{
		Dir: filepath.Join(c.Cfg.Dir, "cluster", "kafka"), Brokers: c.Cfg.KafkaBrokers, Partitions: c.Cfg.Partitions,
		Topics: topicsOf(c.Cfg.Topic), Out: c.serversOut(),
	})
	c.Kafka = k
	if err := errors.Join(kerr, <-chDone); err != nil {
		return err
	}
	c.Balancer = NewBalancer(c.Cfg.PixelAddr)
	if err := c.Balancer.Start(); err != nil {
		return err
	}
	if err := l.WriteEnv(c.Addrs()); err != nil {
		return err
	}
	if err := c.Migrate(ctx); err != nil {
		return err
	}
	if c.Cfg.AfterMigrate != nil {
		if err := c.Cfg.AfterMigrate(ctx, c); err != nil {
			return err
		}
	}
	for range c.Cfg.Consumers {
		if _, err := c.AddConsumer(ctx); err != nil {
			return err
		}
	}
	for range c.Cfg.Collectors {
		if _, err := c.AddCollector(ctx); err != nil {
			return err
		}
	}
	if c.Cfg.ConsoleAddr == "" {
		return nil
	}
	s, err := c.member("console", 0)
	if err != nil {
		return err
	}
	s.Cfg.ConsoleAddr = c.Cfg.ConsoleAddr
	s.Cfg.ConsoleArgs = c.Cfg.ConsoleArgs
	if err := s.StartConsole(ctx); err != nil {
		return err
	}
	c.Console = s
	return l.WriteEnv(c.Addrs())
}

func (c *ClusterStack) serversOut() io.Writer {
	if c.Cfg.ServersOut != nil {
		return c.Cfg.ServersOut
	}
	return c.Cfg.Out
}

// Migrate runs `pixelctl migrate -cluster NAME` against the nodes.
func (c *ClusterStack) Migrate(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Cfg.BinDir, "pixelctl"), "migrate", "-wait", "60s", "-cluster", c.ClickHouse.Name())
	cmd.Env = append(os.Environ(), "CLICKHOUSE_ADDR="+c.ClickHouseAddrs())
	cmd.Stdout, cmd.Stderr = c.Cfg.Out, c.Cfg.Out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pixelctl migrate -cluster %s: %w", c.ClickHouse.Name(), err)
	}
	return nil
}

// member returns the stack of one process: its own directory (spool) and
// admin address, the shared clusters, and ClickHouse's nodes starting at a
// different one for each, so that the processes spread over the nodes and
// each goes on to the next when its node is down.
func (c *ClusterStack) member(kind string, i int) (*Stack, error) {
	cfg := DefaultStackConfig()
	cfg.Dir = filepath.Join(c.Cfg.Dir, "cluster", kind+"-"+strconv.Itoa(i+1))
	if kind == "console" {
		// It reads the destination key where the whole stack keeps it.
		cfg.Dir = c.Cfg.Dir
	}
	cfg.BinDir = c.Cfg.BinDir
	cfg.Out = c.Cfg.Out
	cfg.Topic = c.Cfg.Topic
	cfg.Registry = c.Cfg.Registry
	cfg.KafkaBrokers = c.Brokers()
	nodes := c.ClickHouse.Addrs()
	k := i % len(nodes)
	cfg.ClickHouseAddr = strings.Join(append(append([]string{}, nodes[k:]...), nodes[:k]...), ",")
	ports := make([]string, 3)
	for j := range ports {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[j] = "127.0.0.1:" + strconv.Itoa(p)
	}
	cfg.CollectorAddr, cfg.CollectorAdminAddr, cfg.ConsumerAdminAddr = ports[0], ports[1], ports[2]
	cfg.ConsoleAddr, cfg.ConsoleAdminAddr, cfg.ForwarderAdminAddr = "", ports[1], ""
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	return &Stack{Cfg: cfg}, nil
}

// AddConsumer starts one more consumer in the group and returns its stack.
func (c *ClusterStack) AddConsumer(ctx context.Context) (*Stack, error) {
	s, err := c.member("consumer", len(c.Consumers))
	if err != nil {
		return nil, err
	}
	s.Cfg.ConsumerArgs = c.Cfg.ConsumerArgs
	if err := s.StartConsumer(ctx); err != nil {
		return nil, err
	}
	c.Consumers = append(c.Consumers, s)
	return s, nil
}

// AddCollector starts one more collector and puts it behind the balancer.
func (c *ClusterStack) AddCollector(ctx context.Context) (*Stack, error) {
	s, err := c.member("collector", len(c.Collectors))
	if err != nil {
		return nil, err
	}
	s.Cfg.CollectorArgs = c.Cfg.CollectorArgs
	if err := s.StartCollector(ctx); err != nil {
		return nil, err
	}
	c.Collectors = append(c.Collectors, s)
	c.Balancer.Add(s.Cfg.CollectorAddr, s.Cfg.CollectorAdminAddr)
	return s, nil
}

// Stop stops everything in reverse order, each gracefully: the console, the
// collectors (flushing to Kafka), the consumers (inserting and committing),
// the balancer, the brokers, the ClickHouse nodes and ZooKeeper.
func (c *ClusterStack) Stop() error {
	var errs []error
	if c.lock != nil {
		errs = append(errs, c.lock.RemoveEnv())
	}
	stopAll := func(stacks []*Stack) {
		for _, s := range stacks {
			errs = append(errs, s.stop())
		}
	}
	if c.Console != nil {
		stopAll([]*Stack{c.Console})
	}
	stopAll(c.Collectors)
	stopAll(c.Consumers)
	if c.Balancer != nil {
		errs = append(errs, c.Balancer.Close())
	}
	if c.Kafka != nil {
		errs = append(errs, c.Kafka.Close())
	}
	if c.ClickHouse != nil {
		errs = append(errs, c.ClickHouse.Close())
	}
	if c.lock != nil {
		errs = append(errs, c.lock.Release())
		c.lock = nil
	}
	return errors.Join(errs...)
}
