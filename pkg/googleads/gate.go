package googleads

import "github.com/pixel-pipeline/pixel/pkg/event"

// The reasons Allowed refuses an event, stable for metrics and counts;
// the same words as pkg/audience's exclusion reasons.
const (
	ReasonBot     = "bot"     // a crawler, preview fetcher or automated browser (is_bot)
	ReasonConsent = "consent" // consent, ad_storage, ad_user_data or ad_personalization is "denied"
	ReasonGPC     = "gpc"     // the request sent Sec-GPC: 1 and the pixel honours GPC
	ReasonOptOut  = "optout"  // the visitor opted out or asked to be forgotten
)

// GateOptions are the pixel's rules for forwarding.
type GateOptions struct {
	// HonourGPC refuses events recorded with gpc=1 (a pixel whose GPC
	// setting is flag records them; one set to drop never stores them).
	HonourGPC bool
	// OptedOut reports whether the event's visitor opted out or asked to be
	// forgotten (the forwarder looks up pixel.erasures); nil: nobody did.
	OptedOut func(e *event.Event) bool
}

// Allowed reports whether e may go to Google, and if not, why. Checked in
// this order: bot, opted out, GPC, consent. Any consent column saying
// "denied" (schemas/event-format.md: consent, ad_storage, ad_user_data,
// ad_personalization hold "granted" or "denied" as the site gave them)
// refuses the event, as pkg/audience does; an empty column is not a
// refusal (a pixel in consent mode granted assumes consent, and one in mode
// required records a visitor without a grant with consent=denied).
func Allowed(e *event.Event, opts GateOptions) (bool, string) {
	if e.IsBot {
		return false, ReasonBot
	}
	if opts.OptedOut != nil && opts.OptedOut(e) {
		return false, ReasonOptOut
	}
	if opts.HonourGPC && e.GPC {
		return false, ReasonGPC
	}
	for _, col := range [...]int{event.Consent, event.AdStorage, event.AdUserData, event.AdPersonalization} {
		if string(e.Tracking[col]) == "denied" {
			return false, ReasonConsent
		}
	}
	return true, ""
}
