// Package destination is the registry of where a pixel's conversions are
// forwarded: Meta's Conversions API, a Google Ads conversion action, or a
// webhook. A destination says which events go (event names, the
// EngagedVisit conversion, a minimum value) and holds the credentials to
// send them. It is stored in ClickHouse (pixel.destinations) next to the
// pixels; the credentials are sealed with a key that only the forwarder,
// pixelctl and the console hold (Key), so that someone who can read
// ClickHouse, an analyst or a read-only user, cannot read them.
package destination

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// Kinds of destination.
const (
	KindMeta    = "meta"    // Meta Conversions API (pkg/metacapi)
	KindGoogle  = "google"  // Google Ads click-conversion upload (pkg/googleads)
	KindWebhook = "webhook" // any HTTPS endpoint, HMAC-signed JSON (pkg/webhook)
)

// Kinds lists the kinds in the order pages and help show them.
var Kinds = []string{KindMeta, KindGoogle, KindWebhook}

// Status of a destination.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// EngagedVisit is the event name of the engaged-visit conversion: the
// forwarder emits one per session whose engaged time passes the pixel's
// engagement goal (pixel.Settings.EngagementSeconds). It is named in
// Events like any event of the site's.
const EngagedVisit = "EngagedVisit"

// DefaultEvents are forwarded when a destination names none: the standard
// conversion events of Meta's pixel that an advertiser pays for, and the
// engaged-visit conversion. PageView, ViewContent and the tag's
// PageEngagement heartbeats are not conversions: a destination that wants
// them names them.
var DefaultEvents = []string{"Purchase", "Lead", "CompleteRegistration", "Subscribe", "StartTrial", "AddToCart", "InitiateCheckout", "AddPaymentInfo", "Contact", "SubmitApplication", "Schedule", EngagedVisit}

// DefaultGoogleEvents are forwarded to a Google destination that names
// none: a Google destination is one conversion action, and mixing add-to-carts
// into the purchases' action would count them as purchases. A second
// destination with Events [EngagedVisit] and its own action carries the
// engaged visits (pixelctl export google-conversions defaults alike).
var DefaultGoogleEvents = []string{"Purchase"}

// Destination is one place a pixel's conversions go.
type Destination struct {
	ID      string // random, URL-safe (registry.NewID)
	PixelID string // the pixel whose events go here
	Name    string // for people
	Kind    string // KindMeta, KindGoogle or KindWebhook
	Status  string // StatusActive or StatusDisabled

	// Events are the event names forwarded (case-sensitive, as the site
	// sends them); empty means DefaultEvents, DefaultGoogleEvents for a
	// Google destination.
	Events []string
	// MinValue leaves out events whose value is below it (0: no minimum;
	// an event without a value has value 0).
	MinValue float64

	Meta    Meta    // when Kind is KindMeta
	Google  Google  // when Kind is KindGoogle
	Webhook Webhook // when Kind is KindWebhook

	// Credentials are the secrets; Store seals them before they reach
	// ClickHouse and opens them when it reads. Pages and lists never show
	// them, only whether each one is set.
	Credentials Credentials

	CreatedAt time.Time
	UpdatedAt time.Time
	Version   uint64 // the ReplacingMergeTree version: the highest row wins
}

// Meta are the settings of a Meta Conversions API destination
// (metacapi.Options).
type Meta struct {
	DatasetID      string // Meta's pixel (dataset) id, digits
	BaseURL        string // "": metacapi.DefaultBaseURL; a Conversions API Gateway or test server otherwise
	Version        string // "": metacapi.DefaultVersion
	TestEventCode  string // sent with every request when set (Events Manager's Test Events)
	LimitedDataUse bool   // data_processing_options ["LDU"]
}

// Google are the settings of a Google Ads destination (googleads.Destination
// and googleads.Client).
type Google struct {
	CustomerID         string // ten digits, no dashes
	ConversionActionID string // digits
	ConversionName     string // the action's name as Google Ads shows it (the CSV upload names it)
	LoginCustomerID    string // digits, "" when the user reaches the customer directly
	BaseURL            string // "": googleads.DefaultBaseURL
	Version            string // "": googleads.DefaultVersion
	TokenURL           string // OAuth 2.0 token endpoint; "": https://oauth2.googleapis.com/token
}

// Webhook are the settings of a webhook destination.
type Webhook struct {
	URL string // https:// (http:// only to a loopback host, for tests and local relays)
}

// Credentials are a destination's secrets, by kind.
type Credentials struct {
	// Meta: the Conversions API access token.
	AccessToken string `json:"access_token,omitempty"`
	// Google: the developer token and an OAuth 2.0 client with a refresh
	// token (scope https://www.googleapis.com/auth/adwords).
	DeveloperToken string `json:"developer_token,omitempty"`
	ClientID       string `json:"client_id,omitempty"`
	ClientSecret   string `json:"client_secret,omitempty"`
	RefreshToken   string `json:"refresh_token,omitempty"`
	// Webhook: the HMAC-SHA256 key that signs each body.
	SigningSecret string `json:"signing_secret,omitempty"`
}

// Active reports whether the destination forwards.
func (d *Destination) Active() bool { return d.Status == StatusActive }

// EventNames are the names forwarded: Events, or the kind's defaults.
func (d *Destination) EventNames() []string {
	if len(d.Events) == 0 && d.Kind == KindGoogle {
		return DefaultGoogleEvents
	}
	if len(d.Events) == 0 {
		return DefaultEvents
	}
	return d.Events
}

// Wants reports whether an event with this name and value (0 when it has
// none) is one the destination forwards, before consent and the platform's
// own rules.
func (d *Destination) Wants(name []byte, value float64) bool {
	if d.MinValue > 0 && !(value >= d.MinValue) {
		return false
	}
	for _, n := range d.EventNames() {
		if n == string(name) {
			return true
		}
	}
	return false
}

// WantsEvent is Wants for a decoded event.
func (d *Destination) WantsEvent(e *event.Event) bool {
	return d.Wants(e.Name, e.Value)
}

// ErrInvalid marks a destination the Store refuses: a person can fix it
// (a 400 in the console, not a 500), for errors.Is.
var ErrInvalid = errors.New("invalid destination")

type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

func invalid(format string, args ...any) error {
	return invalidError{fmt.Errorf(format, args...)}
}

// Validate checks what a person set: the kind and its required settings,
// the event names and the minimum value. It does not require credentials:
// a destination may be created first and given them after; the forwarder
// holds one without them and says so.
func (d *Destination) Validate() error {
	if strings.TrimSpace(d.Name) == "" {
		return invalid("destination name is empty: give it a name people recognise, e.g. \"Meta shop\"")
	}
	if len(d.Name) > 200 {
		return invalid("destination name is %d bytes: keep it under 200", len(d.Name))
	}
	if d.Status != StatusActive && d.Status != StatusDisabled {
		return invalid("destination status %q: use %s or %s", d.Status, StatusActive, StatusDisabled)
	}
	if math.IsNaN(d.MinValue) || math.IsInf(d.MinValue, 0) || d.MinValue < 0 {
		return invalid("minimum value %v: give 0 (none) or a positive number", d.MinValue)
	}
	for _, n := range d.Events {
		if n == "" || len(n) > 100 || strings.ContainsAny(n, ",\r\n\t") {
			return invalid("event name %q: use the event's name as the site sends it (1 to 100 characters, no comma)", n)
		}
	}
	if i := duplicate(d.Events); i >= 0 {
		return invalid("event %q is listed twice", d.Events[i])
	}
	switch d.Kind {
	case KindMeta:
		if !digits(d.Meta.DatasetID) {
			return invalid("Meta dataset id %q: copy the pixel (dataset) id from Events Manager, digits only", d.Meta.DatasetID)
		}
		if err := checkURL("Meta base URL", d.Meta.BaseURL); err != nil {
			return err
		}
		if strings.ContainsAny(d.Meta.Version, "/?#") {
			return invalid("Meta API version %q: give it as v25.0", d.Meta.Version)
		}
	case KindGoogle:
		if !digits(d.Google.CustomerID) {
			return invalid("Google Ads customer id %q: write the account id without dashes, e.g. 1234567890", d.Google.CustomerID)
		}
		if !digits(d.Google.ConversionActionID) {
			return invalid("Google Ads conversion action id %q: copy the numeric id of the conversion action (ctId in its URL)", d.Google.ConversionActionID)
		}
		if d.Google.LoginCustomerID != "" && !digits(d.Google.LoginCustomerID) {
			return invalid("Google Ads login customer id %q: the manager account's id without dashes, or empty", d.Google.LoginCustomerID)
		}
		if err := checkURL("Google Ads base URL", d.Google.BaseURL); err != nil {
			return err
		}
		if err := checkURL("OAuth token URL", d.Google.TokenURL); err != nil {
			return err
		}
		if strings.ContainsAny(d.Google.Version, "/?#") {
			return invalid("Google Ads API version %q: give it as v26", d.Google.Version)
		}
	case KindWebhook:
		if d.Webhook.URL == "" {
			return invalid("webhook URL is empty: give the https:// URL that receives the events")
		}
		if err := checkURL("webhook URL", d.Webhook.URL); err != nil {
			return err
		}
	default:
		return invalid("destination kind %q: use one of %s", d.Kind, strings.Join(Kinds, ", "))
	}
	return nil
}

// checkURL accepts "" (the default) or an absolute https URL without user
// info or fragment; http only to a loopback host (a local gateway, relay
// or test server), since credentials and people's data travel in it.
func checkURL(what, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return invalid("%s %q: give an absolute https:// URL", what, s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
	}
	return invalid("%s %q: use https:// (http:// only to localhost or 127.0.0.1)", what, s)
}

func digits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func duplicate(names []string) int {
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			return i
		}
	}
	return -1
}
