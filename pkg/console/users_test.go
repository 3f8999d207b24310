package console

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/users"
)

// shown is the text of <pre id="id"> in a page: a secret shown once.
func shown(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<pre id="` + id + `">([^<]*)</pre>`).FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		t.Fatalf("no #%s in the page:\n%s", id, body)
	}
	return html.UnescapeString(m[1])
}

// signInWith signs a new client in with a known password.
func (tc *testConsole) signInWith(t *testing.T, name, password string) *client {
	t.Helper()
	c := tc.client(t)
	if res := c.login(name, password); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in as %s: %d, want 303", name, res.StatusCode)
	}
	c.csrf = c.metaCSRF("/account")
	return c
}

func TestAdminCreatesViewer(t *testing.T) {
	tc := newTestConsole(t)
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	res, body := admin.get("/users")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `<table id="users">`) || !strings.Contains(body, `data-user="ana"`) {
		t.Fatalf("GET /users: %d\n%s", res.StatusCode, body)
	}
	res, body = admin.post("/users", url.Values{"name": {"Bob@Shop.example"}, "role": {"viewer"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create a viewer: %d\n%s", res.StatusCode, body)
	}
	pw := shown(t, body, "new-password")
	if !strings.Contains(body, `data-user="bob@shop.example"`) || !strings.Contains(body, "Hand it to bob@shop.example") {
		t.Errorf("the new user is not listed, or the page does not say to hand the password over:\n%s", body)
	}
	// The password is shown once: the list page does not have it.
	if _, body := admin.get("/users"); strings.Contains(body, pw) || strings.Contains(body, `id="new-password"`) {
		t.Error("the generated password is shown again on /users")
	}
	res, _ = admin.post("/users", url.Values{"name": {"bob@shop.example"}, "role": {"viewer"}})
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("a taken name: %d, want 400", res.StatusCode)
	}
	if res, body := admin.post("/users", url.Values{"name": {"<b>"}, "role": {"viewer"}}); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="users-error"`) {
		t.Errorf("a bad name: %d, want 400 with #users-error", res.StatusCode)
	}
	if res, _ := admin.post("/users", url.Values{"name": {"carl"}, "role": {"root"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad role: %d, want 400", res.StatusCode)
	}

	viewer := tc.signInWith(t, "bob@shop.example", pw)
	if _, body := viewer.get("/account"); !strings.Contains(body, `<dd id="account-role">viewer</dd>`) {
		t.Errorf("the viewer's account page:\n%s", body)
	}
	if res, _ := viewer.get("/users"); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer GET /users: %d, want 403", res.StatusCode)
	}
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/users", url.Values{"name": {"eve"}, "role": {"admin"}}},
		{"/users/bob@shop.example", url.Values{"action": {"role"}, "role": {"admin"}}},
		{"/users/ana", url.Values{"action": {"disable"}}},
		{"/users/ana", url.Values{"action": {"enable"}}},
		{"/users/ana", url.Values{"action": {"reset-password"}}},
		{"/users/ana", url.Values{"action": {"revoke-token"}, "token": {"aaaaaaaaaaaa"}}},
	} {
		if res, _ := viewer.post(f.path, f.form); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST %s %v: %d, want 403", f.path, f.form, res.StatusCode)
		}
	}
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/users", ""},
		{http.MethodPost, "/api/users", `{"name":"eve","role":"admin"}`},
		{http.MethodPost, "/api/users/bob@shop.example", `{"role":"admin"}`},
	} {
		if res, _ := viewer.api(r.method, r.path, "", strings.NewReader(r.body)); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d, want 403", r.method, r.path, res.StatusCode)
		}
	}
	if u, err := tc.users.Get(context.Background(), "bob@shop.example"); err != nil || u.Role != users.RoleViewer {
		t.Errorf("bob after the viewer's attempts: %+v %v", u, err)
	}
	if _, err := tc.users.Get(context.Background(), "eve"); err == nil {
		t.Error("a viewer created a user")
	}
}

func TestAdminCannotLockThemselfOut(t *testing.T) {
	tc := newTestConsole(t)
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	for action, want := range map[string]string{
		"role":           "cannot take the admin role from yourself",
		"disable":        "cannot disable your own account",
		"reset-password": "Change your own password on your account page",
	} {
		res, body := admin.post("/users/ana", url.Values{"action": {action}, "role": {"viewer"}})
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("self %s: %d, want 400 saying %q\n%s", action, res.StatusCode, want, body)
		}
	}
	for _, in := range []string{`{"role":"viewer"}`, `{"disabled":true}`} {
		res, body := admin.api(http.MethodPost, "/api/users/ana", "", strings.NewReader(in))
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "yourself") && !strings.Contains(body, "your own") {
			t.Errorf("API self change %s: %d %s, want 400", in, res.StatusCode, body)
		}
	}
	u, err := tc.users.Get(context.Background(), "ana")
	if err != nil || u.Role != users.RoleAdmin || u.Disabled {
		t.Fatalf("ana after refusing: %+v %v", u, err)
	}
	if res, _ := admin.get("/users"); res.StatusCode != http.StatusOK {
		t.Errorf("the admin's session after refused self changes: %d, want 200", res.StatusCode)
	}
}

func TestAdminChangesUsers(t *testing.T) {
	tc := newTestConsole(t)
	ctx := context.Background()
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	bobPW := tc.user(t, "bob", users.RoleViewer)
	bob := tc.signInWith(t, "bob", bobPW)

	// A reset password ends the user's sessions; the old password stops
	// working and the new one, shown once, works.
	res, body := admin.post("/users/bob", url.Values{"action": {"reset-password"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("reset bob's password: %d\n%s", res.StatusCode, body)
	}
	pw := shown(t, body, "new-password")
	if res, _ := bob.get("/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("bob's session after a password reset: %d, want 303 to the sign-in page", res.StatusCode)
	}
	if res := tc.client(t).login("bob", bobPW); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password after a reset: %d, want 401", res.StatusCode)
	}
	bob = tc.signInWith(t, "bob", pw)

	// Promoting ends bob's session too (it had the viewer role cached).
	if res, body := admin.post("/users/bob", url.Values{"action": {"role"}, "role": {"admin"}}); res.StatusCode != http.StatusOK || !strings.Contains(body, "bob&#39;s role is now admin") {
		t.Fatalf("promote bob: %d\n%s", res.StatusCode, body)
	}
	if u, _ := tc.users.Get(ctx, "bob"); u == nil || u.Role != users.RoleAdmin {
		t.Fatalf("bob after promotion: %+v", u)
	}
	if res, _ := bob.get("/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("bob's session after a role change: %d, want 303", res.StatusCode)
	}
	bob = tc.signInWith(t, "bob", pw)
	if res, _ := bob.get("/users"); res.StatusCode != http.StatusOK {
		t.Errorf("bob, now an admin, on /users: %d", res.StatusCode)
	}

	// Disabling ends the session and refuses the sign-in; enabling undoes it.
	if res, _ := admin.post("/users/bob", url.Values{"action": {"disable"}}); res.StatusCode != http.StatusOK {
		t.Fatalf("disable bob: %d", res.StatusCode)
	}
	if res, _ := bob.get("/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a disabled user's session: %d, want 303", res.StatusCode)
	}
	if res := tc.client(t).login("bob", pw); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a disabled user signs in: %d, want 401", res.StatusCode)
	}
	if res, _ := admin.post("/users/bob", url.Values{"action": {"enable"}}); res.StatusCode != http.StatusOK {
		t.Fatalf("enable bob: %d", res.StatusCode)
	}
	tc.signInWith(t, "bob", pw)

	if res, _ := admin.post("/users/nobody", url.Values{"action": {"disable"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("disable an unknown user: %d, want 404", res.StatusCode)
	}
	if res, _ := admin.post("/users/bob", url.Values{"action": {"explode"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown action: %d, want 400", res.StatusCode)
	}
}

func TestUsersAPI(t *testing.T) {
	tc := newTestConsole(t)
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	res, body := admin.api(http.MethodPost, "/api/users", "", strings.NewReader(`{"name":"dora","role":"viewer"}`))
	var created struct {
		User     userJSON `json:"user"`
		Password string   `json:"password"`
	}
	if res.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &created) != nil || created.User.Name != "dora" || created.Password == "" {
		t.Fatalf("POST /api/users: %d %s", res.StatusCode, body)
	}
	tc.signInWith(t, "dora", created.Password)

	res, body = admin.api(http.MethodGet, "/api/users", "", nil)
	var list struct{ Users []userJSON }
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Users) != 2 || list.Users[1].Name != "dora" {
		t.Fatalf("GET /api/users: %d %s", res.StatusCode, body)
	}
	res, body = admin.api(http.MethodPost, "/api/users/dora", "", strings.NewReader(`{"role":"admin","disabled":true}`))
	var changed struct{ User userJSON }
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &changed) != nil || changed.User.Role != "admin" || !changed.User.Disabled {
		t.Fatalf("POST /api/users/dora: %d %s", res.StatusCode, body)
	}
	for in, want := range map[string]int{
		`{"name":"dora","role":"viewer"}`: http.StatusBadRequest, // taken
		`{"name":"x y","role":"viewer"}`:  http.StatusBadRequest,
		`{"name":"fred","role":"boss"}`:   http.StatusBadRequest,
		`{"name":"fred","password":"x"}`:  http.StatusBadRequest, // unknown field
		`not json`:                        http.StatusBadRequest,
	} {
		if res, body := admin.api(http.MethodPost, "/api/users", "", strings.NewReader(in)); res.StatusCode != want || !strings.Contains(body, `"error"`) {
			t.Errorf("POST /api/users %s: %d %s, want %d", in, res.StatusCode, body, want)
		}
	}
	if res, _ := admin.api(http.MethodPost, "/api/users/nobody", "", strings.NewReader(`{"disabled":true}`)); res.StatusCode != http.StatusNotFound {
		t.Errorf("change an unknown user: %d, want 404", res.StatusCode)
	}
}

func TestAccountTokens(t *testing.T) {
	tc := newTestConsole(t)
	bob := tc.signIn(t, "bob", users.RoleViewer)
	res, body := bob.post("/account/tokens", url.Values{"label": {"nightly export"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create a token: %d\n%s", res.StatusCode, body)
	}
	secret := shown(t, body, "new-token")
	if curl := shown(t, body, "new-token-curl"); curl != `curl -H "Authorization: Bearer `+secret+`" `+tc.srv.URL+"/api/pixels" {
		t.Errorf("the curl example: %s", curl)
	}
	id, ok := users.ParseTokenID(secret)
	if !ok || !strings.Contains(body, `<tr data-token="`+id+`">`) || !strings.Contains(body, `<table id="tokens">`) {
		t.Fatalf("the token %s is not in table#tokens:\n%s", secret, body)
	}
	script := tc.client(t)
	if res, body := script.api(http.MethodGet, "/api/me", secret, nil); res.StatusCode != http.StatusOK || !strings.Contains(body, `"bob"`) {
		t.Fatalf("GET /api/me with the new token: %d %s", res.StatusCode, body)
	}
	if _, body := bob.get("/account"); strings.Contains(body, secret) {
		t.Error("the token's secret is shown again on /account")
	}
	if res, _ := bob.post("/account/tokens", url.Values{"label": {"  "}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("a token without a label: %d, want 400", res.StatusCode)
	}
	if res, body := bob.post("/account/tokens/"+id+"/revoke", nil); res.StatusCode != http.StatusOK || !strings.Contains(body, `<span class="badge bad">revoked</span>`) {
		t.Fatalf("revoke: %d\n%s", res.StatusCode, body)
	}
	if res, _ := script.api(http.MethodGet, "/api/me", secret, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/me with a revoked token: %d, want 401", res.StatusCode)
	}

	// The same through the API, with the session and then the token itself.
	res, body = bob.api(http.MethodPost, "/api/tokens", "", strings.NewReader(`{"label":"cron"}`))
	var created struct {
		Token  tokenJSON `json:"token"`
		Secret string    `json:"secret"`
	}
	if res.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &created) != nil || created.Token.Label != "cron" || created.Token.User != "bob" {
		t.Fatalf("POST /api/tokens: %d %s", res.StatusCode, body)
	}
	res, body = script.api(http.MethodGet, "/api/tokens", created.Secret, nil)
	var list struct{ Tokens []tokenJSON }
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Tokens) != 2 {
		t.Fatalf("GET /api/tokens: %d %s", res.StatusCode, body)
	}
	if res, _ := script.api(http.MethodPost, "/api/tokens/"+created.Token.ID+"/revoke", created.Secret, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/tokens/ID/revoke: %d", res.StatusCode)
	}
	if res, _ := script.api(http.MethodGet, "/api/tokens", created.Secret, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a token revoked through the API: %d, want 401", res.StatusCode)
	}
}

func TestCannotRevokeAnothersToken(t *testing.T) {
	tc := newTestConsole(t)
	ctx := context.Background()
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	bob := tc.signIn(t, "bob", users.RoleViewer)
	tc.user(t, "carl", users.RoleViewer)
	secret, tok, err := tc.users.CreateToken(ctx, "carl", "carl's script")
	if err != nil {
		t.Fatal(err)
	}
	works := func() bool {
		res, _ := tc.client(t).api(http.MethodGet, "/api/me", secret, nil)
		return res.StatusCode == http.StatusOK
	}
	if res, _ := bob.post("/account/tokens/"+tok.ID+"/revoke", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("bob revokes carl's token on /account: %d, want 404", res.StatusCode)
	}
	if res, _ := bob.api(http.MethodPost, "/api/tokens/"+tok.ID+"/revoke", "", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("bob revokes carl's token through the API: %d, want 404", res.StatusCode)
	}
	// /account is for one's own tokens, an admin's too.
	if res, _ := admin.post("/account/tokens/"+tok.ID+"/revoke", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("an admin revokes carl's token on /account: %d, want 404", res.StatusCode)
	}
	// On /users the token must be named with its owner.
	if res, _ := admin.post("/users/bob", url.Values{"action": {"revoke-token"}, "token": {tok.ID}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("revoke carl's token as bob's: %d, want 404", res.StatusCode)
	}
	if !works() {
		t.Fatal("carl's token stopped working after refused revocations")
	}
	if _, body := admin.get("/users"); !strings.Contains(body, `<tr data-token="`+tok.ID+`">`) || !strings.Contains(body, "carl&#39;s script") {
		t.Errorf("/users does not list carl's token:\n%s", body)
	}
	if res, _ := admin.post("/users/carl", url.Values{"action": {"revoke-token"}, "token": {tok.ID}}); res.StatusCode != http.StatusOK {
		t.Errorf("the admin revokes carl's token on /users: %d, want 200", res.StatusCode)
	}
	if works() {
		t.Error("carl's token works after the admin revoked it")
	}
}

func TestChangeOwnPassword(t *testing.T) {
	tc := newTestConsole(t)
	old := tc.user(t, "bob", users.RoleViewer)
	bob := tc.signInWith(t, "bob", old)
	other := tc.signInWith(t, "bob", old) // another browser
	for _, f := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"current": {old}, "new": {"a long new password"}, "repeat": {"a long new passwort"}}, "differ"},
		{url.Values{"current": {old}, "new": {"short"}, "repeat": {"short"}}, "at least 12"},
		{url.Values{"current": {"not it at all"}, "new": {"a long new password"}, "repeat": {"a long new password"}}, "current password is wrong"},
	} {
		if res, body := bob.post("/account/password", f.form); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, f.want) {
			t.Errorf("change password %v: %d, want 400 saying %q\n%s", f.form, res.StatusCode, f.want, body)
		}
	}
	res, body := bob.post("/account/password", url.Values{"current": {old}, "new": {"a long new password"}, "repeat": {"a long new password"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Your password is changed") {
		t.Fatalf("change password: %d\n%s", res.StatusCode, body)
	}
	// This browser keeps a (new) session; the other one is signed out.
	bob.csrf = bob.metaCSRF("/account")
	if res, _ := other.get("/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the other session after a password change: %d, want 303", res.StatusCode)
	}
	if res := tc.client(t).login("bob", old); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password: %d, want 401", res.StatusCode)
	}
	tc.signInWith(t, "bob", "a long new password")
}

func TestAccountsCSRF(t *testing.T) {
	tc := newTestConsole(t)
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	if res, _ := admin.post("/users", url.Values{"csrf": {"forged"}, "name": {"eve"}, "role": {"admin"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("create a user with a forged CSRF token: %d, want 403", res.StatusCode)
	}
	if res, _ := admin.post("/account/tokens", url.Values{"csrf": {""}, "label": {"x"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("create a token without a CSRF token: %d, want 403", res.StatusCode)
	}
	if _, err := tc.users.Get(context.Background(), "eve"); err == nil {
		t.Error("a forged form created a user")
	}
	if ts, err := tc.users.ListTokens(context.Background(), "ana"); err != nil || len(ts) != 0 {
		t.Errorf("a forged form created a token: %v %v", ts, err)
	}
	// Every form of the two pages carries the session's token.
	for _, p := range []string{"/users", "/account"} {
		_, body := admin.get(p)
		forms := strings.Count(body, `<form`)
		if n := strings.Count(body, `name="csrf" value="`+admin.csrf+`"`); n != forms || forms < 2 {
			t.Errorf("%s: %d forms, %d with the CSRF field", p, forms, n)
		}
	}
}

func TestAdminRevokesAnyTokenThroughAPI(t *testing.T) {
	tc := newTestConsole(t)
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	tc.user(t, "carl", users.RoleViewer)
	secret, tok, err := tc.users.CreateToken(context.Background(), "carl", "carl's script")
	if err != nil {
		t.Fatal(err)
	}
	if res, body := admin.api(http.MethodPost, "/api/tokens/"+tok.ID+"/revoke", "", nil); res.StatusCode != http.StatusOK || !strings.Contains(body, `"revoked": true`) {
		t.Fatalf("an admin revokes carl's token through the API: %d %s", res.StatusCode, body)
	}
	if res, _ := tc.client(t).api(http.MethodGet, "/api/me", secret, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("carl's revoked token: %d, want 401", res.StatusCode)
	}
	if res, _ := admin.api(http.MethodPost, "/api/tokens/aaaaaaaaaaaa/revoke", "", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("revoke an unknown token: %d, want 404", res.StatusCode)
	}
}

// A borrowed session cannot be used to guess the current password: wrong
// ones count against the sign-in limit.
func TestChangePasswordIsRateLimited(t *testing.T) {
	tc := newTestConsole(t, func(o *Options) { o.LoginLimit = 2 })
	pw := tc.user(t, "bob", users.RoleViewer)
	bob := tc.signInWith(t, "bob", pw)
	guess := url.Values{"current": {"a wrong guess!"}, "new": {"a long new password"}, "repeat": {"a long new password"}}
	for i := 0; i < 2; i++ {
		if res, _ := bob.post("/account/password", guess); res.StatusCode != http.StatusBadRequest {
			t.Fatalf("wrong current password %d: %d, want 400", i+1, res.StatusCode)
		}
	}
	right := url.Values{"current": {pw}, "new": {"a long new password"}, "repeat": {"a long new password"}}
	if res, body := bob.post("/account/password", right); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("after 2 wrong current passwords: %d, want 429 with Retry-After\n%s", res.StatusCode, body)
	}
	if _, err := tc.users.Authenticate(context.Background(), "bob", pw); err != nil {
		t.Errorf("the password changed while limited: %v", err)
	}
}
