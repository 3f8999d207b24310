package collector_test

import (
	"math"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/collector"
)

func TestMaxConnsWithin(t *testing.T) {
	for _, tc := range []struct {
		requested int
		fdLimit   uint64
		want      int
	}{
		{100_000, 20_000, 20_000 - collector.FDReserve}, // the default over this machine's limit
		{100_000, 1 << 20, 100_000},                     // within a large limit
		{20_000 - collector.FDReserve, 20_000, 20_000 - collector.FDReserve},
		{20_000 - collector.FDReserve + 1, 20_000, 20_000 - collector.FDReserve},
		{50, 20_000, 50},
		{0, 20_000, 20_000 - collector.FDReserve}, // no cap of our own: the fd limit's
		{100_000, 1024, 1024 - collector.FDReserve},
		{100_000, 256, 128}, // a tiny limit: half for connections
		{100_000, 3, 2},
		{100_000, 0, 100_000},              // no limit known
		{100_000, math.MaxUint64, 100_000}, // unlimited
		{0, math.MaxUint64, 0},
	} {
		if got := collector.MaxConnsWithin(tc.requested, tc.fdLimit); got != tc.want {
			t.Errorf("MaxConnsWithin(%d, %d) = %d, want %d", tc.requested, tc.fdLimit, got, tc.want)
		}
	}
}
