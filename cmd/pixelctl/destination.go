package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/googleads"
	"github.com/pixel-pipeline/pixel/pkg/metacapi"
)

const destinationUsage = `Usage: pixelctl destination <command> [flags] [ID]

Where a pixel's conversions are forwarded: Meta's Conversions API, a Google Ads
conversion action, or a webhook (cmd/forwarder sends them).

Commands:
  create -pixel ID -kind meta|google|webhook -name N [settings] [-credentials-stdin]
                   add a destination
  list [-pixel ID] every destination (of one pixel), disabled ones too
  show ID          one destination
  update ID [settings] [-credentials-stdin]
                   change it: only the flags given change
  disable ID       stop forwarding to it (settings and credentials are kept)
  enable ID        forward to it again
  delete ID        remove it, credentials included

Credentials are never flags (ps would show them): give them with -credentials-stdin
as a JSON object on standard input, by name:
  meta     {"access_token": "..."}
  google   {"developer_token": "...", "client_id": "...", "client_secret": "...", "refresh_token": "..."}
  webhook  {"signing_secret": "..."}
update replaces the credentials named, "" clears one, the others are kept. list and
show print which credentials are set, never their values.

Credentials are sealed with the destination key, a file that every program that
forwards or edits destinations reads (-destination-key-file, $PIXEL_DESTINATION_KEY_FILE):
whoever reads ClickHouse without it cannot read them. pixelctl destination create makes
a new key in the file named when there is none; every other command needs the file.
Keep it (and a copy): without it the credentials must be given again.
Run "pixelctl destination <command> -help" for its flags.
`

func destinationCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("destination: name a command (pixelctl destination -help lists them)")}
	}
	switch args[0] {
	case "create":
		return destinationCreate(ctx, args[1:], out)
	case "list":
		return destinationList(ctx, args[1:], out)
	case "show", "disable", "enable", "delete":
		return destinationChange(ctx, args[0], args[1:], out)
	case "update":
		return destinationUpdate(ctx, args[1:], out)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, destinationUsage)
		return nil
	}
	return usageError{fmt.Errorf("destination: unknown command %q (pixelctl destination -help lists them)", args[0])}
}

// destCmd is a destination command's flags: those of every data command
// and the key file.
type destCmd struct {
	*cmdFlags
	keyFile string
}

func newDestCmd(name, desc string, formats ...string) *destCmd {
	c := &destCmd{cmdFlags: newFormatCmd(name, desc, formats...)}
	c.fs.DestinationKey(&c.keyFile,
		"the destination key `file` that seals the credentials (64 hex digits; pixelctl destination create makes it, mode 0600, when the file named does not exist)")
	return c
}

// key loads the key file: -destination-key-file, else make run's (its
// run/stack.env names it). create makes a new key there when the file does
// not exist, and says so.
func (c *destCmd) key(create bool) (*destination.Key, error) {
	path := c.keyFile
	if src := c.fs.Source(destination.KeyFileFlag); src.Kind == flagenv.Fallback {
		fmt.Fprintf(os.Stderr, "using destination key file %s (from %s)\n", path, src)
	}
	if path == "" {
		return nil, destination.ErrNoKey
	}
	if !create {
		return destination.LoadKey(path)
	}
	_, statErr := os.Stat(path)
	k, err := destination.LoadOrCreateKey(path)
	if err == nil && errors.Is(statErr, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "created a new destination key in %s (mode 0600): give the same file to the forwarder and the console, and keep a copy; without it the credentials must be given again\n", path)
	}
	return k, err
}

// store loads the key and connects: a Store, and the connection to close.
func (c *destCmd) store(ctx context.Context, create bool) (*destination.Store, func(), error) {
	key, err := c.key(create)
	if err != nil {
		return nil, nil, err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	return destination.NewStore(conn, key), func() { _ = conn.Close() }, nil
}

// stringSetting is a flag that sets one of a kind's text settings.
type stringSetting struct {
	flag, kind, usage string
	field             func(d *destination.Destination) *string
}

var stringSettings = []stringSetting{
	{"meta-dataset", destination.KindMeta, "Meta: the pixel (dataset) `id` from Events Manager, digits", func(d *destination.Destination) *string { return &d.Meta.DatasetID }},
	{"meta-base-url", destination.KindMeta, "Meta: the API's base `URL`, e.g. a Conversions API Gateway's (empty: " + metacapi.DefaultBaseURL + ")", func(d *destination.Destination) *string { return &d.Meta.BaseURL }},
	{"meta-version", destination.KindMeta, "Meta: the Graph API `version` (empty: " + metacapi.DefaultVersion + ")", func(d *destination.Destination) *string { return &d.Meta.Version }},
	{"meta-test-event-code", destination.KindMeta, "Meta: Events Manager's test event `code`, sent with every request (empty: none; for testing only)", func(d *destination.Destination) *string { return &d.Meta.TestEventCode }},
	{"google-customer", destination.KindGoogle, "Google Ads: the customer `id`, ten digits without dashes", func(d *destination.Destination) *string { return &d.Google.CustomerID }},
	{"google-action", destination.KindGoogle, "Google Ads: the conversion action's numeric `id` (ctId in its URL)", func(d *destination.Destination) *string { return &d.Google.ConversionActionID }},
	{"google-action-name", destination.KindGoogle, "Google Ads: the conversion action's `name` as Google Ads shows it (the CSV export names it)", func(d *destination.Destination) *string { return &d.Google.ConversionName }},
	{"google-login-customer", destination.KindGoogle, "Google Ads: the manager account's `id` when access goes through one (empty: none)", func(d *destination.Destination) *string { return &d.Google.LoginCustomerID }},
	{"google-base-url", destination.KindGoogle, "Google Ads: the API's base `URL` (empty: " + googleads.DefaultBaseURL + ")", func(d *destination.Destination) *string { return &d.Google.BaseURL }},
	{"google-version", destination.KindGoogle, "Google Ads: the API `version` (empty: " + googleads.DefaultVersion + ")", func(d *destination.Destination) *string { return &d.Google.Version }},
	{"google-token-url", destination.KindGoogle, "Google Ads: the OAuth 2.0 token endpoint `URL` (empty: https://oauth2.googleapis.com/token)", func(d *destination.Destination) *string { return &d.Google.TokenURL }},
	{"webhook-url", destination.KindWebhook, "webhook: the https:// `URL` that receives the signed JSON batches", func(d *destination.Destination) *string { return &d.Webhook.URL }},
}

// destEnv is the variable of a destination flag.
func destEnv(flag string) string {
	return "PIXELCTL_DESTINATION_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// destFlags are create's and update's flags for what a destination is.
type destFlags struct {
	name             string
	events           []string
	minValue         float64
	ldu              bool
	strings          map[string]*string
	credentialsStdin bool
}

func (f *destFlags) define(fs *flagenv.Set) {
	fs.String(&f.name, "name", destEnv("name"), "", "the destination's `name`, for people")
	fs.Strings(&f.events, "events", destEnv("events"), "the event `names` forwarded, comma-separated, as the site sends them, e.g. Purchase,Lead,"+destination.EngagedVisit+
		" (empty: "+strings.Join(destination.DefaultEvents, ",")+")")
	fs.Float64(&f.minValue, "min-value", destEnv("min-value"), 0, "leave out events whose value is below this `amount` (0: no minimum)")
	fs.Bool(&f.ldu, "meta-ldu", destEnv("meta-ldu"), false, "Meta: send data_processing_options [\"LDU\"] (limited data use)")
	f.strings = map[string]*string{}
	for _, s := range stringSettings {
		v := new(string)
		fs.String(v, s.flag, destEnv(s.flag), "", s.usage)
		f.strings[s.flag] = v
	}
	fs.Bool(&f.credentialsStdin, "credentials-stdin", destEnv("credentials-stdin"), false,
		"read the credentials from standard input, a JSON object by name (pixelctl destination -help); update changes the ones named, \"\" clears one")
}

// apply sets the flags that were given (on the command line or in their
// variable) on d; a setting of another kind than d's is refused.
func (f *destFlags) apply(fs *flagenv.Set, d *destination.Destination) error {
	given := func(name string) bool { return fs.Source(name).Kind > flagenv.Default }
	if given("name") {
		d.Name = f.name
	}
	if given("events") {
		d.Events = f.events
	}
	if given("min-value") {
		d.MinValue = f.minValue
	}
	if given("meta-ldu") {
		if d.Kind != destination.KindMeta {
			return flagError{fmt.Errorf("-meta-ldu is a setting of meta destinations, and this is a %s destination", d.Kind)}
		}
		d.Meta.LimitedDataUse = f.ldu
	}
	for _, s := range stringSettings {
		if !given(s.flag) {
			continue
		}
		if d.Kind != s.kind {
			return flagError{fmt.Errorf("-%s is a setting of %s destinations, and this is a %s destination", s.flag, s.kind, d.Kind)}
		}
		*s.field(d) = *f.strings[s.flag]
	}
	return nil
}

// credentials reads -credentials-stdin's JSON object: nil without the flag.
func (f *destFlags) credentials() (map[string]string, error) {
	if !f.credentialsStdin {
		return nil, nil
	}
	var m map[string]string
	dec := json.NewDecoder(io.LimitReader(stdin, 64<<10))
	if err := dec.Decode(&m); err != nil {
		// The error names a position and a type only: never the text read.
		return nil, fmt.Errorf("-credentials-stdin: standard input is not a JSON object of text values, e.g. {\"access_token\": \"...\"}: %w", err)
	}
	if m == nil {
		return nil, errors.New("-credentials-stdin: standard input is null: give a JSON object, e.g. {\"access_token\": \"...\"}")
	}
	return m, nil
}

func destinationCreate(ctx context.Context, args []string, out io.Writer) error {
	c := newDestCmd("pixelctl destination create", "Add a destination to a pixel:\n"+
		"  pixelctl destination create -pixel shop -kind meta -name \"Meta shop\" -meta-dataset 1234567890 -events Purchase,EngagedVisit -credentials-stdin < meta.json\n"+
		"  pixelctl destination create -pixel shop -kind webhook -name Relay -webhook-url https://relay.example/pixel -credentials-stdin <<< '{\"signing_secret\": \"...\"}'\n"+
		"The credentials are sealed with the key file (-destination-key-file), which this command\ncreates when the file named does not exist.", "table", "json")
	var (
		f                 destFlags
		pixelID, kind, id string
	)
	c.fs.String(&pixelID, "pixel", "PIXELCTL_PIXEL", "", "the pixel `id` whose events go to the destination")
	c.fs.String(&kind, "kind", destEnv("kind"), "", "the destination's `kind`: "+strings.Join(destination.Kinds, ", "))
	c.fs.String(&id, "id", destEnv("id"), "", "the destination's `id` (1 to 64 of A-Z a-z 0-9 _ -) (empty: 16 random characters)")
	f.define(c.fs)
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	if pixelID == "" || kind == "" || f.name == "" {
		return flagError{errors.New("destination create: -pixel, -kind and -name are required")}
	}
	d := destination.Destination{ID: id, PixelID: pixelID, Kind: kind}
	if err := f.apply(c.fs, &d); err != nil {
		return err
	}
	creds, err := f.credentials()
	if err != nil {
		return err
	}
	if err := d.Credentials.Merge(creds); err != nil {
		return err
	}
	s, done, err := c.store(ctx, true)
	if err != nil {
		return err
	}
	defer done()
	created, err := s.Create(ctx, d)
	if err != nil {
		return err
	}
	if c.format != "json" {
		fmt.Fprintf(out, "Created destination %s (the forwarder takes it up at its next refresh).\n\n", created.ID)
	}
	return printDestination(out, c.format, created)
}

func destinationList(ctx context.Context, args []string, out io.Writer) error {
	c := newDestCmd("pixelctl destination list", "List the destinations, disabled ones too, by pixel and name: which credentials are set,\nnever their values.", "table", "csv", "json")
	var pixelID string
	c.fs.String(&pixelID, "pixel", "PIXELCTL_PIXEL", "", "only this pixel's destinations (`id`; empty: every pixel's)")
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	s, done, err := c.store(ctx, false)
	if err != nil {
		return err
	}
	defer done()
	ds, err := s.List(ctx, pixelID)
	if err != nil {
		return err
	}
	switch c.format {
	case "json":
		rs := make([]destination.Record, len(ds))
		for i, d := range ds {
			rs[i] = d.Record()
		}
		return writeJSON(out, rs)
	case "csv":
		w := csv.NewWriter(out)
		_ = w.Write([]string{"id", "pixel_id", "name", "kind", "status", "events", "min_value", "target", "credentials_set", "created_at", "updated_at"})
		for _, d := range ds {
			_ = w.Write([]string{d.ID, d.PixelID, d.Name, d.Kind, d.Status, strings.Join(d.Events, ","), strconv.FormatFloat(d.MinValue, 'f', -1, 64),
				target(d), strings.Join(d.Credentials.Set(), ","), d.CreatedAt.Format(time.RFC3339), d.UpdatedAt.Format(time.RFC3339)})
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPIXEL\tNAME\tKIND\tSTATUS\tEVENTS\tMIN VALUE\tTARGET\tCREDENTIALS")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.PixelID, d.Name, d.Kind, d.Status, events(d),
			strconv.FormatFloat(d.MinValue, 'f', -1, 64), target(d), credentialsSet(d))
	}
	return tw.Flush()
}

// destinationChange runs show, disable, enable and delete.
func destinationChange(ctx context.Context, verb string, args []string, out io.Writer) error {
	desc := map[string]string{
		"show":    "Show one destination: its settings, and which credentials are set (never their values).",
		"disable": "Disable a destination: the forwarder stops sending to it at its next refresh; its settings\nand credentials are kept for enable.",
		"enable":  "Enable a disabled destination again.",
		"delete":  "Delete a destination, its credentials included; the forwarder stops sending to it at its\nnext refresh.",
	}[verb]
	c := newDestCmd("pixelctl destination "+verb, desc+"\n  pixelctl destination "+verb+" ID", "table", "json")
	id, err := c.parseID(args, "destination id")
	if err != nil {
		return err
	}
	s, done, err := c.store(ctx, false)
	if err != nil {
		return err
	}
	defer done()
	var d *destination.Destination
	switch verb {
	case "show":
		d, err = s.Get(ctx, id)
	case "disable":
		d, err = s.SetStatus(ctx, id, destination.StatusDisabled)
	case "enable":
		d, err = s.SetStatus(ctx, id, destination.StatusActive)
	case "delete":
		if err := s.Delete(ctx, id); err != nil {
			return err
		}
		if c.format == "json" {
			return writeJSON(out, struct {
				ID      string `json:"id"`
				Deleted bool   `json:"deleted"`
			}{id, true})
		}
		fmt.Fprintf(out, "Deleted destination %s (the forwarder stops sending to it at its next refresh).\n", id)
		return nil
	}
	if err != nil {
		return err
	}
	if verb != "show" && c.format != "json" {
		fmt.Fprintf(out, "Destination %s is %sd now (the forwarder takes it up at its next refresh).\n\n", d.ID, verb)
	}
	return printDestination(out, c.format, d)
}

func destinationUpdate(ctx context.Context, args []string, out io.Writer) error {
	c := newDestCmd("pixelctl destination update", "Change a destination: only the flags given change (a flag's variable counts as given);\n"+
		"with -credentials-stdin, the credentials named are replaced (\"\" clears one) and the others kept.\n"+
		"The pixel and the kind cannot change: create another destination.\n"+
		"  pixelctl destination update ID -events Purchase,EngagedVisit -min-value 10\n"+
		"  pixelctl destination update ID -credentials-stdin <<< '{\"access_token\": \"...\"}'", "table", "json")
	var f destFlags
	f.define(c.fs)
	id, err := c.parseID(args, "destination id")
	if err != nil {
		return err
	}
	creds, err := f.credentials()
	if err != nil {
		return err
	}
	s, done, err := c.store(ctx, false)
	if err != nil {
		return err
	}
	defer done()
	d, err := s.Update(ctx, id, func(d *destination.Destination) error {
		if err := f.apply(c.fs, d); err != nil {
			return err
		}
		return d.Credentials.Merge(creds)
	})
	if err != nil {
		return err
	}
	if c.format != "json" {
		fmt.Fprintf(out, "Updated destination %s (the forwarder takes it up at its next refresh).\n\n", d.ID)
	}
	return printDestination(out, c.format, d)
}

func printDestination(out io.Writer, format string, d *destination.Destination) error {
	if format == "json" {
		return writeJSON(out, d.Record())
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	rows := [][2]string{{"id", d.ID}, {"pixel", d.PixelID}, {"name", d.Name}, {"kind", d.Kind}, {"status", d.Status},
		{"events", events(d)}, {"min value", strconv.FormatFloat(d.MinValue, 'f', -1, 64)}}
	orDefault := func(v, def string) string {
		if v == "" {
			return "(default: " + def + ")"
		}
		return v
	}
	switch d.Kind {
	case destination.KindMeta:
		rows = append(rows, [][2]string{{"dataset", d.Meta.DatasetID}, {"base URL", orDefault(d.Meta.BaseURL, metacapi.DefaultBaseURL)},
			{"API version", orDefault(d.Meta.Version, metacapi.DefaultVersion)}, {"test event code", orDefault(d.Meta.TestEventCode, "none")},
			{"limited data use", strconv.FormatBool(d.Meta.LimitedDataUse)}}...)
	case destination.KindGoogle:
		rows = append(rows, [][2]string{{"customer", d.Google.CustomerID}, {"conversion action", d.Google.ConversionActionID},
			{"conversion name", d.Google.ConversionName}, {"login customer", orDefault(d.Google.LoginCustomerID, "none")},
			{"base URL", orDefault(d.Google.BaseURL, googleads.DefaultBaseURL)}, {"API version", orDefault(d.Google.Version, googleads.DefaultVersion)},
			{"token URL", orDefault(d.Google.TokenURL, "https://oauth2.googleapis.com/token")}}...)
	case destination.KindWebhook:
		rows = append(rows, [2]string{"URL", d.Webhook.URL})
	}
	rows = append(rows, [][2]string{{"credentials set", credentialsSet(d)},
		{"created", d.CreatedAt.Format(timeFormat)}, {"updated", d.UpdatedAt.Format(timeFormat)}}...)
	for _, kv := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

// events is the events column: the names, or that the defaults apply.
func events(d *destination.Destination) string {
	if len(d.Events) == 0 {
		return "(default)"
	}
	return strings.Join(d.Events, ",")
}

// credentialsSet names the credentials that are set, and the ones the
// kind takes that are missing.
func credentialsSet(d *destination.Destination) string {
	set := d.Credentials.Set()
	var missing []string
	for _, n := range destination.CredentialNames(d.Kind) {
		if !slices.Contains(set, n) {
			missing = append(missing, n)
		}
	}
	s := strings.Join(set, ",")
	if s == "" {
		s = "(none)"
	}
	if len(missing) > 0 {
		s += " (missing: " + strings.Join(missing, ",") + ")"
	}
	return s
}

// target is where the destination sends, in one short text.
func target(d *destination.Destination) string {
	switch d.Kind {
	case destination.KindMeta:
		return "dataset " + d.Meta.DatasetID
	case destination.KindGoogle:
		return "customer " + d.Google.CustomerID + " action " + d.Google.ConversionActionID
	case destination.KindWebhook:
		return d.Webhook.URL
	}
	return ""
}
