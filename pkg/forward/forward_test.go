package forward

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/gate"
	"github.com/pixel-pipeline/pixel/pkg/googleads/googleadstest"
	"github.com/pixel-pipeline/pixel/pkg/metacapi/metacapitest"
	"github.com/pixel-pipeline/pixel/pkg/webhook/webhooktest"
)

// metaIDs are the event ids Meta accepted, with how often each came.
func metaIDs(s *metacapitest.Server) map[string]int {
	out := map[string]int{}
	for _, e := range s.Events() {
		id, _ := e["event_id"].(string)
		out[id]++
	}
	return out
}

// hookIDs are the event ids the webhook accepted, with how often each came.
func hookIDs(s *webhooktest.Server) map[string]int {
	out := map[string]int{}
	for _, e := range s.Events() {
		id, _ := e["event_id"].(string)
		out[id]++
	}
	return out
}

func webhookDest(id, url, secret string) *destination.Destination {
	return &destination.Destination{ID: id, PixelID: pixelID, Name: "Hook " + id, Kind: destination.KindWebhook, Status: destination.StatusActive,
		Webhook: destination.Webhook{URL: url}, Credentials: destination.Credentials{SigningSecret: secret}, Version: 1}
}

// googleOrders are the order ids of the conversions Google received in
// requests it answered with success (the test queues no failures for them).
func googleOrders(s *googleadstest.Server) map[string]int {
	out := map[string]int{}
	for _, u := range s.Uploads() {
		for _, c := range u.Conversions {
			out[c.OrderID]++
		}
	}
	return out
}

func TestForwardsToMetaAndGoogleGated(t *testing.T) {
	s := newStack(t)
	// Google: one conversion action a destination, the purchases' (the
	// default events of a Google destination) and the engaged visits'.
	goo2 := s.googleDest("goo2")
	goo2.Google.ConversionActionID, goo2.Events = "988", []string{destination.EngagedVisit}
	hook := webhooktest.New([]byte("hook-secret"))
	t.Cleanup(hook.Close)
	s.src.set(s.metaDest("meta1"), s.googleDest("goo1"), goo2, webhookDest("hook1", hook.URL, "hook-secret"))
	s.src.erased = map[string]bool{"v-erased": true}
	_, _ = s.start()

	denied := purchase("p-denied", "v-denied")
	denied.Tracking[event.Consent] = []byte("denied")
	gpc := purchase("p-gpc", "v-gpc")
	gpc.GPC = true
	bot := purchase("p-bot", "v-bot")
	bot.IsBot = true
	other := purchase("p-other", "v-other")
	other.PixelID = []byte("px-other")
	view := purchase("p-view", "v-view")
	view.Name = []byte("PageView")
	s.publish(purchase("p-1", "v-1"), denied, gpc, bot, purchase("p-erased", "v-erased"), other, view,
		// v-eng: two page views, 40 s + 25 s (the largest of each) = 65 s > 60 s.
		heartbeat("v-eng", "pv-a", 15000, 1), heartbeat("v-eng", "pv-a", 40000, 2), heartbeat("v-eng", "pv-b", 25000, 3),
		heartbeat("v-eng", "pv-b", 26000, 4), heartbeat("v-eng", "pv-a", 40000, 5),
		// v-short: 30 s + 29 s = 59 s, under the goal.
		heartbeat("v-short", "pv-c", 30000, 1), heartbeat("v-short", "pv-d", 29000, 2))

	engagedID := EngagedEventID([]byte(pixelID), []byte("v-eng"), []byte("s-v-eng"))
	waitFor(t, "the purchase and the engaged visit at Meta and Google", func() (bool, string) {
		m, g := metaIDs(s.meta), googleOrders(s.google)
		h := hookIDs(hook)
		return m["p-1"] == 1 && m[engagedID] == 1 && g["order-p-1"] == 1 && g[engagedID] == 1 && h["p-1"] == 1 && h[engagedID] == 1,
			fmt.Sprintf("meta %v google %v webhook %v", m, g, h)
	})
	// The rest of the topic was read and committed: nothing more arrives.
	waitFor(t, "lag 0", func() (bool, string) {
		a, b, c := s.counter("forward_lag", "destination", "meta1"), s.counter("forward_lag", "destination", "goo1"), s.counter("forward_lag", "destination", "hook1")
		return a == 0 && b == 0 && c == 0 && s.counter("forward_events_total", "destination", "meta1", "kind", "meta", "outcome", "accepted") == 2 &&
			s.counter("forward_events_total", "destination", "hook1", "kind", "webhook", "outcome", "accepted") == 2, fmt.Sprint(a, b, c)
	})
	if h := hookIDs(hook); len(h) != 2 {
		t.Errorf("the webhook received %v, want the purchase and the engaged visit once each", h)
	}
	if v := hook.Violations(); len(v) > 0 {
		t.Errorf("webhook contract violations: %v", v)
	}
	if m := metaIDs(s.meta); len(m) != 2 {
		t.Errorf("Meta received %v, want the purchase and the engaged visit once each", m)
	}
	if g := googleOrders(s.google); len(g) != 2 {
		t.Errorf("Google received %v, want the purchase and the engaged visit once each", g)
	}
	if v := s.meta.Violations(); len(v) > 0 {
		t.Errorf("Meta contract violations: %v", v)
	}
	if v := s.google.Violations(); len(v) > 0 {
		t.Errorf("Google contract violations: %v", v)
	}
	for _, d := range []string{"meta1", "goo1", "hook1"} {
		for _, r := range gate.Reasons {
			if got := s.counter("forward_gated_total", "destination", d, "reason", r); got != 1 {
				t.Errorf("%s gated %s = %v, want 1", d, r, got)
			}
		}
	}
	for d, want := range map[string]float64{"meta1": 1, "goo1": 0, "goo2": 1, "hook1": 1} {
		if got := s.counter("forward_engaged_total", "destination", d); got != want {
			t.Errorf("%s engaged visits = %v, want %v", d, got, want)
		}
	}

	// What Meta got: the browser's event id, hashes as sent, fbc from the
	// fbclid and its click time, the engaged visit without value.
	for _, e := range s.meta.Events() {
		ud := e["user_data"].(map[string]any)
		if em := ud["em"].([]any); len(em) != 1 || em[0] != emailHash {
			t.Errorf("em = %v, want [%s]", em, emailHash)
		}
		fbc, _ := ud["fbc"].(string)
		switch e["event_id"] {
		case "p-1":
			if e["event_name"] != "Purchase" || !strings.HasPrefix(fbc, "fb.1.") || !strings.HasSuffix(fbc, ".fbclid-p-1") {
				t.Errorf("purchase at Meta: %v", e)
			}
			if cd := e["custom_data"].(map[string]any); fmt.Sprint(cd["value"]) != "42.5" || cd["currency"] != "EUR" || cd["order_id"] != "order-p-1" {
				t.Errorf("purchase custom_data: %v", cd)
			}
		case engagedID:
			if e["event_name"] != destination.EngagedVisit || e["custom_data"] != nil {
				t.Errorf("engaged visit at Meta: %v", e)
			}
		}
	}
	for _, u := range s.google.Uploads() {
		if u.DeveloperToken != "dev-1" || u.AccessToken != "google-access-1" {
			t.Errorf("upload credentials: %+v", u)
		}
		for _, c := range u.Conversions {
			action := "customers/1234567890/conversionActions/987"
			if c.OrderID == engagedID {
				action = "customers/1234567890/conversionActions/988"
			}
			if c.ConversionAction != action || !strings.HasPrefix(c.GCLID, "gclid-") ||
				len(c.UserIdentifiers) != 1 || c.UserIdentifiers[0].HashedEmail != emailGoogleHash || c.Consent == nil || c.Consent.AdUserData != "GRANTED" {
				t.Errorf("conversion at Google: %+v", c)
			}
			if c.OrderID == "order-p-1" && (c.ConversionValue == nil || *c.ConversionValue != 42.5 || c.CurrencyCode != "EUR" || c.GCLID != "gclid-p-1") {
				t.Errorf("purchase at Google: %+v", c)
			}
			if c.OrderID == engagedID && c.ConversionValue != nil {
				t.Errorf("engaged visit at Google has a value: %+v", c)
			}
		}
	}
	if s.tokens.Load() != 2 {
		t.Errorf("token endpoint asked %d times, want once per Google destination (the access token is reused)", s.tokens.Load())
	}
}

// A server copy carries only what the backend sent: the purchase of a
// visitor whose browser sent GPC, or denied ad_user_data, stays home; a
// visitor who granted after denying is forwarded.
func TestServerEventsFollowTheBrowsersSignals(t *testing.T) {
	s := newStack(t)
	s.src.set(s.metaDest("meta1"))
	_, _ = s.start()
	browser := func(id, v string, edit func(e *event.Event)) *event.Event {
		e := purchase(id, v)
		e.Name, e.Value, e.Currency, e.OrderID = []byte("PageView"), 0, nil, nil
		e.Tracking[event.Channel] = []byte("browser")
		edit(e)
		return e
	}
	server := func(id, v string) *event.Event {
		e := purchase(id, v)
		e.Tracking[event.Channel] = []byte("server")
		return e
	}
	s.publish(
		browser("pv-gpc", "v-gpc", func(e *event.Event) { e.GPC = true }), server("p-gpc", "v-gpc"),
		browser("pv-denied", "v-denied", func(e *event.Event) { e.Tracking[event.AdUserData] = []byte("denied") }), server("p-denied", "v-denied"),
		browser("pv-re1", "v-re", func(e *event.Event) { e.Tracking[event.AdUserData] = []byte("denied") }),
		browser("pv-re2", "v-re", func(e *event.Event) {}), server("p-re", "v-re"),
		server("p-plain", "v-plain"))
	waitFor(t, "the two allowed server purchases at Meta, the topic read", func() (bool, string) {
		m := metaIDs(s.meta)
		return m["p-re"] == 1 && m["p-plain"] == 1 && s.counter("forward_lag", "destination", "meta1") == 0, fmt.Sprint(m)
	})
	if m := metaIDs(s.meta); len(m) != 2 {
		t.Errorf("Meta received %v, want p-re and p-plain only", m)
	}
	for reason, want := range map[string]float64{gate.GPC: 1, gate.Consent: 1} {
		if got := s.counter("forward_gated_total", "destination", "meta1", "reason", reason); got != want {
			t.Errorf("gated %s = %v, want %v", reason, got, want)
		}
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	s := newStack(t)
	s.cfg.MaxBackoff = 3 * time.Second // above the Retry-After, so that it is taken as given
	s.meta.FailNext(1, metacapitest.RateLimited("2"))
	s.meta.FailNext(1, metacapitest.ServerError())
	s.google.Then(googleadstest.Answer{Status: http.StatusInternalServerError})
	s.src.set(s.metaDest("meta1"), s.googleDest("goo1"))
	_, _ = s.start()
	s.publish(purchase("p-1", "v-1"))

	waitFor(t, "the purchase accepted once at Meta and Google", func() (bool, string) {
		m := metaIDs(s.meta)
		// The counters, not only the servers: they count after the answer.
		ok := s.counter("forward_events_total", "destination", "goo1", "kind", "google", "outcome", "accepted") == 1 &&
			s.counter("forward_events_total", "destination", "meta1", "kind", "meta", "outcome", "accepted") == 1
		return m["p-1"] == 1 && ok, fmt.Sprint(m)
	})
	if n := s.meta.Attempts(); n != 3 {
		t.Errorf("Meta attempts = %d, want 3 (429, 500, success)", n)
	}
	if got := s.counter("forward_events_total", "destination", "meta1", "kind", "meta", "outcome", "retried"); got != 2 {
		t.Errorf("meta retried = %v, want 2", got)
	}
	if got := s.counter("forward_events_total", "destination", "goo1", "kind", "google", "outcome", "retried"); got != 1 {
		t.Errorf("google retried = %v, want 1", got)
	}
	for _, st := range []string{"429", "500", "200"} {
		if got := s.counter("forward_requests_total", "destination", "meta1", "status", st); got != 1 {
			t.Errorf("meta requests with status %s = %v, want 1", st, got)
		}
	}
	// The wait after the 429 is Meta's Retry-After.
	found := false
	for len(s.waits) > 0 {
		if <-s.waits == 2*time.Second {
			found = true
		}
	}
	if !found {
		t.Error("no retry waited the 2 s of Retry-After")
	}
}

func TestRefusedEventsAreDeadLetteredAndCommitted(t *testing.T) {
	s := newStack(t)
	s.meta.FailNext(1, metacapitest.Refusal())
	s.google.Then(googleadstest.Answer{FailRows: []int{0}})
	s.src.set(s.metaDest("meta1"), s.googleDest("goo1"))
	_, stop := s.start()
	s.publish(purchase("p-bad", "v-1"))

	dl := s.deadLetters(2)
	if len(dl) != 2 {
		t.Fatalf("%d dead letters, want 2 (one per destination)", len(dl))
	}
	for _, m := range dl {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		var e event.Event
		if err := event.Parse(m.Value, &e); err != nil || string(e.EventID) != "p-bad" {
			t.Errorf("dead letter value is not the event: %v %q", err, m.Value)
		}
		switch h[HeaderDestination] {
		case "meta1":
			if h[HeaderDestinationKind] != "meta" || h[HeaderStatus] != "400" || h[HeaderError] != metacapitest.RefusalBody {
				t.Errorf("meta dead letter headers: %v", h)
			}
		case "goo1":
			if h[HeaderDestinationKind] != "google" || h[HeaderStatus] != "200" || !strings.Contains(h[HeaderError], "UNPARSEABLE_GCLID") {
				t.Errorf("google dead letter headers: %v", h)
			}
		default:
			t.Errorf("dead letter of destination %q", h[HeaderDestination])
		}
		if h[HeaderSourceOffset] != "0" || h[HeaderSourcePartition] == "" {
			t.Errorf("dead letter source: %v", h)
		}
	}
	if got := s.counter("forward_events_total", "destination", "meta1", "kind", "meta", "outcome", "refused"); got != 1 {
		t.Errorf("meta refused = %v, want 1", got)
	}
	waitFor(t, "the refused offset committed", func() (bool, string) {
		a, b := s.counter("forward_lag", "destination", "meta1"), s.counter("forward_lag", "destination", "goo1")
		return a == 0 && b == 0, fmt.Sprint(a, b)
	})
	stop()

	// A new forwarder starts after the committed offsets: the refused
	// event is not sent again, the next one is.
	_, _ = s.start()
	s.publish(purchase("p-2", "v-2"))
	waitFor(t, "the next purchase", func() (bool, string) {
		m, g := metaIDs(s.meta), googleOrders(s.google)
		return m["p-2"] == 1 && g["order-p-2"] == 1, fmt.Sprint(m, g)
	})
	if m := metaIDs(s.meta); m["p-bad"] != 0 {
		t.Errorf("the refused event reached Meta after the restart: %v", m)
	}
	if g := googleOrders(s.google); g["order-p-bad"] != 1 {
		t.Errorf("the refused row was sent to Google %d times, want once", g["order-p-bad"])
	}
}

func TestRestartDoesNotResend(t *testing.T) {
	s := newStack(t)
	s.src.set(s.metaDest("meta1"))
	_, stop := s.start()
	s.publish(purchase("p-1", "v-1"), purchase("p-2", "v-2"))
	waitFor(t, "both purchases", func() (bool, string) {
		m := metaIDs(s.meta)
		return m["p-1"] == 1 && m["p-2"] == 1, fmt.Sprint(m)
	})
	stop()
	_, _ = s.start()
	s.publish(purchase("p-3", "v-3"))
	waitFor(t, "the third purchase", func() (bool, string) {
		m := metaIDs(s.meta)
		return m["p-3"] == 1, fmt.Sprint(m)
	})
	if m := metaIDs(s.meta); len(m) != 3 || m["p-1"] != 1 || m["p-2"] != 1 {
		t.Errorf("after the restart Meta has %v, want each purchase once", m)
	}
}

func TestDownDestinationHoldsOnlyItself(t *testing.T) {
	s := newStack(t)
	down := metacapitest.New()
	t.Cleanup(down.Close)
	down.FailNext(1_000_000, metacapitest.ServerError())
	dd := s.metaDest("down")
	dd.Meta.BaseURL = down.URL
	s.src.set(dd, s.metaDest("up"))
	_, _ = s.start()
	var evs []*event.Event
	for i := range 5 {
		evs = append(evs, purchase(fmt.Sprintf("p-%d", i), fmt.Sprintf("v-%d", i)))
	}
	s.publish(evs...)
	waitFor(t, "every purchase at the destination that is up", func() (bool, string) {
		m := metaIDs(s.meta)
		return len(m) == 5, fmt.Sprint(m)
	})
	waitFor(t, "the down destination retrying with its events uncommitted", func() (bool, string) {
		lag := s.counter("forward_lag", "destination", "down")
		r := s.counter("forward_events_total", "destination", "down", "kind", "meta", "outcome", "retried")
		return lag > 0 && r > 0 && down.Attempts() > 2, fmt.Sprintf("lag %v retried %v", lag, r)
	})
	if got := s.counter("forward_lag", "destination", "up"); got != 0 {
		t.Errorf("lag of the destination that is up = %v, want 0", got)
	}
}

func TestChangedAndDisabledDestinations(t *testing.T) {
	s := newStack(t)
	d := s.metaDest("meta1")
	s.src.set(d)
	f, _ := s.start()
	s.publish(purchase("p-1", "v-1"))
	waitFor(t, "the purchase", func() (bool, string) { return metaIDs(s.meta)["p-1"] == 1, fmt.Sprint(metaIDs(s.meta)) })

	// A changed destination (another test event code) restarts and goes
	// on from its committed offsets.
	c := *d
	c.Meta.TestEventCode = "TEST123"
	c.Version = 2
	s.src.set(&c)
	waitFor(t, "the restarted pipeline", func() (bool, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		r := f.running["meta1"]
		return r != nil && r.d.Version == 2, ""
	})
	s.publish(purchase("p-2", "v-2"))
	waitFor(t, "the purchase with the test event code", func() (bool, string) {
		for _, r := range s.meta.Received() {
			if r.TestEventCode == "TEST123" && len(r.Events) == 1 && r.Events[0]["event_id"] == "p-2" {
				return true, ""
			}
		}
		return false, fmt.Sprint(metaIDs(s.meta))
	})
	// Disabled: the pipeline stops.
	c2 := c
	c2.Status, c2.Version = destination.StatusDisabled, 3
	s.src.set(&c2)
	waitFor(t, "the pipeline stopped", func() (bool, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.running) == 0, ""
	})
	if m := metaIDs(s.meta); len(m) != 2 || m["p-1"] != 1 {
		t.Errorf("Meta has %v, want p-1 and p-2 once each", m)
	}
}

func TestUnauthorizedHolds(t *testing.T) {
	s := newStack(t)
	g := s.googleDest("goo1")
	g.Credentials.RefreshToken = "revoked"
	s.src.set(g)
	_, _ = s.start()
	s.publish(purchase("p-1", "v-1"))
	waitFor(t, "the pipeline holding", func() (bool, string) {
		r := s.counter("forward_events_total", "destination", "goo1", "kind", "google", "outcome", "retried")
		return r >= 2, fmt.Sprint(r)
	})
	if got := s.counter("forward_events_total", "destination", "goo1", "kind", "google", "outcome", "refused"); got != 0 {
		t.Errorf("refused = %v: an unauthorized destination must hold, not dead-letter", got)
	}
	if n := len(s.google.Uploads()); n != 0 {
		t.Errorf("%d uploads without an access token", n)
	}
	// The waits of a held pipeline are the longest backoff.
	for len(s.waits) > 0 {
		if w := <-s.waits; w != s.cfg.MaxBackoff {
			t.Errorf("held pipeline waited %v, want %v", w, s.cfg.MaxBackoff)
		}
	}
}

func TestNoCredentialsNotStarted(t *testing.T) {
	s := newStack(t)
	d := s.metaDest("meta1")
	d.Credentials = destination.Credentials{}
	s.src.set(d)
	f, _ := s.start()
	waitFor(t, "ready", func() (bool, string) { return f.Ready() == nil, "" })
	f.mu.Lock()
	n := len(f.running)
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("%d pipelines running for a destination without credentials", n)
	}
}

// TestStopFlushesTheBatch: on stop (SIGTERM in cmd/forwarder) a pipeline
// stops fetching, sends what it batched and commits it, without waiting
// for the linger.
func TestStopFlushesTheBatch(t *testing.T) {
	s := newStack(t)
	s.cfg.Linger = time.Hour
	s.src.set(s.metaDest("meta1"))
	f, stop := s.start()
	s.publish(purchase("p-1", "v-1"))
	waitFor(t, "the purchase fetched and batched", func() (bool, string) {
		lag := s.counter("forward_lag", "destination", "meta1")
		return lag > 0, fmt.Sprint(lag)
	})
	if len(metaIDs(s.meta)) != 0 {
		t.Fatal("sent before the linger or the stop")
	}
	stop()
	if f.Ready() == nil {
		t.Error("ready after stop")
	}
	if m := metaIDs(s.meta); m["p-1"] != 1 {
		t.Errorf("after stop Meta has %v, want p-1", m)
	}
	if lag := s.counter("forward_lag", "destination", "meta1"); lag != 0 {
		t.Errorf("lag after stop = %v, want 0 (committed)", lag)
	}
	// Committed: a new forwarder does not send it again.
	s.cfg.Linger = 50 * time.Millisecond
	_, _ = s.start()
	s.publish(purchase("p-2", "v-2"))
	waitFor(t, "the next purchase", func() (bool, string) { return metaIDs(s.meta)["p-2"] == 1, fmt.Sprint(metaIDs(s.meta)) })
	if m := metaIDs(s.meta); m["p-1"] != 1 {
		t.Errorf("p-1 sent %d times", m["p-1"])
	}
}

// TestWebhookRetriesRefusesAndHolds: a 429 then success is delivered once;
// a 400 is dead-lettered with the receiver's answer; a receiver that does
// not take the signature (wrong secret) holds the pipeline.
func TestWebhookRetriesRefusesAndHolds(t *testing.T) {
	s := newStack(t)
	hook := webhooktest.New([]byte("hook-secret"))
	t.Cleanup(hook.Close)
	wrong := webhooktest.New([]byte("another-secret"))
	t.Cleanup(wrong.Close)
	hook.FailNext(1, webhooktest.RateLimited("1"))
	s.cfg.Linger = 20 * time.Millisecond
	s.src.set(webhookDest("hook1", hook.URL, "hook-secret"), webhookDest("wrong", wrong.URL, "hook-secret"))
	_, _ = s.start()
	s.publish(purchase("p-1", "v-1"))
	waitFor(t, "p-1 at the webhook", func() (bool, string) {
		return hookIDs(hook)["p-1"] == 1 && s.counter("forward_lag", "destination", "hook1") == 0, fmt.Sprint(hookIDs(hook))
	})
	hook.FailNext(1, webhooktest.Refusal())
	s.publish(purchase("p-2", "v-2"))
	dl := s.deadLetters(1)
	if len(dl) != 1 || string(headers(dl[0])[HeaderError]) != webhooktest.RefusalBody || headers(dl[0])[HeaderDestinationKind] != "webhook" {
		t.Fatalf("dead letters %v", dl)
	}
	waitFor(t, "the wrong secret held", func() (bool, string) {
		r := s.counter("forward_events_total", "destination", "wrong", "kind", "webhook", "outcome", "retried")
		return r >= 2 && s.counter("forward_lag", "destination", "wrong") > 0, fmt.Sprint(r)
	})
	if got := s.counter("forward_events_total", "destination", "wrong", "kind", "webhook", "outcome", "refused"); got != 0 {
		t.Errorf("wrong secret refused %v events: it must hold them", got)
	}
	if h := hookIDs(hook); len(h) != 1 {
		t.Errorf("webhook received %v, want p-1 once", h)
	}
}

func headers(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// TestTooOldSkippedAndCommitted: an event Meta would refuse for its age
// (and with it the whole batch) is left out, counted, and committed.
func TestTooOldSkippedAndCommitted(t *testing.T) {
	s := newStack(t)
	s.src.set(s.metaDest("meta1"))
	_, _ = s.start()
	old := purchase("p-old", "v-old")
	old.TS -= 8 * 24 * 3600
	old.ReceivedAt, old.ClickTSMs = old.TS, 0
	s.publish(old, purchase("p-1", "v-1"))
	waitFor(t, "p-1 sent, p-old skipped, both committed", func() (bool, string) {
		sk := s.counter("forward_skipped_total", "destination", "meta1", "reason", "too_old")
		return metaIDs(s.meta)["p-1"] == 1 && sk == 1 && s.counter("forward_lag", "destination", "meta1") == 0, fmt.Sprint(sk, metaIDs(s.meta))
	})
	if m := metaIDs(s.meta); len(m) != 1 {
		t.Errorf("Meta received %v", m)
	}
}
