package chstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/schemas"
)

// Rows is a batch of events laid out by column, ready for a columnar insert.
// Append copies each event's bytes into arenas owned by Rows, one per column,
// so the event may be reused right after, and each column's strings lie one
// after the other, as the driver reads them (one arena for all columns made
// the driver's column copy stride through the whole batch once per column).
// A failed insert can be retried with the same Rows: the driver's batch is
// rebuilt from these columns each time, so every attempt sends the same rows
// in the same order, which is what lets ClickHouse recognise a retried block
// (see Insert).
type Rows struct {
	EventID, PixelID, VisitorID, SessionID, Event []string
	TS, ReceivedAt                                []int64
	URL, Referrer                                 []string
	Value                                         []float64
	Currency, OrderID                             []string
	ContentIDs                                    [][]string
	IP, UserAgent, Props                          []string
	TSMs, ClickTSMs                               []uint64
	EngagedMs                                     []uint32
	GPC, DNT, IsBot                               []uint8
	Tracking                                      [event.NumTracking][]string // by event.Tracking index

	text   [nTextColumns]arena[byte] // the strings of each column
	size   [nTextColumns]int         // the bytes of each column's strings
	ids    arena[string]             // the content id lists
	nIDs   int                       // the content ids of every list
	digest []byte                    // Digest's input, kept for the next batch
}

// The String columns, by arena.
const (
	colEventID = iota
	colPixelID
	colVisitorID
	colSessionID
	colEvent
	colURL
	colReferrer
	colCurrency
	colOrderID
	colContentIDs
	colIP
	colUserAgent
	colProps
	colTracking  // the first of event.NumTracking columns
	nTextColumns = colTracking + event.NumTracking
)

// textColumns names the String columns of the events table, by arena.
var textColumns = func() [nTextColumns]string {
	c := [nTextColumns]string{
		colEventID: "event_id", colPixelID: "pixel_id", colVisitorID: "visitor_id", colSessionID: "session_id",
		colEvent: "event", colURL: "url", colReferrer: "referrer", colCurrency: "currency", colOrderID: "order_id",
		colContentIDs: "content_ids", colIP: "ip", colUserAgent: "user_agent", colProps: "props",
	}
	copy(c[colTracking:], event.TrackingColumns[:])
	return c
}()

// Arena chunk sizes: bytes per column, entries of the content id lists.
const (
	chunkSize   = 256 << 10
	idChunkSize = 8 << 10
)

// arena hands out room from chunks that never move, so that what was handed
// out stays valid; Reset keeps the chunks for the next batch.
type arena[T any] struct {
	cur    []T   // the chunk in use
	chunks [][]T // every chunk handed out since the arena was made
	used   int   // chunks in use since the last reset
}

// take returns room for n elements (at least chunk of them are allocated at
// a time).
func (a *arena[T]) take(n, chunk int) []T {
	if len(a.cur)+n > cap(a.cur) {
		size := max(chunk, n)
		if a.used < len(a.chunks) && cap(a.chunks[a.used]) >= size {
			a.cur = a.chunks[a.used][:0]
		} else {
			a.cur = make([]T, 0, size)
			if a.used < len(a.chunks) {
				a.chunks[a.used] = a.cur
			} else {
				a.chunks = append(a.chunks, a.cur)
			}
		}
		a.used++
	}
	start := len(a.cur)
	a.cur = a.cur[:start+n]
	return a.cur[start : start+n : start+n]
}

func (a *arena[T]) reset() { a.cur, a.used = nil, 0 }

// Len is the number of rows.
func (r *Rows) Len() int { return len(r.EventID) }

// Bytes is the size of the copied strings, an estimate of the batch's weight.
func (r *Rows) Bytes() int {
	n := 0
	for _, s := range r.size {
		n += s
	}
	return n
}

// Reset empties r, keeping its memory for the next batch.
func (r *Rows) Reset() {
	r.EventID, r.PixelID, r.VisitorID = r.EventID[:0], r.PixelID[:0], r.VisitorID[:0]
	r.SessionID, r.Event = r.SessionID[:0], r.Event[:0]
	r.TS, r.ReceivedAt = r.TS[:0], r.ReceivedAt[:0]
	r.URL, r.Referrer = r.URL[:0], r.Referrer[:0]
	r.Value = r.Value[:0]
	r.Currency, r.OrderID = r.Currency[:0], r.OrderID[:0]
	clear(r.ContentIDs)
	r.ContentIDs = r.ContentIDs[:0]
	r.IP, r.UserAgent, r.Props = r.IP[:0], r.UserAgent[:0], r.Props[:0]
	r.TSMs, r.ClickTSMs, r.EngagedMs = r.TSMs[:0], r.ClickTSMs[:0], r.EngagedMs[:0]
	r.GPC, r.DNT, r.IsBot = r.GPC[:0], r.DNT[:0], r.IsBot[:0]
	for i := range r.Tracking {
		r.Tracking[i] = r.Tracking[i][:0]
	}
	for i := range r.text {
		r.text[i].reset()
	}
	r.ids.reset()
	r.size, r.nIDs = [nTextColumns]int{}, 0
}

// str copies b into column col's arena and returns a string that views the
// copy.
func (r *Rows) str(col int, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	s := r.text[col].take(len(b), chunkSize)
	copy(s, b)
	r.size[col] += len(b)
	return unsafe.String(&s[0], len(s))
}

// Append adds one event as a row.
func (r *Rows) Append(e *event.Event) {
	r.EventID = append(r.EventID, r.str(colEventID, e.EventID))
	r.PixelID = append(r.PixelID, r.str(colPixelID, e.PixelID))
	r.VisitorID = append(r.VisitorID, r.str(colVisitorID, e.VisitorID))
	r.SessionID = append(r.SessionID, r.str(colSessionID, e.SessionID))
	r.Event = append(r.Event, r.str(colEvent, e.Name))
	r.TS = append(r.TS, e.TS)
	r.ReceivedAt = append(r.ReceivedAt, e.ReceivedAt)
	r.URL = append(r.URL, r.str(colURL, e.URL))
	r.Referrer = append(r.Referrer, r.str(colReferrer, e.Referrer))
	r.Value = append(r.Value, e.Value)
	r.Currency = append(r.Currency, r.str(colCurrency, e.Currency))
	r.OrderID = append(r.OrderID, r.str(colOrderID, e.OrderID))
	var ids []string
	if len(e.ContentIDs) > 0 {
		ids = r.ids.take(len(e.ContentIDs), idChunkSize)
		r.nIDs += len(ids)
		for i, id := range e.ContentIDs {
			ids[i] = r.str(colContentIDs, id)
		}
	}
	r.ContentIDs = append(r.ContentIDs, ids)
	r.IP = append(r.IP, r.str(colIP, e.IP))
	r.UserAgent = append(r.UserAgent, r.str(colUserAgent, e.UserAgent))
	r.Props = append(r.Props, r.str(colProps, e.Props))
	// Validate keeps these in their columns' ranges.
	r.TSMs = append(r.TSMs, uint64(e.Millis()))
	r.ClickTSMs = append(r.ClickTSMs, uint64(e.ClickTSMs))
	r.EngagedMs = append(r.EngagedMs, uint32(e.EngagedMs))
	r.GPC = append(r.GPC, flag(e.GPC))
	r.DNT = append(r.DNT, flag(e.DNT))
	r.IsBot = append(r.IsBot, flag(e.IsBot))
	for i, s := range &e.Tracking {
		r.Tracking[i] = append(r.Tracking[i], r.str(colTracking+i, s))
	}
}

func flag(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Digest is a short hash of the rows' event ids in order. Together with the
// Kafka offsets it names a batch for insert de-duplication: offsets alone
// repeat when a topic is recreated or a second Kafka cluster feeds the same
// table, and two such batches must not be mistaken for one.
func (r *Rows) Digest() string {
	// One Write for the batch: a Write per event id cost more than hashing.
	b := r.digest[:0]
	for _, id := range r.EventID {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	r.digest = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Insert writes rows into the events table with one columnar batch. It is
// safe to call again with the same rows after an error: every call builds the
// driver's batch from the same columns, so a retry sends the same rows in the
// same order.
//
// token, when not empty, names the batch: on servers that know the setting
// (InsertDeduplicationToken, 22.2 and later) every attempt sends it as
// insert_deduplication_token, and the server drops a retry of a block it had
// already stored although the client saw an error (the events table keeps a
// de-duplication window from migration 0003). Older servers do not know the
// setting and would refuse the insert, so they get none; there the copy is
// byte-identical, ReplacingMergeTree collapses it on merge and exact queries
// de-duplicate by event_id.
func Insert(ctx context.Context, conn driver.Conn, rows *Rows, token string) error {
	return insert(ctx, conn, insertEvents, rows, token)
}

// insert is Insert with the statement (tests insert into a cluster's local
// tables with it).
func insert(ctx context.Context, conn driver.Conn, stmt string, rows *Rows, token string) error {
	if rows.Len() == 0 {
		return nil
	}
	v, err := handshakeVersion(conn)
	if err != nil {
		return fmt.Errorf("cannot insert %d rows into events: %w", rows.Len(), err)
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(insertSettings(v, token)))
	sizeStringColumns(rows)
	batch, err := conn.PrepareBatch(ctx, stmt)
	forgetStringSizes()
	if err != nil {
		return fmt.Errorf("cannot prepare insert into events: %w", err)
	}
	cols := []any{
		rows.EventID, rows.PixelID, rows.VisitorID, rows.SessionID, rows.Event,
		rows.TS, rows.ReceivedAt, rows.URL, rows.Referrer, rows.Value,
		rows.Currency, rows.OrderID, rows.ContentIDs, rows.IP, rows.UserAgent, rows.Props,
		rows.TSMs, rows.EngagedMs, rows.ClickTSMs, rows.GPC, rows.DNT, rows.IsBot,
	}
	for i := range rows.Tracking {
		cols = append(cols, rows.Tracking[i])
	}
	for i, col := range cols {
		if err := batch.Column(i).Append(col); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("cannot append column %d of events: %w", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("cannot insert %d rows into events: %w", rows.Len(), err)
	}
	return nil
}

// insertSettings returns the settings an insert named token sends to a
// server of version v.
//
// insert_distributed_sync=1 always: on a cluster (pixelctl migrate
// -cluster) events is a Distributed table, whose inserts 18.16 otherwise
// queues on the receiving node and sends to the shards later, so that the
// consumer's "commit only after ClickHouse acknowledged" would not hold. With
// it the insert returns once every shard's part of the block is stored on a
// replica of that shard. On a plain table the setting changes nothing; 18.16
// and current servers know it.
func insertSettings(v Version, token string) clickhouse.Settings {
	s := clickhouse.Settings{"insert_distributed_sync": 1}
	if token != "" && v.AtLeast(InsertDeduplicationToken) {
		s["insert_deduplication_token"] = token
	}
	return s
}

var insertEvents = schemas.Internal("insert_events")

// The driver builds fresh columns for every batch, and a String column's
// buffers start empty and double as they grow: the largest part of the
// driver's work was growing them (copying and clearing fresh memory). Insert
// tells the driver, through its column provider hook, how large each String
// column of the batch it is about to prepare will be, so that each buffer is
// allocated once at its size. The sizes hold only while the batch is
// prepared, and they are only capacity: a column of another statement, or of
// an insert running at the same time, that gets them stays correct.
var strSizes struct {
	once sync.Once
	mu   sync.Mutex
	size map[string]strSize // by column name
}

type strSize struct{ rows, bytes int }

// sizeStringColumns records the String column sizes of rows, as Append
// counted them.
func sizeStringColumns(r *Rows) {
	strSizes.once.Do(func() {
		strSizes.size = map[string]strSize{}
		column.WithColStrProvider(func(name string) proto.ColStr {
			strSizes.mu.Lock()
			sz := strSizes.size[name]
			strSizes.mu.Unlock()
			if sz.rows == 0 {
				return proto.ColStr{}
			}
			return proto.ColStr{Buf: make([]byte, 0, sz.bytes), Pos: make([]proto.Position, 0, sz.rows)}
		})
	})
	strSizes.mu.Lock()
	defer strSizes.mu.Unlock()
	for col, name := range textColumns {
		rows := r.Len()
		if col == colContentIDs {
			rows = r.nIDs // the strings of the Array(String) column
		}
		strSizes.size[name] = strSize{rows: rows, bytes: r.size[col]}
	}
}

// forgetStringSizes ends the sizes' validity once the batch is prepared.
func forgetStringSizes() {
	strSizes.mu.Lock()
	defer strSizes.mu.Unlock()
	clear(strSizes.size)
}
