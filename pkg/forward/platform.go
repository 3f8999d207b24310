package forward

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/googleads"
	"github.com/pixel-pipeline/pixel/pkg/metacapi"
)

// outcome is what a pipeline does with a request's events after an answer.
type outcome uint8

const (
	accepted     outcome = iota + 1 // commit (the refused rows go to the dead-letter topic)
	retry                           // send again after the backoff (or the answer's delay)
	refused                         // dead-letter every event, then commit
	unauthorized                    // hold: retry at the longest backoff, never dead-letter
)

// answer is a platform's classified answer to one request.
type answer struct {
	outcome    outcome
	status     int           // HTTP status, 0 when none came
	retryAfter time.Duration // the delay the platform asked for; 0: the backoff's
	body       []byte        // the platform's answer, for a dead letter
	reason     string        // in words, for the log
	// rows are the events the platform refused inside an accepted request:
	// index into request.events → the platform's error for that row.
	rows map[int][]byte
}

// request is one built request and the indexes (into the batch's items) of
// the events it carries, in order.
type request struct {
	events  []int
	payload any // metacapi.Request or googleads.Request
}

// skip is an event the builder left out, and why.
type skip struct {
	index  int
	reason string
}

// platform builds and sends one kind's requests.
type platform interface {
	maxBatch() int
	build(events []*event.Event, now time.Time) ([]request, []skip)
	send(ctx context.Context, r request) (answer, error)
}

// ErrNoCredentials means a destination lacks the credentials of its kind:
// the forwarder does not start it until they are set.
var ErrNoCredentials = errors.New("destination has no credentials")

// newPlatform returns the platform of d, or why d cannot be forwarded to.
func newPlatform(d *destination.Destination, hc *http.Client, tz func() *time.Location) (platform, error) {
	switch d.Kind {
	case destination.KindMeta:
		if d.Credentials.AccessToken == "" {
			return nil, fmt.Errorf("%w: set the Meta access token (pixelctl destination update %s -credentials-stdin)", ErrNoCredentials, d.ID)
		}
		b, err := metacapi.NewBuilder(metacapi.Options{
			BaseURL: d.Meta.BaseURL, Version: d.Meta.Version, PixelID: d.Meta.DatasetID,
			TestEventCode: d.Meta.TestEventCode, LimitedDataUse: d.Meta.LimitedDataUse,
		})
		if err != nil {
			return nil, err
		}
		return &metaPlatform{b: b, c: &metacapi.Client{HTTP: hc, AccessToken: d.Credentials.AccessToken}}, nil
	case destination.KindGoogle:
		c := d.Credentials
		if c.DeveloperToken == "" || c.ClientID == "" || c.ClientSecret == "" || c.RefreshToken == "" {
			return nil, fmt.Errorf("%w: set the Google developer token, OAuth client id and secret and refresh token (pixelctl destination update %s -credentials-stdin)", ErrNoCredentials, d.ID)
		}
		dest := googleads.Destination{CustomerID: d.Google.CustomerID, ConversionActionID: d.Google.ConversionActionID, ConversionName: d.Google.ConversionName}
		if err := dest.Validate(); err != nil {
			return nil, err
		}
		tokenURL := d.Google.TokenURL
		if tokenURL == "" {
			tokenURL = GoogleTokenURL
		}
		oc := &oauth2.Config{
			ClientID: c.ClientID, ClientSecret: c.ClientSecret,
			Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
			Scopes:   []string{GoogleScope},
		}
		// The token source refreshes the access token when it expires and
		// reuses it until then; its context carries the HTTP client only.
		octx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
		ts := oc.TokenSource(octx, &oauth2.Token{RefreshToken: c.RefreshToken})
		return &googlePlatform{
			dest: dest, tz: tz,
			c: &googleads.Client{
				HTTP: hc, BaseURL: d.Google.BaseURL, Version: d.Google.Version,
				DeveloperToken: c.DeveloperToken, LoginCustomerID: d.Google.LoginCustomerID,
				Token: func(context.Context) (string, error) {
					t, err := ts.Token()
					if err != nil {
						return "", err
					}
					return t.AccessToken, nil
				},
			},
		}, nil
	case destination.KindWebhook:
		return newWebhookPlatform(d, hc)
	}
	return nil, fmt.Errorf("destination kind %q is not one the forwarder knows: use one of meta, google, webhook", d.Kind)
}

// Google's OAuth 2.0 token endpoint and the Google Ads API scope.
const (
	GoogleTokenURL = "https://oauth2.googleapis.com/token"
	GoogleScope    = "https://www.googleapis.com/auth/adwords"
)

type metaPlatform struct {
	b *metacapi.Builder
	c *metacapi.Client
}

func (p *metaPlatform) maxBatch() int { return metacapi.MaxBatch }

func (p *metaPlatform) build(events []*event.Event, now time.Time) ([]request, []skip) {
	reqs, skips := p.b.Build(events, now)
	out := make([]request, len(reqs))
	for i, r := range reqs {
		out[i] = request{events: r.Events, payload: r}
	}
	ss := make([]skip, len(skips))
	for i, s := range skips {
		ss[i] = skip{index: s.Index, reason: s.Reason}
	}
	return out, ss
}

func (p *metaPlatform) send(ctx context.Context, r request) (answer, error) {
	res, err := p.c.Send(ctx, r.payload.(metacapi.Request))
	a := answer{status: res.Status, retryAfter: res.RetryAfter, body: res.Body, reason: res.Reason}
	switch {
	case err != nil:
		a.outcome = retry
	case res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden ||
		res.Error != nil && (res.Error.Code == 190 || res.Error.Code == 10 || res.Error.Code == 200):
		// 190: the access token is invalid or expired; 10 and 200: the
		// token lacks the permission. A person fixes the token; dead-
		// lettering every event meanwhile would lose them all.
		a.outcome = unauthorized
	case res.Outcome == metacapi.Accepted:
		a.outcome = accepted
	case res.Outcome == metacapi.Retry:
		a.outcome = retry
	default:
		a.outcome = refused
	}
	return a, err
}

type googlePlatform struct {
	dest googleads.Destination
	tz   func() *time.Location
	c    *googleads.Client
}

func (p *googlePlatform) maxBatch() int { return googleads.MaxPerRequest }

// Reasons a Google conversion is not built, for forward_skipped_total.
const (
	SkipNoClickID    = "no_click_id"
	SkipBadClickID   = "bad_click_id"
	SkipClickExpired = "click_expired"
	SkipBeforeClick  = "before_click"
	SkipInvalid      = "invalid"
)

func (p *googlePlatform) build(events []*event.Event, now time.Time) ([]request, []skip) {
	loc := p.tz()
	var skips []skip
	convs := make([]googleads.Conversion, 0, len(events))
	idx := make([]int, 0, len(events))
	for i, e := range events {
		c, err := googleads.NewConversion(e, p.dest, loc)
		if err != nil {
			skips = append(skips, skip{index: i, reason: googleSkipReason(err)})
			continue
		}
		if string(e.Name) == destination.EngagedVisit {
			// Google de-duplicates uploads of a conversion action by order
			// id only: the engaged visit's deterministic id makes a
			// replayed one a duplicate Google drops.
			c.OrderID = c.EventID
		}
		convs = append(convs, c)
		idx = append(idx, i)
	}
	reqs, err := googleads.Build(p.dest.CustomerID, convs, googleads.BuildOptions{})
	if err != nil {
		// Build fails only on a customer id or batch size, both checked
		// before: every event is skipped rather than sent broken.
		for _, i := range idx {
			skips = append(skips, skip{index: i, reason: SkipInvalid})
		}
		return nil, skips
	}
	out := make([]request, 0, len(reqs))
	at := 0
	for _, r := range reqs {
		out = append(out, request{events: idx[at : at+len(r.Conversions)], payload: r})
		at += len(r.Conversions)
	}
	return out, skips
}

func googleSkipReason(err error) string {
	switch {
	case errors.Is(err, googleads.ErrNoClickID):
		return SkipNoClickID
	case errors.Is(err, googleads.ErrBadClickID):
		return SkipBadClickID
	case errors.Is(err, googleads.ErrClickExpired):
		return SkipClickExpired
	case errors.Is(err, googleads.ErrBeforeClick):
		return SkipBeforeClick
	}
	return SkipInvalid
}

func (p *googlePlatform) send(ctx context.Context, r request) (answer, error) {
	res, err := p.c.Send(ctx, r.payload.(googleads.Request))
	a := answer{status: res.Status, retryAfter: res.Delay, body: res.Body, reason: res.ErrorStatus}
	if res.Message != "" {
		a.reason += ": " + res.Message
	}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		// The token endpoint refused the refresh token (revoked, wrong
		// client): a person must fix the credentials.
		a.outcome, a.status, a.body = unauthorized, re.Response.StatusCode, re.Body
		a.reason = "token endpoint: " + re.Error()
	case err != nil && res.Outcome == googleads.Permanent:
		a.outcome = refused
	case err != nil:
		a.outcome = retry
	case res.Outcome == googleads.Unauthorized:
		a.outcome = unauthorized
	case res.Outcome == googleads.Retry:
		a.outcome = retry
	case res.Outcome == googleads.Accepted:
		a.outcome = accepted
		if len(res.Refused) > 0 {
			a.rows = make(map[int][]byte, len(res.Refused))
			for _, row := range res.Refused {
				a.rows[row.Index] = row.Detail
			}
		}
	default:
		a.outcome = refused
		if a.reason == "" {
			a.reason = "status " + strconv.Itoa(res.Status)
		}
	}
	if err != nil && a.reason == "" {
		a.reason = err.Error()
	}
	return a, err
}
