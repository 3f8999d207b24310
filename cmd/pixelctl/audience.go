package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/audience"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/report"
)

const audienceUsage = `Usage: pixelctl audience export NAME -pixel ID -format meta|google|ids [-param k=v ...]

Writes a retargeting audience of one pixel as a customer list to upload to an
ad platform (meta: a Meta Custom Audience file; google: a Google Customer
Match CSV; ids: the visitor ids), and prints to stderr how many were exported
and how many were left out, and why. Only SHA-256 hashes are written. The
audiences (schemas/queries/audiences):
`

// audienceCmd runs pixelctl audience.
func audienceCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
			return printAudienceUsage(out)
		}
		return usageError{errors.New("audience: the command is pixelctl audience export NAME -pixel ID -format meta|google|ids")}
	}
	return audienceExport(ctx, args[1:], out, os.Stderr)
}

func printAudienceUsage(out io.Writer) error {
	fmt.Fprint(out, audienceUsage)
	rules, err := audience.Rules()
	if err != nil {
		return err
	}
	for _, r := range rules {
		var params []string
		for _, p := range r.Params {
			if p.Name == "pixel" || p.Name == "to" || p.Name == "tz" || p.Name == "gpc_mode" {
				continue
			}
			if p.HasDefault {
				params = append(params, fmt.Sprintf("[-param %s=%s]", p.Name, p.Default))
			} else {
				params = append(params, fmt.Sprintf("-param %s=%s", p.Name, p.Type))
			}
		}
		fmt.Fprintf(out, "  %-20s %s\n  %-20s   %s\n", r.Name, r.Title, "", strings.Join(params, " "))
	}
	fmt.Fprintln(out, "\n-param to=YYYY-MM-DD ends the window on that day (default: today in the pixel's time zone);")
	fmt.Fprintln(out, "days are the pixel's, and its GPC setting decides: drop leaves out visitors who sent GPC.")
	return nil
}

func audienceExport(ctx context.Context, args []string, out, stderr io.Writer) error {
	o := chstore.DefaultOptions()
	var pixelID, output string
	var format audience.Format
	params := map[string]string{}
	fs := flagenv.New("pixelctl audience export", "Export an audience: pixelctl audience export NAME -pixel ID -format meta|google|ids [-param k=v ...]\n  (pixelctl audience -help lists the audiences and their parameters)")
	clickhouseFlags(fs, &o)
	fs.String(&pixelID, "pixel", "PIXELCTL_PIXEL", "", "the pixel's `id`")
	fs.Func("format", "PIXELCTL_AUDIENCE_FORMAT", "", "`meta`, google or ids", func(v string) error {
		if v == "" {
			return nil // not given
		}
		f, err := audience.ParseFormat(v)
		format = f
		return err
	})
	toGiven := false
	fs.Func("param", "PIXELCTL_AUDIENCE_PARAM", "", "a parameter of the audience, `name=value`; repeat for more", func(v string) error {
		if v == "" {
			return nil // not given
		}
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("-param %q: want name=value", v)
		}
		switch k {
		case "pixel":
			return errors.New("-param pixel: give the pixel as -pixel ID")
		case "tz", "gpc_mode":
			// The registry's: an export may not choose its own days or
			// ignore the pixel's GPC setting.
			return fmt.Errorf("-param %s: it comes from the pixel's registry settings; change them with pixelctl pixel update", k)
		}
		params[k] = val
		toGiven = toGiven || k == "to"
		return nil
	})
	fs.String(&output, "o", "PIXELCTL_AUDIENCE_OUTPUT", "", "write the list to this `file` instead of stdout")
	var maxMemory, spill uint64
	memoryFlags(fs, &maxMemory, &spill)
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if rest := fs.Args(); name == "" && len(rest) == 1 {
		name = rest[0]
	} else if len(rest) > 0 {
		return usageError{fmt.Errorf("audience export: unexpected %q", rest[0])}
	}
	switch {
	case name == "":
		return usageError{errors.New("audience export: name the audience (pixelctl audience -help lists them)")}
	case pixelID == "":
		return flagError{errors.New("audience export: give the pixel: -pixel ID")}
	case format == "":
		return flagError{errors.New("audience export: give the format: -format meta, google or ids")}
	}
	params["pixel"] = pixelID
	// Checked now, replaced by the registry's below.
	params["tz"], params["gpc_mode"] = "UTC", pixel.SignalDrop.String()
	if !toGiven {
		params["to"] = time.Now().Format(time.DateOnly)
	}
	if _, err := audience.Check(name, params); err != nil { // before connecting
		return flagError{err}
	}
	conn, err := connect(ctx, fs, o)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, err := registry.NewStore(conn).Get(ctx, pixelID)
	if errors.Is(err, registry.ErrNotFound) {
		return flagError{err}
	} else if err != nil {
		return err
	}
	own := map[string]string{}
	for k, v := range params {
		own[k] = v
	}
	for _, k := range audience.RegistryParams {
		delete(own, k) // the placeholders of the check above
	}
	if !toGiven {
		delete(own, "to")
	}
	if params, err = audience.ForPixel(p, own, time.Now()); err != nil {
		return err
	}
	// The rules de-duplicate raw events with GROUP BY as the reports do:
	// the same limits, so that a long window spills to disk instead of
	// failing.
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(report.MemorySettings(maxMemory, spill)))
	a, err := audience.Run(qctx, conn, name, params)
	if err != nil {
		return err
	}
	w, file := out, (*os.File)(nil)
	if output != "" {
		if file, err = os.Create(output); err != nil {
			return fmt.Errorf("audience export: %w", err)
		}
		defer file.Close() // after an error; the list is closed and checked below
		w = file
	}
	c, err := audience.Write(w, format, a.Members)
	if err != nil {
		return err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return fmt.Errorf("audience export: %w", err)
		}
	}
	fmt.Fprintf(stderr, "audience %s of pixel %s up to %s: %s\n", name, pixelID, params["to"], c)
	return nil
}
