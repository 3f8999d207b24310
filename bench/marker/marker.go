// Package marker measures the pipeline's end-to-end lag the way a person
// would notice it: every Interval it sends one pixel hit with an event id of
// its own, notes when the collector answered, and polls ClickHouse until the
// row with that event id can be read. The lag of a marker is the time from
// the answer to the first poll that finds its row.
package marker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
)

// Config says where to send markers and where to look for them.
type Config struct {
	// Pixel is the pixel's URL, e.g. http://127.0.0.1:8080/p.gif.
	Pixel string
	// PixelID is the id the markers carry; default "bench-marker".
	PixelID string
	// Prefix starts every marker's eid, followed by its number.
	Prefix string
	// Interval between markers; default 100ms.
	Interval time.Duration
	// Poll is the time between two queries for the rows not found yet;
	// default 50ms. A lag is known to within Poll plus one query's time.
	Poll time.Duration
	// Conn and Table (database.table) are where the rows land.
	Conn  chstore.Conn
	Table string
}

// Result is what the markers measured.
type Result struct {
	Sent     int `json:"sent"`
	Answered int `json:"answered"` // got a 200
	Found    int `json:"found"`    // their row was read back
	// Missing lists the answered markers whose row was not found by the end.
	Missing []string `json:"missing,omitempty"`
	// Lag from the answer to the first poll that saw the row (its end):
	// an upper bound, at most Poll plus QueryMean above the true lag.
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
	Mean time.Duration `json:"mean_ns"`
	// Poll and QueryMean give the resolution of the lags.
	Poll      time.Duration `json:"poll_ns"`
	QueryMean time.Duration `json:"query_mean_ns"`
	Queries   int           `json:"queries"`
	// Lags are by marker number (-1: not found), in the order sent.
	Lags []Lag `json:"lags"`
}

// Lag is one marker's.
type Lag struct {
	Sent time.Duration `json:"sent_ns"` // since the first marker
	Lag  time.Duration `json:"lag_ns"`  // -1: never found
}

// Prober sends markers and looks for them.
type Prober struct {
	cfg    Config
	client *http.Client
	start  time.Time

	stopSend, stopPoll context.CancelFunc
	sendDone, pollDone chan struct{}

	mu       sync.Mutex
	markers  []marker
	pending  map[string]int // eid → index into markers, answered and not found
	queries  int
	queryDur time.Duration
	pollErr  error
}

type marker struct {
	eid      string
	sent     time.Time
	answered time.Time // zero: no 200
	found    time.Time
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// Start begins sending markers and polling for them; ctx bounds both.
func Start(ctx context.Context, cfg Config) (*Prober, error) {
	if cfg.PixelID == "" {
		cfg.PixelID = "bench-marker"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if !safeID.MatchString(cfg.Prefix) || !safeID.MatchString(cfg.Table) || !safeID.MatchString(cfg.PixelID) {
		return nil, fmt.Errorf("marker: prefix %q, table %q and pixel id %q must be plain names", cfg.Prefix, cfg.Table, cfg.PixelID)
	}
	p := &Prober{
		cfg: cfg,
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute, DisableCompression: true,
		}},
		start:    time.Now(),
		sendDone: make(chan struct{}),
		pollDone: make(chan struct{}),
		pending:  map[string]int{},
	}
	sendCtx, stopSend := context.WithCancel(ctx)
	pollCtx, stopPoll := context.WithCancel(ctx)
	p.stopSend, p.stopPoll = stopSend, stopPoll
	go p.send(sendCtx)
	go p.run(pollCtx)
	return p, nil
}

func (p *Prober) send(ctx context.Context) {
	defer close(p.sendDone)
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for n := 0; ; n++ {
		p.sendOne(ctx, n)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Prober) sendOne(ctx context.Context, n int) {
	eid := p.cfg.Prefix + strconv.Itoa(n)
	q := url.Values{}
	q.Set("id", p.cfg.PixelID)
	q.Set("ev", "PageView")
	q.Set("eid", eid)
	q.Set("dl", "https://shop.example.com/marker/"+strconv.Itoa(n))
	// A marker that is on its way when sending stops still completes (the
	// client's timeout bounds it): cancelling it would count it as sent and
	// not answered although the collector may have taken it.
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, p.cfg.Pixel+"?"+q.Encode(), nil)
	if err != nil {
		return
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) pixel-bench-marker/1")
	m := marker{eid: eid, sent: time.Now()}
	resp, err := p.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			m.answered = time.Now()
		}
	}
	p.mu.Lock()
	p.markers = append(p.markers, m)
	if !m.answered.IsZero() {
		p.pending[eid] = len(p.markers) - 1
	}
	p.mu.Unlock()
}

// poll asks ClickHouse once for the pending markers.
func (p *Prober) poll(ctx context.Context) {
	p.mu.Lock()
	ids := make([]string, 0, len(p.pending))
	for eid := range p.pending {
		ids = append(ids, eid)
	}
	p.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	ids = ids[:min(len(ids), 2000)]
	// pixel_id leads the table's sorting key: asking for the markers' own
	// reads their granules only, so that polling costs ClickHouse little
	// next to the load being measured.
	query := "SELECT event_id FROM " + p.cfg.Table + " WHERE pixel_id = '" + p.cfg.PixelID + "' AND event_id IN ('" + strings.Join(ids, "','") + "')"
	start := time.Now()
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := p.cfg.Conn.Query(qctx, query)
	var found []string
	if err == nil {
		for rows.Next() {
			var id string
			if err = rows.Scan(&id); err != nil {
				break
			}
			found = append(found, id)
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
	}
	end := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queries++
	p.queryDur += end.Sub(start)
	if err != nil {
		p.pollErr = err
		return
	}
	for _, id := range found {
		if i, ok := p.pending[id]; ok {
			p.markers[i].found = end
			delete(p.pending, id)
		}
	}
}

// run polls until ctx ends.
func (p *Prober) run(ctx context.Context) {
	defer close(p.pollDone)
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	for {
		p.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// StopSending sends no more markers and returns once the last one sent has
// its answer; polling goes on until Drain. Stop when the load being
// measured stops: a marker sent on an idle pipeline waits for a batch's age
// and tells nothing of the lag under load.
func (p *Prober) StopSending() {
	p.stopSend()
	<-p.sendDone
}

// Drain sends no more markers, keeps polling until every answered marker
// was found or within has passed (or ctx ended), and returns the result.
func (p *Prober) Drain(ctx context.Context, within time.Duration) *Result {
	p.StopSending()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	for p.pendingCount() > 0 {
		select {
		case <-ctx.Done():
		case <-deadline.C:
		case <-t.C:
			continue
		}
		break
	}
	p.stopPoll()
	<-p.pollDone
	return p.result()
}

func (p *Prober) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// Err is the last error a poll returned, if any.
func (p *Prober) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pollErr
}

func (p *Prober) result() *Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &Result{Sent: len(p.markers), Poll: p.cfg.Poll, Queries: p.queries}
	if p.queries > 0 {
		r.QueryMean = p.queryDur / time.Duration(p.queries)
	}
	var lags []time.Duration
	var sum time.Duration
	for _, m := range p.markers {
		l := Lag{Sent: m.sent.Sub(p.start), Lag: -1}
		if !m.answered.IsZero() {
			r.Answered++
			if m.found.IsZero() {
				r.Missing = append(r.Missing, m.eid)
			} else {
				r.Found++
				l.Lag = m.found.Sub(m.answered)
				lags = append(lags, l.Lag)
				sum += l.Lag
			}
		}
		r.Lags = append(r.Lags, l)
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		q := func(f float64) time.Duration {
			i := int(f*float64(len(lags))+0.999999) - 1
			return lags[min(max(i, 0), len(lags)-1)]
		}
		r.P50, r.P90, r.P99, r.Max = q(0.50), q(0.90), q(0.99), lags[len(lags)-1]
		r.Mean = sum / time.Duration(len(lags))
	}
	return r
}
