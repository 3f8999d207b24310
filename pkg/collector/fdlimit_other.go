//go:build !unix

package collector

// RaiseFDLimit does nothing where there is no RLIMIT_NOFILE and returns 0:
// no known limit.
func RaiseFDLimit() (uint64, error) { return 0, nil }
