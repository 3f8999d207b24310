package registry_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/registry"
)

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestLookupSecret(t *testing.T) {
	snap := registry.NewSnapshot([]*registry.Pixel{
		{ID: "a", SecretHash: hashOf("pxs_a")},
		{ID: "b", SecretHash: hashOf("pxs_b")},
		{ID: "nosecret"},
		{ID: "broken", SecretHash: "zz"},
		{ID: "twin1", SecretHash: hashOf("pxs_twin")},
		{ID: "twin2", SecretHash: hashOf("pxs_twin")},
		{ID: "replaced", SecretHash: hashOf("pxs_old")},
		{ID: "replaced", SecretHash: hashOf("pxs_new")},
	})
	for secret, want := range map[string]string{
		"pxs_a": "a", "pxs_b": "b", "": "", "pxs_c": "", "zz": "",
		"pxs_twin": "", // shared: ambiguous
		"pxs_old":  "", // the pixel's replaced secret
		"pxs_new":  "replaced",
	} {
		got := ""
		if p := snap.LookupSecret([]byte(secret)); p != nil {
			got = p.ID
		}
		if got != want {
			t.Errorf("LookupSecret(%q) = %q, want %q", secret, got, want)
		}
	}
	var nilSnap *registry.Snapshot
	if nilSnap.LookupSecret([]byte("pxs_a")) != nil {
		t.Error("a nil snapshot found a pixel")
	}
	key := []byte("pxs_a")
	if n := testing.AllocsPerRun(100, func() { snap.LookupSecret(key) }); n != 0 {
		t.Errorf("LookupSecret: %v allocations, want 0", n)
	}
}
