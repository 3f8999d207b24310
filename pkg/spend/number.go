package spend

import (
	"errors"
	"fmt"
	"strings"
)

// The exports write numbers for people: "1,234.56" in English, "1.234,56"
// in German, "1 234,56" in French, with "--" where there is nothing. Parse
// decides once per file which of '.' and ',' is the decimal separator (see
// decimalSeparator), the other one and spaces (also no-break spaces) and
// apostrophes (Swiss) being thousands separators, which must then group
// three digits.

// decimalSeparator decides a file's decimal separator from its numbers: a
// cost with both '.' and ',' has the decimal one last; a count (clicks,
// impressions) has no decimals, so a separator in it is the thousands one;
// "0,45" or "12.5" (not three digits after a single separator) is decimal.
// A file with no such evidence ("1,234" everywhere) is read as English,
// unless its columns are split by semicolons, as Excel does where the
// decimal separator is a comma.
func decimalSeparator(h header, recs []record, sep rune) byte {
	for _, rec := range recs {
		c := h.cell(rec.cells, fCost)
		if dot, comma := strings.LastIndexByte(c, '.'), strings.LastIndexByte(c, ','); dot >= 0 && comma >= 0 {
			if dot > comma {
				return '.'
			}
			return ','
		}
	}
	for _, rec := range recs {
		for _, f := range []field{fClicks, fImpressions} {
			c := h.cell(rec.cells, f)
			switch {
			case strings.Contains(c, ",") && !strings.Contains(c, "."):
				return '.'
			case strings.Contains(c, ".") && !strings.Contains(c, ","):
				return ','
			}
		}
		c := h.cell(rec.cells, fCost)
		dot, comma := strings.LastIndexByte(c, '.'), strings.LastIndexByte(c, ',')
		switch {
		case comma >= 0 && strings.Count(c, ",") > 1:
			return '.'
		case dot >= 0 && strings.Count(c, ".") > 1:
			return ','
		case comma >= 0 && digitsAfter(c, comma) != 3:
			return ','
		case dot >= 0 && digitsAfter(c, dot) != 3:
			return '.'
		}
	}
	if sep == ';' {
		return ','
	}
	return '.'
}

func digitsAfter(s string, i int) int {
	n := 0
	for _, c := range []byte(s[i+1:]) {
		if c < '0' || c > '9' {
			break
		}
		n++
	}
	return n
}

// number splits a cell into its sign, integer digits and fraction digits,
// dropping thousands separators, currency signs and "--" (nothing: zero).
func number(s string, dec byte) (neg bool, whole, frac string, err error) {
	s = strings.TrimSpace(s)
	for _, sym := range []string{"€", "$", "£", "¥", "₹", "CHF", "US$"} {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, sym), sym))
	}
	if s == "" || s == "--" || s == "-" || s == "—" {
		return false, "0", "", nil
	}
	if s[0] == '-' || s[0] == '+' {
		neg, s = s[0] == '-', strings.TrimSpace(s[1:])
	} else if len(s) > 2 && s[0] == '(' && s[len(s)-1] == ')' { // accounting negative
		neg, s = true, s[1:len(s)-1]
	}
	whole, frac, hasFrac := strings.Cut(s, string(dec))
	if hasFrac && frac == "" {
		return false, "", "", fmt.Errorf("cannot read %q: nothing after the decimal separator %q", s, dec)
	}
	thousands := byte(',')
	if dec == ',' {
		thousands = '.'
	}
	var b strings.Builder
	group := -1 // digits since the last thousands separator; -1 before the first
	for i := 0; i < len(whole); {
		c := whole[i]
		if '0' <= c && c <= '9' {
			b.WriteByte(c)
			if group >= 0 {
				group++
			}
			i++
			continue
		}
		width := 0
		switch {
		case c == thousands, c == ' ', c == '\'':
			width = 1
		case strings.HasPrefix(whole[i:], "\u00a0"): // no-break space
			width = len("\u00a0")
		case strings.HasPrefix(whole[i:], "\u202f"): // narrow no-break space (French)
			width = len("\u202f")
		default:
			return false, "", "", fmt.Errorf("cannot read %q as a number (this file's decimal separator is %q)", s, dec)
		}
		if b.Len() == 0 || (group >= 0 && group != 3) {
			return false, "", "", fmt.Errorf("cannot read %q: thousands separators must group three digits (this file's decimal separator is %q)", s, dec)
		}
		group = 0
		i += width
	}
	if group >= 0 && group != 3 {
		return false, "", "", fmt.Errorf("cannot read %q: thousands separators must group three digits (this file's decimal separator is %q)", s, dec)
	}
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return false, "", "", fmt.Errorf("cannot read %q as a number (this file's decimal separator is %q)", s, dec)
		}
	}
	whole = strings.TrimLeft(b.String(), "0")
	if whole == "" && frac == "" && b.Len() == 0 {
		return false, "", "", fmt.Errorf("cannot read %q as a number", s)
	}
	return neg, whole, frac, nil
}

// maxWholeDigits keeps micros within an int64: 10^12 units is 10^18 micros.
const maxWholeDigits = 12

// parseMicros reads an amount as millionths, rounding beyond six decimals
// half away from zero.
func parseMicros(s string, dec byte) (int64, error) {
	neg, whole, frac, err := number(s, dec)
	if err != nil {
		return 0, err
	}
	if len(whole) > maxWholeDigits {
		return 0, fmt.Errorf("cannot read %q: more than %d digits before the decimal separator", s, maxWholeDigits)
	}
	var m int64
	for i := 0; i < len(whole); i++ {
		m = m*10 + int64(whole[i]-'0')
	}
	for i := 0; i < 6; i++ {
		m *= 10
		if i < len(frac) {
			m += int64(frac[i] - '0')
		}
	}
	if len(frac) > 6 && frac[6] >= '5' {
		m++
	}
	if neg {
		m = -m
	}
	return m, nil
}

// parseCount reads a whole, non-negative number (clicks, impressions).
func parseCount(s string, dec byte) (uint64, error) {
	neg, whole, frac, err := number(s, dec)
	if err != nil {
		return 0, err
	}
	if strings.Trim(frac, "0") != "" {
		return 0, fmt.Errorf("cannot read %q: a count has no fraction", s)
	}
	if neg && whole != "" {
		return 0, fmt.Errorf("cannot read %q: a count is not negative", s)
	}
	if len(whole) > 18 {
		return 0, errors.New("cannot read " + fmt.Sprintf("%q", s) + ": too large")
	}
	var n uint64
	for i := 0; i < len(whole); i++ {
		n = n*10 + uint64(whole[i]-'0')
	}
	return n, nil
}
