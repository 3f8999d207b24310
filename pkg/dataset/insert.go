package dataset

import (
	"context"
	"fmt"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// DefaultBatch is Insert's batch size: large blocks, as the consumer writes.
const DefaultBatch = 100_000

// Insert writes the population's events straight into the events table of
// conn's database, batch events per insert (DefaultBatch when batch <= 0),
// through chstore.Rows and chstore.Insert as the consumer does, replayed
// duplicates included as stored rows. It returns how many events it
// inserted. For large sizes: small ones can go through the real pipeline
// from Events.
func Insert(ctx context.Context, conn chstore.Conn, p *Population, batch int) (int, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	var rows chstore.Rows
	n := 0
	flush := func() error {
		// No de-duplication token: a replayed duplicate must stay a row,
		// as it does when the pipeline stores it twice.
		if err := chstore.Insert(ctx, conn, &rows, ""); err != nil {
			return fmt.Errorf("dataset: inserting events %d to %d: %w", n, n+rows.Len(), err)
		}
		n += rows.Len()
		rows.Reset()
		return nil
	}
	err := p.Events(func(e *event.Event) error {
		rows.Append(e)
		if rows.Len() >= batch {
			return flush()
		}
		return ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	return n, err
}
