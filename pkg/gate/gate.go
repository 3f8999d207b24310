// Package gate decides whether an event may leave for an ad platform: the
// one consent gate of the forwarder and of pixelctl export
// google-conversions, so that a conversion file and the API uploads leave
// out the same people.
package gate

import "github.com/pixel-pipeline/pixel/pkg/event"

// Reasons Check refuses an event, stable strings for metrics; the same
// words as pkg/audience's exclusion reasons.
const (
	Consent = "consent" // no consent to ad use
	GPC     = "gpc"     // the request sent Global Privacy Control
	OptOut  = "optout"  // the visitor opted out or asked to be forgotten
	Bot     = "bot"     // a crawler, preview fetcher or automated browser
)

// Reasons lists the refusal reasons in the order Check tests them.
var Reasons = []string{Consent, GPC, OptOut, Bot}

// Options are what the gate knows beyond the event.
type Options struct {
	// OptedOut reports whether the event's visitor opted out by a means the
	// event does not carry: a request to be forgotten (pixel.erasures).
	// nil: nobody did. The collector's opt-out cookie needs no check here:
	// a hit with it is never recorded.
	OptedOut func(e *event.Event) bool
}

// Check reports whether e may be forwarded to an ad platform, and if not,
// why (one of the reasons), tested in this order: consent, gpc, optout, bot.
//
// The platforms do not see the site's consent: the server must gate
// itself. An event lacks consent to ad use when it was recorded without
// consent (consent = denied: a pixel in consent mode "required" before the
// grant) or the site said ad_storage or ad_user_data denied (Google's
// Consent Mode signals, schemas/event-format.md). An empty column is no
// signal: the pixel assumes consent (consent mode "granted").
// ad_personalization governs personalised ads (audiences, which
// pkg/audience gates on it), not the measurement of a conversion: Google
// receives it in the upload's consent and applies it itself.
//
// GPC is honoured for every pixel: a pixel whose GPC mode is drop never
// records such a hit, and one whose mode is flag keeps it for its own
// analytics (gpc = 1) but never hands it to an ad platform, since GPC is
// an opt-out of sale and sharing.
func Check(e *event.Event, o Options) (ok bool, reason string) {
	if denied(e.Tracking[event.Consent]) || denied(e.Tracking[event.AdStorage]) || denied(e.Tracking[event.AdUserData]) {
		return false, Consent
	}
	if e.GPC {
		return false, GPC
	}
	if o.OptedOut != nil && o.OptedOut(e) {
		return false, OptOut
	}
	if e.IsBot {
		return false, Bot
	}
	return true, ""
}

func denied(v []byte) bool { return string(v) == "denied" }
