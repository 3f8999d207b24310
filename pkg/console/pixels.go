package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/users"
	"github.com/pixel-pipeline/pixel/schemas"
)

// pixelRoutes registers the pixel pages (list, create, edit, disable,
// enable, rotate the secret, snippet) and their JSON API. Every change goes
// through registry.Store, as pixelctl's do.
func (s *Server) pixelRoutes() {
	s.page("GET /pixels", "", s.pixelList)
	s.page("GET /pixels/new", users.RoleAdmin, s.pixelNew)
	s.page("POST /pixels", users.RoleAdmin, s.pixelCreate)
	s.page("GET /pixels/{id}", "", func(w http.ResponseWriter, r *http.Request) {
		if p := s.pagePixel(w, r); p != nil {
			http.Redirect(w, r, "/pixels/"+p.ID+"/dashboard", http.StatusSeeOther)
		}
	})
	s.page("GET /pixels/{id}/edit", users.RoleAdmin, s.pixelEdit)
	s.page("POST /pixels/{id}", users.RoleAdmin, s.pixelUpdate)
	s.page("POST /pixels/{id}/disable", users.RoleAdmin, s.pixelSetStatus(false))
	s.page("POST /pixels/{id}/enable", users.RoleAdmin, s.pixelSetStatus(true))
	s.page("POST /pixels/{id}/rotate-secret", users.RoleAdmin, s.pixelRotate)
	s.page("GET /pixels/{id}/secret", users.RoleAdmin, s.pixelSecret)
	s.page("GET /pixels/{id}/snippet", "", s.pixelSnippet)

	s.api("GET /api/pixels", "", s.apiPixelList)
	s.api("POST /api/pixels", users.RoleAdmin, s.apiPixelCreate)
	s.api("GET /api/pixels/{id}", "", func(w http.ResponseWriter, r *http.Request) {
		if p := s.apiPixel(w, r); p != nil {
			writeJSON(w, http.StatusOK, p.Public())
		}
	})
	s.api("POST /api/pixels/{id}", users.RoleAdmin, s.apiPixelUpdate)
	s.api("POST /api/pixels/{id}/disable", users.RoleAdmin, s.apiPixelStatus(false))
	s.api("POST /api/pixels/{id}/enable", users.RoleAdmin, s.apiPixelStatus(true))
	s.api("POST /api/pixels/{id}/rotate-secret", users.RoleAdmin, s.apiPixelRotate)
	s.api("GET /api/pixels/{id}/snippet", "", func(w http.ResponseWriter, r *http.Request) {
		if p := s.apiPixel(w, r); p != nil {
			writeJSON(w, http.StatusOK, p.Snippets(s.opts.CollectorURL))
		}
	})
}

// pagePixel is the pixel of the route's {id}, or nil after answering a
// 404 or 503 page.
func (s *Server) pagePixel(w http.ResponseWriter, r *http.Request) *registry.Pixel {
	p, status, msg := s.findPixel(r, r.PathValue("id"))
	if p == nil {
		s.errorPage(w, r, status, msg)
	}
	return p
}

// apiPixel is pagePixel for the API: 404 or 503 JSON.
func (s *Server) apiPixel(w http.ResponseWriter, r *http.Request) *registry.Pixel {
	p, status, msg := s.findPixel(r, r.PathValue("id"))
	if p == nil {
		apiError(w, status, msg)
	}
	return p
}

// queryPixel is apiPixel for the routes that name the pixel as ?pixel=ID
// (reports, audiences): 400 without it.
func (s *Server) queryPixel(w http.ResponseWriter, r *http.Request) *registry.Pixel {
	id := r.URL.Query().Get("pixel")
	if id == "" {
		apiError(w, http.StatusBadRequest, "give the pixel: ?pixel=ID (GET /api/pixels lists them)")
		return nil
	}
	p, status, msg := s.findPixel(r, id)
	if p == nil {
		apiError(w, status, msg)
	}
	return p
}

// findPixel reads pixel id, or says what to answer instead.
func (s *Server) findPixel(r *http.Request, id string) (*registry.Pixel, int, string) {
	p, err := s.pixels.Get(r.Context(), id)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil, http.StatusNotFound, "There is no pixel " + strconv.Quote(id) + " (the pixel list shows them)."
	case err != nil:
		s.log.Error().Err(err).Msg("cannot read a pixel")
		return nil, http.StatusServiceUnavailable, "Cannot read the pixel: ClickHouse did not answer. Try again in a moment."
	}
	return p, 0, ""
}

// inputError is the user's mistake in a form or a JSON body.
type inputError struct{ error }

// userMistake reports whether err is the input's fault (400), not the
// console's or ClickHouse's (500).
func userMistake(err error) bool {
	var ie inputError
	return errors.As(err, &ie) || errors.Is(err, registry.ErrInvalid)
}

// pixelForm is the pixel form's fields as typed, so that a refused form
// shows them again.
type pixelForm struct {
	Name, Domains, Engagement, Consent, IP, GPC, DNT, TimeZone string
}

// formOf is the form filled in with p.
func formOf(p *registry.Pixel) pixelForm {
	return pixelForm{
		Name: p.Name, Domains: strings.Join(p.Domains, ", "), Engagement: strconv.Itoa(p.Settings.EngagementSeconds),
		Consent: p.Settings.Consent.String(), IP: p.Settings.IP.String(), GPC: p.Settings.GPC.String(),
		DNT: p.Settings.DNT.String(), TimeZone: p.TimeZone,
	}
}

func readPixelForm(r *http.Request) pixelForm {
	return pixelForm{
		Name: r.PostFormValue("name"), Domains: r.PostFormValue("domains"), Engagement: r.PostFormValue("engagement"),
		Consent: r.PostFormValue("consent"), IP: r.PostFormValue("ip"), GPC: r.PostFormValue("gpc"),
		DNT: r.PostFormValue("dnt"), TimeZone: r.PostFormValue("time_zone"),
	}
}

// splitDomains splits the comma-separated domains field; empty entries (a
// trailing comma) are dropped, the rest is registry.NormalizeDomains's.
func splitDomains(s string) []string {
	out := []string{}
	for _, d := range strings.Split(s, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// apply sets every field of the form on p, checked as pixelctl checks its
// flags (the registry validates the whole pixel again when writing it).
func (f pixelForm) apply(p *registry.Pixel) error {
	n, err := strconv.Atoi(strings.TrimSpace(f.Engagement))
	if err != nil {
		return inputError{fmt.Errorf("engagement goal %q: give whole seconds, 1 to %d", f.Engagement, registry.MaxEngagementSeconds)}
	}
	e := pixelEdit{Name: &f.Name, EngagementSeconds: &n, Consent: &f.Consent, IP: &f.IP, GPC: &f.GPC, DNT: &f.DNT, TimeZone: &f.TimeZone}
	d := splitDomains(f.Domains)
	e.Domains = &d
	return e.apply(p)
}

// pixelEdit is the JSON body of POST /api/pixels and POST /api/pixels/{id}
// (and what the form becomes): the fields given change, the others stay.
type pixelEdit struct {
	Name              *string   `json:"name"`
	Domains           *[]string `json:"domains"`
	EngagementSeconds *int      `json:"engagement_seconds"`
	Consent           *string   `json:"consent"`
	IP                *string   `json:"ip"`
	GPC               *string   `json:"gpc"`
	DNT               *string   `json:"dnt"`
	TimeZone          *string   `json:"time_zone"`
}

func (e pixelEdit) apply(p *registry.Pixel) error {
	if e.Name != nil {
		p.Name = strings.TrimSpace(*e.Name)
		if p.Name == "" {
			return inputError{errors.New("the pixel needs a name, for people: \"Shop\"")}
		}
	}
	if e.Domains != nil {
		d, err := registry.NormalizeDomains(*e.Domains)
		if err != nil {
			return inputError{err}
		}
		p.Domains = d
	}
	if e.EngagementSeconds != nil {
		if n := *e.EngagementSeconds; n < 1 || n > registry.MaxEngagementSeconds {
			return inputError{fmt.Errorf("engagement goal %d seconds: use 1 to %d", n, registry.MaxEngagementSeconds)}
		}
		p.Settings.EngagementSeconds = *e.EngagementSeconds
	}
	var err error
	if e.Consent != nil {
		if p.Settings.Consent, err = pixel.ParseConsentMode(*e.Consent); err != nil {
			return inputError{err}
		}
	}
	if e.IP != nil {
		if p.Settings.IP, err = pixel.ParseIPMode(*e.IP); err != nil {
			return inputError{err}
		}
	}
	if e.GPC != nil {
		if p.Settings.GPC, err = pixel.ParseSignalMode(*e.GPC); err != nil {
			return inputError{fmt.Errorf("gpc: %w", err)}
		}
	}
	if e.DNT != nil {
		if p.Settings.DNT, err = pixel.ParseSignalMode(*e.DNT); err != nil {
			return inputError{fmt.Errorf("dnt: %w", err)}
		}
	}
	if e.TimeZone != nil {
		if p.TimeZone, err = registry.NormalizeTimeZone(*e.TimeZone); err != nil {
			return inputError{err}
		}
	}
	return nil
}

// createPixel registers a pixel from the defaults changed by edit: one way
// for the form and the API.
func (s *Server) createPixel(ctx context.Context, edit func(*registry.Pixel) error) (*registry.Pixel, string, error) {
	p := &registry.Pixel{TimeZone: "UTC", Settings: pixel.DefaultSettings()}
	if err := edit(p); err != nil {
		return nil, "", err
	}
	return s.pixels.Create(ctx, registry.New{Name: p.Name, Domains: p.Domains, TimeZone: p.TimeZone, Settings: p.Settings})
}

// modeChoices are the form's options, by field, with their help.
var modeChoices = map[string][][2]string{
	"consent": {{pixel.ConsentGranted.String(), "granted: cookies from the first hit"}, {pixel.ConsentRequired.String(), "required: cookieless until pixel('consent','grant')"}},
	"ip":      {{pixel.IPKeep.String(), "keep the address"}, {pixel.IPTruncate.String(), "truncate (/24 IPv4, /48 IPv6)"}, {pixel.IPDrop.String(), "drop it"}},
	"signal":  {{pixel.SignalDrop.String(), "drop: answered, not recorded"}, {pixel.SignalFlag.String(), "flag: recorded, marked"}},
}

// pixelRow is one row of the pixel list.
type pixelRow struct {
	P       *registry.Pixel
	LastHit string // "never", a time, or a day
}

type pixelListView struct {
	Rows  []pixelRow
	Admin bool
}

func (s *Server) pixelList(w http.ResponseWriter, r *http.Request) {
	ps, err := s.pixels.List(r.Context())
	if err != nil {
		s.log.Error().Err(err).Msg("cannot list pixels")
		s.errorPage(w, r, http.StatusInternalServerError, "Cannot list the pixels: ClickHouse did not answer. Try again in a moment.")
		return
	}
	last, err := s.lastHits(r.Context())
	if err != nil {
		// The list is still worth showing without it.
		s.log.Warn().Err(err).Msg("cannot read the pixels' last hits")
	}
	v := pixelListView{Admin: current(r).IsAdmin()}
	for _, p := range ps {
		lh := last[p.ID]
		if lh == "" {
			lh = "never"
			if err != nil {
				lh = "unknown"
			}
		}
		v.Rows = append(v.Rows, pixelRow{P: p, LastHit: lh})
	}
	// After disable or enable (?disabled=ID, ?enabled=ID): say so, for a
	// pixel that exists only (the query is the user's own input).
	var flash string
	for _, p := range ps {
		for _, to := range []string{"disabled", "enabled"} {
			if r.URL.Query().Get(to) == p.ID {
				flash = "Pixel " + p.Name + " is " + to + " now; the collectors take it up at their next registry refresh (10 s by default)."
			}
		}
	}
	s.renderView(w, r, http.StatusOK, "pixels.html", &view{Title: "Pixels", Pixels: ps, Flash: flash, Data: v})
}

// liveWindow bounds every read of the newest events by received_at (the
// table's partition key), so that the live view, the install check and the
// list's "last hit seen" read the newest parts only, however big the table.
const liveWindow = 48 * time.Hour

// lastHits is each pixel's last hit: the time of the newest event received
// within liveWindow, else the day of its newest 15-minute bucket in
// daily_stats (a small table; its days are event days, so "on DAY").
func (s *Server) lastHits(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	rows, err := s.conn.Query(ctx, schemas.Internal("console_last_buckets"))
	if err != nil {
		return out, fmt.Errorf("cannot read daily_stats: %w", err)
	}
	for rows.Next() {
		var id string
		var t time.Time
		if err := rows.Scan(&id, &t); err != nil {
			rows.Close()
			return out, err
		}
		out[id] = "on " + t.UTC().Format("2006-01-02")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, err
	}
	rows, err = s.conn.Query(ctx, schemas.Internal("console_last_hits"), s.opts.Now().Add(-liveWindow))
	if err != nil {
		return out, fmt.Errorf("cannot read the newest events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var t time.Time
		if err := rows.Scan(&id, &t); err != nil {
			return out, err
		}
		out[id] = t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return out, rows.Err()
}

// pixelFormView is the create and edit page.
type pixelFormView struct {
	Form    pixelForm
	Error   string
	Pixel   *registry.Pixel // nil when creating
	Choices map[string][][2]string
}

func (s *Server) pixelNew(w http.ResponseWriter, r *http.Request) {
	f := formOf(&registry.Pixel{TimeZone: "UTC", Settings: pixel.DefaultSettings()})
	s.renderView(w, r, http.StatusOK, "pixel_form.html", &view{Title: "New pixel", Data: pixelFormView{Form: f, Choices: modeChoices}})
}

func (s *Server) pixelCreate(w http.ResponseWriter, r *http.Request) {
	f := readPixelForm(r)
	p, secret, err := s.createPixel(r.Context(), f.apply)
	if err != nil {
		status, msg := s.changeError(err)
		s.renderView(w, r, status, "pixel_form.html", &view{Title: "New pixel", Data: pixelFormView{Form: f, Error: msg, Choices: modeChoices}})
		return
	}
	s.secrets.put(sessionID(r), p.ID, secret, s.opts.Now())
	http.Redirect(w, r, "/pixels/"+p.ID+"/snippet", http.StatusSeeOther)
}

// changeError is the status and message of a failed create or update.
func (s *Server) changeError(err error) (int, string) {
	if userMistake(err) {
		return http.StatusBadRequest, err.Error()
	}
	s.log.Error().Err(err).Msg("cannot write a pixel")
	return http.StatusInternalServerError, "Cannot save the pixel: ClickHouse did not answer. Try again in a moment."
}

func (s *Server) pixelEdit(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	s.renderView(w, r, http.StatusOK, "pixel_form.html", &view{Title: "Settings of " + p.Name, Pixel: p, Data: pixelFormView{Form: formOf(p), Pixel: p, Choices: modeChoices}})
}

func (s *Server) pixelUpdate(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	f := readPixelForm(r)
	q, err := s.pixels.Update(r.Context(), p.ID, f.apply)
	if err != nil {
		status, msg := s.changeError(err)
		s.renderView(w, r, status, "pixel_form.html", &view{Title: "Settings of " + p.Name, Pixel: p, Data: pixelFormView{Form: f, Error: msg, Pixel: p, Choices: modeChoices}})
		return
	}
	s.renderView(w, r, http.StatusOK, "pixel_form.html", &view{Title: "Settings of " + q.Name, Pixel: q,
		Flash: "Saved. The collectors take the change up at their next registry refresh (10 s by default).",
		Data:  pixelFormView{Form: formOf(q), Pixel: q, Choices: modeChoices}})
}

func (s *Server) pixelSetStatus(enable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.pagePixel(w, r)
		if p == nil {
			return
		}
		var err error
		if enable {
			_, err = s.pixels.Enable(r.Context(), p.ID)
		} else {
			_, err = s.pixels.Disable(r.Context(), p.ID)
		}
		if err != nil {
			_, msg := s.changeError(err)
			s.errorPage(w, r, http.StatusInternalServerError, msg)
			return
		}
		to := "disabled"
		if enable {
			to = "enabled"
		}
		http.Redirect(w, r, "/pixels?"+to+"="+p.ID, http.StatusSeeOther)
	}
}

type secretView struct {
	Pixel  *registry.Pixel
	Secret string
}

func (s *Server) pixelRotate(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.renderView(w, r, http.StatusBadRequest, "pixel_form.html", &view{Title: "Settings of " + p.Name, Pixel: p,
			Data: pixelFormView{Form: formOf(p), Pixel: p, Choices: modeChoices, Error: "Tick the box to confirm: the old secret stops working."}})
		return
	}
	p, secret, err := s.pixels.RotateSecret(r.Context(), p.ID)
	if err != nil {
		_, msg := s.changeError(err)
		s.errorPage(w, r, http.StatusInternalServerError, msg)
		return
	}
	// The secret waits on the shelf for the page the browser is sent to, so
	// that reloading that page shows no secret and rotates nothing again.
	s.secrets.put(sessionID(r), rotatedKey+p.ID, secret, s.opts.Now())
	http.Redirect(w, r, "/pixels/"+url.PathEscape(p.ID)+"/secret", http.StatusSeeOther)
}

// rotatedKey prefixes a rotated secret's pixel id on the shelf, apart
// from a new pixel's.
const rotatedKey = "rotated/"

// pixelSecret shows a rotated secret, once.
func (s *Server) pixelSecret(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	secret := s.secrets.take(sessionID(r), rotatedKey+p.ID, s.opts.Now())
	s.renderView(w, r, http.StatusOK, "secret.html", &view{Title: "New secret of " + p.Name, Pixel: p, Data: secretView{Pixel: p, Secret: secret}})
}

type snippetView struct {
	Pixel    *registry.Pixel
	Snippets registry.Snippets
	Secret   string // only right after creating the pixel
	Install  installCheck
}

func (s *Server) pixelSnippet(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	v := snippetView{Pixel: p, Snippets: p.Snippets(s.opts.CollectorURL), Secret: s.secrets.take(sessionID(r), p.ID, s.opts.Now())}
	var err error
	if v.Install, err = s.install(r.Context(), p.ID); err != nil {
		// live.js asks again in 2 s; the snippets matter more.
		s.log.Warn().Err(err).Msg("cannot check an install")
	}
	s.renderView(w, r, http.StatusOK, "snippet.html", &view{Title: "Snippet of " + p.Name, Pixel: p, Data: v})
}

// sessionID is the request's session id ("" for an API token).
func sessionID(r *http.Request) string {
	if a, ok := r.Context().Value(ctxKey{}).(*auth); ok && a.session != nil {
		return a.session.id
	}
	return ""
}

// secretShelf keeps a new pixel's secret between the create form's POST
// and the snippet page it redirects to, for that session only, taken once
// and for secretShelfTTL at most: the secret is never in a URL, and a
// reload of the snippet page no longer shows it.
type secretShelf struct {
	mu sync.Mutex
	m  map[[2]string]shelved
}

type shelved struct {
	secret string
	at     time.Time
}

const secretShelfTTL = 10 * time.Minute

func newSecretShelf() *secretShelf { return &secretShelf{m: map[[2]string]shelved{}} }

func (s *secretShelf) put(session, id, secret string, now time.Time) {
	if session == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if now.Sub(v.at) > secretShelfTTL {
			delete(s.m, k)
		}
	}
	s.m[[2]string{session, id}] = shelved{secret, now}
}

func (s *secretShelf) take(session, id string, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{session, id}
	v, ok := s.m[k]
	delete(s.m, k)
	if !ok || now.Sub(v.at) > secretShelfTTL {
		return ""
	}
	return v.secret
}

// The JSON API.

func (s *Server) apiPixelList(w http.ResponseWriter, r *http.Request) {
	ps, err := s.pixels.List(r.Context())
	if err != nil {
		s.log.Error().Err(err).Msg("cannot list pixels")
		apiError(w, http.StatusInternalServerError, "cannot list the pixels: ClickHouse did not answer")
		return
	}
	out := make([]registry.Record, len(ps))
	for i, p := range ps {
		out[i] = p.Public()
	}
	writeJSON(w, http.StatusOK, out)
}

// readEdit decodes a JSON pixel body (decodeJSON).
func readEdit(r *http.Request) (pixelEdit, error) {
	var e pixelEdit
	if err := decodeJSON(r, &e); err != nil {
		return e, inputError{fmt.Errorf("the body is not a pixel's JSON (name, domains, engagement_seconds, consent, ip, gpc, dnt, time_zone): %v", err)}
	}
	return e, nil
}

// apiChangeError answers a failed create or update.
func (s *Server) apiChangeError(w http.ResponseWriter, err error) {
	status, msg := s.changeError(err)
	apiError(w, status, strings.ReplaceAll(msg, "\n", " "))
}

func (s *Server) apiPixelCreate(w http.ResponseWriter, r *http.Request) {
	e, err := readEdit(r)
	if err != nil {
		s.apiChangeError(w, err)
		return
	}
	if e.Name == nil {
		apiError(w, http.StatusBadRequest, `the pixel needs a "name", for people: "Shop"`)
		return
	}
	p, secret, err := s.createPixel(r.Context(), e.apply)
	if err != nil {
		s.apiChangeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Pixel    registry.Record   `json:"pixel"`
		Secret   string            `json:"secret"`
		Snippets registry.Snippets `json:"snippets"`
	}{p.Public(), secret, p.Snippets(s.opts.CollectorURL)})
}

func (s *Server) apiPixelUpdate(w http.ResponseWriter, r *http.Request) {
	p := s.apiPixel(w, r)
	if p == nil {
		return
	}
	e, err := readEdit(r)
	if err != nil {
		s.apiChangeError(w, err)
		return
	}
	if p, err = s.pixels.Update(r.Context(), p.ID, e.apply); err != nil {
		s.apiChangeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p.Public())
}

func (s *Server) apiPixelStatus(enable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.apiPixel(w, r)
		if p == nil {
			return
		}
		var err error
		if enable {
			p, err = s.pixels.Enable(r.Context(), p.ID)
		} else {
			p, err = s.pixels.Disable(r.Context(), p.ID)
		}
		if err != nil {
			s.apiChangeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, p.Public())
	}
}

func (s *Server) apiPixelRotate(w http.ResponseWriter, r *http.Request) {
	p := s.apiPixel(w, r)
	if p == nil {
		return
	}
	p, secret, err := s.pixels.RotateSecret(r.Context(), p.ID)
	if err != nil {
		s.apiChangeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}{p.ID, secret})
}
