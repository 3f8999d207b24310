// Package analysis answers the questions people ask of the events: the
// analysis queries shipped as schemas/queries/*.sql, each described by its
// header comment (title, description, typed parameters), run with checked
// values bound to its placeholders, and their answers as text and TSV.
package analysis

import (
	"fmt"
	"io/fs"
	"math"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/schemas"
)

// Query is one of the analysis queries shipped as schemas/queries/<Name>.sql.
// The file starts with a comment: a one-line title, the description, and
// the parameters,
//
//	-- param from  Date              first day, inclusive (YYYY-MM-DD)
//	-- param event String = Purchase the conversion event
//	-- bind event, from
//
// followed by one SELECT whose values are the driver's positional ?
// placeholders: "bind" names the parameter behind each ? in order (default:
// the parameters in the order declared), so one parameter may fill several.
// Values are bound by clickhouse-go as quoted literals, after Args checked
// them against their type; no query text is ever built from input.
type Query struct {
	Name   string
	Title  string // the first comment line
	Doc    string // the rest of the description
	Params []Param
	Bind   []string // the parameter behind each ?, in order
	SQL    string   // without comments and final semicolon

	same   string            // a "-- same" file: the query it presets
	preset map[string]string // and the defaults it changes
}

// Param is a query parameter.
type Param struct {
	Name    string
	Type    string // String, Date (YYYY-MM-DD), UInt32 or Float64
	Default string // used when no value is given, if HasDefault
	Doc     string
	// HasDefault is false for a parameter that must be given.
	HasDefault bool
}

var paramTypes = map[string]func(string) (any, error){
	"String": func(s string) (any, error) { return s, nil },
	"Date": func(s string) (any, error) {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date; want YYYY-MM-DD", s)
		}
		return d.Format(time.DateOnly), nil // the SQL reads it with toDate(?)
	},
	"UInt32": func(s string) (any, error) {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number from 0 to %d", s, uint32(math.MaxUint32))
		}
		return n, nil
	},
	"Float64": func(s string) (any, error) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not a finite decimal number (e.g. 2.5)", s)
		}
		return f, nil
	},
}

// converter returns the check of a parameter type: one of paramTypes;
// String(a|b|c), a String that must be one of the values listed, so that a
// wrong choice is told before the query runs (ClickHouse 18.16's throwIf
// can only say "non zero"); or Array(String)[N], a comma-separated list of
// at most N non-empty strings (the funnel's steps), bound as an array.
func converter(typ string) (func(string) (any, error), bool) {
	if conv, ok := paramTypes[typ]; ok {
		return conv, true
	}
	if m := arrayTypeRE.FindStringSubmatch(typ); m != nil {
		most, err := strconv.Atoi(m[1])
		if err != nil || most < 1 {
			return nil, false
		}
		return func(s string) (any, error) {
			var items []string
			for _, item := range strings.Split(s, ",") {
				item = strings.TrimSpace(item)
				if item == "" {
					return nil, fmt.Errorf("%q has an empty item; want a comma-separated list such as a,b,c", s)
				}
				items = append(items, item)
			}
			if len(items) > most {
				return nil, fmt.Errorf("%q has %d items; at most %d", s, len(items), most)
			}
			return items, nil // bound as an Array(String) literal
		}, true
	}
	list, isChoice := strings.CutPrefix(typ, "String(")
	list, closed := strings.CutSuffix(list, ")")
	if !isChoice || !closed || list == "" {
		return nil, false
	}
	choices := strings.Split(list, "|")
	return func(s string) (any, error) {
		if slices.Contains(choices, s) {
			return s, nil
		}
		return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(choices, ", "))
	}, true
}

func convert(typ, s string) (any, error) {
	conv, ok := converter(typ)
	if !ok {
		return nil, fmt.Errorf("unknown parameter type %s", typ)
	}
	return conv(s)
}

var arrayTypeRE = regexp.MustCompile(`^Array\(String\)\[([0-9]+)\]$`)

var paramNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Queries reads the embedded queries, sorted by name.
func Queries() ([]Query, error) { return readQueries(schemas.FS, "queries") }

// QueriesIn reads the embedded queries of another directory of schemas.FS
// written in the same form, sorted by name: pkg/audience keeps its rules in
// queries/audiences.
func QueriesIn(dir string) ([]Query, error) { return readQueries(schemas.FS, dir) }

// Param returns the parameter called name.
func (q *Query) Param(name string) (Param, bool) { return q.param(name) }

// Lookup returns the shipped query called name.
func Lookup(name string) (Query, error) {
	qs, err := Queries()
	if err != nil {
		return Query{}, err
	}
	names := make([]string, len(qs))
	for i, q := range qs {
		if q.Name == name {
			return q, nil
		}
		names[i] = q.Name
	}
	return Query{}, fmt.Errorf("no query called %q; the shipped queries are %s", name, strings.Join(names, ", "))
}

func readQueries(fsys fs.FS, dir string) ([]Query, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Query
	var same []Query
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		q, err := parseQuery(strings.TrimSuffix(e.Name(), ".sql"), string(data))
		if err != nil {
			return nil, fmt.Errorf("query file %s/%s: %w", dir, e.Name(), err)
		}
		if q.same != "" {
			same = append(same, q)
			continue
		}
		out = append(out, q)
	}
	for _, a := range same {
		q, err := a.resolve(out)
		if err != nil {
			return nil, fmt.Errorf("query file %s/%s.sql: %w", dir, a.Name, err)
		}
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// A query file may be another query with some parameters preset, so that
// one SQL text answers two named questions (cpa and roas are one join,
// ordered two ways). Its header has a title, a description and the line
//
//	-- same cpa order=roas
//
// naming the query and the parameter defaults it changes; there is no SQL.
// parseQuery keeps that line in same and preset, and resolve fills in the
// rest from the other query.
func (a *Query) resolve(qs []Query) (Query, error) {
	i := slices.IndexFunc(qs, func(q Query) bool { return q.Name == a.same })
	if i < 0 {
		return Query{}, fmt.Errorf("same names %q, which is not a query", a.same)
	}
	q := qs[i]
	q.Name, q.Title, q.Doc = a.Name, a.Title, a.Doc
	q.Params = slices.Clone(q.Params)
	for k, v := range a.preset {
		j := slices.IndexFunc(q.Params, func(p Param) bool { return p.Name == k })
		if j < 0 {
			return Query{}, fmt.Errorf("same presets %s, which %s does not take", k, a.same)
		}
		if _, err := convert(q.Params[j].Type, v); err != nil {
			return Query{}, fmt.Errorf("same presets %s: %w", k, err)
		}
		q.Params[j].Default, q.Params[j].HasDefault = v, true
	}
	return q, nil
}

func parseQuery(name, text string) (Query, error) {
	q := Query{Name: name, SQL: schemas.Statement(text)}
	var doc []string
	var bind string
	hasBind := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		c, ok := strings.CutPrefix(line, "--")
		if !ok {
			if line == "" {
				continue
			}
			break // the comment ends where the SQL starts
		}
		c = strings.TrimSpace(c)
		switch {
		case strings.HasPrefix(c, "param "):
			p, err := parseParam(strings.TrimPrefix(c, "param "))
			if err != nil {
				return q, err
			}
			for _, prev := range q.Params {
				if prev.Name == p.Name {
					return q, fmt.Errorf("parameter %s declared twice", p.Name)
				}
			}
			q.Params = append(q.Params, p)
		case strings.HasPrefix(c, "bind "):
			bind, hasBind = strings.TrimPrefix(c, "bind "), true
		case strings.HasPrefix(c, "same "):
			f := strings.Fields(c)[1:]
			q.same, q.preset = f[0], map[string]string{}
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				q.preset[k] = v
			}
		case q.Title == "":
			q.Title = c
		default:
			doc = append(doc, c)
		}
	}
	q.Doc = strings.TrimSpace(strings.Join(doc, "\n"))
	if q.same != "" {
		if q.Title == "" || q.SQL != "" || len(q.Params) > 0 || hasBind {
			return q, fmt.Errorf("a file with -- same has a title and a description only")
		}
		return q, nil // readQueries resolves it
	}
	if q.Title == "" || q.SQL == "" {
		return q, fmt.Errorf("want a comment line with the title, then the SQL")
	}
	if hasBind {
		for _, b := range strings.Split(bind, ",") {
			q.Bind = append(q.Bind, strings.TrimSpace(b))
		}
	} else {
		for _, p := range q.Params {
			q.Bind = append(q.Bind, p.Name)
		}
	}
	used := map[string]bool{}
	for _, b := range q.Bind {
		if _, ok := q.param(b); !ok {
			return q, fmt.Errorf("bind names %q, which is not a declared parameter", b)
		}
		used[b] = true
	}
	for _, p := range q.Params {
		if !used[p.Name] {
			return q, fmt.Errorf("parameter %s is declared but never bound", p.Name)
		}
	}
	if n := countPlaceholders(q.SQL); n != len(q.Bind) {
		return q, fmt.Errorf("the SQL has %d ? placeholders but %d bound parameters (%s)", n, len(q.Bind), strings.Join(q.Bind, ", "))
	}
	return q, nil
}

// parseParam reads "name Type [= default] description".
func parseParam(s string) (Param, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return Param{}, fmt.Errorf("param %q: want \"param name Type [= default] description\"", s)
	}
	p := Param{Name: f[0], Type: f[1]}
	rest := f[2:]
	if len(rest) >= 2 && rest[0] == "=" {
		p.Default, p.HasDefault = rest[1], true
		rest = rest[2:]
	}
	p.Doc = strings.Join(rest, " ")
	if !paramNameRE.MatchString(p.Name) {
		return p, fmt.Errorf("parameter name %q must match %s", p.Name, paramNameRE)
	}
	if _, ok := converter(p.Type); !ok {
		return p, fmt.Errorf("parameter %s has type %s; want String, String(one|of|these), Array(String)[N], Date, UInt32 or Float64", p.Name, p.Type)
	}
	if p.HasDefault {
		if _, err := convert(p.Type, p.Default); err != nil {
			return p, fmt.Errorf("default of parameter %s: %w", p.Name, err)
		}
	}
	return p, nil
}

// countPlaceholders counts the ? outside string literals, quoted names and
// comments, as the driver binds them.
func countPlaceholders(sql string) int {
	n := 0
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; c {
		case '\'', '"', '`':
			for i++; i < len(sql) && sql[i] != c; i++ {
				if sql[i] == '\\' {
					i++
				}
			}
		case '-':
			if strings.HasPrefix(sql[i:], "--") {
				for i < len(sql) && sql[i] != '\n' {
					i++
				}
			}
		case '/':
			if strings.HasPrefix(sql[i:], "/*") {
				end := strings.Index(sql[i+2:], "*/")
				if end < 0 {
					return n
				}
				i += end + 3
			}
		case '?':
			n++
		}
	}
	return n
}

func (q *Query) param(name string) (Param, bool) {
	for _, p := range q.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Args checks values (parameter name → text) against the parameters' types,
// fills in defaults and returns the arguments for the placeholders in order.
func (q *Query) Args(values map[string]string) ([]any, error) {
	for name := range values {
		if _, ok := q.param(name); !ok {
			return nil, fmt.Errorf("query %s has no parameter -%s; it takes %s", q.Name, name, q.paramList())
		}
	}
	byName := map[string]any{}
	for _, p := range q.Params {
		s, ok := values[p.Name]
		if !ok {
			if !p.HasDefault {
				return nil, fmt.Errorf("query %s needs -%s (%s); it takes %s", q.Name, p.Name, p.Type, q.paramList())
			}
			s = p.Default
		}
		v, err := convert(p.Type, s)
		if err != nil {
			return nil, fmt.Errorf("-%s: %w", p.Name, err)
		}
		byName[p.Name] = v
	}
	args := make([]any, len(q.Bind))
	for i, name := range q.Bind {
		args[i] = byName[name]
	}
	return args, nil
}

func (q *Query) paramList() string {
	var b strings.Builder
	for i, p := range q.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("-" + p.Name)
		if p.HasDefault {
			b.WriteString(" (default " + p.Default + ")")
		}
	}
	return b.String()
}
