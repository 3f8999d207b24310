package dataset

import (
	"strings"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// Registration is how the registry must know p for the pipeline to accept
// its events as generated: its id, its site's host as the one domain, its
// time zone, and consent mode required for a ConsentRequired pixel. GPC and
// DNT are flagged, not dropped: the generator sends neither signal.
func (p Pixel) Registration() registry.New {
	s := pixel.DefaultSettings()
	if p.ConsentRequired {
		s.Consent = pixel.ConsentRequired
	}
	s.GPC, s.DNT = pixel.SignalFlag, pixel.SignalFlag
	return registry.New{ID: p.ID, Name: p.ID, Domains: []string{p.Host()}, TimeZone: p.TimeZone, Settings: s}
}

// Host is the host of the pixel's site.
func (p Pixel) Host() string {
	h := strings.TrimPrefix(strings.TrimPrefix(p.Site, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	return h
}
