package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// hit is an event to insert into pixel.events, as the consumer would.
type hit struct {
	id, pixel, name, url, referrer, props, ua, channel, campaign string
	received                                                     time.Time
	value                                                        float64
	bot                                                          bool
}

func insertHits(t *testing.T, tc *testConsole, hits ...hit) {
	t.Helper()
	var rows chstore.Rows
	for _, h := range hits {
		e := event.Event{
			EventID: []byte(h.id), PixelID: []byte(h.pixel), VisitorID: []byte("v-" + h.id), SessionID: []byte("s1"), Name: []byte(h.name),
			TS: h.received.Unix(), ReceivedAt: h.received.Unix(), URL: []byte(h.url), Referrer: []byte(h.referrer),
			Value: h.value, UserAgent: []byte(h.ua), Props: []byte(h.props), IsBot: h.bot, GPC: true,
		}
		if h.value != 0 {
			e.Currency = []byte("EUR")
		}
		e.Tracking[event.Channel] = []byte(h.channel)
		e.Tracking[event.Consent] = []byte("granted")
		e.Tracking[event.UTMCampaign] = []byte(h.campaign)
		e.Tracking[event.UTMSource] = []byte("news")
		rows.Append(&e)
	}
	if err := chstore.Insert(context.Background(), tc.conn, &rows, ""); err != nil {
		t.Fatal(err)
	}
}

// Hostile values, as a hit may carry them.
const (
	xssScript = `<script>alert(1)</script>`
	xssImg    = `"><img src=x onerror=alert(1)>`
	xssJS     = `javascript:alert(1)`
)

type liveAnswer struct {
	Events []liveEvent
	Cursor string
}

func TestLiveEventsAndInstall(t *testing.T) {
	ctx := context.Background()
	tc := newTestConsole(t)
	p, _, err := tc.pixels.Create(ctx, registry.New{Name: "Shop", Domains: []string{"shop.example"}, Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := tc.pixels.Create(ctx, registry.New{Name: "Other", Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	quiet, _, err := tc.pixels.Create(ctx, registry.New{Name: "Quiet", Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	c := tc.signIn(t, "vic", users.RoleViewer)
	getLive := func(query string) (int, liveAnswer, string) {
		t.Helper()
		res, body := c.get("/api/pixels/" + p.ID + "/events" + query)
		var a liveAnswer
		if res.StatusCode == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &a); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
		}
		return res.StatusCode, a, body
	}
	install := func() installCheck {
		t.Helper()
		res, body := c.get("/api/pixels/" + p.ID + "/install")
		var ic installCheck
		if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &ic) != nil {
			t.Fatalf("install: %d %s", res.StatusCode, body)
		}
		return ic
	}

	if ic := install(); ic.Installed || ic.URL != "" || ic.ReceivedAt != nil {
		t.Errorf("install before any hit: %+v", ic)
	}
	if code, a, _ := getLive(""); code != http.StatusOK || len(a.Events) != 0 || a.Cursor != "" {
		t.Errorf("live before any hit: %d %+v", code, a)
	}

	now := time.Now().UTC().Truncate(time.Second)
	insertHits(t, tc,
		// Older than the live window: neither live nor the install.
		hit{id: "old", pixel: p.ID, name: "PageView", url: "https://shop.example/old", channel: "browser", received: now.Add(-72 * time.Hour)},
		// A server event proves nothing of the tag.
		hit{id: "srv", pixel: p.ID, name: "Purchase", url: "https://shop.example/thanks", channel: "server", value: 19.9, received: now.Add(-50 * time.Second)},
		hit{id: "a", pixel: p.ID, name: "PageView", url: "https://shop.example/first", channel: "browser", campaign: "sale", received: now.Add(-40 * time.Second)},
		hit{id: "b", pixel: p.ID, name: "Lead", url: "https://shop.example/b", channel: "browser", received: now.Add(-30 * time.Second), bot: true},
		hit{id: "c", pixel: p.ID, name: "PageView", url: "https://shop.example/c", channel: "browser", received: now.Add(-30 * time.Second)},
		// Only before the window: the list shows its day, from daily_stats.
		hit{id: "q", pixel: quiet.ID, name: "PageView", url: "https://quiet.example/", channel: "browser", received: now.Add(-72 * time.Hour)},
		hit{id: "x", pixel: other.ID, name: "PageView", url: "https://other.example/", channel: "browser", received: now.Add(-20 * time.Second)},
	)

	ic := install()
	if !ic.Installed || ic.URL != "https://shop.example/first" || ic.ReceivedAt == nil || !ic.ReceivedAt.Equal(now.Add(-40*time.Second)) {
		t.Errorf("install: %+v, want the first browser hit", ic)
	}

	code, a, body := getLive("")
	var ids []string
	for _, e := range a.Events {
		ids = append(ids, e.EventID)
	}
	if code != http.StatusOK || strings.Join(ids, ",") != "c,b,a,srv" {
		t.Fatalf("live: %d %v, want c,b,a,srv (newest first, same second by event id, within 48 h, this pixel's)\n%s", code, ids, body)
	}
	if e := a.Events[3]; e.Value != 19.9 || e.Currency != "EUR" || e.Channel != "server" || !e.GPC || e.Consent != "granted" {
		t.Errorf("the server event: %+v", e)
	}
	if e := a.Events[1]; !e.Bot || e.Event != "Lead" {
		t.Errorf("the bot's event: %+v", e)
	}
	if a.Cursor != a.Events[0].Cursor {
		t.Errorf("cursor %q, want the newest event's %q", a.Cursor, a.Events[0].Cursor)
	}

	// limit: the newest N; bounds 1 to 200.
	if _, a2, _ := getLive("?limit=2"); len(a2.Events) != 2 || a2.Events[0].EventID != "c" || a2.Events[1].EventID != "b" {
		t.Errorf("limit=2: %+v", a2.Events)
	}
	for _, l := range []string{"0", "201", "-1", "x", ""} {
		q := "?limit=" + l
		if code, _, body := getLive(q); (l == "" && code != http.StatusOK) || (l != "" && (code != http.StatusBadRequest || !strings.Contains(body, `"error"`))) {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	if code, _, _ := getLive("?limit=200"); code != http.StatusOK {
		t.Errorf("limit=200: %d", code)
	}

	// The cursor: only what is newer, and the same cursor back when nothing is.
	cb := a.Events[1].Cursor // b's: c is in the same second with a greater id
	if _, a2, _ := getLive("?after=" + url.QueryEscape(cb)); len(a2.Events) != 1 || a2.Events[0].EventID != "c" || a2.Cursor != a.Events[0].Cursor {
		t.Errorf("after b: %+v", a2)
	}
	if _, a2, _ := getLive("?after=" + url.QueryEscape(a.Cursor)); len(a2.Events) != 0 || a2.Cursor != a.Cursor {
		t.Errorf("after the newest: %+v", a2)
	}
	insertHits(t, tc, hit{id: "d", pixel: p.ID, name: "Purchase", url: "https://shop.example/d", channel: "browser", received: now.Add(-10 * time.Second)})
	if _, a2, _ := getLive("?after=" + url.QueryEscape(a.Cursor)); len(a2.Events) != 1 || a2.Events[0].EventID != "d" {
		t.Errorf("after the newest, one more: %+v", a2)
	}
	for _, bad := range []string{"x", "12", "12.!!", "-5.YQ", strconv.Itoa(event.MaxTime+1) + ".YQ"} {
		if code, _, body := getLive("?after=" + url.QueryEscape(bad)); code != http.StatusBadRequest || !strings.Contains(body, "cursor") {
			t.Errorf("after=%s: %d %s, want 400", bad, code, body)
		}
	}

	// The pages: the list's last hit, the snippet page installed, the live rows.
	_, body = c.get("/pixels")
	mustContain(t, "the list", body, `<td class="last-hit">`+now.Add(-10*time.Second).Format("2006-01-02 15:04:05 UTC")+`</td>`,
		`<td class="last-hit">on `+now.Add(-72*time.Hour).Format("2006-01-02")+`</td>`)
	if ic, err := tc.install(ctx, quiet.ID); err != nil || ic.Installed {
		t.Errorf("a pixel whose only hit is older than the window: %+v %v, want waiting", ic, err)
	}
	_, body = c.get("/pixels/" + p.ID + "/snippet")
	mustContain(t, "the installed snippet page", body, `data-state="installed"`, `<span id="install-url">https://shop.example/first</span>`)
	_, body = c.get("/pixels/" + p.ID + "/live")
	mustContain(t, "the live page", body, `<table id="live-events"`, `data-cursor="`, `<td class="ev-name">Purchase</td>`, `<td class="ev-page wrap">https://shop.example/d</td>`,
		`<td class="ev-campaign">sale · news</td>`, `<td class="ev-value num">19.9 EUR</td>`, `<td class="ev-consent">granted</td>`, `<td class="ev-bot">bot</td>`,
		`id="live-pause"`, `aria-pressed="false"`)
	if n := strings.Count(body, `<tr class="event-row"`); n != 5 {
		t.Errorf("the live page has %d rows, want 5", n)
	}
}

func TestHostileHitsAreEscaped(t *testing.T) {
	ctx := context.Background()
	tc := newTestConsole(t)
	p, _, err := tc.pixels.Create(ctx, registry.New{Name: "Shop", Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	insertHits(t, tc,
		hit{id: "h1", pixel: p.ID, name: xssScript, url: xssJS, referrer: xssImg, props: `{"q":"` + xssScript + `"}`, ua: xssImg, campaign: xssScript, channel: "browser", received: now.Add(-5 * time.Second)},
		hit{id: "h2", pixel: p.ID, name: "PageView", url: "https://shop.example/" + xssImg, referrer: xssJS, props: xssImg, ua: xssScript, channel: "browser", received: now.Add(-2 * time.Second)},
	)
	c := tc.signIn(t, "ana", users.RoleAdmin)
	for _, path := range []string{"/pixels/" + p.ID + "/live", "/pixels/" + p.ID + "/snippet", "/pixels"} {
		res, body := c.get(path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		mustNotContain(t, path, body, "<img", "<script>alert", `href="javascript:`, `href="`+xssJS, "onerror=alert(1)>")
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: no CSP", path)
		}
	}
	_, body := c.get("/pixels/" + p.ID + "/live")
	mustContain(t, "the live page", body, `&lt;script&gt;alert(1)&lt;/script&gt;`, `&#34;&gt;&lt;img src=x onerror=alert(1)&gt;`, `<td class="ev-page wrap">javascript:alert(1)</td>`)
	_, body = c.get("/pixels/" + p.ID + "/snippet")
	mustContain(t, "the snippet page", body, `<span id="install-url">javascript:alert(1)</span>`)
	// The API gives the values as they are: JSON, for textContent.
	_, body = c.get("/api/pixels/" + p.ID + "/events")
	var a liveAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil || len(a.Events) != 2 || a.Events[1].Event != xssScript || a.Events[1].URL != xssJS {
		t.Errorf("the API's hostile events: %v %+v", err, a.Events)
	}
}

func TestParseCursor(t *testing.T) {
	for _, c := range []liveCursor{{}, {at: 1767268800, eventID: "abc"}, {at: 5, eventID: "a.b_c-d/é"}, {at: event.MaxTime, eventID: strings.Repeat("x", event.MaxEventIDLen)}} {
		got, err := parseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("parseCursor(%q) = %+v, %v; want %+v", c.String(), got, err, c)
		}
	}
	if got, err := parseCursor(""); err != nil || got != (liveCursor{}) {
		t.Errorf(`parseCursor("") = %+v, %v`, got, err)
	}
	for _, s := range []string{".", "1", "a.YQ", "+1.YQ", "-1.YQ", "1.Y=", "1.***", "99999999999999999999.YQ", "1." + strings.Repeat("eHh4", 100)} {
		if _, err := parseCursor(s); err == nil {
			t.Errorf("parseCursor(%q): no error", s)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "1767268800.YWJj", "0.", "1.Y=", "+1.YQ", "1..", strconv.Itoa(event.MaxTime) + ".eA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			return
		}
		if c.at < 0 || c.at > event.MaxTime || len(c.eventID) > event.MaxEventIDLen {
			t.Fatalf("parseCursor(%q) = %+v: out of bounds", s, c)
		}
		// A valid cursor reads back to itself.
		if again, err := parseCursor(c.String()); err != nil || again != c {
			t.Fatalf("parseCursor(%q) = %+v, round trip %+v %v", s, c, again, err)
		}
	})
}
