// Package flagenv is the one way every command takes its settings: flags,
// each with an environment-variable equivalent. A flag on the command line
// wins over its variable, the variable over a fallback (the run/stack.env of
// a running `make run`, for the Kafka and ClickHouse flags only), and that
// over the default. -help lists each flag with its variable and default, and
// Source says where a value came from.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Set is a flag set whose flags each have an environment variable.
type Set struct {
	fs     *flag.FlagSet
	flags  map[string]*entry // by flag name
	desc   string
	checks []func() error
	shared []string // the groups of flags the fallback may hold, for -help: "-clickhouse-*"

	fallback     map[string]string // variable → value; nil: none
	fallbackFrom string            // where fallback came from, e.g. "run/stack.env, written by make run"
}

type entry struct {
	env    string
	shared bool       // a Kafka or ClickHouse flag: the fallback may hold its value
	lazy   *funcValue // a Func flag: Parse sets its default when nothing else does
	source Source
	err    error // the variable's or the fallback's value did not parse
}

// New returns a Set for the named program; desc is printed at the top of -help.
func New(name, desc string) *Set {
	s := &Set{fs: flag.NewFlagSet(name, flag.ContinueOnError), flags: map[string]*entry{}, desc: desc}
	s.fs.Usage = func() { s.PrintUsage(s.fs.Output()) }
	return s
}

func (s *Set) bind(name, env string) *entry {
	e := &entry{env: env, source: Source{Kind: Default, Flag: name, Env: env}}
	s.flags[name] = e
	f := s.fs.Lookup(name)
	f.Usage += " [$" + env + "]"
	return e
}

// String defines a string flag bound to the variable env.
func (s *Set) String(p *string, name, env, def, usage string) {
	s.fs.StringVar(p, name, def, usage)
	s.bind(name, env)
}

// Int defines an int flag bound to the variable env.
func (s *Set) Int(p *int, name, env string, def int, usage string) {
	s.fs.IntVar(p, name, def, usage)
	s.bind(name, env)
}

// Int64 defines an int64 flag bound to the variable env.
func (s *Set) Int64(p *int64, name, env string, def int64, usage string) {
	s.fs.Int64Var(p, name, def, usage)
	s.bind(name, env)
}

// Float64 defines a float64 flag bound to the variable env.
func (s *Set) Float64(p *float64, name, env string, def float64, usage string) {
	s.fs.Float64Var(p, name, def, usage)
	s.bind(name, env)
}

// Bool defines a bool flag bound to the variable env.
func (s *Set) Bool(p *bool, name, env string, def bool, usage string) {
	s.fs.BoolVar(p, name, def, usage)
	s.bind(name, env)
}

// Duration defines a duration flag bound to the variable env.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	s.fs.DurationVar(p, name, def, usage)
	s.bind(name, env)
}

// Strings defines a comma-separated list flag bound to the variable env
// ("host1:9092, host2:9092"); empty entries are dropped, and the default is
// what *p holds.
func (s *Set) Strings(p *[]string, name, env, usage string) {
	s.fs.Var(listValue{p}, name, usage)
	s.bind(name, env)
}

// Func defines a flag whose text set parses into its destination: an fsync
// policy, a list of CIDRs. def is the default as text, shown by -help; when
// neither the command line, the variable nor the fallback gives a value,
// Parse calls set(def), so that the default goes through the same parser.
func (s *Set) Func(name, env, def, usage string, set func(string) error) {
	v := &funcValue{set: set, text: def}
	s.fs.Var(v, name, usage)
	s.bind(name, env).lazy = v
}

// Check adds a check that Parse runs once every flag has its value: the
// settings that depend on each other (-cookie-samesite=none needs
// -cookie-secure), the bounds of a number.
func (s *Set) Check(check func() error) { s.checks = append(s.checks, check) }

// Fallback gives the flags of the Kafka and ClickHouse groups a third source
// of values, after the command line and the environment: vars, by variable
// name (nil: none now). from says where they came from, in -help and in
// Source, even when vars is nil ("run/stack.env, written by make run").
func (s *Set) Fallback(vars map[string]string, from string) {
	s.fallback, s.fallbackFrom = vars, from
}

// Args returns the arguments left after the flags.
func (s *Set) Args() []string { return s.fs.Args() }

// Parse parses the command line, fills every flag that was not given from
// its environment variable, else from the fallback, else gives it its
// default (a Func flag's through its parser), and runs the checks.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	names := make([]string, 0, len(s.flags))
	for name := range s.flags {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e, f := s.flags[name], s.fs.Lookup(name)
		e.source.Kind, e.source.File, e.err = Default, "", nil
		switch {
		case given[name]:
			e.source.Kind = CommandLine
			continue
		case s.fromEnv(e, f):
		case s.fromFallback(e, f):
		case e.lazy != nil:
			if err := e.lazy.Set(f.DefValue); err != nil {
				return fmt.Errorf("flagenv: the default %q of -%s does not parse: %w", f.DefValue, name, err)
			}
		}
		if e.err != nil {
			return e.err
		}
	}
	for _, check := range s.checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Set) fromEnv(e *entry, f *flag.Flag) bool {
	v, ok := os.LookupEnv(e.env)
	if !ok {
		return false
	}
	e.source.Kind = Environment
	if err := f.Value.Set(v); err != nil {
		e.err = fmt.Errorf("cannot use $%s=%q for -%s: %w", e.env, v, f.Name, err)
	}
	return true
}

func (s *Set) fromFallback(e *entry, f *flag.Flag) bool {
	v, ok := s.fallback[e.env]
	if !e.shared || !ok {
		return false
	}
	e.source.Kind, e.source.File = Fallback, s.fallbackFrom
	if err := f.Value.Set(v); err != nil {
		e.err = fmt.Errorf("cannot use %s=%q from %s for -%s: %w", e.env, v, s.fallbackFrom, f.Name, err)
	}
	return true
}

// ParseOrExit parses args as Parse does, and ends the program when that
// fails: with exit status 0 after -help (the usage is printed), 2 with the
// error otherwise.
func (s *Set) ParseOrExit(args []string) {
	err := s.Parse(args)
	if err == nil {
		return
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", s.fs.Name(), err)
	os.Exit(2)
}

// RunOrExit ends a command that has no logger after its run: it returns
// when err is nil, and otherwise prints the error and exits with status 1.
// (Servers log theirs: logging.RunOrExit.)
func (s *Set) RunOrExit(err error) {
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", s.fs.Name(), err)
	os.Exit(1)
}

// Also lets a second flag set parse the named flags of s, for a command line
// that goes on after an argument (pixelctl query NAME -clickhouse-addr ...).
// A value given there counts as given on the command line.
func (s *Set) Also(other *flag.FlagSet, names ...string) {
	for _, name := range names {
		f := s.fs.Lookup(name)
		if f == nil {
			panic("flagenv: Also: no flag -" + name)
		}
		other.Var(alsoValue{s.fs, f}, name, f.Usage)
	}
}

// Source returns where the named flag's value came from; valid after Parse.
func (s *Set) Source(name string) Source {
	e, ok := s.flags[name]
	if !ok {
		panic("flagenv: Source: no flag -" + name)
	}
	src := e.source
	s.fs.Visit(func(f *flag.Flag) { // also when set after Parse, through Also
		if f.Name == name {
			src.Kind = CommandLine
		}
	})
	if src.Kind == Default && e.shared {
		src.File = s.fallbackFrom
	}
	return src
}

// Kind is where a flag's value came from.
type Kind int

// The sources of a value, from the weakest to the strongest.
const (
	Default     Kind = iota // the flag's default
	Fallback                // the fallback file (Set.Fallback)
	Environment             // the flag's environment variable
	CommandLine             // the command line
)

// Source says where a flag's value came from, for messages such as "using
// ClickHouse at 127.0.0.1:19000 (from run/stack.env, written by make run)".
type Source struct {
	Kind Kind
	Flag string // the flag's name, without the dash
	Env  string // its variable
	File string // the fallback's description, for a Fallback value (and a Default one that could have had one)
}

// String is the source as a message names it: "-clickhouse-addr",
// "$CLICKHOUSE_ADDR", "run/stack.env, written by make run", or "the default
// (no -clickhouse-addr, $CLICKHOUSE_ADDR or run/stack.env, written by make
// run)".
func (s Source) String() string {
	switch s.Kind {
	case CommandLine:
		return "-" + s.Flag
	case Environment:
		return "$" + s.Env
	case Fallback:
		return s.File
	}
	if s.File != "" {
		return fmt.Sprintf("the default (no -%s, $%s or %s)", s.Flag, s.Env, s.File)
	}
	return fmt.Sprintf("the default (no -%s or $%s)", s.Flag, s.Env)
}

// PrintUsage writes the description, every flag with its variable and
// default, and where values come from.
func (s *Set) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s:\n  %s\n\n", s.fs.Name(), strings.ReplaceAll(s.desc, "\n", "\n  "))
	if len(s.shared) == 0 || s.fallbackFrom == "" {
		fmt.Fprintf(w, "Flags (each also read from the environment variable in brackets):\n")
	} else {
		fmt.Fprintf(w, "Flags. Each takes its value from the command line, else from the environment variable\n"+
			"in brackets, else (%s) from %s\nwhile it runs in this directory, else its default.\n", strings.Join(s.shared, ", "), s.fallbackFrom)
	}
	s.fs.SetOutput(w)
	s.fs.PrintDefaults()
	if s.fallback == nil {
		return
	}
	var now []string
	s.fs.VisitAll(func(f *flag.Flag) {
		e := s.flags[f.Name]
		if v, ok := s.fallback[e.env]; ok && e.shared {
			if _, set := os.LookupEnv(e.env); !set {
				if strings.Contains(f.Name, "password") {
					v = "(set)"
				}
				now = append(now, fmt.Sprintf("-%s=%s", f.Name, v))
			}
		}
	})
	if len(now) > 0 {
		fmt.Fprintf(w, "\nNow from %s (a flag or a variable wins): %s\n", s.fallbackFrom, strings.Join(now, " "))
	}
}

// List splits a comma-separated value, dropping empty entries.
func List(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// listValue is a Strings flag.
type listValue struct{ p *[]string }

func (l listValue) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listValue) Set(s string) error { *l.p = List(s); return nil }

// funcValue is a Func flag.
type funcValue struct {
	set  func(string) error
	text string // the value last set, as given
}

func (f *funcValue) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

func (f *funcValue) Set(s string) error {
	if err := f.set(s); err != nil {
		return err
	}
	f.text = s
	return nil
}

// alsoValue sets a flag of another set, marking it given there.
type alsoValue struct {
	fs *flag.FlagSet
	f  *flag.Flag
}

func (a alsoValue) String() string {
	if a.f == nil {
		return ""
	}
	return a.f.Value.String()
}

func (a alsoValue) Set(s string) error { return a.fs.Set(a.f.Name, s) }

func (a alsoValue) IsBoolFlag() bool {
	b, ok := a.f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
