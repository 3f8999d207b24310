package spool

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
)

// The cursor file, CURSOR, holds the committed position twice, in two slots
// of cursorSlotSize (128) bytes. Each slot is one line followed by zero bytes:
//
//	"00000000000000000007.seg 4096 42 1a2b3c4d\n"
//	 segment file name, byte offset of the first uncommitted record in it,
//	 generation, CRC-32C (hex) of everything before the last space
//
// A write overwrites the slot of the older generation in place, so the file
// never needs a new block after Open — a full disk cannot stop a commit — and
// a torn write leaves the other slot intact. The valid slot of the higher
// generation is the cursor. A file that holds one plain line
// "00000000000000000007.seg 4096\n", as earlier versions wrote, is read too.
const (
	cursorSlotSize = 128 // a line is at most 24+1+19+1+20+1+8+1 = 75 bytes
	cursorFileSize = 2 * cursorSlotSize
)

// appendCursorSlot appends one slot for c at generation gen to dst.
func appendCursorSlot(dst []byte, c Cursor, gen uint64) []byte {
	start := len(dst)
	dst = append(dst, segName(c.seg)...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, c.off, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, gen, 10)
	sum := crc32.Checksum(dst[start:], castagnoli)
	dst = append(dst, ' ')
	dst = fmt.Appendf(dst, "%08x", sum)
	dst = append(dst, '\n')
	for len(dst)-start < cursorSlotSize {
		dst = append(dst, 0)
	}
	return dst
}

// parseCursorSlot reads one slot; ok is false unless it is well formed and
// its checksum matches.
func parseCursorSlot(b []byte) (c Cursor, gen uint64, ok bool) {
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		return Cursor{}, 0, false
	}
	line := b[:end]
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 || len(line)-sp-1 != 8 {
		return Cursor{}, 0, false
	}
	sum, err := strconv.ParseUint(string(line[sp+1:]), 16, 32)
	if err != nil || uint32(sum) != crc32.Checksum(line[:sp], castagnoli) {
		return Cursor{}, 0, false
	}
	body := line[:sp]
	gp := bytes.LastIndexByte(body, ' ')
	if gp < 0 {
		return Cursor{}, 0, false
	}
	if gen, err = strconv.ParseUint(string(body[gp+1:]), 10, 64); err != nil {
		return Cursor{}, 0, false
	}
	if c, ok = parseCursor(append(body[:gp:gp], '\n')); !ok {
		return Cursor{}, 0, false
	}
	return c, gen, true
}

// parseCursorFile reads a cursor file's content: the valid slot of the higher
// generation, or a plain line of the earlier format (generation 0).
func parseCursorFile(b []byte) (c Cursor, gen uint64, ok bool) {
	if len(b) == cursorFileSize {
		c0, g0, ok0 := parseCursorSlot(b[:cursorSlotSize])
		c1, g1, ok1 := parseCursorSlot(b[cursorSlotSize:])
		switch {
		case ok0 && (!ok1 || g0 > g1):
			return c0, g0, true
		case ok1:
			return c1, g1, true
		}
		return Cursor{}, 0, false
	}
	c, ok = parseCursor(b)
	return c, 0, ok
}

// openCursor opens CURSOR for writing in place, creating it (through
// CURSOR.tmp and a rename) when it is missing or not of the current format.
// mu must be held, or the Spool not yet shared.
func (s *Spool) openCursor() error {
	if s.cur != nil {
		return nil
	}
	name := s.path(cursorName)
	if f, err := s.fs.OpenFile(name, os.O_RDWR, 0); err == nil {
		if fi, err := f.Stat(); err == nil && fi.Size() == cursorFileSize {
			var b [cursorFileSize]byte
			if n, _ := f.ReadAt(b[:], 0); n == cursorFileSize {
				if _, _, ok := parseCursorFile(b[:]); ok {
					s.cur = f
					return nil
				}
			}
		}
		f.Close()
	}
	// Both slots hold the committed cursor: the first write then replaces
	// one of them and the other stays valid.
	b := make([]byte, 0, cursorFileSize)
	s.curGen++
	b = appendCursorSlot(b, s.committed, s.curGen)
	b = appendCursorSlot(b, s.committed, s.curGen)
	tmp := s.path(cursorTmp)
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		s.cursorErrors.Add(1)
		return fmt.Errorf("spool: cannot create the cursor file: %w; check free disk space and the spool dir's permissions", err)
	}
	_, err = f.WriteAt(b, 0)
	if err == nil && s.opt.Fsync != Never {
		s.fsyncs.Add(1)
		err = f.Sync()
	}
	if err == nil {
		err = s.fs.Rename(tmp, name)
	}
	if err != nil {
		f.Close()
		_ = s.fs.Remove(tmp)
		s.cursorErrors.Add(1)
		return fmt.Errorf("spool: cannot create the cursor file: %w; check free disk space and the disk", err)
	}
	s.cur = f
	s.curDirty = false
	s.dirDirty = true
	return nil
}

// writeCursorLocked makes CURSOR say s.committed: it overwrites the older
// slot in place (fsynced with policy Always). On failure curDirty stays set
// and the next Commit, the background fsync or Close tries again.
func (s *Spool) writeCursorLocked() error {
	s.curDirty = true
	if s.cur == nil {
		if err := s.openCursor(); err != nil {
			return err
		}
		return nil // created with the committed cursor
	}
	var b [cursorSlotSize]byte
	gen := s.curGen + 1
	slot := appendCursorSlot(b[:0], s.committed, gen)
	_, err := s.cur.WriteAt(slot, int64(gen%2)*cursorSlotSize)
	if err == nil && s.opt.Fsync == Always {
		s.fsyncs.Add(1)
		if err = s.cur.Sync(); err != nil {
			s.fsyncErrors.Add(1)
		}
	}
	if err != nil {
		s.cursorErrors.Add(1)
		return fmt.Errorf("spool: cannot write the cursor: %w; check the disk (the commit holds until a restart, which replays at most the first segment again)", err)
	}
	s.curGen = gen
	s.curDirty = false
	s.curUnsynced = s.opt.Fsync == Interval // the background fsync makes it durable
	return nil
}
