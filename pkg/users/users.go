// Package users keeps the web console's accounts in ClickHouse: who may sign
// in, with which role, their argon2id password hashes, and the API tokens
// that scripts use instead of a password. pixelctl user and the console's
// user pages are its two front ends.
package users

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The roles: an admin changes pixels, spend and users; a viewer reads.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// MinPasswordLength is the shortest password Create and SetPassword take.
const MinPasswordLength = 12

// MaxPasswordLength bounds what is hashed, so that a huge body cannot make
// a sign-in expensive.
const MaxPasswordLength = 1024

// Errors of the Store, for errors.Is.
var (
	ErrNotFound = errors.New("no such user")
	ErrExists   = errors.New("a user with this name exists already")
	// ErrBadCredentials is every failed sign-in alike: unknown user, wrong
	// password, disabled user, malformed, unknown or revoked token. Telling
	// them apart would tell an attacker which names exist.
	ErrBadCredentials = errors.New("wrong name or password, or the account is disabled")
	// ErrInvalid marks input a person can fix (a name, a role, a password,
	// a token label, a disabled account asked for a token), for errors.Is:
	// a front end answers it as the user's mistake (400), anything else as
	// its own failure.
	ErrInvalid = errors.New("invalid account input")
)

// User is one account in its newest version.
type User struct {
	Name      string
	Role      string
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   uint64
}

// IsAdmin says whether u may change things.
func (u *User) IsAdmin() bool { return u != nil && u.Role == RoleAdmin && !u.Disabled }

// Token is an API token without its secret (which only its creator saw).
type Token struct {
	ID        string
	User      string
	Label     string
	CreatedAt time.Time
	Revoked   bool
}

// NormalizeName lower-cases name and checks it: 1 to 64 characters of
// a-z, 0-9 and . _ @ - (an e-mail address fits).
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || len(n) > 64 {
		return "", invalidf("user name %q: want 1 to 64 characters of a-z, 0-9 and . _ @ -", name)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			return "", invalidf("user name %q: character %q is not allowed; want 1 to 64 characters of a-z, 0-9 and . _ @ -", name, c)
		}
	}
	return n, nil
}

// ValidRole checks that role is admin or viewer.
func ValidRole(role string) error {
	if role != RoleAdmin && role != RoleViewer {
		return invalidf("role %q: want %s or %s", role, RoleAdmin, RoleViewer)
	}
	return nil
}

// ValidPassword checks a new password's length (in characters).
func ValidPassword(password string) error {
	n := len([]rune(password))
	if n < MinPasswordLength {
		return invalidf("the password has %d characters; it needs at least %d (pixelctl user password NAME without -password-stdin generates one)", n, MinPasswordLength)
	}
	if len(password) > MaxPasswordLength {
		return invalidf("the password is longer than %d bytes", MaxPasswordLength)
	}
	return nil
}

// invalidError is a validation error: its message stays the reason alone.
type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

func invalidf(format string, a ...any) error { return invalidError{fmt.Errorf(format, a...)} }
