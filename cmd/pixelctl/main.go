// Command pixelctl administers the pipeline's ClickHouse side.
//
//	pixelctl migrate    apply the versioned migrations under schemas/clickhouse
//	pixelctl report     run one of the reports under schemas/queries for a pixel
//	pixelctl pixel      the pixel registry: create, list, show, update, ...
//	pixelctl link sign  signed click links
//	pixelctl forget     delete one person's events
//	pixelctl retention  remove events older than N months
//	pixelctl spend      import ad spend from Google Ads and Meta Ads Manager exports
//	pixelctl audience   export a retargeting audience as a customer list
//	pixelctl export     export click conversions as Google Ads' offline-conversion file
//	pixelctl user       the web console's accounts and API tokens
//	pixelctl destination where conversions are forwarded (Meta, Google Ads, webhooks)
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
	"time"
	_ "time/tzdata" // -time-zone is checked by name also where the system has no zoneinfo

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

const usage = `Usage: pixelctl <command> [flags]

Commands:
  migrate   create the database and apply the migrations under schemas/clickhouse
            that it has not applied yet (idempotent; recorded in schema_migrations)
  report    a report for one pixel, as a table, csv or json (pixelctl report -help):
              pixelctl report -list
              pixelctl report cpa -pixel ID -last 7d [-param k=v] [-format table|csv|json]
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
  export    click conversions as Google Ads' offline-conversion file (pixelctl export -help):
              pixelctl export google-conversions -pixel ID -action-name NAME [-last 30d] [-o FILE]
  user      the web console's accounts and API tokens (pixelctl user -help):
              pixelctl user create -name ann -role admin|viewer [-password-stdin]
              pixelctl user list|set-role|password|disable|enable NAME, user token create|list|revoke
  destination where a pixel's conversions are forwarded (pixelctl destination -help):
              pixelctl destination create -pixel ID -kind meta|google|webhook -name N [-credentials-stdin]
              pixelctl destination list|show|update|disable|enable|delete ID

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
	case "report":
		return reportCmd(ctx, args[1:], out)
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
	case "export":
		return exportCmd(ctx, args[1:], out)
	case "user":
		return userCmd(ctx, args[1:], out)
	case "destination":
		return destinationCmd(ctx, args[1:], out)
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

// connect opens ClickHouse with the options of fs, saying where the address
// came from on failure.
func connect(ctx context.Context, fs *flagenv.Set, o chstore.Options) (chstore.Conn, error) {
	from := clickhouseFrom(fs, o)
	conn, err := chstore.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%w; the address came from %s", err, from)
	}
	return conn, nil
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
	fs.String(&o.Cluster, "cluster", "PIXELCTL_CLUSTER", "", "apply every migration ON CLUSTER `name` (remote_servers): sharded tables as <table>_local Replicated*MergeTree and a Distributed <table> by visitor, the others replicated on every node (README: ClickHouse cluster)")
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
