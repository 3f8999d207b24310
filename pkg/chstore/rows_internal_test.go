package chstore

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// arenaEvent fills e with strings derived from i whose URL is size bytes, into
// buffers that the caller reuses, so that a Rows keeping a reference to an
// event's memory instead of copying it would show.
func arenaEvent(e *event.Event, buf []byte, round, i, size int) []byte {
	pattern := fmt.Appendf(nil, "r%d-i%d-", round, i)
	buf = append(buf[:0], bytes.Repeat(pattern, size/len(pattern)+1)...)
	*e = event.Event{
		EventID:    fmt.Appendf(nil, "ev-%d-%d", round, i),
		PixelID:    []byte("px"),
		VisitorID:  fmt.Appendf(nil, "v-%d", i%7),
		Name:       []byte("PageView"),
		URL:        buf[:size],
		ContentIDs: [][]byte{fmt.Appendf(nil, "sku-%d", i), {}},
		ReceivedAt: int64(i + 1),
	}
	return buf
}

func checkArena(t *testing.T, r *Rows, round int, sizes []int) {
	t.Helper()
	if r.Len() != len(sizes) {
		t.Fatalf("round %d: %d rows, want %d", round, r.Len(), len(sizes))
	}
	var e event.Event
	var buf []byte
	for i, size := range sizes {
		buf = arenaEvent(&e, buf, round, i, size)
		if r.URL[i] != string(e.URL) || r.EventID[i] != string(e.EventID) || r.VisitorID[i] != string(e.VisitorID) ||
			r.ContentIDs[i][0] != string(e.ContentIDs[0]) || r.ContentIDs[i][1] != "" {
			t.Fatalf("round %d row %d: strings changed after later appends (url %d bytes, want %d)", round, i, len(r.URL[i]), size)
		}
	}
}

func TestRowsArenaAcrossChunksAndReset(t *testing.T) {
	var r Rows
	var e event.Event
	var buf []byte
	// Round 0: many medium strings spanning several chunks, plus strings
	// larger than a chunk. Round 1, after Reset, reuses the chunks with
	// different sizes, so new strings land where old ones were.
	rounds := [][]int{
		make([]int, 0, 600),
		make([]int, 0, 600),
	}
	for i := range 600 {
		size := 4096 + i*37%20000
		if i%150 == 149 {
			size = chunkSize + 12345 // its own, larger chunk
		}
		rounds[0] = append(rounds[0], size)
		rounds[1] = append(rounds[1], 1+(i*7919)%30000)
	}
	scribble := bytes.Repeat([]byte{'X'}, 2*chunkSize)
	for round, sizes := range rounds {
		r.Reset()
		total := 0
		for i, size := range sizes {
			buf = arenaEvent(&e, buf, round, i, size)
			r.Append(&e)
			total += len(e.EventID) + len(e.PixelID) + len(e.VisitorID) + len(e.Name) + len(e.URL) + len(e.ContentIDs[0])
			// Scribble over the source: Rows must hold copies.
			copy(buf, scribble)
		}
		if r.Bytes() != total {
			t.Fatalf("round %d: Bytes() = %d, want %d", round, r.Bytes(), total)
		}
		if total < 4*chunkSize {
			t.Fatalf("round %d: only %d bytes; the test must span several chunks", round, total)
		}
		checkArena(t, &r, round, sizes)
	}
	chunks := r.chunkCount()

	// Once warm, a batch of the same shape allocates no new chunks.
	r.Reset()
	for i, size := range rounds[1] {
		buf = arenaEvent(&e, buf, 1, i, size)
		r.Append(&e)
	}
	checkArena(t, &r, 1, rounds[1])
	if r.chunkCount() != chunks {
		t.Fatalf("chunks grew from %d to %d for a batch that fits the kept memory", chunks, r.chunkCount())
	}
	r.Reset()
	if r.Len() != 0 || r.Bytes() != 0 || len(r.ContentIDs) != 0 {
		t.Fatalf("Reset left %d rows, %d bytes", r.Len(), r.Bytes())
	}
	if !bytes.Equal([]byte(r.str(colURL, []byte("after reset"))), []byte("after reset")) {
		t.Fatal("str after Reset")
	}
}

func TestRowsEmptyStringsDoNotTouchTheArena(t *testing.T) {
	var r Rows
	r.Append(&event.Event{})
	if r.Bytes() != 0 || r.chunkCount() != 0 {
		t.Fatalf("an empty event used %d bytes, %d chunks", r.Bytes(), r.chunkCount())
	}
	if r.ContentIDs[0] != nil || r.EventID[0] != "" {
		t.Fatal("empty event must give empty columns")
	}
}

func TestRowsDigest(t *testing.T) {
	digest := func(ids ...string) string {
		var r Rows
		for _, id := range ids {
			r.Append(&event.Event{EventID: []byte(id)})
		}
		return r.Digest()
	}
	base := digest("e1", "e2", "e3")
	if len(base) != 32 {
		t.Fatalf("Digest() = %q, want 32 hex digits", base)
	}
	if again := digest("e1", "e2", "e3"); again != base {
		t.Fatalf("the same ids gave %q and %q", base, again)
	}
	seen := map[string]string{base: "e1 e2 e3"}
	for name, d := range map[string]string{
		"other order":      digest("e2", "e1", "e3"),
		"one more":         digest("e1", "e2", "e3", "e4"),
		"one less":         digest("e1", "e2"),
		"ids run together": digest("e1e2", "e3"),
		"split otherwise":  digest("e", "1e2", "e3"),
		"empty":            digest(),
		"one empty id":     digest(""),
	} {
		if prev, dup := seen[d]; dup {
			t.Errorf("%s has the digest of %s", name, prev)
		}
		seen[d] = name
	}
}

// Content id lists come from an arena of their own: lists of every length,
// over several of its chunks and across a Reset, keep their ids, and a warm
// Rows allocates none for the next batch.
func TestRowsContentIDsArena(t *testing.T) {
	var r Rows
	list := func(round, i int) [][]byte {
		ids := make([][]byte, (i*13+round)%40)
		if i%500 == 499 {
			ids = make([][]byte, idChunkSize+3) // a list larger than a chunk
		}
		for j := range ids {
			ids[j] = fmt.Appendf(nil, "r%d-e%d-id%d", round, i, j)
		}
		return ids
	}
	for round := range 2 {
		r.Reset()
		for i := range 2000 {
			r.Append(&event.Event{ContentIDs: list(round, i)})
		}
		if r.ids.used < 3 {
			t.Fatalf("round %d: %d id chunks; the test must span several", round, r.ids.used)
		}
		for i, got := range r.ContentIDs {
			want := list(round, i)
			if len(got) != len(want) || (len(want) == 0) != (got == nil) {
				t.Fatalf("round %d row %d: %d ids, want %d", round, i, len(got), len(want))
			}
			for j := range want {
				if got[j] != string(want[j]) {
					t.Fatalf("round %d row %d id %d = %q, want %q", round, i, j, got[j], want[j])
				}
			}
		}
	}
	chunks := len(r.ids.chunks)
	r.Reset()
	for i := range 2000 {
		r.Append(&event.Event{ContentIDs: list(1, i)})
	}
	if len(r.ids.chunks) != chunks {
		t.Fatalf("id chunks grew from %d to %d for a batch that fits the kept memory", chunks, len(r.ids.chunks))
	}
}

// chunkCount is the number of byte chunks of every column's arena.
func (r *Rows) chunkCount() int {
	n := 0
	for i := range r.text {
		n += len(r.text[i].chunks)
	}
	return n
}

// The String column sizes Insert gives the driver are those of the rows'
// columns: as many strings as rows (content_ids: as many as ids) and the sum
// of their lengths, counted afresh after a Reset.
func TestSizeStringColumns(t *testing.T) {
	var r Rows
	var e event.Event
	var buf []byte
	for round := range 2 {
		r.Reset()
		for i := range 50 {
			buf = arenaEvent(&e, buf, round, i, 10+i*(round+1))
			r.Append(&e)
		}
		sizeStringColumns(&r)
		cols := map[string][]string{
			"event_id": r.EventID, "pixel_id": r.PixelID, "visitor_id": r.VisitorID, "session_id": r.SessionID,
			"event": r.Event, "url": r.URL, "referrer": r.Referrer, "currency": r.Currency, "order_id": r.OrderID,
			"ip": r.IP, "user_agent": r.UserAgent, "props": r.Props,
		}
		for i, name := range event.TrackingColumns {
			cols[name] = r.Tracking[i]
		}
		var ids []string
		for _, l := range r.ContentIDs {
			ids = append(ids, l...)
		}
		cols["content_ids"] = ids
		for name, col := range cols {
			n := 0
			for _, s := range col {
				n += len(s)
			}
			if got, want := strSizes.size[name], (strSize{rows: len(col), bytes: n}); got != want {
				t.Errorf("round %d: size of %s = %+v, want %+v", round, name, got, want)
			}
		}
		if len(strSizes.size) != len(cols) {
			t.Errorf("round %d: %d columns sized, want %d", round, len(strSizes.size), len(cols))
		}
		forgetStringSizes()
	}
}
