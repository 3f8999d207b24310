package gobench_test

import (
	"testing"

	"github.com/pixel-pipeline/pixel/bench/gobench"
)

func TestParse(t *testing.T) {
	res := gobench.Parse(`goos: linux
goarch: amd64
pkg: github.com/pixel-pipeline/pixel/pkg/collector
cpu: AMD EPYC
BenchmarkPixelHandler-2           	  353214	      3400 ns/op	       0 B/op	       0 allocs/op
BenchmarkBareHandler-2            	  903214	      1350 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/pixel-pipeline/pixel/pkg/collector	2.1s
pkg: github.com/pixel-pipeline/pixel/pkg/event
BenchmarkParse-2   	 1000000	      1003 ns/op	 512.50 MB/s	      16 B/op	       1 allocs/op
BenchmarkRun-2   	 10	      1003 ns/op	 12345 req/s	      0 B/op	       0 allocs/op
BenchmarkAppend/rows=10-2   	 500	      99.5 ns/op
--- FAIL: BenchmarkBroken
ok  	github.com/pixel-pipeline/pixel/pkg/event	1.1s
`)
	if len(res) != 5 {
		t.Fatalf("got %d results: %+v", len(res), res)
	}
	if r := res[0]; r.Package != "github.com/pixel-pipeline/pixel/pkg/collector" || r.Name != "BenchmarkPixelHandler" || r.N != 353214 || r.NsPerOp != 3400 || r.AllocsPerOp != 0 {
		t.Errorf("first: %+v", r)
	}
	if r := res[2]; r.Package != "github.com/pixel-pipeline/pixel/pkg/event" || r.MBPerSec != 512.5 || r.BytesPerOp != 16 || r.AllocsPerOp != 1 {
		t.Errorf("third: %+v", r)
	}
	if r := res[3]; r.Extra["req/s"] != 12345 {
		t.Errorf("fourth: %+v", r)
	}
	if r := res[4]; r.Name != "BenchmarkAppend/rows=10" || r.NsPerOp != 99.5 || r.N != 500 {
		t.Errorf("a sub-benchmark: %+v", r)
	}
}
