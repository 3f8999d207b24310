// Package apptest runs the pipeline's real binaries end to end, started the
// way `make run` starts them (pkg/devstack), and checks what lands in
// ClickHouse. The tests live in this package's _test files.
package apptest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// BuildBinaries builds every command into dir and returns dir.
func BuildBinaries(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	// The console embeds what make build's npm step puts under
	// assets/vendor/: without it, it would refuse to start in every test
	// that runs it.
	if _, err := os.Stat(filepath.Join(root, "pkg/console/web/package.json")); err == nil {
		if v, err := os.ReadDir(filepath.Join(root, "pkg/console/assets/vendor")); err != nil || len(v) == 0 {
			return "", errors.New("pkg/console/assets/vendor/ is empty: run `make build` first (it installs the console's charting library with npm)")
		}
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/...")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/...: %w\n%s", err, b)
	}
	return dir, nil
}

// NewStack returns a stack config on free ports under a temp dir, with the
// binaries from binDir and a short consumer batch age so tests run quickly.
func NewStack(t testing.TB, binDir string) *devstack.Stack {
	t.Helper()
	c := devstack.DefaultStackConfig()
	c.Dir = t.TempDir()
	c.BinDir = binDir
	ports := make([]int, 6)
	for i := range ports {
		p, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	c.CollectorAddr, c.CollectorAdminAddr, c.ConsumerAdminAddr = addr(ports[0]), addr(ports[1]), addr(ports[2])
	c.BrokerAddr = addr(ports[3])
	c.ClickHouseTCPPort, c.ClickHouseHTTPPort = ports[4], ports[5]
	c.ConsumerArgs = []string{"-batch-age", "200ms", "-log-level", "warn"}
	c.CollectorArgs = []string{"-log-level", "warn"}
	// The pipeline's tests send hits for pixel ids of their own; the
	// tracking tests turn the registry on (NewTrackingStack).
	c.Registry = "off"
	// Nor do they need pages: the console's tests add it (AddConsole).
	c.ConsoleAddr, c.ConsoleAdminAddr = "", ""
	// Nor a forwarder: the forwarding tests add it (AddForwarder).
	c.ForwarderAdminAddr = ""
	log, err := os.Create(filepath.Join(c.Dir, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	c.Out = log
	return &devstack.Stack{Cfg: c}
}

// AddConsole gives s a web console on free ports: Start and devstack then
// start it after the collector.
func AddConsole(t testing.TB, s *devstack.Stack) {
	t.Helper()
	var addrs [2]string
	for i := range addrs {
		p, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	s.Cfg.ConsoleAddr, s.Cfg.ConsoleAdminAddr = addrs[0], addrs[1]
	s.Cfg.ConsoleArgs = []string{"-log-level", "warn"}
}

// AddForwarder gives s a forwarder on a free admin port, reloading the
// destinations every 500 ms and sending batches after 200 ms, with args
// added: Start then starts it after the consumer.
func AddForwarder(t testing.TB, s *devstack.Stack, args ...string) {
	t.Helper()
	p, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s.Cfg.ForwarderAdminAddr = fmt.Sprintf("127.0.0.1:%d", p)
	s.Cfg.ForwarderArgs = append([]string{"-log-level", "warn", "-refresh", "500ms", "-linger", "200ms"}, args...)
}

// Start starts s and stops it when the test ends; on failure it prints the
// stack's log.
func Start(t testing.TB, s *devstack.Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		_ = s.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.Cfg.Dir, "stack.log"))
			t.Logf("stack log:\n%s", tail(b, 8000))
		}
	})
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start stack: %v", err)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Conn opens a ClickHouse connection to the stack's pixel database.
func Conn(t testing.TB, s *devstack.Stack) chstore.Conn {
	t.Helper()
	conn, err := chstore.Open(context.Background(), chstore.Options{Addr: []string{s.ClickHouseAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// WaitCount polls query (which returns one UInt64) until it equals want or
// the deadline passes, and returns the last value seen.
func WaitCount(t testing.TB, conn chstore.Conn, query string, want uint64, within time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(within)
	var got uint64
	for {
		row := conn.QueryRow(context.Background(), query)
		if err := row.Scan(&got); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var notTopic = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// UseSharedKafka points s at the test binary's Apache Kafka broker
// (devstacktest.Kafka), on topics
// named after the test, which it creates, and in a consumer group of its
// own.
func UseSharedKafka(t testing.TB, s *devstack.Stack) {
	t.Helper()
	k := devstacktest.Kafka(t)
	name := strings.ToLower(notTopic.ReplaceAllString(t.Name(), "-"))
	s.Cfg.KafkaBrokers = k.Bootstrap()
	s.Cfg.Topic = "pixel.events." + name
	s.Cfg.ConsumerArgs = append(s.Cfg.ConsumerArgs, "-kafka-group", "pixel-consumer-"+name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.CreateTopics(ctx, s.Topics()...); err != nil {
		t.Fatal(err)
	}
}

// UseApacheKafka gives s one Apache Kafka broker of its own (for the tests
// that stop it): Start starts it instead of devbroker.
func UseApacheKafka(s *devstack.Stack) { s.Cfg.ApacheKafka = 1 }
