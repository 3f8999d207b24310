package dataset

import (
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

func TestRegistration(t *testing.T) {
	cfg := DefaultConfig(1, 1)
	eu, us := cfg.Pixels[0].Registration(), cfg.Pixels[1].Registration()
	if eu.ID != "px-shop-eu" || eu.TimeZone != "Europe/Paris" || len(eu.Domains) != 1 || eu.Domains[0] != "shop.example.eu" || eu.Settings.Consent != pixel.ConsentRequired {
		t.Errorf("px-shop-eu registers as %+v", eu)
	}
	if us.ID != "px-shop-us" || us.TimeZone != "America/New_York" || us.Domains[0] != "shop.example.com" || us.Settings.Consent != pixel.ConsentGranted {
		t.Errorf("px-shop-us registers as %+v", us)
	}
	if p := (Pixel{Site: "http://a.example:8080/shop"}); p.Host() != "a.example:8080" {
		t.Errorf("Host of %s = %q", p.Site, p.Host())
	}
}
