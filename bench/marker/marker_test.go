package marker_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pixel-pipeline/pixel/bench/marker"
)

// table stands in for ClickHouse: a row becomes readable some time after
// its hit was answered, and the table answers the prober's IN query, which
// must ask for the markers' pixel_id (the sorting key's first column).
type table struct {
	driver.Conn // only Query is used
	mu          sync.Mutex
	rows        map[string]time.Time // event_id → readable from
	queries     int
}

func (t *table) Query(_ context.Context, query string, _ ...any) (driver.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queries++
	const prefix = "SELECT event_id FROM db.events WHERE pixel_id = 'bench-marker' AND event_id IN ('"
	if !strings.HasPrefix(query, prefix) {
		return nil, errors.New("unexpected query: " + query)
	}
	list := strings.TrimSuffix(strings.TrimPrefix(query, prefix), "')")
	var found []string
	for _, id := range strings.Split(list, "','") {
		if at, ok := t.rows[id]; ok && !time.Now().Before(at) {
			found = append(found, id)
		}
	}
	return &rows{ids: found, i: -1}, nil
}

type rows struct {
	driver.Rows
	ids []string
	i   int
}

func (r *rows) Next() bool { r.i++; return r.i < len(r.ids) }
func (r *rows) Scan(dest ...any) error {
	*dest[0].(*string) = r.ids[r.i]
	return nil
}
func (r *rows) Err() error   { return nil }
func (r *rows) Close() error { return nil }

func TestProber(t *testing.T) {
	tbl := &table{rows: map[string]time.Time{}}
	var hits atomic.Int64
	// The pipeline: every marker but the fifth lands 100 ms after it was
	// answered.
	pixel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer hits.Add(1)
		eid := r.URL.Query().Get("eid")
		if r.URL.Path != "/p.gif" || r.URL.Query().Get("id") != "bench-marker" || eid == "" {
			http.Error(w, "bad marker", http.StatusBadRequest)
			return
		}
		if eid != "mk-4" {
			tbl.mu.Lock()
			tbl.rows[eid] = time.Now().Add(100 * time.Millisecond)
			tbl.mu.Unlock()
		}
		w.Header().Set("Content-Type", "image/gif")
	}))
	defer pixel.Close()

	p, err := marker.Start(context.Background(), marker.Config{
		Pixel: pixel.URL + "/p.gif", Prefix: "mk-", Interval: 20 * time.Millisecond, Poll: 10 * time.Millisecond,
		Conn: tbl, Table: "db.events",
	})
	if err != nil {
		t.Fatal(err)
	}
	// At least five markers, so that the fifth (lost) one is among them.
	for deadline := time.Now().Add(5 * time.Second); hits.Load() < 5; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d markers in 5s, want 5", hits.Load())
		}
	}
	p.StopSending()
	sent := hits.Load()
	r := p.Drain(context.Background(), 2*time.Second)
	if r.Sent < 5 || r.Answered != r.Sent || int64(r.Sent) != sent || hits.Load() != sent {
		t.Fatalf("sent %d, answered %d; the pixel saw %d when sending stopped, %d after the drain", r.Sent, r.Answered, sent, hits.Load())
	}
	if r.Found != r.Answered-1 || len(r.Missing) != 1 || r.Missing[0] != "mk-4" {
		t.Errorf("found %d of %d, missing %v; want all but mk-4", r.Found, r.Answered, r.Missing)
	}
	if r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || r.Queries == 0 || len(r.Lags) != r.Sent {
		t.Errorf("lags p50 %s p99 %s max %s, %d queries, %d lags", r.P50, r.P99, r.Max, r.Queries, len(r.Lags))
	}
	if r.Lags[4].Lag != -1 {
		t.Errorf("the lost marker has lag %s, want -1", r.Lags[4].Lag)
	}
	if p.Err() != nil {
		t.Error(p.Err())
	}
}

func TestConfigRejectsUnsafeNames(t *testing.T) {
	for _, cfg := range []marker.Config{
		{Pixel: "http://127.0.0.1:1/p.gif", Prefix: "mk'", Table: "db.events"},
		{Pixel: "http://127.0.0.1:1/p.gif", Prefix: "mk-", Table: "db.events; DROP TABLE x"},
	} {
		if _, err := marker.Start(context.Background(), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
