package users_test

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

func newStore(t *testing.T) (*users.Store, chstore.Conn) {
	t.Helper()
	conn := devstacktest.Open(t, devstacktest.Database(t))
	return users.NewStore(conn), conn
}

const pw = "correct horse battery"

func TestUserLifecycle(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, conn := newStore(t)
	now := time.Date(2026, 12, 1, 10, 0, 0, 500, time.UTC)
	users.SetClock(s, func() time.Time { return now })

	u, err := s.Create(ctx, " Ann@Shop.Example ", users.RoleAdmin, pw)
	if err != nil {
		t.Fatal(err)
	}
	want := &users.User{Name: "ann@shop.example", Role: users.RoleAdmin, CreatedAt: now.Truncate(time.Second), UpdatedAt: now.Truncate(time.Second), Version: uint64(now.UnixNano())}
	if !reflect.DeepEqual(u, want) || !u.IsAdmin() {
		t.Errorf("Create = %+v, want %+v", u, want)
	}
	got, err := s.Get(ctx, "ANN@shop.example")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %+v, %v; want %+v", got, err, want)
	}
	// The password is stored as an argon2id PHC string with the default
	// parameters, never as itself.
	hash := queryString(t, conn, "SELECT password_hash FROM users FINAL WHERE name = 'ann@shop.example'")
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=1,p=2$") || strings.Contains(hash, pw) {
		t.Errorf("stored hash %q", hash)
	}

	if _, err := s.Create(ctx, "ann@shop.example", users.RoleViewer, pw); !errors.Is(err, users.ErrExists) {
		t.Errorf("a second ann: %v, want ErrExists", err)
	}
	if _, err := s.Get(ctx, "bob"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Get(bob) = %v, want ErrNotFound", err)
	}
	if _, err := s.Create(ctx, "bob", users.RoleViewer, "another long password"); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "ann@shop.example" || list[1].Name != "bob" || list[1].IsAdmin() {
		t.Errorf("List = %+v", list)
	}

	// Changes write new versions; reads see the newest.
	now = now.Add(time.Hour)
	if err := s.SetRole(ctx, "bob", users.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	b, err := s.Get(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if b.Role != users.RoleAdmin || !b.Disabled || b.IsAdmin() || !b.UpdatedAt.Equal(now.Truncate(time.Second)) || b.CreatedAt.Equal(b.UpdatedAt) {
		t.Errorf("after set-role and disable: %+v", b)
	}
	if err := s.SetDisabled(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Get(ctx, "bob"); b.Disabled || !b.IsAdmin() {
		t.Errorf("after enable: %+v", b)
	}
	if n := devstacktest.QueryUint64(t, conn, "SELECT count() FROM users FINAL"); n != 2 {
		t.Errorf("users FINAL holds %d rows, want 2", n)
	}
	for _, err := range []error{
		s.SetRole(ctx, "carol", users.RoleAdmin),
		s.SetDisabled(ctx, "carol", true),
		s.SetPassword(ctx, "carol", pw),
	} {
		if !errors.Is(err, users.ErrNotFound) {
			t.Errorf("change of an unknown user: %v, want ErrNotFound", err)
		}
	}
	if err := s.SetRole(ctx, "bob", "root"); err == nil || !strings.Contains(err.Error(), "admin or viewer") {
		t.Errorf("role root: %v", err)
	}
}

// A clock that went back still gives a change a higher version.
func TestVersionsIncreaseWhenTheClockGoesBack(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, _ := newStore(t)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	users.SetClock(s, func() time.Time { return now })
	u, err := s.Create(ctx, "ann", users.RoleViewer, pw)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(-time.Hour)
	if err := s.SetRole(ctx, "ann", users.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != u.Version+1 || got.Role != users.RoleAdmin {
		t.Errorf("after a change with the clock an hour back: %+v (created as version %d)", got, u.Version)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, _ := newStore(t)
	if _, err := s.Create(ctx, "ann", users.RoleAdmin, pw); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "dora", users.RoleViewer, pw); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, "dora", true); err != nil {
		t.Fatal(err)
	}
	u, err := s.Authenticate(ctx, "ANN", pw)
	if err != nil || u.Name != "ann" || !u.IsAdmin() {
		t.Fatalf("right password: %+v, %v", u, err)
	}
	for _, c := range []struct{ what, name, password string }{
		{"wrong password", "ann", pw + "!"},
		{"empty password", "ann", ""},
		{"unknown user", "nobody", pw},
		{"invalid name", "no body", pw},
		{"disabled user", "dora", pw},
		{"huge password", "ann", strings.Repeat("x", users.MaxPasswordLength+1)},
	} {
		if u, err := s.Authenticate(ctx, c.name, c.password); err != users.ErrBadCredentials || u != nil {
			t.Errorf("%s: %+v, %v; want ErrBadCredentials", c.what, u, err)
		}
	}

	if err := s.SetPassword(ctx, "ann", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "ann", pw); err != users.ErrBadCredentials {
		t.Errorf("old password after SetPassword: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ann", "a brand new password"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := s.SetPassword(ctx, "ann", "short"); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Errorf("short password: %v", err)
	}
}

// The parameters of a check are the stored hash's, not the Store's: hashes
// made before the defaults changed keep working.
func TestAuthenticateReadsTheStoredParameters(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, conn := newStore(t)
	old := users.Params{Memory: 8 * 1024, Time: 2, Threads: 1}
	users.SetParams(s, old)
	if _, err := s.Create(ctx, "ann", users.RoleViewer, pw); err != nil {
		t.Fatal(err)
	}
	hash := queryString(t, conn, "SELECT password_hash FROM users FINAL WHERE name = 'ann'")
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=8192,t=2,p=1$") {
		t.Fatalf("hash %q was not made with m=8192,t=2,p=1", hash)
	}
	s2 := users.NewStore(conn) // the defaults
	if _, err := s2.Authenticate(ctx, "ann", pw); err != nil {
		t.Errorf("a hash of other parameters: %v", err)
	}
	if _, err := s2.Authenticate(ctx, "ann", "not the password"); err != users.ErrBadCredentials {
		t.Errorf("a wrong password against it: %v", err)
	}
}

// Authenticate does one argon2id hash whether the name exists or not, so
// that its time does not tell. Seen without a clock: argon2id allocates its
// memory parameter (here 32 MiB) on each hash, and nothing else in a
// sign-in comes near that.
func TestAuthenticateHashesForUnknownNames(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, _ := newStore(t)
	p := users.Params{Memory: 32 * 1024, Time: 1, Threads: 1}
	users.SetParams(s, p)
	if _, err := s.Create(ctx, "ann", users.RoleViewer, pw); err != nil {
		t.Fatal(err)
	}
	allocated := func(name string) (uint64, error) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := s.Authenticate(ctx, name, "wrong password!")
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, err
	}
	for _, name := range []string{"ann", "bob", "not a name"} {
		n, err := allocated(name)
		if err != users.ErrBadCredentials {
			t.Errorf("%s: %v, want ErrBadCredentials", name, err)
		}
		if n < uint64(p.Memory)*1024 {
			t.Errorf("%s: a failed sign-in allocated %d bytes: no argon2id hash of %d KiB", name, n, p.Memory)
		}
	}
	_, wrong := s.Authenticate(ctx, "ann", "wrong password!")
	_, unknown := s.Authenticate(ctx, "bob", "wrong password!")
	if wrong.Error() != unknown.Error() {
		t.Errorf("wrong password: %v; unknown user: %v", wrong, unknown)
	}
}

func TestValidation(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, conn := newStore(t)
	for _, c := range []struct {
		what, name, role, password string
		wantErr                    string // "" for success
	}{
		{"plain", "ann", users.RoleViewer, pw, ""},
		{"all allowed characters", "a.b_c@d-e9", users.RoleAdmin, pw, ""},
		{"64 characters", strings.Repeat("x", 64), users.RoleViewer, pw, ""},
		{"12 characters exactly", "twelve", users.RoleViewer, "123456789012", ""},
		{"12 runes, more bytes", "runes", users.RoleViewer, "ééééééééééé1", ""},
		{"empty name", "", users.RoleViewer, pw, "1 to 64 characters"},
		{"blank name", "   ", users.RoleViewer, pw, "1 to 64 characters"},
		{"65 characters", strings.Repeat("x", 65), users.RoleViewer, pw, "1 to 64 characters"},
		{"space", "ann smith", users.RoleViewer, pw, "not allowed"},
		{"slash", "ann/x", users.RoleViewer, pw, "not allowed"},
		{"quote", "ann'", users.RoleViewer, pw, "not allowed"},
		{"non-ASCII", "änn", users.RoleViewer, pw, "not allowed"},
		{"plus", "ann+x", users.RoleViewer, pw, "not allowed"},
		{"no role", "carl", "", pw, "admin or viewer"},
		{"upper-case role", "carl", "Admin", pw, "admin or viewer"},
		{"11 characters", "carl", users.RoleViewer, "12345678901", "at least 12"},
		{"empty password", "carl", users.RoleViewer, "", "at least 12"},
		{"too long password", "carl", users.RoleViewer, strings.Repeat("x", users.MaxPasswordLength+1), "longer than"},
	} {
		_, err := s.Create(ctx, c.name, c.role, c.password)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.what, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: %v, want an error with %q", c.what, err, c.wantErr)
		case c.wantErr != "" && !errors.Is(err, users.ErrInvalid):
			t.Errorf("%s: %v is not ErrInvalid (a front end answers it 500, not 400)", c.what, err)
		}
	}
	for _, label := range []string{"", "a\nb", strings.Repeat("x", 101)} {
		if _, _, err := s.CreateToken(ctx, "ann", label); !errors.Is(err, users.ErrInvalid) {
			t.Errorf("token label %q: %v, want ErrInvalid", label, err)
		}
	}
	if _, err := s.Create(ctx, "ann", users.RoleViewer, pw); errors.Is(err, users.ErrInvalid) || !errors.Is(err, users.ErrExists) {
		t.Errorf("a taken name: %v, want ErrExists and not ErrInvalid", err)
	}
	if n := devstacktest.QueryUint64(t, conn, "SELECT count() FROM users"); n != 5 {
		t.Errorf("%d users written, want the 5 valid ones", n)
	}
}

func TestTokens(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, conn := newStore(t)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	users.SetClock(s, func() time.Time { now = now.Add(time.Second); return now })
	for _, n := range []string{"ann", "bob"} {
		if _, err := s.Create(ctx, n, users.RoleViewer, pw); err != nil {
			t.Fatal(err)
		}
	}
	secret, tok, err := s.CreateToken(ctx, "ANN", " nightly export ")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 49 || !strings.HasPrefix(secret, "pxt_"+tok.ID+"_") || len(tok.ID) != 12 || strings.Trim(secret[4:], "abcdefghijklmnopqrstuvwxyz234567_") != "" {
		t.Errorf("secret %q, id %q: want pxt_ + 12 + _ + 32 characters of lower-case base32", secret, tok.ID)
	}
	if tok.User != "ann" || tok.Label != "nightly export" || tok.Revoked || tok.CreatedAt.IsZero() {
		t.Errorf("token %+v", tok)
	}
	// Only the secret's SHA-256 is stored.
	if n := devstacktest.QueryUint64(t, conn, "SELECT count() FROM api_tokens WHERE secret_sha256 = lower(hex(SHA256(?)))", secret); n != 1 {
		t.Errorf("%d rows hold the secret's hash, want 1", n)
	}
	if n := devstacktest.QueryUint64(t, conn, "SELECT count() FROM api_tokens WHERE position(secret_sha256, ?) > 0 OR position(label, ?) > 0", secret[17:], secret[17:]); n != 0 {
		t.Error("the secret is stored")
	}
	secret2, tok2, err := s.CreateToken(ctx, "ann", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	secretB, tokB, err := s.CreateToken(ctx, "bob", "bob's")
	if err != nil {
		t.Fatal(err)
	}
	if secret2 == secret || tok2.ID == tok.ID {
		t.Error("two tokens alike")
	}

	u, err := s.CheckToken(ctx, secret)
	if err != nil || u.Name != "ann" {
		t.Fatalf("CheckToken = %+v, %v", u, err)
	}
	ids := func(ts []*users.Token) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.ID)
		}
		return strings.Join(s, " ")
	}
	all, err := s.ListTokens(ctx, "")
	if err != nil || ids(all) != tok.ID+" "+tok2.ID+" "+tokB.ID {
		t.Errorf("ListTokens(\"\") = %q, %v", ids(all), err)
	}
	anns, err := s.ListTokens(ctx, "Ann")
	if err != nil || ids(anns) != tok.ID+" "+tok2.ID || !reflect.DeepEqual(anns[0], tok) {
		t.Errorf("ListTokens(ann) = %q %+v, %v", ids(anns), anns, err)
	}

	// Wrong secrets of every shape.
	for _, bad := range []string{
		"", "pxt_", secret[:len(secret)-1], secret + "a", "pxs_" + secret[4:], strings.ToUpper(secret),
		secret[:len(secret)-1] + next(secret[len(secret)-1]), // the right id, a wrong secret
		"pxt_" + strings.Repeat("a", 12) + "_" + secret[17:], // an unknown id
		secret[:16] + "-" + secret[17:], secret[:5] + "!" + secret[6:], "Bearer " + secret,
	} {
		if u, err := s.CheckToken(ctx, bad); err != users.ErrBadCredentials || u != nil {
			t.Errorf("CheckToken(%q) = %+v, %v; want ErrBadCredentials", bad, u, err)
		}
	}

	// Revoked: refused; the others keep working; revoking again is no error.
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckToken(ctx, secret); err != users.ErrBadCredentials {
		t.Errorf("revoked token: %v", err)
	}
	if u, err := s.CheckToken(ctx, secret2); err != nil || u.Name != "ann" {
		t.Errorf("the other token after revoking one: %+v, %v", u, err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := s.RevokeToken(ctx, "aaaaaaaaaaaa"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("revoking an unknown token: %v", err)
	}
	anns, _ = s.ListTokens(ctx, "ann")
	if len(anns) != 2 || !anns[0].Revoked || anns[1].Revoked {
		t.Errorf("after revoking: %+v %+v", anns[0], anns[1])
	}

	// A disabled user's tokens stop working, and work again when enabled.
	if err := s.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckToken(ctx, secretB); err != users.ErrBadCredentials {
		t.Errorf("token of a disabled user: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, "bob", "new"); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("a token for a disabled user: %v", err)
	}
	if err := s.SetDisabled(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	if u, err := s.CheckToken(ctx, secretB); err != nil || u.Name != "bob" {
		t.Errorf("token after enabling: %+v, %v", u, err)
	}

	if _, _, err := s.CreateToken(ctx, "nobody", "x"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("a token for an unknown user: %v", err)
	}
	for _, label := range []string{"", "  ", "tab\there", strings.Repeat("x", 101)} {
		if _, _, err := s.CreateToken(ctx, "ann", label); err == nil {
			t.Errorf("label %q accepted", label)
		}
	}
	if _, _, err := s.CreateToken(ctx, "ann", strings.Repeat("é", 100)); err != nil {
		t.Errorf("a 100-character label: %v", err)
	}
}

// next is the following character of the token alphabet.
func next(c byte) string {
	const a = "abcdefghijklmnopqrstuvwxyz234567"
	return string(a[(strings.IndexByte(a, c)+1)%len(a)])
}

func queryString(t *testing.T, conn chstore.Conn, query string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

// Hashes wait for a slot (each takes 64 MiB): with every slot taken, a
// sign-in waits until its context ends, then fails with the context's error.
func TestAuthenticateWaitsForAHashingSlot(t *testing.T) {
	s, _ := newStore(t)
	release := users.HoldHashSlots(s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// "no body" is no valid name: no query, straight to the hash.
	if _, err := s.Authenticate(ctx, "no body", pw); !errors.Is(err, context.Canceled) {
		t.Errorf("with every slot taken: %v, want context.Canceled", err)
	}
	release()
	if _, err := s.Authenticate(context.Background(), "no body", pw); err != users.ErrBadCredentials {
		t.Errorf("with the slots free again: %v", err)
	}
}

// A name that cannot exist is not found (the console answers 404), and the
// error says why.
func TestLookupOfAnInvalidName(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, _ := newStore(t)
	for _, err := range []error{
		func() error { _, err := s.Get(ctx, "no body"); return err }(),
		s.SetRole(ctx, "no body", users.RoleAdmin),
		s.SetDisabled(ctx, "no body", true),
		s.SetPassword(ctx, "no body", pw),
		func() error { _, err := s.ListTokens(ctx, "no body"); return err }(),
		func() error { _, _, err := s.CreateToken(ctx, "no body", "x"); return err }(),
	} {
		if !errors.Is(err, users.ErrNotFound) || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%v: want ErrNotFound and the reason", err)
		}
	}
}
