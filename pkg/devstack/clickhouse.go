// Package devstack starts the real servers the pipeline needs on one machine:
// private ClickHouse servers (own config, data directory and ports, never the
// system one), alone or as a cluster of shards and replicas with ZooKeeper
// (chcluster.go), the embedded Kafka-protocol broker or real Apache Kafka
// brokers fetched from Maven Central (kafka.go), and the pipeline's own
// binaries: the single-machine Stack of `make run`, under a Supervisor that
// starts again whatever of them exits, and the scaled-out ClusterStack of
// `make run-cluster` (cluster.go). `make run` and the tests use it;
// production uses the servers described under deploy/.
package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
)

// ErrNoClickHouse means clickhouse-server is not installed.
var ErrNoClickHouse = errors.New("clickhouse-server is not installed; run `make deps` as root (it runs apt-get install clickhouse-server clickhouse-client)")

// ClickHouseBinary returns the path of clickhouse-server, or ErrNoClickHouse.
func ClickHouseBinary() (string, error) {
	for _, name := range []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoClickHouse
}

// ClickHouse is a private clickhouse-server process.
type ClickHouse struct {
	Dir      string // config, data and logs live here
	TCPPort  int    // native protocol
	HTTPPort int
	// InterserverPort, when not 0, is the interserver_http_port replicated
	// tables fetch parts from each other on (a cluster's nodes).
	InterserverPort int
	// Extra is more configuration inside <yandex>, written at every Start
	// (a cluster's macros, remote_servers, zookeeper).
	Extra string
	// Profile is more settings of the default profile in users.xml (a
	// cluster's distributed_product_mode).
	Profile string
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // how the last run ended, valid after exited is closed
}

// Addr is the native-protocol address.
func (c *ClickHouse) Addr() string { return "127.0.0.1:" + strconv.Itoa(c.TCPPort) }

// FreePort returns a loopback TCP port that is free now, for a server
// started a moment later. It picks at random below Linux's default
// ephemeral range (32768-60999): a port the kernel hands out with ":0"
// is also the next local port of some outgoing connection, and with test
// packages running side by side one of their connections took such a port
// between the pick and the server's listen. Only when no port of the range
// is free does it ask the kernel.
func FreePort() (int, error) {
	for range 100 {
		port := freePortLow + rand.IntN(freePortHigh-freePortLow+1)
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			ln.Close()
			return port, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// The range FreePort picks from: above make run's fixed ports (8080-8090,
// 18123, 19000, 19092), below the ephemeral range.
const freePortLow, freePortHigh = 20000, 32767

// NewClickHouse prepares a private server in dir on the given ports (0 picks
// a free one). Start runs it.
func NewClickHouse(dir string, tcpPort, httpPort int) (*ClickHouse, error) {
	var err error
	if tcpPort == 0 {
		if tcpPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if httpPort == 0 {
		if httpPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &ClickHouse{Dir: abs, TCPPort: tcpPort, HTTPPort: httpPort}, nil
}

// Start writes the configuration, starts clickhouse-server and waits until it
// answers on the native port. The process dies with its parent.
func (c *ClickHouse) Start(ctx context.Context) error {
	bin, err := ClickHouseBinary()
	if err != nil {
		return err
	}
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "config.xml"), []byte(c.config()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "users.xml"), []byte(strings.Replace(usersXML, "    </default>\n  </profiles>", c.Profile+"    </default>\n  </profiles>", 1)), 0o644); err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(c.Dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--config-file="+filepath.Join(c.Dir, "config.xml"))
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("cannot start %s: %w", bin, err)
	}
	c.cmd = cmd
	exited := make(chan struct{})
	c.exited = exited
	go func() { c.err = cmd.Wait(); out.Close(); close(exited) }()
	return c.waitReady(ctx)
}

// Exited is closed when the server started last ended.
func (c *ClickHouse) Exited() <-chan struct{} { return c.exited }

// Err is how the server ended; valid once Exited is closed.
func (c *ClickHouse) Err() error { return c.err }

func (c *ClickHouse) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("clickhouse-server exited at start; see %s:\n%s", filepath.Join(c.Dir, "log"), c.logTail())
		default:
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		conn, err := chstore.Open(pctx, chstore.Options{Addr: []string{c.Addr()}, Database: "default"})
		pcancel()
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			c.Kill()
			return fmt.Errorf("clickhouse-server did not answer on %s: %w\n%s", c.Addr(), err, c.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *ClickHouse) logTail() string {
	var b bytes.Buffer
	for _, name := range []string{"stdout.log", "err.log"} {
		data, _ := os.ReadFile(filepath.Join(c.Dir, "log", name))
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		b.Write(data)
	}
	return b.String()
}

// Stop sends SIGTERM and waits for the server to exit (SIGKILL after timeout).
func (c *ClickHouse) Stop(timeout time.Duration) error {
	if c.cmd == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(timeout):
		c.Kill()
		return fmt.Errorf("clickhouse-server did not stop within %s; killed it", timeout)
	}
	c.cmd = nil
	return nil
}

// Kill stops the server at once, as a crash would.
func (c *ClickHouse) Kill() {
	if c.cmd == nil {
		return
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.exited
	c.cmd = nil
}

func (c *ClickHouse) config() string {
	return `<?xml version="1.0"?>
<!-- Written by pixel's devstack: a private server for development and tests. -->
<yandex>
  <logger>
    <level>warning</level>
    <log>` + c.Dir + `/log/server.log</log>
    <errorlog>` + c.Dir + `/log/err.log</errorlog>
    <size>50M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>` + strconv.Itoa(c.TCPPort) + `</tcp_port>
  <http_port>` + strconv.Itoa(c.HTTPPort) + `</http_port>
  <path>` + c.Dir + `/data/</path>
  <tmp_path>` + c.Dir + `/tmp/</tmp_path>
  <user_files_path>` + c.Dir + `/user_files/</user_files_path>
  <format_schema_path>` + c.Dir + `/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>536870912</mark_cache_size>
  <uncompressed_cache_size>536870912</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <max_connections>1024</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
` + c.extraConfig() + `</yandex>
`
}

func (c *ClickHouse) extraConfig() string {
	s := c.Extra
	if c.InterserverPort != 0 {
		s = `  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>` + strconv.Itoa(c.InterserverPort) + `</interserver_http_port>
` + s
	}
	return s
}

const usersXML = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>8000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
      <!-- Check for shutdown every second, not every 10 s, so Stop is quick. -->
      <poll_interval>1</poll_interval>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
        <read_rows>0</read_rows><execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`
