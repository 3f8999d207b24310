package registry_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// switchLoader loads from the real ClickHouse until it is pointed at a dead
// address (a server that is away).
type switchLoader struct {
	live, dead registry.Loader
	away       atomic.Bool
	loads      atomic.Int64
}

func (l *switchLoader) Load(ctx context.Context) (*registry.Snapshot, error) {
	defer l.loads.Add(1)
	if l.away.Load() {
		return l.dead.Load(ctx)
	}
	return l.live.Load(ctx)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func deadLoader(t *testing.T) *registry.ClickHouseLoader {
	l := registry.NewClickHouseLoader(chstore.Options{Addr: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	t.Cleanup(func() { l.Close() })
	return l
}

func TestWatcherRefreshesAndSurvivesClickHouseAway(t *testing.T) {
	ctx := context.Background()
	s, _, o := newStore(t)
	first, _, err := s.Create(ctx, registry.New{ID: "first", Name: "First", Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	live := registry.NewClickHouseLoader(o)
	defer live.Close()
	loader := &switchLoader{live: live, dead: deadLoader(t)}
	cache := filepath.Join(t.TempDir(), "spool", "registry.json")
	m := metrics.NewSet()
	w := registry.Watch(ctx, loader, 20*time.Millisecond, cache, zerolog.Nop(), m)
	defer w.Close()

	if err := w.Ready(); err != nil {
		t.Fatal(err)
	}
	if p := w.Current().Lookup([]byte("first")); p == nil || !p.Active() {
		t.Fatalf("first is not in the loaded registry: %+v", p)
	}
	// A new pixel and a disabled one take effect without a restart.
	if _, _, err := s.Create(ctx, registry.New{ID: "second", Name: "Second", Settings: pixel.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Disable(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refresh shows second and first disabled", func() bool {
		c := w.Current()
		return c.Lookup([]byte("second")) != nil && !c.Lookup([]byte("first")).Active()
	})
	eventually(t, "the cache file holds both", func() bool {
		c, _, err := registry.ReadCache(cache)
		return err == nil && c.Len() == 2 && !c.Lookup([]byte("first")).Active()
	})
	if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != registry.CacheMode {
		t.Errorf("cache file: %v, mode %v, want %v", err, fi.Mode().Perm(), os.FileMode(registry.CacheMode))
	}
	if got := metricValue(t, m, "pixel_registry_pixels"); got != "2" {
		t.Errorf("pixel_registry_pixels = %s, want 2", got)
	}
	if got := metricValue(t, m, "pixel_registry_last_load_timestamp_seconds"); got == "0" {
		t.Error("pixel_registry_last_load_timestamp_seconds is 0 after good loads")
	}

	// ClickHouse away: the loads fail, are counted, and the copy stays.
	// Loads run one at a time: after the first failure, every load fails.
	loader.away.Store(true)
	eventually(t, "a failed refresh", func() bool { return metricValue(t, m, "pixel_registry_refresh_errors_total") != "0" })
	before := w.Current()
	n := loader.loads.Load()
	eventually(t, "two more failed refreshes", func() bool { return loader.loads.Load() >= n+2 })
	if w.Current() != before || w.Ready() != nil {
		t.Fatal("a failed refresh replaced the copy in use")
	}

	// A restart without ClickHouse serves from the cache file.
	w2 := registry.Watch(ctx, loader, time.Hour, cache, zerolog.Nop(), metrics.NewSet())
	defer w2.Close()
	if err := w2.Ready(); err != nil {
		t.Fatalf("restart with a cache file: %v", err)
	}
	if p := w2.Current().Lookup([]byte("second")); p == nil || p.Name != "Second" || p.LinkKey == "" {
		t.Fatalf("from the cache: %+v", p)
	}
	// Back: the next refresh replaces the cached copy.
	loader.away.Store(false)
	if err := w2.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if w2.Current().Len() != 2 {
		t.Fatal("refresh after ClickHouse came back")
	}
}

func TestWatcherNotReadyWithoutClickHouseOrCache(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "registry.json")
	w := registry.Watch(context.Background(), deadLoader(t), time.Hour, cache, zerolog.Nop(), metrics.NewSet())
	defer w.Close()
	if w.Current() != nil {
		t.Fatal("Current is not nil with nothing loaded")
	}
	err := w.Ready()
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), cache) {
		t.Fatalf("Ready() = %v, want the ClickHouse error and the cache path", err)
	}
	// A damaged cache file is not used.
	if err := os.WriteFile(cache, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	w2 := registry.Watch(context.Background(), deadLoader(t), time.Hour, cache, zerolog.Nop(), metrics.NewSet())
	defer w2.Close()
	if w2.Ready() == nil {
		t.Fatal("a damaged cache file made the registry ready")
	}
}

func metricValue(t *testing.T, m *metrics.Set, name string) string {
	t.Helper()
	var b strings.Builder
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no metric %s in\n%s", name, b.String())
	return ""
}
