// Command pixelctl administers the pipeline's ClickHouse side.
//
//	pixelctl migrate    apply the versioned migrations under schemas/clickhouse
//	pixelctl query      run one of the analysis queries under schemas/queries
//	pixelctl pixel      the pixel registry: create, list, show, update, ...
//	pixelctl link sign  signed click links
//	pixelctl forget     delete one person's events
//	pixelctl retention  remove events older than N months
//	pixelctl spend      import ad spend from Google Ads and Meta Ads Manager exports
//	pixelctl audience   export a retargeting audience as a customer list
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // -time-zone is checked by name also where the system has no zoneinfo

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

const usage = `Usage: pixelctl <command> [flags]

Commands:
  migrate   create the database and apply the migrations under schemas/clickhouse
            that it has not applied yet (idempotent; recorded in schema_migrations)
  query     run a shipped analysis query with its parameters, print TSV:
              pixelctl query -list
              pixelctl query [flags] <name> [-param value ...]
  pixel     the pixel registry (pixelctl pixel -help):
              pixelctl pixel create -name Shop -domains shop.example,*.shop.example
              pixelctl pixel list|show|update|disable|enable|rotate-secret|snippet ID
  link      a signed click link: pixelctl link sign -pixel ID URL
  forget    delete one person's events: pixelctl forget -visitor ID | -email ADDRESS
  retention remove events older than N months: pixelctl retention -months N
  spend     import what the ad platforms charged, per campaign and day:
              pixelctl spend import -platform google|meta|csv FILE
  audience  a retargeting audience as a customer list (pixelctl audience -help):
              pixelctl audience export NAME -pixel ID -format meta|google|ids [-param k=v]

Run "pixelctl <command> -help" for the command's flags. Run from the checkout
while make run runs, pixelctl uses that stack's ClickHouse (run/stack.env)
unless -clickhouse-addr or CLICKHOUSE_ADDR says otherwise.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	var ue usageError
	var fe flagError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "pixelctl: %v\n\n%s", err, usage)
		os.Exit(2)
	case errors.As(err, &fe):
		fmt.Fprintln(os.Stderr, "pixelctl:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "pixelctl:", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// flagError is a command's flag that did not parse (the command's usage is
// printed already): exit status 2.
type flagError struct{ error }

// parse parses a command's flags; an error other than -help is a flagError.
func parse(fs *flagenv.Set, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return flagError{err}
	}
	return err
}

// run runs the command named by args[0], writing its output to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	switch args[0] {
	case "migrate":
		return migrate(ctx, args[1:], out)
	case "query":
		return query(ctx, args[1:], out)
	case "pixel":
		return pixelCmd(ctx, args[1:], out)
	case "link":
		return linkCmd(ctx, args[1:], out)
	case "forget":
		return forgetCmd(ctx, args[1:], out)
	case "retention":
		return retentionCmd(ctx, args[1:], out)
	case "spend":
		return spendCmd(ctx, args[1:], out)
	case "audience":
		return audienceCmd(ctx, args[1:], out)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, usage)
		return nil
	}
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

// clickhouseFlags adds the connection flags every command shares. From the
// checkout, while make run runs, they default to its stack (run/stack.env).
func clickhouseFlags(fs *flagenv.Set, o *chstore.Options) {
	fs.ClickHouse(&o.Addr, &o.Database, &o.User, &o.Password)
	fs.Fallback(rundir.Env(rundir.Default), rundir.From)
}

// clickhouseFrom says where the ClickHouse address came from, for messages,
// and says which server is used when the address is make run's.
func clickhouseFrom(fs *flagenv.Set, o chstore.Options) string {
	src := fs.Source("clickhouse-addr")
	if src.Kind == flagenv.Fallback {
		fmt.Fprintf(os.Stderr, "using ClickHouse at %s (from %s)\n", strings.Join(o.Addr, ","), src)
	}
	return src.String()
}

func migrate(ctx context.Context, args []string, out io.Writer) error {
	o := chstore.DefaultOptions()
	var wait time.Duration
	fs := flagenv.New("pixelctl migrate", "Create the database and apply the pending migrations under schemas/clickhouse.\nA migration that needs a newer ClickHouse than the server's is skipped and applied by the first run after an upgrade.")
	clickhouseFlags(fs, &o)
	fs.Duration(&wait, "wait", "PIXELCTL_WAIT", 0, "keep retrying this long while ClickHouse is not reachable yet (it starts)")
	if err := parse(fs, args); err != nil {
		return err
	}
	from := clickhouseFrom(fs, o)
	deadline := time.Now().Add(wait)
	for {
		res, err := chstore.Migrate(ctx, o)
		if err == nil {
			for _, m := range res.Applied {
				fmt.Fprintf(out, "applied %04d_%s\n", m.Version, m.Name)
			}
			for _, m := range res.Skipped {
				fmt.Fprintf(out, "skipped %04d_%s: it needs ClickHouse %d.%d or later, the server is %v; the first migrate after an upgrade applies it\n",
					m.Version, m.Name, m.Requires.Major, m.Requires.Minor, res.Server)
			}
			fmt.Fprintf(out, "database %s is at version %d (ClickHouse %v)\n", o.Database, res.Current, res.Server)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w; the address came from %s", err, from)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func query(ctx context.Context, args []string, out io.Writer) error {
	o := chstore.DefaultOptions()
	var list, header bool
	fs := flagenv.New("pixelctl query", "Run one of the analysis queries shipped under schemas/queries and print the result as TSV:\n  pixelctl query [flags] <name> [-param value ...]\n"+
		"Every query de-duplicates by event_id. -list shows the queries and their parameters;\n  pixelctl query <name> -help explains one.")
	clickhouseFlags(fs, &o)
	fs.Bool(&list, "list", "PIXELCTL_QUERY_LIST", false, "list the queries and their parameters instead of running one")
	fs.Bool(&header, "header", "PIXELCTL_QUERY_HEADER", true, "print the column names as the first line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if list {
		return listQueries(out)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageError{errors.New("query: name a query (pixelctl query -list shows them)")}
	}
	q, err := analysis.Lookup(rest[0])
	if err != nil {
		return err
	}
	// The connection flags work after the name too.
	values, err := queryParams(&q, rest[1:], out, func(pfs *flag.FlagSet) {
		fs.Also(pfs, "clickhouse-addr", "clickhouse-database", "clickhouse-user", "clickhouse-password", "header")
	})
	if err != nil {
		return err
	}
	if _, err := q.Args(values); err != nil { // before connecting
		return err
	}
	from := clickhouseFrom(fs, o)
	conn, err := chstore.Open(ctx, o)
	if err != nil {
		return fmt.Errorf("%w; the address came from %s", err, from)
	}
	defer conn.Close()
	res, err := q.Run(ctx, conn, values)
	if err != nil {
		return err
	}
	return res.WriteTSV(out, header)
}

// queryParams parses a query's parameters, one flag each, and the common
// flags that shared adds; it returns the parameters given.
func queryParams(q *analysis.Query, args []string, out io.Writer, shared func(*flag.FlagSet)) (map[string]string, error) {
	fs := flag.NewFlagSet("pixelctl query "+q.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	params := map[string]bool{}
	for _, p := range q.Params {
		fs.String(p.Name, p.Default, fmt.Sprintf("%s: %s", p.Type, p.Doc))
		params[p.Name] = true
	}
	paramUsage := flag.NewFlagSet("", flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) { paramUsage.Var(f.Value, f.Name, f.Usage) })
	paramUsage.SetOutput(out)
	shared(fs)
	fs.Usage = func() {
		fmt.Fprintf(out, "pixelctl query %s: %s\n\n  %s\n\nParameters:\n", q.Name, q.Title, strings.ReplaceAll(q.Doc, "\n", "\n  "))
		paramUsage.PrintDefaults()
		fmt.Fprintf(out, "\nThe flags of pixelctl query (-clickhouse-addr, ...) may follow the name too.\n")
	}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			err = flagError{err}
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("query %s: unexpected %q; parameters are given as -name value", q.Name, fs.Arg(0))}
	}
	values := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if params[f.Name] {
			values[f.Name] = f.Value.String()
		}
	})
	return values, nil
}

func listQueries(out io.Writer) error {
	qs, err := analysis.Queries()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, q := range qs {
		var params []string
		for _, p := range q.Params {
			if p.HasDefault {
				params = append(params, fmt.Sprintf("[-%s %s]", p.Name, p.Default))
			} else {
				params = append(params, fmt.Sprintf("-%s %s", p.Name, p.Type))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n\t  %s\n", q.Name, q.Title, strings.Join(params, " "))
	}
	return tw.Flush()
}
