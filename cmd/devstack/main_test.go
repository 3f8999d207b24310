package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

func parseFlags(args []string) (*config, error) {
	c, fs := newConfig()
	return c, fs.Parse(args)
}

func TestRestartFlags(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.restart != devstack.DefaultBackoff() {
		t.Fatalf("restart backoff %+v by default, want %+v", c.restart, devstack.DefaultBackoff())
	}
	t.Setenv("DEVSTACK_RESTART_BACKOFF_MAX", "1m")
	c, err = parseFlags([]string{"-restart-backoff", "1s", "-restart-reset", "2m"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (devstack.Backoff{Min: time.Second, Max: time.Minute, Reset: 2 * time.Minute}); c.restart != want {
		t.Fatalf("restart backoff %+v, want %+v", c.restart, want)
	}
	for _, args := range [][]string{
		{"-restart-backoff", "0s"},
		{"-restart-backoff", "2m"}, // beyond -restart-backoff-max
		{"-restart-reset", "0s"},
	} {
		if _, err := parseFlags(args); err == nil || !strings.Contains(err.Error(), "-restart-backoff") {
			t.Errorf("parseFlags(%v) = %v, want an error naming the flags", args, err)
		}
	}
}
