package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

// runCluster is make run-cluster: the scaled-out shape on this machine, the
// demo shop in front of it, the banner; then Ctrl-C; then everything
// stopped in reverse order. Unlike make run it does not start again a
// server that exits: it is there to be explored, and broken on purpose.
func runCluster(ctx context.Context, c *config, d *demo, a *firstAdmin) error {
	cfg := devstack.DefaultClusterStackConfig()
	cfg.Dir, cfg.BinDir = c.stack.Dir, c.stack.BinDir
	cfg.PixelAddr, cfg.ConsoleAddr = c.stack.CollectorAddr, c.stack.ConsoleAddr
	cfg.Topic, cfg.Registry = c.stack.Topic, c.stack.Registry
	cfg.Partitions = max(c.stack.Partitions, cfg.Partitions)
	cfg.AfterMigrate = func(ctx context.Context, s *devstack.ClusterStack) error {
		// The cluster has users of its own: their admin's password is kept
		// apart from make run's.
		return afterMigrate(ctx, s.ClickHouse.Addrs(), filepath.Join(s.Cfg.Dir, "cluster"), s.Cfg.ConsoleAddr != "", d, a)
	}
	// The brokers and ZooKeeper talk a lot, and in Java: into a file.
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "cluster"), 0o755); err != nil {
		return err
	}
	serversLog := filepath.Join(cfg.Dir, "cluster", "servers.log")
	out, err := os.OpenFile(serversLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cfg.ServersOut = out
	s := &devstack.ClusterStack{Cfg: cfg}
	fmt.Fprintln(os.Stderr, "devstack: starting ZooKeeper, 4 ClickHouse servers and 3 Kafka brokers (about a minute; the first run also fetches Apache Kafka with Maven; their output goes to "+serversLog+")...")
	start := time.Now()
	if err := s.Start(ctx); err != nil {
		return err
	}
	if c.demoAddr != "" {
		if err := serveDemo(c.demoAddr, d.pixel.Snippets(s.PixelURL())); err != nil {
			return errors.Join(err, s.Stop())
		}
	}
	printClusterBanner(s, c.demoAddr, *d, *a, time.Since(start))
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\ndevstack: stopping the console, the collectors, the consumers, Kafka, ClickHouse and ZooKeeper (flushing what is in flight)...")
	t := time.Now()
	err = s.Stop()
	fmt.Fprintf(os.Stderr, "devstack: stopped in %s\n", time.Since(t).Round(time.Millisecond))
	return err
}

func printClusterBanner(s *devstack.ClusterStack, demoAddr string, d demo, a firstAdmin, took time.Duration) {
	pixelctl := filepath.Join(s.Cfg.BinDir, "pixelctl")
	if s.Cfg.Dir == rundir.Default {
		pixelctl = relative(pixelctl)
	}
	fmt.Printf("\npixel is running scaled out (started in %s)\n", took.Round(time.Millisecond))
	if s.Console != nil {
		fmt.Println(strings.TrimPrefix(consoleLine(s.Console.ConsoleURL(), s.Cfg.Dir, a, pixelctl), "\n"))
	}
	fmt.Printf("  Pixel          %s/p.gif?id=%s&ev=PageView   (the balancer, round robin over the ready collectors)\n", s.PixelURL(), demoPixelID)
	if demoAddr != "" {
		fmt.Printf("  Open this      http://%s/   (the demo shop)\n", demoAddr)
	}
	if d.secret != "" {
		fmt.Printf("  Server events  the demo pixel's secret, shown this once: %s\n", d.secret)
	}
	for i, c := range s.Collectors {
		fmt.Printf("  Collector %d    %s   metrics http://%s/metrics\n", i+1, c.Cfg.CollectorAddr, c.Cfg.CollectorAdminAddr)
	}
	for i, c := range s.Consumers {
		fmt.Printf("  Consumer %d     metrics http://%s/metrics   (group of %d, %d partitions)\n", i+1, c.Cfg.ConsumerAdminAddr, len(s.Consumers), s.Cfg.Partitions)
	}
	fmt.Printf("  Kafka          %s   (Apache Kafka, %d brokers, replication 3, min.insync.replicas 2; kcat -b %s -t %s -C)\n",
		s.Brokers(), s.Kafka.Brokers(), s.Kafka.Addr(0), s.Cfg.Topic)
	for sh := range s.Cfg.Shards {
		for r := range s.Cfg.Replicas {
			n := s.ClickHouse.Node(sh, r)
			fmt.Printf("  ClickHouse     shard %d replica %d: clickhouse-client --port %d\n", sh+1, r+1, n.TCPPort)
		}
	}
	fmt.Printf("  Rows arriving  clickhouse-client --port %d --query \"SELECT event, count() FROM pixel.events GROUP BY event\"   (events is Distributed over events_local)\n", s.ClickHouse.Node(0, 0).TCPPort)
	fmt.Printf("  Reports        %s report conversions -pixel demo -last 1d\n", pixelctl)
	fmt.Printf("  Other shells   set -a; . %s; set +a\n", filepath.Join(s.Cfg.Dir, "stack.env"))
	fmt.Println("\nA server that exits stays down (break one on purpose to watch the others carry on). Ctrl-C stops everything cleanly.")
}
