package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

func newStore(t *testing.T) (*registry.Store, chstore.Conn, chstore.Options) {
	t.Helper()
	o := devstacktest.Database(t)
	conn, err := chstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return registry.NewStore(conn), conn, o
}

func TestStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)

	p, secret, err := s.Create(ctx, registry.New{Name: " Shop ", Domains: []string{"Shop.Example", "*.shop.example", "shop.example", "127.0.0.1"}, Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ID) != 16 || registry.ValidID(p.ID) != nil {
		t.Errorf("random id %q: want 16 characters of base64url", p.ID)
	}
	if !strings.HasPrefix(secret, registry.SecretPrefix) || len(secret) != len(registry.SecretPrefix)+43 {
		t.Errorf("secret %q: want pxs_ and 43 characters", secret)
	}
	sum := sha256.Sum256([]byte(secret))
	if p.SecretHash != hex.EncodeToString(sum[:]) || !p.CheckSecret([]byte(secret)) {
		t.Errorf("the stored hash %q is not the secret's SHA-256", p.SecretHash)
	}
	if len(p.LinkKey) != 64 {
		t.Errorf("link key %q: want 64 hex digits", p.LinkKey)
	}
	if want := []string{"shop.example", "*.shop.example", "127.0.0.1"}; !reflect.DeepEqual(p.Domains, want) || p.Name != "Shop" || p.TimeZone != "UTC" || p.Status != registry.StatusActive {
		t.Errorf("created %+v", p)
	}

	got, err := s.Get(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("Get = %+v\nwant %+v", got, p)
	}

	// A given id; a taken, reserved or invalid one is refused.
	demo, _, err := s.Create(ctx, registry.New{ID: "demo", Name: "Demo", TimeZone: "Europe/Berlin", Settings: pixel.Settings{EngagementSeconds: 30, Consent: pixel.ConsentRequired, IP: pixel.IPTruncate, GPC: pixel.SignalFlag, DNT: pixel.SignalDrop}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, registry.New{ID: "demo", Name: "Again", Settings: pixel.DefaultSettings()}); !errors.Is(err, registry.ErrExists) {
		t.Errorf("second demo: %v, want ErrExists", err)
	}
	for _, id := range []string{"track", "batch", "a b", "x/y", strings.Repeat("a", 65)} {
		if _, _, err := s.Create(ctx, registry.New{ID: id, Name: "N", Settings: pixel.DefaultSettings()}); err == nil {
			t.Errorf("id %q was accepted", id)
		}
	}
	if _, _, err := s.Create(ctx, registry.New{Name: "N", Domains: []string{"shop.example:8080"}, Settings: pixel.DefaultSettings()}); err == nil || !strings.Contains(err.Error(), "port") {
		t.Errorf("a domain with a port: %v", err)
	}
	if _, _, err := s.Create(ctx, registry.New{Name: "N", TimeZone: "Mars/Olympus", Settings: pixel.DefaultSettings()}); err == nil {
		t.Error("an unknown time zone was accepted")
	}

	// Update, disable, enable: each a new version, read back with FINAL.
	up, err := s.Update(ctx, "demo", func(p *registry.Pixel) error {
		p.Name, p.Domains, p.Settings.EngagementSeconds = "Demo shop", []string{"localhost"}, 45
		p.ID, p.SecretHash = "hijack", "" // not changeable: kept
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != "demo" || up.SecretHash != demo.SecretHash || up.Version <= demo.Version || up.Name != "Demo shop" {
		t.Errorf("update gave %+v", up)
	}
	if _, err := s.Disable(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, "demo")
	if err != nil || got.Active() || got.Settings.EngagementSeconds != 45 || got.Settings.IP != pixel.IPTruncate || got.TimeZone != "Europe/Berlin" {
		t.Fatalf("after disable: %+v, %v", got, err)
	}
	if _, err := s.Enable(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "nope", func(*registry.Pixel) error { return nil }); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("update of a missing pixel: %v", err)
	}

	// Rotating the secret keeps the link key; only the new secret works.
	rot, secret2, err := s.RotateSecret(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, "demo")
	if got.LinkKey != demo.LinkKey || got.CheckSecret([]byte(secret2)) != true || got.SecretHash == demo.SecretHash || !got.Active() || got.Version != rot.Version {
		t.Errorf("after rotate-secret: %+v", got)
	}

	list, err := s.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %d pixels, %v", len(list), err)
	}
	snap, err := s.Load(ctx)
	if err != nil || snap.Len() != 2 || snap.Lookup([]byte("demo")).Name != "Demo shop" {
		t.Fatalf("Load: %v", err)
	}
}

func TestNormalizeDomains(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		err  string
	}{
		{[]string{"SHOP.example", " www.shop.example "}, []string{"shop.example", "www.shop.example"}, ""},
		{[]string{"*.Shop.Example"}, []string{"*.shop.example"}, ""},
		{[]string{"127.0.0.1", "[::1]", "localhost", "xn--bcher-kva.example"}, []string{"127.0.0.1", "::1", "localhost", "xn--bcher-kva.example"}, ""},
		{[]string{"a.example", "A.example"}, []string{"a.example"}, ""},
		{[]string{"shop.example:443"}, nil, "port"},
		{[]string{"https://shop.example"}, nil, "host only"},
		{[]string{"shop.example/path"}, nil, "host only"},
		{[]string{"a.*.example"}, nil, "wildcard"},
		{[]string{"*"}, nil, "wildcard"},
		{[]string{"*.127.0.0.1"}, nil, "no subdomains"},
		{[]string{""}, nil, "empty"},
		{[]string{"a..example"}, nil, "label"},
		{[]string{"-a.example"}, nil, "begin or end"},
		{[]string{"bücher.example"}, nil, "punycode"},
		{[]string{"user@shop.example"}, nil, "host only"},
		{[]string{"fe80::1%eth0"}, nil, "zone"},
	} {
		got, err := registry.NormalizeDomains(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, ok := range map[string]bool{
		"demo": true, "a": true, "A_b-9": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "track": false, "page": false, "identify": false, "batch": false,
		"a.b": false, "a b": false, "ü": false, "a&b": false, "<x>": false, "-a": false, "-Lw2r2Kf980R97WG": false, "a-": true, "_a": true,
	} {
		if err := registry.ValidID(id); (err == nil) != ok {
			t.Errorf("ValidID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
	for range 2000 { // one id in 64 would start with '-' if NewID did not avoid it
		if id := registry.NewID(); len(id) != 16 || registry.ValidID(id) != nil {
			t.Fatalf("NewID() = %q", id)
		}
	}
}

func TestNormalizeTimeZone(t *testing.T) {
	for in, want := range map[string]string{"": "UTC", "UTC": "UTC", "Europe/Berlin": "Europe/Berlin", " America/New_York ": "America/New_York"} {
		if got, err := registry.NormalizeTimeZone(in); err != nil || got != want {
			t.Errorf("NormalizeTimeZone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Local", "Mars/Olympus", "../etc/passwd"} {
		if _, err := registry.NormalizeTimeZone(in); err == nil {
			t.Errorf("NormalizeTimeZone(%q) accepted", in)
		}
	}
}

// FuzzNormalizeDomains: what it accepts is in its one spelling (normalising
// again changes nothing), in lower case, without a port, scheme or path,
// and a pixel with that domain allows a page on it.
func FuzzNormalizeDomains(f *testing.F) {
	for _, s := range []string{"shop.example", "*.Shop.example", "127.0.0.1", "[::1]", "a:80", "https://x", "a..b", "-a", "*.*.a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		got, err := registry.NormalizeDomains([]string{d})
		if err != nil {
			return
		}
		again, err := registry.NormalizeDomains(got)
		if err != nil || !reflect.DeepEqual(again, got) || len(got) != 1 {
			t.Fatalf("%q → %q → %q, %v", d, got, again, err)
		}
		n := got[0]
		if n != strings.ToLower(n) || strings.ContainsAny(n, "/?#@ [") || (strings.Contains(n, ":") && !strings.Contains(n, "::") && strings.Count(n, ":") < 2) {
			t.Fatalf("%q accepted as %q", d, n)
		}
		p := &registry.Pixel{Domains: got}
		host := strings.TrimPrefix(n, "*.")
		if strings.HasPrefix(n, "*.") {
			host = "www." + host
		}
		if !p.AllowsHost([]byte(host)) || !p.AllowsHost([]byte(strings.ToUpper(host))) {
			t.Fatalf("domain %q does not allow %q", n, host)
		}
	})
}

func TestInvalidIsErrInvalid(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	for _, n := range []registry.New{
		{Name: "", Settings: pixel.DefaultSettings()},
		{Name: "Shop", Domains: []string{"https://shop.example"}, Settings: pixel.DefaultSettings()},
		{Name: "Shop", TimeZone: "Mars/Base", Settings: pixel.DefaultSettings()},
		{Name: "Shop", Settings: pixel.Settings{EngagementSeconds: 0}},
		{ID: "track", Name: "Shop", Settings: pixel.DefaultSettings()},
	} {
		if _, _, err := s.Create(ctx, n); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("Create(%+v) = %v, want an ErrInvalid", n, err)
		}
	}
	p, _, err := s.Create(ctx, registry.New{Name: "Shop", Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, p.ID, func(p *registry.Pixel) error { p.Domains = []string{"a b"}; return nil }); !errors.Is(err, registry.ErrInvalid) || strings.Contains(err.Error(), "invalid pixel") {
		t.Errorf("Update with a bad domain = %v, want an ErrInvalid whose message is the reason alone", err)
	}
	if _, err := s.Get(ctx, "nope"); errors.Is(err, registry.ErrInvalid) {
		t.Errorf("a missing pixel is no ErrInvalid: %v", err)
	}
}
