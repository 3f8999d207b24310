package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/bench/chkafka"
	"github.com/pixel-pipeline/pixel/bench/pin"
	"github.com/pixel-pipeline/pixel/bench/procstat"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

// Cores: servers on the first, load generators on the second. Without
// taskset (or with a single core) nothing is pinned and pin says so.
const (
	serverCPU = "0"
	clientCPU = "1"
)

// Topics of the embedded broker, one per measurement so that none reads
// another's events.
const (
	topicCollector = "bench.collector" // what the collector publishes under wrk; nobody reads it
	topicNaive     = "bench.naive"     // what the naive collector publishes under wrk; counted, not read
	topicConsumer  = "bench.consumer"  // the produced events, read by our consumer, the naive one and then the engine
	topicE2E       = "bench.e2e"
	topicTradeoff  = "bench.tradeoff" // and a number: one topic per trade-off run, created by it
	partitions     = 4
)

// lab owns every process and folder of a run, and stops and removes them
// all at the end, whatever happened.
type lab struct {
	cfg    *Config
	outDir string // results
	work   string // ClickHouse data, broker, spool: removed at the end unless -keep
	stdout io.Writer
	log    *os.File // the children's output and go test's

	ch         *devstack.ClickHouse
	chPid      int // 0: not found, its CPU time is not measured
	broker     *devstack.Process
	brokerAddr string

	mu    sync.Mutex
	procs []*devstack.Process // running children, stopped in reverse order
}

func newLab(cfg *Config, outDir string, stdout io.Writer) (*lab, error) {
	work, err := os.MkdirTemp("", "pixel-bench-")
	if err != nil {
		return nil, fmt.Errorf("cannot create a work folder: %w", err)
	}
	log, err := os.Create(filepath.Join(outDir, "bench.log"))
	if err != nil {
		os.RemoveAll(work)
		return nil, fmt.Errorf("cannot create the log: %w", err)
	}
	return &lab{cfg: cfg, outDir: outDir, work: work, stdout: stdout, log: log}, nil
}

func (l *lab) printf(format string, args ...any) {
	line := time.Now().Format("15:04:05") + " bench: " + fmt.Sprintf(format, args...) + "\n"
	fmt.Fprint(l.stdout, line)
	l.mu.Lock()
	fmt.Fprint(l.log, line)
	l.mu.Unlock()
}

func (l *lab) bin(name string) string { return filepath.Join(l.cfg.BinDir, name) }

// addr returns a free loopback address.
func addr() (string, error) {
	p, err := devstack.FreePort()
	if err != nil {
		return "", fmt.Errorf("cannot find a free port: %w", err)
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// freeAddrs returns n free loopback addresses.
func freeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		var err error
		if out[i], err = addr(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// start runs a child process, on cpus when not empty, and keeps it for
// close. Its output goes to the log.
func (l *lab) start(name, cpus, bin string, args ...string) (*devstack.Process, error) {
	argv := pin.Command(cpus, append([]string{bin}, args...)...)
	p, err := devstack.StartProcess(name, argv[0], argv[1:], nil, l.log)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// stop stops one child gracefully (SIGTERM, then SIGKILL after timeout).
func (l *lab) stop(p *devstack.Process, timeout time.Duration) error {
	if p == nil {
		return nil
	}
	err := p.Stop(timeout)
	l.mu.Lock()
	for i, q := range l.procs {
		if q == p {
			l.procs = append(l.procs[:i], l.procs[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	return nil
}

// close stops every child in reverse order, then ClickHouse, and removes the
// work folder unless -keep.
func (l *lab) close() {
	l.mu.Lock()
	procs := append([]*devstack.Process(nil), l.procs...)
	l.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		if err := l.stop(procs[i], 20*time.Second); err != nil {
			l.printf("stopping: %v", err)
		}
	}
	if l.ch != nil {
		if err := l.ch.Stop(30 * time.Second); err != nil {
			l.printf("stopping ClickHouse: %v", err)
		}
	}
	if l.cfg.Keep {
		l.printf("work folder kept: %s", l.work)
	} else {
		_ = os.RemoveAll(l.work)
	}
	l.log.Close()
}

// startServers starts the private ClickHouse (with the Kafka engine's
// settings) and the embedded broker with every topic of the run.
func (l *lab) startServers(ctx context.Context, res *Results) error {
	ch, err := devstack.NewClickHouse(filepath.Join(l.work, "clickhouse"), 0, 0)
	if err != nil {
		return err
	}
	if err := chkafka.WriteConfig(ch.Dir); err != nil {
		return fmt.Errorf("cannot write the Kafka engine's settings: %w", err)
	}
	if err := ch.Start(ctx); err != nil {
		return err
	}
	l.ch = ch
	// devstack does not tell the server's pid: find it among this
	// process's children by its configuration file.
	if l.chPid, err = procstat.ChildPID(os.Getpid(), filepath.Join(ch.Dir, "config.xml")); err != nil {
		res.note("ClickHouse's CPU time is not measured: " + err.Error())
	}
	conn, err := l.open(ctx, "default")
	if err != nil {
		return err
	}
	v, err := chstore.ServerVersion(ctx, conn)
	conn.Close()
	if err == nil {
		res.Versions.ClickHouse = v.String()
	}

	if l.brokerAddr, err = addr(); err != nil {
		return err
	}
	topics := strings.Join([]string{topicCollector, topicNaive, topicConsumer, topicConsumer + ".dlq", topicE2E, topicE2E + ".dlq", topicKafka}, ",")
	l.broker, err = l.start("devbroker", "", l.bin("devbroker"), "-addr", l.brokerAddr, "-topics", topics,
		"-partitions", strconv.Itoa(partitions), "-log-level", "warn",
		// On disk, as make run keeps it: kfake's memory-only mode slows down
		// as the topics grow (each partition one growing buffer).
		"-data-dir", filepath.Join(l.work, "kafka"))
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return l.broker.WaitTCP(wctx, l.brokerAddr)
}

// open connects to database db of the private ClickHouse.
func (l *lab) open(ctx context.Context, db string) (chstore.Conn, error) {
	return chstore.Open(ctx, chstore.Options{Addr: []string{l.ch.Addr()}, Database: db})
}

// migrate creates database db with the project's migrations and connects
// to it.
func (l *lab) migrate(ctx context.Context, db string) (chstore.Conn, error) {
	o := chstore.Options{Addr: []string{l.ch.Addr()}, Database: db}
	if _, err := chstore.Migrate(ctx, o); err != nil {
		return nil, fmt.Errorf("cannot migrate %s: %w", db, err)
	}
	return chstore.Open(ctx, o)
}

// pinBroker moves the broker's threads to cpus.
func (l *lab) pinBroker(cpus string) error {
	if l.broker == nil {
		return nil
	}
	return pin.Set(l.broker.Pid(), cpus)
}

// deleteTopic drops a topic the run no longer needs, so that the broker
// frees its memory. Failing to is harmless.
func (l *lab) deleteTopic(ctx context.Context, topic string) {
	c := &kafka.Client{Addr: kafka.TCP(l.brokerAddr), Timeout: 10 * time.Second}
	_, _ = c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
}

// topicMessages sums the last offsets of topic's partitions: how many
// messages it received.
func (l *lab) topicMessages(ctx context.Context, topic string) (int64, error) {
	c := &kafka.Client{Addr: kafka.TCP(l.brokerAddr), Timeout: 10 * time.Second}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	resp, err := c.ListOffsets(ctx, req)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return 0, p.Error
		}
		sum += p.LastOffset
	}
	return sum, nil
}

// cpuTime is the CPU time process pid has used; 0 when pid is 0 or gone.
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	d, _ := procstat.CPUTime(pid)
	return d
}

// waitHTTP waits until url answers 200 or the process exits.
func waitHTTP(ctx context.Context, p *devstack.Process, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return p.WaitHTTP(ctx, url)
}

// get fetches url and returns its response, for sanity checks.
func get(ctx context.Context, url string, header http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header = header
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}
