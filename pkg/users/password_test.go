package users_test

import (
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/users"
)

// small keeps these tests quick; the parameters are read back from the
// string either way.
var small = users.Params{Memory: 64, Time: 1, Threads: 1}

func TestHashAndCheckPassword(t *testing.T) {
	h := users.HashPassword(pw, small)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	p, salt, key, err := users.ParsePHC(h)
	if err != nil || p != small || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("ParsePHC(%q) = %+v, %d-byte salt, %d-byte hash, %v", h, p, len(salt), len(key), err)
	}
	if h2 := users.HashPassword(pw, small); h2 == h {
		t.Error("two hashes of one password alike: the salt is not random")
	}
	for _, c := range []struct {
		password string
		want     bool
	}{{pw, true}, {pw + " ", false}, {"", false}, {strings.ToUpper(pw), false}} {
		if ok, err := users.CheckPassword(h, c.password); ok != c.want || err != nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", c.password, ok, err, c.want)
		}
	}
	// A known answer: a stored hash keeps matching its password. (Computed
	// once with golang.org/x/crypto/argon2 v0.58.0, so it guards the
	// encoding and the parameter order rather than argon2 itself; a change
	// here would lock every account out.)
	const known = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$55PWTvddWPUD1GMbKxSff4ASfF85k9ibHJt4HlHQtBM"
	if ok, err := users.CheckPassword(known, "password"); !ok || err != nil {
		t.Errorf("known answer: %v, %v", ok, err)
	}
}

func TestParsePHCRefuses(t *testing.T) {
	good := "$argon2id$v=19$m=65536,t=1,p=2$c29tZXNhbHRzb21lc2FsdA$7CtGrLb4rsaAS/jfiP7so2pEEt876o0syZwIqeiXenI"
	if _, _, _, err := users.ParsePHC(good); err != nil {
		t.Fatalf("%s: %v", good, err)
	}
	for _, bad := range []string{
		"",
		"password",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "$v=19", "", 1),
		strings.Replace(good, "m=65536,t=1,p=2", "t=1,m=65536,p=2", 1),
		strings.Replace(good, "m=65536", "m=065536", 1),
		strings.Replace(good, "m=65536", "m=+65536", 1),
		strings.Replace(good, "m=65536", "m=", 1),
		strings.Replace(good, "m=65536", "m=2097152", 1), // 2 GiB
		strings.Replace(good, "m=65536", "m=15", 1),      // under 8*p
		strings.Replace(good, "t=1", "t=0", 1),
		strings.Replace(good, "t=1", "t=17", 1),
		strings.Replace(good, "p=2", "p=0", 1),
		strings.Replace(good, "p=2", "p=256", 1),
		strings.Replace(good, "p=2", "p=99999999999", 1),
		strings.Replace(good, "p=2", "p=2,k=1", 1),
		strings.Replace(good, "c29tZXNhbHRzb21lc2FsdA", "c29tZXNhbHRzb21lc2FsdA==", 1), // padded
		strings.Replace(good, "c29tZXNhbHRzb21lc2FsdA", "c29tZXNhbHRzb21lc2FsdB", 1),   // stray bits
		strings.Replace(good, "c29tZXNhbHRzb21lc2FsdA", "c29tZQ", 1),                   // 5-byte salt
		strings.Replace(good, "c29tZXNhbHRzb21lc2FsdA", "", 1),
		good[:len(good)-26],                // a 12-byte hash
		good + "$",                         // a seventh field
		strings.ReplaceAll(good, "/", "_"), // base64url, not standard
	} {
		if _, _, _, err := users.ParsePHC(bad); err == nil {
			t.Errorf("ParsePHC(%q) accepted", bad)
		}
		if ok, err := users.CheckPassword(bad, "password"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

// FuzzParsePHC: the parser never panics, what it accepts is within bounds
// and is written back exactly as it was (one spelling per hash).
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=1,p=2$c29tZXNhbHRzb21lc2FsdA$7CtGrLb4rsaAS/jfiP7so2pEEt876o0syZwIqeiXenI")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=8,t=16,p=1$$")
	f.Add("$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := users.ParsePHC(s)
		if err != nil {
			return
		}
		if p.Memory > 1<<20 || p.Memory < 8*uint32(p.Threads) || p.Time < 1 || p.Time > 16 || p.Threads < 1 ||
			len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
			t.Fatalf("ParsePHC(%q) accepted %+v, %d-byte salt, %d-byte hash", s, p, len(salt), len(key))
		}
		if again := users.FormatPHC(p, salt, key); again != s {
			t.Fatalf("ParsePHC(%q) then FormatPHC = %q", s, again)
		}
	})
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 200 {
		p := users.GeneratePassword()
		if len(p) != 20 || strings.Trim(p, users.PasswordAlphabet) != "" || users.ValidPassword(p) != nil {
			t.Fatalf("GeneratePassword() = %q", p)
		}
		for _, c := range "0O1lI" {
			if strings.ContainsRune(p, c) {
				t.Fatalf("GeneratePassword() = %q has the ambiguous %q", p, c)
			}
		}
		if seen[p] {
			t.Fatalf("GeneratePassword() gave %q twice", p)
		}
		seen[p] = true
		for _, c := range p {
			counts[c]++
		}
	}
	// 4000 characters of 56: each appears (the chance that one does not is
	// about 56*e^-71, never).
	if len(counts) != len(users.PasswordAlphabet) {
		t.Errorf("%d of %d characters used in 4000", len(counts), len(users.PasswordAlphabet))
	}
}

func TestParseTokenID(t *testing.T) {
	good := "pxt_abcdefgh2345_" + strings.Repeat("q", 32)
	if id, ok := users.ParseTokenID(good); !ok || id != "abcdefgh2345" {
		t.Errorf("ParseTokenID(%q) = %q, %v", good, id, ok)
	}
	for _, bad := range []string{"", "pxt_", good[1:], good + "q", "pxT" + good[3:], "pxt_abcdefgh2345-" + good[17:],
		"pxt_abcdefgh2341_" + good[17:], "pxt_ABCDEFGH2345_" + good[17:], good[:48] + "8", good[:20] + "é" + good[22:]} {
		if id, ok := users.ParseTokenID(bad); ok {
			t.Errorf("ParseTokenID(%q) = %q, true", bad, id)
		}
	}
}

// BenchmarkCheckPassword is the cost of one sign-in's hash with the
// default parameters (64 MiB, t=1, p=2).
func BenchmarkCheckPassword(b *testing.B) {
	h := users.HashPassword(pw, users.DefaultParams)
	for b.Loop() {
		if ok, err := users.CheckPassword(h, pw); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
