package spool

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSegmentReader writes arbitrary bytes as a segment file, with a cursor
// into it, as the last segment or followed by one valid segment. Open and
// ReadBatch must not fail or panic, must return exactly the valid records
// that follow the cursor back to back (so each one's checksum is right), and
// must agree with Records.
func FuzzSegmentReader(f *testing.F) {
	var valid []byte
	for i := range 5 {
		r := rec(i)
		valid = appendRecord(valid, r.Key, r.Value, r.Time)
	}
	f.Add(valid, uint32(0), false)
	f.Add(valid, uint32(0), true)
	f.Add(valid[:len(valid)-3], uint32(0), false)
	f.Add(append(valid[:len(valid):len(valid)], 0xff, 0xff, 0xff, 0x00), uint32(0), true)
	f.Add([]byte{}, uint32(0), true)
	f.Add([]byte{0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0}, uint32(0), false) // a 16 MiB record that is not there
	f.Add(binary.LittleEndian.AppendUint32(nil, MaxRecordBytes+1), uint32(0), true)
	f.Add(valid, uint32(17), false) // a cursor inside a record
	f.Fuzz(func(t *testing.T, data []byte, off uint32, middle bool) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		start := int(off % uint32(len(data)+1))
		if err := os.WriteFile(filepath.Join(dir, cursorName), appendCursor(nil, Cursor{seg: 1, off: int64(start)}), 0o600); err != nil {
			t.Fatal(err)
		}
		tail := appendRecord(nil, []byte("tail"), []byte("after the fuzzed segment"), base)
		if middle {
			if err := os.WriteFile(filepath.Join(dir, segName(2)), tail, 0o600); err != nil {
				t.Fatal(err)
			}
		}

		s, err := Open(Options{Dir: dir, Fsync: Never})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		want := s.Records()
		pos, read, gotTail := start, 0, false
		var batch []Record
		var c Cursor
		for {
			batch, c, err = s.ReadBatch(batch, 1+int(off%5), 1+int(off%200))
			if err != nil {
				t.Fatalf("ReadBatch: %v", err)
			}
			if len(batch) == 0 {
				break
			}
			for _, r := range batch {
				enc := appendRecord(nil, r.Key, r.Value, r.Time)
				switch {
				case !gotTail && bytes.HasPrefix(data[pos:], enc):
					pos += len(enc)
				case middle && !gotTail && bytes.Equal(enc, tail):
					gotTail = true
				default:
					t.Fatalf("record %d {%q %q %v} is not the next valid record at %d", read, r.Key, r.Value, r.Time, pos)
				}
				read++
			}
		}
		if middle != gotTail {
			t.Fatalf("middle=%v, but read the following segment: %v", middle, gotTail)
		}
		if int64(read) != want {
			t.Fatalf("read %d records, Records() said %d", read, want)
		}
		st := s.Stats()
		if !middle {
			if st.CorruptRecords != 0 || st.TornBytes != uint64(len(data)-pos) {
				t.Fatalf("last segment of %d bytes, valid to %d: Stats() = %+v", len(data), pos, st)
			}
		}
		if err := s.Commit(c); err != nil {
			t.Fatalf("Commit(%v): %v", c, err)
		}
		if got := s.Records(); got != 0 {
			t.Fatalf("Records() = %d after committing all", got)
		}
		// The writer carries on after whatever it found.
		if err := s.Append([]byte("k"), []byte("v"), base); err != nil {
			t.Fatalf("Append: %v", err)
		}
		if batch, _, err = s.ReadBatch(batch, 10, 1<<20); err != nil || len(batch) != 1 || string(batch[0].Value) != "v" {
			t.Fatalf("ReadBatch after Append = %d records, %v", len(batch), err)
		}
	})
}

// FuzzRoundTrip appends records cut from arbitrary bytes, with tiny segments,
// reads half of them back, reopens the spool and reads the rest: every record
// comes back identical and in order.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello, spool: some events for Kafka"), uint16(100), uint8(3), uint16(40))
	f.Add(bytes.Repeat([]byte{0xff}, 300), uint16(0), uint8(0), uint16(0))
	f.Add([]byte{}, uint16(1), uint8(1), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, segBytes uint16, maxRecords uint8, maxBytes uint16) {
		// Each record takes a control byte: key length, value length and
		// whether to batch it with the next; then 8 bytes of time.
		var recs []Record
		var batched []bool
		for len(data) > 0 {
			h := data[0]
			data = data[1:]
			var ts [8]byte
			data = data[copy(ts[:], data):]
			k := min(int(h&7), len(data))
			key := data[:k]
			data = data[k:]
			v := min(int(h>>4)*5, len(data))
			recs = append(recs, Record{Key: key, Value: data[:v], Time: time.Unix(0, int64(binary.LittleEndian.Uint64(ts[:])))})
			batched = append(batched, h&8 != 0)
			data = data[v:]
		}

		dir := t.TempDir()
		opt := Options{Dir: dir, SegmentBytes: 16 + int64(segBytes%512), Fsync: Never}
		s, err := Open(opt)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { s.Close() }()
		for i := 0; i < len(recs); i++ {
			if batched[i] && i+1 < len(recs) {
				if err := s.AppendBatch(recs[i : i+2]); err != nil {
					t.Fatal(err)
				}
				i++
				continue
			}
			if err := s.Append(recs[i].Key, recs[i].Value, recs[i].Time); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.Records(); got != int64(len(recs)) {
			t.Fatalf("Records() = %d, want %d", got, len(recs))
		}

		next := 0
		var batch []Record
		readAll := func(stopAt int) {
			for next < stopAt {
				var c Cursor
				batch, c, err = s.ReadBatch(batch, int(maxRecords), int(maxBytes))
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 {
					t.Fatalf("caught up after %d of %d records", next, len(recs))
				}
				for _, r := range batch {
					w := recs[next]
					if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || !r.Time.Equal(w.Time) {
						t.Fatalf("record %d = {%q %q %v}, want {%q %q %v}", next, r.Key, r.Value, r.Time, w.Key, w.Value, w.Time)
					}
					next++
				}
				if err := s.Commit(c); err != nil {
					t.Fatal(err)
				}
			}
		}
		readAll(len(recs) / 2)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err = Open(opt); err != nil {
			t.Fatal(err)
		}
		if got := s.Records(); got != int64(len(recs)-next) {
			t.Fatalf("after reopen Records() = %d, want %d", got, len(recs)-next)
		}
		readAll(len(recs))
		if batch, _, _ = s.ReadBatch(batch, 10, 1<<20); len(batch) != 0 {
			t.Fatalf("%d records after the last one", len(batch))
		}
		if got := s.Records(); got != 0 {
			t.Fatalf("Records() = %d after committing all", got)
		}
		if st := s.Stats(); st.CorruptRecords != 0 || st.TornBytes != 0 {
			t.Fatalf("Stats() = %+v", st)
		}
	})
}
