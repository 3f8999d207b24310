package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/logging"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
)

// Loader loads the whole registry. *Store and *ClickHouseLoader are
// Loaders.
type Loader interface {
	Load(ctx context.Context) (*Snapshot, error)
}

// ClickHouseLoader is the collector's Loader: it connects to ClickHouse on
// its first Load, so that a collector starts while ClickHouse is away (and
// serves from its cache file), and keeps the connection (the driver dials
// again after a server restart).
type ClickHouseLoader struct {
	o    chstore.Options
	mu   sync.Mutex
	conn chstore.Conn
}

// NewClickHouseLoader returns a Loader reading the registry of the
// database o names.
func NewClickHouseLoader(o chstore.Options) *ClickHouseLoader {
	return &ClickHouseLoader{o: o}
}

// Load reads the registry.
func (l *ClickHouseLoader) Load(ctx context.Context) (*Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		conn, err := chstore.Open(ctx, l.o)
		if err != nil {
			return nil, err
		}
		l.conn = conn
	}
	return NewStore(l.conn).Load(ctx)
}

// Close closes the connection, if one was opened.
func (l *ClickHouseLoader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	err := l.conn.Close()
	l.conn = nil
	return err
}

// Watcher keeps the collector's copy of the registry: it loads it at
// start and again every interval, and swaps each good copy in atomically.
// When a load fails (ClickHouse is away) it keeps serving the last good
// copy; it writes every new good copy to a cache file, and reads that file
// when the first load at start fails, so that a collector restarted while
// ClickHouse is away still knows its pixels.
type Watcher struct {
	loader    Loader
	interval  time.Duration
	cachePath string
	log       zerolog.Logger

	current atomic.Pointer[Snapshot]
	lastErr atomic.Pointer[error] // the last load's failure; nil after a good one

	errors    *metrics.Counter
	loads     *metrics.Counter
	pixels    *metrics.Gauge
	lastLoad  *metrics.Gauge
	cacheErrs *metrics.Counter
	errLog    *logging.Throttle
	cached    string // fingerprint of the snapshot in the cache file

	mu     sync.Mutex // serialises loads (the loop and Refresh)
	cancel context.CancelFunc
	done   chan struct{}
}

// CacheMode is the cache file's permission: it holds the link keys.
const CacheMode = 0o600

// DefaultRefresh is the collector's -registry-refresh: how soon a pixel
// created, changed or disabled takes effect.
const DefaultRefresh = 10 * time.Second

// Watch loads the registry once, from loader or, when that fails, from the
// cache file at cachePath ("" for none), and then refreshes it every
// interval (DefaultRefresh when not positive) until ctx ends or Close is
// called. Current is nil until a copy loaded from either.
func Watch(ctx context.Context, loader Loader, interval time.Duration, cachePath string, log zerolog.Logger, m *metrics.Set) *Watcher {
	if interval <= 0 {
		interval = DefaultRefresh
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{
		loader:    loader,
		interval:  interval,
		cachePath: cachePath,
		log:       log,
		errors:    m.Counter("pixel_registry_refresh_errors_total", "Loads of the pixel registry from ClickHouse that failed (the last good copy stays in use)."),
		loads:     m.Counter("pixel_registry_refreshes_total", "Loads of the pixel registry from ClickHouse that succeeded."),
		pixels:    m.Gauge("pixel_registry_pixels", "Pixels in the registry copy in use, disabled ones included."),
		lastLoad:  m.Gauge("pixel_registry_last_load_timestamp_seconds", "Unix time of the last good load of the registry from ClickHouse (0: none since start; the copy in use may be the cache file's)."),
		cacheErrs: m.Counter("pixel_registry_cache_errors_total", "Writes and reads of the registry's cache file that failed."),
		errLog:    logging.NewThrottle(time.Minute),
		cancel:    cancel,
		done:      make(chan struct{}),
	}
	if err := w.Refresh(ctx); err != nil {
		w.loadCache()
	}
	go w.loop(ctx)
	return w
}

// Current returns the registry copy in use, or nil while none has loaded.
// The snapshot is immutable and stays valid after a refresh swaps another
// one in.
func (w *Watcher) Current() *Snapshot { return w.current.Load() }

// Ready says why the registry is not usable yet: nothing loaded, neither
// from ClickHouse nor from the cache file. nil once a copy is in use.
func (w *Watcher) Ready() error {
	if w.current.Load() != nil {
		return nil
	}
	why := "no load finished yet"
	if e := w.lastErr.Load(); e != nil {
		why = (*e).Error()
	}
	cache := "no cache file is configured"
	if w.cachePath != "" {
		cache = "no usable cache file at " + w.cachePath
	}
	return fmt.Errorf("the pixel registry is not loaded: %s, and %s; check the ClickHouse flags and that pixelctl migrate ran", why, cache)
}

// Refresh loads the registry now and swaps it in; on failure the copy in
// use stays. The loop calls it every interval.
func (w *Watcher) Refresh(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, max(w.interval, 5*time.Second))
	defer cancel()
	s, err := w.loader.Load(ctx)
	if err != nil {
		w.errors.Inc()
		w.lastErr.Store(&err)
		if ok, held := w.errLog.Allow(); ok {
			ev := w.log.Error().Err(err).Int("lines_held_back", held)
			if cur := w.current.Load(); cur != nil {
				ev.Int("pixels", cur.Len()).Msg("cannot refresh the pixel registry from ClickHouse; the last good copy stays in use")
			} else {
				ev.Msg("cannot load the pixel registry from ClickHouse; no copy is in use yet, hits are not recorded")
			}
		}
		return err
	}
	if prev := w.lastErr.Swap(nil); prev != nil && w.current.Load() != nil {
		w.log.Info().Int("pixels", s.Len()).Msg("pixel registry refreshed from ClickHouse again")
	} else if w.current.Load() == nil {
		w.log.Info().Int("pixels", s.Len()).Msg("pixel registry loaded from ClickHouse")
	}
	w.current.Store(s)
	w.loads.Inc()
	w.pixels.Set(int64(s.Len()))
	w.lastLoad.Set(time.Now().Unix())
	w.saveCache(s)
	return nil
}

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = w.Refresh(ctx) // counted and logged there
		}
	}
}

// Close stops the refreshes and waits for a running one to end.
func (w *Watcher) Close() {
	w.cancel()
	<-w.done
}

// cacheFile is the cache file's content.
type cacheFile struct {
	Format  int       `json:"format"` // 1
	SavedAt time.Time `json:"saved_at"`
	Pixels  []Record  `json:"pixels"`
}

// saveCache writes s to the cache file when it differs from what the file
// holds: a temporary file in the same directory, synced, renamed over the
// old one, so that a crash leaves the old copy or the new one.
func (w *Watcher) saveCache(s *Snapshot) {
	if w.cachePath == "" {
		return
	}
	ps := s.Pixels()
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	var fp strings.Builder
	for _, p := range ps {
		fp.WriteString(p.ID + "@" + strconv.FormatUint(p.Version, 10) + ",")
	}
	if fp.String() == w.cached {
		return
	}
	if err := writeCache(w.cachePath, ps); err != nil {
		w.cacheErrs.Inc()
		w.log.Error().Err(err).Msg("cannot write the pixel registry's cache file; a restart while ClickHouse is away would have no registry")
		return
	}
	w.cached = fp.String()
}

func writeCache(path string, ps []*Pixel) error {
	f := cacheFile{Format: 1, SavedAt: time.Now().UTC(), Pixels: make([]Record, len(ps))}
	for i, p := range ps {
		f.Pixels[i] = p.Record()
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("cannot create the directory of %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing to remove
	if err = tmp.Chmod(CacheMode); err == nil {
		if _, err = tmp.Write(append(data, '\n')); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// ReadCache reads a cache file the Watcher wrote.
func ReadCache(path string) (*Snapshot, time.Time, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	var f cacheFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, time.Time{}, fmt.Errorf("%s is not a registry cache file: %w", path, err)
	}
	if f.Format != 1 {
		return nil, time.Time{}, fmt.Errorf("%s: cache format %d, this build reads 1", path, f.Format)
	}
	ps := make([]*Pixel, 0, len(f.Pixels))
	for _, r := range f.Pixels {
		p, err := r.Pixel()
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
		ps = append(ps, p)
	}
	return NewSnapshot(ps), f.SavedAt, nil
}

// loadCache puts the cache file's copy in use after the first load failed.
func (w *Watcher) loadCache() {
	if w.cachePath == "" {
		return
	}
	s, saved, err := ReadCache(w.cachePath)
	if errors.Is(err, os.ErrNotExist) {
		w.log.Warn().Str("cache", w.cachePath).Msg("no pixel registry cache file yet: until ClickHouse answers, no hit is recorded")
		return
	}
	if err != nil {
		w.cacheErrs.Inc()
		w.log.Error().Err(err).Msg("cannot use the pixel registry's cache file")
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.current.Load() != nil { // a refresh won meanwhile
		return
	}
	w.current.Store(s)
	w.pixels.Set(int64(s.Len()))
	w.log.Warn().Str("cache", w.cachePath).Time("saved_at", saved).Int("pixels", s.Len()).
		Msg("serving the pixel registry from the cache file until ClickHouse answers")
}
