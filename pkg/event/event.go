// Package event defines the pixel event and its wire format: one JSON object per
// Kafka message whose field names equal the column names of the ClickHouse table
// pixel.events (see schemas/event-format.md). It is the leaf every other package
// shares; it uses only the standard library and internal/jsonscan (the JSON
// scanner it shares with pkg/pixel), and it never logs.
package event

import "errors"

// Version is the wire-format version written in every message's Header.
const Version = "1"

// Header is the Kafka message header key that carries the wire-format version.
// It lives in a header, not in the JSON, so the JSON keeps exactly the column names.
const Header = "pixel-format"

// Limits on what a stored event may hold. A ClickHouse column takes far more,
// but nothing our collector produces comes near them: they keep a foreign or
// broken producer from storing garbage (a ts in 1970, a value of 1e300, a
// megabyte-long URL). Validate enforces them; Parse calls Validate.
const (
	// MinTime and MaxTime bound ts and received_at, in Unix seconds:
	// [2000-01-01, 2106-02-07) UTC, inside the range of a ClickHouse DateTime
	// (UInt32 seconds, which ends at 2106-02-07 06:28:15).
	MinTime = 946_684_800   // 2000-01-01T00:00:00Z, the first second accepted
	MaxTime = 4_291_747_199 // 2106-02-06T23:59:59Z, the last second accepted

	// MaxAbsValue bounds |value|: a conversion value beyond a quadrillion is
	// a bug, and Float64 sums stay exact to the cent far beyond any revenue.
	MaxAbsValue = 1e15

	// MaxStringLen bounds every string field, each content id included.
	MaxStringLen = 64 << 10
	// MaxEventIDLen bounds event_id, the de-duplication key.
	MaxEventIDLen = 256
	// MaxContentIDs bounds the entries of content_ids.
	MaxContentIDs = 1000
)

// Event is one tracked hit. Byte-slice fields borrow memory from whoever filled
// them (a request, a Kafka message); they stay valid only as long as that memory
// does. Copy before handing an Event to anything asynchronous.
type Event struct {
	EventID    []byte   // event_id: client "eid" or server-generated; the de-duplication key
	PixelID    []byte   // pixel_id: the pixel's own id ("id")
	VisitorID  []byte   // visitor_id: the first-party _pxid cookie
	SessionID  []byte   // session_id: the _pxsid cookie (30 minutes of inactivity end it)
	Name       []byte   // event: PageView, Purchase, ... ("ev")
	TS         int64    // ts: event time, unix seconds (client time, clamped)
	ReceivedAt int64    // received_at: collector receive time, unix seconds
	URL        []byte   // url: page URL ("dl", else the Referer header)
	Referrer   []byte   // referrer ("rl")
	Value      float64  // value ("cd[value]")
	Currency   []byte   // currency ("cd[currency]"), ISO 4217 upper case
	OrderID    []byte   // order_id ("cd[order_id]")
	ContentIDs [][]byte // content_ids ("cd[content_ids]")
	IP         []byte   // ip: client IP as text
	UserAgent  []byte   // user_agent
	Props      []byte   // props: other cd[...] keys as a JSON object text, or empty

	TSMs      int64 // ts_ms: event time in Unix milliseconds (ts is its seconds); 0 = ts*1000
	EngagedMs int64 // engaged_ms: the page view's engaged time so far ("et")
	ClickTSMs int64 // click_ts_ms: when the click ids were first seen, Unix ms
	GPC       bool  // gpc: the request sent Sec-GPC: 1
	DNT       bool  // dnt: the request sent DNT: 1
	IsBot     bool  // is_bot: a crawler, preview fetcher or automated browser

	// Tracking holds the optional String columns of migration 0004, indexed
	// by the Tracking* constants; TrackingColumns names them.
	Tracking [NumTracking][]byte

	scratch []byte // unescaped strings of a decoded message
}

// The optional String columns of an event, by index into Event.Tracking.
const (
	PageViewID        = iota // page_view_id: the tag's id of one page view ("pv")
	ReferrerHost             // referrer_host: the host of referrer
	UTMSource                // utm_source ... utm_content: from the page URL's query
	UTMMedium                //
	UTMCampaign              //
	UTMTerm                  //
	UTMContent               //
	GCLID                    // gclid ... ttclid: click ids from the page URL, else the _pxclk cookie
	GBRAID                   //
	WBRAID                   //
	FBCLID                   //
	MSCLKID                  //
	TTCLID                   //
	ExternalID               // external_id: the advertiser's own user id
	ActionSource             // action_source: website, app, phone_call, ... (Meta's names)
	Channel                  // channel: browser or server
	Consent                  // consent: granted, or denied (recorded cookieless)
	AdStorage                // ad_storage ... ad_personalization: Google's consent signals
	AnalyticsStorage         //
	AdUserData               //
	AdPersonalization        //
	EmailSHA256              // email_sha256: hex SHA-256 of the trimmed, lower-case email
	EmailGoogleSHA256        // email_google_sha256: the same with Google's gmail rule
	PhoneSHA256              // phone_sha256: of the digits with country code, no '+'
	PhoneGoogleSHA256        // phone_google_sha256: of E.164 with '+'
	CookielessID             // cookieless_id: the day's salted hash of IP and user agent
	NumTracking
)

// TrackingColumns are the column (and wire field) names of Event.Tracking.
var TrackingColumns = [NumTracking]string{
	PageViewID: "page_view_id", ReferrerHost: "referrer_host",
	UTMSource: "utm_source", UTMMedium: "utm_medium", UTMCampaign: "utm_campaign", UTMTerm: "utm_term", UTMContent: "utm_content",
	GCLID: "gclid", GBRAID: "gbraid", WBRAID: "wbraid", FBCLID: "fbclid", MSCLKID: "msclkid", TTCLID: "ttclid",
	ExternalID: "external_id", ActionSource: "action_source", Channel: "channel", Consent: "consent",
	AdStorage: "ad_storage", AnalyticsStorage: "analytics_storage", AdUserData: "ad_user_data", AdPersonalization: "ad_personalization",
	EmailSHA256: "email_sha256", EmailGoogleSHA256: "email_google_sha256", PhoneSHA256: "phone_sha256", PhoneGoogleSHA256: "phone_google_sha256",
	CookielessID: "cookieless_id",
}

// trackingIndex finds a Tracking column by name.
var trackingIndex = func() map[string]int {
	m := make(map[string]int, NumTracking)
	for i, n := range TrackingColumns {
		m[n] = i
	}
	return m
}()

// MaxEngagedMs bounds engaged_ms, a UInt32 column (49 days).
const MaxEngagedMs = 1<<32 - 1

// Millis is the event time in Unix milliseconds: TSMs, or TS's second.
func (e *Event) Millis() int64 {
	if e.TSMs != 0 {
		return e.TSMs
	}
	return e.TS * 1000
}

// Reset clears e for reuse, keeping its allocated capacity.
func (e *Event) Reset() {
	ids := e.ContentIDs[:0]
	scratch := e.scratch[:0]
	*e = Event{ContentIDs: ids, scratch: scratch}
}

// Errors returned by Parse and Validate. They are sentinels so that callers can
// count outcomes by reason.
var (
	ErrSyntax      = errors.New("event: malformed JSON")
	ErrType        = errors.New("event: field has the wrong JSON type")
	ErrMissing     = errors.New("event: required field missing (event_id, pixel_id, visitor_id, event, ts, received_at)")
	ErrRange       = errors.New("event: value out of range")
	ErrTooLarge    = errors.New("event: field too long or too many content_ids")
	ErrUnsupported = errors.New("event: unsupported wire-format version")
)

// Validate checks the invariants every stored event keeps, in this order:
// the identifying fields and both times are present (a time of 0 is missing:
// ErrMissing), ts and received_at lie in [MinTime, MaxTime] and value is a
// finite number within ±MaxAbsValue (ErrRange), and no field is longer than
// its limit (ErrTooLarge: MaxEventIDLen, MaxStringLen, MaxContentIDs).
func (e *Event) Validate() error {
	if len(e.EventID) == 0 || len(e.PixelID) == 0 || len(e.VisitorID) == 0 || len(e.Name) == 0 || e.TS == 0 || e.ReceivedAt == 0 {
		return ErrMissing
	}
	if e.TS < MinTime || e.TS > MaxTime || e.ReceivedAt < MinTime || e.ReceivedAt > MaxTime {
		return ErrRange
	}
	// NaN fails both comparisons.
	if !(e.Value >= -MaxAbsValue && e.Value <= MaxAbsValue) {
		return ErrRange
	}
	if e.TSMs != 0 && e.TSMs/1000 != e.TS {
		return ErrRange // two times that disagree
	}
	if e.EngagedMs < 0 || e.EngagedMs > MaxEngagedMs || e.ClickTSMs < 0 || e.ClickTSMs/1000 > MaxTime {
		return ErrRange
	}
	if len(e.EventID) > MaxEventIDLen || len(e.ContentIDs) > MaxContentIDs {
		return ErrTooLarge
	}
	for _, s := range [...][]byte{e.PixelID, e.VisitorID, e.SessionID, e.Name, e.URL, e.Referrer, e.Currency, e.OrderID, e.IP, e.UserAgent, e.Props} {
		if len(s) > MaxStringLen {
			return ErrTooLarge
		}
	}
	for _, id := range e.ContentIDs {
		if len(id) > MaxStringLen {
			return ErrTooLarge
		}
	}
	for _, s := range e.Tracking {
		if len(s) > MaxStringLen {
			return ErrTooLarge
		}
	}
	return nil
}
