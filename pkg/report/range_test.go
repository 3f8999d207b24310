package report_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/report"
)

func TestParseRange(t *testing.T) {
	// 00:30 on May 31 in Paris is still May 30 in UTC: today is the
	// pixel's day, which the caller gives in the pixel's zone.
	paris, _ := time.LoadLocation("Europe/Paris")
	may31 := time.Date(2026, 5, 31, 0, 30, 0, 0, paris)
	may15 := time.Date(2026, 5, 15, 23, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		from, to, last string
		today          time.Time
		want           report.Range
	}{
		{"", "", "", may31, report.Range{From: "2026-05-25", To: "2026-05-31"}},
		{"", "", "7d", may31, report.Range{From: "2026-05-25", To: "2026-05-31"}},
		{"", "", "1d", may31, report.Range{From: "2026-05-31", To: "2026-05-31"}},
		{"", "", "30d", may31, report.Range{From: "2026-05-02", To: "2026-05-31"}},
		{"", "", "4w", may31, report.Range{From: "2026-05-04", To: "2026-05-31"}},
		{"", "", "1w", may15, report.Range{From: "2026-05-09", To: "2026-05-15"}},
		{"", "", "3m", may31, report.Range{From: "2026-03-01", To: "2026-05-31"}},
		{"", "", "3m", may15, report.Range{From: "2026-02-16", To: "2026-05-15"}},
		{"", "", "1m", time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC), report.Range{From: "2026-03-01", To: "2026-03-31"}},
		{"", "", "12m", time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), report.Range{From: "2023-03-01", To: "2024-02-29"}},
		{"", "", "007d", may31, report.Range{From: "2026-05-25", To: "2026-05-31"}},
		{"2026-01-01", "2026-01-31", "", may31, report.Range{From: "2026-01-01", To: "2026-01-31"}},
		{"2026-01-01", "2026-01-01", "", may31, report.Range{From: "2026-01-01", To: "2026-01-01"}},
	} {
		got, err := report.ParseRange(tc.from, tc.to, tc.last, tc.today)
		if err != nil || got != tc.want {
			t.Errorf("ParseRange(%q, %q, %q, %v) = %v, %v; want %v", tc.from, tc.to, tc.last, tc.today, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ from, to, last, want string }{
		{"2026-02-01", "2026-01-31", "", "reversed"},
		{"2026-01-01", "", "", "both -from and -to"},
		{"", "2026-01-01", "", "both -from and -to"},
		{"2026-01-01", "2026-01-02", "7d", "not both"},
		{"2026-02-30", "2026-03-01", "", `-from "2026-02-30" is not a day`},
		{"2026-01-01", "tomorrow", "", `-to "tomorrow" is not a day`},
		{"", "", "7", "want a number of days"},
		{"", "", "d", "want a number"},
		{"", "", "0d", "want a number"},
		{"", "", "-1d", "want a number"},
		{"", "", "+1d", "want a number"},
		{"", "", "7y", "want a number"},
		{"", "", "7D", "want a number"},
		{"", "", " 7d", "want a number"},
		{"", "", "3661d", "at most 3660d"},
		{"", "", "121m", "at most 120m"},
		{"", "", "99999999999999999999d", "want a number"},
	} {
		_, err := report.ParseRange(tc.from, tc.to, tc.last, may31)
		var re *report.Error
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &re) {
			t.Errorf("ParseRange(%q, %q, %q) = %v; want a report.Error containing %q", tc.from, tc.to, tc.last, err, tc.want)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range [][3]string{{"", "", "7d"}, {"", "", "3m"}, {"", "", "4w"}, {"2026-01-01", "2026-01-31", ""}, {"2026-02-30", "x", ""}, {"", "", "120m"}} {
		f.Add(s[0], s[1], s[2], int64(1780000000))
	}
	f.Fuzz(func(t *testing.T, from, to, last string, unix int64) {
		today := time.Unix(unix%(400*365*86400), 0).UTC()
		r, err := report.ParseRange(from, to, last, today)
		if err != nil {
			var re *report.Error
			if !errors.As(err, &re) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v is not one line of a report.Error", err)
			}
			return
		}
		f, ferr := time.Parse(time.DateOnly, r.From)
		e, terr := time.Parse(time.DateOnly, r.To)
		if ferr != nil || terr != nil || e.Before(f) {
			t.Fatalf("ParseRange(%q, %q, %q) = %v: not an ordered range of days", from, to, last, r)
		}
		if last != "" || from == "" {
			if r.To != today.Format(time.DateOnly) || e.Sub(f) > 3660*24*time.Hour {
				t.Fatalf("-last %q on %v = %v: want a range ending today, at most ten years", last, today, r)
			}
		}
	})
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]uint64{"0": 0, "1073741824": 1 << 30, "2GiB": 2 << 30, "512MiB": 512 << 20, "1 GiB": 1 << 30, "3KiB": 3072, "1TiB": 1 << 40, "1024TiB": 1 << 50} {
		if got, err := report.ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "GiB", "2GB", "2 gib", "-1", "1.5GiB", "1025TiB", "18446744073709551616", "0x10"} {
		if _, err := report.ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) accepted", s)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"2GiB", "1073741824", "512MiB", "1 KiB", "1024TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := report.ParseSize(s)
		if err == nil && n > 1<<50 {
			t.Fatalf("ParseSize(%q) = %d, over the limit", s, n)
		}
	})
}
