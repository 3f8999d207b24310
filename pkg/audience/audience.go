// Package audience builds retargeting audiences from the events and writes
// them in the customer-list formats the ad platforms accept for upload: the
// rules are the parameterised SQL of schemas/queries/audiences (read and
// bound as pkg/analysis reads its queries), the writers turn their rows into
// Meta Custom Audience and Google Customer Match CSV files, or a list of
// visitor ids, and count who was left out and why.
package audience

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
)

// Dir is the directory of schemas.FS that holds the rules.
const Dir = "queries/audiences"

// MaxDays is the longest window a rule takes: Meta's website custom
// audiences keep people for 1 to 180 days, and so do these.
const MaxDays = 180

// The columns every rule returns besides its own: the visitor, the latest
// hashed identifiers, external_id and the exclusion reason.
var identityColumns = []string{
	"visitor_id", "email_sha256", "email_google_sha256", "phone_sha256", "phone_google_sha256", "external_id", "excluded",
}

// The exclusion reasons a rule returns in its excluded column.
const (
	ReasonConsent = "consent" // the latest consent, ad_user_data or ad_personalization signal is denied
	ReasonOptOut  = "optout"  // an erasure request (pixelctl forget, pixel.erasures) names the visitor id or email
	ReasonGPC     = "gpc"     // the visitor sent Sec-GPC: 1 and the pixel honours GPC (its registry setting is drop)
	ReasonBot     = "bot"     // a crawler, preview fetcher or automated browser
)

// Audience is the answer of a rule: its members, one per visitor, in
// visitor_id order.
type Audience struct {
	Rule    string
	Columns []string // the rule's own columns (such as product_ids), in order
	Members []Member
}

// Member is one visitor of an audience, excluded or not.
type Member struct {
	VisitorID string
	// Values holds the rule's own columns (Audience.Columns) as text.
	Values []string
	// The latest hex SHA-256 of each normalised identifier the tag or the
	// server API stored (schemas/event-format.md), and the advertiser's
	// user id as given; empty when never given.
	EmailSHA256, EmailGoogleSHA256 string
	PhoneSHA256, PhoneGoogleSHA256 string
	ExternalID                     string
	// Excluded is the reason the member may not be exported (Reason*), or
	// empty.
	Excluded string
}

// Rules returns the shipped audience rules, sorted by name.
func Rules() ([]analysis.Query, error) { return analysis.QueriesIn(Dir) }

// Lookup returns the rule called name.
func Lookup(name string) (analysis.Query, error) {
	rules, err := Rules()
	if err != nil {
		return analysis.Query{}, err
	}
	names := make([]string, len(rules))
	for i, r := range rules {
		if r.Name == name {
			return r, nil
		}
		names[i] = r.Name
	}
	return analysis.Query{}, fmt.Errorf("no audience called %q; the audiences are %s", name, strings.Join(names, ", "))
}

// Check checks parameter values for the rule called name (parameter name →
// text, as analysis.Query.Args takes them) without running it: the rule
// exists, the values fit their types and the window is 1 to 180 days.
func Check(name string, values map[string]string) (analysis.Query, error) {
	rule, err := Lookup(name)
	if err != nil {
		return rule, err
	}
	if err := checkDays(rule, values); err != nil {
		return rule, err
	}
	if _, err := rule.Args(values); err != nil {
		return rule, err
	}
	return rule, nil
}

// Run runs the rule called name with the given parameter values (see
// Check) over conn, whose default database holds the events table.
func Run(ctx context.Context, conn driver.Conn, name string, values map[string]string) (*Audience, error) {
	rule, err := Check(name, values)
	if err != nil {
		return nil, err
	}
	res, err := rule.Run(ctx, conn, values)
	if err != nil {
		return nil, fmt.Errorf("audience %s: %w", name, err)
	}
	return fromResult(name, res)
}

// checkDays keeps the window within Meta's 1 to 180 days: a longer one would
// hold people the platforms would not, and 0 days is an empty audience.
func checkDays(rule analysis.Query, values map[string]string) error {
	for _, p := range rule.Params {
		if p.Name != "days" {
			continue
		}
		s, ok := values["days"]
		if !ok {
			s = p.Default
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n < 1 || n > MaxDays {
			return fmt.Errorf("audience %s: -days %q: want a number of days from 1 to %d", rule.Name, s, MaxDays)
		}
	}
	return nil
}

// fromResult maps a rule's rows to members by column name.
func fromResult(name string, res *analysis.Result) (*Audience, error) {
	index := map[string]int{}
	for i, c := range res.Columns {
		index[c] = i
	}
	at := make([]int, len(identityColumns))
	for i, c := range identityColumns {
		j, ok := index[c]
		if !ok {
			return nil, fmt.Errorf("audience %s returns no %s column; every rule must return %s", name, c, strings.Join(identityColumns, ", "))
		}
		at[i] = j
	}
	a := &Audience{Rule: name}
	var own []int
	for i, c := range res.Columns {
		if !contains(identityColumns, c) {
			a.Columns = append(a.Columns, c)
			own = append(own, i)
		}
	}
	for _, row := range res.Rows {
		m := Member{
			VisitorID: row[at[0]], EmailSHA256: row[at[1]], EmailGoogleSHA256: row[at[2]],
			PhoneSHA256: row[at[3]], PhoneGoogleSHA256: row[at[4]], ExternalID: row[at[5]], Excluded: row[at[6]],
		}
		for _, i := range own {
			m.Values = append(m.Values, row[i])
		}
		a.Members = append(a.Members, m)
	}
	return a, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
