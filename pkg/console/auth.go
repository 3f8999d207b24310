package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/users"
)

// Cookie names. The session cookie is HttpOnly and SameSite=Lax, and
// Secure when the console serves TLS; the login cookie carries the sign-in
// form's CSRF token before there is a session (double submit).
const (
	sessionCookie = "pixel_session"
	loginCookie   = "pixel_login"
)

// userRecheck is how long a session trusts the user it read: a user
// disabled, removed or given another role takes effect within it.
const userRecheck = 30 * time.Second

// maxSessions bounds the session table; the oldest idle ones go first.
const maxSessions = 10000

// session is one signed-in browser. Sessions live in the console's memory:
// a restarted console signs everyone out (documented in the README).
type session struct {
	id, csrf  string
	user      *users.User
	checked   time.Time // when user was last read from the store
	lastSeen  time.Time
	createdAt time.Time
}

// sessions is the table of live sessions, safe for concurrent use.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	idle time.Duration
	now  func() time.Time
}

func newSessions(idle time.Duration, now func() time.Time) *sessions {
	return &sessions{byID: map[string]*session{}, idle: idle, now: now}
}

// create starts a session for u.
func (ss *sessions) create(u *users.User) *session {
	now := ss.now()
	s := &session{id: randomToken(), csrf: randomToken(), user: u, checked: now, lastSeen: now, createdAt: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= maxSessions {
		ss.evictLocked(now)
	}
	ss.byID[s.id] = s
	return s
}

// evictLocked drops expired sessions and, if the table is still full, the
// least recently seen.
func (ss *sessions) evictLocked(now time.Time) {
	var oldest *session
	for id, s := range ss.byID {
		if now.Sub(s.lastSeen) > ss.idle {
			delete(ss.byID, id)
			continue
		}
		if oldest == nil || s.lastSeen.Before(oldest.lastSeen) {
			oldest = s
		}
	}
	if len(ss.byID) >= maxSessions && oldest != nil {
		delete(ss.byID, oldest.id)
	}
}

// get returns the live session of id and marks it seen, or nil.
func (ss *sessions) get(id string) *session {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s == nil {
		return nil
	}
	if now.Sub(s.lastSeen) > ss.idle {
		delete(ss.byID, id)
		return nil
	}
	s.lastSeen = now
	return s
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	delete(ss.byID, id)
	ss.mu.Unlock()
}

// endUser ends every session of a user (disabled, or password changed).
func (ss *sessions) endUser(name string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.byID {
		if s.user.Name == name {
			delete(ss.byID, id)
		}
	}
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func equalTokens(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

type ctxKey struct{}

// auth is who a request acts for.
type auth struct {
	user    *users.User
	session *session // nil for an API token
}

// current is the signed-in user of a request that passed page or api.
func current(r *http.Request) *users.User {
	if a, ok := r.Context().Value(ctxKey{}).(*auth); ok {
		return a.user
	}
	return nil
}

// csrfOf is the request's session CSRF token ("" for API tokens).
func csrfOf(r *http.Request) string {
	if a, ok := r.Context().Value(ctxKey{}).(*auth); ok && a.session != nil {
		return a.session.csrf
	}
	return ""
}

// sessionOf reads the session cookie and keeps the session's user fresh:
// a user disabled or removed ends the session.
func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	sess := s.sessions.get(c.Value)
	if sess == nil {
		return nil
	}
	if s.opts.Now().Sub(sess.checked) > userRecheck {
		u, err := s.users.Get(r.Context(), sess.user.Name)
		switch {
		case errors.Is(err, users.ErrNotFound) || (err == nil && u.Disabled):
			s.sessions.delete(sess.id)
			return nil
		case err == nil:
			s.sessions.mu.Lock()
			sess.user, sess.checked = u, s.opts.Now()
			s.sessions.mu.Unlock()
		default:
			// ClickHouse away: keep the known user until it answers again.
			s.log.Warn().Err(err).Msg("cannot re-read a signed-in user; keeping the session's")
		}
	}
	return sess
}

// allowed reports whether u may use a route of role ("" any user).
func allowed(u *users.User, role string) bool {
	return role == "" || (role == users.RoleAdmin && u.IsAdmin())
}

// sameOrigin refuses a request whose Origin (sent by browsers on every
// POST) is another site's: a second line behind the CSRF token.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// page registers a page route: without a session it sends the browser to
// the sign-in page, a viewer on an admin route gets 403, and every request
// other than GET or HEAD must carry the session's CSRF token (form field
// "csrf" or header X-CSRF-Token).
func (s *Server) page(pattern, role string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessionOf(r)
		if sess == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.errorPage(w, r, http.StatusUnauthorized, "Your session has ended. Sign in again.")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, &auth{user: sess.user, session: sess}))
		limitBody(w, r)
		if !unsafeMethod(r.Method) {
			// GET and HEAD change nothing.
		} else if !sameOrigin(r) || !equalTokens(formOrHeaderCSRF(r), sess.csrf) {
			s.counts.csrfRefused.Inc()
			s.errorPage(w, r, http.StatusForbidden, "This form has expired or did not come from the console (CSRF check). Go back, reload the page and try again.")
			return
		}
		if !allowed(sess.user, role) {
			s.errorPage(w, r, http.StatusForbidden, "Only an admin can do this. You are signed in as a "+sess.user.Role+".")
			return
		}
		h(w, r)
	})
}

// api registers a JSON API route: an API token (Authorization: Bearer) or
// a session with its CSRF token in X-CSRF-Token on every request that is
// not GET or HEAD; 401 without either, 403 for the wrong role.
func (s *Server) api(pattern, role string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		a := &auth{}
		limitBody(w, r)
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			u, err := s.users.CheckToken(r.Context(), strings.TrimSpace(bearer))
			if errors.Is(err, users.ErrBadCredentials) {
				apiError(w, http.StatusUnauthorized, "the API token is unknown, revoked or its user is disabled")
				return
			} else if err != nil {
				s.log.Error().Err(err).Msg("cannot check an API token")
				apiError(w, http.StatusServiceUnavailable, "cannot check the API token: ClickHouse did not answer")
				return
			}
			a.user = u
		} else if sess := s.sessionOf(r); sess != nil {
			if unsafeMethod(r.Method) && (!sameOrigin(r) || !equalTokens(r.Header.Get("X-CSRF-Token"), sess.csrf)) {
				s.counts.csrfRefused.Inc()
				apiError(w, http.StatusForbidden, "missing or wrong X-CSRF-Token header (the session's token, in the page's <meta name=csrf>)")
				return
			}
			a.user, a.session = sess.user, sess
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pixel console"`)
			apiError(w, http.StatusUnauthorized, "sign in or send Authorization: Bearer TOKEN (pixelctl user token create)")
			return
		}
		if !allowed(a.user, role) {
			apiError(w, http.StatusForbidden, "only an admin can do this; "+a.user.Name+" is a "+a.user.Role)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, a)))
	})
}

func unsafeMethod(m string) bool { return m != http.MethodGet && m != http.MethodHead }

// formOrHeaderCSRF is the CSRF token a request carries. A multipart form is
// parsed with the upload limit of its route before this is asked.
func formOrHeaderCSRF(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(maxUpload); err != nil {
			return ""
		}
	}
	return r.FormValue("csrf")
}

// maxUpload bounds a request body with a file (a spend export); maxForm
// every other body. A larger body is refused while it is read, before it
// fills memory or temporary files.
const (
	maxUpload = 32 << 20
	maxForm   = 1 << 20
)

// limitBody caps the request's body: maxUpload for a file upload (a
// multipart form, or a CSV to the API), maxForm otherwise. The slack
// covers the multipart framing around the file.
func limitBody(w http.ResponseWriter, r *http.Request) {
	limit := int64(maxForm)
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "multipart/form-data") || strings.HasPrefix(r.URL.Path, "/api/spend") {
		limit = maxUpload + maxForm
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
}

// clientIP is the address a login attempt counts against: the TCP peer
// (the console is not behind a proxy it trusts).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter counts wrong passwords per name and per client address in
// a fixed window; at the limit, attempts are refused without checking the
// password until the window that began with the first failure has passed.
type loginLimiter struct {
	mu     sync.Mutex
	fails  map[string]*failures
	limit  int
	window time.Duration
	now    func() time.Time
}

type failures struct {
	n     int
	since time.Time
}

// maxTracked bounds the limiter's table; expired entries go first.
const maxTracked = 100000

func newLoginLimiter(limit int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{fails: map[string]*failures{}, limit: limit, window: window, now: now}
}

// blocked says how long keys stay refused (0: not refused).
func (l *loginLimiter) blocked(keys ...string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		f := l.fails[k]
		if f == nil {
			continue
		}
		if left := l.window - now.Sub(f.since); left <= 0 {
			delete(l.fails, k)
		} else if f.n >= l.limit && left > wait {
			wait = left
		}
	}
	return wait
}

// fail counts one wrong password against each key.
func (l *loginLimiter) fail(keys ...string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxTracked {
		for k, f := range l.fails {
			if now.Sub(f.since) >= l.window {
				delete(l.fails, k)
			}
		}
	}
	for _, k := range keys {
		f := l.fails[k]
		if f == nil || now.Sub(f.since) >= l.window {
			if len(l.fails) >= maxTracked {
				continue // full of live entries: the other key still counts
			}
			f = &failures{since: now}
			l.fails[k] = f
		}
		f.n++
	}
}

// succeed forgets the name's failures (not the address's).
func (l *loginLimiter) succeed(name string) {
	l.mu.Lock()
	delete(l.fails, "name:"+name)
	l.mu.Unlock()
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.opts.TLS()})
}

type loginView struct {
	Name, Next, Error string
	LoginCSRF         string
}

// loginPage shows the sign-in form with a fresh double-submit token.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.sessionOf(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	tok := randomToken()
	s.setCookie(w, loginCookie, tok, 3600)
	s.render(w, r, http.StatusOK, "login.html", "Sign in", loginView{Next: safeNext(r.URL.Query().Get("next")), LoginCSRF: tok})
}

// login checks a name and password, rate-limited per name and address.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(strings.TrimSpace(r.FormValue("name")))
	next := safeNext(r.FormValue("next"))
	again := func(status int, msg string) {
		tok := randomToken()
		s.setCookie(w, loginCookie, tok, 3600)
		s.render(w, r, status, "login.html", "Sign in", loginView{Name: name, Next: next, Error: msg, LoginCSRF: tok})
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !equalTokens(r.FormValue("csrf"), c.Value) {
		s.counts.csrfRefused.Inc()
		again(http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	keys := []string{"name:" + name, "ip:" + clientIP(r)}
	if wait := s.limiter.blocked(keys...); wait > 0 {
		s.counts.loginLimited.Inc()
		w.Header().Set("Retry-After", retryAfter(wait))
		again(http.StatusTooManyRequests, "Too many wrong passwords. Try again in "+humanWait(wait)+".")
		return
	}
	u, err := s.users.Authenticate(r.Context(), name, r.FormValue("password"))
	if errors.Is(err, users.ErrBadCredentials) {
		s.limiter.fail(keys...)
		s.counts.loginWrong.Inc()
		again(http.StatusUnauthorized, "Wrong name or password.")
		return
	} else if err != nil {
		s.log.Error().Err(err).Msg("cannot check a password")
		again(http.StatusServiceUnavailable, "The console cannot reach ClickHouse right now. Try again in a moment.")
		return
	}
	s.limiter.succeed(name)
	s.counts.loginOK.Inc()
	sess := s.sessions.create(u)
	s.setCookie(w, loginCookie, "", -1)
	s.setCookie(w, sessionCookie, sess.id, 0)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if a, ok := r.Context().Value(ctxKey{}).(*auth); ok && a.session != nil {
		s.sessions.delete(a.session.id)
	}
	s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/pixels"
	}
	return next
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

func humanWait(d time.Duration) string {
	if d < time.Minute {
		return strconv.Itoa(int((d+time.Second-1)/time.Second)) + " seconds"
	}
	return strconv.Itoa(int((d+time.Minute-1)/time.Minute)) + " minutes"
}
