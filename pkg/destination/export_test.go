package destination

import "time"

// SetClock makes s read the time from now.
func SetClock(s *Store, now func() time.Time) { s.now = now }

// ParseSettings is parseSettings: a kind's settings from the stored JSON.
func ParseSettings(d *Destination, text string) error { return parseSettings(d, text) }
