package spool

import (
	"fmt"
	"os"
	"time"
)

// maxKeptWriteBuf is the largest encode buffer kept between calls; a bigger
// one, grown by a large AppendBatch, is dropped after use.
const maxKeptWriteBuf = 4 << 20

// Append writes one record with a single write(2) and no user-space
// buffering: once it returns, a crash of the process loses nothing (and with
// policy Always, neither does a crash of the machine). It copies key and
// value. It returns ErrFull when the record would take the spool past
// Options.MaxBytes, ErrTooLarge for an oversized record and ErrClosed after
// Close. With policy Always, an error from fsync comes after the record was
// written: it may still be read and delivered. It does not allocate.
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
		return s.syncLocked()
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
		return err
	}
	if err := s.f.Close(); err != nil {
		f.Close()
		_ = os.Remove(f.Name())
		return fmt.Errorf("spool: cannot close %s: %w", s.f.Name(), err)
	}
	s.f = f
	s.segs = append(s.segs, segment{seq: seq})
	// A segment committed to its end goes now rather than at the next
	// Commit. It is the first: segments before the committed one are gone.
	// The cursor file may keep naming it; Open then starts at the next.
	if old := s.segs[0]; s.committed.seg == old.seq && s.committed.off >= old.size {
		if err := s.remove(old.seq); err == nil {
			s.bytes -= old.size
			s.records -= old.live // records behind a corrupt one, normally none
			s.segs = append(s.segs[:0], s.segs[1:]...)
			s.committed = Cursor{seg: seq}
		}
	}
	switch s.opt.Fsync {
	case Always:
		return s.syncDir()
	case Interval:
		s.dirDirty = true
	}
	return nil
}

// syncLocked fsyncs the segment being written.
func (s *Spool) syncLocked() error {
	s.fsyncs.Add(1)
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("spool: cannot fsync %s: %w; check the disk", s.f.Name(), err)
	}
	s.dirty = false
	return nil
}

// syncDir fsyncs the spool directory, so that created, renamed and deleted
// files are durable.
func (s *Spool) syncDir() error {
	s.fsyncs.Add(1)
	d, err := os.Open(s.opt.Dir)
	if err != nil {
		return fmt.Errorf("spool: cannot open spool dir %s to fsync it: %w", s.opt.Dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: cannot fsync spool dir %s: %w; check the disk", s.opt.Dir, err)
	}
	s.dirDirty = false
	return nil
}

// syncLoop fsyncs what changed every FsyncInterval (policy Interval). The
// fsync holds the writer's lock: Appends wait for it about once a second.
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
		if s.dirty && !s.closed.Load() {
			if err := s.syncLocked(); err != nil {
				s.fsyncErrors.Add(1)
			}
		}
		if s.dirDirty && !s.closed.Load() {
			if err := s.syncDir(); err != nil {
				s.fsyncErrors.Add(1)
			}
		}
		s.mu.Unlock()
	}
}
