// Package flagenv gives every command-line flag an environment-variable
// equivalent. A flag on the command line wins over its variable, and the
// variable wins over the default. --help lists each flag with its variable.
package flagenv

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Set is a flag set whose flags each have an environment variable.
type Set struct {
	fs   *flag.FlagSet
	env  map[string]string // flag name → variable
	desc string
}

// New returns a Set for the named program; desc is printed at the top of --help.
func New(name, desc string) *Set {
	s := &Set{fs: flag.NewFlagSet(name, flag.ContinueOnError), env: map[string]string{}, desc: desc}
	s.fs.Usage = func() { s.PrintUsage(s.fs.Output()) }
	return s
}

func (s *Set) bind(name, env string) {
	s.env[name] = env
	f := s.fs.Lookup(name)
	f.Usage += " [$" + env + "]"
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

// Args returns the arguments left after the flags.
func (s *Set) Args() []string { return s.fs.Args() }

// Parse parses the command line, then fills every flag that was not given from
// its environment variable when that is set.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	s.fs.VisitAll(func(f *flag.Flag) {
		env, ok := s.env[f.Name]
		if !ok || given[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("cannot use $%s=%q for -%s: %w", env, v, f.Name, e)
			}
		}
	})
	return err
}

// PrintUsage writes the description and every flag with its variable and default.
func (s *Set) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s:\n  %s\n\nFlags (each also read from the environment variable in brackets):\n", s.fs.Name(), strings.ReplaceAll(s.desc, "\n", "\n  "))
	s.fs.SetOutput(w)
	s.fs.PrintDefaults()
}

// List splits a comma-separated flag value, dropping empty entries.
func List(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
