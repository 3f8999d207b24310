package registry_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/registry"
)

var linkPixel = &registry.Pixel{ID: "demo", LinkKey: strings.Repeat("0f", 32)}

func TestSignLink(t *testing.T) {
	dest := "https://shop.example/sale?utm_source=news&utm_campaign=xmas#top"
	link, err := registry.SignLink(linkPixel, "https://collector.example/", dest)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || u.Host != "collector.example" || u.Path != "/r" {
		t.Fatalf("link %q", link)
	}
	q := u.Query()
	key, _ := hex.DecodeString(linkPixel.LinkKey)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(dest))
	full := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	if q.Get("id") != "demo" || q.Get("u") != dest || q.Get("s") != full[:registry.LinkSigLen] {
		t.Fatalf("link %q: id %q u %q s %q, want s %q", link, q.Get("id"), q.Get("u"), q.Get("s"), full[:22])
	}
	for _, sig := range []string{full, full[:22]} {
		if !registry.VerifyLink(linkPixel, []byte(dest), []byte(sig)) {
			t.Errorf("VerifyLink refuses %q", sig)
		}
	}
	other := &registry.Pixel{ID: "demo", LinkKey: strings.Repeat("0e", 32)}
	for _, tc := range []struct {
		p         *registry.Pixel
		dest, sig string
	}{
		{linkPixel, dest + "x", full},
		{linkPixel, dest, full[:21]},
		{linkPixel, dest, full[:23]},
		{linkPixel, dest, ""},
		{linkPixel, dest, strings.ToUpper(full[:22])},
		{other, dest, full},
		{&registry.Pixel{ID: "demo"}, dest, full},
		{&registry.Pixel{ID: "demo", LinkKey: strings.Repeat("zz", 32)}, dest, full},
		{nil, dest, full},
	} {
		if registry.VerifyLink(tc.p, []byte(tc.dest), []byte(tc.sig)) {
			t.Errorf("VerifyLink accepts %+v", tc)
		}
	}
}

func TestSignLinkRefusesHostileDestinations(t *testing.T) {
	for _, dest := range []string{
		"javascript:alert(1)", "data:text/html,x", "//evil.example/", "/local", "https://shop.example@evil.example/",
		"https://", "ftp://shop.example/", "https:\\\\evil.example", "https://shop.example/\r\nSet-Cookie:x", "mailto:a@b", "",
	} {
		if link, err := registry.SignLink(linkPixel, "https://collector.example", dest); err == nil {
			t.Errorf("SignLink(%q) = %q, want a refusal", dest, link)
		}
	}
	for _, c := range []string{"collector.example", "https://collector.example/?x=1", "javascript:x", ""} {
		if _, err := registry.SignLink(linkPixel, c, "https://shop.example/"); err == nil {
			t.Errorf("collector URL %q accepted", c)
		}
	}
}

func TestVerifyLinkAllocatesNothing(t *testing.T) {
	dest := []byte("https://shop.example/sale?utm_source=news")
	link, _ := registry.SignLink(linkPixel, "https://c.example", string(dest))
	u, _ := url.Parse(link)
	sig := []byte(u.Query().Get("s"))
	if n := testing.AllocsPerRun(1000, func() {
		if !registry.VerifyLink(linkPixel, dest, sig) {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("VerifyLink allocates %v times per call", n)
	}
}

func BenchmarkVerifyLink(b *testing.B) {
	dest := []byte("https://shop.example/sale?utm_source=news&utm_medium=email&utm_campaign=xmas")
	link, _ := registry.SignLink(linkPixel, "https://c.example", string(dest))
	u, _ := url.Parse(link)
	sig := []byte(u.Query().Get("s"))
	b.ReportAllocs()
	for b.Loop() {
		registry.VerifyLink(linkPixel, dest, sig)
	}
}

// FuzzVerifyLink: VerifyLink agrees with crypto/hmac for any destination
// and never accepts a signature that is not a prefix of the real one.
func FuzzVerifyLink(f *testing.F) {
	f.Add([]byte("https://shop.example/"), []byte("AAAAAAAAAAAAAAAAAAAAAA"))
	f.Add([]byte(strings.Repeat("x", 3000)), []byte(""))
	key, _ := hex.DecodeString(linkPixel.LinkKey)
	f.Fuzz(func(t *testing.T, dest, sig []byte) {
		mac := hmac.New(sha256.New, key)
		mac.Write(dest)
		full := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		if !registry.VerifyLink(linkPixel, dest, []byte(full)) || !registry.VerifyLink(linkPixel, dest, []byte(full[:22])) {
			t.Fatal("the right signature is refused")
		}
		ok := registry.VerifyLink(linkPixel, dest, sig)
		if want := string(sig) == full || string(sig) == full[:22]; ok != want {
			t.Fatalf("VerifyLink(%q, %q) = %v, want %v", dest, sig, ok, want)
		}
	})
}

// FuzzValidDestination: whatever it accepts is an absolute http(s) URL
// with a host and no user info, as browsers read it too.
func FuzzValidDestination(f *testing.F) {
	for _, s := range []string{"https://shop.example/", "javascript:alert(1)", "//evil", "https://a@b/", "http://[::1]:80/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dest string) {
		if registry.ValidDestination(dest) != nil {
			return
		}
		u, err := url.Parse(dest)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			t.Fatalf("accepted %q", dest)
		}
		if strings.ContainsAny(dest, "\\\r\n\t") || !strings.HasPrefix(strings.ToLower(dest), u.Scheme+"://") {
			t.Fatalf("accepted %q", dest)
		}
	})
}
