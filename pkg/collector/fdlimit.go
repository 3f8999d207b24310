package collector

import "math"

// FDReserve is how many file descriptors the collector keeps for everything
// but public connections when it fits -max-conns to the open-file limit
// (MaxConnsWithin). Counted, the rest of the process needs well under a
// hundred: stdin, stdout and stderr (the log) 3; the runtime's poller 2; the
// public and admin listeners 2, plus the connection the accept loop takes
// only to refuse it 1; admin connections (scrapes, pprof) a few; Kafka one
// connection per broker the cluster's metadata names, plus the probe and
// metadata refreshes, some tens for a large cluster; the spool's directory,
// segment being written and segment being replayed 3; DNS look-ups and
// /proc reads for the process metrics, briefly, a few. 256 leaves more than
// twice that, and is 1.3% of a 20 000 limit; it is never more than half the
// limit, so that a tiny limit still leaves room for connections.
const FDReserve = 256

// MaxConnsWithin returns the connection cap to use under fdLimit, the soft
// RLIMIT_NOFILE: requested, or fdLimit less the reserve when that is fewer,
// so that the cap refuses (503, counted) before the process runs out of
// descriptors. requested 0 (no cap of our own) gives the fd-bound cap.
// fdLimit 0 or math.MaxUint64 means none is known, and requested stands.
func MaxConnsWithin(requested int, fdLimit uint64) int {
	if fdLimit == 0 || fdLimit == math.MaxUint64 || fdLimit > math.MaxInt {
		return requested
	}
	limit := int(fdLimit)
	usable := limit - min(FDReserve, limit/2)
	if requested > 0 && requested <= usable {
		return requested
	}
	return usable
}
