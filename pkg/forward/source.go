package forward

import (
	"context"
	"fmt"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/privacy"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/schemas"
)

// StoreSource is the Source of a running forwarder: the destinations of
// pkg/destination's Store (credentials opened with the key file), the
// pixels of pkg/registry's Store, and the keys of pixel.erasures.
type StoreSource struct {
	conn   chstore.Conn
	dests  *destination.Store
	pixels *registry.Store
}

// NewStoreSource reads from conn; key opens the credentials.
func NewStoreSource(conn chstore.Conn, key *destination.Key) *StoreSource {
	return &StoreSource{conn: conn, dests: destination.NewStore(conn, key), pixels: registry.NewStore(conn)}
}

// Destinations returns every destination (the forwarder runs the active).
func (s *StoreSource) Destinations(ctx context.Context) ([]*destination.Destination, error) {
	return s.dests.List(ctx, "")
}

// Pixels returns the registry.
func (s *StoreSource) Pixels(ctx context.Context) (*registry.Snapshot, error) {
	return s.pixels.Load(ctx)
}

// OptedOut returns a test of the visitors and email hashes that asked to be
// forgotten (pixelctl forget): an event of an erased visitor id, or carrying
// an erased email's hash, is opted out. pixel.erasures records an email by
// its hash only, not the visitor ids it was seen with, so a later event of
// such a visitor without the email is not matched.
func (s *StoreSource) OptedOut(ctx context.Context) (func(*event.Event) bool, error) {
	rows, err := s.conn.Query(ctx, schemas.Internal("erasures_select_keys"))
	if err != nil {
		return nil, fmt.Errorf("cannot read pixel.erasures: %w; has pixelctl migrate run?", err)
	}
	defer rows.Close()
	visitors, emails := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var kind, key string
		if err := rows.Scan(&kind, &key); err != nil {
			return nil, fmt.Errorf("cannot read pixel.erasures: %w", err)
		}
		switch kind {
		case privacy.KindVisitor:
			visitors[key] = true
		case privacy.KindEmail:
			emails[key] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read pixel.erasures: %w", err)
	}
	return optedOut(visitors, emails), nil
}

func optedOut(visitors, emails map[string]bool) func(*event.Event) bool {
	if len(visitors) == 0 && len(emails) == 0 {
		return nil
	}
	return func(e *event.Event) bool {
		if visitors[string(e.VisitorID)] {
			return true
		}
		h := e.Tracking[event.EmailSHA256]
		return len(h) > 0 && emails[string(h)]
	}
}
