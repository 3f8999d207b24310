package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// readAhead is how much a reader reads at once beyond the record it needs.
const readAhead = 256 << 10

// segReader reads records from one segment file through a buffer. buf[start:]
// holds the bytes of the file from off onward that were read but not parsed.
type segReader struct {
	f     File // nil until needed
	seq   uint64
	off   int64 // file offset of the next record
	n     int64 // records consumed in this segment, see Cursor.n
	buf   []byte
	start int
}

func (r *segReader) reset(f File, seq uint64, off int64) {
	r.closeFile()
	r.f, r.seq, r.off, r.n = f, seq, off, 0
	r.start = len(r.buf)
}

func (r *segReader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

func (r *segReader) pending() []byte { return r.buf[r.start:] }

func (r *segReader) cursor() Cursor { return Cursor{seg: r.seq, off: r.off, n: r.n} }

func (r *segReader) consume(size int) {
	r.start += size
	r.off += int64(size)
	r.n++
}

// skipTo drops what is buffered and continues at off.
func (r *segReader) skipTo(off int64) {
	r.start = len(r.buf)
	r.off = off
}

// compact moves the pending bytes to the front of buf. Records returned
// before become invalid.
func (r *segReader) compact() {
	n := copy(r.buf, r.buf[r.start:])
	r.buf, r.start = r.buf[:n], 0
}

// fill reads until at least need bytes are pending, reading ahead but never
// past limit. It reports false when the file holds fewer than need bytes
// before limit. It never overwrites buf[:len(buf)], so records parsed before
// stay valid; when buf must grow, only the pending bytes move to the new one.
func (r *segReader) fill(need int, limit int64) (bool, error) {
	have := len(r.buf) - r.start
	avail := limit - r.off - int64(have)
	if int64(need-have) > avail {
		return false, nil
	}
	want := int(min(int64(max(need-have, readAhead)), avail))
	if cap(r.buf)-len(r.buf) < want {
		nb := make([]byte, have, max(2*cap(r.buf), have+want))
		copy(nb, r.pending())
		r.buf, r.start = nb, 0
	}
	end := len(r.buf)
	m, err := r.f.ReadAt(r.buf[end:end+want], r.off+int64(have))
	r.buf = r.buf[:end+m]
	switch {
	case m >= need-have:
		return true, nil
	case err == nil || errors.Is(err, io.EOF): // the file is shorter than we were told
		return false, nil
	default:
		return false, fmt.Errorf("spool: cannot read %s: %w; check the disk", r.f.Name(), err)
	}
}

// scan reads the records from r.off up to limit, leaving r.off after the last
// valid one. It returns how many there were, the time of the first, and
// whether it stopped at bad data before limit.
func (r *segReader) scan(limit int64) (n int64, first time.Time, bad bool, err error) {
	for {
		rec, size, perr := parseRecord(r.pending())
		if perr == errShort {
			r.compact()
			ok, err := r.fill(size, limit)
			if err != nil {
				return n, first, false, err
			}
			if ok {
				continue
			}
			return n, first, len(r.pending()) > 0 || r.off < limit, nil
		}
		if perr != nil {
			return n, first, true, nil
		}
		if n == 0 {
			first = rec.Time
		}
		n++
		r.consume(size)
	}
}

// ReadBatch appends to dst[:0] the records after the last ReadBatch (after
// Open or Rewind: after the committed cursor), at most maxRecords of them and,
// unless the first alone is larger, at most maxBytes of keys and values. It
// returns the Cursor after them, for Commit. Their Key and Value stay valid
// until the next ReadBatch. An empty result means the reader has caught up
// with the writer; the Cursor may still have moved past corrupt data. Limits
// below 1 count as 1.
func (s *Spool) ReadBatch(dst []Record, maxRecords, maxBytes int) ([]Record, Cursor, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	dst = dst[:0]
	r := &s.rd
	if s.closed.Load() {
		return dst, r.cursor(), ErrClosed
	}
	maxRecords, maxBytes = max(maxRecords, 1), max(maxBytes, 1)
	r.compact()
	size := 0
	// The writer's end of the segment is looked up only when the buffered
	// bytes run out, not for every record.
	limit, sealed, next, found := s.segmentEnd(r.seq)
	for len(dst) < maxRecords && size < maxBytes {
		rec, n, err := parseRecord(r.pending())
		if err == errShort {
			if !found || r.off >= limit && len(r.pending()) == 0 && sealed {
				if !found && !sealed {
					break // cannot happen: the last segment is never deleted
				}
				r.reset(nil, next, 0) // to the next segment
				limit, sealed, next, found = s.segmentEnd(r.seq)
				continue
			}
			if r.f == nil {
				f, err := s.openSegment(r.seq, false)
				if errors.Is(err, os.ErrNotExist) { // deleted by hand
					s.countCorrupt(r.cursor(), limit)
					r.skipTo(limit)
					limit, sealed, next, found = s.segmentEnd(r.seq)
					if !sealed {
						break
					}
					continue
				}
				if err != nil {
					return dst, r.cursor(), err
				}
				r.f = f
			}
			ok, ferr := r.fill(n, limit)
			if ferr != nil {
				return dst, r.cursor(), ferr
			}
			if ok {
				continue
			}
			if len(r.pending()) == 0 && r.off >= limit {
				if limit, sealed, next, found = s.segmentEnd(r.seq); found && r.off < limit || sealed {
					continue // the writer appended meanwhile, or rolled
				}
				break // caught up with the writer
			}
			err = errCorrupt // the segment ends inside a record
		}
		if err != nil {
			s.countCorrupt(r.cursor(), limit)
			r.skipTo(limit)
			continue
		}
		if len(dst) > 0 && size+len(rec.Key)+len(rec.Value) > maxBytes {
			break
		}
		dst = append(dst, rec)
		size += len(rec.Key) + len(rec.Value)
		r.consume(n)
	}
	return dst, r.cursor(), nil
}

// segmentEnd tells the reader, at segment seq, how far it may read there,
// whether a later segment exists, and which one is next. found is false when
// seq was deleted because it was committed to its end.
func (s *Spool) segmentEnd(seq uint64) (limit int64, sealed bool, next uint64, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, seg := range s.segs {
		if seg.seq < seq {
			continue
		}
		sealed = i < len(s.segs)-1
		if seg.seq > seq {
			return 0, true, seg.seq, false
		}
		if sealed {
			next = s.segs[i+1].seq
		}
		return seg.size, sealed, next, true
	}
	return 0, false, 0, false
}

// countCorrupt counts a bad record at c that makes the reader skip to limit,
// once even if Rewind makes the reader meet it again.
func (s *Spool) countCorrupt(c Cursor, limit int64) {
	if c.off >= limit || c.before(s.corruptMark) {
		return
	}
	s.corruptRecords.Add(1)
	s.corruptBytes.Add(uint64(limit - c.off))
	s.corruptMark = Cursor{seg: c.seg, off: limit}
}

// Rewind makes the next ReadBatch start again at the committed cursor, for
// when delivering what was read failed.
func (s *Spool) Rewind() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	c := s.committed
	s.mu.Unlock()
	r := &s.rd
	if r.seq != c.seg {
		r.closeFile()
	}
	r.seq, r.off, r.n = c.seg, c.off, c.n
	r.start = len(r.buf)
}

// Commit records that the records up to c, a Cursor from ReadBatch, were
// delivered. It deletes the segments wholly before c, writes the cursor file
// (fsynced with policy Always) and updates Records, Bytes and Oldest; when
// that empties the spool, the writer moves to a fresh segment and the old
// one is deleted too. A cursor at or before the committed one is ignored;
// one past what ReadBatch returned since the last Rewind is an error, and
// nothing changes.
//
// Disk errors do not undo a commit: when deleting a segment or writing the
// cursor fails, the commit has still taken effect in memory — it must not be
// retried — and the error says what could not be made durable. The spool
// retries that later (see the package doc, Disk errors).
func (s *Spool) Commit(c Cursor) error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.committed.before(c) {
		return nil
	}
	if read := s.rd.cursor(); read.before(c) {
		return fmt.Errorf("spool: cannot commit %v: the reader is at %v; commit only Cursors from ReadBatch, none from before a Rewind", c, read)
	}

	// Segments before c's are done; so is c's if it is sealed and c is at
	// its end.
	gone := 0
	var done int64
	for gone < len(s.segs) && s.segs[gone].seq < c.seg {
		done += s.segs[gone].live
		gone++
	}
	if gone == len(s.segs) || s.segs[gone].seq != c.seg {
		return fmt.Errorf("spool: cannot commit %v: its segment is gone; commit only Cursors from ReadBatch", c)
	}
	in := c.n // records committed now in c's segment
	if s.committed.seg == c.seg {
		in -= s.committed.n
	}
	newCommitted := c
	if cs := s.segs[gone]; gone < len(s.segs)-1 && c.off >= cs.size {
		done += cs.live
		in = 0
		gone++
		newCommitted = Cursor{seg: s.segs[gone].seq}
	}

	var errs []error
	for _, seg := range s.segs[:gone] {
		if err := s.removeLocked(seg.seq); err != nil {
			errs = append(errs, err)
		}
		s.bytes -= seg.size
	}
	s.segs = append(s.segs[:0], s.segs[gone:]...)
	s.segs[0].live -= in
	done += in
	s.committed = newCommitted
	s.records -= done
	s.committedN.Add(uint64(done))
	if s.records > 0 {
		s.oldest = s.firstTime()
	} else if last := s.segs[0]; len(s.segs) == 1 && last.size > 0 && s.committed.off >= last.size {
		s.resetLocked()
	}
	if err := s.writeCursorLocked(); err != nil {
		errs = append(errs, err)
	}
	if len(s.orphans) > 0 {
		errs = append(errs, s.retryOrphansLocked())
	}
	if s.opt.Fsync == Always {
		errs = append(errs, s.syncDir())
	}
	return errors.Join(errs...)
}

// firstTime returns the time of the first valid record at or after the
// committed cursor.
func (s *Spool) firstTime() time.Time {
	off := s.committed.off
	for i, seg := range s.segs {
		if i > 0 {
			off = 0
		}
		if off >= seg.size {
			continue
		}
		if t, ok := s.timeAt(seg, off); ok {
			return t
		}
	}
	return time.Time{}
}

// timeAt reads the record at off in seg and returns its time if it is valid.
func (s *Spool) timeAt(seg segment, off int64) (time.Time, bool) {
	f := s.f
	if seg.seq != s.segs[len(s.segs)-1].seq {
		var err error
		if f, err = s.openSegment(seg.seq, false); err != nil {
			return time.Time{}, false
		}
		defer f.Close()
	}
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return time.Time{}, false
	}
	n := int64(binary.LittleEndian.Uint32(h[:]))
	if n < payloadFixed || n > MaxRecordBytes || off+headerSize+n > seg.size {
		return time.Time{}, false
	}
	if int64(cap(s.peekBuf)) < headerSize+n {
		s.peekBuf = make([]byte, headerSize+n)
	}
	b := s.peekBuf[:headerSize+n]
	if _, err := f.ReadAt(b, off); err != nil {
		return time.Time{}, false
	}
	rec, _, err := parseRecord(b)
	if cap(s.peekBuf) > readAhead {
		s.peekBuf = nil
	}
	return rec.Time, err == nil
}
