package console

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// destinationRoutes registers the destination pages (a pixel's list,
// create, edit, disable, enable, delete) and their JSON API. Every change
// goes through destination.Store, as pixelctl destination's do. Viewers
// read the list and the API's GETs; only admins change anything.
// Credentials are write-only: pages and answers say which are set, never
// what they are.
func (s *Server) destinationRoutes() {
	s.page("GET /pixels/{id}/destinations", "", s.destinationList)
	s.page("GET /pixels/{id}/destinations/new", users.RoleAdmin, s.destinationNew)
	s.page("POST /pixels/{id}/destinations", users.RoleAdmin, s.destinationCreate)
	s.page("GET /destinations/{did}", users.RoleAdmin, s.destinationEdit)
	s.page("POST /destinations/{did}", users.RoleAdmin, s.destinationUpdate)
	s.page("POST /destinations/{did}/disable", users.RoleAdmin, s.destinationSetStatus(destination.StatusDisabled))
	s.page("POST /destinations/{did}/enable", users.RoleAdmin, s.destinationSetStatus(destination.StatusActive))
	s.page("POST /destinations/{did}/delete", users.RoleAdmin, s.destinationDelete)

	s.api("GET /api/pixels/{id}/destinations", "", s.apiDestinationList)
	s.api("POST /api/pixels/{id}/destinations", users.RoleAdmin, s.apiDestinationCreate)
	s.api("GET /api/destinations/{did}", "", func(w http.ResponseWriter, r *http.Request) {
		if d := s.apiDestination(w, r); d != nil {
			writeJSON(w, http.StatusOK, d.Record())
		}
	})
	s.api("PUT /api/destinations/{did}", users.RoleAdmin, s.apiDestinationUpdate)
	s.api("DELETE /api/destinations/{did}", users.RoleAdmin, s.apiDestinationDelete)
	s.api("POST /api/destinations/{did}/disable", users.RoleAdmin, s.apiDestinationStatus(destination.StatusDisabled))
	s.api("POST /api/destinations/{did}/enable", users.RoleAdmin, s.apiDestinationStatus(destination.StatusActive))
}

// forwarderRefresh is said on pages after a change: the forwarder reloads
// destinations every -refresh, 10 s by default.
const forwarderRefresh = "the forwarder takes it up at its next refresh (10 s by default)"

// credentialInput is one credential of a kind, as the form asks for it.
type credentialInput struct {
	Kind, Name, Label, Hint string
	get                     func(c *destination.Credentials) *string
}

// credentialInputs are every credential, by kind, in Credentials' order;
// Name is its JSON name (the API's and pixelctl's -credentials-stdin).
var credentialInputs = []credentialInput{
	{destination.KindMeta, "access_token", "Access token", "Events Manager → the dataset → Settings → Conversions API → Generate access token.",
		func(c *destination.Credentials) *string { return &c.AccessToken }},
	{destination.KindGoogle, "developer_token", "Developer token", "Google Ads → Tools → API Center.",
		func(c *destination.Credentials) *string { return &c.DeveloperToken }},
	{destination.KindGoogle, "client_id", "OAuth client id", "The OAuth 2.0 client (Google Cloud console → Credentials) that the refresh token was issued to.",
		func(c *destination.Credentials) *string { return &c.ClientID }},
	{destination.KindGoogle, "client_secret", "OAuth client secret", "",
		func(c *destination.Credentials) *string { return &c.ClientSecret }},
	{destination.KindGoogle, "refresh_token", "OAuth refresh token", "Issued for the scope https://www.googleapis.com/auth/adwords by a user with access to the customer.",
		func(c *destination.Credentials) *string { return &c.RefreshToken }},
	{destination.KindWebhook, "signing_secret", "Signing secret", "The HMAC-SHA256 key that signs each body (X-Pixel-Signature); your receiver checks it.",
		func(c *destination.Credentials) *string { return &c.SigningSecret }},
}

// kindLabels name the kinds for people.
var kindLabels = map[string]string{
	destination.KindMeta:    "Meta Conversions API",
	destination.KindGoogle:  "Google Ads conversion upload",
	destination.KindWebhook: "Webhook (signed JSON)",
}

// destinationFailure is the status and message of a failed destination
// read or change; messages name no credential.
func (s *Server) destinationFailure(err error) (int, string) {
	switch {
	case errors.Is(err, destination.ErrNoKey):
		return http.StatusServiceUnavailable, noKeyMessage
	case errors.Is(err, destination.ErrNotFound):
		return http.StatusNotFound, "There is no such destination (the pixel's Destinations page lists them)."
	case errors.Is(err, destination.ErrInvalid) || userMistake(err):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, destination.ErrSealed):
		s.log.Error().Err(err).Msg("destination credentials do not open")
		return http.StatusInternalServerError, "The destination's credentials do not open with this console's key: -destination-key-file " +
			"must be the same file the forwarder and pixelctl use."
	}
	s.log.Error().Err(err).Msg("cannot read or write a destination")
	return http.StatusInternalServerError, "Cannot read or save the destination: ClickHouse did not answer. Try again in a moment."
}

// noKeyMessage says what to do when the console has no destination key.
const noKeyMessage = "Destinations are not available: the console has no destination key. Start it with -destination-key-file PATH " +
	"(or PIXEL_DESTINATION_KEY_FILE), the same key file the forwarder and pixelctl use."

// destEdit is the JSON body of POST /api/pixels/{id}/destinations and PUT
// /api/destinations/{did} (and what the form becomes): the fields given
// change, the others stay. Credentials: a value replaces the credential,
// "" clears it, a name not given keeps it.
type destEdit struct {
	Name        *string      `json:"name"`
	Kind        *string      `json:"kind"`
	Events      *[]string    `json:"events"`
	MinValue    *float64     `json:"min_value"`
	Meta        *metaEdit    `json:"meta"`
	Google      *googleEdit  `json:"google"`
	Webhook     *webhookEdit `json:"webhook"`
	Credentials *credEdit    `json:"credentials"`
}

type metaEdit struct {
	DatasetID      *string `json:"dataset_id"`
	BaseURL        *string `json:"base_url"`
	Version        *string `json:"version"`
	TestEventCode  *string `json:"test_event_code"`
	LimitedDataUse *bool   `json:"limited_data_use"`
}

type googleEdit struct {
	CustomerID         *string `json:"customer_id"`
	ConversionActionID *string `json:"conversion_action_id"`
	ConversionName     *string `json:"conversion_name"`
	LoginCustomerID    *string `json:"login_customer_id"`
	BaseURL            *string `json:"base_url"`
	Version            *string `json:"version"`
	TokenURL           *string `json:"token_url"`
}

type webhookEdit struct {
	URL *string `json:"url"`
}

// credEdit has Credentials' JSON names; the decoder refuses any other.
type credEdit struct {
	AccessToken    *string `json:"access_token"`
	DeveloperToken *string `json:"developer_token"`
	ClientID       *string `json:"client_id"`
	ClientSecret   *string `json:"client_secret"`
	RefreshToken   *string `json:"refresh_token"`
	SigningSecret  *string `json:"signing_secret"`
}

// byName is the credential's field by JSON name.
func (c *credEdit) byName(name string) **string {
	switch name {
	case "access_token":
		return &c.AccessToken
	case "developer_token":
		return &c.DeveloperToken
	case "client_id":
		return &c.ClientID
	case "client_secret":
		return &c.ClientSecret
	case "refresh_token":
		return &c.RefreshToken
	case "signing_secret":
		return &c.SigningSecret
	}
	panic("console: no credential " + name) // credentialInputs names only these
}

// set changes a string when given.
func set(dst *string, v *string) {
	if v != nil {
		*dst = strings.TrimSpace(*v)
	}
}

// apply changes d as e says. The kind is chosen when creating (d.Kind
// ""), and stays: settings and credentials differ by kind.
func (e destEdit) apply(d *destination.Destination) error {
	if e.Kind != nil {
		k := strings.TrimSpace(*e.Kind)
		switch {
		case d.Kind == "":
			if _, ok := kindLabels[k]; !ok {
				return inputError{fmt.Errorf("destination kind %q: use one of %s", k, strings.Join(destination.Kinds, ", "))}
			}
			d.Kind = k
		case k != d.Kind:
			return inputError{fmt.Errorf("a destination's kind does not change (this one is %s): create a %s destination and delete this one", d.Kind, k)}
		}
	}
	if d.Kind == "" {
		return inputError{fmt.Errorf(`the destination needs a "kind": one of %s`, strings.Join(destination.Kinds, ", "))}
	}
	for kind, given := range map[string]bool{destination.KindMeta: e.Meta != nil, destination.KindGoogle: e.Google != nil, destination.KindWebhook: e.Webhook != nil} {
		if given && kind != d.Kind {
			return inputError{fmt.Errorf("%q settings given for a %s destination: give %q only", kind, d.Kind, d.Kind)}
		}
	}
	if e.Name != nil {
		d.Name = strings.TrimSpace(*e.Name)
		if d.Name == "" {
			return inputError{errors.New("the destination needs a name, for people: \"Meta shop\"")}
		}
	}
	if e.Events != nil {
		d.Events = append([]string{}, *e.Events...)
	}
	if e.MinValue != nil {
		d.MinValue = *e.MinValue
	}
	if m := e.Meta; m != nil {
		set(&d.Meta.DatasetID, m.DatasetID)
		set(&d.Meta.BaseURL, m.BaseURL)
		set(&d.Meta.Version, m.Version)
		set(&d.Meta.TestEventCode, m.TestEventCode)
		if m.LimitedDataUse != nil {
			d.Meta.LimitedDataUse = *m.LimitedDataUse
		}
	}
	if g := e.Google; g != nil {
		set(&d.Google.CustomerID, g.CustomerID)
		set(&d.Google.ConversionActionID, g.ConversionActionID)
		set(&d.Google.ConversionName, g.ConversionName)
		set(&d.Google.LoginCustomerID, g.LoginCustomerID)
		set(&d.Google.BaseURL, g.BaseURL)
		set(&d.Google.Version, g.Version)
		set(&d.Google.TokenURL, g.TokenURL)
	}
	if wh := e.Webhook; wh != nil {
		set(&d.Webhook.URL, wh.URL)
	}
	if c := e.Credentials; c != nil {
		for _, in := range credentialInputs {
			v := *c.byName(in.Name)
			if v == nil {
				continue
			}
			if *v != "" && in.Kind != d.Kind {
				return inputError{fmt.Errorf("credential %s is not used by a %s destination", in.Name, d.Kind)}
			}
			// Not trimmed: a secret is taken exactly as given.
			*in.get(&d.Credentials) = *v
		}
	}
	return nil
}

// destForm is the destination form's fields as typed, so that a refused
// form shows them again; credentials are never shown again.
type destForm struct {
	Name, Kind, Events, MinValue                                            string
	MetaDatasetID, MetaBaseURL, MetaVersion, MetaTestEventCode              string
	MetaLDU                                                                 bool
	GoogleCustomerID, GoogleActionID, GoogleActionName, GoogleLoginCustomer string
	GoogleBaseURL, GoogleVersion, GoogleTokenURL                            string
	WebhookURL                                                              string
}

// destFormOf is the form filled in with d.
func destFormOf(d *destination.Destination) destForm {
	f := destForm{
		Name: d.Name, Kind: d.Kind, Events: strings.Join(d.Events, ", "),
		MetaDatasetID: d.Meta.DatasetID, MetaBaseURL: d.Meta.BaseURL, MetaVersion: d.Meta.Version,
		MetaTestEventCode: d.Meta.TestEventCode, MetaLDU: d.Meta.LimitedDataUse,
		GoogleCustomerID: d.Google.CustomerID, GoogleActionID: d.Google.ConversionActionID, GoogleActionName: d.Google.ConversionName,
		GoogleLoginCustomer: d.Google.LoginCustomerID, GoogleBaseURL: d.Google.BaseURL, GoogleVersion: d.Google.Version,
		GoogleTokenURL: d.Google.TokenURL, WebhookURL: d.Webhook.URL,
	}
	if d.MinValue != 0 {
		f.MinValue = strconv.FormatFloat(d.MinValue, 'f', -1, 64)
	}
	return f
}

func readDestForm(r *http.Request) destForm {
	v := r.PostFormValue
	return destForm{
		Name: v("name"), Kind: v("kind"), Events: v("events"), MinValue: v("min_value"),
		MetaDatasetID: v("meta_dataset_id"), MetaBaseURL: v("meta_base_url"), MetaVersion: v("meta_version"),
		MetaTestEventCode: v("meta_test_event_code"), MetaLDU: v("meta_ldu") == "yes",
		GoogleCustomerID: v("google_customer_id"), GoogleActionID: v("google_conversion_action_id"),
		GoogleActionName: v("google_conversion_name"), GoogleLoginCustomer: v("google_login_customer_id"),
		GoogleBaseURL: v("google_base_url"), GoogleVersion: v("google_version"), GoogleTokenURL: v("google_token_url"),
		WebhookURL: v("webhook_url"),
	}
}

// editOf turns the form into a destEdit: every setting of the chosen
// kind (the other kinds' sections are ignored: without script the new
// form shows all three), the credentials typed (an empty input keeps the
// credential) and those ticked "clear".
func (f destForm) editOf(r *http.Request) (destEdit, error) {
	minValue := 0.0
	if s := strings.TrimSpace(f.MinValue); s != "" {
		var err error
		if minValue, err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(minValue) || math.IsInf(minValue, 0) {
			return destEdit{}, inputError{fmt.Errorf("minimum value %q: give a number such as 10 or 9.99, or leave it empty", f.MinValue)}
		}
	}
	events := splitDomains(f.Events) // the same comma-separated list
	e := destEdit{Name: &f.Name, Kind: &f.Kind, Events: &events, MinValue: &minValue, Credentials: &credEdit{}}
	switch strings.TrimSpace(f.Kind) {
	case destination.KindMeta:
		e.Meta = &metaEdit{DatasetID: &f.MetaDatasetID, BaseURL: &f.MetaBaseURL, Version: &f.MetaVersion,
			TestEventCode: &f.MetaTestEventCode, LimitedDataUse: &f.MetaLDU}
	case destination.KindGoogle:
		e.Google = &googleEdit{CustomerID: &f.GoogleCustomerID, ConversionActionID: &f.GoogleActionID, ConversionName: &f.GoogleActionName,
			LoginCustomerID: &f.GoogleLoginCustomer, BaseURL: &f.GoogleBaseURL, Version: &f.GoogleVersion, TokenURL: &f.GoogleTokenURL}
	case destination.KindWebhook:
		e.Webhook = &webhookEdit{URL: &f.WebhookURL}
	}
	for _, in := range credentialInputs {
		if in.Kind != strings.TrimSpace(f.Kind) {
			continue
		}
		typed, clear := r.PostFormValue("cred_"+in.Name), r.PostFormValue("clear_"+in.Name) == "yes"
		switch {
		case typed != "" && clear:
			return destEdit{}, inputError{fmt.Errorf("%s: either type a new one or tick \"clear\", not both", in.Label)}
		case clear:
			empty := ""
			*e.Credentials.byName(in.Name) = &empty
		case typed != "":
			*e.Credentials.byName(in.Name) = &typed
		}
	}
	return e, nil
}

// credentialState is one credential input of the form and whether it is
// set; the value is never shown.
type credentialState struct {
	Name, Label, Hint string
	Set               bool
}

// destFormView is the create and edit page.
type destFormView struct {
	Pixel      *registry.Pixel
	D          *destination.Destination // nil when creating
	Form       destForm
	Error      string
	Kinds      [][2]string                  // value, label
	KindLabels map[string]string            // by kind
	Creds      map[string][]credentialState // by kind
	Events     string                       // destination.DefaultEvents, for the hint
	Google     string                       // destination.DefaultGoogleEvents, for the hint
}

func newDestFormView(p *registry.Pixel, d *destination.Destination, f destForm, msg string) destFormView {
	v := destFormView{Pixel: p, D: d, Form: f, Error: msg, Creds: map[string][]credentialState{}, KindLabels: kindLabels,
		Events: strings.Join(destination.DefaultEvents, ", "), Google: strings.Join(destination.DefaultGoogleEvents, ", ")}
	for _, k := range destination.Kinds {
		v.Kinds = append(v.Kinds, [2]string{k, kindLabels[k]})
	}
	var set []string
	if d != nil {
		set = d.Credentials.Set()
	}
	for _, in := range credentialInputs {
		isSet := false
		for _, n := range set {
			isSet = isSet || n == in.Name
		}
		v.Creds[in.Kind] = append(v.Creds[in.Kind], credentialState{Name: in.Name, Label: in.Label, Hint: in.Hint, Set: isSet})
	}
	return v
}

// destRow is one row of a pixel's destination list.
type destRow struct {
	D           *destination.Destination
	KindLabel   string
	Target      string   // where it sends: the dataset, the customer and action, the URL
	Events      string   // "" means the default conversions
	Credentials []string // the names of those set
	Missing     []string // the names of the kind's credentials not set
}

type destListView struct {
	Pixel    *registry.Pixel
	Rows     []destRow
	Admin    bool
	Problem  string // no key, or ClickHouse away: nothing is listed
	Defaults string // destination.DefaultEvents
	Google   string // destination.DefaultGoogleEvents
}

func rowOf(d *destination.Destination) destRow {
	row := destRow{D: d, KindLabel: kindLabels[d.Kind], Events: strings.Join(d.Events, ", "), Credentials: d.Credentials.Set()}
	switch d.Kind {
	case destination.KindMeta:
		row.Target = "dataset " + d.Meta.DatasetID
		if d.Meta.TestEventCode != "" {
			row.Target += " (test events)"
		}
	case destination.KindGoogle:
		row.Target = "customer " + d.Google.CustomerID + ", action " + d.Google.ConversionActionID
	case destination.KindWebhook:
		row.Target = d.Webhook.URL
	}
	for _, in := range credentialInputs {
		if in.Kind == d.Kind && *in.get(&d.Credentials) == "" {
			row.Missing = append(row.Missing, in.Name)
		}
	}
	return row
}

func (s *Server) destinationList(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	v := destListView{Pixel: p, Admin: current(r).IsAdmin(), Defaults: strings.Join(destination.DefaultEvents, ", "),
		Google: strings.Join(destination.DefaultGoogleEvents, ", ")}
	ds, err := s.destinations.List(r.Context(), p.ID)
	if err != nil {
		// The page still says what is wrong, with the pixel's navigation.
		_, v.Problem = s.destinationFailure(err)
	}
	var flash string
	q := r.URL.Query()
	for _, d := range ds {
		v.Rows = append(v.Rows, rowOf(d))
		// After a change (?created=DID ...): said for a destination of this
		// pixel only (the query is the user's own input).
		for _, to := range []string{"created", "disabled", "enabled"} {
			if q.Get(to) == d.ID {
				flash = "Destination " + d.Name + " is " + to + "; " + forwarderRefresh + "."
			}
		}
	}
	if q.Get("deleted") == "1" {
		flash = "The destination is deleted; " + forwarderRefresh + "."
	}
	s.renderView(w, r, http.StatusOK, "destinations.html", &view{Title: "Destinations of " + p.Name, Pixel: p, Flash: flash, Data: v})
}

func (s *Server) destinationNew(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	f := destForm{Kind: destination.KindMeta}
	s.renderView(w, r, http.StatusOK, "destination_form.html", &view{Title: "New destination for " + p.Name, Pixel: p,
		Data: newDestFormView(p, nil, f, "")})
}

func (s *Server) destinationCreate(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	f := readDestForm(r)
	e, err := f.editOf(r)
	var d *destination.Destination
	if err == nil {
		d, err = s.createDestination(r, p, e)
	}
	if err != nil {
		status, msg := s.destinationFailure(err)
		s.renderView(w, r, status, "destination_form.html", &view{Title: "New destination for " + p.Name, Pixel: p,
			Data: newDestFormView(p, nil, f, msg+typeAgain(r))})
		return
	}
	http.Redirect(w, r, "/pixels/"+url.PathEscape(p.ID)+"/destinations?created="+url.QueryEscape(d.ID), http.StatusSeeOther)
}

// typeAgain is added to a refused form's message when credentials were
// typed: the page does not send them back.
func typeAgain(r *http.Request) string {
	for _, in := range credentialInputs {
		if r.PostFormValue("cred_"+in.Name) != "" {
			return " The credentials you typed are not shown again: type them again."
		}
	}
	return ""
}

// createDestination creates a destination of pixel p from e: one way for
// the form and the API.
func (s *Server) createDestination(r *http.Request, p *registry.Pixel, e destEdit) (*destination.Destination, error) {
	d := destination.Destination{PixelID: p.ID, Status: destination.StatusActive}
	if e.Name == nil {
		return nil, inputError{errors.New(`the destination needs a "name", for people: "Meta shop"`)}
	}
	if err := e.apply(&d); err != nil {
		return nil, err
	}
	return s.destinations.Create(r.Context(), d)
}

// pageDestination is the destination of the route's {did} and its pixel
// (nil when the pixel is gone), or nil after answering an error page.
func (s *Server) pageDestination(w http.ResponseWriter, r *http.Request) (*destination.Destination, *registry.Pixel) {
	d, err := s.destinations.Get(r.Context(), r.PathValue("did"))
	if err != nil {
		status, msg := s.destinationFailure(err)
		s.errorPage(w, r, status, msg)
		return nil, nil
	}
	p, err := s.pixels.Get(r.Context(), d.PixelID)
	if err != nil {
		s.log.Warn().Err(err).Str("destination", d.ID).Msg("cannot read a destination's pixel")
		p = nil
	}
	return d, p
}

func editTitle(d *destination.Destination) string { return "Destination " + d.Name }

func (s *Server) destinationEdit(w http.ResponseWriter, r *http.Request) {
	d, p := s.pageDestination(w, r)
	if d == nil {
		return
	}
	s.renderView(w, r, http.StatusOK, "destination_form.html", &view{Title: editTitle(d), Pixel: p, Data: newDestFormView(p, d, destFormOf(d), "")})
}

func (s *Server) destinationUpdate(w http.ResponseWriter, r *http.Request) {
	d, p := s.pageDestination(w, r)
	if d == nil {
		return
	}
	f := readDestForm(r)
	f.Kind = d.Kind // the edit form has no kind select: the kind stays
	e, err := f.editOf(r)
	var q *destination.Destination
	if err == nil {
		q, err = s.destinations.Update(r.Context(), d.ID, func(x *destination.Destination) error { return e.apply(x) })
	}
	if err != nil {
		status, msg := s.destinationFailure(err)
		s.renderView(w, r, status, "destination_form.html", &view{Title: editTitle(d), Pixel: p, Data: newDestFormView(p, d, f, msg+typeAgain(r))})
		return
	}
	s.renderView(w, r, http.StatusOK, "destination_form.html", &view{Title: editTitle(q), Pixel: p,
		Flash: "Saved; " + forwarderRefresh + ".", Data: newDestFormView(p, q, destFormOf(q), "")})
}

func (s *Server) destinationSetStatus(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, _ := s.pageDestination(w, r)
		if d == nil {
			return
		}
		if _, err := s.destinations.SetStatus(r.Context(), d.ID, status); err != nil {
			code, msg := s.destinationFailure(err)
			s.errorPage(w, r, code, msg)
			return
		}
		to := "disabled"
		if status == destination.StatusActive {
			to = "enabled"
		}
		http.Redirect(w, r, "/pixels/"+url.PathEscape(d.PixelID)+"/destinations?"+to+"="+url.QueryEscape(d.ID), http.StatusSeeOther)
	}
}

func (s *Server) destinationDelete(w http.ResponseWriter, r *http.Request) {
	d, p := s.pageDestination(w, r)
	if d == nil {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.renderView(w, r, http.StatusBadRequest, "destination_form.html", &view{Title: editTitle(d), Pixel: p,
			Data: newDestFormView(p, d, destFormOf(d), "Tick the box to confirm: the destination and its credentials are deleted.")})
		return
	}
	if err := s.destinations.Delete(r.Context(), d.ID); err != nil {
		code, msg := s.destinationFailure(err)
		s.errorPage(w, r, code, msg)
		return
	}
	http.Redirect(w, r, "/pixels/"+url.PathEscape(d.PixelID)+"/destinations?deleted=1", http.StatusSeeOther)
}

// The JSON API.

// apiDestinationError answers a failed destination read or change.
func (s *Server) apiDestinationError(w http.ResponseWriter, err error) {
	status, msg := s.destinationFailure(err)
	apiError(w, status, strings.ReplaceAll(msg, "\n", " "))
}

// apiDestination is the destination of the route's {did}, or nil after
// answering the error.
func (s *Server) apiDestination(w http.ResponseWriter, r *http.Request) *destination.Destination {
	d, err := s.destinations.Get(r.Context(), r.PathValue("did"))
	if err != nil {
		s.apiDestinationError(w, err)
		return nil
	}
	return d
}

func (s *Server) apiDestinationList(w http.ResponseWriter, r *http.Request) {
	p := s.apiPixel(w, r)
	if p == nil {
		return
	}
	ds, err := s.destinations.List(r.Context(), p.ID)
	if err != nil {
		s.apiDestinationError(w, err)
		return
	}
	out := make([]destination.Record, len(ds))
	for i, d := range ds {
		out[i] = d.Record()
	}
	writeJSON(w, http.StatusOK, out)
}

// readDestEdit decodes a JSON destination body (decodeJSON).
func readDestEdit(r *http.Request) (destEdit, error) {
	var e destEdit
	if err := decodeJSON(r, &e); err != nil {
		return e, inputError{fmt.Errorf("the body is not a destination's JSON (name, kind, events, min_value, meta, google, webhook, credentials): %v", err)}
	}
	return e, nil
}

func (s *Server) apiDestinationCreate(w http.ResponseWriter, r *http.Request) {
	p := s.apiPixel(w, r)
	if p == nil {
		return
	}
	e, err := readDestEdit(r)
	if err != nil {
		s.apiDestinationError(w, err)
		return
	}
	d, err := s.createDestination(r, p, e)
	if err != nil {
		s.apiDestinationError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, d.Record())
}

func (s *Server) apiDestinationUpdate(w http.ResponseWriter, r *http.Request) {
	e, err := readDestEdit(r)
	if err != nil {
		s.apiDestinationError(w, err)
		return
	}
	d, err := s.destinations.Update(r.Context(), r.PathValue("did"), func(d *destination.Destination) error { return e.apply(d) })
	if err != nil {
		s.apiDestinationError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d.Record())
}

func (s *Server) apiDestinationDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("did")
	if err := s.destinations.Delete(r.Context(), id); err != nil {
		s.apiDestinationError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Deleted bool   `json:"deleted"`
	}{id, true})
}

func (s *Server) apiDestinationStatus(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := s.destinations.SetStatus(r.Context(), r.PathValue("did"), status)
		if err != nil {
			s.apiDestinationError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d.Record())
	}
}
