package destination_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/destination"
)

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "destination.key")
	if _, err := destination.LoadKey(path); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), destination.KeyFileEnv) {
		t.Errorf("LoadKey of a missing file: %v, want ErrNotExist and how to make one", err)
	}
	k1, err := destination.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	text, _ := os.ReadFile(path)
	if len(strings.TrimSpace(string(text))) != 64 {
		t.Errorf("key file %q: want 64 hex digits", text)
	}
	// The file is what both load: what one seals the other opens.
	k2, err := destination.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k3, err := destination.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed := k1.Seal([]byte("secret"), []byte("d1"))
	for i, k := range []*destination.Key{k2, k3} {
		if plain, err := k.Open(sealed, []byte("d1")); err != nil || string(plain) != "secret" {
			t.Errorf("key %d reloaded: %q, %v", i+2, plain, err)
		}
	}
	// No temporary file is left beside it.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("directory holds %d files, want the key alone", len(ents))
	}
	if _, err := destination.LoadOrCreateKey(filepath.Join(t.TempDir(), "missing", "key")); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("a key in a missing directory: %v", err)
	}
	if _, err := destination.LoadOrCreateKey(""); !errors.Is(err, destination.ErrNoKey) {
		t.Errorf("no path: %v, want ErrNoKey", err)
	}
}

func TestLoadKeyRefusesBadFiles(t *testing.T) {
	for _, text := range []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("ab", 16), strings.Repeat("ab", 33)} {
		path := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := destination.LoadKey(path); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
			t.Errorf("key file %q: %v, want a refusal", text, err)
		}
		if _, err := destination.LoadOrCreateKey(path); err == nil {
			t.Errorf("LoadOrCreateKey replaced or accepted the bad file %q", text)
		}
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("  "+strings.Repeat("0f", 32)+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := destination.LoadKey(path); err != nil {
		t.Errorf("white space around the hex: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	k := destination.NewKey()
	if got := k.Seal(nil, []byte("d1")); got != "" {
		t.Errorf("empty plain sealed to %q, want \"\"", got)
	}
	if plain, err := k.Open("", []byte("d1")); plain != nil || err != nil {
		t.Errorf("Open(\"\") = %q, %v", plain, err)
	}
	a, b := k.Seal([]byte("token"), []byte("d1")), k.Seal([]byte("token"), []byte("d1"))
	if a == b {
		t.Error("two seals of one text are equal: the nonce is not random")
	}
	if !strings.HasPrefix(a, "v1:") || strings.ContainsAny(a[3:], "+/=") || strings.Contains(a, "token") {
		t.Errorf("sealed %q: want v1: and base64url, no plain text", a)
	}
	if plain, err := k.Open(a, []byte("d1")); err != nil || string(plain) != "token" {
		t.Errorf("Open = %q, %v", plain, err)
	}
	flip := []byte(a)
	flip[len(flip)-2] ^= 1
	for name, tc := range map[string]struct {
		key    *destination.Key
		sealed string
		aad    string
	}{
		"another destination": {k, a, "d2"},
		"another key":         {destination.NewKey(), a, "d1"},
		"altered":             {k, string(flip), "d1"},
		"no prefix":           {k, a[3:], "d1"},
		"v2":                  {k, "v2:" + a[3:], "d1"},
		"not base64":          {k, "v1:***", "d1"},
		"too short":           {k, "v1:AAAA", "d1"},
		"prefix alone":        {k, "v1:", "d1"},
	} {
		if plain, err := tc.key.Open(tc.sealed, []byte(tc.aad)); !errors.Is(err, destination.ErrSealed) || plain != nil {
			t.Errorf("%s: Open = %q, %v; want ErrSealed", name, plain, err)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v %s", k, k, k, k); strings.Count(s, "redacted") != 4 {
		t.Errorf("a printed key shows %q", s)
	}
}

// FuzzOpen: Open parses text read from ClickHouse, which whoever can write
// there controls; it never panics, and refuses all it cannot open with
// ErrSealed. What Seal wrote opens for its aad only.
func FuzzOpen(f *testing.F) {
	k := destination.NewKey()
	f.Add(k.Seal([]byte(`{"access_token":"x"}`), []byte("d1")), []byte("d1"))
	f.Add("", []byte("d1"))
	f.Add("v1:", []byte(""))
	f.Add("v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", []byte("d1"))
	f.Add("v1:====", []byte("d1"))
	f.Fuzz(func(t *testing.T, sealed string, aad []byte) {
		plain, err := k.Open(sealed, aad)
		if err != nil && (!errors.Is(err, destination.ErrSealed) || plain != nil) {
			t.Fatalf("Open(%q) = %q, %v; want ErrSealed and nothing", sealed, plain, err)
		}
		if err == nil && sealed != "" {
			// Only Seal's outputs open; the seeds hold one.
			if again, err := k.Open(k.Seal(plain, aad), aad); err != nil || !bytes.Equal(again, plain) {
				t.Fatalf("resealed: %q, %v", again, err)
			}
		}
		// Any text and aad as plain text round-trip, and do not open for
		// another aad.
		s := k.Seal([]byte(sealed), aad)
		got, err := k.Open(s, aad)
		if err != nil || string(got) != sealed {
			t.Fatalf("round trip of %q: %q, %v", sealed, got, err)
		}
		if sealed != "" {
			if _, err := k.Open(s, append([]byte("x"), aad...)); !errors.Is(err, destination.ErrSealed) {
				t.Fatalf("opened for another aad: %v", err)
			}
		}
	})
}

// FuzzParseSettings: the settings column is stored text too; any text is
// refused or read, and what is read writes back to the same settings.
func FuzzParseSettings(f *testing.F) {
	f.Add("meta", `{"dataset_id":"123","base_url":"https://x","version":"v25.0","test_event_code":"T","limited_data_use":true}`)
	f.Add("google", `{"customer_id":"1","conversion_action_id":"2","token_url":"https://t"}`)
	f.Add("webhook", `{"url":"https://h.example/x"}`)
	f.Add("webhook", `null`)
	f.Add("other", `{}`)
	f.Fuzz(func(t *testing.T, kind, text string) {
		d := destination.Destination{Kind: kind}
		if err := destination.ParseSettings(&d, text); err != nil {
			return
		}
		var b []byte
		switch kind {
		case destination.KindMeta:
			b, _ = d.Meta.MarshalJSON()
		case destination.KindGoogle:
			b, _ = d.Google.MarshalJSON()
		case destination.KindWebhook:
			b, _ = d.Webhook.MarshalJSON()
		default:
			t.Fatalf("kind %q was read", kind)
		}
		again := destination.Destination{Kind: kind}
		if err := destination.ParseSettings(&again, string(b)); err != nil || again.Meta != d.Meta || again.Google != d.Google || again.Webhook != d.Webhook {
			t.Fatalf("settings %s read back as %+v, %v", b, again, err)
		}
	})
}
