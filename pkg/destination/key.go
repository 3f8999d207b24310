package destination

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileFlag and KeyFileEnv name the key file's flag and environment
// variable, the same in pixelctl, the console and the forwarder.
const (
	KeyFileFlag = "destination-key-file"
	KeyFileEnv  = "PIXEL_DESTINATION_KEY_FILE"
)

// sealPrefix starts every sealed text: the format's version, so that a
// later format can be told apart from this one.
const sealPrefix = "v1:"

// ErrSealed marks credentials that do not open with this key: the key file
// is not the one they were sealed with, or the stored text was altered or
// copied from another destination.
var ErrSealed = errors.New("destination credentials do not open with this key")

// Key seals and opens destinations' credentials: 32 random bytes, an
// AES-256-GCM key, kept in a file (hex) that only the forwarder, pixelctl
// and the console read. Whoever reads ClickHouse without the file sees
// sealed text only.
type Key struct {
	aead cipher.AEAD
}

// NewKey returns a new random key (tests; LoadOrCreateKey writes one to a
// file).
func NewKey() *Key {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return newKey(b)
}

func newKey(b []byte) *Key {
	block, err := aes.NewCipher(b)
	if err != nil {
		panic("destination: AES key of " + fmt.Sprint(len(b)) + " bytes") // callers pass 32
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("destination: " + err.Error()) // GCM with the standard nonce size does not fail
	}
	return &Key{aead: aead}
}

// String keeps the key out of logs and error messages that print a Key.
func (k *Key) String() string { return "destination.Key(redacted)" }

// GoString is String for %#v.
func (k *Key) GoString() string { return k.String() }

// LoadKey reads the key file at path: 64 hex digits (white space around
// them is ignored).
func LoadKey(path string) (*Key, error) {
	if path == "" {
		return nil, ErrNoKey
	}
	text, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cannot read the destination key: %w; give the file that pixelctl destination create made (-%s, %s), or let pixelctl destination create make a new one there", err, KeyFileFlag, KeyFileEnv)
		}
		return nil, fmt.Errorf("cannot read the destination key: %w", err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("destination key file %s: want 64 hex digits (32 bytes), as pixelctl destination create writes it; is it the right file?", path)
	}
	return newKey(b), nil
}

// LoadOrCreateKey reads the key file at path, or, when there is none,
// writes a new random key there (mode 0600) and returns it. The directory
// must exist. Two processes creating it at once end with the same key: the
// file appears whole or not at all (written beside it, then linked into
// place, which fails if the other was first).
func LoadOrCreateKey(path string) (*Key, error) {
	if path == "" {
		return nil, ErrNoKey
	}
	k, err := LoadKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".destination-key-*")
	if err != nil {
		return nil, fmt.Errorf("cannot create the destination key file %s: %w; does its directory exist?", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(b) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("cannot write the destination key file %s: %w", path, err)
	}
	// CreateTemp made it 0600 already.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadKey(path) // another process created it first
		}
		return nil, fmt.Errorf("cannot create the destination key file %s: %w", path, err)
	}
	return newKey(b), nil
}

// Seal encrypts plain with AES-256-GCM under a random nonce, with aad as
// associated data (the destination id: a sealed text copied to another
// destination does not open), and returns "v1:" + base64url(nonce ||
// ciphertext). Empty plain seals to "".
func (k *Key) Seal(plain, aad []byte) string {
	if len(plain) == 0 {
		return ""
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := k.aead.Seal(nonce, nonce, plain, aad)
	return sealPrefix + base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts what Seal returned for the same aad; "" opens to nothing.
// Text that is not Seal's, was altered, was sealed with another key or for
// another aad gives an error wrapping ErrSealed.
func (k *Key) Open(sealed string, aad []byte) ([]byte, error) {
	if sealed == "" {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: the stored text does not start with %q (written by a newer version, or not by pixel)", ErrSealed, sealPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: the stored text is not base64url of a nonce and a ciphertext", ErrSealed)
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: wrong key file (-%s, %s), or the text was altered or copied from another destination", ErrSealed, KeyFileFlag, KeyFileEnv)
	}
	return plain, nil
}
