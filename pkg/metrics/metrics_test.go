package metrics

import (
	"bytes"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func exposition(t *testing.T, s *Set) string {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestWritePrometheus(t *testing.T) {
	s := NewSet()
	accepted := s.Counter("hits_total", "Hits by outcome.", "outcome", "accepted")
	full := s.Counter("hits_total", "Hits by outcome.", "outcome", "queue_full")
	s.Counter("not_found_total", "Unknown paths.")
	depth := s.Gauge("queue_depth", "Messages waiting.")
	s.GaugeFunc("capacity", "Queue capacity.", func() float64 { return 1024 })
	lat := s.Histogram("write_seconds", "Write latency.", []float64{0.1, 1, 10}, "topic", "events")

	accepted.Add(41)
	accepted.Inc()
	full.Inc()
	depth.Set(10)
	depth.Add(-3)
	for _, v := range []float64{0.05, 0.1, 0.5, 1, 5, 100} {
		lat.Observe(v)
	}

	want := `# HELP hits_total Hits by outcome.
# TYPE hits_total counter
hits_total{outcome="accepted"} 42
hits_total{outcome="queue_full"} 1
# HELP not_found_total Unknown paths.
# TYPE not_found_total counter
not_found_total 0
# HELP queue_depth Messages waiting.
# TYPE queue_depth gauge
queue_depth 7
# HELP capacity Queue capacity.
# TYPE capacity gauge
capacity 1024
# HELP write_seconds Write latency.
# TYPE write_seconds histogram
write_seconds_bucket{topic="events",le="0.1"} 2
write_seconds_bucket{topic="events",le="1"} 4
write_seconds_bucket{topic="events",le="10"} 5
write_seconds_bucket{topic="events",le="+Inf"} 6
write_seconds_sum{topic="events"} 106.65
write_seconds_count{topic="events"} 6
`
	if got := exposition(t, s); got != want {
		t.Fatalf("WritePrometheus:\n%s\nwant:\n%s", got, want)
	}
	if lat.Count() != 6 || accepted.Load() != 42 || depth.Load() != 7 {
		t.Fatalf("Count %d, Load %d, %d", lat.Count(), accepted.Load(), depth.Load())
	}
}

func TestHistogramWithoutLabels(t *testing.T) {
	s := NewSet()
	h := s.Histogram("rows", "Rows per batch.", []float64{1, 1000})
	h.Observe(1)
	h.Observe(1e6)
	h.Observe(math.NaN()) // lands in +Inf, never panics
	want := `# HELP rows Rows per batch.
# TYPE rows histogram
rows_bucket{le="1"} 1
rows_bucket{le="1000"} 1
rows_bucket{le="+Inf"} 3
rows_sum NaN
rows_count 3
`
	if got := exposition(t, s); got != want {
		t.Fatalf("WritePrometheus:\n%s\nwant:\n%s", got, want)
	}
}

func TestEmptyHistogram(t *testing.T) {
	s := NewSet()
	s.Histogram("lat", "Latency.", LatencyBuckets)
	got := exposition(t, s)
	if n := strings.Count(got, "lat_bucket{"); n != len(LatencyBuckets)+1 {
		t.Fatalf("%d bucket lines, want %d:\n%s", n, len(LatencyBuckets)+1, got)
	}
	if !strings.Contains(got, `lat_bucket{le="0.0005"} 0`) || !strings.Contains(got, "lat_sum 0\nlat_count 0\n") {
		t.Fatalf("empty histogram:\n%s", got)
	}
}

func TestEscaping(t *testing.T) {
	s := NewSet()
	s.Counter("c_total", "Help with a \\ backslash,\na new line and \"quotes\".", "path", "a\\b\"c\nd\te")
	want := `# HELP c_total Help with a \\ backslash,\na new line and "quotes".
# TYPE c_total counter
c_total{path="a\\b\"c\nd` + "\t" + `e"} 0
`
	if got := exposition(t, s); got != want {
		t.Fatalf("WritePrometheus:\n%s\nwant:\n%s", got, want)
	}
}

func TestRegistrationMistakesPanic(t *testing.T) {
	for name, register := range map[string]func(s *Set){
		"one name, two types": func(s *Set) {
			s.Counter("x", "X.")
			s.Gauge("x", "X.")
		},
		"odd label list": func(s *Set) { s.Counter("y", "Y.", "k") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			register(NewSet())
		})
	}
}

func TestConcurrentUpdates(t *testing.T) {
	s := NewSet()
	c := s.Counter("c_total", "C.")
	g := s.Gauge("g", "G.")
	h := s.Histogram("h", "H.", []float64{1})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc()
				g.Add(1)
				h.Observe(0.5)
			}
		})
	}
	wg.Wait()
	if c.Load() != 8000 || g.Load() != 8000 || h.Count() != 8000 {
		t.Fatalf("counter %d, gauge %d, histogram count %d; want 8000 each", c.Load(), g.Load(), h.Count())
	}
	if got := exposition(t, s); !strings.Contains(got, "h_sum 4000\n") {
		t.Fatalf("histogram sum lost updates:\n%s", got)
	}
}

// Series may join a family while the set is being written (the consumer
// registers a partition's gauge when it first sees the partition); run with
// -race.
func TestRegisterWhileWriting(t *testing.T) {
	s := NewSet()
	s.Gauge("lag", "Lag.", "partition", "0")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 200; i++ {
			s.Gauge("lag", "Lag.", "partition", strconv.Itoa(i)).Set(int64(i))
		}
	}()
	for range 50 {
		_ = exposition(t, s)
	}
	<-done
	if got := exposition(t, s); !strings.Contains(got, `lag{partition="200"} 200`) {
		t.Fatalf("a late series is missing:\n%s", got)
	}
}

func TestRegisterProcess(t *testing.T) {
	s := NewSet()
	s.RegisterProcess()
	got := exposition(t, s)
	for _, name := range []string{"process_start_time_seconds", "process_resident_memory_bytes", "go_goroutines", "go_memstats_heap_inuse_bytes"} {
		if !strings.Contains(got, "# TYPE "+name+" gauge\n"+name+" ") {
			t.Errorf("%s missing:\n%s", name, got)
		}
	}
	if runtime.GOOS == "linux" && RSS() <= 0 {
		t.Errorf("RSS() = %d, want the resident size of this process", RSS())
	}
}

func TestUpdatesDoNotAllocate(t *testing.T) {
	s := NewSet()
	c := s.Counter("c_total", "C.")
	g := s.Gauge("g", "G.")
	h := s.Histogram("h", "H.", LatencyBuckets)
	if n := testing.AllocsPerRun(100, func() {
		c.Inc()
		g.Add(2)
		h.Observe(0.003)
	}); n != 0 {
		t.Fatalf("%v allocations per update, want 0", n)
	}
}
