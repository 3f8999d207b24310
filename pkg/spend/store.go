package spend

import (
	"context"
	"fmt"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/schemas"
)

// Write inserts a parsed file's rows into pixel.ad_spend, column by column,
// as one block with version now (in nanoseconds): rows already there for the
// same platform, account, campaign and day are replaced, so importing the
// same file twice leaves the table as once.
func Write(ctx context.Context, conn chstore.Conn, f *File, now time.Time) error {
	if len(f.Rows) == 0 {
		return nil
	}
	n := len(f.Rows)
	var (
		dates                                                 = make([]time.Time, n)
		platforms, accounts, campaigns, ids, utms, currencies = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		costs                                                 = make([]int64, n)
		clicks, impressions                                   = make([]uint64, n), make([]uint64, n)
		hashes                                                = make([]string, n)
		lines                                                 = make([]uint32, n)
		importedAt                                            = make([]time.Time, n)
		versions                                              = make([]uint64, n)
	)
	at, version := now.UTC().Truncate(time.Second), uint64(now.UnixNano())
	for i, r := range f.Rows {
		dates[i], platforms[i], accounts[i], campaigns[i], ids[i], utms[i], currencies[i] = r.Date, r.Platform, r.Account, r.Campaign, r.CampaignID, r.UTMCampaign, r.Currency
		costs[i], clicks[i], impressions[i] = r.CostMicros, r.Clicks, r.Impressions
		hashes[i], lines[i], importedAt[i], versions[i] = f.SHA256, uint32(r.Line), at, version
	}
	batch, err := conn.PrepareBatch(ctx, schemas.Internal("ad_spend_insert"))
	if err != nil {
		return fmt.Errorf("cannot write ad spend: %w; has pixelctl migrate run?", err)
	}
	for i, col := range []any{dates, platforms, accounts, campaigns, ids, utms, currencies, costs, clicks, impressions, hashes, lines, importedAt, versions} {
		if err := batch.Column(i).Append(col); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("cannot write ad spend (column %d): %w", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("cannot write ad spend: %w", err)
	}
	return nil
}
