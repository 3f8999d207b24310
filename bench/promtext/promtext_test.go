package promtext_test

import (
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/bench/promtext"
)

func TestParse(t *testing.T) {
	s, err := promtext.Parse(strings.NewReader(`# HELP pixel_hits_total Pixel hits by outcome.
# TYPE pixel_hits_total counter
pixel_hits_total{outcome="accepted"} 1234
pixel_hits_total{outcome="queue_full"} 6
process_resident_memory_bytes 2.2073344e+07
pixel_consumer_partition_lag{partition="0"} 3 1700000000000

go_goroutines NaN
# HELP pixel_publish_write_seconds Time to write one batch to Kafka, retries included.
# TYPE pixel_publish_write_seconds histogram
pixel_publish_write_seconds_bucket{topic="events",le="0.001"} 2
pixel_publish_write_seconds_bucket{topic="events",le="+Inf"} 3
pixel_publish_write_seconds_sum{topic="events"} 1.5
pixel_publish_write_seconds_count{topic="events"} 3
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 2.5e-05
go_gc_duration_seconds_sum 0.001
go_gc_duration_seconds_count 40
`))
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		`pixel_hits_total{outcome="accepted"}`:        1234,
		"process_resident_memory_bytes":               22073344,
		`pixel_consumer_partition_lag{partition="0"}`: 3,
		// Histograms and summaries as their lines, labels sorted by name.
		`pixel_publish_write_seconds_bucket{le="0.001",topic="events"}`: 2,
		`pixel_publish_write_seconds_bucket{le="+Inf",topic="events"}`:  3,
		`pixel_publish_write_seconds_sum{topic="events"}`:               1.5,
		`pixel_publish_write_seconds_count{topic="events"}`:             3,
		`go_gc_duration_seconds{quantile="0.5"}`:                        2.5e-05,
		"go_gc_duration_seconds_count":                                  40,
	} {
		if got, ok := s.Get(series); !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", series, got, ok, want)
		}
	}
	if got := s.Sum("pixel_hits_total"); got != 1240 {
		t.Errorf("Sum = %v, want 1240", got)
	}
	if _, ok := s.Get("go_goroutines"); !ok {
		t.Error("NaN sample missing")
	}
	if _, err := promtext.Parse(strings.NewReader("broken_line_without_value\n")); err == nil {
		t.Error("a line without a value parsed")
	}
}
