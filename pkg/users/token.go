package users

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pixel-pipeline/pixel/schemas"
)

// TokenPrefix starts every API token, so that one found in a log or a
// repository is recognised for what it is.
const TokenPrefix = "pxt_"

const (
	tokenAlphabet  = "abcdefghijklmnopqrstuvwxyz234567" // base32, lower case
	tokenIDLen     = 12                                 // 60 bits: unique, and shown in lists
	tokenSecretLen = 32                                 // 160 bits: the part that is secret
	tokenLen       = len(TokenPrefix) + tokenIDLen + 1 + tokenSecretLen
	maxLabelLen    = 100
)

// tokenRecord is a token's row: the Token, its secret's hash and version.
type tokenRecord struct {
	Token
	hash    string
	version uint64
}

// CreateToken makes an API token for account user and returns its secret,
// pxt_ID_SECRET: the only time it exists outside its owner's hands (the
// store keeps its SHA-256 only). label says what it is for.
func (s *Store) CreateToken(ctx context.Context, user, label string) (string, *Token, error) {
	label = strings.TrimSpace(label)
	if err := validLabel(label); err != nil {
		return "", nil, err
	}
	u, err := s.Get(ctx, user)
	if err != nil {
		return "", nil, err
	}
	if u.Disabled {
		return "", nil, invalidf("user %s is disabled: enable it first (pixelctl user enable %s)", u.Name, u.Name)
	}
	id := randomString(tokenIDLen, tokenAlphabet)
	secret := TokenPrefix + id + "_" + randomString(tokenSecretLen, tokenAlphabet)
	r := &tokenRecord{
		Token:   Token{ID: id, User: u.Name, Label: label, CreatedAt: s.now().UTC().Truncate(time.Second)},
		hash:    tokenHash(secret),
		version: uint64(s.now().UnixNano()),
	}
	if err := s.writeToken(ctx, r); err != nil {
		return "", nil, err
	}
	t := r.Token
	return secret, &t, nil
}

func validLabel(label string) error {
	if label == "" || utf8.RuneCountInString(label) > maxLabelLen || !utf8.ValidString(label) {
		return invalidf("token label %q: want 1 to %d characters that say what the token is for", label, maxLabelLen)
	}
	for _, c := range label {
		if unicode.IsControl(c) {
			return invalidf("token label %q: no control characters", label)
		}
	}
	return nil
}

func tokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ParseTokenID returns the id part of a token's secret, or false when
// secret does not have the form pxt_ID_SECRET.
func ParseTokenID(secret string) (string, bool) {
	if len(secret) != tokenLen || !strings.HasPrefix(secret, TokenPrefix) || secret[len(TokenPrefix)+tokenIDLen] != '_' {
		return "", false
	}
	id := secret[len(TokenPrefix) : len(TokenPrefix)+tokenIDLen]
	if !inAlphabet(id) || !inAlphabet(secret[len(TokenPrefix)+tokenIDLen+1:]) {
		return "", false
	}
	return id, true
}

func inAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(tokenAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// CheckToken returns the account whose token secret is. A malformed,
// unknown or revoked token and a token of a disabled account are all
// ErrBadCredentials.
func (s *Store) CheckToken(ctx context.Context, secret string) (*User, error) {
	id, ok := ParseTokenID(secret)
	if !ok {
		return nil, ErrBadCredentials
	}
	r, err := s.getToken(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, ErrBadCredentials
	case err != nil:
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(tokenHash(secret)), []byte(r.hash)) != 1 || r.Revoked {
		return nil, ErrBadCredentials
	}
	u, err := s.Get(ctx, r.User)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, ErrBadCredentials
	case err != nil:
		return nil, err
	}
	if u.Disabled {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// ListTokens returns the tokens of account user, revoked ones included, or
// with user "" every account's, by user and creation time.
func (s *Store) ListTokens(ctx context.Context, user string) ([]*Token, error) {
	var (
		rs  []*tokenRecord
		err error
	)
	if user == "" {
		rs, err = s.queryTokens(ctx, schemas.Internal("api_tokens_select"))
	} else {
		n, nerr := lookupName(user)
		if nerr != nil {
			return nil, nerr
		}
		rs, err = s.queryTokens(ctx, schemas.Internal("api_tokens_select_user"), n)
	}
	if err != nil {
		return nil, err
	}
	out := make([]*Token, len(rs))
	for i, r := range rs {
		out[i] = &r.Token
	}
	return out, nil
}

// RevokeToken stops token id from working, for good. Revoking a revoked
// token changes nothing.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	old, err := s.getToken(ctx, id)
	if err != nil {
		return err
	}
	if old.Revoked {
		return nil
	}
	r := *old
	r.Revoked = true
	r.version = max(old.version+1, uint64(s.now().UnixNano()))
	return s.writeToken(ctx, &r)
}

func (s *Store) getToken(ctx context.Context, id string) (*tokenRecord, error) {
	rs, err := s.queryTokens(ctx, schemas.Internal("api_tokens_select_one"), id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("token %q: %w (pixelctl user token list shows the tokens)", id, ErrNotFound)
	}
	return rs[0], nil
}

func (s *Store) writeToken(ctx context.Context, r *tokenRecord) error {
	batch, err := s.conn.PrepareBatch(ctx, schemas.Internal("api_tokens_insert"))
	if err != nil {
		return fmt.Errorf("cannot write token %s: %w; has pixelctl migrate run?", r.ID, err)
	}
	err = batch.Append(r.ID, r.User, r.Label, r.hash, boolByte(r.Revoked), r.CreatedAt, r.version)
	if err == nil {
		err = batch.Send()
	} else {
		_ = batch.Abort()
	}
	if err != nil {
		return fmt.Errorf("cannot write token %s: %w", r.ID, err)
	}
	return nil
}

func (s *Store) queryTokens(ctx context.Context, sql string, args ...any) ([]*tokenRecord, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the API tokens (api_tokens): %w; has pixelctl migrate run?", err)
	}
	defer rows.Close()
	var out []*tokenRecord
	for rows.Next() {
		var (
			r       tokenRecord
			revoked uint8
		)
		if err := rows.Scan(&r.ID, &r.User, &r.Label, &r.hash, &revoked, &r.CreatedAt, &r.version); err != nil {
			return nil, fmt.Errorf("cannot read the API tokens (api_tokens): %w", err)
		}
		r.Revoked = revoked != 0
		r.CreatedAt = r.CreatedAt.UTC()
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the API tokens (api_tokens): %w", err)
	}
	return out, nil
}
