package audience

import (
	"fmt"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// RegistryParams are the rule parameters a pixel's registry record decides:
// an export may not choose its own days or ignore the pixel's GPC setting.
var RegistryParams = []string{"pixel", "tz", "gpc_mode"}

// ForPixel returns params with the parameters the registry decides filled
// from p: pixel (its id), tz (its time zone) and gpc_mode (its GPC setting),
// and to, when params has none, today in the pixel's time zone at now. A
// pixel, tz or gpc_mode in params is an error: they are the registry's.
// pixelctl audience export and the console both run rules through it.
func ForPixel(p *registry.Pixel, params map[string]string, now time.Time) (map[string]string, error) {
	out := make(map[string]string, len(params)+4)
	for k, v := range params {
		for _, r := range RegistryParams {
			if k == r {
				return nil, fmt.Errorf("the audience parameter %s comes from the pixel's registry settings; change them with pixelctl pixel update", k)
			}
		}
		out[k] = v
	}
	tz := p.Zone()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("pixel %s has time zone %q, which this machine does not know: %w; set another with pixelctl pixel update -time-zone", p.ID, tz, err)
	}
	out["pixel"], out["tz"], out["gpc_mode"] = p.ID, loc.String(), p.Settings.GPC.String()
	if _, ok := out["to"]; !ok {
		out["to"] = now.In(loc).Format(time.DateOnly)
	}
	return out, nil
}
