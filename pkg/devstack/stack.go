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
	"time"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/kafkadefault"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

// StackConfig describes the whole pipeline on one machine. `make run` uses the
// defaults; tests move every address to a free port and Dir to a temp dir.
type StackConfig struct {
	Dir    string // ClickHouse and broker data, logs, LOCK and stack.env: "run" under the repo for make run
	BinDir string // where collector, consumer, console, devbroker and pixelctl are

	CollectorAddr      string // public pixel listener
	CollectorAdminAddr string
	ConsumerAdminAddr  string
	// ConsoleAddr is the web console's address; empty starts no console
	// (the pipeline's own tests, which need no pages).
	ConsoleAddr      string
	ConsoleAdminAddr string
	// ForwarderAdminAddr is the forwarder's admin address (metrics);
	// empty starts no forwarder (the tests that forward nothing).
	ForwarderAdminAddr string

	ClickHouseAddr     string // an existing server; empty starts a private one
	ClickHouseTCPPort  int    // private server's native port
	ClickHouseHTTPPort int

	KafkaBrokers string // an existing Kafka; empty starts devbroker at BrokerAddr
	BrokerAddr   string
	Topic        string
	Partitions   int
	// ApacheKafka, when positive, starts that many real Apache Kafka
	// brokers (StartKafka, under Dir/kafka, on free ports, with the topics
	// created) instead of devbroker; KafkaBrokers must then be empty.
	// make run keeps devbroker, which starts in milliseconds.
	ApacheKafka int

	// Registry is the collector's -registry: "clickhouse" (make run) or
	// "off" (every pixel id records: the pipeline's own tests).
	Registry string

	// AfterMigrate, when set, runs once the migrations are applied and
	// before the consumer and the collector start: make run registers its
	// demo pixel there, so that the collector's first registry load has it.
	AfterMigrate func(ctx context.Context, s *Stack) error

	CollectorArgs []string // extra flags, e.g. for tests
	ConsumerArgs  []string
	ConsoleArgs   []string
	ForwarderArgs []string
	Out           io.Writer // children's logs
}

// DefaultStackConfig is what `make run` starts.
func DefaultStackConfig() StackConfig {
	return StackConfig{
		Dir:                rundir.Default,
		CollectorAddr:      "127.0.0.1:8080",
		CollectorAdminAddr: "127.0.0.1:8081",
		ConsumerAdminAddr:  "127.0.0.1:8082",
		ConsoleAddr:        "127.0.0.1:8088",
		ConsoleAdminAddr:   "127.0.0.1:8089",
		ForwarderAdminAddr: "127.0.0.1:8091",
		ClickHouseTCPPort:  19000,
		ClickHouseHTTPPort: 18123,
		BrokerAddr:         "127.0.0.1:19092",
		Topic:              kafkadefault.Topic,
		Partitions:         4,
		Registry:           "clickhouse",
		Out:                os.Stderr,
	}
}

// Stack is the running pipeline. Start starts it for tests that break its
// parts on purpose and start them again themselves; StartSupervised starts
// it for `make run`, under a Supervisor that restarts what exits.
type Stack struct {
	Cfg StackConfig
	// Set by Start; nil when an existing server is used, and under a
	// supervisor, which owns the processes.
	ClickHouse *ClickHouse
	Broker     *Process // devbroker
	Kafka      *Kafka   // Apache Kafka, with StackConfig.ApacheKafka
	Consumer   *Process
	Collector  *Process
	Console    *Process
	Forwarder  *Process

	sup  *Supervisor
	lock *rundir.Lock // Dir, held from the start until Stop
}

// Brokers is the Kafka bootstrap list the stack's processes use.
func (s *Stack) Brokers() string {
	if s.Kafka != nil {
		return s.Kafka.Bootstrap()
	}
	if s.Cfg.KafkaBrokers != "" {
		return s.Cfg.KafkaBrokers
	}
	return s.Cfg.BrokerAddr
}

// ClickHouseAddr is the native address of the ClickHouse in use.
func (s *Stack) ClickHouseAddr() string {
	if s.Cfg.ClickHouseAddr != "" {
		return s.Cfg.ClickHouseAddr
	}
	return "127.0.0.1:" + strconv.Itoa(s.Cfg.ClickHouseTCPPort)
}

func (s *Stack) bin(name string) string { return filepath.Join(s.Cfg.BinDir, name) }

// Addrs are the addresses of the running stack as KEY=value lines of the
// variables the tools read: what Dir/stack.env holds while the stack runs.
func (s *Stack) Addrs() []string {
	addrs := []string{
		"CLICKHOUSE_ADDR=" + s.ClickHouseAddr(),
		"KAFKA_BROKERS=" + s.Brokers(),
		"KAFKA_TOPIC=" + s.Cfg.Topic,
		"COLLECTOR_ADDR=" + s.Cfg.CollectorAddr,
		"COLLECTOR_ADMIN_ADDR=" + s.Cfg.CollectorAdminAddr,
		"CONSUMER_ADMIN_ADDR=" + s.Cfg.ConsumerAdminAddr,
		// The key that seals the destinations' credentials: the console,
		// the forwarder and pixelctl run from the checkout share it.
		destination.KeyFileEnv + "=" + s.DestinationKeyFile(),
	}
	if s.Cfg.ConsoleAddr != "" {
		addrs = append(addrs, "CONSOLE_ADDR="+s.Cfg.ConsoleAddr)
	}
	if s.Cfg.ForwarderAdminAddr != "" {
		addrs = append(addrs, "FORWARDER_ADMIN_ADDR="+s.Cfg.ForwarderAdminAddr)
	}
	return addrs
}

// DestinationKeyFile is the stack's destination key file, in Dir (made by
// start when missing, so that it survives restarts with the data).
func (s *Stack) DestinationKeyFile() string {
	if abs, err := filepath.Abs(s.Cfg.Dir); err == nil {
		return filepath.Join(abs, "destination.key")
	}
	return filepath.Join(s.Cfg.Dir, "destination.key")
}

// ConsoleURL is the web console's address as a URL ("" without a console).
func (s *Stack) ConsoleURL() string {
	if s.Cfg.ConsoleAddr == "" {
		return ""
	}
	return "http://" + s.Cfg.ConsoleAddr
}

// env is the environment every child gets: one source of truth for addresses.
func (s *Stack) env() []string {
	return append(s.Addrs(),
		"COLLECTOR_SPOOL_DIR="+filepath.Join(s.Cfg.Dir, "spool"),
		"COLLECTOR_DRAIN_DELAY=0", // no load balancer in front of it
		"COLLECTOR_REGISTRY="+s.Cfg.Registry,
		// A pixel created in the console records within seconds, not
		// after the production default of 10 s.
		"COLLECTOR_REGISTRY_REFRESH=2s",
		"CONSOLE_ADMIN_ADDR="+s.Cfg.ConsoleAdminAddr,
		// The snippets the console shows point at this stack's collector.
		"CONSOLE_COLLECTOR_URL=http://"+s.Cfg.CollectorAddr,
	)
}

// lockDir takes Dir for this stack and writes the stack's addresses into
// Dir/stack.env at once: while the servers start, a tool that reads it tries
// them rather than some other server. When another devstack runs there it
// returns a *rundir.RunningError, and nothing is started or changed.
func (s *Stack) lockDir() error {
	l, err := rundir.Acquire(s.Cfg.Dir)
	if err != nil {
		return err
	}
	if err := l.WriteEnv(s.Addrs()); err != nil {
		return errors.Join(err, l.Release())
	}
	s.lock = l
	return nil
}

// Start brings everything up in order: ClickHouse, broker, migrations,
// consumer, forwarder (when ForwarderAdminAddr is set), collector, console
// (when ConsoleAddr is set). On error it stops what it started.
func (s *Stack) Start(ctx context.Context) error { return s.start(ctx, nil) }

// StartSupervised starts the stack in the order Start does, each server
// under sup: ClickHouse (when it is the private one), the broker (when it is
// the embedded one), the consumer, the forwarder (when ForwarderAdminAddr
// is set), the collector and the console (when ConsoleAddr is set); sup
// starts again any of them that exits, and Stop stops them through it. The first start of each
// must succeed; on error StartSupervised stops what it started.
//
// Start and StartSupervised first lock Dir (rundir) and write the stack's
// addresses to Dir/stack.env, which Stop removes: when another devstack runs
// there, they return a *rundir.RunningError having started and changed
// nothing.
func (s *Stack) StartSupervised(ctx context.Context, sup *Supervisor) error {
	return s.start(ctx, sup)
}

// start is Start without a supervisor, StartSupervised with one.
func (s *Stack) start(ctx context.Context, sup *Supervisor) (err error) {
	if err := s.lockDir(); err != nil {
		return err
	}
	s.sup = sup
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	if err := s.checkBinaries(); err != nil {
		return err
	}
	if _, err := destination.LoadOrCreateKey(s.DestinationKeyFile()); err != nil {
		return err
	}
	if s.Cfg.ClickHouseAddr == "" {
		ch, err := NewClickHouse(filepath.Join(s.Cfg.Dir, "clickhouse"), s.Cfg.ClickHouseTCPPort, s.Cfg.ClickHouseHTTPPort)
		if err != nil {
			return err
		}
		if sup == nil {
			s.ClickHouse = ch
			if err := ch.Start(ctx); err != nil {
				return err
			}
		} else if err := sup.Add(ctx, "clickhouse", func(ctx context.Context) (Running, error) { return ch, ch.Start(ctx) }); err != nil {
			// Its data stays in Dir: a server started again has every
			// table, and the consumer retries its batch until it answers.
			return err
		}
	}
	switch {
	case s.Cfg.ApacheKafka > 0:
		// Not supervised: a broker of a cluster that exits is a fault
		// the cluster's others (or the collector's spool) ride out.
		if err := s.startApacheKafka(ctx); err != nil {
			return err
		}
	case s.Cfg.KafkaBrokers == "":
		if err := s.serve(ctx, "devbroker", s.startBroker, &s.Broker); err != nil {
			return err
		}
	}
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	if s.Cfg.AfterMigrate != nil {
		if err := s.Cfg.AfterMigrate(ctx, s); err != nil {
			return err
		}
	}
	if err := s.serve(ctx, "consumer", s.startConsumer, &s.Consumer); err != nil {
		return err
	}
	if s.Cfg.ForwarderAdminAddr != "" {
		if err := s.serve(ctx, "forwarder", s.startForwarder, &s.Forwarder); err != nil {
			return err
		}
	}
	// Supervised, it waits for serving, not ready: a collector whose spool
	// is full is unready but answers every hit, and must not be taken for
	// one that failed to start.
	wait := "/readyz"
	if sup != nil {
		wait = "/healthz"
	}
	if err := s.serve(ctx, "collector", func(ctx context.Context) (*Process, error) { return s.startCollector(ctx, wait) }, &s.Collector); err != nil {
		return err
	}
	// Last: it serves people, not the pipeline, and stops first.
	if s.Cfg.ConsoleAddr == "" {
		return nil
	}
	return s.serve(ctx, "console", s.startConsole, &s.Console)
}

// serve starts a server: under the supervisor when there is one, otherwise
// once, keeping its process in slot.
func (s *Stack) serve(ctx context.Context, name string, start func(context.Context) (*Process, error), slot **Process) error {
	if s.sup != nil {
		return s.sup.Add(ctx, name, running(start))
	}
	return keep(slot)(start(ctx))
}

func running(start func(context.Context) (*Process, error)) StartFunc {
	return func(ctx context.Context) (Running, error) {
		p, err := start(ctx)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

func (s *Stack) checkBinaries() error {
	names := []string{"collector", "consumer", "pixelctl", "devbroker"}
	if s.Cfg.ConsoleAddr != "" {
		names = append(names, "console")
	}
	if s.Cfg.ForwarderAdminAddr != "" {
		names = append(names, "forwarder")
	}
	for _, name := range names {
		if _, err := os.Stat(s.bin(name)); err != nil {
			return fmt.Errorf("binary %s is missing: %w; build with `make build` (go build -o bin/ ./cmd/...)", s.bin(name), err)
		}
	}
	return nil
}

// keep returns a function that stores a started process in slot, unless
// starting it failed, and passes the error on.
func keep(slot **Process) func(*Process, error) error {
	return func(p *Process, err error) error {
		if err == nil {
			*slot = p
		}
		return err
	}
}

// stopStarted stops a child that did not become ready, and returns why it
// was not.
func stopStarted(p *Process, why error) error {
	if err := p.Stop(10 * time.Second); err != nil {
		return fmt.Errorf("%w (and stopping it: %v)", why, err)
	}
	return why
}

// StartBroker starts devbroker, keeping its data under Dir/kafka, or with
// ApacheKafka, every Apache Kafka broker that does not run (Kafka.Start).
func (s *Stack) StartBroker(ctx context.Context) error {
	if s.Kafka != nil {
		return s.Kafka.Start(ctx)
	}
	return keep(&s.Broker)(s.startBroker(ctx))
}

// StopBroker stops devbroker, or every Apache Kafka broker (Kafka.Close),
// gracefully within timeout each.
func (s *Stack) StopBroker(timeout time.Duration) error {
	if s.Kafka != nil {
		return s.Kafka.Close()
	}
	return s.Broker.Stop(timeout)
}

// Topics are the topics the stack's brokers hold: the events, their dead
// letters and the forwarder's dead letters.
func (s *Stack) Topics() []string { return topicsOf(s.Cfg.Topic) }

// topicsOf are the topics a pipeline whose events go to topic needs.
func topicsOf(topic string) []string {
	return []string{topic, kafkadefault.DeadLetterTopic(topic), kafkadefault.ForwardDeadLetterTopic}
}

// startApacheKafka starts the Apache Kafka brokers and writes their
// addresses, known only now, to Dir/stack.env.
func (s *Stack) startApacheKafka(ctx context.Context) error {
	if s.Cfg.KafkaBrokers != "" {
		return errors.New("devstack: set either KafkaBrokers (an existing Kafka) or ApacheKafka (brokers to start), not both")
	}
	k, err := StartKafka(ctx, KafkaConfig{
		Dir: filepath.Join(s.Cfg.Dir, "kafka"), Brokers: s.Cfg.ApacheKafka,
		Partitions: s.Cfg.Partitions, Topics: s.Topics(), Out: s.Cfg.Out,
	})
	if err != nil {
		return err
	}
	s.Kafka = k
	return s.lock.WriteEnv(s.Addrs())
}

func (s *Stack) startBroker(ctx context.Context) (*Process, error) {
	p, err := StartProcess("devbroker", s.bin("devbroker"), []string{
		"-addr", s.Cfg.BrokerAddr,
		"-topics", strings.Join(s.Topics(), ","),
		"-partitions", strconv.Itoa(s.Cfg.Partitions),
		"-data-dir", filepath.Join(s.Cfg.Dir, "kafka"),
	}, nil, s.Cfg.Out)
	if err != nil {
		return nil, err
	}
	if err := p.WaitTCP(ctx, s.Cfg.BrokerAddr); err != nil {
		return nil, stopStarted(p, err)
	}
	return p, nil
}

// Migrate runs `pixelctl migrate` against the stack's ClickHouse.
func (s *Stack) Migrate(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, s.bin("pixelctl"), "migrate", "-wait", "30s")
	cmd.Env = append(os.Environ(), s.env()...)
	cmd.Stdout, cmd.Stderr = s.Cfg.Out, s.Cfg.Out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pixelctl migrate: %w", err)
	}
	return nil
}

// StartConsumer starts the consumer and waits for its admin endpoint.
func (s *Stack) StartConsumer(ctx context.Context) error {
	return keep(&s.Consumer)(s.startConsumer(ctx))
}

func (s *Stack) startConsumer(ctx context.Context) (*Process, error) {
	p, err := StartProcess("consumer", s.bin("consumer"), s.Cfg.ConsumerArgs, s.env(), s.Cfg.Out)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTP(ctx, "http://"+s.Cfg.ConsumerAdminAddr+"/healthz"); err != nil {
		return nil, stopStarted(p, err)
	}
	return p, nil
}

// StartForwarder starts the forwarder and waits for its admin endpoint.
func (s *Stack) StartForwarder(ctx context.Context) error {
	return keep(&s.Forwarder)(s.startForwarder(ctx))
}

func (s *Stack) startForwarder(ctx context.Context) (*Process, error) {
	p, err := StartProcess("forwarder", s.bin("forwarder"), s.Cfg.ForwarderArgs, s.env(), s.Cfg.Out)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTP(ctx, "http://"+s.Cfg.ForwarderAdminAddr+"/healthz"); err != nil {
		return nil, stopStarted(p, err)
	}
	return p, nil
}

// StartCollector starts the collector and waits until it is ready.
func (s *Stack) StartCollector(ctx context.Context) error {
	return keep(&s.Collector)(s.startCollector(ctx, "/readyz"))
}

// startCollector starts the collector and waits until its admin address
// answers 200 on path and its public address accepts connections.
func (s *Stack) startCollector(ctx context.Context, path string) (*Process, error) {
	p, err := StartProcess("collector", s.bin("collector"), s.Cfg.CollectorArgs, s.env(), s.Cfg.Out)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTP(ctx, "http://"+s.Cfg.CollectorAdminAddr+path); err != nil {
		return nil, stopStarted(p, err)
	}
	if err := p.WaitTCP(ctx, s.Cfg.CollectorAddr); err != nil {
		return nil, stopStarted(p, err)
	}
	return p, nil
}

// StartConsole starts the console and waits until it is ready.
func (s *Stack) StartConsole(ctx context.Context) error {
	return keep(&s.Console)(s.startConsole(ctx))
}

// startConsole starts the console and waits until its admin address answers
// /readyz (it has reached ClickHouse) and its pages' address accepts
// connections.
func (s *Stack) startConsole(ctx context.Context) (*Process, error) {
	p, err := StartProcess("console", s.bin("console"), s.Cfg.ConsoleArgs, s.env(), s.Cfg.Out)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTP(ctx, "http://"+s.Cfg.ConsoleAdminAddr+"/readyz"); err != nil {
		return nil, stopStarted(p, err)
	}
	if err := p.WaitTCP(ctx, s.Cfg.ConsoleAddr); err != nil {
		return nil, stopStarted(p, err)
	}
	return p, nil
}

// Stop stops everything in reverse order, each gracefully: the collector
// flushes to Kafka, the consumer inserts and commits its last batch. It
// removes Dir/stack.env first, and unlocks Dir once everything stopped.
func (s *Stack) Stop() error {
	errs := []error{s.lock.RemoveEnv()}
	errs = append(errs, s.stop())
	errs = append(errs, s.lock.Release())
	s.lock = nil
	return errors.Join(errs...)
}

func (s *Stack) stop() error {
	var errs []error
	if s.sup != nil {
		errs = append(errs, s.sup.Stop(60*time.Second))
	}
	for _, p := range []*Process{s.Console, s.Collector, s.Forwarder, s.Consumer, s.Broker} {
		if p != nil {
			if err := p.Stop(60 * time.Second); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			}
		}
	}
	// Started outside the supervisor, with either.
	if s.Kafka != nil {
		errs = append(errs, s.Kafka.Close())
	}
	if s.ClickHouse != nil {
		if err := s.ClickHouse.Stop(60 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
