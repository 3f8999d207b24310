package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/report"
)

const reportUsage = `Usage: pixelctl report NAME [-pixel ID] [-from YYYY-MM-DD -to YYYY-MM-DD | -last 7d|4w|3m]
                       [-param name=value ...] [-format table|csv|json] [-include-bots]
       pixelctl report -list
       pixelctl report NAME -help

Runs a report shipped under schemas/queries for one pixel of the registry
(-pixel may be left out when the registry has one pixel). Days are the
pixel's days, in its time zone: -from and -to are both included; -last N
days (d), weeks (w) or months (m) ends today, today included (-last 7d is
today and the 6 days before; 3m starts the day after the same day three
months ago); the default is -last 7d. Bots are left out unless
-include-bots. table is for people (thousands separators, money with two
decimals, rates as percents, the totals row last), csv and json for
machines (raw values; json has the range and the totals apart).

Reports:
`

// reportCmd runs pixelctl report.
func reportCmd(ctx context.Context, args []string, out io.Writer) error {
	o := chstore.DefaultOptions()
	var (
		opts   report.Options
		format = report.TableFormat
		list   bool
	)
	opts.Params = map[string]string{}
	fs := flagenv.New("pixelctl report", "Run a report for one pixel: pixelctl report NAME [flags]\n  (pixelctl report -list lists the reports; pixelctl report NAME -help explains one)")
	clickhouseFlags(fs, &o)
	fs.String(&opts.Pixel, "pixel", "PIXELCTL_PIXEL", "", "the pixel's `id` (may be left out when the registry has one pixel)")
	fs.String(&opts.From, "from", "PIXELCTL_REPORT_FROM", "", "the first `day`, YYYY-MM-DD in the pixel's time zone (with -to)")
	fs.String(&opts.To, "to", "PIXELCTL_REPORT_TO", "", "the last `day`, included (with -from)")
	fs.String(&opts.Last, "last", "PIXELCTL_REPORT_LAST", "", "the last N days, weeks or months up to today, today included: 7d, 4w, 3m (the default is 7d)")
	fs.Func("param", "PIXELCTL_REPORT_PARAM", "", "a parameter of the report, `name=value`; repeat for more", func(v string) error {
		if v == "" {
			return nil // not given
		}
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("-param %q: want name=value", v)
		}
		if _, dup := opts.Params[k]; dup {
			return fmt.Errorf("-param %s given twice", k)
		}
		opts.Params[k] = val
		return nil
	})
	fs.Func("format", "PIXELCTL_REPORT_FORMAT", "table", "output `format`: table (for people), csv or json (for machines)", func(v string) (err error) {
		format, err = report.ParseFormat(v)
		return err
	})
	fs.Bool(&opts.IncludeBots, "include-bots", "PIXELCTL_REPORT_INCLUDE_BOTS", false, "count bots' events too (is_bot=1)")
	memoryFlags(fs, &opts.MaxMemoryUsage, &opts.MaxBytesBeforeExternalGroupBy)
	fs.Bool(&list, "list", "PIXELCTL_REPORT_LIST", false, "list the reports, their titles and parameters")

	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if wantsHelp(args) {
		if name == "" {
			fmt.Fprint(out, reportUsage)
			if err := listReports(out); err != nil {
				return err
			}
			fmt.Fprintln(out)
			fs.PrintUsage(out)
			return nil
		}
		return reportHelp(out, name, fs)
	}
	// The flags are parsed by a flag set that prints nothing, so that a
	// wrong flag is one line on stderr, not the line and the whole usage.
	quiet := flag.NewFlagSet("pixelctl report", flag.ContinueOnError)
	quiet.SetOutput(io.Discard)
	fs.Also(quiet, "clickhouse-addr", "clickhouse-database", "clickhouse-user", "clickhouse-password", "pixel", "from", "to", "last", "param",
		"format", "include-bots", "max-memory-usage", "max-bytes-before-external-group-by", "list")
	if err := quiet.Parse(args); err != nil {
		return flagError{fmt.Errorf("report: %w", err)}
	}
	if rest := quiet.Args(); len(rest) > 0 {
		if name != "" {
			return flagError{fmt.Errorf("report: unexpected %q; the report's parameters are given as -param name=value", rest[0])}
		}
		name = rest[0]
		if err := quiet.Parse(rest[1:]); err != nil { // flags after the name
			return flagError{fmt.Errorf("report: %w", err)}
		}
		if rest := quiet.Args(); len(rest) > 0 {
			return flagError{fmt.Errorf("report: unexpected %q; the report's parameters are given as -param name=value", rest[0])}
		}
	}
	// Then the variables and defaults of the flags not given, and the checks.
	if err := parse(fs, nil); err != nil {
		return err
	}
	if list {
		return listReports(out)
	}
	if name == "" {
		return usageError{errors.New("report: name the report (pixelctl report -list lists them)")}
	}
	if _, err := report.Check(name, opts); err != nil { // before connecting
		return inputError(err)
	}
	conn, err := connect(ctx, fs, o)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := report.Run(ctx, conn, name, opts)
	if err != nil {
		return inputError(err)
	}
	return res.Write(out, format)
}

// inputError makes wrong input (report.Error) exit with status 2.
func inputError(err error) error {
	var re *report.Error
	if errors.As(err, &re) {
		return flagError{err}
	}
	return err
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "--h":
			return true
		case "--":
			return false
		}
	}
	return false
}

func formatSize(n uint64) string {
	for _, u := range []struct {
		name string
		size uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	return fmt.Sprint(n)
}

func listReports(out io.Writer) error {
	qs, err := analysis.Queries()
	if err != nil {
		return err
	}
	for _, q := range qs {
		var params []string
		for _, p := range report.OwnParams(&q) {
			if p.HasDefault {
				params = append(params, fmt.Sprintf("[-param %s=%s]", p.Name, p.Default))
			} else {
				params = append(params, fmt.Sprintf("-param %s=%s", p.Name, p.Type))
			}
		}
		fmt.Fprintf(out, "  %-16s %s\n", q.Name, q.Title)
		if len(params) > 0 {
			fmt.Fprintf(out, "  %-16s   %s\n", "", strings.Join(params, " "))
		}
	}
	return nil
}

func reportHelp(out io.Writer, name string, fs *flagenv.Set) error {
	q, err := report.Lookup(name)
	if err != nil {
		return inputError(err)
	}
	fmt.Fprintf(out, "pixelctl report %s: %s\n\n  %s\n\nParameters (-param name=value):\n", q.Name, q.Title, strings.ReplaceAll(q.Doc, "\n", "\n  "))
	own := report.OwnParams(&q)
	if len(own) == 0 {
		fmt.Fprintln(out, "  none")
	}
	for _, p := range own {
		def := "required"
		if p.HasDefault {
			def = "default " + p.Default
		}
		fmt.Fprintf(out, "  %s %s (%s)\n    \t%s\n", p.Name, p.Type, def, p.Doc)
	}
	fmt.Fprintf(out, "\nThe SQL: schemas/queries/%s.sql, runnable in clickhouse-client with its ? replaced by values.\n\n", q.Name)
	fs.PrintUsage(out)
	return nil
}

// memoryFlags adds -max-memory-usage and
// -max-bytes-before-external-group-by, the query memory limits of pixelctl
// report and audience export, to fs; report.MemorySettings turns them into
// query settings.
func memoryFlags(fs *flagenv.Set, maxMemory, spill *uint64) {
	size := func(p *uint64, name, env string, def uint64, usage string) {
		fs.Func(name, env, formatSize(def), usage, func(v string) (err error) {
			*p, err = report.ParseSize(v)
			return err
		})
	}
	size(maxMemory, "max-memory-usage", "PIXELCTL_MAX_MEMORY_USAGE", report.DefaultMaxMemoryUsage,
		"the most memory the query may use (ClickHouse's max_memory_usage): `bytes`, or with KiB, MiB, GiB")
	size(spill, "max-bytes-before-external-group-by", "PIXELCTL_MAX_BYTES_BEFORE_EXTERNAL_GROUP_BY", report.DefaultMaxBytesBeforeExternalGroupBy,
		"the memory a GROUP BY holds before it spills to disk (ClickHouse's setting of that name; about half of -max-memory-usage): `bytes`")
	fs.Check(func() error {
		if *spill == 0 || *spill >= *maxMemory {
			return fmt.Errorf("-max-bytes-before-external-group-by %s must be more than 0 and less than -max-memory-usage %s (about half), so that a GROUP BY spills before the query fails",
				formatSize(*spill), formatSize(*maxMemory))
		}
		return nil
	})
}
