package audience

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Format is an export format: Meta, Google or IDs.
type Format string

const (
	// Meta is a Meta Custom Audience customer-list file: a CSV whose header
	// names Meta's identifier keys (EMAIL, PHONE, EXTERN_ID), each value the
	// hex SHA-256 of the identifier in Meta's normalisation (email trimmed
	// and lower-cased; phone digits with country code, no '+').
	Meta Format = "meta"
	// Google is a Google Customer Match CSV: headers Email and Phone, each
	// value the hex SHA-256 in Google's normalisation (email trimmed and
	// lower-cased, without the dots of a gmail.com local part; phone E.164
	// with '+').
	Google Format = "google"
	// IDs is the members' first-party visitor ids, one a row under a
	// visitor_id header, for joining with other data (never for upload).
	IDs Format = "ids"
)

// ParseFormat reads a -format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Meta, Google, IDs:
		return f, nil
	}
	return "", fmt.Errorf("unknown audience format %q; want meta, google or ids", s)
}

// Counts says how many members an export wrote and how many it left out, by
// reason.
type Counts struct {
	Exported int
	Consent  int // denied consent (consent, ad_user_data or ad_personalization)
	OptOut   int // asked to be forgotten (pixel.erasures)
	GPC      int // sent Global Privacy Control to a pixel that honours it
	Bot      int
	// NoIdentifier counts members of a meta or google export with no hashed
	// identifier that format takes (a platform could not match them), and of
	// an ids export those with an empty visitor id.
	NoIdentifier int
}

// Excluded is the number of members left out for any reason.
func (c Counts) Excluded() int { return c.Consent + c.OptOut + c.GPC + c.Bot + c.NoIdentifier }

// String is the line an export prints about itself.
func (c Counts) String() string {
	return fmt.Sprintf("exported %d; excluded %d (consent %d, opted out %d, gpc %d, bot %d, no identifier %d)",
		c.Exported, c.Excluded(), c.Consent, c.OptOut, c.GPC, c.Bot, c.NoIdentifier)
}

// Write writes members in format f to w and counts them. Excluded members
// are never written; in the meta and google formats only values that are 64
// hex digits (a SHA-256) are written, and a member without any is counted
// as NoIdentifier and left out (as is one without a visitor id from an ids
// export). A member with an unknown exclusion reason is
// an error, found before anything is written.
func Write(w io.Writer, f Format, members []Member) (Counts, error) {
	var c Counts
	for _, m := range members {
		switch m.Excluded {
		case "", ReasonConsent, ReasonOptOut, ReasonGPC, ReasonBot:
		default:
			return c, fmt.Errorf("visitor %q is excluded for an unknown reason %q; want %s, %s, %s or %s (is the rule's SQL out of date?)",
				m.VisitorID, m.Excluded, ReasonConsent, ReasonOptOut, ReasonGPC, ReasonBot)
		}
	}
	var header []string
	switch f {
	case Meta:
		header = []string{"EMAIL", "PHONE", "EXTERN_ID"}
	case Google:
		header = []string{"Email", "Phone"}
	case IDs:
		header = []string{"visitor_id"}
	default:
		return c, fmt.Errorf("unknown audience format %q; want meta, google or ids", f)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return c, err
	}
	for _, m := range members {
		switch m.Excluded {
		case ReasonConsent:
			c.Consent++
			continue
		case ReasonOptOut:
			c.OptOut++
			continue
		case ReasonGPC:
			c.GPC++
			continue
		case ReasonBot:
			c.Bot++
			continue
		}
		var rec []string
		switch f {
		case Meta:
			rec = []string{hash(m.EmailSHA256), hash(m.PhoneSHA256), externID(m.ExternalID)}
		case Google:
			rec = []string{hash(m.EmailGoogleSHA256), hash(m.PhoneGoogleSHA256)}
		case IDs:
			rec = []string{m.VisitorID}
		}
		if strings.Join(rec, "") == "" {
			c.NoIdentifier++
			continue
		}
		if err := cw.Write(rec); err != nil {
			return c, err
		}
		c.Exported++
	}
	cw.Flush()
	return c, cw.Error()
}

// hash returns s lower-cased if it is a hex SHA-256, else "": a value that
// is not a hash is never written, whatever a row holds.
func hash(s string) string {
	h, _ := pixel.AppendLowerSHA256Hex(nil, []byte(strings.TrimSpace(s)))
	return string(h)
}

// externID is the EXTERN_ID value of an external_id: the advertiser's own
// user id is stored as given, so it is hashed here (SHA-256 of the trimmed
// id, unless it is a hex SHA-256 already), so that only hashes leave the
// project. It matches the external_id a site sends Meta hashed the same way,
// as Meta recommends for the Conversions API.
func externID(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	if h := hash(id); h != "" {
		return h
	}
	return string(pixel.AppendSHA256Hex(nil, []byte(id)))
}
