package flagenv

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

type config struct {
	addr    string
	conns   int
	limit   int64
	verbose bool
	timeout time.Duration
}

func newSet(c *config) *Set {
	s := New("collector", "Answers pixel requests.\nSecond line.")
	s.String(&c.addr, "listen", "TEST_LISTEN", ":8080", "address to listen on")
	s.Int(&c.conns, "max-conns", "TEST_MAX_CONNS", 100, "concurrent connections")
	s.Int64(&c.limit, "limit", "TEST_LIMIT", 1<<20, "bytes")
	s.Bool(&c.verbose, "verbose", "TEST_VERBOSE", false, "log more")
	s.Duration(&c.timeout, "timeout", "TEST_TIMEOUT", time.Second, "read timeout")
	return s
}

func TestPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want config
	}{
		{"defaults", nil, nil, config{":8080", 100, 1 << 20, false, time.Second}},
		{
			"environment beats default",
			map[string]string{"TEST_LISTEN": ":9090", "TEST_MAX_CONNS": "5", "TEST_LIMIT": "7", "TEST_VERBOSE": "true", "TEST_TIMEOUT": "3s"},
			nil,
			config{":9090", 5, 7, true, 3 * time.Second},
		},
		{
			"flag beats environment",
			map[string]string{"TEST_LISTEN": ":9090", "TEST_MAX_CONNS": "5", "TEST_VERBOSE": "true", "TEST_TIMEOUT": "3s"},
			[]string{"-listen", ":7070", "-max-conns=6", "-verbose=false"},
			config{":7070", 6, 1 << 20, false, 3 * time.Second},
		},
		{
			"a flag given as its default still beats the environment",
			map[string]string{"TEST_MAX_CONNS": "5"},
			[]string{"-max-conns=100"},
			config{":8080", 100, 1 << 20, false, time.Second},
		},
		{
			"empty variable is a value",
			map[string]string{"TEST_LISTEN": ""},
			nil,
			config{"", 100, 1 << 20, false, time.Second},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var got config
			s := newSet(&got)
			if err := s.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	var c config
	s := newSet(&c)
	if err := s.Parse([]string{"-verbose", "migrate", "up"}); err != nil {
		t.Fatal(err)
	}
	if !c.verbose || !slices.Equal(s.Args(), []string{"migrate", "up"}) {
		t.Fatalf("verbose %v, args %q", c.verbose, s.Args())
	}
}

func TestBadEnvironmentValue(t *testing.T) {
	for _, tc := range []struct{ env, value, flag string }{
		{"TEST_MAX_CONNS", "many", "-max-conns"},
		{"TEST_VERBOSE", "perhaps", "-verbose"},
		{"TEST_TIMEOUT", "10", "-timeout"},
		{"TEST_LIMIT", "1e3", "-limit"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			var c config
			err := newSet(&c).Parse(nil)
			if err == nil {
				t.Fatalf("$%s=%q accepted", tc.env, tc.value)
			}
			for _, want := range []string{"$" + tc.env, `"` + tc.value + `"`, tc.flag} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
	// A flag on the command line makes a bad variable irrelevant.
	t.Setenv("TEST_MAX_CONNS", "many")
	var c config
	if err := newSet(&c).Parse([]string{"-max-conns=3"}); err != nil || c.conns != 3 {
		t.Fatalf("Parse = %v, conns %d", err, c.conns)
	}
}

func TestBadFlag(t *testing.T) {
	for _, args := range [][]string{{"-max-conns=many"}, {"-no-such-flag"}, {"-timeout", "soon"}} {
		var c config
		s := newSet(&c)
		var out bytes.Buffer
		s.fs.SetOutput(&out)
		if err := s.Parse(args); err == nil {
			t.Errorf("Parse(%q) accepted", args)
		}
		if !strings.Contains(out.String(), "[$TEST_MAX_CONNS]") {
			t.Errorf("Parse(%q) does not show the usage with the variables:\n%s", args, out.String())
		}
	}
}

func TestUsage(t *testing.T) {
	var c config
	s := newSet(&c)
	var out bytes.Buffer
	s.PrintUsage(&out)
	usage := out.String()
	for _, want := range []string{
		"Usage of collector:",
		"  Answers pixel requests.\n  Second line.",
		"address to listen on [$TEST_LISTEN]",
		"concurrent connections [$TEST_MAX_CONNS]",
		"bytes [$TEST_LIMIT]",
		"log more [$TEST_VERBOSE]",
		"read timeout [$TEST_TIMEOUT]",
		`(default ":8080")`,
		"(default 1s)",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
	// -help prints the same and reports flag.ErrHelp.
	out.Reset()
	s = newSet(&c)
	s.fs.SetOutput(&out)
	if err := s.Parse([]string{"-help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(-help) = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "[$TEST_LISTEN]") {
		t.Fatalf("-help output lacks the variables:\n%s", out.String())
	}
}

func TestList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"a", []string{"a"}},
		{"a, b ,c,", []string{"a", "b", "c"}},
		{"host1:9092,host2:9092", []string{"host1:9092", "host2:9092"}},
	} {
		if got := List(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
