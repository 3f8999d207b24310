package users

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/schemas"
)

// Store reads and writes the accounts in ClickHouse (pixel.users and
// pixel.api_tokens). As in pkg/registry, each change writes the whole row
// again with a higher version and reads take the newest version (FINAL);
// two changes at the same moment both succeed and the later one wins whole.
type Store struct {
	conn   chstore.Conn
	now    func() time.Time // tests move the clock
	params Params           // of new hashes, and of the dummy hash
	// hashing holds a slot per argon2id hash under way: each takes
	// params.Memory (64 MiB), so a burst of sign-ins waits for a slot
	// rather than taking a gigabyte.
	hashing chan struct{}
}

// NewStore returns a Store on a connection to the pixel database.
func NewStore(conn chstore.Conn) *Store {
	return &Store{conn: conn, now: time.Now, params: DefaultParams, hashing: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
}

// hashSlot waits for a free hashing slot; the caller runs release after
// its hash.
func (s *Store) hashSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.hashing <- struct{}{}:
		return func() { <-s.hashing }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to hash a password: %w", ctx.Err())
	}
}

// hash is HashPassword with s's parameters, in a hashing slot.
func (s *Store) hash(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(password, s.params), nil
}

// record is a user's row: the User and its password hash.
type record struct {
	User
	hash string
}

// Create adds an enabled account. name is lower-cased; the password needs
// MinPasswordLength characters. A taken name is ErrExists.
func (s *Store) Create(ctx context.Context, name, role, password string) (*User, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	if err := ValidRole(role); err != nil {
		return nil, err
	}
	if err := ValidPassword(password); err != nil {
		return nil, err
	}
	switch _, err := s.get(ctx, n); {
	case err == nil:
		return nil, fmt.Errorf("user %s: %w; choose another name, or change that account with pixelctl user set-role / password", n, ErrExists)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	r := &record{
		User: User{Name: n, Role: role, CreatedAt: now, UpdatedAt: now, Version: uint64(s.now().UnixNano())},
		hash: hash,
	}
	if err := s.write(ctx, r); err != nil {
		return nil, err
	}
	u := r.User
	return &u, nil
}

// Get returns the newest version of account name, or an error wrapping
// ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (*User, error) {
	n, err := lookupName(name)
	if err != nil {
		return nil, err
	}
	r, err := s.get(ctx, n)
	if err != nil {
		return nil, err
	}
	return &r.User, nil
}

// lookupName is NormalizeName for a name looked up: one that is not valid
// cannot exist, so its error wraps ErrNotFound too.
func lookupName(name string) (string, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return n, nil
}

func (s *Store) get(ctx context.Context, name string) (*record, error) {
	rs, err := s.query(ctx, schemas.Internal("users_select_one"), name)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("user %q: %w (pixelctl user list shows the accounts)", name, ErrNotFound)
	}
	return rs[0], nil
}

// List returns every account, disabled ones included, by name.
func (s *Store) List(ctx context.Context) ([]*User, error) {
	rs, err := s.query(ctx, schemas.Internal("users_select"))
	if err != nil {
		return nil, err
	}
	out := make([]*User, len(rs))
	for i, r := range rs {
		out[i] = &r.User
	}
	return out, nil
}

// dummySalt and dummyKey make the hash that an unknown name's password is
// checked against, so that its answer takes as long as a wrong password's.
var (
	dummySalt = []byte("pixel-users-salt")
	dummyKey  = []byte("pixel-users-dummy-hash-32-bytes!")
)

// Authenticate returns the account if password is its password. An unknown
// name, a wrong password and a disabled account are all ErrBadCredentials,
// and each costs one argon2id hash, so that neither the answer nor its time
// tells which names exist.
func (s *Store) Authenticate(ctx context.Context, name, password string) (*User, error) {
	if len(password) > MaxPasswordLength {
		return nil, ErrBadCredentials
	}
	phc := formatPHC(s.params, dummySalt, dummyKey)
	var r *record
	if n, err := NormalizeName(name); err == nil {
		switch r, err = s.get(ctx, n); {
		case err == nil:
			phc = r.hash
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return nil, err
	}
	ok, err := CheckPassword(phc, password)
	release()
	if err != nil { // only a stored hash can be malformed: the dummy is not
		return nil, fmt.Errorf("user %s: the stored password hash is unreadable (%v); set a new password with pixelctl user password", r.Name, err)
	}
	if r == nil || !ok || r.Disabled {
		return nil, ErrBadCredentials
	}
	u := r.User
	return &u, nil
}

// SetPassword gives account name a new password.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if err := ValidPassword(password); err != nil {
		return err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	return s.update(ctx, name, func(r *record) { r.hash = hash })
}

// SetRole makes account name an admin or a viewer.
func (s *Store) SetRole(ctx context.Context, name, role string) error {
	if err := ValidRole(role); err != nil {
		return err
	}
	return s.update(ctx, name, func(r *record) { r.Role = role })
}

// SetDisabled disables account name (it cannot sign in, its tokens stop
// working) or enables it again.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return s.update(ctx, name, func(r *record) { r.Disabled = disabled })
}

// update applies change to the newest version of account name and writes
// the result as the next version.
func (s *Store) update(ctx context.Context, name string, change func(r *record)) error {
	n, err := lookupName(name)
	if err != nil {
		return err
	}
	old, err := s.get(ctx, n)
	if err != nil {
		return err
	}
	r := *old
	change(&r)
	r.UpdatedAt = s.now().UTC().Truncate(time.Second)
	// The clock orders versions written by different processes; +1 keeps
	// them increasing when a clock went back.
	r.Version = max(old.Version+1, uint64(s.now().UnixNano()))
	return s.write(ctx, &r)
}

func (s *Store) write(ctx context.Context, r *record) error {
	batch, err := s.conn.PrepareBatch(ctx, schemas.Internal("users_insert"))
	if err != nil {
		return fmt.Errorf("cannot write user %s: %w; has pixelctl migrate run?", r.Name, err)
	}
	err = batch.Append(r.Name, r.Role, r.hash, boolByte(r.Disabled), r.CreatedAt, r.UpdatedAt, r.Version)
	if err == nil {
		err = batch.Send()
	} else {
		_ = batch.Abort()
	}
	if err != nil {
		return fmt.Errorf("cannot write user %s: %w", r.Name, err)
	}
	return nil
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]*record, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the accounts (users): %w; has pixelctl migrate run?", err)
	}
	defer rows.Close()
	var out []*record
	for rows.Next() {
		var (
			r        record
			disabled uint8
		)
		if err := rows.Scan(&r.Name, &r.Role, &r.hash, &disabled, &r.CreatedAt, &r.UpdatedAt, &r.Version); err != nil {
			return nil, fmt.Errorf("cannot read the accounts (users): %w", err)
		}
		r.Disabled = disabled != 0
		r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the accounts (users): %w", err)
	}
	return out, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
