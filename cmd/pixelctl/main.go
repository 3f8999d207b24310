// Command pixelctl administers the pipeline's ClickHouse side.
//
//	pixelctl migrate    apply the versioned migrations under schemas/clickhouse
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
)

const usage = `Usage: pixelctl <command> [flags]

Commands:
  migrate   create the database and apply the migrations under schemas/clickhouse
            that it has not applied yet (idempotent; recorded in schema_migrations)

Run "pixelctl <command> -help" for the command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch os.Args[1] {
	case "migrate":
		err = migrate(ctx, os.Args[2:])
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "pixelctl: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pixelctl:", err)
		os.Exit(1)
	}
}

// clickhouseFlags adds the connection flags every command shares.
func clickhouseFlags(fs *flagenv.Set, o *chstore.Options, addr *string) {
	fs.String(addr, "clickhouse-addr", "CLICKHOUSE_ADDR", "127.0.0.1:9000", "comma-separated ClickHouse native-protocol addresses")
	fs.String(&o.Database, "clickhouse-database", "CLICKHOUSE_DATABASE", "pixel", "ClickHouse database")
	fs.String(&o.User, "clickhouse-user", "CLICKHOUSE_USER", "default", "ClickHouse user")
	fs.String(&o.Password, "clickhouse-password", "CLICKHOUSE_PASSWORD", "", "ClickHouse password")
}

func migrate(ctx context.Context, args []string) error {
	var o chstore.Options
	var addr string
	var wait time.Duration
	fs := flagenv.New("pixelctl migrate", "Create the database and apply the pending migrations under schemas/clickhouse.")
	clickhouseFlags(fs, &o, &addr)
	fs.Duration(&wait, "wait", "PIXELCTL_WAIT", 0, "keep trying this long while ClickHouse is not reachable yet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Addr = flagenv.List(addr)
	deadline := time.Now().Add(wait)
	for {
		res, err := chstore.Migrate(ctx, o)
		if err == nil {
			for _, m := range res.Applied {
				fmt.Printf("applied %04d_%s\n", m.Version, m.Name)
			}
			fmt.Printf("database %s is at version %d\n", o.Database, res.Current)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}
