package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// base is the Time of record 0 in these tests; record i is i nanoseconds
// later.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func key(i int) []byte { return fmt.Appendf(nil, "visitor-%d", i%7) }
func value(i int) []byte {
	return fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", i%13))
}

func rec(i int) Record { return Record{Key: key(i), Value: value(i), Time: base.Add(time.Duration(i))} }

// openSpool opens a spool in dir and closes it when the test ends.
func openSpool(t testing.TB, opt Options) *Spool {
	t.Helper()
	s, err := Open(opt)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opt, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendRange appends records from..to-1, every third call a batch of three.
func appendRange(t testing.TB, s *Spool, from, to int) {
	t.Helper()
	for i := from; i < to; {
		if i%3 == 0 && i+3 <= to {
			if err := s.AppendBatch([]Record{rec(i), rec(i + 1), rec(i + 2)}); err != nil {
				t.Fatalf("AppendBatch(%d..%d): %v", i, i+2, err)
			}
			i += 3
			continue
		}
		r := rec(i)
		if err := s.Append(r.Key, r.Value, r.Time); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		i++
	}
}

// checkRecord fails unless got is record i.
func checkRecord(t testing.TB, got Record, i int) {
	t.Helper()
	want := rec(i)
	if !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) || !got.Time.Equal(want.Time) {
		t.Fatalf("record %d = {%q %q %v}, want {%q %q %v}", i, got.Key, got.Value, got.Time, want.Key, want.Value, want.Time)
	}
}

// drain reads and commits everything, checking that the records are
// from..from+len-1 in order, and returns how many there were.
func drain(t testing.TB, s *Spool, from, maxRecords, maxBytes int) int {
	t.Helper()
	var batch []Record
	n := 0
	for {
		var c Cursor
		var err error
		batch, c, err = s.ReadBatch(batch, maxRecords, maxBytes)
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		for _, r := range batch {
			checkRecord(t, r, from+n)
			n++
		}
		if err := s.Commit(c); err != nil {
			t.Fatalf("Commit(%v): %v", c, err)
		}
		if len(batch) == 0 {
			return n
		}
	}
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestParseFsyncPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want FsyncPolicy
		ok   bool
	}{
		{"always", Always, true},
		{"interval", Interval, true},
		{"never", Never, true},
		{"", 0, false},
		{"Always", 0, false},
		{"sometimes", 0, false},
	} {
		got, err := ParseFsyncPolicy(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseFsyncPolicy(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

// TestRecordFormat pins the documented on-disk format with an encoder written
// from the package doc.
func TestRecordFormat(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, Fsync: Never})
	ts := time.Unix(0, 1_700_000_000_123_456_789)
	if err := s.Append([]byte("vis"), []byte(`{"a":1}`), ts); err != nil {
		t.Fatal(err)
	}
	payload := binary.LittleEndian.AppendUint64(nil, uint64(ts.UnixNano()))
	payload = binary.LittleEndian.AppendUint16(payload, 3)
	payload = append(payload, `vis{"a":1}`...)
	want := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	want = append(want, payload...)

	files := segFiles(t, dir)
	if len(files) != 1 || filepath.Base(files[0]) != "00000000000000000001.seg" {
		t.Fatalf("segment files = %v, want [00000000000000000001.seg]", files)
	}
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("segment bytes\n got %x\nwant %x", got, want)
	}

	// A second record, so that committing the first leaves the spool
	// non-empty (a drained spool moves to a fresh segment).
	if err := s.Append([]byte("vis"), []byte(`{"a":2}`), ts); err != nil {
		t.Fatal(err)
	}
	_, c, err := s.ReadBatch(nil, 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(c); err != nil {
		t.Fatal(err)
	}
	cursor, err := os.ReadFile(filepath.Join(dir, cursorName))
	if err != nil {
		t.Fatal(err)
	}
	if len(cursor) != cursorFileSize {
		t.Fatalf("cursor file is %d bytes, want %d", len(cursor), cursorFileSize)
	}
	// Open wrote generation 1 into both slots; the commit replaced slot 0
	// with generation 2.
	line := fmt.Sprintf("00000000000000000001.seg %d 2", len(want))
	slot := fmt.Sprintf("%s %08x\n", line, crc32.Checksum([]byte(line), crc32.MakeTable(crc32.Castagnoli)))
	slot += strings.Repeat("\x00", cursorSlotSize-len(slot))
	if got := string(cursor[:cursorSlotSize]); got != slot {
		t.Fatalf("cursor slot 0 = %q, want %q", got, slot)
	}
	if got, gen, ok := parseCursorFile(cursor); !ok || gen != 2 || got.seg != 1 || got.off != int64(len(want)) {
		t.Fatalf("parseCursorFile = %v gen %d ok %v", got, gen, ok)
	}
}

func TestSegName(t *testing.T) {
	for _, seq := range []uint64{0, 1, 42, 1<<64 - 1} {
		name := segName(seq)
		if len(name) != segNameLen {
			t.Errorf("segName(%d) = %q: length %d", seq, name, len(name))
		}
		if got, ok := parseSegName(name); !ok || got != seq {
			t.Errorf("parseSegName(%q) = %d, %v", name, got, ok)
		}
	}
	for _, name := range []string{"", "1.seg", "0000000000000000000x.seg", "00000000000000000001.sex", "99999999999999999999.seg", "+0000000000000000001.seg"} {
		if seq, ok := parseSegName(name); ok {
			t.Errorf("parseSegName(%q) = %d, want rejected", name, seq)
		}
	}
}

func TestAppendReadCommitAcrossSegments(t *testing.T) {
	for _, policy := range []FsyncPolicy{Always, Interval, Never} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := openSpool(t, Options{Dir: dir, SegmentBytes: 1 << 10, Fsync: policy, FsyncInterval: time.Millisecond})
			n := 1000
			if policy == Always { // an fsync per call is slow
				n = 300
			}
			appendRange(t, s, 0, n)
			if got := s.Records(); got != int64(n) {
				t.Fatalf("Records() = %d, want %d", got, n)
			}
			if got, want := s.Oldest(), rec(0).Time; !got.Equal(want) {
				t.Fatalf("Oldest() = %v, want %v", got, want)
			}
			segs := len(segFiles(t, dir))
			if segs < 10 {
				t.Fatalf("%d segment files, want many rolls", segs)
			}
			var size int64
			for _, f := range segFiles(t, dir) {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				size += fi.Size()
			}
			if got := s.Bytes(); got != size {
				t.Fatalf("Bytes() = %d, files hold %d", got, size)
			}

			// Read in batches of 7, committing every other batch.
			var batch []Record
			read := 0
			for {
				var c Cursor
				var err error
				batch, c, err = s.ReadBatch(batch, 7, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 {
					if err := s.Commit(c); err != nil {
						t.Fatal(err)
					}
					break
				}
				for _, r := range batch {
					checkRecord(t, r, read)
					read++
				}
				if read%2 == 0 {
					if err := s.Commit(c); err != nil {
						t.Fatal(err)
					}
					if got := s.Records(); got != int64(n-read) {
						t.Fatalf("after committing %d: Records() = %d, want %d", read, got, n-read)
					}
					if read < n {
						if got, want := s.Oldest(), rec(read).Time; !got.Equal(want) {
							t.Fatalf("after committing %d: Oldest() = %v, want %v", read, got, want)
						}
					}
				}
			}
			if read != n {
				t.Fatalf("read %d records, want %d", read, n)
			}
			if got := s.Records(); got != 0 {
				t.Fatalf("Records() = %d after committing all", got)
			}
			if got := s.Oldest(); !got.IsZero() {
				t.Fatalf("Oldest() = %v after committing all, want zero", got)
			}
			if files := segFiles(t, dir); len(files) != 1 {
				t.Fatalf("after committing all, segment files = %v, want only the one being written", files)
			}
			st := s.Stats()
			if st.Appended != uint64(n) || st.Committed != uint64(n) || st.CorruptRecords != 0 || st.TornBytes != 0 {
				t.Fatalf("Stats() = %+v", st)
			}
			if policy == Always && st.Fsyncs < uint64(n/3) {
				t.Fatalf("policy always: %d fsyncs for %d records", st.Fsyncs, n)
			}
			if policy == Never && st.Fsyncs != 0 {
				t.Fatalf("policy never: %d fsyncs", st.Fsyncs)
			}
		})
	}
}

func TestReadBatchLimits(t *testing.T) {
	// Ten records whose key and value are 10 bytes together.
	for _, tc := range []struct {
		name                 string
		maxRecords, maxBytes int
		want                 []int // batch sizes
	}{
		{"records", 3, 1000, []int{3, 3, 3, 1}},
		{"bytes", 100, 25, []int{2, 2, 2, 2, 2}},
		{"bytes exact", 100, 30, []int{3, 3, 3, 1}},
		{"both", 2, 35, []int{2, 2, 2, 2, 2}},
		{"record larger than maxBytes", 100, 5, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"zero limits count as one", 0, 0, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"everything", 100, 1 << 20, []int{10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openSpool(t, Options{Dir: t.TempDir(), Fsync: Never})
			for i := range 10 {
				if err := s.Append([]byte("key"), fmt.Appendf(nil, "value%02d", i), base); err != nil {
					t.Fatal(err)
				}
			}
			var got []int
			var batch []Record
			next := 0
			for {
				var err error
				batch, _, err = s.ReadBatch(batch, tc.maxRecords, tc.maxBytes)
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 {
					break
				}
				got = append(got, len(batch))
				for _, r := range batch {
					if want := fmt.Sprintf("value%02d", next); string(r.Value) != want {
						t.Fatalf("record %d: value %q, want %q", next, r.Value, want)
					}
					next++
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("batch sizes %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConcurrentAppendAndRead appends from several goroutines while one
// reader reads and commits: every record arrives exactly once, and each
// goroutine's records in the order it appended them.
func TestConcurrentAppendAndRead(t *testing.T) {
	const writers, perWriter = 4, 3000
	s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 8 << 10, Fsync: Interval, FsyncInterval: time.Millisecond})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			key := []byte{byte(w)}
			var v [8]byte
			for i := 0; i < perWriter; i++ {
				binary.LittleEndian.PutUint64(v[:], uint64(i))
				var err error
				if i%5 == 0 && i+1 < perWriter { // now and then two at once
					var v2 [8]byte
					binary.LittleEndian.PutUint64(v2[:], uint64(i+1))
					err = s.AppendBatch([]Record{{Key: key, Value: v[:], Time: base}, {Key: key, Value: v2[:], Time: base}})
					i++
				} else {
					err = s.Append(key, v[:], base)
				}
				if err != nil {
					t.Errorf("writer %d, record %d: %v", w, i, err)
					return
				}
			}
		})
	}

	next := make([]uint64, writers) // next record expected from each writer
	total := 0
	var batch []Record
	for total < writers*perWriter {
		var c Cursor
		var err error
		batch, c, err = s.ReadBatch(batch, 100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range batch {
			w := int(r.Key[0])
			i := binary.LittleEndian.Uint64(r.Value)
			if i != next[w] {
				t.Fatalf("writer %d: got record %d, want %d", w, i, next[w])
			}
			next[w]++
			total++
		}
		if err := s.Commit(c); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if batch, _, _ = s.ReadBatch(batch, 100, 1<<20); len(batch) != 0 {
		t.Fatalf("%d records after all were read", len(batch))
	}
	if got := s.Records(); got != 0 {
		t.Fatalf("Records() = %d after committing all", got)
	}
}

func TestReopenResumesAtCommittedCursor(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir, SegmentBytes: 512, Fsync: Never}
	s := openSpool(t, opt)
	appendRange(t, s, 0, 100)
	batch, c, err := s.ReadBatch(nil, 40, 1<<20)
	if err != nil || len(batch) != 40 {
		t.Fatalf("ReadBatch = %d records, %v", len(batch), err)
	}
	if err := s.Commit(c); err != nil {
		t.Fatal(err)
	}
	if batch, _, err = s.ReadBatch(batch, 20, 1<<20); err != nil || len(batch) != 20 { // read, never committed
		t.Fatalf("ReadBatch = %d records, %v", len(batch), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSpool(t, opt)
	if got := s.Records(); got != 60 {
		t.Fatalf("after reopen: Records() = %d, want 60", got)
	}
	if got, want := s.Oldest(), rec(40).Time; !got.Equal(want) {
		t.Fatalf("after reopen: Oldest() = %v, want %v", got, want)
	}
	appendRange(t, s, 100, 150)
	if n := drain(t, s, 40, 9, 1<<20); n != 110 {
		t.Fatalf("after reopen read %d records, want 110", n)
	}
	if got := s.Records(); got != 0 {
		t.Fatalf("Records() = %d after committing all", got)
	}
}

func TestRewind(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 256, Fsync: Never})
	appendRange(t, s, 0, 50)
	_, c, err := s.ReadBatch(nil, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(c); err != nil {
		t.Fatal(err)
	}
	for range 3 { // a delivery that keeps failing
		if _, _, err := s.ReadBatch(nil, 25, 1<<20); err != nil {
			t.Fatal(err)
		}
		s.Rewind()
	}
	if n := drain(t, s, 10, 25, 1<<20); n != 40 {
		t.Fatalf("after Rewind read %d records, want 40", n)
	}
	if got := s.Records(); got != 0 {
		t.Fatalf("Records() = %d after committing all", got)
	}
}

func TestCommitCursors(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir(), Fsync: Never})
	appendRange(t, s, 0, 10)
	_, c1, _ := s.ReadBatch(nil, 3, 1<<20)
	_, c2, _ := s.ReadBatch(nil, 3, 1<<20)
	if err := s.Commit(c2); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(c1); err != nil { // behind the committed cursor: ignored
		t.Fatalf("Commit of an older cursor: %v", err)
	}
	if got := s.Records(); got != 4 {
		t.Fatalf("Records() = %d, want 4", got)
	}
	_, c3, _ := s.ReadBatch(nil, 3, 1<<20)
	s.Rewind()
	if err := s.Commit(c3); err == nil || !strings.Contains(err.Error(), "Rewind") {
		t.Fatalf("Commit of a cursor from before Rewind = %v, want an error", err)
	}
}

// TestTornTail simulates a crash in the middle of writing the last record:
// the last segment is cut at every byte offset inside that record, and Open
// must keep every complete record.
func TestTornTail(t *testing.T) {
	const n = 30
	tmpl := t.TempDir() // written once, copied for every cut
	s := openSpool(t, Options{Dir: tmpl, SegmentBytes: 1 << 10, Fsync: Never})
	appendRange(t, s, 0, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := segFiles(t, tmpl)
	last := files[len(files)-1]
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	lastSize, _ := recordSize(len(key(n-1)), len(value(n-1)))
	start := len(data) - lastSize

	for cut := start; cut <= len(data); cut++ {
		dir := t.TempDir()
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if f == last {
				b = b[:cut]
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := openSpool(t, Options{Dir: dir, SegmentBytes: 1 << 10, Fsync: Never})
		want := n - 1
		if cut == len(data) {
			want = n
		}
		if got := s.Records(); got != int64(want) {
			t.Fatalf("cut at %d: Records() = %d, want %d", cut, got, want)
		}
		wantTorn := uint64(cut - start)
		if cut == len(data) {
			wantTorn = 0
		}
		if got := s.Stats().TornBytes; got != wantTorn {
			t.Fatalf("cut at %d: TornBytes = %d, want %d", cut, got, wantTorn)
		}
		appendRange(t, s, want, n+5) // the writer continues after the last complete record
		if got := drain(t, s, 0, 8, 1<<20); got != n+5 {
			t.Fatalf("cut at %d: read %d records, want %d", cut, got, n+5)
		}
		if st := s.Stats(); st.CorruptRecords != 0 {
			t.Fatalf("cut at %d: %d corrupt records", cut, st.CorruptRecords)
		}
		s.Close()
	}
}

// TestCorruptMiddleSegment damages one record of a segment that is not the
// last: the reader gets the records before it, skips the rest of that
// segment, counts it, and reads later segments.
func TestCorruptMiddleSegment(t *testing.T) {
	for _, tc := range []struct {
		name  string
		at    int // byte offset in the damaged record
		value byte
	}{
		{"length too large", 3, 0x7f},
		{"length too small", 0, 0x01},
		{"checksum", 5, 0xff},
		{"time", 9, 0xff},
		{"key length", 16, 0xff},
		{"value", 30, 'X'},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opt := Options{Dir: dir, SegmentBytes: 1 << 10, Fsync: Never}
			s := openSpool(t, opt)
			appendRange(t, s, 0, 200)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// Find the records of the middle segment and damage its third.
			files := segFiles(t, dir)
			mid := files[len(files)/2]
			data, err := os.ReadFile(mid)
			if err != nil {
				t.Fatal(err)
			}
			var offs []int
			for off := 0; off < len(data); {
				_, size, err := parseRecord(data[off:])
				if err != nil {
					t.Fatalf("%s at %d: %v", mid, off, err)
				}
				offs = append(offs, off)
				off += size
			}
			bad := offs[2]
			if data[bad+tc.at] == tc.value {
				t.Fatalf("byte %d is already %#x", bad+tc.at, tc.value)
			}
			data[bad+tc.at] = tc.value
			if err := os.WriteFile(mid, data, 0o600); err != nil {
				t.Fatal(err)
			}

			// Records before the middle segment, two of it, then the
			// segments after it.
			before := 0
			for _, f := range files[:len(files)/2] {
				b, _ := os.ReadFile(f)
				for off := 0; off < len(b); before++ {
					_, size, _ := parseRecord(b[off:])
					off += size
				}
			}
			skipped := len(offs) - 2

			s = openSpool(t, opt)
			if got, want := s.Records(), int64(200-skipped); got != want {
				t.Fatalf("Records() = %d, want %d", got, want)
			}
			var batch []Record
			var got []int
			for {
				var c Cursor
				batch, c, err = s.ReadBatch(batch, 16, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range batch {
					got = append(got, int(r.Time.Sub(base)))
				}
				if err := s.Commit(c); err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 {
					break
				}
			}
			var want []int
			for i := range 200 {
				if i < before+2 || i >= before+len(offs) {
					want = append(want, i)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("read records %v\nwant %v", got, want)
			}
			st := s.Stats()
			if st.CorruptRecords != 1 || st.CorruptBytes != uint64(len(data)-bad) {
				t.Fatalf("Stats() = %+v, want 1 corrupt record of %d bytes", st, len(data)-bad)
			}
			if got := s.Records(); got != 0 {
				t.Fatalf("Records() = %d after committing all", got)
			}
			if files := segFiles(t, dir); len(files) != 1 {
				t.Fatalf("segment files after committing all: %v", files)
			}
		})
	}
}

// TestCorruptWhileOpen damages a sealed segment the running spool wrote.
func TestCorruptWhileOpen(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, SegmentBytes: 1 << 10, Fsync: Never})
	appendRange(t, s, 0, 100)
	files := segFiles(t, dir)
	f, err := os.OpenFile(files[1], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var batch []Record
	read := 0
	for {
		var c Cursor
		batch, c, err = s.ReadBatch(batch, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		read += len(batch)
		if err := s.Commit(c); err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
	}
	if st := s.Stats(); st.CorruptRecords != 1 || read >= 100 || read == 0 {
		t.Fatalf("read %d records, Stats() = %+v; want one corrupt segment skipped", read, st)
	}
	if got := s.Records(); got != 0 {
		t.Fatalf("Records() = %d after committing all", got)
	}
	appendRange(t, s, 0, 3)
	if got := drain(t, s, 0, 10, 1<<20); got != 3 {
		t.Fatalf("read %d records after the corrupt segment, want 3", got)
	}
}

func TestBadCursorFile(t *testing.T) {
	for _, content := range []string{"", "garbage", "00000000000000000001.seg -1\n", "00000000000000000001.seg 12", strings.Repeat("9", 100)} {
		dir := t.TempDir()
		opt := Options{Dir: dir, SegmentBytes: 256, Fsync: Never}
		s := openSpool(t, opt)
		appendRange(t, s, 0, 20)
		s.Close()
		if err := os.WriteFile(filepath.Join(dir, cursorName), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s = openSpool(t, opt)
		if got := drain(t, s, 0, 7, 1<<20); got != 20 {
			t.Fatalf("cursor file %q: read %d records, want all 20 again", content, got)
		}
		s.Close()
	}
}

func TestCursorPastDeletedSegments(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir, SegmentBytes: 256, Fsync: Never}
	s := openSpool(t, opt)
	appendRange(t, s, 0, 20)
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, cursorName), []byte("00000000000000000999.seg 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, opt)
	if got := s.Records(); got != 0 {
		t.Fatalf("Records() = %d, want 0: the cursor is past every segment", got)
	}
	if files := segFiles(t, dir); len(files) != 1 || filepath.Base(files[0]) != segName(1000) {
		t.Fatalf("segment files %v, want only %s", files, segName(1000))
	}
	appendRange(t, s, 0, 5)
	if got := drain(t, s, 0, 7, 1<<20); got != 5 {
		t.Fatalf("read %d records, want 5", got)
	}
}

func TestFull(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, MaxBytes: 4 << 10, SegmentBytes: 1 << 10, Fsync: Never})
	n := 0
	for {
		r := rec(n)
		err := s.Append(r.Key, r.Value, r.Time)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if got := s.Bytes(); got > 4<<10 || got < 3<<10 {
		t.Fatalf("full at Bytes() = %d, MaxBytes 4096", got)
	}
	if err := s.AppendBatch([]Record{rec(n), rec(n + 1)}); !errors.Is(err, ErrFull) {
		t.Fatalf("AppendBatch when full = %v, want ErrFull", err)
	}
	if got := s.Records(); got != int64(n) {
		t.Fatalf("Records() = %d after refused appends, want %d", got, n)
	}
	if got := s.Stats().Full; got != 2 {
		t.Fatalf("Stats().Full = %d, want 2", got)
	}

	// Committing frees the sealed segments; the spool takes records again.
	if got := drain(t, s, 0, 1000, 1<<20); got != n {
		t.Fatalf("read %d records, want %d", got, n)
	}
	if got := s.Bytes(); got > 1<<10 {
		t.Fatalf("Bytes() = %d after committing all, want at most one segment", got)
	}
	again := 0
	for ; ; again++ {
		r := rec(n + again)
		err := s.Append(r.Key, r.Value, r.Time)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if again < n-3 {
		t.Fatalf("after Commit freed the spool, %d records fit; %d did at first", again, n)
	}
}

func TestAppendBatchAllOrNothing(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 10, Fsync: Never})
	big := make([]Record, 40)
	for i := range big {
		big[i] = rec(i)
	}
	if err := s.AppendBatch(big); !errors.Is(err, ErrFull) {
		t.Fatalf("AppendBatch of %d records into 1 KiB = %v, want ErrFull", len(big), err)
	}
	tooLarge := []Record{rec(0), {Key: make([]byte, MaxKeyBytes+1)}}
	if err := s.AppendBatch(tooLarge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AppendBatch with a huge key = %v, want ErrTooLarge", err)
	}
	if got := s.Records(); got != 0 {
		t.Fatalf("Records() = %d after refused batches", got)
	}
	if err := s.Append(nil, make([]byte, MaxRecordBytes), base); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of a huge value = %v, want ErrTooLarge", err)
	}
}

func TestSegmentsDeletedAfterCommit(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, SegmentBytes: 512, Fsync: Never})
	appendRange(t, s, 0, 100)
	before := segFiles(t, dir)
	var batch []Record
	for i := 0; ; i++ {
		var c Cursor
		var err error
		batch, c, err = s.ReadBatch(batch, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(c); err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		// No file before the committed one is left.
		files := segFiles(t, dir)
		committed := filepath.Join(dir, segName(s.committed.seg))
		if files[0] != committed {
			t.Fatalf("after commit %d at %v: first segment file %s", i, c, files[0])
		}
	}
	// Drained: the writer moved to a fresh segment and the last one went too.
	last, _ := parseSegName(filepath.Base(before[len(before)-1]))
	if after := segFiles(t, dir); len(after) != 1 || filepath.Base(after[0]) != segName(last+1) {
		t.Fatalf("segment files after committing all = %v, want [%s]", after, segName(last+1))
	}
	if b := s.Bytes(); b != 0 {
		t.Fatalf("Bytes() = %d after a full drain, want 0", b)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "another collector") {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second Open of %s = %v, want a lock error", dir, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

func TestClosed(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	appendRange(t, s, 0, 3)
	_, c, _ := s.ReadBatch(nil, 1, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := s.Append(nil, nil, base); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
	if err := s.AppendBatch([]Record{rec(0)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendBatch after Close = %v", err)
	}
	if _, _, err := s.ReadBatch(nil, 1, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadBatch after Close = %v", err)
	}
	if err := s.Commit(c); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close = %v", err)
	}
	s.Rewind()
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: file}); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("Open of a file = %v, want an error naming it", err)
	}
	if _, err := Open(Options{Dir: t.TempDir(), Fsync: 7}); err == nil {
		t.Fatal("Open with an unknown fsync policy succeeded")
	}
}

func TestAppendAllocs(t *testing.T) {
	for _, policy := range []FsyncPolicy{Always, Interval, Never} {
		t.Run(policy.String(), func(t *testing.T) {
			s := openSpool(t, Options{Dir: t.TempDir(), Fsync: policy})
			k, v := []byte("3f2a9c1e-visitor"), bytes.Repeat([]byte("v"), 300)
			now := time.Now()
			if err := s.Append(k, v, now); err != nil { // grow the buffer
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(200, func() {
				if err := s.Append(k, v, now); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("Append allocates %v times per call, want 0", allocs)
			}
		})
	}
}

// TestOldestSkipsCorruptData commits up to a damaged record: Oldest is the
// time of the next valid one, not garbage.
func TestOldestSkipsCorruptData(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir, SegmentBytes: 256, Fsync: Never}
	s := openSpool(t, opt)
	appendRange(t, s, 0, 30)
	s.Close()
	files := segFiles(t, dir)
	data, _ := os.ReadFile(files[0])
	_, size, err := parseRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	data[size+4] ^= 0xff // the second record's checksum
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(files[1])
	next, _, err := parseRecord(b)
	if err != nil {
		t.Fatal(err)
	}

	s = openSpool(t, opt)
	if got, want := s.Oldest(), rec(0).Time; !got.Equal(want) {
		t.Fatalf("Oldest() = %v, want %v", got, want)
	}
	_, c, err := s.ReadBatch(nil, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(c); err != nil {
		t.Fatal(err)
	}
	if got := s.Oldest(); !got.Equal(next.Time) {
		t.Fatalf("Oldest() = %v, want %v, the first valid record after the damaged one", got, next.Time)
	}
}

// TestSegmentDeletedByHand: a sealed segment removed behind the spool's back
// is skipped, not an error forever.
func TestSegmentDeletedByHand(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, SegmentBytes: 256, Fsync: Never})
	appendRange(t, s, 0, 30)
	files := segFiles(t, dir)
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	var batch []Record
	read := 0
	for {
		var c Cursor
		var err error
		batch, c, err = s.ReadBatch(batch, 100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		read += len(batch)
		if err := s.Commit(c); err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
	}
	if st := s.Stats(); st.CorruptRecords != 1 || read == 0 || read >= 30 {
		t.Fatalf("read %d of 30 records, Stats() = %+v; want one segment skipped", read, st)
	}
	if got := s.Records(); got != 0 {
		t.Fatalf("Records() = %d after committing all", got)
	}
}

func TestIntervalFsync(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir(), Fsync: Interval, FsyncInterval: time.Millisecond})
	appendRange(t, s, 0, 1)
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Fsyncs == 0; {
		if time.Now().After(deadline) {
			t.Fatal("policy interval: no fsync within 5s of an Append")
		}
		time.Sleep(time.Millisecond)
	}
}
