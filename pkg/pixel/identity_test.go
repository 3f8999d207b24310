package pixel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// Hashes of the normalised forms, computed with `printf '%s' FORM | sha256sum`.
const (
	hashJohnSmith   = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f" // john_smith@gmail.com (Meta's documented example)
	hashJaneDot     = "831f6494ad6be4fcb3a724c3d5fef22d3ceffa3c62ef3a7984e45a0ea177f982" // jane.doe@gmail.com
	hashJane        = "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69" // janedoe@gmail.com (Google's documented normalisation)
	hashUserGmail   = "b7821fcf987f87d1b1ebea1bdbe5b2cda97ce6b69c4b5fd2d987801948848b35" // user@googlemail.com
	hashFoo         = "81c5235aac465c12218b4d69a89db46b02047dd6b875227de667306108934fb9" // f.o.o@example.com
	hashEmile       = "f3025033d29698fad9d22c25c701908edf40459e4cbe85649edb4e0fd8c3a3d0" // émile@exemple.fr
	hashPhoneUS     = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176" // 16505551212
	hashPhoneUSPlus = "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8" // +16505551212
	hashPhoneFR     = "8a3e7886c9335e82e02299fa3e87b46e2de3b0c63d56003e30a5029394a47661" // 33612345678
	hashPhoneFRPlus = "42d573cfc315801d4cd8eddd5416b416a0bf298b9b9e12d6b07442c91db42bd8" // +33612345678
)

func TestEmailHashes(t *testing.T) {
	for _, tc := range []struct {
		raw          string
		meta, google string // "" = nothing appended
	}{
		{"john_smith@gmail.com", hashJohnSmith, hashJohnSmith},
		{"  John_Smith@GMAIL.com\n", hashJohnSmith, hashJohnSmith},
		{"\ufeff\u00a0John_Smith@gmail.com\t", hashJohnSmith, hashJohnSmith}, // byte order mark, no-break space
		{"Jane.Doe@gmail.com", hashJaneDot, hashJane},
		{"j.a.n.e.d.o.e@gmail.com", "", hashJane}, // Meta's hash is of the dotted form, checked below
		{"user@GoogleMail.com", hashUserGmail, hashUserGmail},
		{"F.O.O@example.com", hashFoo, hashFoo}, // dots stay outside Google's domains
		{"ÉMILE@exemple.fr", hashEmile, hashEmile},
		{"", "", ""},
		{" \t\r\n ", "", ""},
	} {
		meta := AppendEmailSHA256(nil, []byte(tc.raw))
		google := AppendEmailGoogleSHA256(nil, []byte(tc.raw))
		if tc.meta != "" && string(meta) != tc.meta {
			t.Errorf("AppendEmailSHA256(%q) = %s, want %s", tc.raw, meta, tc.meta)
		}
		if string(google) != tc.google {
			t.Errorf("AppendEmailGoogleSHA256(%q) = %s, want %s", tc.raw, google, tc.google)
		}
		if strings.TrimSpace(tc.raw) == "" && len(meta) != 0 {
			t.Errorf("AppendEmailSHA256(%q) = %s, want nothing", tc.raw, meta)
		}
	}
	if got, want := AppendEmailSHA256(nil, []byte("j.a.n.e.d.o.e@gmail.com")), sha256Hex("j.a.n.e.d.o.e@gmail.com"); string(got) != want {
		t.Errorf("Meta's email hash removed gmail dots: %s, want %s", got, want)
	}
	// A local part without a domain, or an '@' in the local part: the
	// last '@' separates the domain, as in an address.
	if got, want := AppendEmailGoogleSHA256(nil, []byte(`"a@b".c@gmail.com`)), sha256Hex(`"a@b"c@gmail.com`); string(got) != want {
		t.Errorf("quoted local part: %s, want %s", got, want)
	}
	if got, want := AppendEmailGoogleSHA256(nil, []byte("no.at.sign")), sha256Hex("no.at.sign"); string(got) != want {
		t.Errorf("no @: %s, want %s", got, want)
	}
}

func TestPhoneHashes(t *testing.T) {
	for _, tc := range []struct {
		raw          string
		meta, google string
	}{
		{"+1 (650) 555-1212", hashPhoneUS, hashPhoneUSPlus},
		{"1-650-555-1212", hashPhoneUS, hashPhoneUSPlus},
		{"+16505551212", hashPhoneUS, hashPhoneUSPlus},
		{"001 650 555 1212", hashPhoneUS, hashPhoneUSPlus}, // 00: the international prefix
		{"+33 6 12-34-56-78", hashPhoneFR, hashPhoneFRPlus},
		{"0033612345678", hashPhoneFR, hashPhoneFRPlus},
		{"33.6.12.34.56.78", hashPhoneFR, hashPhoneFRPlus},
		{"", "", ""},
		{"  ", "", ""},
		{"call me", "", ""},
		{"+", "", ""},
	} {
		if got := AppendPhoneSHA256(nil, []byte(tc.raw)); string(got) != tc.meta {
			t.Errorf("AppendPhoneSHA256(%q) = %s, want %s", tc.raw, got, tc.meta)
		}
		if got := AppendPhoneGoogleSHA256(nil, []byte(tc.raw)); string(got) != tc.google {
			t.Errorf("AppendPhoneGoogleSHA256(%q) = %s, want %s", tc.raw, got, tc.google)
		}
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	for name, f := range identityFuncs {
		dst := f([]byte("prefix:"), []byte("+1 650 555 1212 a@b.example"))
		if !bytes.HasPrefix(dst, []byte("prefix:")) || !IsSHA256Hex(dst[len("prefix:"):]) {
			t.Errorf("%s: %q", name, dst)
		}
	}
}

// TestNoRawCopyLeft checks that the raw identifier's normalised copy,
// written into dst's spare capacity, is wiped once hashed.
func TestNoRawCopyLeft(t *testing.T) {
	for name, f := range identityFuncs {
		buf := make([]byte, 0, 256)
		out := f(buf, []byte("someone.longer.than.a.hash@gmail.com +33 6 12 34 56 78 and more text after it"))
		spare := out[len(out):cap(out)]
		for _, b := range spare {
			if b != 0 {
				t.Fatalf("%s left bytes after the hash: %q", name, bytes.TrimRight(spare, "\x00"))
			}
		}
	}
}

func TestIsSHA256Hex(t *testing.T) {
	for _, tc := range []struct {
		in          string
		lower, fold bool
	}{
		{hashJohnSmith, true, true},
		{strings.ToUpper(hashJohnSmith), false, true},
		{hashJohnSmith[:63], false, false},
		{hashJohnSmith + "0", false, false},
		{hashJohnSmith[:63] + "g", false, false},
		{"", false, false},
		{"john_smith@gmail.com", false, false},
	} {
		if got := IsSHA256Hex([]byte(tc.in)); got != tc.lower {
			t.Errorf("IsSHA256Hex(%q) = %v", tc.in, got)
		}
		got, ok := AppendLowerSHA256Hex([]byte("x"), []byte(tc.in))
		if ok != tc.fold || ok && string(got) != "x"+strings.ToLower(tc.in) || !ok && string(got) != "x" {
			t.Errorf("AppendLowerSHA256Hex(%q) = %q, %v", tc.in, got, ok)
		}
	}
}

func TestIdentityAllocations(t *testing.T) {
	raws := [][]byte{[]byte(" John.Smith@GMail.com "), []byte("+1 (650) 555-1212"), []byte("ÉMILE@exemple.fr")}
	buf := make([]byte, 0, 512)
	for name, f := range identityFuncs {
		n := testing.AllocsPerRun(100, func() {
			for _, raw := range raws {
				buf = f(buf[:0], raw)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
	hashed := []byte(strings.ToUpper(hashJohnSmith))
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendLowerSHA256Hex(buf[:0], hashed) }); n != 0 {
		t.Errorf("AppendLowerSHA256Hex: %v allocations", n)
	}
}

var identityFuncs = map[string]func(dst, raw []byte) []byte{
	"AppendEmailSHA256":       AppendEmailSHA256,
	"AppendEmailGoogleSHA256": AppendEmailGoogleSHA256,
	"AppendPhoneSHA256":       AppendPhoneSHA256,
	"AppendPhoneGoogleSHA256": AppendPhoneGoogleSHA256,
}

// FuzzIdentity: never a panic; the output is a lower-case hex SHA-256 or
// nothing, nothing exactly when the input normalises to nothing; and
// normalising is idempotent, so a hash of an already normalised identifier
// (the tag's, another system's) equals ours.
func FuzzIdentity(f *testing.F) {
	for _, s := range []string{"", " ", "John_Smith@gmail.com", "j.a.n.e@googlemail.com", "+1 (650) 555-1212", "0033 6", "\xff\xfe@GMAIL.COM", "İ@K.example", "a@b@gmail.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, google := range []bool{false, true} {
			norm := appendEmail(nil, []byte(raw), google)
			if again := appendEmail(nil, norm, google); !bytes.Equal(again, norm) {
				t.Fatalf("email normalisation (google %v) not idempotent: %q -> %q -> %q", google, raw, norm, again)
			}
		}
		digits := appendPhoneDigits(nil, []byte(raw))
		if again := appendPhoneDigits(nil, digits); len(digits) >= 2 && !bytes.HasPrefix(digits, []byte("00")) && !bytes.Equal(again, digits) {
			t.Fatalf("phone normalisation not idempotent: %q -> %q -> %q", raw, digits, again)
		}
		for name, fn := range identityFuncs {
			out := fn([]byte("p"), []byte(raw))
			if len(out) == 1 {
				var empty bool
				switch name {
				case "AppendEmailSHA256", "AppendEmailGoogleSHA256":
					empty = len(bytes.TrimFunc([]byte(raw), isSpace)) == 0
				default:
					empty = len(digits) == 0
				}
				if !empty {
					t.Fatalf("%s(%q) appended nothing", name, raw)
				}
				continue
			}
			if out[0] != 'p' || !IsSHA256Hex(out[1:]) {
				t.Fatalf("%s(%q) = %q", name, raw, out)
			}
		}
	})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
