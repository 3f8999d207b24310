package wrk_test

import (
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/bench/wrk"
)

const report = `Running 5s test @ http://127.0.0.1:28079/p.gif?id=demo
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.95ms  604.83us  13.42ms   69.97%
    Req/Sec    68.60k     2.94k   72.68k    82.00%
  Latency Distribution
     50%  840.00us
     75%    1.20ms
     90%    1.70ms
     99%    3.00ms
  340522 requests in 5.00s, 151.33MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  68068.66
Transfer/sec:     30.25MB
`

func TestParse(t *testing.T) {
	r, err := wrk.Parse(report)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 340522 || r.Elapsed != 5*time.Second || r.RequestsPerSec != 68068.66 {
		t.Errorf("requests %d in %s at %v/s", r.Requests, r.Elapsed, r.RequestsPerSec)
	}
	if r.LatencyMean != 950*time.Microsecond || r.LatencyMax != 13420*time.Microsecond {
		t.Errorf("latency mean %s max %s", r.LatencyMean, r.LatencyMax)
	}
	if r.Percentiles[50] != 840*time.Microsecond || r.Percentiles[99] != 3*time.Millisecond {
		t.Errorf("percentiles %v", r.Percentiles)
	}
	if r.SocketErrors != 3 || r.Non2xx != 5 {
		t.Errorf("socket errors %d, non-2xx %d", r.SocketErrors, r.Non2xx)
	}
	if _, err := wrk.Parse("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("a failed run parsed")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"840.00us": 840 * time.Microsecond, "1.20ms": 1200 * time.Microsecond, "3.00s": 3 * time.Second, "2.00m": 2 * time.Minute,
	} {
		if got, err := wrk.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
