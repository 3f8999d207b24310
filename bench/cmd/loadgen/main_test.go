package main

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

func TestHelpDocumentsEveryFlag(t *testing.T) {
	fs := newFlagSet(&options{cfg: loadgen.DefaultConfig()}, &rawFlags{})
	var b strings.Builder
	fs.PrintUsage(&b)
	help := b.String()
	for _, name := range []string{
		"target", "path", "allow-remote", "rate", "duration", "max-requests", "connections", "timeout", "seed",
		"visitors", "cookie-fraction", "pixel-ids", "events", "props-fraction", "malformed-fraction",
		"event-ids", "event-id-prefix", "json",
	} {
		env := "[$LOADGEN_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "]"
		if !strings.Contains(help, "-"+name+" ") && !strings.Contains(help, "-"+name+"\n") || !strings.Contains(help, env) {
			t.Errorf("-help does not document -%s with %s", name, env)
		}
	}
	if n := strings.Count(help, "[$LOADGEN_"); n != 18 {
		t.Errorf("-help lists %d flags; update this test when adding one", n)
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	t.Setenv("LOADGEN_RATE", "250.5")
	t.Setenv("LOADGEN_COOKIE_FRACTION", "0.25")
	t.Setenv("LOADGEN_CONNECTIONS", "99") // the flag wins
	o, err := parseFlags([]string{"-connections", "3", "-events", "PageView=1,Purchase=1", "-pixel-ids", "a, b", "-seed", "7", "-json", "out.json"})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Rate != 250.5 || c.Mix.CookieFraction != 0.25 || c.Connections != 3 || c.Seed != 7 || o.jsonPath != "out.json" {
		t.Errorf("config %+v", c)
	}
	if c.Mix.Events != (loadgen.EventMix{PageView: 1, Purchase: 1}) || strings.Join(c.Mix.PixelIDs, "|") != "a|b" {
		t.Errorf("mix %+v", c.Mix)
	}
	if c.Duration != 10*time.Second || c.Mix.MalformedFraction != loadgen.DefaultMalformedFraction || c.Mix.Visitors != loadgen.DefaultVisitors {
		t.Errorf("defaults lost: %+v", c)
	}
	for _, args := range [][]string{{"-rate", "fast"}, {"-events", "Signup=1"}, {"-seed", "-1"}, {"extra"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}); err != flag.ErrHelp {
		t.Errorf("-h: %v", err)
	}
}
