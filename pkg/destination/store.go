package destination

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/schemas"
)

// Errors of the Store, for errors.Is (and ErrInvalid, ErrSealed).
var (
	ErrNotFound = errors.New("no such destination")
	ErrNoKey    = errors.New("no destination key configured: give the key file with -" + KeyFileFlag + " or " + KeyFileEnv +
		" (pixelctl destination create -" + KeyFileFlag + " PATH makes a new key there when the file does not exist; every program that forwards or edits destinations needs the same file)")
)

// statusDeleted marks a deleted destination's last version. The Store
// never returns it: a deleted destination is not found.
const statusDeleted = "deleted"

// Store reads and writes destinations in ClickHouse (pixel.destinations).
// As the registry's Store, each change writes the whole destination again
// with a higher version and reads take the newest version (FINAL); two
// changes at the same moment both succeed and the later one wins whole.
// Credentials are sealed with the key before they are written and opened
// when read; a Store without a key refuses both with ErrNoKey.
type Store struct {
	conn   chstore.Conn
	key    *Key
	pixels *registry.Store
	now    func() time.Time // tests move the clock
}

// NewStore returns a Store on a connection to the pixel database; key nil
// makes every call fail with ErrNoKey (a console without the key file
// still starts).
func NewStore(conn chstore.Conn, key *Key) *Store {
	return &Store{conn: conn, key: key, pixels: registry.NewStore(conn), now: time.Now}
}

// Create stores a new destination and returns it as stored. ID "" gets a
// random id (registry.NewID), Status "" active. The destination is
// validated (errors wrap ErrInvalid), and its pixel must exist.
func (s *Store) Create(ctx context.Context, d Destination) (*Destination, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	if d.ID == "" {
		d.ID = registry.NewID()
	} else if err := registry.ValidID(d.ID); err != nil {
		return nil, invalid("destination id: %s", strings.TrimPrefix(err.Error(), "pixel id "))
	}
	if d.Status == "" {
		d.Status = StatusActive
	}
	d.Name = strings.TrimSpace(d.Name)
	d.Events = clean(d.Events)
	if err := s.check(&d); err != nil {
		return nil, err
	}
	if _, err := s.pixels.Get(ctx, d.PixelID); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, invalid("no pixel %q: give the id of a registered pixel (pixelctl pixel list)", d.PixelID)
		}
		return nil, err
	}
	old, err := s.newest(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	var version uint64 // a deleted destination's id may be given again: above its versions
	if old != nil {
		if old.d.Status != statusDeleted {
			return nil, invalid("destination %s exists already: choose another id, or leave it out for a random one", d.ID)
		}
		version = old.d.Version
	}
	s.stamp(&d, version)
	d.CreatedAt = d.UpdatedAt
	if err := s.write(ctx, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Get returns destination id with its credentials opened, or an error
// wrapping ErrNotFound (deleted ones too), ErrSealed or ErrNoKey.
func (s *Store) Get(ctx context.Context, id string) (*Destination, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.open(r)
}

// List returns the destinations of a pixel ("" for every pixel's), disabled
// ones included, by pixel id and then name, with their credentials opened.
// A destination whose credentials do not open fails the whole list with
// ErrSealed: a wrong key file fails them all, and forwarding with a part of
// them would be worse than saying so.
func (s *Store) List(ctx context.Context, pixelID string) ([]*Destination, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	var (
		rs  []*row
		err error
	)
	if pixelID == "" {
		rs, err = s.query(ctx, schemas.Internal("destinations_select"))
	} else {
		rs, err = s.query(ctx, schemas.Internal("destinations_select_pixel"), pixelID)
	}
	if err != nil {
		return nil, err
	}
	var out []*Destination
	for _, r := range rs {
		if r.d.Status == statusDeleted {
			continue
		}
		d, err := s.open(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Update applies change to the newest version of destination id and
// writes the result as the next version. change sees the opened
// credentials: leaving them as they were keeps them. The id, the pixel,
// the kind and the creation time cannot change (a change of pixel or kind
// is refused: create another destination). The result is validated as
// Create validates.
func (s *Store) Update(ctx context.Context, id string, change func(d *Destination) error) (*Destination, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	old, err := s.open(r)
	if err != nil {
		return nil, err
	}
	d := *old
	d.Events = append([]string(nil), old.Events...)
	if err := change(&d); err != nil {
		return nil, err
	}
	if d.PixelID != old.PixelID {
		return nil, invalid("destination %s belongs to pixel %s: a destination cannot move to another pixel; create one there", id, old.PixelID)
	}
	if d.Kind != old.Kind {
		return nil, invalid("destination %s is a %s destination: the kind cannot change; create a %s destination instead", id, old.Kind, d.Kind)
	}
	d.ID, d.CreatedAt = old.ID, old.CreatedAt
	d.Name = strings.TrimSpace(d.Name)
	d.Events = clean(d.Events)
	if err := s.check(&d); err != nil {
		return nil, err
	}
	s.stamp(&d, old.Version)
	if err := s.write(ctx, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// SetStatus makes destination id active or disabled (StatusActive,
// StatusDisabled); a disabled destination keeps its settings and
// credentials and forwards nothing.
func (s *Store) SetStatus(ctx context.Context, id, status string) (*Destination, error) {
	return s.Update(ctx, id, func(d *Destination) error { d.Status = status; return nil })
}

// Delete removes destination id: it writes a last version with status
// deleted and without credentials, which Get and List never return.
// Older versions, sealed credentials included, stay in the table until
// ClickHouse merges its parts.
func (s *Store) Delete(ctx context.Context, id string) error {
	if s.key == nil {
		return ErrNoKey
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	d := r.d
	d.Status = statusDeleted
	d.Credentials = Credentials{}
	s.stamp(&d, r.d.Version)
	return s.writeSealed(ctx, &d, r.settings, "")
}

// check validates what a person set, and the credentials against the kind.
func (s *Store) check(d *Destination) error {
	if err := d.Validate(); err != nil {
		return err
	}
	return d.checkCredentials()
}

// stamp sets the time and version of a new version after old.
func (s *Store) stamp(d *Destination, old uint64) {
	now := s.now()
	d.UpdatedAt = now.UTC().Truncate(time.Second)
	// The clock orders versions written by different processes; +1 keeps
	// them increasing when a clock went back.
	d.Version = max(old+1, uint64(now.UnixNano()))
}

// clean returns events without a nil/empty distinction: nil when empty
// (DefaultEvents), a copy otherwise.
func clean(events []string) []string {
	if len(events) == 0 {
		return nil
	}
	return append([]string(nil), events...)
}

// row is a destination as stored: its settings and credentials still in
// their text.
type row struct {
	d        Destination
	settings string
	sealed   string
}

// settings returns the JSON of the kind's settings.
func settings(d *Destination) (string, error) {
	var v any
	switch d.Kind {
	case KindMeta:
		v = d.Meta
	case KindGoogle:
		v = d.Google
	case KindWebhook:
		v = d.Webhook
	default:
		return "", invalid("destination kind %q: use one of %s", d.Kind, strings.Join(Kinds, ", "))
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// parseSettings reads the settings column into the kind's settings.
func parseSettings(d *Destination, text string) error {
	var v any
	switch d.Kind {
	case KindMeta:
		v = &d.Meta
	case KindGoogle:
		v = &d.Google
	case KindWebhook:
		v = &d.Webhook
	default:
		return fmt.Errorf("unknown kind %q (written by a newer version?)", d.Kind)
	}
	return json.Unmarshal([]byte(text), v)
}

// open returns the destination of a row with its credentials opened.
func (s *Store) open(r *row) (*Destination, error) {
	d := r.d
	plain, err := s.key.Open(r.sealed, []byte(d.ID))
	if err != nil {
		return nil, fmt.Errorf("destination %s (%s): %w", d.ID, d.Name, err)
	}
	if len(plain) > 0 {
		if err := json.Unmarshal(plain, &d.Credentials); err != nil {
			return nil, fmt.Errorf("destination %s (%s): %w: the opened credentials are not JSON", d.ID, d.Name, ErrSealed)
		}
	}
	return &d, nil
}

func (s *Store) write(ctx context.Context, d *Destination) error {
	set, err := settings(d)
	if err != nil {
		return err
	}
	sealed := ""
	if d.Credentials != (Credentials{}) {
		plain, err := json.Marshal(d.Credentials)
		if err != nil {
			return fmt.Errorf("cannot write destination %s: %w", d.ID, err)
		}
		sealed = s.key.Seal(plain, []byte(d.ID))
	}
	return s.writeSealed(ctx, d, set, sealed)
}

func (s *Store) writeSealed(ctx context.Context, d *Destination, settings, sealed string) error {
	batch, err := s.conn.PrepareBatch(ctx, schemas.Internal("destinations_insert"))
	if err != nil {
		return fmt.Errorf("cannot write destination %s: %w; has pixelctl migrate run?", d.ID, err)
	}
	events := d.Events
	if events == nil {
		events = []string{}
	}
	err = batch.Append(d.ID, d.PixelID, d.Name, d.Kind, d.Status, events, d.MinValue, settings, sealed,
		d.CreatedAt, d.UpdatedAt, d.Version)
	if err == nil {
		err = batch.Send()
	} else {
		_ = batch.Abort()
	}
	if err != nil {
		return fmt.Errorf("cannot write destination %s: %w", d.ID, err)
	}
	return nil
}

// get returns the stored row of destination id, or ErrNotFound when there
// is none or it is deleted.
func (s *Store) get(ctx context.Context, id string) (*row, error) {
	r, err := s.newest(ctx, id)
	if err != nil {
		return nil, err
	}
	if r == nil || r.d.Status == statusDeleted {
		return nil, fmt.Errorf("destination %q: %w (pixelctl destination list shows the destinations)", id, ErrNotFound)
	}
	return r, nil
}

// newest returns the newest stored version of destination id, deleted or not,
// or nil when there is none.
func (s *Store) newest(ctx context.Context, id string) (*row, error) {
	rs, err := s.query(ctx, schemas.Internal("destinations_select_one"), id)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return rs[0], nil
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]*row, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the destinations: %w; has pixelctl migrate run?", err)
	}
	defer rows.Close()
	var out []*row
	for rows.Next() {
		var r row
		d := &r.d
		if err := rows.Scan(&d.ID, &d.PixelID, &d.Name, &d.Kind, &d.Status, &d.Events, &d.MinValue,
			&r.settings, &r.sealed, &d.CreatedAt, &d.UpdatedAt, &d.Version); err != nil {
			return nil, fmt.Errorf("cannot read the destinations: %w", err)
		}
		d.Events = clean(d.Events)
		d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		if d.Status != statusDeleted {
			if err := parseSettings(d, r.settings); err != nil {
				return nil, fmt.Errorf("cannot read destination %s: its settings: %w", d.ID, err)
			}
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the destinations: %w", err)
	}
	return out, nil
}
