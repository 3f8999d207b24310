package devstack

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Real Apache Kafka (KRaft mode) from Maven Central, for the tests that must
// meet the broker production runs: KafkaClasspath fetches it with Maven into
// the user's Maven cache (~/.m2), StartKafka runs 1 or 3 nodes, each broker
// and controller at once, with Java, on free loopback ports, each with its
// own config and data directory under KafkaConfig.Dir. Topics are created
// explicitly, as a production cluster has them (auto-creation is off).

// KafkaVersion is the Apache Kafka release the tests run
// (org.apache.kafka:kafka_2.13).
const KafkaVersion = "4.1.1"

//go:embed kafka/pom.xml
var kafkaPOM []byte

//go:embed kafka/log4j2.properties
var kafkaLog4j []byte

// mavenDependencyPlugin is the plugin that lists the classpath: the version
// Debian's Maven 3.8 uses by default, named so that every machine resolves
// the same.
const mavenDependencyPlugin = "org.apache.maven.plugins:maven-dependency-plugin:2.8"

// ErrNoJava means java or mvn is not installed.
var ErrNoJava = errors.New("java and mvn are needed to run Apache Kafka; run `make deps` as root (it runs apt-get install openjdk-17-jre-headless maven)")

// KafkaConfig describes a private Kafka cluster.
type KafkaConfig struct {
	Dir               string   // data and config, one subdir per broker
	Brokers           int      // 1 or 3 (each node is broker+controller); 1 when 0
	Partitions        int      // of each topic created; 1 when 0
	Topics            []string // created explicitly (auto-create is off, as in production)
	ReplicationFactor int      // min(Brokers, 3) when 0
	MinInsyncReplicas int      // 2 with 3 brokers when 0, 1 with one
	Out               io.Writer
	// JVMFlags replace the defaults (jvmFlags: a small heap and the quick
	// JIT tier only, for a fast start), e.g. for a benchmark.
	JVMFlags []string
}

// KafkaClasspath returns the Java classpath of the Kafka broker, resolving
// it with Maven (`mvn dependency:build-classpath` on an embedded pom), which
// downloads what is missing from Maven Central into ~/.m2. The answer is
// cached under the user's cache dir, keyed by version, for as long as every
// jar it names exists.
func KafkaClasspath(ctx context.Context) (string, error) {
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the user's cache dir: %w", err)
	}
	cache := filepath.Join(cacheDir, "pixel", "kafka-"+KafkaVersion+".classpath")
	if b, err := os.ReadFile(cache); err == nil && jarsExist(string(b)) {
		return string(b), nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", ErrNoJava
	}
	tmp, err := os.MkdirTemp("", "pixel-kafka-pom-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "pom.xml"), kafkaPOM, 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(tmp, "classpath")
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", mavenDependencyPlugin+":build-classpath",
		"-Dkafka.version="+KafkaVersion, "-Dmdep.includeScope=runtime", "-Dmdep.outputFile="+out)
	cmd.Dir = tmp
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		msg := log.String()
		for _, sign := range []string{"Could not transfer", "No plugin found", "Unknown host", "UnknownHostException", "Connection refused", "timed out", "Network is unreachable", "No route to host"} {
			if strings.Contains(msg, sign) {
				return "", fmt.Errorf("cannot fetch Apache Kafka %s with Maven: Maven Central (repo.maven.apache.org) is unreachable from here, and ~/.m2 does not hold it yet: %w\n%s", KafkaVersion, err, tailString(msg, 2000))
			}
		}
		return "", fmt.Errorf("cannot resolve Apache Kafka %s with mvn (does ~/.m2 hold it, or can Maven reach Maven Central?): %w\n%s", KafkaVersion, err, tailString(msg, 2000))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return "", fmt.Errorf("mvn wrote no classpath: %w", err)
	}
	cp := strings.TrimSpace(string(b))
	if !jarsExist(cp) {
		return "", fmt.Errorf("mvn gave a classpath naming missing jars: %s", cp)
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err == nil {
		if err := os.WriteFile(cache+".tmp", []byte(cp), 0o644); err == nil {
			_ = os.Rename(cache+".tmp", cache)
		}
	}
	return cp, nil
}

func jarsExist(cp string) bool {
	if !strings.Contains(cp, "kafka_2.13-"+KafkaVersion+".jar") {
		return false
	}
	for _, jar := range filepath.SplitList(strings.TrimSpace(cp)) {
		if _, err := os.Stat(jar); err != nil {
			return false
		}
	}
	return true
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Kafka is a running private Kafka cluster.
type Kafka struct {
	cfg   KafkaConfig
	java  string
	cp    string
	nodes []*kafkaNode
	mu    sync.Mutex // nodes[i].proc and topics
	// topics are those created: cfg.Topics and CreateTopics's.
	topics []string
}

type kafkaNode struct {
	dir        string
	port, ctrl int // client and controller listeners
	proc       *Process
}

// jvmFlags keep a broker small and quick to start: tests start many and
// push little through them.
var jvmFlags = []string{
	"-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
	"-XX:-UsePerfData", "-Xshare:auto", "-Djava.awt.headless=true",
}

// StartKafka formats and starts cfg.Brokers nodes, waits until every broker
// serves, creates cfg.Topics and waits until each partition has a leader and
// all its replicas in sync. On error it stops what it started.
func StartKafka(ctx context.Context, cfg KafkaConfig) (k *Kafka, err error) {
	if cfg.Brokers == 0 {
		cfg.Brokers = 1
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = min(cfg.Brokers, 3)
	}
	if cfg.MinInsyncReplicas == 0 {
		cfg.MinInsyncReplicas = 1
		if cfg.ReplicationFactor >= 3 {
			cfg.MinInsyncReplicas = 2
		}
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.ReplicationFactor > cfg.Brokers || cfg.MinInsyncReplicas > cfg.ReplicationFactor {
		return nil, fmt.Errorf("kafka: %d brokers, replication factor %d, min.insync.replicas %d: want min.insync <= replication <= brokers", cfg.Brokers, cfg.ReplicationFactor, cfg.MinInsyncReplicas)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, ErrNoJava
	}
	cp, err := KafkaClasspath(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	k = &Kafka{cfg: cfg, java: java, cp: cp}
	for i := range cfg.Brokers {
		n := &kafkaNode{dir: filepath.Join(dir, "broker-"+strconv.Itoa(i))}
		if n.port, err = FreePort(); err != nil {
			return nil, err
		}
		if n.ctrl, err = FreePort(); err != nil {
			return nil, err
		}
		k.nodes = append(k.nodes, n)
	}
	if err := k.format(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = k.Close()
			k = nil
		}
	}()
	if err := k.Start(ctx); err != nil {
		return k, err
	}
	return k, k.CreateTopics(ctx, cfg.Topics...)
}

// format writes each node's config and formats its storage with Kafka's
// storage tool, all nodes at once. A node whose data directory is formatted
// already (make run-cluster started again on its data) keeps it, and the
// others join its cluster id: the ports change, the topics and offsets stay.
func (k *Kafka) format(ctx context.Context) error {
	clusterID := newClusterID()
	for _, n := range k.nodes {
		if id := formattedID(n); id != "" {
			clusterID = id
		}
	}
	errs := make([]error, len(k.nodes))
	var wg sync.WaitGroup
	for i, n := range k.nodes {
		if err := os.MkdirAll(filepath.Join(n.dir, "data"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(n.dir, "server.properties"), []byte(k.properties(i)), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(n.dir, "log4j2.properties"), kafkaLog4j, 0o644); err != nil {
			return err
		}
		if formattedID(n) != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append(k.jvmArgs(n), "kafka.tools.StorageTool", "format", "-t", clusterID, "-c", filepath.Join(n.dir, "server.properties"))
			cmd := exec.CommandContext(ctx, k.java, args...)
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("cannot format Kafka storage in %s: %w\n%s", n.dir, err, b)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// formattedID is the cluster id in a node's formatted storage ("" when it
// is not formatted).
func formattedID(n *kafkaNode) string {
	b, err := os.ReadFile(filepath.Join(n.dir, "data", "meta.properties"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster.id="); ok {
			return v
		}
	}
	return ""
}

// newClusterID returns a random cluster id as Kafka writes them (a UUID in
// URL-safe base64), never starting with "-", which the storage tool would
// take for an option (Kafka's own Uuid.randomUuid avoids it too).
func newClusterID() string {
	id := make([]byte, 16)
	for {
		_, _ = rand.Read(id)
		if s := base64.RawURLEncoding.EncodeToString(id); s[0] != '-' {
			return s
		}
	}
}

func (k *Kafka) jvmArgs(n *kafkaNode) []string {
	flags := jvmFlags
	if k.cfg.JVMFlags != nil {
		flags = k.cfg.JVMFlags
	}
	return append(slices.Clone(flags),
		"-Dlog4j2.configurationFile="+filepath.Join(n.dir, "log4j2.properties"), "-cp", k.cp)
}

// properties is node i's server.properties. Node ids start at 1: kafka-go
// reports a partition without a leader as leader 0.
func (k *Kafka) properties(i int) string {
	n := k.nodes[i]
	voters := make([]string, len(k.nodes))
	for j, m := range k.nodes {
		voters[j] = fmt.Sprintf("%d@127.0.0.1:%d", j+1, m.ctrl)
	}
	rf, isr := strconv.Itoa(k.cfg.ReplicationFactor), strconv.Itoa(k.cfg.MinInsyncReplicas)
	return strings.Join([]string{
		"process.roles=broker,controller",
		"node.id=" + strconv.Itoa(i+1),
		"controller.quorum.voters=" + strings.Join(voters, ","),
		fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.port, n.ctrl),
		fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", n.port),
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs=" + filepath.Join(n.dir, "data"),
		// As in production: topics exist because someone created them.
		"auto.create.topics.enable=false",
		"default.replication.factor=" + rf,
		"min.insync.replicas=" + isr,
		"offsets.topic.replication.factor=" + rf,
		"offsets.topic.num.partitions=4", // 50 by default: slow to create on a small machine
		"transaction.state.log.replication.factor=" + rf,
		"transaction.state.log.min.isr=" + isr,
		"share.coordinator.state.topic.replication.factor=" + rf,
		"share.coordinator.state.topic.min.isr=" + isr,
		// Test timings, not production ones: a consumer group forms at
		// once (3 s by default), and a dead broker is fenced, and its
		// partitions led by another, within 3 s (9 s by default).
		"group.initial.rebalance.delay.ms=0",
		"broker.session.timeout.ms=3000",
		"broker.heartbeat.interval.ms=500",
		"num.network.threads=2",
		"num.io.threads=2",
		"background.threads=2",
		"num.recovery.threads.per.data.dir=1",
		"log.segment.bytes=16777216",
		"",
	}, "\n")
}

func (k *Kafka) startNode(i int) error {
	n := k.nodes[i]
	logf, err := os.OpenFile(filepath.Join(n.dir, "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := append(k.jvmArgs(n), "kafka.Kafka", filepath.Join(n.dir, "server.properties"))
	p, err := StartProcess("kafka-"+strconv.Itoa(i), k.java, args, nil, io.MultiWriter(logf, k.cfg.Out))
	if err != nil {
		logf.Close()
		return err
	}
	go func() { <-p.Exited(); logf.Close() }()
	k.mu.Lock()
	n.proc = p
	k.mu.Unlock()
	return nil
}

// Bootstrap is the comma-separated list of every broker's address.
func (k *Kafka) Bootstrap() string {
	addrs := make([]string, len(k.nodes))
	for i := range k.nodes {
		addrs[i] = k.Addr(i)
	}
	return strings.Join(addrs, ",")
}

// Addr is broker i's client address.
func (k *Kafka) Addr(i int) string { return "127.0.0.1:" + strconv.Itoa(k.nodes[i].port) }

// Brokers is the number of brokers.
func (k *Kafka) Brokers() int { return len(k.nodes) }

// Stop stops broker i with SIGTERM (a controlled shutdown: it hands its
// partitions' leadership over) and waits up to timeout, then kills it.
func (k *Kafka) Stop(i int, timeout time.Duration) error {
	p := k.proc(i)
	if p == nil || exited(p) {
		return nil // not started, or already stopped or killed
	}
	err := p.Stop(timeout)
	if isSignalExit(err) {
		// The JVM exits with 143 after a SIGTERM it handled.
		return nil
	}
	return err
}

// isSignalExit reports whether err is the JVM's exit status after SIGTERM.
func isSignalExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 143
}

// Kill stops broker i with SIGKILL, as a crash would.
func (k *Kafka) Kill(i int) {
	if p := k.proc(i); p != nil {
		p.Kill()
	}
}

// running reports whether broker i's process runs.
func (k *Kafka) running(i int) bool {
	if i < 0 || i >= len(k.nodes) {
		return false
	}
	p := k.proc(i)
	return p != nil && !exited(p)
}

func exited(p *Process) bool {
	select {
	case <-p.Exited():
		return true
	default:
		return false
	}
}

func (k *Kafka) proc(i int) *Process {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.nodes[i].proc
}

// Restart starts broker i again, with its id, ports and data (stopping it
// first if it still runs), and waits until it serves and every partition
// has all its running replicas in sync again.
func (k *Kafka) Restart(ctx context.Context, i int) error {
	if err := k.Stop(i, 30*time.Second); err != nil {
		return err
	}
	return k.start(ctx, []int{i})
}

// Start starts every broker that does not run (after Stop, Kill or Close),
// with its id, ports and data, and waits until each serves and every
// partition has all its running replicas in sync.
func (k *Kafka) Start(ctx context.Context) error {
	var stopped []int
	for i := range k.nodes {
		if !k.running(i) {
			stopped = append(stopped, i)
		}
	}
	return k.start(ctx, stopped)
}

// start starts the brokers nodes and waits until each serves and every
// partition has all its running replicas in sync.
func (k *Kafka) start(ctx context.Context, nodes []int) error {
	for _, i := range nodes {
		if err := k.startNode(i); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, i := range nodes {
		if err := k.waitBroker(ctx, i); err != nil {
			return err
		}
	}
	return k.waitInSync(ctx)
}

// Leader returns the index of the broker leading the partition, as the
// running brokers see it; an error when none does.
func (k *Kafka) Leader(ctx context.Context, topic string, partition int) (int, error) {
	parts, err := k.partitions(ctx, topic)
	if err != nil {
		return -1, err
	}
	for _, p := range parts {
		if p.ID == partition {
			if p.Leader.ID <= 0 || p.Leader.ID > len(k.nodes) {
				return -1, fmt.Errorf("%s/%d has no leader", topic, partition)
			}
			return p.Leader.ID - 1, nil
		}
	}
	return -1, fmt.Errorf("%s has no partition %d", topic, partition)
}

// partitions asks the first running broker that answers for the topics'
// partitions.
func (k *Kafka) partitions(ctx context.Context, topics ...string) ([]kafka.Partition, error) {
	var errs []error
	for i := range k.nodes {
		if !k.running(i) {
			continue
		}
		parts, err := k.readPartitions(ctx, i, topics...)
		if err == nil {
			return parts, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no Kafka broker answered: %w", errors.Join(errs...))
}

func (k *Kafka) readPartitions(ctx context.Context, i int, topics ...string) ([]kafka.Partition, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := (&kafka.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", k.Addr(i))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	return c.ReadPartitions(topics...)
}

// waitBroker waits until broker i serves and sees every running broker of
// the cluster (a broker is listed once the controller unfenced it).
func (k *Kafka) waitBroker(ctx context.Context, i int) error {
	p := k.proc(i)
	for {
		c, err := (&kafka.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", k.Addr(i))
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			var brokers []kafka.Broker
			brokers, err = c.Brokers()
			c.Close()
			want := 0
			for j := range k.nodes {
				if k.running(j) {
					want++
				}
			}
			if err == nil && len(brokers) >= want {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("it sees %d brokers of %d", len(brokers), want)
			}
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("kafka broker %d exited at start (%v); see %s:\n%s", i, p.Err(), filepath.Join(k.nodes[i].dir, "broker.log"), k.logTail(i))
		case <-ctx.Done():
			return fmt.Errorf("kafka broker %d at %s not ready: %v (%w); see %s", i, k.Addr(i), err, ctx.Err(), filepath.Join(k.nodes[i].dir, "broker.log"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (k *Kafka) logTail(i int) string {
	b, _ := os.ReadFile(filepath.Join(k.nodes[i].dir, "broker.log"))
	return tailString(string(b), 3000)
}

// CreateTopics creates topics with the cluster's partitions, replication
// factor and min.insync.replicas (an existing one is left as it is), and
// waits until every partition has a leader and its replicas in sync.
func (k *Kafka) CreateTopics(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	topics := make([]kafka.TopicConfig, len(names))
	for i, name := range names {
		topics[i] = kafka.TopicConfig{
			Topic: name, NumPartitions: k.cfg.Partitions, ReplicationFactor: k.cfg.ReplicationFactor,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(k.cfg.MinInsyncReplicas)}},
		}
	}
	var addr string
	for i := range k.nodes {
		if k.running(i) {
			addr = k.Addr(i)
			break
		}
	}
	transport := &kafka.Transport{DialTimeout: 2 * time.Second}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(addr), Transport: transport, Timeout: 10 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("cannot create Kafka topics %v: %w", names, err)
	}
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("cannot create Kafka topic %s: %w", name, err)
		}
	}
	k.mu.Lock()
	for _, name := range names {
		if !slices.Contains(k.topics, name) {
			k.topics = append(k.topics, name)
		}
	}
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return k.waitInSync(ctx)
}

// waitInSync waits until every running broker knows every partition of the
// configured topics with a leader and each of its replicas that runs in
// sync.
func (k *Kafka) waitInSync(ctx context.Context) error {
	k.mu.Lock()
	topics := slices.Clone(k.topics)
	k.mu.Unlock()
	if len(topics) == 0 {
		return nil
	}
	for {
		why := k.inSync(ctx, topics)
		if why == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka topics %v not in sync: %v (%w)", topics, why, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (k *Kafka) inSync(ctx context.Context, topics []string) error {
	for i := range k.nodes {
		if !k.running(i) {
			continue
		}
		parts, err := k.readPartitions(ctx, i, topics...)
		if err != nil {
			return fmt.Errorf("broker %d: %w", i, err)
		}
		if len(parts) != len(topics)*k.cfg.Partitions {
			return fmt.Errorf("broker %d knows %d partitions of %d", i, len(parts), len(topics)*k.cfg.Partitions)
		}
		for _, p := range parts {
			if p.Leader.ID == 0 {
				return fmt.Errorf("broker %d: %s/%d has no leader", i, p.Topic, p.ID)
			}
			for _, r := range p.Replicas {
				if k.running(r.ID-1) && !slices.ContainsFunc(p.Isr, func(b kafka.Broker) bool { return b.ID == r.ID }) {
					return fmt.Errorf("broker %d: %s/%d has broker %d out of sync", i, p.Topic, p.ID, r.ID-1)
				}
			}
		}
	}
	return nil
}

// Close stops every broker: gracefully, each within 30 s, while the
// controllers left would still form a quorum, and then kills the rest (a
// broker's controlled shutdown waits for a quorum that is gone; what it
// wrote is recovered from its log on the next start all the same).
func (k *Kafka) Close() error {
	var errs []error
	majority := len(k.nodes)/2 + 1
	for i := range k.nodes {
		n := 0
		for j := range k.nodes {
			if k.running(j) {
				n++
			}
		}
		if !k.running(i) {
			continue
		}
		if n > majority || len(k.nodes) == 1 {
			if err := k.Stop(i, 30*time.Second); err != nil {
				errs = append(errs, fmt.Errorf("kafka broker %d: %w", i, err))
			}
			continue
		}
		k.Kill(i)
	}
	return errors.Join(errs...)
}
