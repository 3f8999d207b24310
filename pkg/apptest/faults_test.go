package apptest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

// The fault-injection tests: each starts the whole pipeline the way make run
// does, puts it under steady load from the project's own load generator,
// breaks one thing, and ends with the exact set of event ids in ClickHouse
// equal to the set of hits that got a 200 — nothing lost, and no event
// visible twice through the de-duplicating view. They run in parallel: most of
// their time is spent waiting for an outage to end.

const faultRate = 300 // hits per second per test

// broker is the Kafka a fault test runs on.
type broker int

const (
	embedded     broker = iota // devbroker, the stack's own
	apacheShared               // the Apache Kafka broker the tests share (SharedKafka)
	apacheOwn                  // an Apache Kafka broker of the stack's own, for the tests that stop it
)

// faultStack starts a stack for a fault test, on b.
func faultStack(t *testing.T, b broker) (*devstack.Stack, chstore.Conn) {
	t.Helper()
	s := NewStack(t, binDir)
	switch b {
	case apacheShared:
		UseSharedKafka(t, s)
	case apacheOwn:
		UseApacheKafka(s)
	}
	Start(t, s)
	return s, Conn(t, s)
}

// load runs the load generator against s for d, in the background.
func load(t *testing.T, s *devstack.Stack, seed uint64, d time.Duration) (wait func() *loadgen.Result) {
	t.Helper()
	return loadCtx(context.Background(), t, s, seed, d)
}

// loadCtx is load until d passed or ctx is cancelled; a cancelled run is
// not an error.
func loadCtx(ctx context.Context, t *testing.T, s *devstack.Stack, seed uint64, d time.Duration) (wait func() *loadgen.Result) {
	t.Helper()
	return loadTarget(ctx, t, "http://"+s.Cfg.CollectorAddr, faultRate, seed, d)
}

// loadTarget is loadCtx against the collector (or balancer) at target, at
// rate hits per second.
func loadTarget(ctx context.Context, t *testing.T, target string, rate float64, seed uint64, d time.Duration) (wait func() *loadgen.Result) {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Target = target
	cfg.Rate = rate
	cfg.Duration = d
	cfg.Connections = 8
	cfg.Timeout = 3 * time.Second
	cfg.Seed = seed
	cfg.Mix.EventIDs = true
	cfg.Mix.EventIDPrefix = fmt.Sprintf("%s-%d-", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), seed)
	cfg.Mix.MalformedFraction = 0.02
	var res *loadgen.Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = loadgen.Run(ctx, cfg)
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			err = nil
		}
	}()
	return func() *loadgen.Result {
		<-done
		if err != nil {
			t.Fatalf("load generator: %v", err)
		}
		return res
	}
}

// figures are what a fault test reports.
type figures struct {
	sent, answered, uncertain, rows, distinct, duplicates uint64
	drain                                                 time.Duration
}

func (f figures) String() string {
	return fmt.Sprintf("hits sent %d, 200s %d (uncertain %d), rows %d, distinct event_ids %d, raw duplicates %d (0 through events_unique), drained %s after the load",
		f.sent, f.answered, f.uncertain, f.rows, f.distinct, f.duplicates, f.drain.Round(100*time.Millisecond))
}

// checkExactlyOnce waits until ClickHouse holds every event id that got a
// 200, then checks that it holds nothing else (but for uncertain ones: hits
// whose request died in transport, which the collector may have taken) and
// that the de-duplicating view shows each id once.
func checkExactlyOnce(t *testing.T, s *devstack.Stack, conn chstore.Conn, results ...*loadgen.Result) figures {
	t.Helper()
	return checkDelivered(t, func() { waitIdle(t, s) }, conn, results...)
}

// checkDelivered is checkExactlyOnce where settle waits until nothing is
// in flight any more.
func checkDelivered(t *testing.T, settle func(), conn chstore.Conn, results ...*loadgen.Result) figures {
	t.Helper()
	answered, uncertain := map[string]bool{}, map[string]bool{}
	var f figures
	prefixes := map[string]bool{}
	for _, r := range results {
		f.sent += uint64(r.Sent)
		for _, id := range r.EventIDs {
			answered[id] = true
			prefixes[id[:strings.LastIndexByte(id, '-')+1]] = true
		}
		for _, id := range r.UncertainEventIDs {
			uncertain[id] = true
		}
	}
	f.answered, f.uncertain = uint64(len(answered)), uint64(len(uncertain))
	if len(prefixes) == 0 {
		t.Fatal("no hit got a 200")
	}
	var like []string
	for p := range prefixes {
		like = append(like, p+"%")
	}
	start := time.Now()
	ids := func() map[string]bool { return storedIDs(t, conn, like) }
	var got map[string]bool
	for {
		got = ids()
		missing := 0
		for id := range answered {
			if !got[id] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("%d of %d hits that got a 200 are not in ClickHouse after %s", missing, len(answered), time.Since(start).Round(time.Second))
		}
		time.Sleep(250 * time.Millisecond)
	}
	f.drain = time.Since(start)
	// Let anything still in flight (a replay, a duplicate) arrive before
	// counting: the consumer has nothing pending and the spool is empty.
	settle()
	got = ids()
	var extra []string
	for id := range got {
		if !answered[id] && !uncertain[id] {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Fatalf("%d event ids in ClickHouse that no hit got a 200 for, e.g. %v", len(extra), extra[:min(5, len(extra))])
	}
	f.distinct = uint64(len(got))
	f.rows, f.duplicates = countRows(t, conn, like)
	return f
}

// storedIDs returns the distinct event ids in ClickHouse that match any of
// the LIKE patterns.
func storedIDs(t *testing.T, conn chstore.Conn, like []string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for _, l := range like {
		rows, err := conn.Query(context.Background(), "SELECT DISTINCT event_id FROM pixel.events WHERE event_id LIKE ?", l)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got[id] = true
		}
		rows.Close()
	}
	return got
}

// countRows counts the rows whose event ids match the LIKE patterns and the
// duplicates among them, and checks that the de-duplicating view shows each
// id once.
func countRows(t *testing.T, conn chstore.Conn, like []string) (rows, duplicates uint64) {
	t.Helper()
	for _, l := range like {
		var n, distinct, unique uint64
		if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(event_id) FROM pixel.events WHERE event_id LIKE ?", l).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM pixel.events_unique WHERE event_id LIKE ?", l).Scan(&unique); err != nil {
			t.Fatal(err)
		}
		if unique != distinct {
			t.Fatalf("events_unique shows %d rows for %d distinct event ids", unique, distinct)
		}
		rows += n
		duplicates += n - distinct
	}
	return rows, duplicates
}

// waitIdle waits until the collector's spool is empty and the consumer has
// no batch pending and no lag.
func waitIdle(t *testing.T, s *devstack.Stack) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		spooled := metricValue("http://"+s.Cfg.CollectorAdminAddr+"/metrics", "pixel_spool_records")
		pending := metricValue("http://"+s.Cfg.ConsumerAdminAddr+"/metrics", "pixel_consumer_batch_pending")
		lag := metricValue("http://"+s.Cfg.ConsumerAdminAddr+"/metrics", "pixel_consumer_lag")
		if spooled == "0" && pending == "0" && lag == "0" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the pipeline did not settle within a minute")
}

// metricValue reads one series from a Prometheus endpoint ("" when absent).
func metricValue(url, series string) string {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if name, val, ok := strings.Cut(line, " "); ok && name == series {
			return val
		}
	}
	return ""
}

// waitMetric polls series until cond holds for its value.
func waitMetric(t *testing.T, url, series string, cond func(v string) bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := metricValue(url, series)
		if cond(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s is %q after %s", series, url, v, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func positive(v string) bool { return v != "" && v != "0" }

// recovered reports how long after a fault ended the pipeline took to catch
// up: cond is polled until it holds (at most two minutes).
func recovered(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("%s: not caught up after %s", what, time.Since(start).Round(time.Second))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s: caught up %s after the fault ended", what, time.Since(start).Round(100*time.Millisecond))
}

var faultLog sync.Mutex

// report prints a fault test's figures (go test -v shows them; make test
// writes them to run/faults.txt when PIXEL_FAULTS_REPORT names a file).
func report(t *testing.T, f figures) { reportLine(t, f.String()) }

// reportLine prints one line of a fault test's figures, as report does.
func reportLine(t *testing.T, line string) {
	t.Logf("%s: %s", t.Name(), line)
	if path := os.Getenv("PIXEL_FAULTS_REPORT"); path != "" {
		faultLog.Lock()
		defer faultLog.Unlock()
		if fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintf(fh, "%s: %s\n", t.Name(), line)
			fh.Close()
		}
	}
}

func TestFaults(t *testing.T) {
	t.Run("broker stopped 30s", func(t *testing.T) { faultBrokerStopped(t, embedded) })
	t.Run("Apache Kafka: broker stopped 30s", func(t *testing.T) { faultBrokerStopped(t, apacheOwn) })

	t.Run("consumer SIGKILL mid-batch", func(t *testing.T) { faultConsumerKill(t, embedded) })
	t.Run("Apache Kafka: consumer SIGKILL mid-batch", func(t *testing.T) { faultConsumerKill(t, apacheShared) })

	t.Run("ClickHouse stopped 15s", func(t *testing.T) { faultClickHouseStopped(t, embedded) })

	t.Run("collector SIGTERM under load", func(t *testing.T) { faultCollectorStop(t, embedded) })
	t.Run("Apache Kafka: collector SIGTERM under load", func(t *testing.T) { faultCollectorStop(t, apacheShared) })

	t.Run("collector SIGKILL with a full spool", func(t *testing.T) { faultCollectorKillFullSpool(t, embedded) })

	t.Run("spool disk full while the broker is away", faultDiskFull)
	t.Run("broker hung, then collector SIGKILL", faultHungBrokerKill)
	t.Run("collector SIGTERM while the broker hangs", faultHungBrokerStop)

	t.Run("poison messages from kcat", func(t *testing.T) { faultPoison(t, embedded) })
	t.Run("Apache Kafka: poison messages from kcat", func(t *testing.T) { faultPoison(t, apacheShared) })
}

// producePoison writes poison messages and good ones between them straight
// into the topic with kcat, a foreign client. It returns the good event ids
// and the poison payloads.
func producePoison(t *testing.T, s *devstack.Stack) (good, poison []string) {
	t.Helper()
	now := time.Now().Unix()
	poison = []string{
		`this is not JSON`,
		`{"event_id":"p-1","pixel_id":7,"visitor_id":"v","event":"PageView","ts":1,"received_at":1}`,       // wrong type
		`{"event_id":"p-2","pixel_id":"px","visitor_id":"v","event":"PageView","received_at":99999999999}`, // absurd time
		`{"pixel_id":"px","visitor_id":"v","event":"PageView"}`,                                            // no event_id
		`{"event_id":"p-3","pixel_id":"px","visitor_id":"v","event":"Purchase","ts":` + fmt.Sprint(now) + `,"received_at":` + fmt.Sprint(now) + `,"value":1e300}`,
		`[1,2,3]`,
	}
	var lines []string
	for i, p := range poison {
		id := fmt.Sprintf("kcat-good-%d", i)
		good = append(good, id)
		lines = append(lines, fmt.Sprintf(`v-%d|{"event_id":%q,"pixel_id":"px-kcat","visitor_id":"v-%d","event":"Purchase","ts":%d,"received_at":%d,"url":"https://shop.example/","value":9.5,"currency":"EUR","ip":"192.0.2.1","user_agent":"kcat"}`, i, id, i, now, now))
		lines = append(lines, fmt.Sprintf("v-%d|%s", i, p))
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed; `make deps` installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", s.Brokers(), "-t", s.Cfg.Topic, "-P", "-K", "|")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	return good, poison
}

// checkDeadLetters reads the dead-letter topic with kcat and checks that every
// poison payload is there, once, with the error and its origin in headers.
func checkDeadLetters(t *testing.T, s *devstack.Stack, poison []string) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range poison {
		want[p] = true
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "kcat", "-b", s.Brokers(), "-t", s.Cfg.Topic+".dlq", "-C", "-e", "-q",
			"-f", "%h\t%s\n").Output()
		cancel()
		if err != nil {
			t.Fatalf("kcat consume dlq: %v", err)
		}
		seen := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			hdrs, payload, ok := strings.Cut(line, "\t")
			if !ok {
				continue
			}
			for _, h := range []string{"pixel-error=", "pixel-source-topic=" + s.Cfg.Topic, "pixel-source-partition=", "pixel-source-offset="} {
				if !strings.Contains(hdrs, h) {
					t.Fatalf("dead letter %q lacks header %s: %s", payload, h, hdrs)
				}
			}
			seen[payload]++
		}
		complete := true
		for p := range want {
			if seen[p] == 0 {
				complete = false
			}
		}
		if complete {
			for p, n := range seen {
				if !want[p] {
					t.Fatalf("unexpected dead letter %q", p)
				}
				if n != 1 {
					t.Fatalf("dead letter %q is there %d times", p, n)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters %v, want each of %v", seen, poison)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// faultBrokerStopped: the broker is stopped for 30 s under load; the
// collector spools, then replays.
func faultBrokerStopped(t *testing.T, b broker) {
	t.Parallel()
	s, conn := faultStack(t, b)
	wait := load(t, s, 1, 45*time.Second)
	time.Sleep(5 * time.Second)
	if err := s.StopBroker(30 * time.Second); err != nil {
		t.Fatalf("stop broker: %v", err)
	}
	// The collector spools what Kafka cannot take.
	waitMetric(t, "http://"+s.Cfg.CollectorAdminAddr+"/metrics", "pixel_spool_records", positive, 20*time.Second)
	time.Sleep(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StartBroker(ctx); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	recovered(t, "the collector's spool replayed to Kafka", func() bool {
		return metricValue("http://"+s.Cfg.CollectorAdminAddr+"/metrics", "pixel_publish_spooling") == "0"
	})
	res := wait()
	report(t, checkExactlyOnce(t, s, conn, res))
}

// faultConsumerKill: the consumer is SIGKILLed twice while it holds a
// batch fetched and not yet committed.
func faultConsumerKill(t *testing.T, b broker) {
	t.Parallel()
	s, conn := faultStack(t, b)
	wait := load(t, s, 2, 20*time.Second)
	time.Sleep(4 * time.Second)
	for range 2 {
		// Kill while a batch is fetched but not yet inserted and committed.
		waitMetric(t, "http://"+s.Cfg.ConsumerAdminAddr+"/metrics", "pixel_consumer_batch_pending", positive, 20*time.Second)
		s.Consumer.Kill()
		time.Sleep(2 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := s.StartConsumer(ctx); err != nil {
			cancel()
			t.Fatalf("restart consumer: %v", err)
		}
		cancel()
		time.Sleep(3 * time.Second)
	}
	res := wait()
	report(t, checkExactlyOnce(t, s, conn, res))
}

// faultClickHouseStopped: ClickHouse is stopped for 15 s; the consumer
// holds its batch and retries.
func faultClickHouseStopped(t *testing.T, b broker) {
	t.Parallel()
	s, _ := faultStack(t, b)
	wait := load(t, s, 3, 30*time.Second)
	time.Sleep(5 * time.Second)
	if err := s.ClickHouse.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop ClickHouse: %v", err)
	}
	waitMetric(t, "http://"+s.Cfg.ConsumerAdminAddr+"/metrics", "pixel_consumer_insert_errors_total", positive, 20*time.Second)
	time.Sleep(15 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.ClickHouse.Start(ctx); err != nil {
		t.Fatalf("restart ClickHouse: %v", err)
	}
	back := time.Now().Unix()
	recovered(t, "the consumer's held batch inserted", func() bool {
		v, err := strconv.ParseFloat(metricValue("http://"+s.Cfg.ConsumerAdminAddr+"/metrics", "pixel_consumer_last_insert_timestamp_seconds"), 64)
		return err == nil && int64(v) >= back
	})
	res := wait()
	conn := Conn(t, s) // a connection opened before the restart died with the server
	report(t, checkExactlyOnce(t, s, conn, res))
}

// faultCollectorStop: the collector is SIGTERMed under load and started
// again.
func faultCollectorStop(t *testing.T, b broker) {
	t.Parallel()
	s, conn := faultStack(t, b)
	wait := load(t, s, 4, 20*time.Second)
	time.Sleep(5 * time.Second)
	if err := s.Collector.Stop(30 * time.Second); err != nil {
		t.Fatalf("collector did not stop cleanly on SIGTERM: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StartCollector(ctx); err != nil {
		t.Fatalf("restart collector: %v", err)
	}
	res := wait()
	f := checkExactlyOnce(t, s, conn, res)
	// Hits sent while the collector was down failed to connect; none of
	// them, and nothing else without a 200, may be stored.
	if f.distinct != f.answered {
		t.Fatalf("%d event ids stored for %d hits answered 200", f.distinct, f.answered)
	}
	report(t, f)
}

// faultCollectorKillFullSpool: the collector is SIGKILLed while its spool
// holds what Kafka could not take; its successor replays it.
func faultCollectorKillFullSpool(t *testing.T, b broker) {
	t.Parallel()
	s, conn := faultStack(t, b)
	if err := s.Broker.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop broker: %v", err)
	}
	// Kafka is away: everything the collector answers goes to its spool.
	first := load(t, s, 5, 8*time.Second)()
	waitMetric(t, "http://"+s.Cfg.CollectorAdminAddr+"/metrics", "pixel_spool_records", positive, 5*time.Second)
	s.Collector.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StartCollector(ctx); err != nil {
		t.Fatalf("restart collector: %v", err)
	}
	if err := s.StartBroker(ctx); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	recovered(t, "the spool of the killed collector replayed by its successor", func() bool {
		return metricValue("http://"+s.Cfg.CollectorAdminAddr+"/metrics", "pixel_spool_records") == "0"
	})
	second := load(t, s, 6, 8*time.Second)()
	report(t, checkExactlyOnce(t, s, conn, first, second))
}

// faultPoison: kcat writes poison messages between good ones; the poison
// goes to the dead-letter topic, the good ones are stored once.
func faultPoison(t *testing.T, b broker) {
	t.Parallel()
	s, conn := faultStack(t, b)
	wait := load(t, s, 7, 15*time.Second)
	time.Sleep(3 * time.Second)
	good, poison := producePoison(t, s)
	res := wait()
	f := checkExactlyOnce(t, s, conn, res)
	// The good messages kcat wrote around the poison are stored once.
	for _, id := range good {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM pixel.events_unique WHERE event_id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("good message %s stored %d times", id, n)
		}
	}
	checkDeadLetters(t, s, poison)
	report(t, f)
}
