package analysis_test

import (
	"os"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// The queries run against this test binary's private ClickHouse server
// (devstacktest); each test gets a fresh database.
func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

// Short local names for the shared helpers.
var (
	testContext = devstacktest.Context
	open        = devstacktest.Open
	queryUint64 = devstacktest.QueryUint64
)

// row is an events row with the columns the queries read.
type row struct {
	EventID, PixelID, VisitorID, SessionID, Event string
	TS, ReceivedAt                                int64
	Value                                         float64
	Currency                                      string
	ContentIDs                                    []string
	Props                                         string
	Campaign, Channel                             string // utm_campaign, channel
}

func buildRows(rs []row) *chstore.Rows {
	b := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	var out chstore.Rows
	for _, r := range rs {
		e := event.Event{
			EventID: b(r.EventID), PixelID: b(r.PixelID), VisitorID: b(r.VisitorID), SessionID: b(r.SessionID),
			Name: b(r.Event), TS: r.TS, ReceivedAt: r.ReceivedAt,
			Value: r.Value, Currency: b(r.Currency), Props: b(r.Props),
		}
		e.Tracking[event.UTMCampaign], e.Tracking[event.Channel] = b(r.Campaign), b(r.Channel)
		for _, id := range r.ContentIDs {
			e.ContentIDs = append(e.ContentIDs, []byte(id))
		}
		out.Append(&e)
	}
	return &out
}
