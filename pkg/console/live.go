package console

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/schemas"
)

// liveRoutes registers the live events page and the two polled API routes
// (live events, install check). Polling, not server-sent events: each poll
// is one short query, and nothing holds a connection or a goroutine open.
func (s *Server) liveRoutes() {
	s.page("GET /pixels/{id}/live", "", s.livePage)
	s.api("GET /api/pixels/{id}/events", "", s.apiLiveEvents)
	s.api("GET /api/pixels/{id}/install", "", s.apiInstall)
}

// Live events per answer: liveDefault unless ?limit= says otherwise.
const (
	liveDefault = 50
	liveMax     = 200
)

// liveEvent is one row of the live view, as the API answers it. Every
// string came from a hit: hostile, shown as text only.
type liveEvent struct {
	EventID     string    `json:"event_id"`
	Event       string    `json:"event"`
	TS          time.Time `json:"ts"`
	ReceivedAt  time.Time `json:"received_at"`
	URL         string    `json:"url"`
	Referrer    string    `json:"referrer"`
	UTMCampaign string    `json:"utm_campaign"`
	UTMSource   string    `json:"utm_source"`
	UTMMedium   string    `json:"utm_medium"`
	Value       float64   `json:"value"`
	Currency    string    `json:"currency"`
	Consent     string    `json:"consent"`
	GPC         bool      `json:"gpc"`
	DNT         bool      `json:"dnt"`
	Bot         bool      `json:"bot"`
	Channel     string    `json:"channel"`
	Props       string    `json:"props"`
	UserAgent   string    `json:"user_agent"`
	Cursor      string    `json:"cursor"` // this event's position, for ?after=
}

// Campaign is "campaign · source / medium", the parts that are set.
func (e *liveEvent) Campaign() string {
	var parts []string
	if e.UTMCampaign != "" {
		parts = append(parts, e.UTMCampaign)
	}
	if sm := strings.Trim(e.UTMSource+" / "+e.UTMMedium, " /"); sm != "" {
		parts = append(parts, sm)
	}
	return strings.Join(parts, " · ")
}

// ValueText is the value with its currency, or "" for none.
func (e *liveEvent) ValueText() string {
	if e.Value == 0 {
		return ""
	}
	return strings.TrimSpace(strconv.FormatFloat(e.Value, 'f', -1, 64) + " " + e.Currency)
}

// Signals is "gpc dnt", the privacy signals the hit carried.
func (e *liveEvent) Signals() string {
	var s []string
	if e.GPC {
		s = append(s, "gpc")
	}
	if e.DNT {
		s = append(s, "dnt")
	}
	return strings.Join(s, " ")
}

// liveCursor is a position in the live view: the events after it are
// those received later, or in the same second with a greater event_id.
type liveCursor struct {
	at      int64 // received_at, Unix seconds
	eventID string
}

// String is the cursor as ?after= takes it: "SECONDS.BASE64URL(event_id)".
func (c liveCursor) String() string {
	return strconv.FormatInt(c.at, 10) + "." + base64.RawURLEncoding.EncodeToString([]byte(c.eventID))
}

// parseCursor reads ?after=; "" is no cursor (the zero liveCursor).
func parseCursor(s string) (liveCursor, error) {
	if s == "" {
		return liveCursor{}, nil
	}
	secs, id, ok := strings.Cut(s, ".")
	at, err := strconv.ParseInt(secs, 10, 64)
	if !ok || err != nil || at < 0 || at > event.MaxTime || secs[0] == '+' {
		return liveCursor{}, fmt.Errorf("after=%q is no cursor; pass back the \"cursor\" of an earlier answer", s)
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) > event.MaxEventIDLen {
		return liveCursor{}, fmt.Errorf("after=%q is no cursor; pass back the \"cursor\" of an earlier answer", s)
	}
	return liveCursor{at: at, eventID: string(b)}, nil
}

// liveEvents reads a pixel's newest events after c (received within
// liveWindow), newest first, at most limit.
func (s *Server) liveEvents(ctx context.Context, pixelID string, c liveCursor, limit int) ([]liveEvent, error) {
	since := s.opts.Now().Add(-liveWindow).Truncate(time.Second)
	// Before the window, the cursor is the window's start (one second
	// earlier, so that every event of its first second is after it).
	if c.at < since.Unix() {
		c = liveCursor{at: since.Unix() - 1}
	}
	after := time.Unix(c.at, 0).UTC()
	rows, err := s.conn.Query(ctx, schemas.Internal("console_live_events"), pixelID, since, after, after, c.eventID, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot read the live events: %w", err)
	}
	defer rows.Close()
	out := []liveEvent{}
	for rows.Next() {
		var e liveEvent
		var gpc, dnt, bot uint8
		if err := rows.Scan(&e.EventID, &e.Event, &e.TS, &e.ReceivedAt, &e.URL, &e.Referrer, &e.UTMCampaign, &e.UTMSource, &e.UTMMedium,
			&e.Value, &e.Currency, &e.Consent, &gpc, &dnt, &bot, &e.Channel, &e.Props, &e.UserAgent); err != nil {
			return nil, fmt.Errorf("cannot read the live events: %w", err)
		}
		e.TS, e.ReceivedAt = e.TS.UTC(), e.ReceivedAt.UTC()
		e.GPC, e.DNT, e.Bot = gpc != 0, dnt != 0, bot != 0
		e.Cursor = liveCursor{at: e.ReceivedAt.Unix(), eventID: e.EventID}.String()
		out = append(out, e)
	}
	return out, rows.Err()
}

type liveView struct {
	Events []liveEvent
	Cursor string // of the newest event shown, for live.js
}

func (s *Server) livePage(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	evs, err := s.liveEvents(r.Context(), p.ID, liveCursor{}, liveDefault)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot read live events")
		s.errorPage(w, r, http.StatusInternalServerError, "Cannot read the live events: ClickHouse did not answer. Try again in a moment.")
		return
	}
	v := liveView{Events: evs}
	if len(evs) > 0 {
		v.Cursor = evs[0].Cursor
	}
	s.renderView(w, r, http.StatusOK, "live.html", &view{Title: "Live events of " + p.Name, Pixel: p, Data: v})
}

// apiLiveEvents answers {"events": [...newest first], "cursor": "..."}:
// the cursor is the newest event's, or the one given when nothing is
// newer; pass it back as ?after= to get only what arrived since. When
// more than limit arrived, the newest limit are answered.
func (s *Server) apiLiveEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := parseCursor(q.Get("after"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := liveDefault
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > liveMax {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: give 1 to %d events", l, liveMax))
			return
		}
	}
	p := s.apiPixel(w, r)
	if p == nil {
		return
	}
	evs, err := s.liveEvents(r.Context(), p.ID, c, limit)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot read live events")
		apiError(w, http.StatusInternalServerError, "cannot read the live events: ClickHouse did not answer")
		return
	}
	cursor := q.Get("after")
	if len(evs) > 0 {
		cursor = evs[0].Cursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs, "cursor": cursor})
}

// installCheck is the answer of GET /api/pixels/{id}/install.
type installCheck struct {
	Installed  bool       `json:"installed"`
	URL        string     `json:"url"`
	ReceivedAt *time.Time `json:"received_at"`
}

// install finds the first browser hit of the pixel within liveWindow.
func (s *Server) install(ctx context.Context, pixelID string) (installCheck, error) {
	rows, err := s.conn.Query(ctx, schemas.Internal("console_install"), pixelID, s.opts.Now().Add(-liveWindow).Truncate(time.Second))
	if err != nil {
		return installCheck{}, fmt.Errorf("cannot check the install: %w", err)
	}
	defer rows.Close()
	var ic installCheck
	if rows.Next() {
		var at time.Time
		if err := rows.Scan(&ic.URL, &at); err != nil {
			return installCheck{}, fmt.Errorf("cannot check the install: %w", err)
		}
		at = at.UTC()
		ic.Installed, ic.ReceivedAt = true, &at
	}
	return ic, rows.Err()
}

func (s *Server) apiInstall(w http.ResponseWriter, r *http.Request) {
	p := s.apiPixel(w, r)
	if p == nil {
		return
	}
	ic, err := s.install(r.Context(), p.ID)
	if errors.Is(err, context.Canceled) {
		return
	} else if err != nil {
		s.log.Error().Err(err).Msg("cannot check an install")
		apiError(w, http.StatusInternalServerError, "cannot check the install: ClickHouse did not answer")
		return
	}
	writeJSON(w, http.StatusOK, ic)
}
