package pixel

// InvalidError is why a hit was refused. Reason is a short label for metrics.
type InvalidError struct {
	Reason string
	Msg    string
}

func (e *InvalidError) Error() string { return "pixel: " + e.Msg }

// The reasons a hit is refused. Every refused GET /p.gif hit is still answered
// with the GIF; POST /collect answers 204 whatever happened to each event,
// except for ErrBadBody (400).
var (
	ErrMissingPixelID = &InvalidError{"missing_id", "parameter id is required"}
	ErrBadPixelID     = &InvalidError{"bad_id", "id must be 1-128 characters of A-Z a-z 0-9 _ . : -"}
	ErrBadEvent       = &InvalidError{"bad_event", "ev must be 1-64 characters of A-Z a-z 0-9 _ . : -"}
	ErrBadEventID     = &InvalidError{"bad_eid", "eid must be 1-128 printable ASCII characters without spaces"}
	ErrBadTS          = &InvalidError{"bad_ts", "ts must be client time in milliseconds since 1970"}
	ErrBadValue       = &InvalidError{"bad_value", "cd[value] must be a decimal number such as 19.90 or -5 (no exponent, no +), of magnitude at most 1e15"}
	ErrBadCurrency    = &InvalidError{"bad_currency", "cd[currency] must be a 3-letter ISO 4217 code"}
	ErrBadContentIDs  = &InvalidError{"bad_content_ids", "cd[content_ids] must be a JSON array or a comma-separated list within the limits"}
	ErrBadProp        = &InvalidError{"bad_prop", "custom cd[...] keys must be 1-64 characters of A-Z a-z 0-9 _ . : -"}
	ErrTooManyProps   = &InvalidError{"too_many_props", "too many custom cd[...] properties"}
	ErrTooLong        = &InvalidError{"too_long", "a parameter or header is longer than its limit"}
	ErrOptedOut       = &InvalidError{"opted_out", "the browser opted out (opt-out cookie, Global Privacy Control or Do Not Track)"}
	ErrBadPageView    = &InvalidError{"bad_pv", "pv must be 1-128 characters of A-Z a-z 0-9 _ . : -"}
	ErrBadEngaged     = &InvalidError{"bad_et", "et must be the engaged time in milliseconds, a whole number"}
	ErrBadConsent     = &InvalidError{"bad_consent", "cm[...] consent signals must be granted or denied"}
	ErrBadUserData    = &InvalidError{"bad_user_data", "ud[...] must be a SHA-256 in hex, or an email or phone number within the limits"}

	// Reasons from the registry: the hit is well formed, but not the pixel's.
	ErrUnknownPixel  = &InvalidError{"unknown_pixel", "no pixel with this id is registered"}
	ErrDisabledPixel = &InvalidError{"disabled_pixel", "the pixel is disabled"}
	ErrForeignOrigin = &InvalidError{"foreign_origin", "the page is not on one of the pixel's domains"}
	ErrNoRegistry    = &InvalidError{"no_registry", "the collector has not loaded the pixel registry yet"}

	// Reasons of POST /collect only.
	ErrBadBody       = &InvalidError{"bad_body", "the body must be a JSON event object or an array of them"}
	ErrBadType       = &InvalidError{"bad_type", "a field or batch element has the wrong JSON type (e.g. an object where a string belongs)"}
	ErrTooManyEvents = &InvalidError{"too_many_events", "more events in one request than the limit allows"}
)

// Reasons lists every reason label, so that metrics can show zero counts.
var Reasons = []*InvalidError{
	ErrMissingPixelID, ErrBadPixelID, ErrBadEvent, ErrBadEventID, ErrBadTS, ErrBadValue,
	ErrBadCurrency, ErrBadContentIDs, ErrBadProp, ErrTooManyProps, ErrTooLong, ErrOptedOut,
	ErrBadPageView, ErrBadEngaged, ErrBadConsent, ErrBadUserData,
	ErrUnknownPixel, ErrDisabledPixel, ErrForeignOrigin, ErrNoRegistry,
	ErrBadBody, ErrBadType, ErrTooManyEvents,
}
