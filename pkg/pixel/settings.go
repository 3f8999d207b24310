package pixel

import "fmt"

// Settings are what a pixel's owner chooses for its hits (the registry holds
// them per pixel; a collector without a registry uses DefaultSettings for
// every pixel id).
type Settings struct {
	EngagementSeconds int         // the Engaged goal the tag fires once per page view
	Consent           ConsentMode // whether events need the visitor's consent for a cookie
	IP                IPMode      // what is kept of the client IP
	GPC, DNT          SignalMode  // what a Sec-GPC: 1 or DNT: 1 request does
}

// DefaultSettings are a new pixel's settings.
func DefaultSettings() Settings {
	return Settings{EngagementSeconds: 60, Consent: ConsentGranted, IP: IPKeep, GPC: SignalDrop, DNT: SignalFlag}
}

// ConsentMode says whether a visitor is tracked with a cookie before the
// site signals consent.
type ConsentMode uint8

const (
	ConsentGranted  ConsentMode = iota // consent is assumed: cookies from the first hit
	ConsentRequired                    // cookieless until pixel('consent','grant')
)

// IPMode says what of the client IP is published.
type IPMode uint8

const (
	IPKeep     IPMode = iota // the address as seen
	IPTruncate               // /24 of IPv4, /48 of IPv6
	IPDrop                   // no address
)

// SignalMode says what a privacy signal (GPC, DNT) does to a hit.
type SignalMode uint8

const (
	SignalDrop SignalMode = iota // the hit is answered and not recorded
	SignalFlag                   // the hit is recorded with the signal's column set
)

var (
	consentNames = [...]string{ConsentGranted: "granted", ConsentRequired: "required"}
	ipNames      = [...]string{IPKeep: "keep", IPTruncate: "truncate", IPDrop: "drop"}
	signalNames  = [...]string{SignalDrop: "drop", SignalFlag: "flag"}
)

func (m ConsentMode) String() string { return consentNames[m] }
func (m IPMode) String() string      { return ipNames[m] }
func (m SignalMode) String() string  { return signalNames[m] }

// ParseConsentMode reads "granted" or "required".
func ParseConsentMode(s string) (ConsentMode, error) {
	i, err := parseName(s, consentNames[:], "consent mode")
	return ConsentMode(i), err
}

// ParseIPMode reads "keep", "truncate" or "drop".
func ParseIPMode(s string) (IPMode, error) {
	i, err := parseName(s, ipNames[:], "IP mode")
	return IPMode(i), err
}

// ParseSignalMode reads "drop" or "flag".
func ParseSignalMode(s string) (SignalMode, error) {
	i, err := parseName(s, signalNames[:], "signal mode")
	return SignalMode(i), err
}

func parseName(s string, names []string, what string) (int, error) {
	for i, n := range names {
		if s == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q (one of %v)", what, s, names)
}
