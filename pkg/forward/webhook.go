package forward

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/webhook"
)

// webhookPlatform posts signed JSON batches to the destination's URL.
type webhookPlatform struct{ c *webhook.Client }

func newWebhookPlatform(d *destination.Destination, hc *http.Client) (platform, error) {
	if d.Credentials.SigningSecret == "" {
		return nil, fmt.Errorf("%w: set the webhook's signing secret (pixelctl destination update %s -credentials-stdin)", ErrNoCredentials, d.ID)
	}
	if d.Webhook.URL == "" {
		return nil, fmt.Errorf("destination %s has no webhook URL", d.ID)
	}
	return &webhookPlatform{c: &webhook.Client{HTTP: hc, URL: d.Webhook.URL, Secret: []byte(d.Credentials.SigningSecret)}}, nil
}

func (p *webhookPlatform) maxBatch() int { return webhook.MaxBatch }

// build sends every event: a webhook has no platform rules to skip by.
func (p *webhookPlatform) build(events []*event.Event, now time.Time) ([]request, []skip) {
	var reqs []request
	for at := 0; at < len(events); at += webhook.MaxBatch {
		end := min(at+webhook.MaxBatch, len(events))
		idx := make([]int, 0, end-at)
		for i := at; i < end; i++ {
			idx = append(idx, i)
		}
		reqs = append(reqs, request{events: idx, payload: webhook.Build(events[at:end], now)})
	}
	return reqs, nil
}

func (p *webhookPlatform) send(ctx context.Context, r request) (answer, error) {
	res, err := p.c.Send(ctx, r.payload.([]byte), len(r.events))
	a := answer{status: res.Status, retryAfter: res.RetryAfter, body: res.Body, reason: res.Reason}
	switch {
	case res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden:
		// The receiver does not take our signature: a person fixes the
		// secret on one side or the other; the events wait.
		a.outcome = unauthorized
	case res.Outcome == webhook.Accepted:
		a.outcome = accepted
	case res.Outcome == webhook.Refused:
		a.outcome = refused
		if len(a.body) == 0 && err != nil {
			a.body = []byte(err.Error())
		}
	default:
		a.outcome = retry
	}
	return a, err
}
