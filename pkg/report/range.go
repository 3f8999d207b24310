package report

import (
	"strconv"
	"strings"
	"time"
)

// Range is a report's days, both included, as YYYY-MM-DD in the pixel's
// time zone.
type Range struct {
	From, To string
}

// The longest ranges -last takes: ten years.
const (
	maxDays   = 3660
	maxWeeks  = 522
	maxMonths = 120
)

// ParseRange reads a report's range: from and to (YYYY-MM-DD, both
// included), or last, N days, weeks or months ending today, today
// included: "7d" is today and the 6 days before it, "4w" the 28 days
// ending today, "3m" the days after the same day three months earlier up to
// today (2026-02-16 to 2026-05-15 on May 15); where that month is shorter,
// after its last day (2026-03-01 to 2026-05-31 on May 31). today is the
// current time in the pixel's
// time zone. Nothing given is "7d". A from after to, a from without a to,
// or both a range and last, are errors.
func ParseRange(from, to, last string, today time.Time) (Range, error) {
	switch {
	case last != "" && (from != "" || to != ""):
		return Range{}, inputErr("give either -from and -to or -last, not both")
	case (from == "") != (to == ""):
		return Range{}, inputErr("give both -from and -to (YYYY-MM-DD, both days included), or -last 7d")
	case from != "":
		f, err := parseDay("-from", from)
		if err != nil {
			return Range{}, err
		}
		t, err := parseDay("-to", to)
		if err != nil {
			return Range{}, err
		}
		if t.Before(f) {
			return Range{}, inputErr("-from %s is after -to %s: the range is reversed", from, to)
		}
		return Range{From: from, To: to}, nil
	}
	if last == "" {
		last = "7d"
	}
	n, unit, err := parseLast(last)
	if err != nil {
		return Range{}, err
	}
	end := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	var start time.Time
	switch unit {
	case 'd':
		start = end.AddDate(0, 0, 1-n)
	case 'w':
		start = end.AddDate(0, 0, 1-7*n)
	case 'm':
		// The same day n months earlier, or that month's last day when it
		// is shorter, then the day after.
		first := time.Date(end.Year(), end.Month()-time.Month(n), 1, 0, 0, 0, 0, time.UTC)
		lastDay := first.AddDate(0, 1, -1).Day()
		start = first.AddDate(0, 0, min(end.Day(), lastDay))
	}
	return Range{From: start.Format(time.DateOnly), To: end.Format(time.DateOnly)}, nil
}

func parseDay(flag, s string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return d, inputErr("%s %q is not a day; want YYYY-MM-DD", flag, s)
	}
	return d, nil
}

// parseLast reads N followed by d, w or m.
func parseLast(s string) (int, byte, error) {
	bad := inputErr("-last %q: want a number of days, weeks or months: 7d, 4w or 3m", s)
	if len(s) < 2 {
		return 0, 0, bad
	}
	unit := s[len(s)-1]
	digits := s[:len(s)-1]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, 0, bad
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return 0, 0, bad
	}
	limit := map[byte]int{'d': maxDays, 'w': maxWeeks, 'm': maxMonths}[unit]
	if limit == 0 {
		return 0, 0, bad
	}
	if n > limit {
		return 0, 0, inputErr("-last %s: at most %d%c (ten years)", s, limit, unit)
	}
	return n, unit, nil
}

// ParseSize reads an amount of bytes: a number, or a number followed by KiB,
// MiB, GiB or TiB (2GiB is 2147483648); at most 1 PiB.
func ParseSize(s string) (uint64, error) {
	bad := inputErr("%q is not an amount of bytes; want e.g. 2GiB, 512MiB or 1073741824", s)
	num, mult := s, uint64(1)
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			num, mult = strings.TrimSpace(n), 1<<(10*(i+1))
			break
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > (1<<50)/mult {
		return 0, bad
	}
	return n * mult, nil
}
