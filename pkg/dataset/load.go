package dataset

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/spend"
)

// Register puts the pixels into the registry with Registration, leaving
// those already there as they are, so that loading a data set twice into
// one database works.
func Register(ctx context.Context, conn chstore.Conn, pixels []Pixel) error {
	store := registry.NewStore(conn)
	for _, p := range pixels {
		_, err := store.Get(ctx, p.ID)
		if err == nil {
			continue
		}
		if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		if _, _, err := store.Create(ctx, p.Registration()); err != nil {
			return fmt.Errorf("registering pixel %s: %w", p.ID, err)
		}
	}
	return nil
}

// LoadSpend writes the population's generated ad spend into pixel.ad_spend
// as pixelctl spend import does (through pkg/spend's csv reader), and
// returns how many rows it wrote. Loading it again replaces the same rows.
func LoadSpend(ctx context.Context, conn chstore.Conn, p *Population, now time.Time) (int, error) {
	f, err := spend.Parse(spend.CSV, SpendCSV(p.Spend()), spend.Options{})
	if err != nil {
		return 0, fmt.Errorf("reading the generated spend: %w", err)
	}
	if err := spend.Write(ctx, conn, f, now); err != nil {
		return 0, fmt.Errorf("loading the generated spend: %w", err)
	}
	return len(f.Rows), nil
}
