package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// pixelFormValues is a valid pixel form.
func pixelFormValues(name string) url.Values {
	return url.Values{
		"name": {name}, "domains": {"Shop.Example, *.shop.example,"}, "engagement": {"45"},
		"consent": {"required"}, "ip": {"truncate"}, "gpc": {"drop"}, "dnt": {"flag"}, "time_zone": {"Europe/Berlin"},
	}
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: no %q in\n%s", what, w, body)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, nots ...string) {
	t.Helper()
	for _, w := range nots {
		if strings.Contains(body, w) {
			t.Errorf("%s: %q must not be in\n%s", what, w, body)
		}
	}
}

var newSecretRe = regexp.MustCompile(`<pre id="new-secret"[^>]*>(pxs_[A-Za-z0-9_-]+)</pre>`)

// createPixelForm creates a pixel through the form and returns its id and
// the secret shown once on the snippet page.
func createPixelForm(t *testing.T, c *client, name string) (string, string) {
	t.Helper()
	res, body := c.post("/pixels", pixelFormValues(name))
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/pixels/") || !strings.HasSuffix(loc, "/snippet") {
		t.Fatalf("POST /pixels: %d to %q\n%s", res.StatusCode, loc, body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/pixels/"), "/snippet")
	_, body = c.get(loc)
	m := newSecretRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the snippet page after creating shows no #new-secret:\n%s", body)
	}
	return id, m[1]
}

func TestPixelLifecycle(t *testing.T) {
	ctx := context.Background()
	tc := newTestConsole(t)
	c := tc.signIn(t, "ana", users.RoleAdmin)

	_, body := c.get("/pixels")
	mustContain(t, "the empty list", body, `href="/pixels/new"`, "New pixel", "No pixels yet")
	res, body := c.get("/pixels/new")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /pixels/new: %d", res.StatusCode)
	}
	mustContain(t, "the new pixel form", body, `id="pixel-name"`, `id="pixel-domains"`, `id="pixel-engagement"`, `id="pixel-consent"`,
		`id="pixel-ip"`, `id="pixel-gpc"`, `id="pixel-dnt"`, `id="pixel-timezone"`, `type="submit"`, `value="60"`, `value="UTC"`)

	// A refused form comes back with the message and what was typed.
	bad := pixelFormValues("My <Shop>")
	bad.Set("domains", "shop.example:8080")
	res, body = c.post("/pixels", bad)
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a domain with a port: %d, want 400", res.StatusCode)
	}
	mustContain(t, "the refused form", body, `id="form-error"`, "remove the port", `value="My &lt;Shop&gt;"`, `value="shop.example:8080"`, `value="Europe/Berlin"`,
		`<option value="required" selected>`)
	for field, v := range map[string]string{"engagement": "0", "time_zone": "Mars/Base", "consent": "maybe", "name": " "} {
		f := pixelFormValues("Shop")
		f.Set(field, v)
		if res, body := c.post("/pixels", f); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) {
			t.Errorf("%s=%q: %d, want 400 with the form's error", field, v, res.StatusCode)
		}
	}
	if ps, _ := tc.pixels.List(ctx); len(ps) != 0 {
		t.Fatalf("refused forms created %d pixels", len(ps))
	}

	id, secret := createPixelForm(t, c, "Shop")
	p, err := tc.pixels.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := pixel.Settings{EngagementSeconds: 45, Consent: pixel.ConsentRequired, IP: pixel.IPTruncate, GPC: pixel.SignalDrop, DNT: pixel.SignalFlag}
	if p.Name != "Shop" || strings.Join(p.Domains, ",") != "shop.example,*.shop.example" || p.TimeZone != "Europe/Berlin" || p.Settings != want {
		t.Errorf("created %+v", p)
	}
	if !p.CheckSecret([]byte(secret)) {
		t.Error("the secret shown is not the pixel's")
	}
	// Shown once: a reload no longer has it.
	_, body = c.get("/pixels/" + id + "/snippet")
	mustNotContain(t, "the snippet page reloaded", body, `id="new-secret"`, secret)
	mustContain(t, "the snippet page", body, `<pre id="snippet-js"`, `<pre id="snippet-gif"`, `<pre id="snippet-server"`,
		`data-copy="snippet-js"`, `data-copy="snippet-gif"`, `data-copy="snippet-server"`, `id="install-check"`, `data-state="waiting"`,
		`id="install-url"`, "footer of every page", "10 s by default", "/v1/"+id+"/events", "px.js?id="+id)

	_, body = c.get("/pixels")
	mustContain(t, "the list", body, `<table id="pixels">`, `<tr data-pixel="`+id+`">`, `<td class="last-hit">never</td>`, `<span class="badge ok">active</span>`,
		"shop.example, *.shop.example")

	if res, _ := c.get("/pixels/" + id); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/pixels/"+id+"/dashboard" {
		t.Errorf("GET /pixels/ID: %d to %q, want 303 to the dashboard", res.StatusCode, res.Header.Get("Location"))
	}
	for _, path := range []string{"/pixels/nope", "/pixels/nope/edit", "/pixels/nope/snippet", "/pixels/nope/live"} {
		if res, _ := c.get(path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}

	// Edit: the form filled in, then saved.
	_, body = c.get("/pixels/" + id + "/edit")
	mustContain(t, "the edit form", body, `action="/pixels/`+id+`"`, `value="Shop"`, `value="shop.example, *.shop.example"`, `value="45"`,
		`<option value="truncate" selected>`, `id="rotate-confirm"`, `action="/pixels/`+id+`/disable"`)
	f := pixelFormValues("Shop EU")
	f.Set("domains", "shop.example")
	f.Set("engagement", "30")
	res, body = c.post("/pixels/"+id, f)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Saved.") {
		t.Fatalf("POST /pixels/ID: %d\n%s", res.StatusCode, body)
	}
	f.Set("time_zone", "Nowhere/Land")
	if res, body := c.post("/pixels/"+id, f); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Nowhere/Land") {
		t.Errorf("a bad time zone: %d, want 400 with the value typed", res.StatusCode)
	}
	if p, _ = tc.pixels.Get(ctx, id); p.Name != "Shop EU" || strings.Join(p.Domains, ",") != "shop.example" || p.Settings.EngagementSeconds != 30 || p.TimeZone != "Europe/Berlin" {
		t.Errorf("after the edit: %+v", p)
	}

	// Disable, enable.
	res, _ = c.post("/pixels/"+id+"/disable", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/pixels?disabled="+id {
		t.Fatalf("disable: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = c.get(res.Header.Get("Location"))
	mustContain(t, "the list after disabling", body, `class="flash"`, "Pixel Shop EU is disabled now")
	_, body = c.get("/pixels?disabled=nope")
	mustNotContain(t, "the list with an unknown pixel in ?disabled=", body, `class="flash"`)
	_, body = c.get("/pixels")
	mustContain(t, "the list after disabling", body, `<span class="badge bad">disabled</span>`, `action="/pixels/`+id+`/enable"`)
	if p, _ = tc.pixels.Get(ctx, id); p.Active() {
		t.Error("the pixel is still active")
	}
	if res, _ := c.post("/pixels/"+id+"/enable", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	if p, _ = tc.pixels.Get(ctx, id); !p.Active() {
		t.Error("the pixel is still disabled")
	}

	// Rotate: only with the box ticked; the old secret stops working.
	if res, body := c.post("/pixels/"+id+"/rotate-secret", nil); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Tick the box") {
		t.Errorf("rotate without the confirmation: %d, want 400", res.StatusCode)
	}
	if p, _ = tc.pixels.Get(ctx, id); !p.CheckSecret([]byte(secret)) {
		t.Fatal("an unconfirmed rotation changed the secret")
	}
	res, _ = c.post("/pixels/"+id+"/rotate-secret", url.Values{"confirm": {"yes"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/pixels/"+id+"/secret" {
		t.Fatalf("rotate: %d to %q, want 303 to the secret's page", res.StatusCode, res.Header.Get("Location"))
	}
	res, body = c.get("/pixels/" + id + "/secret")
	m := newSecretRe.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil || m[1] == secret {
		t.Fatalf("the rotated secret's page: %d\n%s", res.StatusCode, body)
	}
	mustContain(t, "the rotation", body, "old secret stops working")
	// Shown once: a reload shows no secret (and rotates nothing).
	if _, again := c.get("/pixels/" + id + "/secret"); newSecretRe.MatchString(again) || !strings.Contains(again, `id="secret-gone"`) {
		t.Errorf("the secret's page reloaded still shows a secret:\n%s", again)
	}
	if p, _ = tc.pixels.Get(ctx, id); p.CheckSecret([]byte(secret)) || !p.CheckSecret([]byte(m[1])) {
		t.Error("after the rotation the old secret still works, or the new one does not")
	}
}

func TestPixelViewerCannotChange(t *testing.T) {
	ctx := context.Background()
	tc := newTestConsole(t)
	p, secret, err := tc.pixels.Create(ctx, registry.New{Name: "Shop", Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	v := tc.signIn(t, "vic", users.RoleViewer)
	_, body := v.get("/pixels")
	mustContain(t, "the viewer's list", body, `<tr data-pixel="`+p.ID+`">`)
	mustNotContain(t, "the viewer's list", body, "New pixel", "/disable", "/edit")
	res, body := v.get("/pixels/" + p.ID + "/snippet")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("viewer's snippet page: %d", res.StatusCode)
	}
	mustContain(t, "the viewer's snippet page", body, `id="snippet-js"`)
	if res, _ := v.get("/pixels/new"); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer GET /pixels/new: %d, want 403", res.StatusCode)
	}
	if res, _ := v.get("/pixels/" + p.ID + "/edit"); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer GET edit: %d, want 403", res.StatusCode)
	}
	for _, path := range []string{"/pixels", "/pixels/" + p.ID, "/pixels/" + p.ID + "/disable", "/pixels/" + p.ID + "/enable", "/pixels/" + p.ID + "/rotate-secret"} {
		f := pixelFormValues("Mine")
		f.Set("confirm", "yes")
		if res, _ := v.post(path, f); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", path, res.StatusCode)
		}
	}
	for _, path := range []string{"/api/pixels", "/api/pixels/" + p.ID, "/api/pixels/" + p.ID + "/disable", "/api/pixels/" + p.ID + "/enable", "/api/pixels/" + p.ID + "/rotate-secret"} {
		if res, _ := v.api(http.MethodPost, path, "", strings.NewReader(`{"name":"Mine"}`)); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer API POST %s: %d, want 403", path, res.StatusCode)
		}
	}
	got, _ := tc.pixels.List(ctx)
	if len(got) != 1 || got[0].Name != "Shop" || !got[0].Active() || !got[0].CheckSecret([]byte(secret)) {
		t.Errorf("the viewer changed the registry: %+v", got)
	}
}

func TestPixelFormsCheckCSRF(t *testing.T) {
	ctx := context.Background()
	tc := newTestConsole(t)
	p, _, err := tc.pixels.Create(ctx, registry.New{Name: "Shop", Settings: pixel.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	c := tc.signIn(t, "ana", users.RoleAdmin)
	for _, path := range []string{"/pixels", "/pixels/" + p.ID, "/pixels/" + p.ID + "/disable", "/pixels/" + p.ID + "/enable", "/pixels/" + p.ID + "/rotate-secret"} {
		f := pixelFormValues("Forged")
		f.Set("confirm", "yes")
		f.Set("csrf", "forged")
		if res, _ := c.post(path, f); res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: %d, want 403", path, res.StatusCode)
		}
	}
	csrf := c.csrf
	c.csrf = ""
	if res, _ := c.api(http.MethodPost, "/api/pixels", "", strings.NewReader(`{"name":"Forged"}`)); res.StatusCode != http.StatusForbidden {
		t.Errorf("API POST without X-CSRF-Token: %d, want 403", res.StatusCode)
	}
	c.csrf = csrf
	got, _ := tc.pixels.List(ctx)
	if len(got) != 1 || got[0].Name != "Shop" || !got[0].Active() {
		t.Errorf("forged forms changed the registry: %+v", got)
	}
}

// noSecrets fails when an API answer holds a pixel's secret hash or link key.
func noSecrets(t *testing.T, what, body string, p *registry.Pixel) {
	t.Helper()
	mustNotContain(t, what, body, "secret_sha256", "link_key", p.SecretHash, p.LinkKey)
}

func TestPixelAPI(t *testing.T) {
	ctx := context.Background()
	tc := newTestConsole(t)
	tc.user(t, "script", users.RoleAdmin)
	token, _, err := tc.users.CreateToken(ctx, "script", "test")
	if err != nil {
		t.Fatal(err)
	}
	c := tc.client(t)
	call := func(method, path, body string) (int, string) {
		t.Helper()
		var res *http.Response
		var out string
		if body == "" {
			res, out = c.api(method, path, token, nil)
		} else {
			res, out = c.api(method, path, token, strings.NewReader(body))
		}
		return res.StatusCode, out
	}

	for body, msg := range map[string]string{
		`{"domains":["shop.example"]}`:                       `"name"`,
		`{"name":"Shop","domains":["https://shop.example"]}`: "host only",
		`{"name":"Shop","engagement_seconds":0}`:             "1 to 86400",
		`{"name":"Shop","consent":"maybe"}`:                  "maybe",
		`{"name":"Shop","ip":"hide"}`:                        "hide",
		`{"name":"Shop","gpc":"ignore"}`:                     "gpc",
		`{"name":"Shop","time_zone":"Mars/Base"}`:            "Mars/Base",
		`{"name":"Shop","colour":"red"}`:                     "colour",
		`not json`:                                           "not a pixel's JSON",
	} {
		code, out := call(http.MethodPost, "/api/pixels", body)
		var e struct{ Error string }
		if code != http.StatusBadRequest || json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e.Error, msg) || strings.Contains(e.Error, "\n") {
			t.Errorf("POST /api/pixels %s: %d %s, want 400 with one line naming %q", body, code, out, msg)
		}
	}

	code, out := call(http.MethodPost, "/api/pixels", `{"name":"Shop","domains":["Shop.Example","*.shop.example"],"engagement_seconds":20,"consent":"required","ip":"drop","gpc":"flag","dnt":"drop","time_zone":"America/New_York"}`)
	var created struct {
		Pixel    registry.Record
		Secret   string
		Snippets registry.Snippets
	}
	if code != http.StatusCreated || json.Unmarshal([]byte(out), &created) != nil {
		t.Fatalf("POST /api/pixels: %d %s", code, out)
	}
	id := created.Pixel.ID
	p, err := tc.pixels.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	noSecrets(t, "create", out, p)
	if !p.CheckSecret([]byte(created.Secret)) || created.Pixel.Consent != "required" || created.Pixel.IP != "drop" || created.Pixel.TimeZone != "America/New_York" ||
		strings.Join(created.Pixel.Domains, ",") != "shop.example,*.shop.example" || !strings.Contains(created.Snippets.JS, id) || !strings.Contains(created.Snippets.Server, "/v1/"+id+"/events") {
		t.Errorf("created %s", out)
	}

	code, out = call(http.MethodGet, "/api/pixels", "")
	var list []registry.Record
	if code != http.StatusOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("GET /api/pixels: %d %s", code, out)
	}
	noSecrets(t, "list", out, p)
	code, out = call(http.MethodGet, "/api/pixels/"+id, "")
	if code != http.StatusOK || !strings.Contains(out, `"name": "Shop"`) {
		t.Errorf("GET /api/pixels/ID: %d %s", code, out)
	}
	noSecrets(t, "get", out, p)

	// A partial update changes the fields given only.
	code, out = call(http.MethodPost, "/api/pixels/"+id, `{"name":"Shop US","engagement_seconds":90}`)
	if code != http.StatusOK {
		t.Fatalf("POST /api/pixels/ID: %d %s", code, out)
	}
	noSecrets(t, "update", out, p)
	if p, _ = tc.pixels.Get(ctx, id); p.Name != "Shop US" || p.Settings.EngagementSeconds != 90 || p.Settings.IP != pixel.IPDrop || len(p.Domains) != 2 {
		t.Errorf("after the partial update: %+v", p)
	}
	if code, out := call(http.MethodPost, "/api/pixels/"+id, `{"domains":["a b"]}`); code != http.StatusBadRequest {
		t.Errorf("update with a bad domain: %d %s, want 400", code, out)
	}

	if code, out := call(http.MethodPost, "/api/pixels/"+id+"/disable", ""); code != http.StatusOK || !strings.Contains(out, `"status": "disabled"`) {
		t.Errorf("disable: %d %s", code, out)
	}
	if code, out := call(http.MethodPost, "/api/pixels/"+id+"/enable", ""); code != http.StatusOK || !strings.Contains(out, `"status": "active"`) {
		t.Errorf("enable: %d %s", code, out)
	}
	code, out = call(http.MethodPost, "/api/pixels/"+id+"/rotate-secret", "")
	var rotated struct{ ID, Secret string }
	if code != http.StatusOK || json.Unmarshal([]byte(out), &rotated) != nil || rotated.ID != id {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if p, _ = tc.pixels.Get(ctx, id); p.CheckSecret([]byte(created.Secret)) || !p.CheckSecret([]byte(rotated.Secret)) {
		t.Error("after the API's rotation the old secret still works, or the new one does not")
	}
	code, out = call(http.MethodGet, "/api/pixels/"+id+"/snippet", "")
	if code != http.StatusOK || !strings.Contains(out, `"Server"`) || !strings.Contains(out, "px.js?id="+id) {
		t.Errorf("snippet: %d %s", code, out)
	}
	noSecrets(t, "snippet", out, p)

	for _, r := range [][2]string{{http.MethodGet, "/api/pixels/nope"}, {http.MethodPost, "/api/pixels/nope"}, {http.MethodPost, "/api/pixels/nope/disable"},
		{http.MethodPost, "/api/pixels/nope/rotate-secret"}, {http.MethodGet, "/api/pixels/nope/snippet"}, {http.MethodGet, "/api/pixels/nope/events"}, {http.MethodGet, "/api/pixels/nope/install"}} {
		if code, out := call(r[0], r[1], `{}`); code != http.StatusNotFound || !strings.Contains(out, `"error"`) {
			t.Errorf("%s %s: %d %s, want 404 JSON", r[0], r[1], code, out)
		}
	}
}
