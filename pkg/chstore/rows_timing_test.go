package chstore_test

import (
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/chstore/chstoretest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// benchEvents are the rows BenchmarkRowsAppend appends.
var benchEvents = chstoretest.ShopEvents()

func eventBytes(e *event.Event) int {
	n := len(e.EventID) + len(e.PixelID) + len(e.VisitorID) + len(e.SessionID) + len(e.Name) + 16 +
		len(e.URL) + len(e.Referrer) + 8 + len(e.Currency) + len(e.OrderID) + len(e.IP) + len(e.UserAgent) + len(e.Props)
	for _, id := range e.ContentIDs {
		n += len(id)
	}
	return n
}

// BenchmarkRowsAppend is the consumer's columnar append of one decoded
// event, in batches of 100 000 rows (Reset between batches, as
// after each insert); MB/s counts the event's field bytes.
func BenchmarkRowsAppend(b *testing.B) {
	var rows chstore.Rows
	total := 0
	for i := range benchEvents {
		total += eventBytes(&benchEvents[i])
	}
	b.SetBytes(int64(total / len(benchEvents)))
	// One whole batch first, so that the columns have grown to their
	// steady size, as they have in a running consumer.
	for i := range 100_000 {
		rows.Append(&benchEvents[i%len(benchEvents)])
	}
	rows.Reset()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if rows.Len() == 100_000 {
			rows.Reset()
		}
		rows.Append(&benchEvents[i%len(benchEvents)])
	}
}
