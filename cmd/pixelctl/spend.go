package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/report"
	"github.com/pixel-pipeline/pixel/pkg/spend"
)

const spendUsage = `Usage: pixelctl spend <command> [flags]

Commands:
  import -platform google|meta|csv FILE
          load a Google Ads campaign report, a Meta Ads Manager export or a csv
          (date,platform,account,campaign,cost,currency,clicks,impressions) into
          pixel.ad_spend; importing the same file again changes nothing

Run "pixelctl spend import -help" for its flags.
`

func spendCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("spend: name a command (pixelctl spend -help lists them)")}
	}
	switch args[0] {
	case "import":
		return spendImport(ctx, args[1:], out)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, spendUsage)
		return nil
	}
	return usageError{fmt.Errorf("spend: unknown command %q (pixelctl spend -help lists them)", args[0])}
}

func spendImport(ctx context.Context, args []string, out io.Writer) error {
	c := newCmd("pixelctl spend import", "Load what an ad platform charged, per campaign and day, into pixel.ad_spend:\n"+
		"  pixelctl spend import -platform google campaigns.csv   (Reports > Campaigns, segmented by Day; Download > CSV or CSV for Excel)\n"+
		"  pixelctl spend import -platform meta export.csv        (Ads Manager, Breakdown > By time > Day; Export table data > .csv)\n"+
		"  pixelctl spend import -platform csv spend.csv          (date,platform,account,campaign,cost,currency,clicks,impressions)\n"+
		"Each row keeps its currency, and its campaign's utm_campaign key (see schemas/clickhouse/0007_ad_spend.sql).\n"+
		"Importing the same file again changes nothing; a newer export of the same days replaces them.", false)
	var (
		platform spend.Platform
		o        spend.Options
		dryRun   bool
	)
	c.fs.Func("platform", "PIXELCTL_SPEND_PLATFORM", "", "whose export the file is (`name`): google, meta or csv", func(v string) (err error) {
		if v == "" {
			return nil // not given: said below
		}
		platform, err = spend.ParsePlatform(v)
		return err
	})
	c.fs.String(&o.Account, "account", "PIXELCTL_SPEND_ACCOUNT", "", "the `account` (e.g. the Google Ads customer id 123-456-7890) of rows whose file has no account column")
	c.fs.String(&o.Currency, "currency", "PIXELCTL_SPEND_CURRENCY", "", "the `currency` (ISO 4217, e.g. EUR) of rows whose file names none")
	c.fs.Bool(&dryRun, "dry-run", "PIXELCTL_SPEND_DRY_RUN", false, "parse the file and print what would be imported, without writing")
	path, err := c.parseID(args, "file")
	if err != nil {
		return err
	}
	if platform == "" {
		return flagError{errors.New("spend import: -platform is required (google, meta or csv)")}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("spend import: %w", err)
	}
	f, err := spend.Parse(platform, data, o)
	if err != nil {
		return fmt.Errorf("spend import: %s: %w", path, err)
	}
	if !dryRun {
		conn, err := c.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := spend.Write(ctx, conn, f, time.Now()); err != nil {
			return fmt.Errorf("spend import: %s: %w", path, err)
		}
	}
	return printImport(out, c.format, path, f, dryRun)
}

func printImport(out io.Writer, format, path string, f *spend.File, dryRun bool) error {
	sum := spend.Summarize(path, f, dryRun)
	if format == "json" {
		return writeJSON(out, sum)
	}
	verb := "Imported"
	if dryRun {
		verb = "Would import (-dry-run)"
	}
	fmt.Fprintf(out, "%s %d rows of %s spend from %s (sha256 %s).\n", verb, len(f.Rows), f.Platform, path, f.SHA256[:12])
	fmt.Fprintf(out, "Column names on line %d; %d lines read after them: %d rows, %d summed into the row of an earlier line of the same campaign and day, %d skipped.\n\n",
		f.Header, f.Read, len(f.Rows), f.Merged, len(f.Skipped))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PLATFORM\tCURRENCY\tROWS\tCOST\tCLICKS\tIMPRESSIONS\t")
	for _, t := range sum.Totals {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", t.Platform, t.Currency, report.Group(strconv.Itoa(t.Rows)), report.Group(t.Cost),
			report.Group(strconv.FormatUint(t.Clicks, 10)), report.Group(strconv.FormatUint(t.Impressions, 10)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(f.Skipped) > 0 {
		fmt.Fprintln(out, "\nSkipped:")
		for _, s := range f.Skipped {
			fmt.Fprintf(out, "  line %d: %s\n", s.Line, s.Reason)
		}
	}
	return nil
}
