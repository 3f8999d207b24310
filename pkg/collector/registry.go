package collector

import (
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// registryCheck is the collector's pixel.Registry: the registry's current
// copy decides whether a hit's pixel exists, records, and owns the page
// that sent it.
type registryCheck struct {
	current func() *registry.Snapshot
}

func (r registryCheck) Check(id, host []byte) (pixel.Settings, error) {
	snap := r.current()
	if snap == nil {
		return pixel.Settings{}, pixel.ErrNoRegistry
	}
	p := snap.Lookup(id)
	switch {
	case p == nil:
		return pixel.Settings{}, pixel.ErrUnknownPixel
	case !p.Active():
		return pixel.Settings{}, pixel.ErrDisabledPixel
	case host != nil && !p.AllowsHost(host):
		return pixel.Settings{}, pixel.ErrForeignOrigin
	}
	return p.Settings, nil
}
