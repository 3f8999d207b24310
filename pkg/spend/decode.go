package spend

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// decodeText returns a file's text as UTF-8 without a byte-order mark.
// Google Ads' "CSV for Excel" is UTF-16 (little-endian, with a BOM) and
// tab-separated; other downloads are UTF-8, often with a BOM; a file saved
// again by an older Excel may be Windows-1252, read as such when it is not
// valid UTF-8.
func decodeText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return utf16(data, unicode.LittleEndian, unicode.ExpectBOM)
	case len(data) >= 2 && data[0] != 0 && data[1] == 0:
		return utf16(data, unicode.LittleEndian, unicode.IgnoreBOM)
	case len(data) >= 2 && data[0] == 0 && data[1] != 0:
		return utf16(data, unicode.BigEndian, unicode.IgnoreBOM)
	}
	if utf8.Valid(data) {
		return string(data), nil
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(data)
	if err != nil {
		return "", fmt.Errorf("cannot read the file as UTF-8, UTF-16 or Windows-1252: %w", err)
	}
	return string(out), nil
}

func utf16(data []byte, e unicode.Endianness, b unicode.BOMPolicy) (string, error) {
	if len(data)%2 != 0 {
		return "", fmt.Errorf("the file looks like UTF-16 but has an odd number of bytes (%d): was it cut short?", len(data))
	}
	// ExpectBOM reads the BOM's byte order, whichever it is.
	out, err := unicode.UTF16(e, b).NewDecoder().Bytes(data)
	if err != nil {
		return "", fmt.Errorf("cannot read the file as UTF-16: %w", err)
	}
	return string(out), nil
}
