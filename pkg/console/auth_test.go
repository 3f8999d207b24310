package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/users"
)

func TestAuthRefusesWithoutSession(t *testing.T) {
	tc := newTestConsole(t)
	c := tc.client(t)
	for _, path := range []string{"/", "/pixels", "/spend", "/users", "/account"} {
		res, _ := c.get(path)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %d to %q, want 303 to the sign-in page", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	for _, path := range []string{"/api/me", "/api/pixels"} {
		res, body := c.get(path)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s without a session: %d %s, want 401 with a JSON error", path, res.StatusCode, body)
		}
	}
	if res, _ := c.post("/logout", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /logout without a session: %d, want 401", res.StatusCode)
	}
}

func TestSignInAndOut(t *testing.T) {
	tc := newTestConsole(t)
	pw := tc.user(t, "ana", users.RoleViewer)
	c := tc.client(t)
	if res := c.login("ana", "wrong password!"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", res.StatusCode)
	}
	res := c.login("Ana", pw)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/pixels" {
		t.Fatalf("sign-in: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP", cookie)
	}
	c.csrf = c.metaCSRF("/pixels")
	_, me := c.api(http.MethodGet, "/api/me", "", nil)
	if !strings.Contains(me, `"name": "ana"`) || !strings.Contains(me, `"role": "viewer"`) {
		t.Errorf("/api/me: %s", me)
	}
	if res, _ := c.post("/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", res.StatusCode)
	}
	if res, _ := c.get("/pixels"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out: %d, want 303 to the sign-in page", res.StatusCode)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/pixels/x/live": "/pixels/x/live", "": "/pixels", "https://evil.example/": "/pixels",
		"//evil.example": "/pixels", "/\\evil.example": "/pixels", "/a\r\nSet-Cookie: x": "/pixels",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCSRF(t *testing.T) {
	tc := newTestConsole(t)
	tc.page("POST /test/change", "", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tc.api("POST /api/test/change", "", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	c := tc.signIn(t, "ana", users.RoleAdmin)
	before := tc.counts.csrfRefused.Load()

	if res, _ := c.post("/test/change", url.Values{"csrf": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("form with a wrong token: %d, want 403", res.StatusCode)
	}
	if res, _ := c.post("/test/change", url.Values{"csrf": {""}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("form without a token: %d, want 403", res.StatusCode)
	}
	if res, _ := c.post("/test/change", nil); res.StatusCode != http.StatusNoContent {
		t.Errorf("form with the session's token: %d, want 204", res.StatusCode)
	}
	// A foreign Origin is refused even with the right token.
	req, _ := http.NewRequest(http.MethodPost, c.base+"/test/change", strings.NewReader(url.Values{"csrf": {c.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if res, _ := c.do(req); res.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: %d, want 403", res.StatusCode)
	}
	csrf := c.csrf
	c.csrf = ""
	if res, _ := c.api(http.MethodPost, "/api/test/change", "", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("API call with the session and no X-CSRF-Token: %d, want 403", res.StatusCode)
	}
	c.csrf = csrf
	if res, _ := c.api(http.MethodPost, "/api/test/change", "", nil); res.StatusCode != http.StatusNoContent {
		t.Errorf("API call with the session and its X-CSRF-Token: %d, want 204", res.StatusCode)
	}
	if got := tc.counts.csrfRefused.Load() - before; got != 4 {
		t.Errorf("console_csrf_refused_total grew by %d, want 4", got)
	}

	// The sign-in form has its own token (there is no session yet).
	anon := tc.client(t)
	res, _ := anon.post("/login", url.Values{"name": {"ana"}, "password": {"correct horse ana"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", res.StatusCode)
	}
}

func TestRoles(t *testing.T) {
	tc := newTestConsole(t)
	tc.page("POST /test/admin", users.RoleAdmin, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tc.api("POST /api/test/admin", users.RoleAdmin, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	viewer := tc.signIn(t, "vic", users.RoleViewer)
	admin := tc.signIn(t, "ada", users.RoleAdmin)
	if res, _ := viewer.post("/test/admin", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer on an admin page: %d, want 403", res.StatusCode)
	}
	if res, _ := viewer.api(http.MethodPost, "/api/test/admin", "", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer on an admin API route: %d, want 403", res.StatusCode)
	}
	if res, _ := admin.post("/test/admin", nil); res.StatusCode != http.StatusNoContent {
		t.Errorf("admin on an admin page: %d, want 204", res.StatusCode)
	}
}

func TestAPIToken(t *testing.T) {
	tc := newTestConsole(t)
	tc.api("POST /api/test/admin", users.RoleAdmin, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	ctx := context.Background()
	tc.user(t, "script", users.RoleAdmin)
	secret, tok, err := tc.users.CreateToken(ctx, "script", "nightly export")
	if err != nil {
		t.Fatal(err)
	}
	c := tc.client(t)
	res, body := c.api(http.MethodGet, "/api/me", secret, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"script"`) {
		t.Fatalf("token: %d %s", res.StatusCode, body)
	}
	// A token needs no CSRF header: it is not sent by browsers on their own.
	if res, _ := c.api(http.MethodPost, "/api/test/admin", secret, nil); res.StatusCode != http.StatusNoContent {
		t.Errorf("POST with a token: %d, want 204", res.StatusCode)
	}
	if res, _ := c.api(http.MethodGet, "/api/me", secret+"x", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", res.StatusCode)
	}
	if err := tc.users.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if res, _ := c.api(http.MethodGet, "/api/me", secret, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", res.StatusCode)
	}
}

func TestLoginRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tc := newTestConsole(t, func(o *Options) { o.LoginLimit, o.LoginWindow, o.Now = 3, 10*time.Minute, clock })
	pw := tc.user(t, "ana", users.RoleAdmin)
	c := tc.client(t)
	for i := 0; i < 3; i++ {
		if res := c.login("ana", "not the password"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	// At the limit even the right password is refused, without being checked.
	res := c.login("ana", pw)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "600" {
		t.Fatalf("after 3 wrong passwords: %d Retry-After %q, want 429 and 600", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if ok, wrong, limited := tc.counts.loginOK.Load(), tc.counts.loginWrong.Load(), tc.counts.loginLimited.Load(); ok != 0 || wrong != 3 || limited != 1 {
		t.Errorf("logins ok %d wrong %d limited %d, want 0 3 1", ok, wrong, limited)
	}
	// Another name from the same address is refused too (the address counts).
	tc.user(t, "bob", users.RoleViewer)
	if res := c.login("bob", "correct horse bob"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another name from the limited address: %d, want 429", res.StatusCode)
	}
	mu.Lock()
	now = now.Add(10 * time.Minute)
	mu.Unlock()
	if res := c.login("ana", pw); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303", res.StatusCode)
	}
}

func TestDisabledUserLosesSession(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tc := newTestConsole(t, func(o *Options) { o.Now = clock })
	c := tc.signIn(t, "ana", users.RoleViewer)
	if err := tc.users.SetDisabled(context.Background(), "ana", true); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(userRecheck + time.Second)
	mu.Unlock()
	if res, _ := c.get("/pixels"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a disabled user's session: %d, want 303 to the sign-in page", res.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	tc := newTestConsole(t)
	res, body := tc.client(t).get("/login")
	if got := res.Header.Get("Content-Security-Policy"); got != csp || !strings.Contains(got, "script-src 'self';") {
		t.Errorf("CSP %q", got)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
		t.Errorf("the sign-in page has inline script or style:\n%s", body)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

func TestSafeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://shop.example/a?b=1": "https://shop.example/a?b=1",
		"javascript:alert(1)":        "",
		" JavaScript:alert(1)":       "",
		"data:text/html,<script>":    "",
		"//shop.example/":            "",
		"http://":                    "",
	} {
		if got := safeURL(in); got != want {
			t.Errorf("safeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	tc := newTestConsole(t)
	var got int
	tc.page("POST /test/form", "", func(w http.ResponseWriter, r *http.Request) {
		got = len(r.PostFormValue("big"))
		w.WriteHeader(http.StatusNoContent)
	})
	c := tc.signIn(t, "ana", users.RoleAdmin)
	if res, _ := c.post("/test/form", url.Values{"big": {strings.Repeat("x", maxForm/2)}}); res.StatusCode != http.StatusNoContent || got != maxForm/2 {
		t.Fatalf("a form under the limit: %d, %d bytes read", res.StatusCode, got)
	}
	got = -1
	res, _ := c.post("/test/form", url.Values{"big": {strings.Repeat("x", maxForm+1)}})
	if res.StatusCode != http.StatusForbidden || got != -1 {
		t.Errorf("a form over %d bytes: %d (handler ran: %v), want it refused before the handler", maxForm, res.StatusCode, got != -1)
	}
}
