package spend

import (
	"strings"
	"testing"
)

func TestParseMicros(t *testing.T) {
	for _, tc := range []struct {
		in   string
		dec  byte
		want int64
		ok   bool
	}{
		{"1,234.56", '.', 1_234_560_000, true},
		{"1.234,56", ',', 1_234_560_000, true},
		{"1'234.56", '.', 1_234_560_000, true},
		{"(12.00)", '.', -12_000_000, true},
		{"-0.5", '.', -500_000, true},
		{"€ 3", '.', 3_000_000, true},
		{"3 €", ',', 3_000_000, true},
		{"0.0000005", '.', 1, true},
		{"0.0000004", '.', 0, true},
		{"--", '.', 0, true},
		{"", '.', 0, true},
		{"1,23.4", '.', 0, false},
		{",123", '.', 0, false},
		{"1.", '.', 0, false},
		{"1e3", '.', 0, false},
		{"+", '.', 0, false},
		{"1.2.3", '.', 0, false},
	} {
		got, err := parseMicros(tc.in, tc.dec)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseMicros(%q, %q) = %d, %v; want %d, ok %v", tc.in, tc.dec, got, err, tc.want, tc.ok)
		}
	}
}

// An amount written as the exports write it reads back as itself, in
// either locale, grouped or not.
func FuzzMicrosRoundTrip(f *testing.F) {
	for _, m := range []int64{0, 1, 999_999, 1_234_560_000, -2_500_000, 999_999_999_999_999_999} {
		f.Add(m, false)
		f.Add(m, true)
	}
	f.Fuzz(func(t *testing.T, m int64, comma bool) {
		if m <= -1e18 || m >= 1e18 {
			return
		}
		s := FormatMicros(m)
		whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
		var b strings.Builder
		if m < 0 {
			b.WriteByte('-')
		}
		thousands, dec := ",", "."
		if comma {
			thousands, dec = ".", ","
		}
		for i := range len(whole) {
			if i > 0 && (len(whole)-i)%3 == 0 {
				b.WriteString(thousands)
			}
			b.WriteByte(whole[i])
		}
		b.WriteString(dec + frac)
		got, err := parseMicros(b.String(), dec[0])
		if err != nil || got != m {
			t.Fatalf("%d written as %q reads as %d, %v", m, b.String(), got, err)
		}
		plain, err := parseMicros(s, '.')
		if err != nil || plain != m {
			t.Fatalf("%d written as %q reads as %d, %v", m, s, plain, err)
		}
	})
}
