package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ClickHouseClusterConfig is the shape of a private ClickHouse cluster.
type ClickHouseClusterConfig struct {
	Dir              string // one subdirectory per node (s1r1, s1r2, ...) and zookeeper/
	Shards, Replicas int    // 2 × 2 when 0
	Name             string // remote_servers cluster name; "pixel" when empty
	Out              io.Writer
}

// ClickHouseCluster is Shards × Replicas private clickhouse-server processes
// on loopback and the ZooKeeper they coordinate through. Every node knows the
// cluster (remote_servers, internal_replication: a Distributed table writes
// each block to one replica and replication copies it), its own macros
// {shard} (1-based) and {replica} (s<shard>r<replica>, unique cluster-wide),
// ZooKeeper and the distributed DDL queue, so ON CLUSTER statements and
// Replicated*MergeTree tables work (see pkg/chstore's cluster migrations).
type ClickHouseCluster struct {
	name  string
	nodes [][]*ClickHouse // [shard][replica]
	zk    *ZooKeeper
}

// StartClickHouseCluster starts ZooKeeper and then every node, and waits
// until each answers.
func StartClickHouseCluster(ctx context.Context, cfg ClickHouseClusterConfig) (c *ClickHouseCluster, err error) {
	if cfg.Shards == 0 {
		cfg.Shards = 2
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 2
	}
	if cfg.Name == "" {
		cfg.Name = "pixel"
	}
	if !identPattern(cfg.Name) {
		return nil, fmt.Errorf("cluster name %q must be a plain identifier", cfg.Name)
	}
	if _, err := ClickHouseBinary(); err != nil {
		return nil, err
	}
	c = &ClickHouseCluster{name: cfg.Name}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	if c.zk, err = StartZooKeeper(ctx, filepath.Join(cfg.Dir, "zookeeper"), cfg.Out); err != nil {
		return nil, err
	}
	for s := range cfg.Shards {
		var row []*ClickHouse
		for r := range cfg.Replicas {
			n, err := NewClickHouse(filepath.Join(cfg.Dir, nodeName(s, r)), 0, 0)
			if err != nil {
				return nil, err
			}
			if n.InterserverPort, err = FreePort(); err != nil {
				return nil, err
			}
			row = append(row, n)
		}
		c.nodes = append(c.nodes, row)
	}
	for s, row := range c.nodes {
		for r, n := range row {
			n.Extra = c.nodeConfig(s, r)
			n.Profile = ClusterProfile
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, cfg.Shards*cfg.Replicas)
	for s, row := range c.nodes {
		for r, n := range row {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.Start(ctx); err != nil {
					errs[s*cfg.Replicas+r] = fmt.Errorf("node %s: %w", nodeName(s, r), err)
				}
			}()
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func identPattern(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// nodeName is the {replica} macro and the directory of node (s, r), 0-based.
func nodeName(s, r int) string { return "s" + strconv.Itoa(s+1) + "r" + strconv.Itoa(r+1) }

// nodeConfig is node (s, r)'s cluster configuration.
func (c *ClickHouseCluster) nodeConfig(s, r int) string {
	var b strings.Builder
	b.WriteString("  <macros>\n    <shard>" + strconv.Itoa(s+1) + "</shard>\n    <replica>" + nodeName(s, r) + "</replica>\n    <cluster>" + c.name + "</cluster>\n  </macros>\n")
	b.WriteString("  <remote_servers>\n    <" + c.name + ">\n")
	for _, row := range c.nodes {
		b.WriteString("      <shard>\n        <internal_replication>true</internal_replication>\n")
		for _, n := range row {
			b.WriteString("        <replica><host>127.0.0.1</host><port>" + strconv.Itoa(n.TCPPort) + "</port></replica>\n")
		}
		b.WriteString("      </shard>\n")
	}
	b.WriteString("    </" + c.name + ">\n  </remote_servers>\n")
	// ClickHouse's default session of 30 s: a shorter one risks expiring
	// in the pauses of a loaded machine (a replica is read-only until its
	// new session).
	b.WriteString("  <zookeeper>\n    <node><host>127.0.0.1</host><port>" + strconv.Itoa(c.zk.Port) + "</port></node>\n  </zookeeper>\n")
	b.WriteString("  <distributed_ddl>\n    <path>/clickhouse/task_queue/ddl</path>\n  </distributed_ddl>\n")
	return b.String()
}

// ClusterProfile is what the cluster's nodes add to their default profile.
// distributed_product_mode=local: a subquery over a Distributed table inside
// a query over another (attribution's visitor_id IN (SELECT visitor_id FROM
// events ...)) is refused by default ("double-distributed"); local runs it
// on each shard over the shard's local table, which is exact because every
// sharded table is sharded by visitor (a visitor's rows are on one shard).
// It is a profile setting because 18.16's native protocol carries only
// numeric settings with a query, and this one is a name.
const ClusterProfile = "      <distributed_product_mode>local</distributed_product_mode>\n"

// Name is the cluster's name in remote_servers.
func (c *ClickHouseCluster) Name() string { return c.name }

// Shards is the number of shards.
func (c *ClickHouseCluster) Shards() int { return len(c.nodes) }

// Replicas is the number of replicas of each shard.
func (c *ClickHouseCluster) Replicas() int { return len(c.nodes[0]) }

// Addrs are the nodes' native-protocol addresses, shard-major.
func (c *ClickHouseCluster) Addrs() []string {
	var out []string
	for _, row := range c.nodes {
		for _, n := range row {
			out = append(out, n.Addr())
		}
	}
	return out
}

// Node is replica r of shard s, both 0-based: Stop, Start and Kill it as
// any private server (it keeps its ports, data and configuration).
func (c *ClickHouseCluster) Node(shard, replica int) *ClickHouse { return c.nodes[shard][replica] }

// ZooKeeper is the cluster's ZooKeeper.
func (c *ClickHouseCluster) ZooKeeper() *ZooKeeper { return c.zk }

// Close stops every node, then ZooKeeper.
func (c *ClickHouseCluster) Close() error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, row := range c.nodes {
		for _, n := range row {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.Stop(30 * time.Second); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if c.zk != nil {
		errs = append(errs, c.zk.Close())
	}
	return errors.Join(errs...)
}
