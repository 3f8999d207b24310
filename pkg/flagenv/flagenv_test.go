package flagenv

import (
	"bytes"
	"errors"
	"flag"
	"io"
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

// The connection flags: flag > environment > fallback (run/stack.env) >
// default, and Source says which one it was.
func TestFallbackPrecedence(t *testing.T) {
	const from = "run/stack.env, written by make run"
	file := map[string]string{"CLICKHOUSE_ADDR": "127.0.0.1:19000", "KAFKA_BROKERS": "127.0.0.1:19092", "KAFKA_TOPIC": "file.topic", "TEST_LISTEN": ":1"}
	type conns struct {
		addr, brokers []string
		db, user, pw  string
		topic, listen string
	}
	parse := func(t *testing.T, vars map[string]string, args ...string) (conns, *Set) {
		t.Helper()
		c := conns{addr: []string{"127.0.0.1:9000"}, brokers: []string{"127.0.0.1:9092"}, db: "pixel", user: "default", topic: "pixel.events"}
		s := New("pixelctl", "")
		s.ClickHouse(&c.addr, &c.db, &c.user, &c.pw)
		s.Kafka(&c.brokers, &c.topic)
		s.String(&c.listen, "listen", "TEST_LISTEN", ":8080", "not a connection flag: never from the fallback")
		s.Fallback(vars, from)
		if err := s.Parse(args); err != nil {
			t.Fatal(err)
		}
		return c, s
	}

	c, s := parse(t, nil)
	if c.addr[0] != "127.0.0.1:9000" || c.brokers[0] != "127.0.0.1:9092" || c.topic != "pixel.events" {
		t.Fatalf("defaults: %+v", c)
	}
	if src := s.Source("clickhouse-addr"); src.Kind != Default ||
		src.String() != "the default (no -clickhouse-addr, $CLICKHOUSE_ADDR or run/stack.env, written by make run)" {
		t.Fatalf("source of a default: %v %q", src.Kind, src)
	}

	c, s = parse(t, file)
	if c.addr[0] != "127.0.0.1:19000" || c.brokers[0] != "127.0.0.1:19092" || c.topic != "file.topic" || c.listen != ":8080" {
		t.Fatalf("from the file: %+v", c)
	}
	if src := s.Source("clickhouse-addr"); src.Kind != Fallback || src.String() != from {
		t.Fatalf("source of a fallback value: %v %q", src.Kind, src)
	}
	if src := s.Source("clickhouse-database"); src.Kind != Default {
		t.Fatalf("a variable the file lacks: %v", src.Kind)
	}

	t.Setenv("CLICKHOUSE_ADDR", "10.0.0.5:9000")
	c, s = parse(t, file)
	if c.addr[0] != "10.0.0.5:9000" || c.brokers[0] != "127.0.0.1:19092" {
		t.Fatalf("environment over the file: %+v", c)
	}
	if src := s.Source("clickhouse-addr"); src.Kind != Environment || src.String() != "$CLICKHOUSE_ADDR" {
		t.Fatalf("source of an environment value: %v %q", src.Kind, src)
	}

	c, s = parse(t, file, "-clickhouse-addr", "a:1,b:2", "-kafka-topic", "flag.topic")
	if strings.Join(c.addr, "|") != "a:1|b:2" || c.topic != "flag.topic" || c.brokers[0] != "127.0.0.1:19092" {
		t.Fatalf("flags over the environment and the file: %+v", c)
	}
	if src := s.Source("clickhouse-addr"); src.Kind != CommandLine || src.String() != "-clickhouse-addr" {
		t.Fatalf("source of a flag: %v %q", src.Kind, src)
	}
}

func TestFallbackValueThatDoesNotParse(t *testing.T) {
	var d time.Duration
	var addr []string
	var db, user, pw string
	s := New("consumer", "")
	s.ClickHouse(&addr, &db, &user, &pw)
	s.Duration(&d, "wait", "TEST_WAIT", 0, "")
	s.Fallback(map[string]string{"CLICKHOUSE_ADDR": " , "}, "run/stack.env, written by make run")
	err := s.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), "-clickhouse-addr is empty") {
		t.Fatalf("an empty address list from the file: %v", err)
	}
}

func TestFuncStringsFloat(t *testing.T) {
	var (
		policy  string
		calls   int
		list    = []string{"a", "b"}
		ratio   float64
		samples []string
	)
	newSet := func() *Set {
		s := New("t", "")
		s.Func("policy", "TEST_POLICY", "interval", "always, interval or never", func(v string) error {
			calls++
			if v != "always" && v != "interval" && v != "never" {
				return errors.New("want always, interval or never")
			}
			policy = v
			return nil
		})
		s.Strings(&list, "list", "TEST_LIST", "a list")
		s.Float64(&ratio, "ratio", "TEST_RATIO", 0.5, "a share")
		s.Check(func() error {
			if ratio > 1 {
				return errors.New("-ratio must be at most 1")
			}
			samples = append(samples, policy)
			return nil
		})
		return s
	}
	var out bytes.Buffer
	s := newSet()
	s.PrintUsage(&out)
	s.fs.SetOutput(io.Discard)
	for _, want := range []string{"(default interval)", `(default a,b)`, "(default 0.5)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	// The default goes through the parser, once.
	if err := s.Parse(nil); err != nil || policy != "interval" || calls != 1 || ratio != 0.5 || strings.Join(list, ",") != "a,b" {
		t.Fatalf("defaults: %v, policy %q (%d calls), ratio %v, list %q", err, policy, calls, ratio, list)
	}
	t.Setenv("TEST_POLICY", "never")
	t.Setenv("TEST_LIST", " x, ,y ")
	if err := newSet().Parse([]string{"-ratio", "0.25"}); err != nil || policy != "never" || ratio != 0.25 || strings.Join(list, ",") != "x,y" {
		t.Fatalf("environment and flags: %v, policy %q, ratio %v, list %q", err, policy, ratio, list)
	}
	bad := newSet()
	bad.fs.SetOutput(io.Discard)
	if err := bad.Parse([]string{"-policy", "sometimes"}); err == nil || !strings.Contains(err.Error(), "want always") {
		t.Fatalf("a bad Func value: %v", err)
	}
	t.Setenv("TEST_POLICY", "sometimes")
	if err := newSet().Parse(nil); err == nil || !strings.Contains(err.Error(), `$TEST_POLICY="sometimes"`) {
		t.Fatalf("a bad Func variable: %v", err)
	}
	if err := newSet().Parse([]string{"-policy", "always", "-ratio", "2"}); err == nil || err.Error() != "-ratio must be at most 1" {
		t.Fatalf("a check: %v", err)
	}
	if samples[0] != "interval" {
		t.Fatalf("checks ran before the values were set: %q", samples)
	}
}

func TestAlso(t *testing.T) {
	var addr string
	header := true
	s := New("pixelctl query", "")
	s.String(&addr, "clickhouse-addr", "TEST_CH_ADDR", "127.0.0.1:9000", "")
	s.Bool(&header, "header", "TEST_HEADER", true, "")
	t.Setenv("TEST_CH_ADDR", "from.env:9000")
	if err := s.Parse([]string{"conversions", "-clickhouse-addr", "later:9000", "-header=false"}); err != nil {
		t.Fatal(err)
	}
	if s.Source("clickhouse-addr").Kind != Environment {
		t.Fatalf("before the name: %v", s.Source("clickhouse-addr"))
	}
	rest := flag.NewFlagSet("conversions", flag.ContinueOnError)
	s.Also(rest, "clickhouse-addr", "header")
	if err := rest.Parse(s.Args()[1:]); err != nil {
		t.Fatal(err)
	}
	if addr != "later:9000" || header || s.Source("clickhouse-addr").Kind != CommandLine {
		t.Fatalf("after the name: addr %q, header %v, source %v", addr, header, s.Source("clickhouse-addr"))
	}
}

func TestGroupsUsage(t *testing.T) {
	var level, format, topic, db, user, pw = "info", "json", "pixel.events", "pixel", "default", ""
	brokers, addr := []string{"127.0.0.1:9092"}, []string{"127.0.0.1:9000"}
	s := New("consumer", "")
	s.Logging(&level, &format)
	s.Kafka(&brokers, &topic)
	s.ClickHouse(&addr, &db, &user, &pw)
	s.Fallback(map[string]string{"CLICKHOUSE_ADDR": "127.0.0.1:19000", "CLICKHOUSE_PASSWORD": "secret"}, "run/stack.env, written by make run")
	var out bytes.Buffer
	s.PrintUsage(&out)
	usage := out.String()
	for _, want := range []string{
		"else (-kafka-brokers, -kafka-topic, -clickhouse-*) from run/stack.env, written by make run\nwhile it runs in this directory, else its default.",
		"-kafka-brokers host:port,...\n",
		`[$KAFKA_BROKERS] (default 127.0.0.1:9092)`,
		`[$LOG_LEVEL] (default info)`,
		"Now from run/stack.env, written by make run (a flag or a variable wins): -clickhouse-addr=127.0.0.1:19000 -clickhouse-password=(set)",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
	s.fs.SetOutput(io.Discard)
	if strings.Contains(usage, "secret") {
		t.Errorf("usage shows a password:\n%s", usage)
	}
	for _, args := range [][]string{{"-log-level", "loud"}, {"-log-format", "xml"}, {"-kafka-brokers", ""}, {"-kafka-topic", ""}} {
		if err := s.Parse(args); err == nil {
			t.Errorf("Parse(%q) accepted", args)
		}
	}
}
