// Command devstack is `make run`: the whole pipeline on one machine. It starts
// a private ClickHouse server (or uses CLICKHOUSE_ADDR), the embedded Kafka
// broker (or uses KAFKA_BROKERS), applies the migrations, creates the
// console's first admin, starts the consumer, the collector and the web
// console, serves a small demo site that embeds the pixel, prints where to
// look and how to sign in, starts again with backoff any of its servers that exits, and
// on Ctrl-C stops everything in reverse order, flushing.
package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/logging"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

type config struct {
	cluster  bool // make run-cluster: the scaled-out shape
	stack    devstack.StackConfig
	restart  devstack.Backoff
	demoAddr string
	log      logging.Options
}

// newConfig returns devstack's settings at their defaults and the flags that
// change them.
func newConfig() (*config, *flagenv.Set) {
	c := &config{stack: devstack.DefaultStackConfig(), restart: devstack.DefaultBackoff(), demoAddr: "127.0.0.1:8090", log: logging.DefaultOptions()}
	c.log.Format = "console" // a terminal is reading
	st, b := &c.stack, &c.restart
	fs := flagenv.New("devstack", "The whole pixel pipeline on this machine (make run). A server that exits is started again; Ctrl-C stops it cleanly.\n"+
		"The servers it starts inherit its -log-level and -log-format. While it runs, -dir holds LOCK (its pid)\n"+
		"and stack.env (its addresses), which pixelctl, the consumer and the collector run from this directory read.")
	fs.String(&st.Dir, "dir", "DEVSTACK_DIR", st.Dir, "directory for the private ClickHouse, the broker's data, logs, LOCK and stack.env")
	fs.String(&st.BinDir, "bin-dir", "DEVSTACK_BIN_DIR", "", "directory holding collector, consumer, console, forwarder, devbroker and pixelctl (empty: devstack's own directory)")
	fs.String(&st.CollectorAddr, "collector-addr", "COLLECTOR_ADDR", st.CollectorAddr, "the collector's public address (the pixel)")
	fs.String(&st.CollectorAdminAddr, "collector-admin-addr", "COLLECTOR_ADMIN_ADDR", st.CollectorAdminAddr, "the collector's admin address (metrics)")
	fs.String(&st.ConsumerAdminAddr, "consumer-admin-addr", "CONSUMER_ADMIN_ADDR", st.ConsumerAdminAddr, "the consumer's admin address (metrics)")
	fs.String(&st.ConsoleAddr, "console-addr", "CONSOLE_ADDR", st.ConsoleAddr, "the web console's address (empty: no console)")
	fs.String(&st.ConsoleAdminAddr, "console-admin-addr", "CONSOLE_ADMIN_ADDR", st.ConsoleAdminAddr, "the web console's admin address (metrics)")
	fs.String(&st.ForwarderAdminAddr, "forwarder-admin-addr", "FORWARDER_ADMIN_ADDR", st.ForwarderAdminAddr, "the forwarder's admin address (metrics; empty: no forwarder)")
	fs.String(&st.ClickHouseAddr, "clickhouse-addr", "CLICKHOUSE_ADDR", "", "use this ClickHouse (native protocol) instead of starting a private one (empty: the private server)")
	fs.Int(&st.ClickHouseTCPPort, "clickhouse-port", "DEVSTACK_CLICKHOUSE_PORT", st.ClickHouseTCPPort, "native port of the private ClickHouse")
	fs.Int(&st.ClickHouseHTTPPort, "clickhouse-http-port", "DEVSTACK_CLICKHOUSE_HTTP_PORT", st.ClickHouseHTTPPort, "HTTP port of the private ClickHouse")
	fs.String(&st.KafkaBrokers, "kafka-brokers", "KAFKA_BROKERS", "", "use this Kafka (comma-separated) instead of starting the embedded broker; the topic must exist (empty: the embedded broker)")
	fs.String(&st.BrokerAddr, "broker-addr", "DEVBROKER_ADDR", st.BrokerAddr, "address of the embedded broker")
	fs.String(&st.Topic, "kafka-topic", "KAFKA_TOPIC", st.Topic, "Kafka topic of the events")
	fs.Int(&st.Partitions, "partitions", "DEVBROKER_PARTITIONS", st.Partitions, "partitions of the embedded broker's topics")
	fs.Bool(&c.cluster, "cluster", "DEVSTACK_CLUSTER", false, "the scaled-out shape instead (make run-cluster): 3 Apache Kafka brokers, ClickHouse 2 shards x 2 replicas with ZooKeeper, 2 collectors behind a balancer on -collector-addr, 2 consumers; its servers' data under -dir/cluster/")
	fs.String(&c.demoAddr, "demo-addr", "DEVSTACK_DEMO_ADDR", c.demoAddr, "address of the demo shop page that embeds the pixel (empty: none)")
	fs.String(&st.Registry, "registry", "DEVSTACK_REGISTRY", st.Registry, "the collector's -registry: clickhouse (hits of unregistered pixels are not recorded) or off (every pixel id records: load tests with made-up ids)")
	fs.Duration(&b.Min, "restart-backoff", "DEVSTACK_RESTART_BACKOFF", b.Min, "wait before starting again a server that exited; it doubles with each exit in a row")
	fs.Duration(&b.Max, "restart-backoff-max", "DEVSTACK_RESTART_BACKOFF_MAX", b.Max, "longest wait before starting a server again")
	fs.Duration(&b.Reset, "restart-reset", "DEVSTACK_RESTART_RESET", b.Reset, "a server that ran this long waits -restart-backoff again when it next exits")
	fs.Logging(&c.log.Level, &c.log.Format)
	fs.Check(func() error {
		if st.Registry != "clickhouse" && st.Registry != "off" {
			return fmt.Errorf("unknown -registry %q; use clickhouse or off", st.Registry)
		}
		if err := b.Validate(); err != nil {
			return fmt.Errorf("%w; check -restart-backoff, -restart-backoff-max and -restart-reset", err)
		}
		if st.BinDir != "" {
			return nil
		}
		var err error
		st.BinDir, err = devstack.BinDir()
		return err
	})
	return c, fs
}

func main() {
	c, fs := newConfig()
	fs.ParseOrExit(os.Args[1:])
	log, err := c.log.Stderr("devstack")
	fs.RunOrExit(err)
	fs.RunOrExit(run(c, log))
}

// demoPixelID is the pixel make run registers for its demo shop.
const demoPixelID = "demo"

// demo is what make run knows of its demo pixel once registered.
type demo struct {
	pixel  *registry.Pixel
	secret string // only when it was created by this run
}

// afterMigrate is what make run writes into the fresh (or kept) database
// before the servers start: the demo pixel, so that the collector's first
// registry load has it, and the console's first admin.
// ClickHouse is at addrs; dir is -dir; without a console there is no admin.
func afterMigrate(ctx context.Context, addrs []string, dir string, console bool, d *demo, a *firstAdmin) error {
	o := chstore.DefaultOptions()
	o.Addr = addrs
	conn, err := chstore.Open(ctx, o)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := registerDemo(ctx, conn, d); err != nil {
		return err
	}
	if !console {
		return nil
	}
	return ensureAdmin(ctx, conn, filepath.Join(dir, adminPasswordFile), a)
}

// registerDemo registers the demo pixel, for pages on this machine, unless
// it exists (its data lives in -dir across runs).
func registerDemo(ctx context.Context, conn chstore.Conn, d *demo) error {
	store := registry.NewStore(conn)
	p, err := store.Get(ctx, demoPixelID)
	if errors.Is(err, registry.ErrNotFound) {
		p, d.secret, err = store.Create(ctx, registry.New{
			ID: demoPixelID, Name: "make run demo shop", Domains: []string{"127.0.0.1", "localhost"},
			Settings: pixel.DefaultSettings(),
		})
	}
	if err != nil {
		return fmt.Errorf("cannot register the demo pixel: %w", err)
	}
	d.pixel = p
	return nil
}

// The console's first admin, which make run creates when the database has
// no admin, and the file in -dir that keeps its generated password for the
// banners of later runs.
const (
	adminName         = "admin"
	adminPasswordFile = "console-admin-password"
)

// firstAdmin is what the banner says about signing in to the console.
type firstAdmin struct {
	name     string // who to sign in as; "" with no console
	password string // the password, when make run knows it
	file     string // where the password is kept
	problem  string // why the password is not shown, and how to set one
}

// ensureAdmin creates the user admin with a generated password when the
// database has no admin yet, and keeps the password in file (0600, like an
// SSH key: only this account reads it). On later runs it reads the file
// back, and checks that the password still works.
func ensureAdmin(ctx context.Context, conn chstore.Conn, file string, a *firstAdmin) error {
	store := users.NewStore(conn)
	all, err := store.List(ctx)
	if err != nil {
		return fmt.Errorf("cannot list the console's users: %w", err)
	}
	var admins []string
	hasAdmin := false
	for _, u := range all {
		if u.Name == adminName {
			hasAdmin = true
		}
		if u.IsAdmin() {
			admins = append(admins, u.Name)
		}
	}
	a.name, a.file = adminName, file
	switch {
	case !hasAdmin && len(admins) > 0:
		// Someone made their own (pixelctl user create): no second one.
		a.name = strings.Join(admins, " or ")
		a.problem = "with the password given to pixelctl user create"
		return nil
	case !hasAdmin:
		pw := users.GeneratePassword()
		// The file first: a password that is not kept is not created.
		if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
			return fmt.Errorf("cannot keep the console admin's password: %w", err)
		}
		if _, err := store.Create(ctx, adminName, users.RoleAdmin, pw); err != nil {
			_ = os.Remove(file)
			return fmt.Errorf("cannot create the console's first admin: %w", err)
		}
		a.password = pw
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		a.problem = fmt.Sprintf("(its password is no longer in %s; set a new one with: pixelctl user password %s)", file, adminName)
		return nil
	}
	pw := strings.TrimSpace(string(b))
	if _, err := store.Authenticate(ctx, adminName, pw); err != nil {
		a.problem = fmt.Sprintf("(the password in %s no longer works: changed or disabled since; set a new one with: pixelctl user password %s)", file, adminName)
		return nil
	}
	a.password = pw
	return nil
}

// run is make run's story: the stack under a supervisor, the demo pixel and
// its shop, the banner; then Ctrl-C; then everything stopped in reverse order.
func run(c *config, log zerolog.Logger) error {
	// The children inherit both: one format in the terminal.
	os.Setenv("LOG_LEVEL", c.log.Level)
	os.Setenv("LOG_FORMAT", c.log.Format)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var d demo
	var a firstAdmin
	if c.cluster {
		return runCluster(ctx, c, &d, &a)
	}
	c.stack.AfterMigrate = func(ctx context.Context, s *devstack.Stack) error {
		return afterMigrate(ctx, []string{s.ClickHouseAddr()}, s.Cfg.Dir, s.Cfg.ConsoleAddr != "", &d, &a)
	}
	s := &devstack.Stack{Cfg: c.stack}
	start := time.Now()
	if err := s.StartSupervised(ctx, devstack.NewSupervisor(c.restart, log)); err != nil {
		return err
	}
	if c.demoAddr != "" {
		if err := serveDemo(c.demoAddr, d.pixel.Snippets("http://"+c.stack.CollectorAddr)); err != nil {
			_ = s.Stop()
			return err
		}
	}
	printBanner(s, c.demoAddr, d, a, c.restart, time.Since(start))

	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\ndevstack: stopping console, collector, forwarder, consumer, broker and ClickHouse (flushing what is in flight)...")
	t := time.Now()
	err := s.Stop()
	fmt.Fprintf(os.Stderr, "devstack: stopped in %s\n", time.Since(t).Round(time.Millisecond))
	return err
}

func printBanner(s *devstack.Stack, demoAddr string, d demo, a firstAdmin, restart devstack.Backoff, took time.Duration) {
	collectorURL := "http://" + s.Cfg.CollectorAddr
	chClient := "clickhouse-client --host 127.0.0.1 --port " + portOf(s.ClickHouseAddr())
	pixelctl := filepath.Join(s.Cfg.BinDir, "pixelctl")
	if s.Cfg.Dir == rundir.Default {
		pixelctl = relative(pixelctl)
	}
	fmt.Printf(`
pixel is running (started in %s)
%s
  Pixel          %s/p.gif?id=%s&ev=PageView   (pixel "%s", registered for pages on 127.0.0.1 and localhost)
  Your pixel     %s%s pixel create -name "My shop" -domains shop.example,*.shop.example   (prints its snippet)
`, took.Round(time.Millisecond), consoleLine(s.ConsoleURL(), s.Cfg.Dir, a, pixelctl), collectorURL, demoPixelID, demoPixelID, yourPixelVia(s), pixelctl)
	if demoAddr != "" {
		fmt.Printf("  Open this      http://%s/   (a demo shop that pastes the JS tag: page views, products, cart, purchase, engaged time)\n", demoAddr)
	}
	if d.secret != "" {
		fmt.Printf("  Server events  curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"events\":[{\"event\":\"Purchase\",\"value\":19.9,\"currency\":\"EUR\"}]}' %s/v1/%s/events\n",
			d.secret, collectorURL, demoPixelID)
		fmt.Printf("                 (the demo pixel's secret, shown this once; %s pixel rotate-secret %s makes a new one)\n", pixelctl, demoPixelID)
	}
	fmt.Printf(`  Rows arriving  %s --query "SELECT event, count() FROM pixel.events GROUP BY event"
  Metrics        http://%s/metrics (collector)   http://%s/metrics (consumer)%s
  Kafka          %s, topic %s (kcat -b %s -t %s -C)
`, chClient, s.Cfg.CollectorAdminAddr, s.Cfg.ConsumerAdminAddr, consoleMetrics(s)+forwarderMetrics(s), s.Brokers(), s.Cfg.Topic, s.Brokers(), s.Cfg.Topic)
	if s.Cfg.ForwarderAdminAddr != "" {
		fmt.Printf("  Ad platforms   a pixel's Destinations page in the console, or %s destination create -pixel ID -kind meta|google|webhook ...   (the forwarder sends within seconds)\n", pixelctl)
	}
	envFile := filepath.Join(s.Cfg.Dir, "stack.env")
	if s.Cfg.Dir == rundir.Default {
		fmt.Printf("  Reports        %s report conversions -pixel demo -last 1d   (from here: it reads %s; %s report -list shows them all)\n", pixelctl, envFile, pixelctl)
	}
	fmt.Printf("  Other shells   export CLICKHOUSE_ADDR=%s KAFKA_BROKERS=%s KAFKA_TOPIC=%s   (or: set -a; . %s; set +a)\n",
		s.ClickHouseAddr(), s.Brokers(), s.Cfg.Topic, envFile)
	fmt.Printf("\nA server that exits is started again (after %s, doubling to %s). Ctrl-C stops everything cleanly.\n", restart.Min, restart.Max)
}

// yourPixelVia names the console's New pixel before pixelctl, when the
// stack has a console.
func yourPixelVia(s *devstack.Stack) string {
	if s.ConsoleURL() == "" {
		return ""
	}
	return "New pixel in the console, or "
}

// consoleMetrics is the console's metrics URL for the banner ("" without).
func consoleMetrics(s *devstack.Stack) string {
	if s.ConsoleURL() == "" {
		return ""
	}
	return "   http://" + s.Cfg.ConsoleAdminAddr + "/metrics (console)"
}

// forwarderMetrics is the forwarder's metrics URL for the banner ("" without).
func forwarderMetrics(s *devstack.Stack) string {
	if s.Cfg.ForwarderAdminAddr == "" {
		return ""
	}
	return "   http://" + s.Cfg.ForwarderAdminAddr + "/metrics (forwarder)"
}

// consoleLine is the banner's first line: where the console at consoleURL
// is and how to sign in ("" without a console); dir is -dir.
func consoleLine(consoleURL, dir string, a firstAdmin, pixelctl string) string {
	if consoleURL == "" {
		return ""
	}
	file := a.file
	if dir == rundir.Default {
		file = relative(file)
	}
	line := "\n  Console        " + consoleURL + "/   sign in as " + a.name
	switch {
	case a.password != "":
		return line + " with password " + a.password + "   (kept in " + file + ")"
	default:
		return line + " " + strings.ReplaceAll(a.problem, "pixelctl ", pixelctl+" ")
	}
}

// relative returns path relative to the working directory when it is below
// it ("bin/pixelctl"), else path.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "9000"
	}
	return p
}

// The demo shop's products.
var demoProducts = []struct{ ID, Name, Price string }{
	{"sku-1", "Stoneware mug", "19.90"},
	{"sku-2", "Linen tea towel", "12.50"},
	{"sku-3", "Oak coaster set", "24.00"},
}

// serveDemo serves a small shop on its own origin that pastes the demo
// pixel's snippet into every page, the way a customer's site would: the
// home page, a page per product (ViewContent), the cart (AddToCart) and the
// thank-you page (Purchase, with an identify from the checkout's email).
func serveDemo(addr string, snip registry.Snippets) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on demo address %s: %w; set DEVSTACK_DEMO_ADDR", addr, err)
	}
	page := template.Must(template.New("demo").Parse(demoPage))
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		data := map[string]any{"Snippet": template.HTML(snip.JS), "Products": demoProducts, "Path": r.URL.Path}
		switch {
		case r.URL.Path == "/":
		case strings.HasPrefix(r.URL.Path, "/product/"):
			for _, p := range demoProducts {
				if "/product/"+p.ID == r.URL.Path {
					data["Product"] = p
				}
			}
			if data["Product"] == nil {
				http.NotFound(w, r)
				return
			}
		case r.URL.Path == "/thanks":
			data["Order"] = fmt.Sprintf("demo-%d", time.Now().UnixNano())
			data["Email"] = r.URL.Query().Get("email")
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, data)
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	return nil
}

const demoPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pixel demo shop</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}button{margin:.3em}</style>
{{.Snippet}}
</head>
<body>
<h1><a href="/">Demo shop</a></h1>
<p>Every page pastes the demo pixel's snippet (<code>pixelctl pixel snippet demo</code>). The tag sends a
<b>PageView</b>, measures engaged time (visible and active) and sends <b>Engaged</b> after 60 seconds;
the product pages send <b>ViewContent</b>, the button <b>AddToCart</b>, the thank-you page <b>Purchase</b>.
Try it with <a href="/?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=demo&amp;gclid=demo-click-1">a campaign link</a>.</p>
{{if .Product}}
<h2>{{.Product.Name}}</h2><p>{{.Product.Price}} EUR</p>
<script>pixel('track', 'ViewContent', {content_ids: ['{{.Product.ID}}'], value: '{{.Product.Price}}', currency: 'EUR', content_type: 'product'});</script>
<form action="/thanks"><input type="hidden" name="sku" value="{{.Product.ID}}">
<button type="button" id="add">Add to cart</button>
<label>Email <input name="email" type="email" value="buyer@example.com"></label> <button>Buy now</button></form>
<script>document.getElementById('add').onclick = function () {
  pixel('track', 'AddToCart', {content_ids: ['{{.Product.ID}}'], value: '{{.Product.Price}}', currency: 'EUR'});
  this.textContent = 'Added';
};</script>
{{else if .Order}}
<h2>Thank you!</h2><p>Order {{.Order}}.</p>
<script>
{{if .Email}}pixel('identify', {email: '{{.Email}}'});{{end}}
pixel('track', 'Purchase', {value: '19.90', currency: 'EUR', order_id: '{{.Order}}', content_ids: ['sku-1']}, {eventID: '{{.Order}}'});
</script>
{{else}}
<ul>{{range .Products}}<li><a href="/product/{{.ID}}">{{.Name}}</a> {{.Price}} EUR</li>{{end}}</ul>
{{end}}
</body></html>
`
