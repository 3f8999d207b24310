//go:build unix

package collector

import (
	"fmt"
	"syscall"
)

// RaiseFDLimit raises the process's soft open-file limit (RLIMIT_NOFILE) to
// its hard limit and returns the soft limit then in effect. Go already
// raises it at start (to one below the hard limit, since Go 1.19); this
// makes the collector's reliance on it explicit and reads the value back.
// Processes the collector starts would inherit the raised limit; it starts
// none. When raising fails the soft limit stays as it was, is returned,
// and so is the error.
func RaiseFDLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("cannot read the open-file limit: %w", err)
	}
	if lim.Cur >= lim.Max {
		return uint64(lim.Cur), nil // int64 on some systems
	}
	soft := uint64(lim.Cur)
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		// macOS, for one, refuses a hard limit of "unlimited" as the soft one.
		return soft, fmt.Errorf("cannot raise the open-file limit from %d to the hard limit %d: %w; raise it before start (ulimit -n, systemd LimitNOFILE=)", soft, lim.Max, err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("cannot read the open-file limit: %w", err)
	}
	return uint64(lim.Cur), nil
}
