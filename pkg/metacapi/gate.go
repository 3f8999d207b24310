package metacapi

import "github.com/pixel-pipeline/pixel/pkg/event"

// Reasons Allowed refuses an event, stable strings for metrics.
const (
	RefuseConsent = "consent" // no consent to ad use
	RefuseGPC     = "gpc"     // Global Privacy Control, and the pixel honours it
	RefuseOptOut  = "optout"  // the visitor opted out
	RefuseBot     = "bot"     // a crawler, preview fetcher or automated browser
)

// GateOptions are a pixel's forwarding rules.
type GateOptions struct {
	// HonorGPC refuses events whose request sent Sec-GPC: 1. A pixel whose
	// collector drops such hits never records one; a pixel that only flags
	// them (gpc = 1) still keeps them out of the ad platforms with this.
	HonorGPC bool
	// OptedOut reports whether the event's visitor opted out by a means the
	// event does not carry (a server-side opt-out list). nil: none. The
	// collector's opt-out cookie needs no check here: a hit with it is never
	// recorded.
	OptedOut func(e *event.Event) bool
}

// Allowed reports whether e may be forwarded to an ad platform, and if not,
// why (one of the Refuse* reasons), checked in this order: consent, gpc,
// optout, bot. The Conversions API does not see the site's consent: the
// server must gate itself. An event lacks consent to ad use when it was
// recorded without consent (consent = denied: a pixel in consent mode
// "required" before the grant) or the site said ad_storage or ad_user_data
// denied (Google's Consent Mode signals, schemas/event-format.md). An empty
// column is no signal: the pixel assumes consent (consent mode "granted").
func Allowed(e *event.Event, o GateOptions) (ok bool, reason string) {
	if denied(e.Tracking[event.Consent]) || denied(e.Tracking[event.AdStorage]) || denied(e.Tracking[event.AdUserData]) {
		return false, RefuseConsent
	}
	if o.HonorGPC && e.GPC {
		return false, RefuseGPC
	}
	if o.OptedOut != nil && o.OptedOut(e) {
		return false, RefuseOptOut
	}
	if e.IsBot {
		return false, RefuseBot
	}
	return true, ""
}

func denied(v []byte) bool { return string(v) == "denied" }
