package console

import (
	"time"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// The pixel pages' data for TestTemplatesAreSafe: every string a page shows
// is h, the hostile sample.
func init() {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	px := func(h string) *registry.Pixel {
		return &registry.Pixel{ID: "px1", Name: h, Domains: []string{h}, Status: registry.StatusActive, TimeZone: h, Settings: pixel.DefaultSettings(), CreatedAt: at}
	}
	ev := func(h string) liveEvent {
		return liveEvent{EventID: h, Event: h, TS: at, ReceivedAt: at, URL: h, Referrer: h, UTMCampaign: h, UTMSource: h, UTMMedium: h,
			Value: 1, Currency: h, Consent: h, Channel: h, Props: h, UserAgent: h, Cursor: h}
	}
	sampleData["pixels.html"] = func(h string) any {
		return pixelListView{Rows: []pixelRow{{P: px(h), LastHit: h}}, Admin: true}
	}
	sampleData["pixel_form.html"] = func(h string) any {
		return pixelFormView{Form: pixelForm{Name: h, Domains: h, Engagement: h, Consent: h, IP: h, GPC: h, DNT: h, TimeZone: h}, Error: h, Pixel: px(h), Choices: modeChoices}
	}
	sampleData["secret.html"] = func(h string) any { return secretView{Pixel: px(h), Secret: h} }
	sampleData["snippet.html"] = func(h string) any {
		return snippetView{Pixel: px(h), Snippets: registry.Snippets{JS: h, NoScript: h, ImageURL: h, ImageURLNote: h, Server: h}, Secret: h,
			Install: installCheck{Installed: true, URL: h, ReceivedAt: &at}}
	}
	sampleData["live.html"] = func(h string) any { return liveView{Events: []liveEvent{ev(h)}, Cursor: h} }
}
