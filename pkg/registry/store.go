package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/schemas"
)

// Errors of the Store, for errors.Is.
var (
	ErrNotFound = errors.New("no such pixel")
	ErrExists   = errors.New("a pixel with this id exists already")
)

// SecretPrefix starts every server-API secret, so that one found in a log
// or a repository is recognised for what it is.
const SecretPrefix = "pxs_"

// Store reads and writes the registry in ClickHouse (pixel.pixels). Each
// change writes the whole pixel again with a higher version; reads take the
// newest version of each pixel (FINAL).
//
// Two changes of one pixel at the same moment from two processes both
// succeed and the later version wins whole: there is no field-by-field
// merge (ClickHouse has no transactions; pixels change rarely and by hand).
type Store struct {
	conn chstore.Conn
	now  func() time.Time // tests move the clock
}

// NewStore returns a Store on a connection to the pixel database.
func NewStore(conn chstore.Conn) *Store {
	return &Store{conn: conn, now: time.Now}
}

// New is what Create needs to know of a pixel; the rest is chosen for it.
type New struct {
	ID       string // "" for a random id (16 characters of base64url)
	Name     string
	Domains  []string
	TimeZone string         // "" for UTC
	Settings pixel.Settings // pixel.DefaultSettings() unless the owner chose
}

// Create registers a new active pixel and returns it with its server-API
// secret: the only time the secret exists outside its owner's hands (the
// registry keeps its SHA-256 only). A given id that is invalid, reserved
// or taken is refused.
func (s *Store) Create(ctx context.Context, n New) (*Pixel, string, error) {
	id := n.ID
	if id == "" {
		id = NewID()
	}
	secret, hash := newSecret()
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (it panics instead)
	now := s.now().UTC().Truncate(time.Second)
	p := &Pixel{
		ID:         id,
		Name:       n.Name,
		Domains:    n.Domains,
		Status:     StatusActive,
		SecretHash: hash,
		LinkKey:    hex.EncodeToString(key),
		TimeZone:   n.TimeZone,
		Settings:   n.Settings,
		CreatedAt:  now,
		UpdatedAt:  now,
		Version:    uint64(s.now().UnixNano()),
	}
	if err := validate(p); err != nil {
		return nil, "", err
	}
	switch _, err := s.Get(ctx, id); {
	case err == nil:
		return nil, "", fmt.Errorf("pixel %s: %w; choose another id, or change that one with pixelctl pixel update", id, ErrExists)
	case !errors.Is(err, ErrNotFound):
		return nil, "", err
	}
	if err := s.write(ctx, p); err != nil {
		return nil, "", err
	}
	return p, secret, nil
}

// NewID returns a random pixel id: 12 random bytes as 16 characters of
// base64url (96 bits: not guessable, short enough to read out), never
// starting with '-' (ValidID).
func NewID() string {
	b := make([]byte, 12)
	for {
		_, _ = rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}

// newSecret returns a server-API secret and its hex SHA-256.
func newSecret() (secret, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(secret))
	return secret, hex.EncodeToString(sum[:])
}

// Get returns the newest version of pixel id, or an error wrapping
// ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Pixel, error) {
	ps, err := s.query(ctx, schemas.Internal("pixels_select_one"), id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("pixel %q: %w (pixelctl pixel list shows the pixels)", id, ErrNotFound)
	}
	return ps[0], nil
}

// List returns every pixel, disabled ones included, by id.
func (s *Store) List(ctx context.Context) ([]*Pixel, error) {
	return s.query(ctx, schemas.Internal("pixels_select"))
}

// Load returns the registry as a Snapshot, for the collector.
func (s *Store) Load(ctx context.Context) (*Snapshot, error) {
	ps, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return NewSnapshot(ps), nil
}

// Update applies change to the newest version of pixel id and writes the
// result as the next version. change may edit Name, Domains, TimeZone,
// Settings and Status; the id, the secret's hash, the link key and the
// creation time stay what they were. The result is validated as Create
// validates a new pixel.
func (s *Store) Update(ctx context.Context, id string, change func(p *Pixel) error) (*Pixel, error) {
	return s.update(ctx, id, change, "")
}

// update is Update, and with secretHash set replaces the secret's hash.
func (s *Store) update(ctx context.Context, id string, change func(p *Pixel) error, secretHash string) (*Pixel, error) {
	old, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	p := *old
	p.Domains = append([]string(nil), old.Domains...)
	if err := change(&p); err != nil {
		return nil, err
	}
	p.ID, p.SecretHash, p.LinkKey, p.CreatedAt = old.ID, old.SecretHash, old.LinkKey, old.CreatedAt
	if secretHash != "" {
		p.SecretHash = secretHash
	}
	if err := validate(&p); err != nil {
		return nil, err
	}
	p.UpdatedAt = s.now().UTC().Truncate(time.Second)
	// The clock orders versions written by different processes; +1 keeps
	// them increasing when a clock went back.
	p.Version = max(old.Version+1, uint64(s.now().UnixNano()))
	if err := s.write(ctx, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Disable stops pixel id from recording hits (they are still answered,
// and counted as disabled_pixel by the collector).
func (s *Store) Disable(ctx context.Context, id string) (*Pixel, error) {
	return s.Update(ctx, id, func(p *Pixel) error { p.Status = StatusDisabled; return nil })
}

// Enable lets a disabled pixel record hits again.
func (s *Store) Enable(ctx context.Context, id string) (*Pixel, error) {
	return s.Update(ctx, id, func(p *Pixel) error { p.Status = StatusActive; return nil })
}

// RotateSecret gives pixel id a new server-API secret and returns it: the
// old one stops working at the collector's next refresh. The link key is
// kept, so signed links stay valid.
func (s *Store) RotateSecret(ctx context.Context, id string) (*Pixel, string, error) {
	secret, hash := newSecret()
	p, err := s.update(ctx, id, func(*Pixel) error { return nil }, hash)
	if err != nil {
		return nil, "", err
	}
	return p, secret, nil
}

func (s *Store) write(ctx context.Context, p *Pixel) error {
	batch, err := s.conn.PrepareBatch(ctx, schemas.Internal("pixels_insert"))
	if err != nil {
		return fmt.Errorf("cannot write pixel %s: %w; has pixelctl migrate run?", p.ID, err)
	}
	domains := p.Domains
	if domains == nil {
		domains = []string{}
	}
	err = batch.Append(p.ID, p.Name, domains, p.Status, p.SecretHash, p.LinkKey, p.TimeZone,
		uint32(p.Settings.EngagementSeconds), p.Settings.Consent.String(), p.Settings.IP.String(),
		p.Settings.GPC.String(), p.Settings.DNT.String(), p.CreatedAt, p.UpdatedAt, p.Version)
	if err == nil {
		err = batch.Send()
	} else {
		_ = batch.Abort()
	}
	if err != nil {
		return fmt.Errorf("cannot write pixel %s: %w", p.ID, err)
	}
	return nil
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]*Pixel, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the registry (pixels): %w; has pixelctl migrate run?", err)
	}
	defer rows.Close()
	var out []*Pixel
	for rows.Next() {
		var (
			p                     Pixel
			engagement            uint32
			consent, ip, gpc, dnt string
		)
		if err := rows.Scan(&p.ID, &p.Name, &p.Domains, &p.Status, &p.SecretHash, &p.LinkKey, &p.TimeZone,
			&engagement, &consent, &ip, &gpc, &dnt, &p.CreatedAt, &p.UpdatedAt, &p.Version); err != nil {
			return nil, fmt.Errorf("cannot read the registry (pixels): %w", err)
		}
		p.Settings.EngagementSeconds = int(engagement)
		if err := parseModes(&p.Settings, consent, ip, gpc, dnt); err != nil {
			return nil, fmt.Errorf("registry: pixel %s: %w", p.ID, err)
		}
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		out = append(out, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the registry (pixels): %w", err)
	}
	return out, nil
}

// parseModes reads the settings' modes from their names.
func parseModes(s *pixel.Settings, consent, ip, gpc, dnt string) (err error) {
	if s.Consent, err = pixel.ParseConsentMode(consent); err != nil {
		return err
	}
	if s.IP, err = pixel.ParseIPMode(ip); err != nil {
		return err
	}
	if s.GPC, err = pixel.ParseSignalMode(gpc); err != nil {
		return err
	}
	s.DNT, err = pixel.ParseSignalMode(dnt)
	return err
}
