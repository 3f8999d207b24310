package forward

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/privacy"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/schemas"
)

// TestStoreSource runs the forwarder on the stores in ClickHouse: a pixel,
// a Meta destination with sealed credentials, and erasures by visitor id
// and by email hash.
func TestStoreSource(t *testing.T) {
	s := newStack(t)
	ctx := devstacktest.Context(t)
	conn := devstacktest.Open(t, devstacktest.Database(t))
	px, _, err := registry.NewStore(conn).Create(ctx, registry.New{ID: pixelID, Name: "Shop", Domains: []string{"shop.example"}, Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	key := destination.NewKey()
	d := s.metaDest("")
	d.ID, d.PixelID, d.Version = "", px.ID, 0
	created, err := destination.NewStore(conn, key).Create(ctx, *d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, schemas.Internal("erasures_insert"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, row := range [][2]string{{privacy.KindVisitor, "v-erased"}, {privacy.KindEmail, emailHash}} {
		if err := b.Append(now, now, row[0], row[1], uint64(0), "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	src := NewStoreSource(conn, key)
	ds, err := src.Destinations(ctx)
	if err != nil || len(ds) != 1 || ds[0].ID != created.ID || ds[0].Credentials.AccessToken != "meta-token" {
		t.Fatalf("Destinations = %v, %v", ds, err)
	}
	out, err := src.OptedOut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	erasedEmail := purchase("p-email", "v-email")
	if !out(purchase("x", "v-erased")) || !out(erasedEmail) {
		t.Error("an erased visitor or email is not opted out")
	}
	kept := purchase("p-1", "v-1")
	kept.Tracking[event.EmailSHA256] = nil
	if out(kept) {
		t.Error("a visitor never erased is opted out")
	}

	s.src = nil
	f := New(s.cfg, src, testLogger(t), s.m)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	s.publish(kept, purchase("p-erased", "v-erased"), erasedEmail)
	waitFor(t, "the purchase of the visitor not erased", func() (bool, string) {
		m := metaIDs(s.meta)
		return m["p-1"] == 1 && s.counter("forward_gated_total", "destination", created.ID, "reason", "optout") == 2, fmt.Sprint(m)
	})
	waitFor(t, "lag 0", func() (bool, string) {
		return s.counter("forward_lag", "destination", created.ID) == 0, ""
	})
	if m := metaIDs(s.meta); len(m) != 1 {
		t.Errorf("Meta received %v, want only p-1", m)
	}
}
