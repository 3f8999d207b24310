// Package spool is the collector's bounded, append-only disk spool for events
// that could not be handed to Kafka. The publisher appends what Kafka cannot
// take, drains it with ReadBatch once Kafka is back and commits what Kafka
// acknowledged. Delivery is at-least-once: after a crash, records that were
// read but not committed are read again.
//
// # Directory layout
//
//	LOCK                      flock(2)ed while a Spool is open: one collector per directory
//	CURSOR                    the committed position, in two checksummed slots (see cursor.go)
//	00000000000000000007.seg  segment files, named by a zero-padded 20-digit sequence number
//
// The writer appends to the last segment and starts a new one when it reaches
// Options.SegmentBytes. Commit deletes the segments that lie wholly before
// the committed position and overwrites the older slot of CURSOR in place:
// the file is allocated once, at Open, so a full disk cannot stop a commit.
// When a commit empties the spool, the writer moves to a fresh segment and
// the old one is deleted, so a drained spool holds no bytes.
//
// # Disk errors
//
// No disk error stops the spool for good. A failed segment write is cut back
// to the last whole record and returned to the caller; the next Append tries
// again. A failed cursor write or segment deletion is returned by Commit
// after the commit took effect in memory (Records, Bytes, what ReadBatch
// returns next); it is retried by the next Commit and by the background loop,
// and until it succeeds a restart replays at most the committed part of the
// first remaining segment. Segments that could not be deleted are deleted
// later. Stats counts every kind of error.
//
// # Record format
//
// A segment is a sequence of records, all integers little-endian:
//
//	[4 payload length][4 CRC-32C (Castagnoli) of the payload][payload]
//	payload = [8 time, unix nanoseconds][2 key length][key][value]
//
// A payload is 10 bytes to MaxRecordBytes long. A record with an impossible
// length or a bad checksum ends its segment: at Open, in the last segment, it
// is a torn write from a crash and the segment is truncated there (counted in
// Stats.TornBytes); anywhere else the reader skips the rest of that segment and
// counts it in Stats.CorruptRecords and Stats.CorruptBytes.
package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	// ErrFull is returned by Append and AppendBatch when the record would
	// take the live segments past Options.MaxBytes. Commit frees space.
	ErrFull = errors.New("spool: full")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("spool: closed")

	// ErrTooLarge is returned by Append and AppendBatch for a key longer
	// than MaxKeyBytes or a record longer than MaxRecordBytes.
	ErrTooLarge = errors.New("spool: record too large")
)

// FsyncPolicy says when appended records are made durable with fsync(2).
type FsyncPolicy int

const (
	// Interval fsyncs the segment being written, and the directory, in the
	// background every Options.FsyncInterval if anything changed. A machine
	// crash loses at most that much; a process crash loses nothing. It is
	// the zero value and the default.
	Interval FsyncPolicy = iota
	// Always fsyncs before Append, AppendBatch and Commit return. Appends are
	// serialized on the fsync: use AppendBatch to amortize it.
	Always
	// Never leaves write-back to the operating system.
	Never
)

// ParseFsyncPolicy parses "always", "interval" or "never".
func ParseFsyncPolicy(s string) (FsyncPolicy, error) {
	switch s {
	case "always":
		return Always, nil
	case "interval":
		return Interval, nil
	case "never":
		return Never, nil
	}
	return 0, fmt.Errorf("spool: unknown fsync policy %q; use always, interval or never", s)
}

func (p FsyncPolicy) String() string {
	switch p {
	case Always:
		return "always"
	case Interval:
		return "interval"
	case Never:
		return "never"
	}
	return fmt.Sprintf("FsyncPolicy(%d)", int(p))
}

// Options configures a Spool. Zero fields take the defaults written beside
// them.
type Options struct {
	Dir           string        // created if missing (mode 0700); required
	MaxBytes      int64         // bytes of live segments on disk before Append returns ErrFull; default 1 GiB
	SegmentBytes  int64         // a segment is rolled at this size; default 64 MiB, at most MaxBytes/2
	Fsync         FsyncPolicy   // default Interval
	FsyncInterval time.Duration // period of the background fsync (policy Interval) and of retrying failed cursor writes and deletions (every policy); default 1s
	FS            FS            // the file system; nil: the operating system's (tests inject failures here)
}

// Defaults, see Options.
const (
	DefaultMaxBytes      = 1 << 30
	DefaultSegmentBytes  = 64 << 20
	DefaultFsyncInterval = time.Second
)

// Record is one spooled event. Records returned by ReadBatch point into the
// Spool's read buffer: their Key and Value stay valid until the next ReadBatch.
// Time is stored as Unix nanoseconds, so only times between the years 1678
// and 2262 survive the trip, without location or monotonic reading.
type Record struct {
	Key, Value []byte
	Time       time.Time
}

// Cursor is a position in the spool: ReadBatch returns the one just after the
// records it returned, and Commit takes it back. The zero Cursor is before
// every record.
type Cursor struct {
	seg uint64
	off int64
	n   int64 // records the reader consumed in seg; it keeps Records exact
}

func (c Cursor) String() string { return fmt.Sprintf("%s:%d", segName(c.seg), c.off) }

func (c Cursor) before(d Cursor) bool {
	return c.seg < d.seg || c.seg == d.seg && c.off < d.off
}

// Stats are counters for metrics, all since Open.
type Stats struct {
	Appended       uint64 // records appended
	Committed      uint64 // records committed
	Full           uint64 // Append and AppendBatch calls refused with ErrFull
	Fsyncs         uint64 // fsync(2) calls on segments, the cursor and the directory
	FsyncErrors    uint64 // fsyncs that failed
	WriteErrors    uint64 // segment writes (and segment creations) that failed
	CursorErrors   uint64 // cursor writes that failed (the commit took effect in memory)
	DeleteErrors   uint64 // deletions of committed segments that failed (retried later)
	CorruptRecords uint64 // bad records that ended a segment for the reader
	CorruptBytes   uint64 // bytes the reader skipped because of them
	TornBytes      uint64 // bytes of a torn last record truncated at Open
}

// segment is one segment file; the last one in Spool.segs is being written.
type segment struct {
	seq  uint64
	size int64 // bytes on disk; for the last segment, what the writer wrote
	live int64 // records in it not yet committed
}

// Spool is a bounded, append-only disk queue. Append and AppendBatch may be
// called from many goroutines; ReadBatch, Commit and Rewind are meant for one
// draining goroutine but are safe to call concurrently too.
type Spool struct {
	opt  Options
	fs   FS
	lock *os.File // holds the flock on LOCK

	// mu guards the writer, the segment list, the committed cursor and the
	// gauges. rmu guards the reader; take rmu before mu.
	mu          sync.Mutex
	segs        []segment
	f           File   // the last segment, open for writing
	wbuf        []byte // encoded records of the Append in progress
	committed   Cursor
	bytes       int64
	records     int64
	oldest      time.Time // time of the first uncommitted record
	dirty       bool      // f has writes that were not fsynced
	dirDirty    bool      // the directory has entries that were not fsynced
	peekBuf     []byte    // for reading the oldest record's time
	cur         File      // CURSOR, open for writing in place; nil until it could be created
	curGen      uint64    // generation of the newest slot in CURSOR
	curDirty    bool      // CURSOR is behind committed: its last write failed
	curUnsynced bool      // CURSOR was written and not fsynced (policy Interval)
	orphans     []uint64  // committed segments whose deletion failed
	closed      atomic.Bool

	rmu         sync.Mutex
	rd          segReader
	corruptMark Cursor // corruption before this was already counted

	stop chan struct{}
	wg   sync.WaitGroup

	appended, committedN, full, fsyncs, fsyncErrors atomic.Uint64
	writeErrors, cursorErrors, deleteErrors         atomic.Uint64
	corruptRecords, corruptBytes, tornBytes         atomic.Uint64
}

// Open opens the spool in opt.Dir, creating it if needed. It takes an
// exclusive lock on the directory, deletes segments that the committed cursor
// has passed, and scans the others: it counts their records and truncates a
// torn record at the end of the last segment. Reading starts at the committed
// cursor.
func Open(opt Options) (*Spool, error) {
	if opt.Dir == "" {
		return nil, errors.New("spool: Options.Dir is empty; set the spool directory")
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	// With segments of at most half the limit, committing everything always
	// frees space: only the last segment stays.
	opt.SegmentBytes = max(1, min(opt.SegmentBytes, opt.MaxBytes/2))
	if opt.FsyncInterval <= 0 {
		opt.FsyncInterval = DefaultFsyncInterval
	}
	if opt.Fsync < Interval || opt.Fsync > Never {
		return nil, fmt.Errorf("spool: unknown %v; use Always, Interval or Never", opt.Fsync)
	}
	if opt.FS == nil {
		opt.FS = osFS{}
	}
	if err := opt.FS.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: cannot create spool dir %s: %w; check the path and its permissions", opt.Dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(opt.Dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: cannot open spool dir %s: %w; check its permissions", opt.Dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: cannot lock spool dir %s: %w; another collector may be using it, give each collector its own spool dir", opt.Dir, err)
	}
	s := &Spool{opt: opt, fs: opt.FS, lock: lock, stop: make(chan struct{})}
	if err := s.recover(); err != nil {
		if s.f != nil {
			s.f.Close()
		}
		lock.Close()
		return nil, err
	}
	// Without room for CURSOR now (a full disk), commits keep trying to
	// create it; until then a restart replays the spool from its start.
	_ = s.openCursor()
	if last := s.segs[0]; s.records == 0 && len(s.segs) == 1 && last.size > 0 && s.committed.off >= last.size {
		// Drained by an earlier run that could not start a fresh segment.
		if s.resetLocked() {
			_ = s.writeCursorLocked()
		}
	}
	s.wg.Add(1)
	go s.syncLoop()
	return s, nil
}

func (s *Spool) path(name string) string { return filepath.Join(s.opt.Dir, name) }

// recover builds the segment list from the directory, see Open.
func (s *Spool) recover() error {
	entries, err := s.fs.ReadDir(s.opt.Dir)
	if err != nil {
		return fmt.Errorf("spool: cannot list spool dir %s: %w", s.opt.Dir, err)
	}
	var seqs []uint64
	for _, e := range entries {
		if seq, ok := parseSegName(e.Name()); ok {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	_ = s.fs.Remove(s.path(cursorTmp)) // from an Open that crashed

	// Without a readable cursor, everything on disk is uncommitted.
	c, ok := s.readCursor()
	if !ok && len(seqs) > 0 {
		c = Cursor{seg: seqs[0]}
	}
	next := c.seg + 1
	if len(seqs) > 0 {
		next = max(next, seqs[len(seqs)-1]+1)
	}
	for len(seqs) > 0 && seqs[0] < c.seg {
		if err := s.remove(seqs[0]); err != nil {
			return err
		}
		seqs = seqs[1:]
	}
	if len(seqs) == 0 {
		if next == 0 { // the sequence number wrapped around: a hostile directory
			return fmt.Errorf("spool: segment numbers in %s are exhausted; move its files away", s.opt.Dir)
		}
		f, err := s.create(next)
		if err != nil {
			return err
		}
		s.f = f
		s.segs = append(s.segs, segment{seq: next})
		s.committed = Cursor{seg: next}
		return nil
	}
	if seqs[0] != c.seg {
		c = Cursor{seg: seqs[0]}
	}

	// Scan every segment from where reading will start. Reuse one buffer.
	var r segReader
	for i, seq := range seqs {
		last := i == len(seqs)-1
		f, err := s.openSegment(seq, last)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("spool: cannot stat %s: %w", f.Name(), err)
		}
		size := fi.Size()
		var start int64
		if seq == c.seg {
			c.off = min(c.off, size)
			start = c.off
		}
		r.reset(f, seq, start)
		nrec, first, bad, err := r.scan(size)
		r.f = nil // f is closed or kept below
		if err != nil {
			f.Close()
			return err
		}
		if last && bad {
			if err := f.Truncate(r.off); err != nil {
				f.Close()
				return fmt.Errorf("spool: cannot truncate the torn end of %s: %w; check the disk and permissions", f.Name(), err)
			}
			s.tornBytes.Add(uint64(size - r.off))
			size = r.off
		}
		if nrec > 0 && s.records == 0 {
			s.oldest = first
		}
		s.records += nrec
		s.bytes += size
		s.segs = append(s.segs, segment{seq: seq, size: size, live: nrec})
		if last {
			s.f = f
		} else {
			f.Close()
		}
	}
	s.committed = c
	s.rd = segReader{seq: c.seg, off: c.off, buf: r.buf[:0]}
	return nil
}

// readCursor reads CURSOR; ok is false when it is missing or unreadable.
func (s *Spool) readCursor() (Cursor, bool) {
	f, err := s.fs.OpenFile(s.path(cursorName), os.O_RDONLY, 0)
	if err != nil {
		return Cursor{}, false
	}
	defer f.Close()
	var b [cursorFileSize + 1]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && err != io.EOF || n > cursorFileSize {
		return Cursor{}, false
	}
	c, gen, ok := parseCursorFile(b[:n])
	s.curGen = gen
	return c, ok
}

func (s *Spool) openSegment(seq uint64, write bool) (File, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	f, err := s.fs.OpenFile(s.path(segName(seq)), flag, 0)
	if err != nil {
		return nil, fmt.Errorf("spool: cannot open segment: %w; check the spool dir's permissions", err)
	}
	return f, nil
}

func (s *Spool) create(seq uint64) (File, error) {
	f, err := s.fs.OpenFile(s.path(segName(seq)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: cannot create segment: %w; check free disk space and the spool dir's permissions", err)
	}
	return f, nil
}

func (s *Spool) remove(seq uint64) error {
	if err := s.fs.Remove(s.path(segName(seq))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: cannot delete committed segment: %w; check the spool dir's permissions", err)
	}
	return nil
}

// Records returns the number of records appended and not yet committed.
func (s *Spool) Records() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// Bytes returns the bytes on disk of the live segments, committed records in
// them included.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Oldest returns the Time of the first uncommitted record in spool order, or
// the zero Time when there is none.
func (s *Spool) Oldest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records == 0 {
		return time.Time{}
	}
	return s.oldest
}

// Stats returns the counters.
func (s *Spool) Stats() Stats {
	return Stats{
		Appended:       s.appended.Load(),
		Committed:      s.committedN.Load(),
		Full:           s.full.Load(),
		Fsyncs:         s.fsyncs.Load(),
		FsyncErrors:    s.fsyncErrors.Load(),
		WriteErrors:    s.writeErrors.Load(),
		CursorErrors:   s.cursorErrors.Load(),
		DeleteErrors:   s.deleteErrors.Load(),
		CorruptRecords: s.corruptRecords.Load(),
		CorruptBytes:   s.corruptBytes.Load(),
		TornBytes:      s.tornBytes.Load(),
	}
}

// Close fsyncs the segment being written and the directory (unless the
// policy is Never), closes the files and releases the directory lock; the
// directory can be opened again after. Calls after the first return nil.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()

	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.opt.Fsync != Never {
		if err := s.syncLocked(); err != nil {
			errs = append(errs, err)
		}
		if err := s.syncDir(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("spool: cannot close %s: %w", s.f.Name(), err))
	}
	if s.cur != nil {
		if s.curDirty {
			if err := s.writeCursorLocked(); err != nil {
				errs = append(errs, err)
			}
		}
		s.cur.Close()
	}
	s.rd.closeFile()
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("spool: cannot release the lock of %s: %w", s.opt.Dir, err))
	}
	return errors.Join(errs...)
}
