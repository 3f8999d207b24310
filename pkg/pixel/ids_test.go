package pixel

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// checkUUIDv7 checks that id is a canonical UUID version 7 whose timestamp is
// the millisecond of now.
func checkUUIDv7(t *testing.T, id string, now time.Time) {
	t.Helper()
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		t.Fatalf("%q is not a canonical 8-4-4-4-12 UUID", id)
	}
	raw, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || strings.ToLower(id) != id {
		t.Fatalf("%q is not lower-case hex: %v", id, err)
	}
	if v := raw[6] >> 4; v != 7 {
		t.Fatalf("%q has version %d, want 7", id, v)
	}
	if raw[8]>>6 != 0b10 {
		t.Fatalf("%q has variant bits %02b, want 10 (RFC 9562)", id, raw[8]>>6)
	}
	ms := binary.BigEndian.Uint64(append([]byte{0, 0}, raw[:6]...))
	if int64(ms) != now.UnixMilli() {
		t.Fatalf("%q embeds unix ms %d, want %d", id, ms, now.UnixMilli())
	}
}

func TestAppendNewEventID(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	seen := map[string]bool{}
	for range 1000 {
		id := AppendNewEventID([]byte("prefix:"), now)
		if !strings.HasPrefix(string(id), "prefix:") {
			t.Fatalf("AppendNewEventID must append to dst: %q", id)
		}
		s := string(id[len("prefix:"):])
		checkUUIDv7(t, s, now)
		if seen[s] {
			t.Fatalf("%q generated twice", s)
		}
		seen[s] = true
	}
	// Ids sort by time across milliseconds.
	a := string(AppendNewEventID(nil, now))
	b := string(AppendNewEventID(nil, now.Add(time.Millisecond)))
	if a >= b {
		t.Fatalf("id of a later millisecond %q does not sort after %q", b, a)
	}
}

func TestAppendNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := AppendNewID([]byte("x"))
		s := string(id[1:])
		if len(s) != VisitorIDLen {
			t.Fatalf("%q has %d characters, want %d", s, len(s), VisitorIDLen)
		}
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) != 16 {
			t.Fatalf("%q is not 16 bytes of unpadded base64url: %v", s, err)
		}
		if !ValidCookieID([]byte(s)) {
			t.Fatalf("ValidCookieID rejects the generated %q", s)
		}
		if seen[s] {
			t.Fatalf("%q generated twice", s)
		}
		seen[s] = true
	}
}

// TestUUIDText checks the UUID text against encoding/hex.
func TestUUIDText(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var raw [16]byte
		binary.BigEndian.PutUint64(raw[:8], r.Uint64())
		binary.BigEndian.PutUint64(raw[8:], r.Uint64())
		h := hex.EncodeToString(raw[:])
		if got, want := string(appendUUID(nil, &raw)), h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:]; got != want {
			t.Fatalf("appendUUID(%x) = %s, want %s", raw, got, want)
		}
	}
}

func TestValidCookieID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{visitorID, true},
		{sessionID, true},
		{"AAAAAAAAAAAAAAAAAAAAAA", true},  // 128 zero bits
		{"_____________________w", true},  // 128 one bits
		{"-_v7-_v7-_v7-_v7-_v7-w", true},  // - and _ as base64url digits
		{"AAECAwQFBgcICQoLDA0ODw", true},  // 00 01 02 ... 0f
		{"AAAAAAAAAAAAAAAAAAAAAQ", true},  // last character 16
		{"AAAAAAAAAAAAAAAAAAAAAg", true},  // 32
		{"AAAAAAAAAAAAAAAAAAAAAB", false}, // 1: a bit beyond the 128
		{"AAAAAAAAAAAAAAAAAAAAAP", false}, // 15
		{"AAAAAAAAAAAAAAAAAAAAA_", false}, // 63
		{"Zm9vYmFyYmF6cXV4cXV1eB", false}, // a second spelling of visitorID
		{"", false},
		{"abcdefgh", false}, // ids of other tools, or chosen by a client
		{"ABCD-_09", false},
		{strings.Repeat("z", 64), false},
		{visitorID[:21], false},           // truncated
		{visitorID + "A", false},          // 23 characters
		{visitorID + "==", false},         // padded
		{"Zm9vYmFyYmF6cXV4cXV1+A", false}, // standard base64, not base64url
		{"Zm9vYmFyYmF6cXV4cXV1/A", false},
		{"Zm9vYmFyYmF6cXV4cXV1.A", false},
		{"Zm9vYmFyYmF6cXV4cXV1 A", false},
		{"Zm9vYmFyYmF6cXV4cXV1\nA", false},
		{"Zm9vYmFyYmF6cXV4cXV1\x00A", false},
		{"Zm9vYmFyYmF6cXV4cXV1é", false}, // 22 bytes, not 22 characters
		{`"m9vYmFyYmF6cXV4cXV1eA`, false},
	} {
		if got := ValidCookieID([]byte(tc.id)); got != tc.want {
			t.Errorf("ValidCookieID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// TestValidCookieIDIsCanonicalBase64 checks ValidCookieID against
// encoding/base64 for every last character: an id is valid exactly when it
// decodes strictly to 16 bytes that encode back to the same text.
func TestValidCookieIDIsCanonicalBase64(t *testing.T) {
	for c := range 256 {
		id := append([]byte(visitorID[:VisitorIDLen-1]), byte(c))
		if got, want := ValidCookieID(id), canonicalID(string(id)); got != want {
			t.Errorf("ValidCookieID(%q) = %v, encoding/base64 says %v", id, got, want)
		}
	}
}

// canonicalID is ValidCookieID by way of encoding/base64.
func canonicalID(s string) bool {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(raw) == 16 && base64.RawURLEncoding.EncodeToString(raw) == s
}
