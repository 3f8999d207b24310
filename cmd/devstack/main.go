// Command devstack is `make run`: the whole pipeline on one machine. It starts
// a private ClickHouse server (or uses CLICKHOUSE_ADDR), the embedded Kafka
// broker (or uses KAFKA_BROKERS), applies the migrations, starts the consumer
// and the collector, serves a small demo site that embeds the pixel, prints
// where to look, starts again with backoff any of its servers that exits, and
// on Ctrl-C stops everything in reverse order, flushing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/logging"
)

func main() {
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

type config struct {
	stack               devstack.StackConfig
	restart             devstack.Backoff
	demoAddr            string
	logLevel, logFormat string
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{stack: devstack.DefaultStackConfig(), restart: devstack.DefaultBackoff()}
	c, b := &cfg.stack, &cfg.restart
	exe, _ := os.Executable()
	fs := flagenv.New("devstack", "The whole pixel pipeline on this machine (make run). A server that exits is started again; Ctrl-C stops it cleanly.")
	fs.String(&c.Dir, "dir", "DEVSTACK_DIR", c.Dir, "directory for the private ClickHouse, the broker's data and logs")
	fs.String(&c.BinDir, "bin-dir", "DEVSTACK_BIN_DIR", filepath.Dir(exe), "directory holding collector, consumer, devbroker and pixelctl")
	fs.String(&c.CollectorAddr, "collector-addr", "COLLECTOR_ADDR", c.CollectorAddr, "the collector's public address (the pixel)")
	fs.String(&c.CollectorAdminAddr, "collector-admin-addr", "COLLECTOR_ADMIN_ADDR", c.CollectorAdminAddr, "the collector's admin address")
	fs.String(&c.ConsumerAdminAddr, "consumer-admin-addr", "CONSUMER_ADMIN_ADDR", c.ConsumerAdminAddr, "the consumer's admin address")
	fs.String(&c.ClickHouseAddr, "clickhouse-addr", "CLICKHOUSE_ADDR", "", "use this ClickHouse (native protocol) instead of starting a private one")
	fs.Int(&c.ClickHouseTCPPort, "clickhouse-port", "DEVSTACK_CLICKHOUSE_PORT", c.ClickHouseTCPPort, "native port of the private ClickHouse")
	fs.Int(&c.ClickHouseHTTPPort, "clickhouse-http-port", "DEVSTACK_CLICKHOUSE_HTTP_PORT", c.ClickHouseHTTPPort, "HTTP port of the private ClickHouse")
	fs.String(&c.KafkaBrokers, "kafka-brokers", "KAFKA_BROKERS", "", "use this Kafka instead of starting the embedded broker")
	fs.String(&c.BrokerAddr, "broker-addr", "DEVBROKER_ADDR", c.BrokerAddr, "address of the embedded broker")
	fs.String(&c.Topic, "kafka-topic", "KAFKA_TOPIC", c.Topic, "Kafka topic")
	fs.Int(&c.Partitions, "partitions", "DEVBROKER_PARTITIONS", c.Partitions, "partitions of the embedded broker's topics")
	fs.String(&cfg.demoAddr, "demo-addr", "DEVSTACK_DEMO_ADDR", "127.0.0.1:8090", "address of the demo site that embeds the pixel (empty: none)")
	fs.Duration(&b.Min, "restart-backoff", "DEVSTACK_RESTART_BACKOFF", b.Min, "wait before starting again a server that exited; it doubles with each exit in a row")
	fs.Duration(&b.Max, "restart-backoff-max", "DEVSTACK_RESTART_BACKOFF_MAX", b.Max, "longest wait before starting a server again")
	fs.Duration(&b.Reset, "restart-reset", "DEVSTACK_RESTART_RESET", b.Reset, "a server that ran this long waits -restart-backoff again when it next exits")
	fs.String(&cfg.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error (the servers it starts inherit it)")
	fs.String(&cfg.logFormat, "log-format", "LOG_FORMAT", "console", "console or json (the servers it starts inherit it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("%w; check -restart-backoff, -restart-backoff-max and -restart-reset", err)
	}
	return cfg, nil
}

func run() error {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		return err
	}
	log, err := logging.Stderr(cfg.logLevel, cfg.logFormat, "devstack")
	if err != nil {
		return err
	}
	// The children inherit both: one format in the terminal.
	os.Setenv("LOG_LEVEL", cfg.logLevel)
	os.Setenv("LOG_FORMAT", cfg.logFormat)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s := &devstack.Stack{Cfg: cfg.stack}
	start := time.Now()
	if err := s.StartSupervised(ctx, devstack.NewSupervisor(cfg.restart, log)); err != nil {
		return err
	}
	if cfg.demoAddr != "" {
		if err := serveDemo(cfg.demoAddr, cfg.stack.CollectorAddr); err != nil {
			_ = s.Stop()
			return err
		}
	}
	printBanner(s, cfg.demoAddr, cfg.restart, time.Since(start))

	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\ndevstack: stopping collector, consumer, broker and ClickHouse (flushing what is in flight)...")
	t := time.Now()
	err = s.Stop()
	fmt.Fprintf(os.Stderr, "devstack: stopped in %s\n", time.Since(t).Round(time.Millisecond))
	return err
}

func printBanner(s *devstack.Stack, demoAddr string, restart devstack.Backoff, took time.Duration) {
	pixelURL := "http://" + s.Cfg.CollectorAddr + "/p.gif"
	chClient := "clickhouse-client --host 127.0.0.1 --port " + portOf(s.ClickHouseAddr())
	fmt.Printf(`
pixel is running (started in %s)

  Pixel URL      %s?id=demo&ev=PageView
  Paste this     <img src="%s?id=YOUR_PIXEL_ID&ev=PageView" width="1" height="1" alt="" style="display:none">
`, took.Round(time.Millisecond), pixelURL, pixelURL)
	if demoAddr != "" {
		fmt.Printf("  Open this      http://%s/   (a demo shop page that fires the pixel)\n", demoAddr)
	}
	fmt.Printf(`  Rows arriving  %s --query "SELECT event, count() FROM pixel.events GROUP BY event"
  Metrics        http://%s/metrics (collector)   http://%s/metrics (consumer)
  Kafka          %s, topic %s (kcat -b %s -t %s -C)

A server that exits is started again (after %s, doubling to %s). Ctrl-C stops everything cleanly.
`, chClient, s.Cfg.CollectorAdminAddr, s.Cfg.ConsumerAdminAddr, s.Brokers(), s.Cfg.Topic, s.Brokers(), s.Cfg.Topic, restart.Min, restart.Max)
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "9000"
	}
	return p
}

// serveDemo serves a one-page shop on its own origin that embeds the pixel
// the way a customer's site would.
func serveDemo(addr, collectorAddr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on demo address %s: %w; set DEVSTACK_DEMO_ADDR", addr, err)
	}
	page := template.Must(template.New("demo").Parse(demoPage))
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, map[string]string{"Pixel": "http://" + collectorAddr + "/p.gif"})
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	return nil
}

const demoPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pixel demo shop</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}button{margin:.3em}</style></head>
<body>
<h1>Demo shop</h1>
<p>This page embeds the pixel like a customer's site would. Loading it sent a <b>PageView</b>;
the buttons send conversions. Watch them arrive with the clickhouse-client command make run printed.</p>
<img src="{{.Pixel}}?id=demo&amp;ev=PageView" width="1" height="1" alt="" style="display:none">
<button onclick="fire('AddToCart', {value: '19.90', currency: 'EUR', content_ids: '[&quot;sku-1&quot;]'})">Add to cart</button>
<button onclick="fire('Purchase', {value: '19.90', currency: 'EUR', order_id: 'o-' + Date.now(), content_ids: '[&quot;sku-1&quot;]'})">Buy</button>
<button onclick="fire('Lead', {plan: 'pro'})">Sign up</button>
<p id="log"></p>
<script>
function fire(ev, cd) {
  var q = 'id=demo&ev=' + encodeURIComponent(ev) + '&dl=' + encodeURIComponent(location.href) +
          '&rl=' + encodeURIComponent(document.referrer) + '&ts=' + Date.now();
  for (var k in cd) q += '&cd[' + k + ']=' + encodeURIComponent(cd[k]);
  new Image().src = '{{.Pixel}}?' + q;
  document.getElementById('log').textContent = 'sent ' + ev;
}
setTimeout(function () { fire('TimeOnPage60s', {}); }, 60000);
</script>
</body></html>
`
