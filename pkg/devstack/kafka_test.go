package devstack_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/publish"
)

func startKafka(t *testing.T, cfg devstack.KafkaConfig) *devstack.Kafka {
	t.Helper()
	cfg.Dir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	k, err := devstack.StartKafka(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d Kafka broker(s) ready, topics created, in %s", k.Brokers(), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Error(err)
		}
	})
	return k
}

// Without Maven Central and with an empty Maven cache, KafkaClasspath says
// so. The Maven cache is another user's home (user.home), whose settings
// send every download to a closed loopback port.
func TestKafkaClasspathWithoutMavenCentral(t *testing.T) {
	home := t.TempDir()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	settings := fmt.Sprintf(`<settings><mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf><url>http://127.0.0.1:%d/</url></mirror></mirrors></settings>`, port)
	if err := os.MkdirAll(filepath.Join(home, ".m2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".m2", "settings.xml"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAVEN_OPTS", "-Duser.home="+home)
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // no cached classpath
	_, err = devstack.KafkaClasspath(devstacktest.Context(t))
	if err == nil || !strings.Contains(err.Error(), "Maven Central (repo.maven.apache.org) is unreachable") {
		t.Fatalf("KafkaClasspath without Maven Central: %v", err)
	}
}

// One broker: our publisher writes, the broker stops (gracefully), starts
// again with its data, and still holds every event.
func TestKafkaOneBroker(t *testing.T) {
	k := startKafka(t, devstack.KafkaConfig{Partitions: 2, Topics: []string{"events"}})
	if got, err := k.Leader(devstacktest.Context(t), "events", 1); err != nil || got != 0 {
		t.Fatalf("Leader(events, 1) = %d, %v; want broker 0", got, err)
	}
	if _, err := k.Leader(devstacktest.Context(t), "events", 2); err == nil {
		t.Fatal("Leader(events, 2) of a 2-partition topic: no error")
	}
	p := newPublisher(t, k)
	const n = 500
	for i := range n {
		publishKey(p, i)
	}
	closePublisher(t, p)
	if got := readKeys(t, k, "events"); len(got) != n {
		t.Fatalf("read %d distinct keys back, want %d", len(got), n)
	}
	start := time.Now()
	if err := k.Stop(0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := k.Restart(devstacktest.Context(t), 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(start).Round(time.Millisecond))
	if got := readKeys(t, k, "events"); len(got) != n {
		t.Fatalf("after a restart: read %d distinct keys back, want %d", len(got), n)
	}
}

// Three brokers, replication factor 3, min.insync.replicas 2: our
// publisher writes with acks=all while the leader of partition 0 is killed;
// it keeps going on the new leader, and nothing it was told is acknowledged
// is lost. The killed broker then comes back and catches up.
func TestKafkaThreeBrokersLeaderKilled(t *testing.T) {
	k := startKafka(t, devstack.KafkaConfig{Brokers: 3, Partitions: 2, Topics: []string{"events"}})
	ctx := devstacktest.Context(t)
	leader, err := k.Leader(ctx, "events", 0)
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, k)
	var sent atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			publishKey(p, i)
			sent.Add(1)
		}
	}()
	devstacktest.WaitFor(t, "events sent before the kill", 20*time.Second, func() (bool, string) {
		return sent.Load() >= 300, fmt.Sprint(sent.Load())
	})
	k.Kill(leader)
	killed := time.Now()
	devstacktest.WaitFor(t, "another leader of events/0", 30*time.Second, func() (bool, string) {
		l, err := k.Leader(ctx, "events", 0)
		return err == nil && l != leader, fmt.Sprint(l, err)
	})
	t.Logf("broker %d killed; events/0 led by another after %s", leader, time.Since(killed).Round(time.Millisecond))
	atKill := sent.Load()
	devstacktest.WaitFor(t, "events sent after the kill", 20*time.Second, func() (bool, string) {
		return sent.Load() >= atKill+300, fmt.Sprint(sent.Load())
	})
	start := time.Now()
	if err := k.Restart(ctx, leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d restarted and in sync in %s", leader, time.Since(start).Round(time.Millisecond))
	close(stop)
	<-done
	closePublisher(t, p)
	n := int(sent.Load())
	got := readKeys(t, k, "events")
	for i := range n {
		if !got[strconv.Itoa(i)] {
			t.Fatalf("event %d of %d is missing", i, n)
		}
	}
	if len(got) != n {
		t.Fatalf("read %d distinct keys, want %d", len(got), n)
	}
}

func newPublisher(t *testing.T, k *devstack.Kafka) *publish.Publisher {
	t.Helper()
	var brokers []string
	for i := range k.Brokers() {
		brokers = append(brokers, k.Addr(i))
	}
	p, err := publish.New(publish.Config{Brokers: brokers, Topic: "events", Linger: time.Millisecond, WriteTimeout: 2 * time.Second},
		zerolog.Nop(), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func publishKey(p *publish.Publisher, i int) {
	m := p.Acquire()
	m.Key = strconv.AppendInt(m.Key, int64(i), 10)
	m.Value = append(m.Value, `{"event_id":"`...)
	m.Value = strconv.AppendInt(m.Value, int64(i), 10)
	m.Value = append(m.Value, `"}`...)
	p.Publish(m)
}

func closePublisher(t *testing.T, p *publish.Publisher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("close publisher: %v", err)
	}
}

// readKeys reads every partition of topic to its end and returns the keys.
func readKeys(t *testing.T, k *devstack.Kafka, topic string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	for part := 0; ; part++ {
		leader, err := k.Leader(devstacktest.Context(t), topic, part)
		if err != nil {
			break
		}
		conn, err := kafka.DialLeader(devstacktest.Context(t), "tcp", k.Addr(leader), topic, part)
		if err != nil {
			t.Fatal(err)
		}
		end, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.Addr(leader)}, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
		for off := int64(0); off < end; {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				r.Close()
				t.Fatalf("%s/%d at offset %d of %d: %v", topic, part, off, end, err)
			}
			keys[string(m.Key)] = true
			off = m.Offset + 1
		}
		r.Close()
	}
	return keys
}
