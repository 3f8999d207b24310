package chstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pixel-pipeline/pixel/schemas"
)

// Version is a ClickHouse release such as 18.16.1 or 24.3.2.23; the fourth
// number (the build) never decides a feature and is not kept.
type Version struct {
	Major, Minor, Patch int
}

// Features that newer servers have and the code uses when they are there.
var (
	// InsertDeduplicationToken is the first release that knows the setting
	// insert_deduplication_token (and non_replicated_deduplication_window,
	// which lets a plain MergeTree use it).
	InsertDeduplicationToken = Version{22, 2, 0}
)

// ParseVersion reads "MAJOR.MINOR[.PATCH[.BUILD]]", as version() returns it
// and as migration files name it ("-- requires: 22.2").
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 || len(parts) > 4 {
		return Version{}, fmt.Errorf("ClickHouse version %q: want MAJOR.MINOR[.PATCH[.BUILD]], e.g. 22.2", s)
	}
	var n [4]int
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 31)
		if err != nil {
			return Version{}, fmt.Errorf("ClickHouse version %q: want MAJOR.MINOR[.PATCH[.BUILD]], e.g. 22.2", s)
		}
		n[i] = int(v)
	}
	return Version{n[0], n[1], n[2]}, nil
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	for _, d := range [...]int{v.Major - w.Major, v.Minor - w.Minor, v.Patch - w.Patch} {
		switch {
		case d < 0:
			return -1
		case d > 0:
			return 1
		}
	}
	return 0
}

// AtLeast reports whether v is w or newer.
func (v Version) AtLeast(w Version) bool { return v.Compare(w) >= 0 }

// IsZero reports whether v is unset.
func (v Version) IsZero() bool { return v == Version{} }

func (v Version) String() string {
	return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Patch)
}

// ServerVersion asks the server for version(). Migrate uses it; the insert
// path reads the version from the connection's handshake instead, which
// costs no round trip.
func ServerVersion(ctx context.Context, conn driver.Conn) (Version, error) {
	var s string
	if err := conn.QueryRow(ctx, schemas.Internal("select_version")).Scan(&s); err != nil {
		return Version{}, fmt.Errorf("cannot read the ClickHouse version: %w", err)
	}
	return ParseVersion(s)
}

// handshakeVersion is the version the server announced when the pooled
// connection was opened.
func handshakeVersion(conn driver.Conn) (Version, error) {
	sv, err := conn.ServerVersion()
	if err != nil {
		return Version{}, err
	}
	return Version{int(sv.Version.Major), int(sv.Version.Minor), int(sv.Version.Patch)}, nil
}
