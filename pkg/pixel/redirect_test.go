package pixel

import (
	"net/url"
	"strings"
	"testing"
)

func TestCheckRedirect(t *testing.T) {
	for _, tc := range []struct {
		dest string
		host string        // when accepted
		err  *InvalidError // when refused
	}{
		{"https://shop.example/", "shop.example", nil},
		{"https://shop.example", "shop.example", nil},
		{"HTTPS://Shop.Example/Sale?utm_source=news&utm_medium=email#top", "Shop.Example", nil},
		{"http://shop.example:8080/p?q=%20a%2Fb", "shop.example", nil},
		{"https://xn--bcher-kva.example/", "xn--bcher-kva.example", nil},
		{"https://198.51.100.4/", "198.51.100.4", nil},
		{"https://[2001:db8::1]:8443/x", "2001:db8::1", nil},
		{"https://a-b.c-d.example?x", "a-b.c-d.example", nil},
		{"https://shop.example#frag", "shop.example", nil},
		{"https://localhost:3000/", "localhost", nil},

		{"", "", ErrRedirectMissing},
		{"javascript:alert(1)", "", ErrRedirectScheme},
		{"JavaScript:alert(document.cookie)//https://shop.example/", "", ErrRedirectScheme},
		{"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "", ErrRedirectScheme},
		{"vbscript:msgbox(1)", "", ErrRedirectScheme},
		{"//evil.example/", "", ErrRedirectScheme},
		{"/\\evil.example", "", ErrRedirectChar},
		{"https:\\\\evil.example", "", ErrRedirectChar},
		{"https:/\\evil.example", "", ErrRedirectChar},
		{"https://shop.example\\@evil.example", "", ErrRedirectChar},
		{"https:evil.example", "", ErrRedirectScheme},
		{"https:/evil.example", "", ErrRedirectScheme},
		{"ftp://shop.example/", "", ErrRedirectScheme},
		{"/relative/path", "", ErrRedirectScheme},
		{"shop.example/page", "", ErrRedirectScheme},
		{"https://shop.example@evil.example/", "", ErrRedirectUser},
		{"https://user:pass@shop.example/", "", ErrRedirectUser},
		{"https://shop.example:443@evil.example/", "", ErrRedirectUser},
		{"https://evil.example%2F@shop.example", "", ErrRedirectUser},
		{"https://shop.example/@evil.example", "shop.example", nil}, // '@' in the path is harmless
		{" https://evil.example", "", ErrRedirectChar},
		{"https://evil.example /", "", ErrRedirectChar},
		{"https://evil.exa\tmple/", "", ErrRedirectChar},
		{"java\nscript:alert(1)", "", ErrRedirectChar},
		{"https://shop.example/\r\nSet-Cookie: x=1", "", ErrRedirectChar},
		{"https://shop.example/\x00", "", ErrRedirectChar},
		{"https://shop.example/\x7f", "", ErrRedirectChar},
		{"https://bücher.example/", "", ErrRedirectChar},
		{"https://shop.example/\"><script>", "", ErrRedirectChar},
		{"https://evil%2Eexample/", "", ErrRedirectHost},
		{"https://shop.example/%zz", "", ErrRedirectEscape},
		{"https://shop.example/%2", "", ErrRedirectEscape},
		{"https://shop.example/%", "", ErrRedirectEscape},
		{"https:///path", "", ErrRedirectHost},
		{"https://", "", ErrRedirectHost},
		{"https://?q", "", ErrRedirectHost},
		{"https://:443/", "", ErrRedirectHost},
		{"https://shop.example./", "", ErrRedirectHost},
		{"https://shop.example../", "", ErrRedirectHost},
		{"https://.shop.example/", "", ErrRedirectHost},
		{"https://shop..example/", "", ErrRedirectHost},
		{"https://-shop.example/", "", ErrRedirectHost},
		{"https://shop-.example/", "", ErrRedirectHost},
		{"https://shop_x.example/", "", ErrRedirectHost},
		{"https://" + strings.Repeat("a", 64) + ".example/", "", ErrRedirectHost},
		{"https://" + strings.Repeat("a.", 127) + "ex/", "", ErrRedirectHost},
		{"https://0x7f.1/", "", ErrRedirectHost},
		{"https://2130706433/", "", ErrRedirectHost},
		{"https://127.1/", "", ErrRedirectHost},
		{"https://0177.0.0.1/", "", ErrRedirectHost},
		{"https://1.2.3.4.5/", "", ErrRedirectHost},
		{"https://shop.123/", "", ErrRedirectHost},
		{"https://[::1/", "", ErrRedirectHost},
		{"https://[1.2.3.4]/", "", ErrRedirectHost},
		{"https://[fe80::1%25eth0]/", "", ErrRedirectHost},
		{"https://[::1]x/", "", ErrRedirectPort},
		{"https://shop.example:/", "", ErrRedirectPort},
		{"https://shop.example:0/", "", ErrRedirectPort},
		{"https://shop.example:65536/", "", ErrRedirectPort},
		{"https://shop.example:80:80/", "", ErrRedirectPort},
		{"https://shop.example:http/", "", ErrRedirectPort},
		{"https://shop.example:+80/", "", ErrRedirectPort},
	} {
		host, err := CheckRedirect([]byte(tc.dest))
		if tc.err != nil {
			if err != tc.err {
				t.Errorf("CheckRedirect(%q) = %q, %v; want %v", tc.dest, host, err, tc.err)
			}
			continue
		}
		if err != nil || string(host) != tc.host {
			t.Errorf("CheckRedirect(%q) = %q, %v; want %q", tc.dest, host, err, tc.host)
		}
	}
}

// FuzzCheckRedirect: never a panic; a refusal is one of RedirectReasons; an
// accepted destination is, for Go's URL parser too, an http(s) URL without
// user information whose host is the host returned.
func FuzzCheckRedirect(f *testing.F) {
	for _, s := range []string{"https://shop.example/", "https://[::1]:80", "javascript:x", "https://a@b", "https://1.2.3.4", "http://x:1/%41", "https:\\\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dest string) {
		host, err := CheckRedirect([]byte(dest))
		if err != nil {
			ok := false
			for _, r := range RedirectReasons {
				ok = ok || err == r
			}
			if !ok {
				t.Fatalf("CheckRedirect(%q) = %v, not one of RedirectReasons", dest, err)
			}
			return
		}
		u, perr := url.Parse(dest)
		if perr != nil {
			t.Fatalf("CheckRedirect accepted %q, which net/url refuses: %v", dest, perr)
		}
		if s := strings.ToLower(u.Scheme); s != "http" && s != "https" || u.User != nil || u.Opaque != "" {
			t.Fatalf("CheckRedirect accepted %q: scheme %q, user %v, opaque %q", dest, u.Scheme, u.User, u.Opaque)
		}
		if !strings.EqualFold(u.Hostname(), string(host)) {
			t.Fatalf("CheckRedirect(%q) = host %q, net/url says %q", dest, host, u.Hostname())
		}
	})
}
