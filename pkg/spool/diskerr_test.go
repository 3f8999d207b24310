package spool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// faultFS is the operating system's file system with failures injected on
// chosen operations, each identified by an op name and the file's kind.
type faultFS struct {
	osFS
	mu   sync.Mutex
	fail map[string]error // op → error; ops: "write", "create", "sync", "delete", "cursor-write", "cursor-create", "dir-sync"
	hits map[string]int   // op → failures injected so far
}

func newFaultFS() *faultFS { return &faultFS{fail: map[string]error{}, hits: map[string]int{}} }

func (f *faultFS) set(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, op)
		return
	}
	f.fail[op] = err
}

func (f *faultFS) check(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[op]; err != nil {
		f.hits[op]++
		return err
	}
	return nil
}

func (f *faultFS) injected(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[op]
}

func kind(name string) string {
	switch base := filepath.Base(name); {
	case strings.HasSuffix(base, segSuffix):
		return "seg"
	case strings.HasPrefix(base, cursorName):
		return "cursor"
	}
	return "dir"
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		op := "create"
		if kind(name) == "cursor" {
			op = "cursor-create"
		}
		if err := f.check(op); err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	file, err := f.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, kind: kind(name)}, nil
}

func (f *faultFS) Remove(name string) error {
	if kind(name) == "seg" {
		if err := f.check("delete"); err != nil {
			return &os.PathError{Op: "remove", Path: name, Err: err}
		}
	}
	return f.osFS.Remove(name)
}

type faultFile struct {
	File
	fs   *faultFS
	kind string
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	op := "write"
	if f.kind == "cursor" {
		op = "cursor-write"
	}
	if err := f.fs.check(op); err != nil {
		// Like a disk that fills up in the middle: half the bytes land.
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: err}
	}
	return f.File.WriteAt(b, off)
}

func (f *faultFile) Sync() error {
	op := "sync"
	if f.kind == "dir" {
		op = "dir-sync"
	}
	if err := f.fs.check(op); err != nil {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: err}
	}
	return f.File.Sync()
}

// spoolOn opens a spool on a faultFS in a new directory.
func spoolOn(t *testing.T, opt Options) (*Spool, *faultFS) {
	t.Helper()
	ffs := newFaultFS()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	opt.FS = ffs
	return openSpool(t, opt), ffs
}

func TestDiskErrorOnSegmentWrite(t *testing.T) {
	for _, errno := range []error{syscall.ENOSPC, syscall.EIO} {
		t.Run(errno.Error(), func(t *testing.T) {
			s, ffs := spoolOn(t, Options{SegmentBytes: 1024, Fsync: Never})
			appendRange(t, s, 0, 10)
			bytesBefore := s.Bytes()
			ffs.set("write", errno)
			r := rec(10)
			if err := s.Append(r.Key, r.Value, r.Time); !errors.Is(err, errno) || errors.Is(err, ErrSync) {
				t.Fatalf("Append on a failing disk: %v, want %v", err, errno)
			}
			if err := s.AppendBatch([]Record{rec(10), rec(11)}); !errors.Is(err, errno) {
				t.Fatalf("AppendBatch on a failing disk: %v, want %v", err, errno)
			}
			if s.Records() != 10 || s.Bytes() != bytesBefore {
				t.Fatalf("after failed appends: %d records, %d bytes; want 10 and %d: nothing of them may count", s.Records(), s.Bytes(), bytesBefore)
			}
			if got := s.Stats().WriteErrors; got != 2 {
				t.Fatalf("Stats().WriteErrors = %d, want 2", got)
			}
			// The disk recovers: the spool goes on where it was, and the
			// half-written records never surface.
			ffs.set("write", nil)
			appendRange(t, s, 10, 20)
			if got := drain(t, s, 0, 7, 1<<20); got != 20 {
				t.Fatalf("read %d records, want 20", got)
			}
			if c := s.Stats().CorruptRecords; c != 0 {
				t.Fatalf("%d corrupt records: a failed write left a partial record behind", c)
			}
		})
	}
}

func TestDiskErrorOnSegmentCreate(t *testing.T) {
	s, ffs := spoolOn(t, Options{SegmentBytes: 256, Fsync: Never})
	ffs.set("create", syscall.ENOSPC)
	var failed int
	for i := range 20 {
		r := rec(i)
		if err := s.Append(r.Key, r.Value, r.Time); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Append(%d): %v, want ENOSPC", i, err)
			}
			failed++
		}
	}
	if failed == 0 || ffs.injected("create") == 0 {
		t.Fatal("no Append needed a new segment; make the records or the segments bigger")
	}
	ffs.set("create", nil)
	kept := s.Records()
	appendRange(t, s, 100, 110)
	if got := s.Records(); got != kept+10 {
		t.Fatalf("Records() = %d after the disk recovered, want %d", got, kept+10)
	}
}

func TestDiskErrorOnFsync(t *testing.T) {
	t.Run("always", func(t *testing.T) {
		s, ffs := spoolOn(t, Options{Fsync: Always})
		ffs.set("sync", syscall.EIO)
		r := rec(0)
		err := s.Append(r.Key, r.Value, r.Time)
		if !errors.Is(err, ErrSync) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("Append with a failing fsync: %v, want ErrSync wrapping EIO", err)
		}
		// Written but not fsynced: it is in the file and will be read.
		if s.Records() != 1 {
			t.Fatalf("Records() = %d, want 1: the record was written", s.Records())
		}
		ffs.set("sync", nil)
		if got := drain(t, s, 0, 10, 1<<20); got != 1 {
			t.Fatalf("read %d records, want 1", got)
		}
		if s.Stats().FsyncErrors == 0 {
			t.Fatal("FsyncErrors = 0")
		}
	})
	t.Run("interval", func(t *testing.T) {
		s, ffs := spoolOn(t, Options{Fsync: Interval, FsyncInterval: 5 * time.Millisecond})
		ffs.set("sync", syscall.EIO)
		appendRange(t, s, 0, 5)
		waitFor(t, "a background fsync error", func() bool { return s.Stats().FsyncErrors > 0 })
		appendRange(t, s, 5, 10) // appends go on
		ffs.set("sync", nil)
		if got := drain(t, s, 0, 10, 1<<20); got != 10 {
			t.Fatalf("read %d records, want 10", got)
		}
	})
}

// TestDiskErrorOnCursor is the disk-full-after-the-outage case: Kafka is
// back, the spool is replayed, but the cursor cannot be written. The commit
// must still take effect, so that the spool drains and the publisher leaves
// spooling mode, and a restart must not replay the whole spool.
func TestDiskErrorOnCursor(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir, SegmentBytes: 512, Fsync: Interval, FsyncInterval: 1 << 40}
	s, ffs := spoolOn(t, opt)
	appendRange(t, s, 0, 100)
	segsBefore := len(segFiles(t, dir))
	ffs.set("cursor-write", syscall.ENOSPC)

	// Commit all but the last few records.
	var batch []Record
	read := 0
	var c Cursor
	for read < 95 {
		var err error
		batch, c, err = s.ReadBatch(batch, min(7, 95-read), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		read += len(batch)
		if err := s.Commit(c); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Commit with a failing cursor write: %v, want ENOSPC", err)
		}
	}
	if got := s.Records(); got != 5 {
		t.Fatalf("Records() = %d, want 5: the commits took effect in memory", got)
	}
	if files := len(segFiles(t, dir)); files >= segsBefore || files > 2 {
		t.Fatalf("%d segment files left of %d: committed segments must be deleted even when the cursor cannot be written", files, segsBefore)
	}
	if s.Stats().CursorErrors == 0 {
		t.Fatal("CursorErrors = 0")
	}
	s.Close() // its cursor write fails too

	// A restart replays at most the first remaining segment, not the spool.
	s, ffs = spoolOn(t, opt)
	replayed := s.Records()
	if replayed < 5 || replayed >= 95 {
		t.Fatalf("after a restart %d records to replay; want the 5 uncommitted plus at most one segment's", replayed)
	}

	// The disk recovers: the next commit writes the cursor, and a drain
	// leaves nothing behind.
	ffs.set("cursor-write", nil)
	first := 100 - int(replayed)
	if got := drain(t, s, first, 10, 1<<20); got != int(replayed) {
		t.Fatalf("drained %d, want %d", got, replayed)
	}
	if s.Bytes() != 0 {
		t.Fatalf("Bytes() = %d after the drain, want 0", s.Bytes())
	}
	s.Close()
	s, _ = spoolOn(t, opt)
	if n := s.Records(); n != 0 {
		t.Fatalf("after a drain and a restart %d records, want 0", n)
	}
}

func TestCursorFileCannotBeCreatedAtOpen(t *testing.T) {
	dir := t.TempDir()
	ffs := newFaultFS()
	ffs.set("cursor-create", syscall.ENOSPC)
	s := openSpool(t, Options{Dir: dir, Fsync: Never, FS: ffs})
	appendRange(t, s, 0, 10)
	ffs.set("cursor-create", nil)
	_, c, err := s.ReadBatch(nil, 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(c); err != nil {
		t.Fatalf("Commit once the cursor file can be created: %v", err)
	}
	s.Close()
	s = openSpool(t, Options{Dir: dir, Fsync: Never})
	if got := s.Records(); got != 6 {
		t.Fatalf("Records() after a restart = %d, want 6", got)
	}
}

func TestDiskErrorOnDelete(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir, SegmentBytes: 512, Fsync: Interval, FsyncInterval: 1 << 40}
	s, ffs := spoolOn(t, opt)
	appendRange(t, s, 0, 60)
	ffs.set("delete", syscall.EIO)
	var batch []Record
	var c Cursor
	var err error
	batch, c, err = s.ReadBatch(batch, 50, 1<<20)
	if err != nil || len(batch) != 50 {
		t.Fatalf("ReadBatch: %d records, %v", len(batch), err)
	}
	if err := s.Commit(c); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Commit with failing deletions: %v, want EIO", err)
	}
	if s.Records() != 10 {
		t.Fatalf("Records() = %d, want 10", s.Records())
	}
	leftover := len(segFiles(t, dir))
	if s.Stats().DeleteErrors == 0 || leftover < 3 {
		t.Fatalf("DeleteErrors %d, %d segment files: want the committed ones still on disk", s.Stats().DeleteErrors, leftover)
	}
	// Bytes counts live segments only: a segment that is committed but
	// could not be deleted does not make the spool look full.
	if s.Bytes() > 2*512 {
		t.Fatalf("Bytes() = %d, want only the live segments", s.Bytes())
	}
	ffs.set("delete", nil)
	if got := drain(t, s, 50, 7, 1<<20); got != 10 {
		t.Fatalf("drained %d, want 10", got)
	}
	if files := segFiles(t, dir); len(files) != 1 {
		t.Fatalf("segment files %v after the disk recovered and a drain: want one, the fresh one", files)
	}
}

// TestFullFilesystem runs the spool on a real tmpfs of 1 MiB: it fills up
// below MaxBytes, refuses appends with ENOSPC, and once drained it frees the
// space and takes appends again. It needs root (mount); it is skipped
// elsewhere.
func TestFullFilesystem(t *testing.T) {
	dir := devstacktest.MountTmpfs(t, "1m")
	s := openSpool(t, Options{Dir: dir, MaxBytes: 64 << 20, SegmentBytes: 128 << 10, Fsync: Interval})
	val := []byte(strings.Repeat("v", 2000))
	n := 0
	var err error
	for ; n < 10000; n++ {
		if err = s.Append(key(n), val, base); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after %d appends: %v, want ENOSPC from the full file system", n, err)
	}
	// Drain it all with the disk full: every commit must work.
	var batch []Record
	got := 0
	for {
		var c Cursor
		batch, c, err = s.ReadBatch(batch, 100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got += len(batch)
		if err := s.Commit(c); err != nil {
			t.Fatalf("Commit on a full file system: %v", err)
		}
		if len(batch) == 0 {
			break
		}
	}
	if got != n || s.Records() != 0 || s.Bytes() != 0 {
		t.Fatalf("drained %d of %d; Records %d, Bytes %d: want all, 0 and 0", got, n, s.Records(), s.Bytes())
	}
	for i := range n {
		if err := s.Append(key(i), val, base); err != nil {
			t.Fatalf("Append %d after the drain freed the disk: %v", i, err)
		}
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// FuzzCursorFile: any content of CURSOR parses without panicking, and what
// a slot encodes reads back.
func FuzzCursorFile(f *testing.F) {
	f.Add([]byte("00000000000000000007.seg 4096\n"), uint64(7), int64(4096), uint64(3))
	f.Add(appendCursorSlot(appendCursorSlot(nil, Cursor{seg: 1, off: 2}, 1), Cursor{seg: 1, off: 9}, 2), uint64(1), int64(0), uint64(0))
	f.Fuzz(func(t *testing.T, content []byte, seg uint64, off int64, gen uint64) {
		parseCursorFile(content)
		if off < 0 {
			off = -off
		}
		if off < 0 {
			return
		}
		slot := appendCursorSlot(nil, Cursor{seg: seg, off: off}, gen)
		if len(slot) != cursorSlotSize {
			t.Fatalf("slot is %d bytes", len(slot))
		}
		c, g, ok := parseCursorSlot(slot)
		if !ok || c.seg != seg || c.off != off || g != gen {
			t.Fatalf("slot %q read back as %v gen %d ok %v", slot, c, g, ok)
		}
		if len(content) >= cursorSlotSize {
			both := append(slot, content[:cursorSlotSize]...)
			if _, g2, ok := parseCursorFile(both); !ok || g2 < gen {
				t.Fatalf("file with a valid slot of generation %d read as gen %d ok %v", gen, g2, ok)
			}
		}
	})
}

func TestCheckWritable(t *testing.T) {
	s, ffs := spoolOn(t, Options{MaxBytes: 4096, SegmentBytes: 1024, Fsync: Never})
	if err := s.CheckWritable(100); err != nil {
		t.Fatalf("CheckWritable on an empty spool: %v", err)
	}
	ffs.set("create", syscall.ENOSPC)
	if err := s.CheckWritable(100); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("CheckWritable on a full disk: %v, want ENOSPC", err)
	}
	ffs.set("create", nil)
	ffs.set("write", syscall.EIO)
	if err := s.CheckWritable(100); !errors.Is(err, syscall.EIO) {
		t.Fatalf("CheckWritable on a failing disk: %v, want EIO", err)
	}
	ffs.set("write", nil)
	if err := s.CheckWritable(5000); !errors.Is(err, ErrFull) {
		t.Fatalf("CheckWritable past MaxBytes: %v, want ErrFull", err)
	}
	if s.Records() != 0 || s.Bytes() != 0 {
		t.Fatalf("CheckWritable appended something: %d records, %d bytes", s.Records(), s.Bytes())
	}
	if _, err := os.Stat(filepath.Join(s.opt.Dir, probeName)); !os.IsNotExist(err) {
		t.Fatalf("probe file left behind: %v", err)
	}
}

// TestFailedCursorRetriedInBackground: under every policy, a cursor write
// that failed is retried by the background loop, not only by the next
// Commit, so a restart after the disk recovered replays nothing twice.
func TestFailedCursorRetriedInBackground(t *testing.T) {
	dir := t.TempDir()
	s, ffs := spoolOn(t, Options{Dir: dir, Fsync: Never, FsyncInterval: 5 * time.Millisecond})
	appendRange(t, s, 0, 10)
	_, c, err := s.ReadBatch(nil, 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ffs.set("cursor-write", syscall.EIO)
	if err := s.Commit(c); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Commit with a failing cursor write: %v, want EIO", err)
	}
	ffs.set("cursor-write", nil)
	waitFor(t, "the cursor written in the background", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.curDirty
	})
	s.Close()
	if got := openSpool(t, Options{Dir: dir, Fsync: Never}).Records(); got != 6 {
		t.Fatalf("Records() after a restart = %d, want 6", got)
	}
}
