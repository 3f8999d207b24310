package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/destination"
)

// FuzzDestinationEdit: any API body and any form change a destination
// without panicking, keep an existing destination's kind, never set
// another kind's settings or credentials, and keep the credentials when
// none are given.
func FuzzDestinationEdit(f *testing.F) {
	for _, s := range []string{
		destJSON("meta", "m"), destJSON("google", "g"), destJSON("webhook", "w"),
		`{"name": "x", "credentials": {"refresh_token": ""}}`, `{"kind": "meta"}`, `{"meta": {"dataset_id": "1"}}`,
		`{"credentials": {"access_token": "x"}}`, `{"events": ["a", "a"], "min_value": -1}`, `{"nmae": 1}`, `null`, `[]`,
	} {
		f.Add(s, "name=x&kind=google&google_customer_id=1&cred_refresh_token=r&clear_client_id=yes&meta_dataset_id=9&webhook_url=https://a.example/")
	}
	f.Add(``, "kind=meta&cred_access_token=a&clear_access_token=yes")
	f.Add(`{}`, "kind=webhook&min_value=NaN&events=,,a,")
	existing := destination.Destination{ID: "d1", PixelID: "p1", Name: "G", Kind: destination.KindGoogle, Status: destination.StatusActive,
		Google:      destination.Google{CustomerID: "1234567890", ConversionActionID: "1"},
		Credentials: destination.Credentials{DeveloperToken: "dev", ClientID: "id", ClientSecret: "secret", RefreshToken: "refresh"}}
	f.Fuzz(func(t *testing.T, body, form string) {
		var e destEdit
		dec := json.NewDecoder(bytes.NewReader([]byte(body)))
		dec.DisallowUnknownFields()
		if dec.Decode(&e) == nil {
			d := existing
			d.Events = slices.Clone(existing.Events)
			if err := e.apply(&d); err == nil {
				if d.Kind != destination.KindGoogle || d.Meta != (destination.Meta{}) || d.Webhook != (destination.Webhook{}) {
					t.Fatalf("%s: an existing google destination became %+v", body, d)
				}
				if d.Credentials.AccessToken != "" || d.Credentials.SigningSecret != "" {
					t.Fatalf("%s: another kind's credentials set", body)
				}
				if e.Credentials == nil && d.Credentials != existing.Credentials {
					t.Fatalf("%s: credentials changed without any given", body)
				}
			}
			var n destination.Destination
			if err := e.apply(&n); err == nil && !slices.Contains(destination.Kinds, n.Kind) {
				t.Fatalf("%s: created with kind %q", body, n.Kind)
			}
		}

		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fe, err := readDestForm(r).editOf(r)
		if err != nil {
			return
		}
		var n destination.Destination
		if err := fe.apply(&n); err != nil {
			return
		}
		if n.Kind != destination.KindMeta && n.Meta != (destination.Meta{}) || n.Kind != destination.KindGoogle && n.Google != (destination.Google{}) ||
			n.Kind != destination.KindWebhook && n.Webhook != (destination.Webhook{}) {
			t.Fatalf("%q: another kind's settings saved: %+v", form, n)
		}
		for _, in := range credentialInputs {
			if in.Kind != n.Kind && *in.get(&n.Credentials) != "" {
				t.Fatalf("%q: credential %s set on a %s destination", form, in.Name, n.Kind)
			}
		}
	})
}
