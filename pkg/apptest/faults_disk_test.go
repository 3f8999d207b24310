package apptest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

// The fault tests of a bad day on the collector's machine: its disk fills up
// under the spool while Kafka is away, and a broker that hangs (it keeps its
// connections and answers nothing) while the collector is killed. Each ends
// with every hit answered 200 either stored or counted as dropped, exactly.

// faultDiskFull: the spool lives on a 2 MiB tmpfs that fills up, far below
// -spool-max-bytes, while the broker is stopped. While hits can be kept
// neither by Kafka nor by the spool, the collector counts them as dropped
// and /readyz is unready; once the broker is back, the spool is replayed
// (with the disk still full), the collector is ready again, and every hit
// answered after the broker's return is stored.
func faultDiskFull(t *testing.T) {
	t.Parallel()
	dir := devstacktest.MountTmpfs(t, "2m")
	s := NewStack(t, binDir)
	s.Cfg.CollectorArgs = append(s.Cfg.CollectorArgs, "-spool-dir", dir, "-spool-segment-bytes", "262144")
	Start(t, s)
	conn := Conn(t, s)
	metrics := "http://" + s.Cfg.CollectorAdminAddr + "/metrics"
	ready := watchReady(t, "http://"+s.Cfg.CollectorAdminAddr+"/readyz")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	during := loadCtx(ctx, t, s, 11, 3*time.Minute)
	time.Sleep(3 * time.Second)
	if err := s.Broker.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop broker: %v", err)
	}
	// The disk fills; then hits can be kept nowhere.
	ready.waitUnready(t, "no space left on device", 90*time.Second)
	waitMetric(t, metrics, `pixel_publish_dropped_total{reason="spool_error"}`, positive, 30*time.Second)
	time.Sleep(3 * time.Second)
	bctx, bcancel := context.WithTimeout(context.Background(), time.Minute)
	defer bcancel()
	if err := s.StartBroker(bctx); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	back := time.Now()
	cancel()
	first := during()
	// Every hit answered from now on must be stored.
	after := load(t, s, 12, 15*time.Second)
	recovered(t, "the spool replayed with the disk still full", func() bool {
		return metricValue(metrics, "pixel_publish_spooling") == "0"
	})
	second := after()
	ready.waitReady(t, time.Minute)
	unready := ready.stop()

	dropped := metricSum(metrics, `pixel_publish_dropped_total{reason="spool_error"}`, `pixel_publish_dropped_total{reason="spool_full"}`, `pixel_publish_dropped_total{reason="queue_full"}`)
	f := checkStoredOrDropped(t, s, conn, dropped, dropped, first, second)
	f.unready = unready
	f.backAfter = time.Since(back)
	if f.droppedAfter > 0 {
		t.Fatalf("%d hits answered after the broker came back are not stored", f.droppedAfter)
	}
	if unready == 0 {
		t.Fatal("/readyz never turned unready while hits could not be kept")
	}
	report(t, f.figures)
	reportLine(t, fmt.Sprintf("dropped (counted) %d, of them answered after the broker's return 0, /readyz unready for %s", f.dropped, unready.Round(100*time.Millisecond)))
}

// faultHungBrokerKill: the broker is stopped with SIGSTOP (it keeps its
// connections and answers nothing), and a few seconds later the collector is
// SIGKILLed. Only what the collector held in memory and Kafka had not
// acknowledged within -publish-spool-after can be lost: at most the hits of
// that window.
func faultHungBrokerKill(t *testing.T) {
	t.Parallel()
	const bound = 250 * time.Millisecond
	s := NewStack(t, binDir)
	s.Cfg.CollectorArgs = append(s.Cfg.CollectorArgs, "-publish-spool-after", bound.String())
	Start(t, s)
	conn := Conn(t, s)
	metrics := "http://" + s.Cfg.CollectorAdminAddr + "/metrics"

	wait := load(t, s, 13, 25*time.Second)
	time.Sleep(5 * time.Second)
	cont := hangBroker(t, s)
	time.Sleep(3 * time.Second)
	s.Collector.Kill()
	cont()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StartCollector(ctx); err != nil {
		t.Fatalf("restart collector: %v", err)
	}
	res := wait()
	recovered(t, "the spool of the killed collector replayed by its successor", func() bool {
		return metricValue(metrics, "pixel_spool_records") == "0" && metricValue(metrics, "pixel_publish_spooling") == "0"
	})
	// The killed process took its counters along: what is missing is what
	// it held only in memory.
	limit := int(math.Ceil(faultRate * bound.Seconds()))
	f := checkStoredOrDropped(t, s, conn, limit, -1, res)
	if f.missing > limit {
		t.Fatalf("%d answered hits lost in the kill; more than %d/s × %s = %d were held only in memory", f.missing, faultRate, bound, limit)
	}
	report(t, f.figures)
	reportLine(t, fmt.Sprintf("lost in the kill %d (bound %d = %d/s × %s)", f.missing, limit, faultRate, bound))
}

// faultHungBrokerStop: the collector is stopped with SIGTERM while the broker
// hangs. It must exit within -shutdown-timeout — what waits for Kafka is in
// the spool already — and its successor delivers everything: nothing lost.
func faultHungBrokerStop(t *testing.T) {
	t.Parallel()
	const shutdownTimeout = 5 * time.Second
	s := NewStack(t, binDir)
	s.Cfg.CollectorArgs = append(s.Cfg.CollectorArgs, "-shutdown-timeout", shutdownTimeout.String())
	Start(t, s)
	conn := Conn(t, s)

	wait := load(t, s, 14, 20*time.Second)
	time.Sleep(5 * time.Second)
	cont := hangBroker(t, s)
	time.Sleep(time.Second)
	start := time.Now()
	// Stop kills it, and says so, if it is still running 3 s past its own
	// deadline.
	if err := s.Collector.Stop(shutdownTimeout + 3*time.Second); err != nil {
		t.Fatalf("collector SIGTERMed while the broker hangs: %v", err)
	}
	took := time.Since(start)
	cont()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StartCollector(ctx); err != nil {
		t.Fatalf("restart collector: %v", err)
	}
	res := wait()
	f := checkExactlyOnce(t, s, conn, res)
	report(t, f)
	reportLine(t, fmt.Sprintf("stopped in %s with the broker hung (-shutdown-timeout %s)", took.Round(10*time.Millisecond), shutdownTimeout))
}

// hangBroker stops the broker with SIGSTOP — it keeps its connections and
// answers nothing — and waits until the collector spools, which it must
// within -publish-spool-after. The returned function, also run when the test
// ends, resumes the broker.
func hangBroker(t *testing.T, s *devstack.Stack) (resume func()) {
	t.Helper()
	s.Broker.Signal(syscall.SIGSTOP)
	resume = sync.OnceFunc(func() { s.Broker.Signal(syscall.SIGCONT) })
	t.Cleanup(resume)
	waitMetric(t, "http://"+s.Cfg.CollectorAdminAddr+"/metrics", "pixel_publish_spooling", func(v string) bool { return v == "1" }, 10*time.Second)
	return resume
}

// lossFigures are the figures of a fault test where hits may be lost or
// dropped.
type lossFigures struct {
	figures
	missing      int // answered 200, not stored
	dropped      int // counted as dropped by the collector
	droppedAfter int // of the missing, answered in the runs after the first
	unready      time.Duration
	backAfter    time.Duration
}

// checkStoredOrDropped waits until ClickHouse holds every answered hit but at
// most allowed and the pipeline is idle, and checks that nothing else is
// stored. With dropped, the collector's count of dropped events (-1 when its
// counters are gone with it), it checks that the missing ones are accounted
// for exactly: every missing hit was counted as dropped, and every counted
// drop is a missing hit or one of the uncertain ones.
func checkStoredOrDropped(t *testing.T, s *devstack.Stack, conn chstore.Conn, allowed, dropped int, results ...*loadgen.Result) lossFigures {
	t.Helper()
	answered, uncertain := map[string]int{}, map[string]bool{}
	var f lossFigures
	var like []string
	for i, r := range results {
		f.sent += uint64(r.Sent)
		for _, id := range r.EventIDs {
			answered[id] = i
		}
		for _, id := range r.UncertainEventIDs {
			uncertain[id] = true
		}
		if len(r.EventIDs) > 0 {
			id := r.EventIDs[0]
			like = append(like, id[:strings.LastIndexByte(id, '-')+1]+"%")
		}
	}
	f.answered, f.uncertain = uint64(len(answered)), uint64(len(uncertain))
	ids := func() map[string]bool { return storedIDs(t, conn, like) }
	missing := func(got map[string]bool) int {
		n := 0
		for id := range answered {
			if !got[id] {
				n++
			}
		}
		return n
	}
	start := time.Now()
	// More missing than allowed fails below, after three minutes for a
	// slow replay.
	for got := ids(); missing(got) > allowed && time.Since(start) < 3*time.Minute; got = ids() {
		time.Sleep(250 * time.Millisecond)
	}
	waitIdle(t, s)
	f.drain = time.Since(start)
	got := ids()
	for id, run := range answered {
		if !got[id] {
			f.missing++
			if run > 0 {
				f.droppedAfter++
			}
		}
	}
	var extra []string
	for id := range got {
		if _, ok := answered[id]; !ok && !uncertain[id] {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		t.Fatalf("%d event ids in ClickHouse that no hit got a 200 for, e.g. %v", len(extra), extra[:min(5, len(extra))])
	}
	if dropped >= 0 {
		f.dropped = dropped
		uncertainStored := 0
		for id := range uncertain {
			if got[id] {
				uncertainStored++
			}
		}
		if f.missing > f.dropped || f.dropped > f.missing+len(uncertain)-uncertainStored {
			t.Fatalf("%d answered hits not stored, %d counted as dropped (%d uncertain, %d of them stored): every answered hit must be stored or counted", f.missing, f.dropped, len(uncertain), uncertainStored)
		}
	}
	f.distinct = uint64(len(got))
	f.rows, f.duplicates = countRows(t, conn, like)
	return f
}

// metricSum adds up series of one endpoint (absent ones count 0).
func metricSum(url string, series ...string) int {
	sum := 0
	for _, s := range series {
		if v, err := strconv.ParseFloat(metricValue(url, s), 64); err == nil {
			sum += int(v)
		}
	}
	return sum
}

// readyWatch polls a /readyz every 50 ms and adds up how long it was not
// ready.
type readyWatch struct {
	url     string
	mu      sync.Mutex
	unready time.Duration
	since   time.Time // start of the current unready stretch
	body    string    // last unready answer
	done    chan struct{}
	wg      sync.WaitGroup
}

func watchReady(t *testing.T, url string) *readyWatch {
	w := &readyWatch{url: url, done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		client := &http.Client{Timeout: 2 * time.Second}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			resp, err := client.Get(url)
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			now := time.Now()
			w.mu.Lock()
			if resp.StatusCode != http.StatusOK {
				if w.since.IsZero() {
					w.since = now
				}
				w.body = string(b)
			} else if !w.since.IsZero() {
				w.unready += now.Sub(w.since)
				w.since = time.Time{}
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *readyWatch) state() (unready bool, body string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.since.IsZero(), w.body
}

func (w *readyWatch) waitUnready(t *testing.T, reason string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		if u, body := w.state(); u && strings.Contains(body, reason) {
			return
		}
		if time.Now().After(deadline) {
			_, body := w.state()
			t.Fatalf("%s not unready with %q within %s (last unready answer %q)", w.url, reason, within, body)
		}
	}
}

func (w *readyWatch) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		if u, _ := w.state(); !u {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still unready after %s", w.url, within)
		}
	}
}

// stop ends the watch and returns how long the endpoint was unready.
func (w *readyWatch) stop() time.Duration {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.since.IsZero() {
		w.unready += time.Since(w.since)
		w.since = time.Time{}
	}
	return w.unready
}
