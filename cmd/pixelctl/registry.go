package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

const pixelUsage = `Usage: pixelctl pixel <command> [flags] [ID]

Commands:
  create          register a pixel; prints its id, its server secret (once) and the snippets
  list            every pixel
  show ID         one pixel
  update ID       change a pixel's name, domains, time zone or settings (only the flags given)
  disable ID      stop recording a pixel's hits (they are still answered)
  enable ID       record them again
  rotate-secret ID  a new server-API secret (printed once); the old one stops working
  snippet ID      the snippets to paste into a site

Run "pixelctl pixel <command> -help" for its flags.
`

// cmdFlags are the flags every registry and privacy command shares.
type cmdFlags struct {
	name      string
	fs        *flagenv.Set
	o         chstore.Options
	format    string
	collector string
}

// newCmd is a registry command's flags: ClickHouse, -format table|json,
// and -collector-url when the command prints snippets or links.
func newCmd(name, desc string, collector bool) *cmdFlags {
	c := newFormatCmd(name, desc, "table", "json")
	if collector {
		c.fs.String(&c.collector, "collector-url", "PIXEL_COLLECTOR_URL", "", "the collector's public `URL` in snippets and links, https:// for https:// sites (empty: make run's collector while it runs here, else "+placeholderCollector+")")
	}
	return c
}

// placeholderCollector stands in for the collector's URL when none is known.
const placeholderCollector = "https://collector.example"

// parseID parses flags and one positional argument (an id, a URL), which
// may come before the flags, after them or between them. what names it in messages; ""
// when the command takes none.
func (c *cmdFlags) parseID(args []string, what string) (string, error) {
	var arg string
	if what != "" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := parse(c.fs, args); err != nil {
		return "", err
	}
	rest := c.fs.Args()
	if arg == "" && what != "" && len(rest) > 0 {
		arg, rest = rest[0], rest[1:]
		if len(rest) > 0 { // flags after the argument too
			if err := parse(c.fs, rest); err != nil {
				return "", err
			}
			rest = c.fs.Args()
		}
	}
	if len(rest) > 0 {
		return "", usageError{fmt.Errorf("%s: unexpected %q (flags go before it or after it)", c.name, rest[0])}
	}
	if what != "" && arg == "" {
		return "", usageError{fmt.Errorf("%s: name the %s", c.name, what)}
	}
	return arg, nil
}

// connect opens ClickHouse, saying where the address came from on failure.
func (c *cmdFlags) connect(ctx context.Context) (chstore.Conn, error) { return connect(ctx, c.fs, c.o) }

// collectorURL is -collector-url, else the collector of the make run that
// runs in this directory, else the placeholder (with a warning).
func (c *cmdFlags) collectorURL(stderr io.Writer) string {
	if c.collector != "" {
		return c.collector
	}
	if addr := rundir.Env(rundir.Default)["COLLECTOR_ADDR"]; addr != "" {
		if strings.HasPrefix(addr, ":") {
			addr = "127.0.0.1" + addr
		}
		u := "http://" + addr
		fmt.Fprintf(stderr, "using collector URL %s (from %s)\n", u, rundir.From)
		return u
	}
	fmt.Fprintf(stderr, "the snippets use %s: give -collector-url (or $PIXEL_COLLECTOR_URL) with your collector's public URL\n", placeholderCollector)
	return placeholderCollector
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // snippets are HTML: print them as they are pasted
	return enc.Encode(v)
}

// pixelSettingFlags are create's and update's flags for what a pixel is.
type pixelSettingFlags struct {
	name, timeZone, id string
	domains            []string
	settings           pixel.Settings
}

func (f *pixelSettingFlags) define(fs *flagenv.Set, create bool) {
	f.settings = pixel.DefaultSettings()
	s := &f.settings
	fs.String(&f.name, "name", "PIXELCTL_NAME", "", "the pixel's `name`, for people")
	fs.Strings(&f.domains, "domains", "PIXELCTL_DOMAINS", "site `hosts` allowed to send hits, comma-separated: shop.example,*.shop.example (its subdomains),127.0.0.1; no ports (empty: every site)")
	fs.String(&f.timeZone, "time-zone", "PIXELCTL_TIME_ZONE", "UTC", "IANA `zone` of the pixel's report days, e.g. Europe/Berlin")
	fs.Int(&s.EngagementSeconds, "engagement-seconds", "PIXELCTL_ENGAGEMENT_SECONDS", s.EngagementSeconds, "engaged `seconds` on one page view at which the tag fires the Engaged goal once")
	fs.Func("consent", "PIXELCTL_CONSENT", s.Consent.String(), "consent `mode`: granted (cookies from the first hit) or required (cookieless until pixel('consent','grant'))", func(v string) (err error) {
		s.Consent, err = pixel.ParseConsentMode(v)
		return err
	})
	fs.Func("ip", "PIXELCTL_IP", s.IP.String(), "what is kept of the client IP (`mode`): keep, truncate (/24 IPv4, /48 IPv6) or drop", func(v string) (err error) {
		s.IP, err = pixel.ParseIPMode(v)
		return err
	})
	fs.Func("gpc", "PIXELCTL_GPC", s.GPC.String(), "a hit with Sec-GPC: 1 (`mode`): drop (answered, not recorded) or flag (recorded with gpc=1)", func(v string) (err error) {
		s.GPC, err = pixel.ParseSignalMode(v)
		return err
	})
	fs.Func("dnt", "PIXELCTL_DNT", s.DNT.String(), "a hit with DNT: 1 (`mode`): drop or flag", func(v string) (err error) {
		s.DNT, err = pixel.ParseSignalMode(v)
		return err
	})
	if create {
		fs.String(&f.id, "id", "PIXELCTL_ID", "", "the pixel's `id` (1 to 64 of A-Z a-z 0-9 _ -; not track, page, identify, batch) (empty: 16 random characters)")
	}
}

// apply sets the flags that were given (on the command line or in their
// variable) on p.
func (f *pixelSettingFlags) apply(fs *flagenv.Set, p *registry.Pixel) {
	given := func(name string) bool { return fs.Source(name).Kind > flagenv.Default }
	if given("name") {
		p.Name = f.name
	}
	if given("domains") {
		p.Domains = f.domains
	}
	if given("time-zone") {
		p.TimeZone = f.timeZone
	}
	if given("engagement-seconds") {
		p.Settings.EngagementSeconds = f.settings.EngagementSeconds
	}
	if given("consent") {
		p.Settings.Consent = f.settings.Consent
	}
	if given("ip") {
		p.Settings.IP = f.settings.IP
	}
	if given("gpc") {
		p.Settings.GPC = f.settings.GPC
	}
	if given("dnt") {
		p.Settings.DNT = f.settings.DNT
	}
}

func pixelCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("pixel: name a command (pixelctl pixel -help lists them)")}
	}
	switch args[0] {
	case "create":
		return pixelCreate(ctx, args[1:], out)
	case "list":
		return pixelList(ctx, args[1:], out)
	case "show", "disable", "enable":
		return pixelChange(ctx, args[0], args[1:], out)
	case "update":
		return pixelUpdate(ctx, args[1:], out)
	case "rotate-secret":
		return pixelRotate(ctx, args[1:], out)
	case "snippet":
		return pixelSnippet(ctx, args[1:], out)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, pixelUsage)
		return nil
	}
	return usageError{fmt.Errorf("pixel: unknown command %q (pixelctl pixel -help lists them)", args[0])}
}

func pixelCreate(ctx context.Context, args []string, out io.Writer) error {
	c := newCmd("pixelctl pixel create", "Register a pixel and print its id, its server-API secret (only this once: store it)\nand the snippets to paste:\n  pixelctl pixel create -name Shop -domains shop.example,*.shop.example", true)
	var f pixelSettingFlags
	f.define(c.fs, true)
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	if f.name == "" {
		return flagError{errors.New("pixel create: -name is required (the pixel's name, for people)")}
	}
	collector, err := c.checkedCollectorURL()
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, secret, err := registry.NewStore(conn).Create(ctx, registry.New{ID: f.id, Name: f.name, Domains: f.domains, TimeZone: f.timeZone, Settings: f.settings})
	if err != nil {
		return err
	}
	sn := p.Snippets(collector)
	if c.format == "json" {
		return writeJSON(out, struct {
			Pixel    registry.Record   `json:"pixel"`
			Secret   string            `json:"secret"`
			Snippets registry.Snippets `json:"snippets"`
		}{p.Public(), secret, sn})
	}
	fmt.Fprintf(out, "Created pixel %s.\n\n", p.ID)
	if err := showPixel(out, p); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nServer-API secret (POST /v1/%s/events, Authorization: Bearer ...):\n\n  %s\n\n"+
		"Store it now: it is shown only this once (the registry keeps its SHA-256).\n"+
		"Lost or leaked: pixelctl pixel rotate-secret %s gives a new one.\n\n", p.ID, secret, p.ID)
	writeSnippets(out, sn)
	return nil
}

// checkedCollectorURL is collectorURL, refused when it is not an http(s) URL.
func (c *cmdFlags) checkedCollectorURL() (string, error) {
	u := c.collectorURL(os.Stderr)
	if _, err := registry.SignLink(&registry.Pixel{LinkKey: strings.Repeat("00", 32)}, u, "https://check.example/"); err != nil {
		return "", flagError{fmt.Errorf("-collector-url: %w", err)}
	}
	return strings.TrimRight(u, "/"), nil
}

func writeSnippets(out io.Writer, sn registry.Snippets) {
	fmt.Fprintf(out, "JS tag: paste into every page, in <head> (the <noscript> image counts visitors without JavaScript):\n\n%s\n\n", sn.JS)
	fmt.Fprintf(out, "<noscript> image alone:\n\n%s\n\n", sn.NoScript)
	fmt.Fprintf(out, "Image URL, where only an image URL can go:\n\n%s\n\n  %s\n\n", sn.ImageURL, sn.ImageURLNote)
	fmt.Fprintf(out, "Server events from your backend ($PIXEL_SECRET: the pixel's server-API secret):\n\n%s\n", sn.Server)
}

// showPixel writes one pixel for people.
func showPixel(out io.Writer, p *registry.Pixel) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	domains := strings.Join(p.Domains, ", ")
	if domains == "" {
		domains = "(any site)"
	}
	for _, kv := range [][2]string{
		{"id", p.ID}, {"name", p.Name}, {"status", p.Status}, {"domains", domains}, {"time zone", p.TimeZone},
		{"engagement goal", fmt.Sprintf("%d s", p.Settings.EngagementSeconds)}, {"consent", p.Settings.Consent.String()},
		{"ip", p.Settings.IP.String()}, {"gpc", p.Settings.GPC.String()}, {"dnt", p.Settings.DNT.String()},
		{"created", p.CreatedAt.Format("2006-01-02 15:04:05 MST")}, {"updated", p.UpdatedAt.Format("2006-01-02 15:04:05 MST")},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

func pixelList(ctx context.Context, args []string, out io.Writer) error {
	c := newCmd("pixelctl pixel list", "List every pixel, disabled ones too.", false)
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ps, err := registry.NewStore(conn).List(ctx)
	if err != nil {
		return err
	}
	if c.format == "json" {
		rs := make([]registry.Record, len(ps))
		for i, p := range ps {
			rs[i] = p.Public()
		}
		return writeJSON(out, rs)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tDOMAINS\tCONSENT\tIP\tGOAL\tTIME ZONE")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%ds\t%s\n", p.ID, p.Name, p.Status, strings.Join(p.Domains, ","),
			p.Settings.Consent, p.Settings.IP, p.Settings.EngagementSeconds, p.TimeZone)
	}
	return tw.Flush()
}

// pixelChange runs show, disable and enable.
func pixelChange(ctx context.Context, verb string, args []string, out io.Writer) error {
	desc := map[string]string{
		"show":    "Show one pixel.",
		"disable": "Disable a pixel: its hits are still answered (the GIF, 204), counted as disabled_pixel, and not\nrecorded, from the collectors' next registry refresh on.",
		"enable":  "Enable a disabled pixel again.",
	}[verb]
	c := newCmd("pixelctl pixel "+verb, desc+"\n  pixelctl pixel "+verb+" ID", false)
	id, err := c.parseID(args, "pixel id")
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	s := registry.NewStore(conn)
	var p *registry.Pixel
	switch verb {
	case "show":
		p, err = s.Get(ctx, id)
	case "disable":
		p, err = s.Disable(ctx, id)
	case "enable":
		p, err = s.Enable(ctx, id)
	}
	if err != nil {
		return err
	}
	if verb != "show" && c.format != "json" {
		fmt.Fprintf(out, "Pixel %s is %s now (the collectors take it up at their next registry refresh).\n\n", p.ID, map[string]string{"disable": "disabled", "enable": "enabled"}[verb])
	}
	return printPixel(out, c.format, p)
}

func printPixel(out io.Writer, format string, p *registry.Pixel) error {
	if format == "json" {
		return writeJSON(out, p.Public())
	}
	return showPixel(out, p)
}

func pixelUpdate(ctx context.Context, args []string, out io.Writer) error {
	c := newCmd("pixelctl pixel update", "Change a pixel: only the flags given change (a flag's variable counts as given).\n  pixelctl pixel update ID -domains shop.example,*.shop.example -consent required", false)
	var f pixelSettingFlags
	f.define(c.fs, false)
	id, err := c.parseID(args, "pixel id")
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, err := registry.NewStore(conn).Update(ctx, id, func(p *registry.Pixel) error {
		f.apply(c.fs, p)
		return nil
	})
	if err != nil {
		return err
	}
	if c.format != "json" {
		fmt.Fprintf(out, "Updated pixel %s (the collectors take it up at their next registry refresh).\n\n", p.ID)
	}
	return printPixel(out, c.format, p)
}

func pixelRotate(ctx context.Context, args []string, out io.Writer) error {
	c := newCmd("pixelctl pixel rotate-secret", "Give a pixel a new server-API secret and print it (only this once). The old secret stops\nworking at the collectors' next registry refresh; signed links stay valid.\n  pixelctl pixel rotate-secret ID", false)
	id, err := c.parseID(args, "pixel id")
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, secret, err := registry.NewStore(conn).RotateSecret(ctx, id)
	if err != nil {
		return err
	}
	if c.format == "json" {
		return writeJSON(out, struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}{p.ID, secret})
	}
	fmt.Fprintf(out, "New server-API secret of pixel %s:\n\n  %s\n\nStore it now: it is shown only this once. The old secret stops working at the collectors' next refresh.\n", p.ID, secret)
	return nil
}

func pixelSnippet(ctx context.Context, args []string, out io.Writer) error {
	c := newCmd("pixelctl pixel snippet", "Print a pixel's snippets: the JS tag (with its <noscript> image), the image alone, and\na plain image URL.\n  pixelctl pixel snippet ID", true)
	id, err := c.parseID(args, "pixel id")
	if err != nil {
		return err
	}
	collector, err := c.checkedCollectorURL()
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, err := registry.NewStore(conn).Get(ctx, id)
	if err != nil {
		return err
	}
	sn := p.Snippets(collector)
	if c.format == "json" {
		return writeJSON(out, sn)
	}
	if !p.Active() {
		fmt.Fprintf(out, "Pixel %s is disabled: its hits are not recorded (pixelctl pixel enable %s).\n\n", p.ID, p.ID)
	}
	writeSnippets(out, sn)
	return nil
}

func linkCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "sign" {
		if len(args) > 0 && (args[0] == "-help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprint(out, "Usage: pixelctl link sign -pixel ID URL\n")
			return nil
		}
		return usageError{errors.New("link: the command is link sign -pixel ID URL")}
	}
	c := newCmd("pixelctl link sign", "Print a click link that records a Click on the collector and redirects to URL (GET /r):\n  pixelctl link sign -pixel ID https://shop.example/sale?utm_source=news\nThe destination is signed with the pixel's link key, so the collector redirects to it and\nto nothing else.", true)
	var id string
	c.fs.String(&id, "pixel", "PIXELCTL_PIXEL", "", "the pixel `id`")
	dest, err := c.parseID(args[1:], "destination URL")
	if err != nil {
		return err
	}
	if id == "" {
		return flagError{errors.New("link sign: -pixel is required")}
	}
	collector, err := c.checkedCollectorURL()
	if err != nil {
		return err
	}
	if err := registry.ValidDestination(dest); err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, err := registry.NewStore(conn).Get(ctx, id)
	if err != nil {
		return err
	}
	link, err := registry.SignLink(p, collector, dest)
	if err != nil {
		return err
	}
	if c.format == "json" {
		return writeJSON(out, struct {
			Link        string `json:"link"`
			Destination string `json:"destination"`
		}{link, dest})
	}
	fmt.Fprintln(out, link)
	return nil
}
