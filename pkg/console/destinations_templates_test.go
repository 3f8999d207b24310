package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// The destination pages' data for TestTemplatesAreSafe: every string a
// page shows is h, the hostile sample; the form is rendered both creating
// (every kind's section) and editing (one kind's, with a credential set).
func init() {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	px := func(h string) *registry.Pixel {
		return &registry.Pixel{ID: "px1", Name: h, Domains: []string{h}, Status: registry.StatusActive, TimeZone: h, CreatedAt: at}
	}
	dest := func(h, kind string) *destination.Destination {
		return &destination.Destination{ID: h, PixelID: "px1", Name: h, Kind: kind, Status: destination.StatusActive, Events: []string{h, h},
			MinValue: 9.5, Meta: destination.Meta{DatasetID: h, BaseURL: h, Version: h, TestEventCode: h, LimitedDataUse: true},
			Google:  destination.Google{CustomerID: h, ConversionActionID: h, ConversionName: h, LoginCustomerID: h, BaseURL: h, Version: h, TokenURL: h},
			Webhook: destination.Webhook{URL: h}, Credentials: destination.Credentials{AccessToken: h, SigningSecret: h, RefreshToken: h},
			CreatedAt: at, UpdatedAt: at}
	}
	form := func(h string) destForm {
		return destForm{Name: h, Kind: h, Events: h, MinValue: h, MetaDatasetID: h, MetaBaseURL: h, MetaVersion: h, MetaTestEventCode: h, MetaLDU: true,
			GoogleCustomerID: h, GoogleActionID: h, GoogleActionName: h, GoogleLoginCustomer: h, GoogleBaseURL: h, GoogleVersion: h, GoogleTokenURL: h, WebhookURL: h}
	}
	sampleData["destinations.html"] = func(h string) any {
		v := destListView{Pixel: px(h), Admin: true, Defaults: h}
		for _, k := range destination.Kinds {
			row := rowOf(dest(h, k))
			row.KindLabel, row.Target = h, h
			v.Rows = append(v.Rows, row)
		}
		return v
	}
	sampleData["destination_form.html"] = func(h string) any {
		v := newDestFormView(px(h), nil, form(h), h)
		v.Events = h
		return v
	}
	destEditSample = func(h string) any {
		return newDestFormView(px(h), dest(h, destination.KindMeta), form(h), h)
	}
}

// destEditSample is the edit form's data (TestDestinationEditTemplateIsSafe).
var destEditSample func(h string) any

// TestDestinationEditTemplateIsSafe is TestTemplatesAreSafe for the edit
// form, which shows what the new form does not: one kind, the credentials'
// state, the status and delete sections. No credential value is shown.
func TestDestinationEditTemplateIsSafe(t *testing.T) {
	tc := newTestConsole(t)
	for _, h := range []string{hostile, "plain"} {
		pix := &registry.Pixel{ID: h, Name: h, Status: h, TimeZone: h}
		v := &view{Title: h, Flash: h, Pixels: []*registry.Pixel{pix}, Pixel: pix, Data: destEditSample(h)}
		admin := &users.User{Name: h, Role: users.RoleAdmin}
		a := &auth{user: admin, session: &session{csrf: h, user: admin}}
		rec := httptest.NewRecorder()
		tc.renderView(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(context.WithValue(context.Background(), ctxKey{}, a)), http.StatusOK, "destination_form.html", v)
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Fatalf("the edit form does not render (%d):\n%s", rec.Code, body)
		}
		for _, p := range unsafeMarkup(body) {
			t.Errorf("with %q: %s", h, p)
		}
		mustContain(t, "the edit form", body, `id="cred-access_token-state">set</span>`, `id="clear-access_token"`, `id="destination-toggle"`, `id="delete-confirm"`)
		mustNotContain(t, "the edit form", body, `id="kind-google"`, `id="kind-webhook"`, `id="dest-kind"`)
		if h == hostile {
			mustContain(t, "the edit form", body, "&lt;script&gt;alert(1)&lt;/script&gt;")
			// The credentials are h too: no input carries a value.
			if regexp.MustCompile(`type="password"[^>]*value=`).MatchString(body) {
				t.Errorf("a password input has a value:\n%s", body)
			}
		}
	}
}
