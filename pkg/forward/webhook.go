package forward

import (
	"errors"
	"net/http"

	"github.com/pixel-pipeline/pixel/pkg/destination"
)

// newWebhookPlatform is the webhook kind; pkg/webhook is not merged yet.
func newWebhookPlatform(d *destination.Destination, hc *http.Client) (platform, error) {
	_, _ = d, hc
	return nil, errors.New("the webhook kind is not built into this forwarder yet")
}
