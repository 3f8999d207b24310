package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// TestDataSetThroughPipeline sends a small generated population (pkg/dataset)
// through the real collector, broker and consumer as the tag and a site's
// backend would — browser events as POST /collect beacons with the visitor's
// cookies, server copies as POST /v1/{pixel}/events with the pixel's secret
// — with some hits sent twice, and checks that the stored events, each
// (event_id, event) once with the server's copy winning, are the data set's
// oracle (dataset.Rows), and that the columns the oracle does not hold
// (click ids, IP, bot flag, email hash) are the generated ones.
//
// What the pipeline derives on its own is mapped, not generated alike:
//   - a visitor without consent (px-shop-eu requires it) is recorded
//     cookieless: the collector's visitor_id is its own salted hash of IP and
//     user agent, whose salt changes with the receive day, where the
//     generator's changes with the event's UTC day. The stored id must be the
//     stored cookieless_id, and one generated id always maps to one stored id.
//   - UTM parameters and click ids are read from every hit's page URL, so the
//     heartbeats and the Engaged goal of a landing page carry the landing's
//     campaign, which the generator puts on the landing PageView only.
//   - click_ts_ms is when the collector saw the click, not the client's clock:
//     not compared.
//
// The population is generated over the last three days (the collector
// accepts a client ts within -max-clock-skew, the server API events up to
// 7 days old), and the collector trusts X-Forwarded-For from loopback so
// that the generated client IPs are the stored ones.
func TestDataSetThroughPipeline(t *testing.T) {
	s := NewTrackingStack(t)
	s.Cfg.CollectorArgs = append(s.Cfg.CollectorArgs, "-trusted-proxies", "127.0.0.1", "-max-clock-skew", "96h")
	Start(t, s)
	conn := Conn(t, s)
	ctx := context.Background()

	cfg := dataset.DefaultConfig(7, 200)
	cfg.Start = time.Now().UTC().Truncate(time.Hour).Add(-72 * time.Hour)
	cfg.Days = 3
	pop := dataset.Generate(cfg)

	store := registry.NewStore(conn)
	secrets := map[string]string{}
	for _, p := range cfg.Pixels {
		_, secret, err := store.Create(ctx, p.Registration())
		if err != nil {
			t.Fatalf("registering %s: %v", p.ID, err)
		}
		secrets[p.ID] = secret
	}
	client := &http.Client{Timeout: 10 * time.Second}
	collector := "http://" + s.Cfg.CollectorAddr
	// Until the collector's registry refresh has loaded a pixel, its hits
	// are refused: probe each (probes are left out of the comparison).
	for _, p := range cfg.Pixels {
		WaitForStored(t, conn, func(i int) string {
			id := fmt.Sprintf("probe-%s-%d", p.ID, i)
			q := url.Values{"id": {p.ID}, "eid": {id}, "ev": {"Probe"}, "dl": {p.Site + "/"}}
			get(t, client, collector+"/p.gif?"+q.Encode(), "User-Agent: "+chromeUA, "Referer: "+p.Site+"/")
			return id
		})
	}

	sites := map[string]string{}
	for _, p := range cfg.Pixels {
		sites[p.ID] = p.Site
	}
	sender := &datasetSender{t: t, client: client, collector: collector, sites: sites, secrets: secrets, clicks: map[string]string{}}
	gen := map[key]genEvent{} // what each (event_id, event, channel) was generated as
	hits := 0
	err := pop.Events(func(e *event.Event) error {
		k := key{string(e.EventID), string(e.Name), string(e.Tracking[event.Channel])}
		gen[k] = genOf(e)
		hits++
		if string(e.Tracking[event.Channel]) == "server" {
			sender.server(e)
			return nil
		}
		sender.browser(e)
		// Every 40th hit again, as a beacon retried after a lost answer.
		if hits%40 == 0 {
			sender.browser(e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sender.flush()

	distinct := map[[2]string]bool{}
	for k := range gen {
		distinct[[2]string{k.id, k.name}] = true
	}
	q := "SELECT uniqExact(event_id, event) FROM pixel.events WHERE event_id NOT LIKE 'probe-%'"
	if got := WaitCount(t, conn, q, uint64(len(distinct)), 60*time.Second); got != uint64(len(distinct)) {
		t.Fatalf("%d distinct (event_id, event) stored, want the %d of the %d events sent", got, len(distinct), hits)
	}
	stored := readStored(t, conn)

	// The oracle's rows, mapped where the pipeline derives a field itself.
	want := pop.Rows(nil)
	for i := range want {
		r := &want[i]
		g := gen[key{r.EventID, r.Event, r.Channel}]
		if r.Channel == "browser" && r.Campaign == "" && r.Source == "" && r.Medium == "" {
			r.Source, r.Medium, r.Campaign = g.urlUTM[0], g.urlUTM[1], g.urlUTM[2]
		}
	}
	got := dedupe(stored)
	// Generated visitor id and receive day → the stored id, for visitors
	// without consent: the collector's salt changes at midnight UTC.
	cookieless := map[[2]string]string{}
	byKey := map[[2]string]*storedRow{}
	for i := range got {
		byKey[[2]string{got[i].EventID, got[i].Event}] = &got[i]
	}
	if len(got) != len(want) {
		t.Errorf("%d stored events without bots, de-duplicated; the oracle has %d", len(got), len(want))
	}
	diffs := 0
	report := func(format string, args ...any) {
		t.Helper()
		if diffs++; diffs <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, w := range want {
		st := byKey[[2]string{w.EventID, w.Event}]
		if st == nil {
			report("event %s %s (%s) not stored", w.EventID, w.Event, w.Channel)
			continue
		}
		g := gen[key{w.EventID, w.Event, w.Channel}]
		r := st.Row
		if g.denied {
			if st.consent != "denied" || r.Visitor == "" || r.Visitor != st.cookieless {
				report("event %s %s of a visitor without consent: stored visitor %q, cookieless_id %q, consent %q; want the cookieless id as visitor, consent denied",
					w.EventID, w.Event, r.Visitor, st.cookieless, st.consent)
			}
			k := [2]string{w.Visitor, st.receivedDay}
			if prev, ok := cookieless[k]; ok && prev != r.Visitor {
				report("generated cookieless visitor %s stored as %s and as %s on %s", w.Visitor, prev, r.Visitor, st.receivedDay)
			}
			cookieless[k] = r.Visitor
			r.Visitor = w.Visitor
		}
		if r != w {
			report("event %s %s:\n stored %+v\n oracle %+v", w.EventID, w.Event, r, w)
		}
	}
	// The columns the oracle leaves out, of every stored copy, bots too.
	for _, st := range stored {
		g, ok := gen[key{st.EventID, st.Event, st.Channel}]
		if !ok {
			report("stored event %s %s (%s) was never sent", st.EventID, st.Event, st.Channel)
			continue
		}
		if st.extra != g.extra {
			report("event %s %s (%s): stored %+v, generated %+v", st.EventID, st.Event, st.Channel, st.extra, g.extra)
		}
	}
	if diffs > 20 {
		t.Errorf("... %d differences in all", diffs)
	}
	if len(cookieless) == 0 {
		t.Error("no event of a visitor without consent: the population should have some")
	}
	t.Logf("%d events sent (%d requests), %d rows stored, %d events once each; %d cookieless visitor-days",
		hits, sender.requests, len(stored), len(got), len(cookieless))
}

type key struct{ id, name, channel string }

// extra are the stored columns the oracle's Row does not hold.
type extra struct {
	IP, GCLID, FBCLID, Email string
	Bot                      bool
}

// genEvent is what the test needs of a generated event after its bytes are
// reused.
type genEvent struct {
	denied bool      // recorded cookieless
	urlUTM [3]string // utm_source, utm_medium, utm_campaign of its page URL's query
	extra
}

func genOf(e *event.Event) genEvent {
	g := genEvent{denied: string(e.Tracking[event.Consent]) == "denied"}
	g.IP, g.Bot, g.Email = string(e.IP), e.IsBot, string(e.Tracking[event.EmailSHA256])
	g.GCLID, g.FBCLID = string(e.Tracking[event.GCLID]), string(e.Tracking[event.FBCLID])
	if u, err := url.Parse(string(e.URL)); err == nil {
		q := u.Query()
		g.urlUTM = [3]string{q.Get("utm_source"), q.Get("utm_medium"), q.Get("utm_campaign")}
		// A browser hit's click ids come from its page URL first (where a
		// visitor without consent, who keeps no _pxclk cookie, has them
		// on the landing page's every hit).
		if string(e.Tracking[event.Channel]) == "browser" {
			if v := q.Get("gclid"); v != "" {
				g.GCLID = v
			}
			if v := q.Get("fbclid"); v != "" {
				g.FBCLID = v
			}
		}
	}
	return g
}

// datasetSender sends generated events as the tag and a backend would.
type datasetSender struct {
	t         *testing.T
	client    *http.Client
	collector string
	sites     map[string]string // pixel → its site's origin
	secrets   map[string]string // pixel → server-API secret
	clicks    map[string]string // visitor → its _pxclk cookie, as a browser keeps it
	pending   map[string][]map[string]any
	requests  int
}

// browser sends e as the tag's beacon: POST /collect from the page's
// origin with the visitor's cookies (none for a visitor without consent).
func (s *datasetSender) browser(e *event.Event) {
	s.t.Helper()
	cd := map[string]any{}
	if e.Value != 0 {
		cd["value"] = strconv.FormatFloat(e.Value, 'f', -1, 64)
	}
	if len(e.Currency) > 0 {
		cd["currency"] = string(e.Currency)
	}
	if len(e.OrderID) > 0 {
		cd["order_id"] = string(e.OrderID)
	}
	if len(e.ContentIDs) > 0 {
		ids := make([]string, len(e.ContentIDs))
		for i, id := range e.ContentIDs {
			ids[i] = string(id)
		}
		cd["content_ids"] = ids
	}
	body := map[string]any{
		"id": string(e.PixelID), "ev": string(e.Name), "eid": string(e.EventID), "dl": string(e.URL),
		"ts": e.Millis(), "pv": string(e.Tracking[event.PageViewID]),
	}
	if len(e.Referrer) > 0 {
		body["rl"] = string(e.Referrer)
	}
	if e.EngagedMs > 0 {
		body["et"] = e.EngagedMs
	}
	if len(cd) > 0 {
		body["cd"] = cd
	}
	if em := e.Tracking[event.EmailSHA256]; len(em) > 0 {
		body["ud"] = map[string]any{"em": string(em), "em_g": string(e.Tracking[event.EmailGoogleSHA256])}
	}
	denied := string(e.Tracking[event.Consent]) == "denied"
	if !denied {
		body["cs"] = "granted" // the tag's consent grant on a pixel that requires one
	}
	data, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.collector+"/collect", strings.NewReader(string(data)))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8") // sendBeacon's
	req.Header.Set("Origin", s.sites[string(e.PixelID)])
	req.Header.Set("User-Agent", string(e.UserAgent))
	req.Header.Set("X-Forwarded-For", string(e.IP))
	visitor := string(e.VisitorID)
	if !denied {
		cookies := []string{"_pxid=" + visitor}
		if len(e.SessionID) > 0 {
			cookies = append(cookies, "_pxsid="+string(e.SessionID))
		}
		if c := s.clicks[visitor]; c != "" {
			cookies = append(cookies, "_pxclk="+c)
		}
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	s.requests++
	if resp.StatusCode != http.StatusNoContent {
		s.t.Fatalf("POST /collect %s: status %d", data, resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "_pxclk" && !denied {
			s.clicks[visitor] = c.Value
		}
	}
}

// server queues e for the site's backend, which sends its events in
// batches: POST /v1/{pixel}/events with the pixel's secret.
func (s *datasetSender) server(e *event.Event) {
	ev := map[string]any{
		"event": string(e.Name), "event_id": string(e.EventID), "visitor_id": string(e.VisitorID),
		"ts": e.Millis(), "url": string(e.URL), "ip": string(e.IP), "user_agent": string(e.UserAgent),
		"action_source": string(e.Tracking[event.ActionSource]),
	}
	if len(e.SessionID) > 0 {
		ev["session_id"] = string(e.SessionID)
	}
	if e.Value != 0 {
		ev["value"] = e.Value
	}
	if len(e.Currency) > 0 {
		ev["currency"] = string(e.Currency)
	}
	if len(e.OrderID) > 0 {
		ev["order_id"] = string(e.OrderID)
	}
	if len(e.ContentIDs) > 0 {
		ids := make([]string, len(e.ContentIDs))
		for i, id := range e.ContentIDs {
			ids[i] = string(id)
		}
		ev["content_ids"] = ids
	}
	for _, col := range []int{event.EmailSHA256, event.EmailGoogleSHA256, event.ExternalID,
		event.UTMSource, event.UTMMedium, event.UTMCampaign, event.GCLID, event.FBCLID} {
		if v := e.Tracking[col]; len(v) > 0 {
			ev[event.TrackingColumns[col]] = string(v)
		}
	}
	if s.pending == nil {
		s.pending = map[string][]map[string]any{}
	}
	px := string(e.PixelID)
	s.pending[px] = append(s.pending[px], ev)
	if len(s.pending[px]) >= 200 {
		s.send(px)
	}
}

func (s *datasetSender) flush() {
	for px := range s.pending {
		s.send(px)
	}
}

func (s *datasetSender) send(px string) {
	s.t.Helper()
	evs := s.pending[px]
	if len(evs) == 0 {
		return
	}
	data, err := json.Marshal(map[string]any{"events": evs})
	if err != nil {
		s.t.Fatal(err)
	}
	status, body := post(s.t, s.client, s.collector+"/v1/"+px+"/events", string(data), "Authorization: Bearer "+s.secrets[px])
	s.requests++
	if status != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"accepted":%d`, len(evs))) {
		s.t.Fatalf("POST /v1/%s/events with %d events: %d %s", px, len(evs), status, body)
	}
	s.pending[px] = evs[:0]
}

// storedRow is one stored row, as the oracle's Row plus what the test
// checks besides.
type storedRow struct {
	dataset.Row
	extra
	consent, cookieless string
	receivedDay         string // the UTC day the collector received it
}

func readStored(t *testing.T, conn chstore.Conn) []storedRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT event_id, pixel_id, visitor_id, session_id, event, channel,
		utm_campaign, utm_source, utm_medium, page_view_id, toUnixTimestamp(ts), ts_ms, value, currency, engaged_ms,
		ip, gclid, fbclid, email_sha256, is_bot, consent, cookieless_id, toString(toDate(received_at, 'UTC'))
		FROM pixel.events WHERE event_id NOT LIKE 'probe-%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedRow
	for rows.Next() {
		var r storedRow
		var ts uint32
		var ms uint64
		var engaged uint32
		var value float64
		var bot uint8
		if err := rows.Scan(&r.EventID, &r.Pixel, &r.Visitor, &r.Session, &r.Event, &r.Channel,
			&r.Campaign, &r.Source, &r.Medium, &r.PageView, &ts, &ms, &value, &r.Currency, &engaged,
			&r.IP, &r.GCLID, &r.FBCLID, &r.Email, &bot, &r.consent, &r.cookieless, &r.receivedDay); err != nil {
			t.Fatal(err)
		}
		r.TS, r.Ms, r.EngagedMs, r.Bot = int64(ts), int64(ms), int64(engaged), bot == 1
		r.Cents = int64(math.Round(value * 100))
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dedupe keeps each (event_id, event) once, the server's copy over the
// browser's, without bots, in the oracle's order (time, then event id).
func dedupe(rows []storedRow) []storedRow {
	seen := map[[2]string]int{}
	var out []storedRow
	for _, r := range rows {
		if r.Bot {
			continue
		}
		k := [2]string{r.EventID, r.Event}
		if i, ok := seen[k]; ok {
			if out[i].Channel != "server" && r.Channel == "server" {
				out[i] = r
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Ms != out[j].Ms {
			return out[i].Ms < out[j].Ms
		}
		return out[i].EventID < out[j].EventID
	})
	return out
}
