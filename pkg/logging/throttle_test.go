package logging

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	th := NewThrottle(time.Hour)
	if ok, held := th.Allow(); !ok || held != 0 {
		t.Fatalf("first line: ok %v held %d, want true 0", ok, held)
	}
	for range 5 {
		if ok, _ := th.Allow(); ok {
			t.Fatal("a second line within the interval got through")
		}
	}
	th.last = th.last.Add(-2 * time.Hour) // the interval has passed
	if ok, held := th.Allow(); !ok || held != 5 {
		t.Fatalf("after the interval: ok %v held %d, want true 5", ok, held)
	}
	var none *Throttle
	if ok, _ := none.Allow(); !ok {
		t.Fatal("a nil Throttle held a line back")
	}
}
