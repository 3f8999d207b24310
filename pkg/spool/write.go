package spool

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrSync is wrapped by the error of an Append or AppendBatch with policy
// Always whose records were written but whose fsync failed: they are in the
// file, survive a crash of the process and will be read, but a crash of the
// machine may lose them.
var ErrSync = errors.New("spool: written, but fsync failed")

// maxKeptWriteBuf is the largest encode buffer kept between calls; a bigger
// one, grown by a large AppendBatch, is dropped after use.
const maxKeptWriteBuf = 4 << 20

// Append writes one record with a single write(2) and no user-space
// buffering: once it returns, a crash of the process loses nothing (and with
// policy Always, neither does a crash of the machine). It copies key and
// value. It returns ErrFull when the record would take the spool past
// Options.MaxBytes, ErrTooLarge for an oversized record and ErrClosed after
// Close. With policy Always, an error wrapping ErrSync means the record was
// written but not fsynced. Any other error means nothing was written. It does
// not allocate.
func (s *Spool) Append(key, value []byte, ts time.Time) error {
	size, err := recordSize(len(key), len(value))
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reserveLocked(size); err != nil {
		return err
	}
	s.wbuf = appendRecord(s.wbuf[:0], key, value, ts)
	return s.writeLocked(1, ts)
}

// AppendBatch writes recs with a single write(2), like Append. Either all of
// them are written or, with ErrFull or ErrTooLarge, none.
func (s *Spool) AppendBatch(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	total := 0
	for i := range recs {
		size, err := recordSize(len(recs[i].Key), len(recs[i].Value))
		if err != nil {
			return err
		}
		total += size
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reserveLocked(total); err != nil {
		return err
	}
	s.wbuf = s.wbuf[:0]
	for i := range recs {
		s.wbuf = appendRecord(s.wbuf, recs[i].Key, recs[i].Value, recs[i].Time)
	}
	err := s.writeLocked(int64(len(recs)), recs[0].Time)
	if cap(s.wbuf) > maxKeptWriteBuf {
		s.wbuf = nil
	}
	return err
}

// reserveLocked checks that size more bytes may be written.
func (s *Spool) reserveLocked(size int) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.bytes+int64(size) > s.opt.MaxBytes {
		s.full.Add(1)
		return ErrFull
	}
	return nil
}

// writeLocked writes s.wbuf, which holds n records starting with one at time
// first, to the end of the last segment, rolling it first if it is full.
func (s *Spool) writeLocked(n int64, first time.Time) error {
	last := &s.segs[len(s.segs)-1]
	if last.size > 0 && last.size+int64(len(s.wbuf)) > s.opt.SegmentBytes {
		if err := s.rollLocked(); err != nil {
			return err
		}
		last = &s.segs[len(s.segs)-1]
	}
	if _, err := s.f.WriteAt(s.wbuf, last.size); err != nil {
		// Best effort: keep the segment ending on a record boundary. If
		// this fails too, the next write overwrites the partial record,
		// and a reader never looks past last.size.
		_ = s.f.Truncate(last.size)
		s.writeErrors.Add(1)
		return fmt.Errorf("spool: cannot write to %s: %w; check free disk space", s.f.Name(), err)
	}
	last.size += int64(len(s.wbuf))
	last.live += n
	s.bytes += int64(len(s.wbuf))
	if s.records == 0 {
		s.oldest = first
	}
	s.records += n
	s.appended.Add(uint64(n))
	switch s.opt.Fsync {
	case Always:
		if err := s.syncLocked(); err != nil {
			return fmt.Errorf("%w: %w", ErrSync, err)
		}
	case Interval:
		s.dirty = true
	}
	return nil
}

// rollLocked seals the last segment and starts the next one.
func (s *Spool) rollLocked() error {
	seq := s.segs[len(s.segs)-1].seq + 1
	if seq == 0 {
		return fmt.Errorf("spool: segment numbers in %s are exhausted; drain the spool and move its files away", s.opt.Dir)
	}
	if s.opt.Fsync != Never {
		if err := s.syncLocked(); err != nil {
			return err
		}
	}
	f, err := s.create(seq)
	if err != nil {
		s.writeErrors.Add(1)
		return err
	}
	if err := s.f.Close(); err != nil {
		f.Close()
		_ = s.fs.Remove(f.Name())
		s.writeErrors.Add(1)
		return fmt.Errorf("spool: cannot close %s: %w", s.f.Name(), err)
	}
	s.f = f
	s.segs = append(s.segs, segment{seq: seq})
	// A segment committed to its end goes now rather than at the next
	// Commit. It is the first: segments before the committed one are gone.
	// The cursor file may keep naming it; Open then starts at the next.
	if old := s.segs[0]; s.committed.seg == old.seq && s.committed.off >= old.size {
		s.dropFirstLocked()
	}
	switch s.opt.Fsync {
	case Always:
		return s.syncDir()
	case Interval:
		s.dirDirty = true
	}
	return nil
}

// dropFirstLocked deletes the first segment, committed to its end, and
// moves the committed cursor to the start of the next. A failed deletion
// leaves the file for a later retry (Spool.orphans); the spool goes on
// without it either way.
func (s *Spool) dropFirstLocked() {
	old := s.segs[0]
	s.removeLocked(old.seq)
	s.bytes -= old.size
	s.records -= old.live // records behind a corrupt one, normally none
	s.segs = append(s.segs[:0], s.segs[1:]...)
	s.committed = Cursor{seg: s.segs[0].seq}
	s.curDirty = true
}

// removeLocked deletes segment seq or, failing that, remembers it in
// s.orphans and counts the error.
func (s *Spool) removeLocked(seq uint64) error {
	if err := s.remove(seq); err != nil {
		s.deleteErrors.Add(1)
		s.orphans = append(s.orphans, seq)
		return err
	}
	return nil
}

// retryOrphansLocked deletes the segments whose deletion failed before.
func (s *Spool) retryOrphansLocked() error {
	var errs []error
	kept := s.orphans[:0]
	for _, seq := range s.orphans {
		if err := s.remove(seq); err != nil {
			s.deleteErrors.Add(1)
			kept = append(kept, seq)
			errs = append(errs, err)
		}
	}
	s.orphans = kept
	return errors.Join(errs...)
}

// resetLocked moves the writer of a spool that was committed to its end to a
// fresh, empty segment and deletes the old one, so that a drained spool takes
// no room on disk. It reports false when the new segment cannot be created
// (a full disk): the old one then stays, and the next drain tries again.
func (s *Spool) resetLocked() bool {
	old := s.segs[len(s.segs)-1]
	seq := old.seq + 1
	if seq == 0 {
		return false
	}
	f, err := s.create(seq)
	if err != nil {
		s.writeErrors.Add(1)
		return false
	}
	_ = s.f.Close() // nothing of it is needed any more
	s.f = f
	s.dirty = false
	s.segs = append(s.segs, segment{seq: seq})
	s.dropFirstLocked()
	s.dirDirty = true
	return true
}

// syncLocked fsyncs the segment being written.
func (s *Spool) syncLocked() error {
	s.fsyncs.Add(1)
	if err := s.f.Sync(); err != nil {
		s.fsyncErrors.Add(1)
		return fmt.Errorf("spool: cannot fsync %s: %w; check the disk", s.f.Name(), err)
	}
	s.dirty = false
	return nil
}

// syncDir fsyncs the spool directory, so that created, renamed and deleted
// files are durable.
func (s *Spool) syncDir() error {
	s.fsyncs.Add(1)
	d, err := s.fs.OpenFile(s.opt.Dir, os.O_RDONLY, 0)
	if err != nil {
		s.fsyncErrors.Add(1)
		return fmt.Errorf("spool: cannot open spool dir %s to fsync it: %w", s.opt.Dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		s.fsyncErrors.Add(1)
		return fmt.Errorf("spool: cannot fsync spool dir %s: %w; check the disk", s.opt.Dir, err)
	}
	s.dirDirty = false
	return nil
}

// syncLoop runs maintainLocked every FsyncInterval, under every policy: it
// fsyncs (policy Interval only) and retries a cursor write or segment
// deletion that failed. It holds the writer's lock: Appends wait for it about
// once a second.
func (s *Spool) syncLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if !s.closed.Load() {
			s.maintainLocked()
		}
		s.mu.Unlock()
	}
}

// maintainLocked fsyncs what changed (policy Interval) and retries what
// failed before: the cursor write and segment deletions. Errors are counted
// in Stats.
func (s *Spool) maintainLocked() {
	if s.curDirty {
		_ = s.writeCursorLocked()
	}
	if len(s.orphans) > 0 {
		_ = s.retryOrphansLocked()
	}
	if s.opt.Fsync != Interval {
		return
	}
	if s.dirty {
		_ = s.syncLocked()
	}
	if s.curUnsynced && s.cur != nil {
		s.fsyncs.Add(1)
		if err := s.cur.Sync(); err != nil {
			s.fsyncErrors.Add(1)
		} else {
			s.curUnsynced = false
		}
	}
	if s.dirDirty {
		_ = s.syncDir()
	}
}

// probeName is the file CheckWritable writes and deletes.
const probeName = "PROBE"

// CheckWritable reports whether an append of need bytes (at most 1 MiB
// count) would be taken now, without appending anything: ErrFull while it
// would take the spool past Options.MaxBytes, otherwise the error of writing
// a file of need bytes beside the segments (ENOSPC on a full disk), or nil.
// It tells when a spool that refused appends can take them again.
func (s *Spool) CheckWritable(need int) error {
	need = min(max(need, 1), 1<<20)
	s.mu.Lock()
	closed, full := s.closed.Load(), s.bytes+int64(need) > s.opt.MaxBytes
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case full:
		return ErrFull
	}
	name := s.path(probeName)
	f, err := s.fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: cannot write to %s: %w; check free disk space", s.opt.Dir, err)
	}
	_, err = f.WriteAt(make([]byte, need), 0)
	f.Close()
	_ = s.fs.Remove(name)
	if err != nil {
		return fmt.Errorf("spool: cannot write to %s: %w; check free disk space", s.opt.Dir, err)
	}
	return nil
}
