package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/gate"
	"github.com/pixel-pipeline/pixel/pkg/googleads"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/report"
	"github.com/pixel-pipeline/pixel/schemas"
)

const exportUsage = `Usage: pixelctl export google-conversions -pixel ID -action-name NAME
           [-from YYYY-MM-DD -to YYYY-MM-DD | -last 30d] [-events Purchase,Lead] [-min-value X] [-o FILE]

Writes the click conversions of one pixel as Google Ads' offline-conversion
file (Goals > Conversions > Uploads, "conversions from clicks"): the
Parameters:TimeZone row with the pixel's time zone, the template's header,
one row per conversion with a gclid. Each event counts once; the consent
gate of the forwarder decides (no consent to ad use, Global Privacy
Control, an erasure request, a bot: left out), and stderr says how many
were written and how many were left out, and why. Conversions with only a
wbraid or gbraid (iOS) cannot go in the file: they are counted and left out
(the forwarder uploads them through the API).
`

// exportCmd runs pixelctl export.
func exportCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "google-conversions" {
		return exportGoogle(ctx, args[1:], out, os.Stderr)
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(out, exportUsage)
		return nil
	}
	return usageError{errors.New("export: the command is pixelctl export google-conversions -pixel ID -action-name NAME")}
}

// exportCounts says what happened to each event read.
type exportCounts struct {
	read, written, braid, belowMin int
	gated                          map[string]int // by gate reason
	skipped                        map[string]int // by NewConversion's error
}

// skipReasons name NewConversion's refusals on stderr, in this order.
var skipReasons = []struct {
	err  error
	name string
}{
	{googleads.ErrNoClickID, "no click id"},
	{googleads.ErrBadClickID, "bad click id"},
	{googleads.ErrClickExpired, "click older than 90 days"},
	{googleads.ErrBeforeClick, "before its click"},
}

func (c *exportCounts) String() string {
	var b strings.Builder
	left := c.read - c.written
	fmt.Fprintf(&b, "read %d conversions with a click id; written %d; left out %d (wbraid or gbraid %d, below -min-value %d", c.read, c.written, left, c.braid, c.belowMin)
	for _, r := range gate.Reasons {
		fmt.Fprintf(&b, ", %s %d", r, c.gated[r])
	}
	for _, s := range skipReasons {
		fmt.Fprintf(&b, ", %s %d", s.name, c.skipped[s.name])
	}
	b.WriteString(")")
	return b.String()
}

func exportGoogle(ctx context.Context, args []string, out, stderr io.Writer) error {
	o := chstore.DefaultOptions()
	var pixelID, actionName, from, to, last, output string
	var minValue float64
	// One file goes to one conversion action: by default the purchases,
	// not every conversion event a destination forwards (an add to cart
	// uploaded as a purchase would count as one).
	events := []string{"Purchase"}
	fs := flagenv.New("pixelctl export google-conversions", "Write a pixel's click conversions as Google Ads' offline-conversion file:\n  pixelctl export google-conversions -pixel ID -action-name NAME [-from D -to D | -last 30d] [-events a,b] [-min-value X] [-o FILE]")
	clickhouseFlags(fs, &o)
	fs.String(&pixelID, "pixel", "PIXELCTL_PIXEL", "", "the pixel's `id`")
	fs.String(&actionName, "action-name", "PIXELCTL_EXPORT_ACTION_NAME", "", "the conversion action's `name` exactly as Google Ads shows it (Goals > Conversions)")
	fs.String(&from, "from", "PIXELCTL_EXPORT_FROM", "", "the first `day`, YYYY-MM-DD in the pixel's time zone (with -to)")
	fs.String(&to, "to", "PIXELCTL_EXPORT_TO", "", "the last `day`, included (with -from)")
	fs.String(&last, "last", "PIXELCTL_EXPORT_LAST", "", "the last N days, weeks or months up to today, today included: 30d, 4w, 3m (the default is 30d)")
	fs.Strings(&events, "events", "PIXELCTL_EXPORT_EVENTS", "the `events` exported, comma-separated, as the site names them; all go to the one conversion action (default "+strings.Join(events, ",")+")")
	fs.Float64(&minValue, "min-value", "PIXELCTL_EXPORT_MIN_VALUE", 0, "leave out conversions whose value is below this `amount` (0: none; an event without a value has 0)")
	fs.String(&output, "o", "PIXELCTL_EXPORT_OUTPUT", "", "write the file to this `file` instead of stdout")
	var maxMemory, spill uint64
	memoryFlags(fs, &maxMemory, &spill)
	fs.Check(func() error {
		switch {
		case len(events) == 0:
			return errors.New("-events is empty: name at least one event, e.g. Purchase")
		case slices.Contains(events, destination.EngagedVisit):
			return fmt.Errorf("-events %s: the forwarder derives engaged visits as events stream by; they are not stored, so the file cannot hold them", destination.EngagedVisit)
		case math.IsNaN(minValue) || math.IsInf(minValue, 0) || minValue < 0:
			return fmt.Errorf("-min-value %v: give 0 or a positive amount", minValue)
		}
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case len(fs.Args()) > 0:
		return usageError{fmt.Errorf("export google-conversions: unexpected %q", fs.Args()[0])}
	case pixelID == "":
		return flagError{errors.New("export google-conversions: give the pixel: -pixel ID")}
	case strings.TrimSpace(actionName) == "":
		return flagError{errors.New("export google-conversions: give the conversion action's name as Google Ads shows it: -action-name NAME")}
	}
	if last == "" && from == "" && to == "" {
		last = "30d"
	}
	// The range is checked before connecting, against a placeholder day:
	// only its form is checked here.
	if _, err := report.ParseRange(from, to, last, time.Now()); err != nil {
		return inputError(err)
	}
	want := destination.Destination{Events: events, MinValue: minValue}

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
	loc, err := time.LoadLocation(p.Zone())
	if err != nil {
		return fmt.Errorf("export google-conversions: pixel %s has time zone %q: %w; fix it with pixelctl pixel update", pixelID, p.Zone(), err)
	}
	days, err := report.ParseRange(from, to, last, time.Now().In(loc))
	if err != nil {
		return inputError(err)
	}

	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(report.MemorySettings(maxMemory, spill)))
	convs, counts, err := readConversions(qctx, conn, pixelID, days.From, days.To, p.Zone(), loc, actionName, &want)
	if err != nil {
		return err
	}
	w, file := out, (*os.File)(nil)
	if output != "" {
		if file, err = os.Create(output); err != nil {
			return fmt.Errorf("export google-conversions: %w", err)
		}
		defer file.Close() // after an error; the file is closed and checked below
		w = file
	}
	n, err := googleads.WriteCSV(w, convs, googleads.CSVOptions{TimeZone: loc})
	if err != nil {
		return err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return fmt.Errorf("export google-conversions: %w", err)
		}
	}
	counts.written, counts.braid = n.Written, n.Braid
	fmt.Fprintf(stderr, "google-conversions of pixel %s, %s to %s (%s days): %s\n", pixelID, days.From, days.To, p.Zone(), counts)
	return nil
}

// readConversions reads the pixel's click conversions of the days from..to
// (the pixel's zone), keeps those want wants and the gate lets through, and
// makes them Google's conversions of the action named actionName.
func readConversions(ctx context.Context, conn chstore.Conn, pixelID, from, to, zone string, loc *time.Location, actionName string, want *destination.Destination) ([]googleads.Conversion, *exportCounts, error) {
	counts := &exportCounts{gated: map[string]int{}, skipped: map[string]int{}}
	rows, err := conn.Query(ctx, schemas.Internal("export_google_conversions"), pixelID, from, to, zone, from, to, want.EventNames())
	if err != nil {
		return nil, nil, fmt.Errorf("export google-conversions: reading the events: %w", err)
	}
	defer rows.Close()
	// The file names the action by its name; NewConversion also makes the
	// API's resource name, which needs ids the file does not use.
	action := googleads.Destination{CustomerID: "0", ConversionActionID: "0", ConversionName: actionName}
	var convs []googleads.Conversion
	for rows.Next() {
		var (
			eventID, name, currency, orderID, visitorID       string
			gclid, wbraid, gbraid, emailGoogle, phoneGoogle   string
			consent, adStorage, adUserData, adPersonalization string
			ts                                                time.Time
			tsMs, clickMs                                     uint64
			value                                             float64
			gpc, bot, erased                                  uint8
		)
		if err := rows.Scan(&eventID, &name, &ts, &tsMs, &value, &currency, &orderID, &visitorID,
			&gclid, &wbraid, &gbraid, &clickMs, &emailGoogle, &phoneGoogle,
			&consent, &adStorage, &adUserData, &adPersonalization, &gpc, &bot, &erased); err != nil {
			return nil, nil, fmt.Errorf("export google-conversions: reading the events: %w", err)
		}
		counts.read++
		e := event.Event{
			EventID: []byte(eventID), PixelID: []byte(pixelID), VisitorID: []byte(visitorID), Name: []byte(name),
			TS: ts.Unix(), TSMs: int64(tsMs), Value: value, Currency: []byte(currency), OrderID: []byte(orderID),
			ClickTSMs: int64(clickMs), GPC: gpc != 0, IsBot: bot != 0,
		}
		set := func(i int, v string) {
			if v != "" {
				e.Tracking[i] = []byte(v)
			}
		}
		set(event.GCLID, gclid)
		set(event.WBRAID, wbraid)
		set(event.GBRAID, gbraid)
		set(event.EmailGoogleSHA256, emailGoogle)
		set(event.PhoneGoogleSHA256, phoneGoogle)
		set(event.Consent, consent)
		set(event.AdStorage, adStorage)
		set(event.AdUserData, adUserData)
		set(event.AdPersonalization, adPersonalization)

		if !want.WantsEvent(&e) {
			counts.belowMin++ // the query keeps only the named events
			continue
		}
		if ok, reason := gate.Check(&e, gate.Options{OptedOut: func(*event.Event) bool { return erased != 0 }}); !ok {
			counts.gated[reason]++
			continue
		}
		c, err := googleads.NewConversion(&e, action, loc)
		if err != nil {
			skipped := false
			for _, s := range skipReasons {
				if errors.Is(err, s.err) {
					counts.skipped[s.name]++
					skipped = true
					break
				}
			}
			if !skipped {
				return nil, nil, fmt.Errorf("export google-conversions: event %s: %w", eventID, err)
			}
			continue
		}
		convs = append(convs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("export google-conversions: reading the events: %w", err)
	}
	return convs, counts, nil
}
