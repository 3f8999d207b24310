// Package googleads turns pixel events into Google Ads click conversions:
// the request body of the Google Ads API's ConversionUploadService
// (customers/{customer_id}:uploadClickConversions, REST), a small HTTP
// client that sends one request and classifies Google's answer, the
// offline-conversion CSV that the Google Ads UI accepts for upload (for a
// team without API access), and the consent gate that decides which events
// may be forwarded at all.
//
// The builder is pure (events in, bytes out) and the client holds no
// goroutines and never retries: the caller (the forwarder) owns concurrency,
// retries, backoff and Kafka offsets. OAuth is out of scope: the caller
// hands the client a function that returns a current access token.
//
// Sources of the rules, cited where each rule is applied:
//   - ClickConversion and UploadClickConversionsRequest, Google Ads API v26:
//     developers.google.com/google-ads/api/reference/rpc/v26/ClickConversion,
//     …/v26/UploadClickConversionsRequest, …/v26/Consent
//   - Click ids and their combinations:
//     developers.google.com/google-ads/api/docs/conversions/upload-clicks
//   - Fewer than 2,001 conversions per request, the order id as the
//     de-duplication key: developers.google.com/google-ads/api/docs/conversions/legacy_oci_guide
//   - The file template: support.google.com/google-ads/answer/7014069
package googleads

import (
	"errors"
	"fmt"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Destination is one Google Ads conversion action that a pixel's events go to.
type Destination struct {
	// CustomerID is the Google Ads account that owns the conversion action,
	// ten digits without dashes ("1234567890").
	CustomerID string
	// ConversionActionID is the conversion action's numeric id.
	ConversionActionID string
	// ConversionName is the conversion action's name as the Google Ads UI
	// shows it: the file upload names the action, the API its resource name.
	ConversionName string
}

// ResourceName is the conversion action's resource name,
// customers/{customer_id}/conversionActions/{id} (ClickConversion.conversion_action).
func (d Destination) ResourceName() string {
	return "customers/" + d.CustomerID + "/conversionActions/" + d.ConversionActionID
}

// Validate checks that both ids are digits, so that they can go into a URL
// path and a resource name unescaped.
func (d Destination) Validate() error {
	if !digits(d.CustomerID) {
		return fmt.Errorf("googleads: customer id %q is not digits: write the Google Ads account id without dashes, e.g. 1234567890", d.CustomerID)
	}
	if !digits(d.ConversionActionID) {
		return fmt.Errorf("googleads: conversion action id %q is not digits: copy the numeric id of the conversion action (ctId in its URL)", d.ConversionActionID)
	}
	return nil
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

// ClickKind says which click id a conversion carries.
type ClickKind uint8

// The click ids, in the order NewConversion prefers them.
const (
	GCLID ClickKind = iota + 1
	WBRAID
	GBRAID
)

func (k ClickKind) String() string {
	switch k {
	case GCLID:
		return "gclid"
	case WBRAID:
		return "wbraid"
	case GBRAID:
		return "gbraid"
	}
	return "none"
}

// Consent statuses as Google's ConsentStatus enum names them.
const (
	ConsentGranted = "GRANTED"
	ConsentDenied  = "DENIED"
)

// Conversion is one click conversion, with its own copies of the event's
// bytes (an Event borrows its memory; a Conversion outlives it).
type Conversion struct {
	EventID string // ours, not sent: it maps Google's per-row answers back to events

	Kind    ClickKind
	ClickID string // the gclid, wbraid or gbraid

	ConversionAction string    // customers/{customer_id}/conversionActions/{id}
	ConversionName   string    // the same action's name, for the file upload
	Time             time.Time // the event's time, to the second, in the pixel's time zone

	HasValue bool // false: Google uses the conversion action's default value
	Value    float64
	Currency string // ISO 4217, upper case; empty: the account's currency
	OrderID  string // Google's de-duplication key for the conversion action

	// Enhanced-conversion identifiers: hex SHA-256 in Google's normalisation
	// (email_google_sha256, phone_google_sha256), lower case; only with a gclid.
	HashedEmail, HashedPhone string

	// AdUserData and AdPersonalization are ConsentGranted, ConsentDenied
	// or "" (not stated) from the event's consent columns.
	AdUserData, AdPersonalization string
}

// DateTime is the conversion time in Google's format "yyyy-mm-dd hh:mm:ss+|-hh:mm",
// e.g. "2019-01-01 12:32:45-08:00" (ClickConversion.conversion_date_time:
// "The timezone must be specified").
func (c *Conversion) DateTime() string {
	return c.Time.Format(dateTimeLayout)
}

const dateTimeLayout = "2006-01-02 15:04:05-07:00"

// MaxClickAge is the longest time between a click and its conversion that
// Google accepts: a conversion action's click-through window is at most 90
// days, and older clicks are refused (ConversionUploadError EXPIRED_EVENT).
const MaxClickAge = 90 * 24 * time.Hour

// Errors of NewConversion: the event cannot be a click conversion. They are
// sentinels so that the caller can count skipped events by reason.
var (
	ErrNoClickID    = errors.New("googleads: the event has no gclid, wbraid or gbraid: Google attributes an uploaded click conversion only to a click")
	ErrBadClickID   = errors.New("googleads: the click id is not 1..512 characters of [A-Za-z0-9_.~-]")
	ErrClickExpired = errors.New("googleads: the click is more than 90 days older than the conversion (Google refuses it as EXPIRED_EVENT)")
	ErrBeforeClick  = errors.New("googleads: the conversion is earlier than its click (Google requires it to be after the click time)")
	ErrNoTimeZone   = errors.New("googleads: no time zone: pass the pixel's time.Location (time.LoadLocation of its registry time zone)")
)

// NewConversion makes the click conversion of e for the destination d, with
// its time in loc, the pixel's time zone.
//
// Exactly one click id is sent. Google refuses both wbraid and gbraid
// (GBRAID_WBRAID_BOTH_SET), and either of them together with a gclid or user
// identifiers (VALUE_MUST_BE_UNSET); a gclid with user identifiers is
// allowed and the gclid takes precedence (upload-clicks guide, "ID
// parameters"). So a gclid wins; without one, the wbraid (iOS clicks
// "associated with web conversions", which a website's event is) comes
// before the gbraid (clicks associated with app conversions), and with
// either of those no user identifiers are sent.
func NewConversion(e *event.Event, d Destination, loc *time.Location) (Conversion, error) {
	if loc == nil {
		return Conversion{}, ErrNoTimeZone
	}
	if err := d.Validate(); err != nil {
		return Conversion{}, err
	}
	var c Conversion
	switch {
	case len(e.Tracking[event.GCLID]) > 0:
		c.Kind, c.ClickID = GCLID, string(e.Tracking[event.GCLID])
	case len(e.Tracking[event.WBRAID]) > 0:
		c.Kind, c.ClickID = WBRAID, string(e.Tracking[event.WBRAID])
	case len(e.Tracking[event.GBRAID]) > 0:
		c.Kind, c.ClickID = GBRAID, string(e.Tracking[event.GBRAID])
	default:
		return Conversion{}, ErrNoClickID
	}
	if !validClickID(c.ClickID) {
		return Conversion{}, ErrBadClickID
	}
	ms := e.Millis()
	if e.ClickTSMs > 0 {
		if ms < e.ClickTSMs/1000*1000 {
			return Conversion{}, ErrBeforeClick
		}
		if time.Duration(ms-e.ClickTSMs)*time.Millisecond > MaxClickAge {
			return Conversion{}, ErrClickExpired
		}
	}
	c.EventID = string(e.EventID)
	c.ConversionAction = d.ResourceName()
	c.ConversionName = d.ConversionName
	// Google's format has whole seconds; the second is the event's.
	c.Time = time.Unix(ms/1000, 0).In(loc)
	c.Currency = string(e.Currency)
	c.HasValue = e.Value != 0 || len(e.Currency) > 0
	c.Value = e.Value
	c.OrderID = string(e.OrderID)
	if c.Kind == GCLID {
		c.HashedEmail = lowerSHA256(e.Tracking[event.EmailGoogleSHA256])
		c.HashedPhone = lowerSHA256(e.Tracking[event.PhoneGoogleSHA256])
	}
	c.AdUserData = consentStatus(e.Tracking[event.AdUserData])
	c.AdPersonalization = consentStatus(e.Tracking[event.AdPersonalization])
	return c, nil
}

// lowerSHA256 returns h in lower case when it is a hex SHA-256, else ""
// (a column a foreign producer filled with something else is not sent).
func lowerSHA256(h []byte) string {
	b, ok := pixel.AppendLowerSHA256Hex(nil, h)
	if !ok {
		return ""
	}
	return string(b)
}

// consentStatus maps a consent column ("granted", "denied", schemas/event-format.md)
// to Google's ConsentStatus; anything else is not stated.
func consentStatus(v []byte) string {
	switch string(v) {
	case "granted":
		return ConsentGranted
	case "denied":
		return ConsentDenied
	}
	return ""
}

// validClickID accepts what the collector stores as a click id
// (pkg/pixel: 1..512 bytes of [A-Za-z0-9_.~-]); checked again here because
// the id goes into a CSV a person may open in a spreadsheet.
func validClickID(s string) bool {
	if len(s) == 0 || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}
