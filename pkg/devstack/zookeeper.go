package devstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNoZooKeeper means Debian's ZooKeeper (or Java) is not installed.
var ErrNoZooKeeper = errors.New("ZooKeeper is not installed; run `make deps` as root (it runs apt-get install zookeeper, which brings Java)")

// zooKeeperJars are Debian's ZooKeeper server jar (its manifest names the
// jars it needs) and a logger for slf4j.
var zooKeeperJars = []string{"/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar"}

// ZooKeeperClasspath returns the classpath of Debian's ZooKeeper server and
// the java binary, or ErrNoZooKeeper.
func ZooKeeperClasspath() (java, classpath string, err error) {
	java, err = exec.LookPath("java")
	if err != nil {
		return "", "", ErrNoZooKeeper
	}
	for _, j := range zooKeeperJars {
		if _, err := os.Stat(j); err != nil {
			return "", "", ErrNoZooKeeper
		}
	}
	return java, strings.Join(zooKeeperJars, ":"), nil
}

// ZooKeeper is a private standalone ZooKeeper server (Debian's, 3.8) on a
// loopback port with its own config and data directory: what the ClickHouse
// cluster's replicated tables and ON CLUSTER statements coordinate through.
type ZooKeeper struct {
	Dir  string // zoo.cfg, data and log
	Port int    // client port
	proc *Process
}

// Addr is the client address, host:port.
func (z *ZooKeeper) Addr() string { return "127.0.0.1:" + strconv.Itoa(z.Port) }

// StartZooKeeper starts a server in dir on a free port and waits until it
// serves requests. Its output goes to dir/log/zookeeper.log and, when out is
// not nil, to out.
func StartZooKeeper(ctx context.Context, dir string, out io.Writer) (*ZooKeeper, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	z := &ZooKeeper{Dir: abs, Port: port}
	return z, z.Start(ctx, out)
}

// Start starts the server (again, on the same port and data), and waits
// until it serves requests.
func (z *ZooKeeper) Start(ctx context.Context, out io.Writer) error {
	java, cp, err := ZooKeeperClasspath()
	if err != nil {
		return err
	}
	for _, sub := range []string{"data", "log"} {
		if err := os.MkdirAll(filepath.Join(z.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	// ZooKeeper's default tick (sessions of 4 s to 40 s): ClickHouse's
	// default 30 s session survives the pauses of a loaded machine.
	cfg := "tickTime=2000\n" +
		"dataDir=" + filepath.Join(z.Dir, "data") + "\n" +
		"clientPort=" + strconv.Itoa(z.Port) + "\n" +
		"clientPortAddress=127.0.0.1\n" +
		"maxClientCnxns=0\n" +
		"admin.enableServer=false\n" +
		"4lw.commands.whitelist=srvr,ruok\n" +
		"autopurge.purgeInterval=1\n"
	if err := os.WriteFile(filepath.Join(z.Dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(z.Dir, "log", "zookeeper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	w := io.Writer(logf)
	if out != nil {
		w = io.MultiWriter(logf, out)
	}
	args := []string{
		"-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", cp, "org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(z.Dir, "zoo.cfg"),
	}
	p, err := StartProcess("zookeeper", java, args, nil, w)
	if err != nil {
		logf.Close()
		return err
	}
	go func() { <-p.Exited(); logf.Close() }()
	z.proc = p
	return z.waitReady(ctx)
}

func (z *ZooKeeper) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		if z.serving() {
			return nil
		}
		select {
		case <-z.proc.Exited():
			return fmt.Errorf("zookeeper exited at start: %v; see %s", z.proc.Err(), filepath.Join(z.Dir, "log", "zookeeper.log"))
		case <-ctx.Done():
			z.proc.Kill()
			return fmt.Errorf("zookeeper did not serve on %s: %w; see %s", z.Addr(), ctx.Err(), filepath.Join(z.Dir, "log", "zookeeper.log"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// serving asks the four-letter command srvr, which names the server's mode
// only once it serves requests.
func (z *ZooKeeper) serving() bool {
	c, err := net.DialTimeout("tcp", z.Addr(), 500*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	s := bufio.NewScanner(c)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "Mode:") {
			return true
		}
	}
	return false
}

// Stop sends SIGTERM and waits up to timeout (then kills).
func (z *ZooKeeper) Stop(timeout time.Duration) error {
	if z.proc == nil {
		return nil
	}
	err := z.proc.Stop(timeout)
	z.proc = nil
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil // the JVM exits with 143 on SIGTERM
	}
	return err
}

// Close stops the server.
func (z *ZooKeeper) Close() error { return z.Stop(10 * time.Second) }
