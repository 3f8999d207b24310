package destination

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// The settings' JSON, as pixel.destinations' settings column stores them
// and the console's API shows them. The field lists mirror Meta, Google
// and Webhook exactly (the conversions below fail to compile otherwise).
type (
	metaJSON struct {
		DatasetID      string `json:"dataset_id"`
		BaseURL        string `json:"base_url"`
		Version        string `json:"version"`
		TestEventCode  string `json:"test_event_code"`
		LimitedDataUse bool   `json:"limited_data_use"`
	}
	googleJSON struct {
		CustomerID         string `json:"customer_id"`
		ConversionActionID string `json:"conversion_action_id"`
		ConversionName     string `json:"conversion_name"`
		LoginCustomerID    string `json:"login_customer_id"`
		BaseURL            string `json:"base_url"`
		Version            string `json:"version"`
		TokenURL           string `json:"token_url"`
	}
	webhookJSON struct {
		URL string `json:"url"`
	}
)

// MarshalJSON writes the settings with snake_case names (dataset_id, ...).
func (m Meta) MarshalJSON() ([]byte, error) { return json.Marshal(metaJSON(m)) }

// UnmarshalJSON reads what MarshalJSON writes; unknown names are ignored.
func (m *Meta) UnmarshalJSON(b []byte) error {
	var j metaJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Meta(j)
	return nil
}

// MarshalJSON writes the settings with snake_case names (customer_id, ...).
func (g Google) MarshalJSON() ([]byte, error) { return json.Marshal(googleJSON(g)) }

// UnmarshalJSON reads what MarshalJSON writes; unknown names are ignored.
func (g *Google) UnmarshalJSON(b []byte) error {
	var j googleJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*g = Google(j)
	return nil
}

// MarshalJSON writes {"url": ...}.
func (w Webhook) MarshalJSON() ([]byte, error) { return json.Marshal(webhookJSON(w)) }

// UnmarshalJSON reads what MarshalJSON writes; unknown names are ignored.
func (w *Webhook) UnmarshalJSON(b []byte) error {
	var j webhookJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*w = Webhook(j)
	return nil
}

// credentialField is one field of Credentials by its JSON name, and the
// kind that uses it.
type credentialField struct {
	name string
	kind string
	get  func(c *Credentials) *string
}

// credentialFields are Credentials' fields in their declared order.
var credentialFields = []credentialField{
	{"access_token", KindMeta, func(c *Credentials) *string { return &c.AccessToken }},
	{"developer_token", KindGoogle, func(c *Credentials) *string { return &c.DeveloperToken }},
	{"client_id", KindGoogle, func(c *Credentials) *string { return &c.ClientID }},
	{"client_secret", KindGoogle, func(c *Credentials) *string { return &c.ClientSecret }},
	{"refresh_token", KindGoogle, func(c *Credentials) *string { return &c.RefreshToken }},
	{"signing_secret", KindWebhook, func(c *Credentials) *string { return &c.SigningSecret }},
}

// CredentialNames returns the JSON names of the credentials a kind takes,
// in Credentials' order (every name for an unknown kind).
func CredentialNames(kind string) []string {
	var names []string
	for _, f := range credentialFields {
		if f.kind == kind || !slices.Contains(Kinds, kind) {
			names = append(names, f.name)
		}
	}
	return names
}

// Set returns the JSON names of the credentials that are set, in
// Credentials' order: what pages and lists show instead of the values.
func (c Credentials) Set() []string {
	var names []string
	for _, f := range credentialFields {
		if *f.get(&c) != "" {
			names = append(names, f.name)
		}
	}
	return names
}

// Merge changes the credentials named in fields (by JSON name): a value
// replaces the credential, "" clears it; the others are kept. An unknown
// name is an error wrapping ErrInvalid and changes nothing.
func (c *Credentials) Merge(fields map[string]string) error {
	for name := range fields {
		if !slices.ContainsFunc(credentialFields, func(f credentialField) bool { return f.name == name }) {
			return invalid("credential %q: the credentials are %s", name, strings.Join(CredentialNames(""), ", "))
		}
	}
	for _, f := range credentialFields {
		if v, ok := fields[f.name]; ok {
			*f.get(c) = v
		}
	}
	return nil
}

// checkCredentials refuses credentials that the destination's kind does
// not use (an access token on a webhook is a mistake, and would be kept
// sealed for nothing).
func (d *Destination) checkCredentials() error {
	for _, f := range credentialFields {
		if f.kind != d.Kind && *f.get(&d.Credentials) != "" {
			return invalid("credential %s is not used by a %s destination: give %s", f.name, d.Kind, strings.Join(CredentialNames(d.Kind), ", "))
		}
	}
	return nil
}

// Record is a destination as the console's JSON API answers it and
// pixelctl destination -format json prints it: its settings, only those of
// its kind, and which credentials are set, never their values.
type Record struct {
	ID             string    `json:"id"`
	PixelID        string    `json:"pixel_id"`
	Name           string    `json:"name"`
	Kind           string    `json:"kind"`
	Status         string    `json:"status"`
	Events         []string  `json:"events"` // [] means the kind's default events
	MinValue       float64   `json:"min_value"`
	Meta           *Meta     `json:"meta,omitempty"`
	Google         *Google   `json:"google,omitempty"`
	Webhook        *Webhook  `json:"webhook,omitempty"`
	CredentialsSet []string  `json:"credentials_set"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	Version        uint64    `json:"version"`
}

// Record returns d as a Record: copies, so that the Record does not change
// with d.
func (d *Destination) Record() Record {
	r := Record{
		ID: d.ID, PixelID: d.PixelID, Name: d.Name, Kind: d.Kind, Status: d.Status,
		Events: append([]string{}, d.Events...), MinValue: d.MinValue,
		CredentialsSet: append([]string{}, d.Credentials.Set()...),
		CreatedAt:      d.CreatedAt, UpdatedAt: d.UpdatedAt, Version: d.Version,
	}
	switch d.Kind {
	case KindMeta:
		m := d.Meta
		r.Meta = &m
	case KindGoogle:
		g := d.Google
		r.Google = &g
	case KindWebhook:
		wh := d.Webhook
		r.Webhook = &wh
	}
	return r
}
