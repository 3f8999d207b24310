package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"
)

// Record format, all integers little-endian:
//
//	header:  [4 payload length][4 CRC-32C (Castagnoli) of the payload]
//	payload: [8 time, unix nanoseconds][2 key length][key][value]
//
// A payload is at least 10 bytes (time and key length) and at most
// MaxRecordBytes long, so a hostile length never makes a reader allocate more.
const (
	headerSize   = 8
	payloadFixed = 10

	// MaxRecordBytes caps a record's payload (time, key length, key and
	// value). Append refuses larger records with ErrTooLarge; a reader treats
	// a larger length on disk as corruption.
	MaxRecordBytes = 16 << 20

	// MaxKeyBytes caps a record's key: its length is stored in two bytes.
	MaxKeyBytes = 1<<16 - 1
)

// Names in a spool directory.
const (
	segSuffix  = ".seg"
	segNameLen = 20 + len(segSuffix)
	cursorName = "CURSOR"
	cursorTmp  = "CURSOR.tmp"
	lockName   = "LOCK"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errShort   = errors.New("spool: record continues past the bytes at hand")
	errCorrupt = errors.New("spool: bad record length or checksum")
)

// recordSize is the encoded size of a record with the given key and value
// lengths, or ErrTooLarge.
func recordSize(keyLen, valueLen int) (int, error) {
	if keyLen > MaxKeyBytes {
		return 0, fmt.Errorf("%w: key is %d bytes, at most %d fit", ErrTooLarge, keyLen, MaxKeyBytes)
	}
	if payloadFixed+keyLen+valueLen > MaxRecordBytes {
		return 0, fmt.Errorf("%w: key and value are %d bytes, at most %d fit", ErrTooLarge, keyLen+valueLen, MaxRecordBytes-payloadFixed)
	}
	return headerSize + payloadFixed + keyLen + valueLen, nil
}

// appendRecord appends one encoded record to dst. The caller checked the
// lengths with recordSize.
func appendRecord(dst, key, value []byte, ts time.Time) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(payloadFixed+len(key)+len(value)))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // checksum, filled in below
	dst = binary.LittleEndian.AppendUint64(dst, uint64(ts.UnixNano()))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = append(dst, key...)
	dst = append(dst, value...)
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+headerSize:], castagnoli))
	return dst
}

// parseRecord decodes the record at the start of b and returns it with its
// encoded size. Key and Value point into b. When b holds only the start of a
// record whose header is sane, it returns errShort and the number of bytes the
// whole record (or its header) needs; when the length, checksum or key length
// is impossible it returns errCorrupt.
func parseRecord(b []byte) (Record, int, error) {
	if len(b) < headerSize {
		return Record{}, headerSize, errShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n < payloadFixed || n > MaxRecordBytes {
		return Record{}, 0, errCorrupt
	}
	size := headerSize + int(n)
	if len(b) < size {
		return Record{}, size, errShort
	}
	p := b[headerSize:size]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return Record{}, 0, errCorrupt
	}
	k := payloadFixed + int(binary.LittleEndian.Uint16(p[8:]))
	if k > len(p) {
		return Record{}, 0, errCorrupt
	}
	return Record{
		Key:   p[payloadFixed:k:k], // capacity cut so appending to Key cannot overwrite Value
		Value: p[k:len(p):len(p)],
		Time:  time.Unix(0, int64(binary.LittleEndian.Uint64(p))),
	}, size, nil
}

// segName is the file name of segment seq: 20 zero-padded digits and ".seg",
// so names sort like their numbers.
func segName(seq uint64) string {
	var b [segNameLen]byte
	s := strconv.AppendUint(b[:0], seq, 10)
	pad := 20 - len(s)
	copy(b[pad:], s)
	for i := range pad {
		b[i] = '0'
	}
	copy(b[20:], segSuffix)
	return string(b[:])
}

// parseSegName is the inverse of segName; it rejects every other name.
func parseSegName(name string) (uint64, bool) {
	if len(name) != segNameLen || name[20:] != segSuffix {
		return 0, false
	}
	for i := range 20 {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(name[:20], 10, 64)
	return seq, err == nil
}

// The cursor file is one line: the committed segment's file name, a space and
// the byte offset in it of the first uncommitted record, e.g.
// "00000000000000000007.seg 4096\n".
func appendCursor(dst []byte, c Cursor) []byte {
	dst = append(dst, segName(c.seg)...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, c.off, 10)
	return append(dst, '\n')
}

// parseCursor reads a cursor file's content; ok is false for anything that is
// not exactly one well-formed line.
func parseCursor(b []byte) (c Cursor, ok bool) {
	line, found := bytes.CutSuffix(b, []byte("\n"))
	if !found {
		return Cursor{}, false
	}
	name, offText, found := bytes.Cut(line, []byte(" "))
	if !found {
		return Cursor{}, false
	}
	seq, ok := parseSegName(string(name))
	if !ok {
		return Cursor{}, false
	}
	off, err := strconv.ParseInt(string(offText), 10, 64)
	if err != nil || off < 0 {
		return Cursor{}, false
	}
	return Cursor{seg: seq, off: off}, true
}
