package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// newDestConsole is a test console with a destination key.
func newDestConsole(t *testing.T) *testConsole {
	t.Helper()
	key, err := destination.LoadOrCreateKey(filepath.Join(t.TempDir(), "destination.key"))
	if err != nil {
		t.Fatal(err)
	}
	return newTestConsole(t, func(o *Options) { o.DestinationKey = key })
}

// destSecrets are the credentials the tests give, by JSON name: no page
// or answer may contain any of them.
var destSecrets = map[string]string{
	"access_token":    "EAAGsecretMetaToken111",
	"developer_token": "devTokenSecret222",
	"client_id":       "clientIdSecret333.apps.googleusercontent.com",
	"client_secret":   "GOCSPX-clientSecret444",
	"refresh_token":   "1//refreshTokenSecret555",
	"signing_secret":  "whsec_signingSecret666",
}

// secretLog collects every page and answer a test saw, to check at the
// end that no credential is in any of them.
type secretLog []string

func (l *secretLog) add(body string) string { *l = append(*l, body); return body }

func (l secretLog) check(t *testing.T, extra ...string) {
	t.Helper()
	for _, b := range l {
		for name, v := range destSecrets {
			if strings.Contains(b, v) {
				t.Errorf("the credential %s is in a page or answer:\n%s", name, b)
			}
		}
		for _, v := range extra {
			if strings.Contains(b, v) {
				t.Errorf("the credential %q is in a page or answer:\n%s", v, b)
			}
		}
	}
}

// destFormFor is a valid form of kind with its credentials typed.
func destFormFor(kind, name string) url.Values {
	f := url.Values{"name": {name}, "kind": {kind}, "events": {"Purchase, Lead,"}, "min_value": {"5"},
		// Another kind's fields, as the form without script sends them: ignored.
		"webhook_url": {"https://ignored.example/"}, "meta_dataset_id": {"999"}}
	switch kind {
	case destination.KindMeta:
		f.Set("meta_dataset_id", "123456789")
		f.Set("meta_test_event_code", "TEST123")
		f.Set("meta_ldu", "yes")
	case destination.KindGoogle:
		f.Set("google_customer_id", "1234567890")
		f.Set("google_conversion_action_id", "555")
		f.Set("google_conversion_name", "Purchases")
		f.Set("google_login_customer_id", "9876543210")
	case destination.KindWebhook:
		f.Set("webhook_url", "https://crm.example/pixel")
	}
	for _, in := range credentialInputs {
		if in.Kind == kind {
			f.Set("cred_"+in.Name, destSecrets[in.Name])
		}
	}
	return f
}

var createdRe = regexp.MustCompile(`/destinations\?created=([A-Za-z0-9_-]+)$`)

func TestDestinationForms(t *testing.T) {
	ctx := context.Background()
	tc := newDestConsole(t)
	c := tc.signIn(t, "ana", users.RoleAdmin)
	pid, _ := createPixelForm(t, c, "Shop")
	var seen secretLog

	_, body := c.get("/pixels/" + pid + "/dashboard")
	mustContain(t, "the pixel's navigation", body, `href="/pixels/`+pid+`/destinations"`)
	_, body = c.get("/pixels/" + pid + "/destinations")
	mustContain(t, "the empty list", seen.add(body), `id="no-destinations"`, `id="new-destination"`)
	res, body := c.get("/pixels/" + pid + "/destinations/new")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET new: %d", res.StatusCode)
	}
	mustContain(t, "the new form", seen.add(body), `action="/pixels/`+pid+`/destinations"`, `id="dest-kind"`, `id="kind-meta"`, `id="kind-google"`,
		`id="kind-webhook"`, `<legend>Meta Conversions API</legend>`, `id="cred-access_token"`, `id="cred-refresh_token"`, `id="cred-signing_secret"`,
		`type="password"`, "destinations.js")
	mustNotContain(t, "the new form", body, `id="clear-`)

	// A refused form comes back with the message and the settings typed,
	// never the credentials.
	bad := destFormFor(destination.KindMeta, "Meta <shop>")
	bad.Set("meta_dataset_id", "abc")
	res, body = c.post("/pixels/"+pid+"/destinations", bad)
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad dataset id: %d, want 400\n%s", res.StatusCode, body)
	}
	mustContain(t, "the refused form", seen.add(body), `id="form-error"`, "dataset id", `value="Meta &lt;shop&gt;"`, `value="abc"`, "type them again")
	for field, v := range map[string]string{"min_value": "lots", "kind": "tiktok", "name": " "} {
		f := destFormFor(destination.KindWebhook, "Hook")
		f.Set(field, v)
		if res, body := c.post("/pixels/"+pid+"/destinations", f); res.StatusCode != http.StatusBadRequest || !strings.Contains(seen.add(body), `id="form-error"`) {
			t.Errorf("%s=%q: %d, want 400 with the form's error", field, v, res.StatusCode)
		}
	}
	if ds, err := tc.destinations.List(ctx, pid); err != nil || len(ds) != 0 {
		t.Fatalf("refused forms created %d destinations (%v)", len(ds), err)
	}

	for _, kind := range destination.Kinds {
		t.Run(kind, func(t *testing.T) {
			res, body := c.post("/pixels/"+pid+"/destinations", destFormFor(kind, "To "+kind))
			m := createdRe.FindStringSubmatch(res.Header.Get("Location"))
			if res.StatusCode != http.StatusSeeOther || m == nil {
				t.Fatalf("create %s: %d to %q\n%s", kind, res.StatusCode, res.Header.Get("Location"), body)
			}
			did := m[1]
			d, err := tc.destinations.Get(ctx, did)
			if err != nil {
				t.Fatal(err)
			}
			if d.PixelID != pid || d.Kind != kind || d.Name != "To "+kind || !d.Active() || strings.Join(d.Events, ",") != "Purchase,Lead" || d.MinValue != 5 {
				t.Errorf("created %+v", d)
			}
			switch kind {
			case destination.KindMeta:
				if d.Meta != (destination.Meta{DatasetID: "123456789", TestEventCode: "TEST123", LimitedDataUse: true}) || d.Credentials.AccessToken != destSecrets["access_token"] {
					t.Errorf("meta settings %+v, credentials set %v", d.Meta, d.Credentials.Set())
				}
			case destination.KindGoogle:
				want := destination.Google{CustomerID: "1234567890", ConversionActionID: "555", ConversionName: "Purchases", LoginCustomerID: "9876543210"}
				if d.Google != want || d.Credentials.RefreshToken != destSecrets["refresh_token"] || d.Credentials.ClientSecret != destSecrets["client_secret"] {
					t.Errorf("google settings %+v, credentials set %v", d.Google, d.Credentials.Set())
				}
			case destination.KindWebhook:
				if d.Webhook.URL != "https://crm.example/pixel" || d.Credentials.SigningSecret != destSecrets["signing_secret"] {
					t.Errorf("webhook settings %+v, credentials set %v", d.Webhook, d.Credentials.Set())
				}
			}
			if d.Kind != destination.KindMeta && d.Meta.DatasetID != "" || d.Kind != destination.KindWebhook && d.Webhook.URL != "" {
				t.Errorf("another kind's fields were saved: %+v %+v", d.Meta, d.Webhook)
			}

			_, body = c.get(res.Header.Get("Location"))
			mustContain(t, "the list after creating", seen.add(body), "is created", `<tr data-destination="`+did+`">`, "To "+kind,
				`<span class="badge ok">active</span>`, "Purchase, Lead")
			for _, in := range credentialInputs {
				if in.Kind == kind {
					mustContain(t, "the list", body, in.Name+" set")
				}
			}

			// Edit: filled in, the credentials only as "set".
			_, body = c.get("/destinations/" + did)
			mustContain(t, "the edit form", seen.add(body), `action="/destinations/`+did+`"`, `value="To `+kind+`"`, `value="Purchase, Lead"`,
				`id="kind-`+kind+`"`, `id="destination-toggle"`, `id="delete-confirm"`, `href="/pixels/`+pid+`/destinations"`)
			mustNotContain(t, "the edit form", body, `id="dest-kind"`)
			first := ""
			for _, in := range credentialInputs {
				if in.Kind == kind {
					mustContain(t, "the edit form", body, `id="cred-`+in.Name+`-state">set</span>`, `id="clear-`+in.Name+`"`)
					if first == "" {
						first = in.Name
					}
				} else {
					mustNotContain(t, "the edit form", body, `id="cred-`+in.Name+`"`)
				}
			}

			// Saved with the credential inputs empty: the credentials stay.
			f := destFormFor(kind, "To "+kind+" 2")
			for _, in := range credentialInputs {
				f.Del("cred_" + in.Name)
			}
			f.Set("events", "")
			f.Set("min_value", "")
			res, body = c.post("/destinations/"+did, f)
			if res.StatusCode != http.StatusOK || !strings.Contains(seen.add(body), "Saved") {
				t.Fatalf("save: %d\n%s", res.StatusCode, body)
			}
			e, _ := tc.destinations.Get(ctx, did)
			if e.Name != "To "+kind+" 2" || len(e.Events) != 0 || e.MinValue != 0 || strings.Join(e.Credentials.Set(), ",") != strings.Join(d.Credentials.Set(), ",") ||
				e.Credentials != d.Credentials {
				t.Errorf("after saving with empty credential inputs: %q events %v min %v, credentials set %v", e.Name, e.Events, e.MinValue, e.Credentials.Set())
			}
			_, body = c.get("/pixels/" + pid + "/destinations")
			mustContain(t, "the list", seen.add(body), "the default conversions")

			// A new value replaces one credential; "clear" empties it.
			f.Set("cred_"+first, "replaced-"+destSecrets[first])
			if res, body = c.post("/destinations/"+did, f); res.StatusCode != http.StatusOK {
				t.Fatalf("replace a credential: %d\n%s", res.StatusCode, body)
			}
			seen.add(body)
			e, _ = tc.destinations.Get(ctx, did)
			if got := *credentialInputsByName(first).get(&e.Credentials); got != "replaced-"+destSecrets[first] {
				t.Errorf("%s after replacing: %q", first, got)
			}
			f.Del("cred_" + first)
			f.Set("clear_"+first, "yes")
			if res, body = c.post("/destinations/"+did, f); res.StatusCode != http.StatusOK {
				t.Fatalf("clear a credential: %d\n%s", res.StatusCode, body)
			}
			mustContain(t, "the form after clearing", seen.add(body), `id="cred-`+first+`-state">not set</span>`)
			e, _ = tc.destinations.Get(ctx, did)
			if got := *credentialInputsByName(first).get(&e.Credentials); got != "" {
				t.Errorf("%s after clearing: %q", first, got)
			}
			f.Set("cred_"+first, "x")
			if res, body = c.post("/destinations/"+did, f); res.StatusCode != http.StatusBadRequest {
				t.Errorf("a credential typed and cleared: %d, want 400", res.StatusCode)
			}
			seen.add(body)

			// Disable, enable.
			res, _ = c.post("/destinations/"+did+"/disable", nil)
			if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/pixels/"+pid+"/destinations?disabled="+did {
				t.Fatalf("disable: %d to %q", res.StatusCode, loc)
			}
			if e, _ = tc.destinations.Get(ctx, did); e.Active() {
				t.Error("still active after disable")
			}
			_, body = c.get("/pixels/" + pid + "/destinations?disabled=" + did)
			mustContain(t, "the list after disabling", seen.add(body), "is disabled", `<span class="badge bad">disabled</span>`, `action="/destinations/`+did+`/enable"`)
			if res, _ = c.post("/destinations/"+did+"/enable", nil); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("enable: %d", res.StatusCode)
			}
			if e, _ = tc.destinations.Get(ctx, did); !e.Active() {
				t.Error("not active after enable")
			}

			// Delete: only confirmed.
			if res, body = c.post("/destinations/"+did+"/delete", nil); res.StatusCode != http.StatusBadRequest {
				t.Fatalf("delete unconfirmed: %d", res.StatusCode)
			}
			seen.add(body)
			res, _ = c.post("/destinations/"+did+"/delete", url.Values{"confirm": {"yes"}})
			if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/pixels/"+pid+"/destinations?deleted=1" {
				t.Fatalf("delete: %d to %q", res.StatusCode, loc)
			}
			if _, err := tc.destinations.Get(ctx, did); !errors.Is(err, destination.ErrNotFound) {
				t.Errorf("after delete: %v, want ErrNotFound", err)
			}
			_, body = c.get("/pixels/" + pid + "/destinations?deleted=1")
			mustContain(t, "the list after deleting", seen.add(body), "is deleted")
			mustNotContain(t, "the list after deleting", body, `data-destination="`+did+`"`)
			if res, _ := c.get("/destinations/" + did); res.StatusCode != http.StatusNotFound {
				t.Errorf("GET a deleted destination: %d, want 404", res.StatusCode)
			}
		})
	}
	for _, path := range []string{"/pixels/nope/destinations", "/pixels/nope/destinations/new", "/destinations/nope"} {
		if res, _ := c.get(path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	seen.check(t, "replaced-"+destSecrets["access_token"], "replaced-"+destSecrets["developer_token"], "replaced-"+destSecrets["signing_secret"])
}

func credentialInputsByName(name string) credentialInput {
	for _, in := range credentialInputs {
		if in.Name == name {
			return in
		}
	}
	panic("no credential " + name)
}

// destJSON is a valid API body of kind with its credentials.
func destJSON(kind, name string) string {
	body := map[string]any{"name": name, "kind": kind, "events": []string{"Purchase", destination.EngagedVisit}, "min_value": 1.5}
	creds := map[string]string{}
	for _, in := range credentialInputs {
		if in.Kind == kind {
			creds[in.Name] = destSecrets[in.Name]
		}
	}
	body["credentials"] = creds
	switch kind {
	case destination.KindMeta:
		body["meta"] = map[string]any{"dataset_id": "42", "limited_data_use": true}
	case destination.KindGoogle:
		body["google"] = map[string]any{"customer_id": "1234567890", "conversion_action_id": "7", "conversion_name": "Sales"}
	case destination.KindWebhook:
		body["webhook"] = map[string]any{"url": "https://hooks.example/in"}
	}
	b, _ := json.Marshal(body)
	return string(b)
}

func TestDestinationAPI(t *testing.T) {
	ctx := context.Background()
	tc := newDestConsole(t)
	c := tc.signIn(t, "ana", users.RoleAdmin)
	pid, _ := createPixelForm(t, c, "Shop")
	var seen secretLog
	call := func(method, path, body string) (*http.Response, string) {
		var res *http.Response
		var out string
		if body == "" {
			res, out = c.api(method, path, "", nil)
		} else {
			res, out = c.api(method, path, "", strings.NewReader(body))
		}
		return res, seen.add(out)
	}

	if res, body := call(http.MethodGet, "/api/pixels/"+pid+"/destinations", ""); res.StatusCode != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Fatalf("the empty list: %d %s", res.StatusCode, body)
	}
	ids := map[string]string{}
	for _, kind := range destination.Kinds {
		res, body := call(http.MethodPost, "/api/pixels/"+pid+"/destinations", destJSON(kind, "API "+kind))
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: %d %s", kind, res.StatusCode, body)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(body), &rec); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "pixel_id", "name", "kind", "status", "events", "min_value", "credentials_set", kind} {
			if _, ok := rec[k]; !ok {
				t.Errorf("create %s: no %q in %s", kind, k, body)
			}
		}
		for _, other := range destination.Kinds {
			if _, ok := rec[other]; ok && other != kind {
				t.Errorf("a %s destination's answer has %q settings: %s", kind, other, body)
			}
		}
		if _, ok := rec["credentials"]; ok {
			t.Errorf("the answer has credentials: %s", body)
		}
		if rec["pixel_id"] != pid || rec["status"] != "active" || rec["min_value"] != 1.5 {
			t.Errorf("create %s: %s", kind, body)
		}
		ids[kind] = rec["id"].(string)
	}
	var meta struct {
		Meta           map[string]any `json:"meta"`
		CredentialsSet []string       `json:"credentials_set"`
	}
	_, body := call(http.MethodGet, "/api/destinations/"+ids["meta"], "")
	if err := json.Unmarshal([]byte(body), &meta); err != nil || meta.Meta["dataset_id"] != "42" || meta.Meta["limited_data_use"] != true ||
		strings.Join(meta.CredentialsSet, ",") != "access_token" {
		t.Errorf("GET meta: %v %s", err, body)
	}
	var google struct {
		Google         map[string]any `json:"google"`
		CredentialsSet []string       `json:"credentials_set"`
	}
	_, body = call(http.MethodGet, "/api/destinations/"+ids["google"], "")
	if err := json.Unmarshal([]byte(body), &google); err != nil || google.Google["customer_id"] != "1234567890" || google.Google["conversion_name"] != "Sales" ||
		strings.Join(google.CredentialsSet, ",") != "developer_token,client_id,client_secret,refresh_token" {
		t.Errorf("GET google: %v %s", err, body)
	}
	var list []destination.Record
	_, body = call(http.MethodGet, "/api/pixels/"+pid+"/destinations", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 3 {
		t.Fatalf("list: %v %s", err, body)
	}

	// PUT changes what it gives: the name, and one credential cleared.
	wid := ids["webhook"]
	res, body := call(http.MethodPut, "/api/destinations/"+wid, `{"name": "Renamed", "credentials": {"signing_secret": ""}}`)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"credentials_set": []`) || !strings.Contains(body, `"url": "https://hooks.example/in"`) {
		t.Errorf("PUT: %d %s", res.StatusCode, body)
	}
	d, _ := tc.destinations.Get(ctx, wid)
	if d.Name != "Renamed" || d.Credentials.SigningSecret != "" || d.Webhook.URL != "https://hooks.example/in" || strings.Join(d.Events, ",") != "Purchase,EngagedVisit" {
		t.Errorf("after PUT: %+v", d)
	}
	if res, body = call(http.MethodPut, "/api/destinations/"+wid, `{"credentials": {"signing_secret": "new-`+destSecrets["signing_secret"]+`"}, "webhook": {"url": "https://hooks.example/v2"}}`); res.StatusCode != http.StatusOK {
		t.Errorf("PUT a secret: %d %s", res.StatusCode, body)
	}
	if d, _ = tc.destinations.Get(ctx, wid); d.Credentials.SigningSecret != "new-"+destSecrets["signing_secret"] || d.Webhook.URL != "https://hooks.example/v2" || d.Name != "Renamed" {
		t.Errorf("after PUT a secret: %+v", d.Webhook)
	}

	// Mistakes are 400 with {"error": ...}, and change nothing.
	for what, r := range map[string][2]string{
		"unknown field":      {"PUT", `{"nmae": "x"}`},
		"unknown credential": {"PUT", `{"credentials": {"password": "x"}}`},
		"kind change":        {"PUT", `{"kind": "meta"}`},
		"other kind's":       {"PUT", `{"meta": {"dataset_id": "1"}}`},
		"other kind's cred":  {"PUT", `{"credentials": {"access_token": "x"}}`},
		"plain http":         {"PUT", `{"webhook": {"url": "http://hooks.example/"}}`},
		"negative minimum":   {"PUT", `{"min_value": -1}`},
		"not JSON":           {"PUT", `name=x`},
	} {
		res, body := call(r[0], "/api/destinations/"+wid, r[1])
		var e struct{ Error string }
		if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s, want 400 with an error", what, res.StatusCode, body)
		}
	}
	for what, body := range map[string]string{
		"no name":    `{"kind": "webhook", "webhook": {"url": "https://a.example/"}}`,
		"no kind":    `{"name": "x"}`,
		"bad kind":   `{"name": "x", "kind": "tiktok"}`,
		"bad google": `{"name": "x", "kind": "google", "google": {"customer_id": "123-456-7890", "conversion_action_id": "1"}}`,
	} {
		if res, out := call(http.MethodPost, "/api/pixels/"+pid+"/destinations", body); res.StatusCode != http.StatusBadRequest || !strings.Contains(out, `"error"`) {
			t.Errorf("create with %s: %d %s, want 400", what, res.StatusCode, out)
		}
	}
	if res, _ := call(http.MethodPost, "/api/pixels/nope/destinations", destJSON("webhook", "x")); res.StatusCode != http.StatusNotFound {
		t.Errorf("create for no pixel: %d, want 404", res.StatusCode)
	}
	if d, _ = tc.destinations.Get(ctx, wid); d.Name != "Renamed" || d.Kind != destination.KindWebhook || d.Webhook.URL != "https://hooks.example/v2" {
		t.Errorf("refused changes changed %+v", d)
	}

	// Disable, enable, delete.
	if res, body := call(http.MethodPost, "/api/destinations/"+wid+"/disable", ""); res.StatusCode != http.StatusOK || !strings.Contains(body, `"status": "disabled"`) {
		t.Errorf("disable: %d %s", res.StatusCode, body)
	}
	if res, body := call(http.MethodPost, "/api/destinations/"+wid+"/enable", ""); res.StatusCode != http.StatusOK || !strings.Contains(body, `"status": "active"`) {
		t.Errorf("enable: %d %s", res.StatusCode, body)
	}
	for _, kind := range destination.Kinds {
		if res, body := call(http.MethodDelete, "/api/destinations/"+ids[kind], ""); res.StatusCode != http.StatusOK || !strings.Contains(body, `"deleted": true`) {
			t.Errorf("delete %s: %d %s", kind, res.StatusCode, body)
		}
		if res, body := call(http.MethodGet, "/api/destinations/"+ids[kind], ""); res.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error"`) {
			t.Errorf("GET deleted %s: %d %s", kind, res.StatusCode, body)
		}
	}
	if res, _ := call(http.MethodPut, "/api/destinations/nope", `{"name": "x"}`); res.StatusCode != http.StatusNotFound {
		t.Errorf("PUT no such destination: %d, want 404", res.StatusCode)
	}
	seen.check(t, "new-"+destSecrets["signing_secret"])
}

func TestDestinationViewerAndCSRF(t *testing.T) {
	ctx := context.Background()
	tc := newDestConsole(t)
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	viewer := tc.signIn(t, "vic", users.RoleViewer)
	pid, _ := createPixelForm(t, admin, "Shop")
	d, err := tc.destinations.Create(ctx, destination.Destination{PixelID: pid, Name: "Meta shop", Kind: destination.KindMeta,
		Meta: destination.Meta{DatasetID: "1"}, Credentials: destination.Credentials{AccessToken: destSecrets["access_token"]}})
	if err != nil {
		t.Fatal(err)
	}
	var seen secretLog

	// A viewer reads the list and the API, without the admin's actions.
	res, body := viewer.get("/pixels/" + pid + "/destinations")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("viewer list: %d", res.StatusCode)
	}
	mustContain(t, "the viewer's list", seen.add(body), `<tr data-destination="`+d.ID+`">`, "Meta shop", "access_token set", "dataset 1")
	mustNotContain(t, "the viewer's list", body, `id="new-destination"`, `action="/destinations/`, `href="/destinations/`)
	if res, body := viewer.api(http.MethodGet, "/api/destinations/"+d.ID, "", nil); res.StatusCode != http.StatusOK || !strings.Contains(seen.add(body), `"access_token"`) {
		t.Errorf("viewer API GET: %d %s", res.StatusCode, body)
	}
	for _, path := range []string{"/pixels/" + pid + "/destinations/new", "/destinations/" + d.ID} {
		if res, body := viewer.get(path); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d, want 403", path, res.StatusCode)
		} else {
			seen.add(body)
		}
	}
	for _, path := range []string{"/pixels/" + pid + "/destinations", "/destinations/" + d.ID, "/destinations/" + d.ID + "/disable", "/destinations/" + d.ID + "/delete"} {
		if res, _ := viewer.post(path, url.Values{"name": {"x"}, "kind": {"meta"}, "confirm": {"yes"}}); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", path, res.StatusCode)
		}
	}
	for _, r := range [][3]string{
		{http.MethodPost, "/api/pixels/" + pid + "/destinations", destJSON("webhook", "x")},
		{http.MethodPut, "/api/destinations/" + d.ID, `{"name": "x"}`},
		{http.MethodDelete, "/api/destinations/" + d.ID, ""},
		{http.MethodPost, "/api/destinations/" + d.ID + "/disable", ""},
	} {
		var b *strings.Reader
		if r[2] != "" {
			b = strings.NewReader(r[2])
		}
		var res *http.Response
		if b != nil {
			res, _ = viewer.api(r[0], r[1], "", b)
		} else {
			res, _ = viewer.api(r[0], r[1], "", nil)
		}
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d, want 403", r[0], r[1], res.StatusCode)
		}
	}

	// Without the CSRF token an admin's change is refused too.
	for _, path := range []string{"/pixels/" + pid + "/destinations", "/destinations/" + d.ID, "/destinations/" + d.ID + "/disable", "/destinations/" + d.ID + "/delete"} {
		for _, token := range []string{"", "wrong"} {
			if res, _ := admin.post(path, url.Values{"csrf": {token}, "name": {"x"}, "kind": {"meta"}, "confirm": {"yes"}}); res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with csrf %q: %d, want 403", path, token, res.StatusCode)
			}
		}
	}
	noCSRF := *admin
	noCSRF.csrf = ""
	for _, r := range [][2]string{{http.MethodPut, "/api/destinations/" + d.ID}, {http.MethodDelete, "/api/destinations/" + d.ID},
		{http.MethodPost, "/api/destinations/" + d.ID + "/disable"}, {http.MethodPost, "/api/pixels/" + pid + "/destinations"}} {
		if res, _ := noCSRF.api(r[0], r[1], "", strings.NewReader(`{"name": "x"}`)); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s without X-CSRF-Token: %d, want 403", r[0], r[1], res.StatusCode)
		}
	}
	if e, err := tc.destinations.Get(ctx, d.ID); err != nil || e.Name != "Meta shop" || !e.Active() {
		t.Errorf("refused requests changed the destination: %+v %v", e, err)
	}
	if ds, _ := tc.destinations.List(ctx, pid); len(ds) != 1 {
		t.Errorf("refused requests created destinations: %d", len(ds))
	}
	seen.check(t)
}

func TestDestinationHostileEscaped(t *testing.T) {
	tc := newDestConsole(t)
	c := tc.signIn(t, "ana", users.RoleAdmin)
	pid, _ := createPixelForm(t, c, "Shop")
	name := `<script>alert(1)</script>"><img src=x onerror=alert(2)>`
	hookURL := `https://hooks.example/in?a="><script>alert(3)</script>&b='onmouseover='x`
	body, _ := json.Marshal(map[string]any{"name": name, "kind": "webhook", "webhook": map[string]string{"url": hookURL},
		"events": []string{`<b>Purchase</b>`}})
	res, out := c.api(http.MethodPost, "/api/pixels/"+pid+"/destinations", "", strings.NewReader(string(body)))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, out)
	}
	var rec destination.Record
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Name != name || rec.Webhook == nil || rec.Webhook.URL != hookURL {
		t.Fatalf("the answer does not give the name and URL back as they are: %v %s", err, out)
	}
	for _, path := range []string{"/pixels/" + pid + "/destinations", "/destinations/" + rec.ID} {
		_, page := c.get(path)
		for _, p := range unsafeMarkup(page) {
			t.Errorf("%s: %s", path, p)
		}
		mustContain(t, path, page, "&lt;script&gt;alert(1)&lt;/script&gt;")
		mustNotContain(t, path, page, "<script>alert", "<b>Purchase", `onerror=alert(2)>`)
	}
}

func TestDestinationsWithoutKey(t *testing.T) {
	tc := newTestConsole(t)
	c := tc.signIn(t, "ana", users.RoleAdmin)
	pid, _ := createPixelForm(t, c, "Shop")
	res, body := c.get("/pixels/" + pid + "/destinations")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the list without a key: %d", res.StatusCode)
	}
	mustContain(t, "the list without a key", body, `id="destinations-problem"`, "-destination-key-file", "PIXEL_DESTINATION_KEY_FILE")
	mustNotContain(t, "the list without a key", body, `id="new-destination"`, `id="no-destinations"`)
	if res, body := c.api(http.MethodGet, "/api/pixels/"+pid+"/destinations", "", nil); res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "destination-key-file") {
		t.Errorf("API list without a key: %d %s", res.StatusCode, body)
	}
	if res, _ := c.api(http.MethodPost, "/api/pixels/"+pid+"/destinations", "", strings.NewReader(destJSON("webhook", "x"))); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("API create without a key: %d, want 503", res.StatusCode)
	}
	if res, body := c.post("/pixels/"+pid+"/destinations", destFormFor("webhook", "x")); res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "destination-key-file") {
		t.Errorf("form create without a key: %d", res.StatusCode)
	}
}
