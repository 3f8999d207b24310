package forward

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/googleads/googleadstest"
	"github.com/pixel-pipeline/pixel/pkg/metacapi/metacapitest"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

const (
	topic    = "pixel.events"
	dlqTopic = DefaultDLQTopic
	pixelID  = "px-shop"
	within   = 30 * time.Second
)

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	devstacktest.WaitFor(t, what, within, cond)
}

// memSource is a Source in memory; tests change it between refreshes.
type memSource struct {
	mu      sync.Mutex
	dests   []*destination.Destination
	pixels  []*registry.Pixel
	erased  map[string]bool // visitor ids
	failing error
}

func (s *memSource) Destinations(context.Context) ([]*destination.Destination, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing != nil {
		return nil, s.failing
	}
	out := make([]*destination.Destination, len(s.dests))
	for i, d := range s.dests {
		c := *d
		out[i] = &c
	}
	return out, nil
}

func (s *memSource) Pixels(context.Context) (*registry.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return registry.NewSnapshot(s.pixels), nil
}

func (s *memSource) OptedOut(context.Context) (func(*event.Event) bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	erased := map[string]bool{}
	for k, v := range s.erased {
		erased[k] = v
	}
	return func(e *event.Event) bool { return erased[string(e.VisitorID)] }, nil
}

func (s *memSource) set(ds ...*destination.Destination) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dests = ds
}

func testPixel() *registry.Pixel {
	return &registry.Pixel{ID: pixelID, Name: "Shop", Status: registry.StatusActive, TimeZone: "Europe/Paris", Settings: pixel.DefaultSettings(), Version: 1}
}

// stack is one test's broker, contract servers and forwarder settings.
type stack struct {
	t      *testing.T
	broker []string
	meta   *metacapitest.Server
	google *googleadstest.Server
	token  *httptest.Server
	tokens atomic.Int64 // token requests served
	src    *memSource
	cfg    Config
	m      *metrics.Set
	waits  chan time.Duration // the retry waits the pipelines asked for
}

func newStack(t *testing.T) *stack {
	t.Helper()
	c := devstacktest.Broker(t, 2, topic, dlqTopic)
	s := &stack{t: t, broker: c.ListenAddrs(), meta: metacapitest.New(), google: googleadstest.New(), src: &memSource{pixels: []*registry.Pixel{testPixel()}}, m: metrics.NewSet(),
		waits: make(chan time.Duration, 1000)}
	t.Cleanup(s.meta.Close)
	t.Cleanup(s.google.Close)
	s.meta.Token = "meta-token"
	s.google.Token = "google-access-1"
	s.token = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != "refresh-1" || r.Form.Get("client_id") != "client-1" || r.Form.Get("client_secret") != "secret-1" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
			return
		}
		s.tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"google-access-1","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(s.token.Close)
	s.cfg = DefaultConfig()
	s.cfg.Brokers = s.broker
	s.cfg.Linger = 100 * time.Millisecond
	s.cfg.Refresh = 100 * time.Millisecond
	s.cfg.MinBackoff = time.Millisecond
	s.cfg.MaxBackoff = 20 * time.Millisecond
	s.cfg.RequestTimeout = 5 * time.Second
	s.cfg.ShutdownTimeout = time.Second
	// Every httptest TLS server has the same certificate: one client
	// trusts them all.
	s.cfg.HTTP = s.meta.Client()
	s.cfg.sleep = func(ctx context.Context, d time.Duration) error {
		select {
		case s.waits <- d:
		default:
		}
		// The waits are recorded, not taken: MaxBackoff keeps them short.
		return sleep(ctx, min(d, 5*time.Millisecond))
	}
	return s
}

func (s *stack) metaDest(id string) *destination.Destination {
	return &destination.Destination{ID: id, PixelID: pixelID, Name: "Meta " + id, Kind: destination.KindMeta, Status: destination.StatusActive,
		Meta:        destination.Meta{DatasetID: "111222333", BaseURL: s.meta.URL},
		Credentials: destination.Credentials{AccessToken: "meta-token"}, Version: 1}
}

func (s *stack) googleDest(id string) *destination.Destination {
	return &destination.Destination{ID: id, PixelID: pixelID, Name: "Google " + id, Kind: destination.KindGoogle, Status: destination.StatusActive,
		Google:      destination.Google{CustomerID: "1234567890", ConversionActionID: "987", ConversionName: "Purchase", BaseURL: s.google.URL, TokenURL: s.token.URL},
		Credentials: destination.Credentials{DeveloperToken: "dev-1", ClientID: "client-1", ClientSecret: "secret-1", RefreshToken: "refresh-1"}, Version: 1}
}

// start runs a forwarder until the test ends or stop is called.
func (s *stack) start() (f *Forwarder, stop func()) {
	f = New(s.cfg, s.src, testLogger(s.t), s.m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				s.t.Errorf("forwarder: %v", err)
			}
		})
	}
	s.t.Cleanup(stop)
	return f, stop
}

func (s *stack) publish(evs ...*event.Event) {
	s.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(s.broker...), Topic: topic, Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	msgs := make([]kafka.Message, len(evs))
	for i, e := range evs {
		msgs[i] = kafka.Message{Key: e.VisitorID, Value: event.AppendJSON(nil, e), Headers: []kafka.Header{{Key: event.Header, Value: []byte(event.Version)}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		s.t.Fatalf("publish: %v", err)
	}
}

// deadLetters reads the dead-letter topic until it holds n messages.
func (s *stack) deadLetters(n int) []kafka.Message {
	s.t.Helper()
	var out []kafka.Message
	deadline := time.Now().Add(within)
	for p := 0; p < 2; p++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.broker, Topic: dlqTopic, Partition: p, MaxWait: 50 * time.Millisecond})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		r.Close()
	}
	if len(out) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		return s.deadLetters(n)
	}
	return out
}

// counter reads a series of the metrics text.
func (s *stack) counter(name string, labels ...string) float64 {
	var b strings.Builder
	_ = s.m.WritePrometheus(&b)
	want := name + "{"
	for i := 0; i < len(labels); i += 2 {
		if i > 0 {
			want += ","
		}
		want += labels[i] + "=" + strconv.Quote(labels[i+1])
	}
	want += "} "
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, want); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

var (
	emailHash       = strings.Repeat("ab", 32)
	emailGoogleHash = strings.Repeat("cd", 32)
)

// purchase is a consented purchase of visitor v an hour ago, with click ids.
func purchase(id, v string) *event.Event {
	now := time.Now().Unix() - 3600
	e := &event.Event{
		EventID: []byte(id), PixelID: []byte(pixelID), VisitorID: []byte(v), SessionID: []byte("s-" + v),
		Name: []byte("Purchase"), TS: now, ReceivedAt: now, URL: []byte("https://shop.example/thanks"),
		Value: 42.5, Currency: []byte("EUR"), OrderID: []byte("order-" + id),
		IP: []byte("203.0.113.7"), UserAgent: []byte("Mozilla/5.0 test"), ClickTSMs: (now - 3600) * 1000,
	}
	e.Tracking[event.GCLID] = []byte("gclid-" + id)
	e.Tracking[event.FBCLID] = []byte("fbclid-" + id)
	e.Tracking[event.EmailSHA256] = []byte(emailHash)
	e.Tracking[event.EmailGoogleSHA256] = []byte(emailGoogleHash)
	e.Tracking[event.Consent] = []byte("granted")
	e.Tracking[event.AdUserData] = []byte("granted")
	return e
}

// heartbeat is a PageEngagement of visitor v's session on page view pv.
func heartbeat(v, pv string, engagedMs int64, n int) *event.Event {
	e := purchase(fmt.Sprintf("hb-%s-%s-%d", v, pv, n), v)
	e.Name, e.Value, e.Currency, e.OrderID = []byte("PageEngagement"), 0, nil, nil
	e.EngagedMs = engagedMs
	e.Tracking[event.PageViewID] = []byte(pv)
	return e
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}
