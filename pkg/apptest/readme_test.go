package apptest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestREADMEDocumentsEveryFlag keeps the README's configuration section honest:
// every flag and environment variable a binary's -help lists must appear there.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	envRE := regexp.MustCompile(`\[\$([A-Z0-9_]+)\]`)
	flagRE := regexp.MustCompile(`(?m)^  (-[a-z0-9-]+)`)
	for _, cmd := range [][]string{{"collector"}, {"consumer"}, {"devbroker"}, {"devstack"}, {"console"}, {"pixelctl", "migrate"}} {
		help, _ := exec.Command(filepath.Join(binDir, cmd[0]), append(cmd[1:], "-help")...).CombinedOutput()
		envs := envRE.FindAllStringSubmatch(string(help), -1)
		if len(envs) == 0 {
			t.Fatalf("%v -help lists no variables:\n%s", cmd, help)
		}
		for _, m := range envs {
			if !strings.Contains(string(readme), "`"+m[1]+"`") {
				t.Errorf("%v: variable %s is not in README.md", cmd, m[1])
			}
		}
		for _, m := range flagRE.FindAllStringSubmatch(string(help), -1) {
			if !strings.Contains(string(readme), "`"+m[1]) {
				t.Errorf("%v: flag %s is not in README.md", cmd, m[1])
			}
		}
	}
}

// TestREADMEAgreesWithHelp checks that each binary's table in the README
// says what its -help says: the same flags, each with the same variable and
// the same default, and that the flags a row's meaning names exist.
func TestREADMEAgreesWithHelp(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), "./bench/cmd/bench")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./bench/cmd/bench: %v\n%s", err, b)
	}
	tables := readmeTables(string(readme))
	consumer := tables["### consumer"]
	for _, tc := range []struct {
		cmd     []string
		section string
	}{
		{[]string{"collector"}, "### collector"},
		{[]string{"consumer"}, "### consumer"},
		{[]string{"pixelctl", "migrate"}, "### pixelctl migrate"},
		{[]string{"pixelctl", "report"}, "### pixelctl report"},
		{[]string{"devstack"}, "### devstack"},
		{[]string{"devbroker"}, "### devbroker"},
		{[]string{"console"}, "### console"},
		{[]string{"bench"}, "| setting |"},
	} {
		t.Run(strings.Join(tc.cmd, " "), func(t *testing.T) {
			help, _ := exec.Command(filepath.Join(binDir, tc.cmd[0]), append(tc.cmd[1:], "-help")...).CombinedOutput()
			flags := helpFlags(string(help))
			if len(flags) == 0 {
				t.Fatalf("-help lists no flags:\n%s", help)
			}
			rows, ok := tables[tc.section]
			if !ok {
				t.Fatalf("README.md has no table under %q", tc.section)
			}
			documented := map[string]bool{}
			for _, r := range rows {
				for _, name := range r.flags {
					documented[name] = true
					h, ok := flags[name]
					if !ok {
						t.Errorf("README documents -%s, which -help does not list", name)
						continue
					}
					d := r.of(name, consumer)
					if d.env != h.env {
						t.Errorf("-%s: README says variable %s, -help says %s", name, d.env, h.env)
					}
					if why := defaultsDiffer(d.def, h); why != "" {
						t.Errorf("-%s: README default %q, -help %s", name, d.def, why)
					}
				}
				for _, m := range flagMentionRE.FindAllStringSubmatch(r.meaning, -1) {
					if _, ok := flags[m[1]]; !ok {
						t.Errorf("README's row of -%s names -%s, which -help does not list", strings.Join(r.flags, ", -"), m[1])
					}
				}
			}
			for name := range flags {
				if !documented[name] {
					t.Errorf("-help lists -%s, which the README's table does not", name)
				}
			}
		})
	}
}

// helpFlag is one flag as -help prints it.
type helpFlag struct {
	env   string
	def   string // as printed, unquoted; "" when -help shows none
	usage string
}

var (
	helpFlagRE    = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)(?: [^\n]*)?\n((?:    \t[^\n]*\n?)+)`)
	helpTailRE    = regexp.MustCompile(`\[\$([A-Z0-9_]+)\](?: \(default (.*)\))?\s*$`)
	flagMentionRE = regexp.MustCompile("`-([a-z][a-z0-9-]*)")
)

func helpFlags(help string) map[string]helpFlag {
	flags := map[string]helpFlag{}
	for _, m := range helpFlagRE.FindAllStringSubmatch(help, -1) {
		usage := strings.TrimSpace(strings.ReplaceAll(m[2], "    \t", " "))
		f := helpFlag{usage: usage}
		if t := helpTailRE.FindStringSubmatch(usage); t != nil {
			f.env, f.def = t[1], t[2]
			if u, err := strconv.Unquote(f.def); err == nil {
				f.def = u
			}
		}
		flags[m[1]] = f
	}
	return flags
}

// readmeRow is one row of a flag table: one or more flags with their
// variables and defaults, and what they mean.
type readmeRow struct {
	flags, envs, defs []string
	meaning           string
}

type documented struct{ env, def string }

// of returns the variable and default the row gives flag name; "as the
// consumer" takes them from the consumer's table.
func (r readmeRow) of(name string, consumer []readmeRow) documented {
	i := 0
	for i < len(r.flags) && r.flags[i] != name {
		i++
	}
	if len(r.envs) == 0 {
		for _, c := range consumer {
			for j, f := range c.flags {
				if f == name && j < len(c.envs) && j < len(c.defs) {
					return documented{c.envs[j], c.defs[j]}
				}
			}
		}
		return documented{}
	}
	var d documented
	if i < len(r.envs) {
		d.env = r.envs[i]
	}
	if i < len(r.defs) {
		d.def = r.defs[i]
	}
	return d
}

// readmeTables returns the flag tables of the README by the heading above
// them ("### collector"), or by their header row ("| setting |") when they
// have no heading of their own.
func readmeTables(readme string) map[string][]readmeRow {
	tables := map[string][]readmeRow{}
	section := ""
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			section, _, _ = strings.Cut(line, " (") // "### devstack (`make run`)": "### devstack"
			continue
		case strings.HasPrefix(line, "| setting |"):
			section = "| setting |"
			continue
		case !strings.HasPrefix(line, "| `-"):
			continue
		}
		cells := splitRow(line)
		if len(cells) < 4 {
			continue
		}
		r := readmeRow{flags: backticked(cells[0], "-"), meaning: cells[3]}
		if cells[1] != "as the consumer" {
			r.envs = backticked(cells[1], "")
		}
		if cells[2] != "" || len(r.envs) > 0 {
			r.defs = splitTop(cells[2])
		}
		tables[section] = append(tables[section], r)
	}
	return tables
}

// splitRow splits a table row into its cells; a | between backticks is text.
func splitRow(line string) []string {
	var cells []string
	var cell strings.Builder
	code := false
	for _, r := range strings.TrimSpace(line)[1:] {
		switch {
		case r == '`':
			code = !code
		case r == '|' && !code:
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
			continue
		}
		cell.WriteRune(r)
	}
	return cells
}

// splitTop splits a cell at ", " outside backticks and parentheses.
func splitTop(cell string) []string {
	var parts []string
	depth, code, start := 0, false, 0
	for i := 0; i < len(cell); i++ {
		switch c := cell[i]; {
		case c == '`':
			code = !code
		case code:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0 && strings.HasPrefix(cell[i:], ", "):
			parts = append(parts, strings.TrimSpace(cell[start:i]))
			start = i + 1
		}
	}
	return append(parts, strings.TrimSpace(cell[start:]))
}

// backticked returns the `quoted` words of a cell that start with prefix,
// without it.
func backticked(cell, prefix string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(cell, -1) {
		if w, ok := strings.CutPrefix(m[1], prefix); ok {
			out = append(out, w)
		}
	}
	return out
}

var literalRE = regexp.MustCompile("^`([^`]*)`(?: \\(.*\\))?$")

// defaultsDiffer compares a README default with what -help prints, and says
// how they differ ("" when they agree). A README default is either a literal
// ("`16384`", "`9600h` (400 days)") or a description ("*(host-only)*",
// "devstack's own directory", "`<kafka-topic>.dlq`"), which stands for a
// flag whose -help shows no default. -help shows none for a zero value (0,
// false, "") either, and bench's mode-dependent defaults are named in the
// flag's text instead: "each wrk run (10s; 3s with -quick)".
func defaultsDiffer(readme string, h helpFlag) string {
	m := literalRE.FindStringSubmatch(readme)
	if m == nil || strings.Contains(m[1], "<") {
		if h.def != "" {
			return fmt.Sprintf("says (default %s); a README description stands for no default", h.def)
		}
		return ""
	}
	lit := m[1]
	if h.def == "" {
		switch {
		case lit == "0", lit == "false", lit == "0s", lit == "":
			return ""
		case strings.Contains(h.usage, "("+lit+";"), strings.Contains(h.usage, "("+lit+")"):
			return ""
		}
		return "shows no default"
	}
	if lit == h.def {
		return ""
	}
	if a, err := time.ParseDuration(lit); err == nil {
		if b, err := time.ParseDuration(h.def); err == nil && a == b {
			return ""
		}
	}
	return fmt.Sprintf("says (default %s)", h.def)
}
