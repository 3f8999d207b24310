// Command loadgen sends realistic pixel traffic to a collector, at a constant
// rate or as fast as it can, and reports throughput, answers, errors and
// latency (corrected for coordinated omission at a constant rate). Run it
// against your own collector before launch:
//
//	go run ./bench/cmd/loadgen -rate 5000 -duration 30s -json result.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/loadgen"
)

type options struct {
	cfg      loadgen.Config
	jsonPath string
}

// rawFlags are the flags that become a setting of another type.
type rawFlags struct {
	seed int64
}

func parseFlags(args []string) (*options, error) {
	o := &options{cfg: loadgen.DefaultConfig()}
	return o, newFlagSet(o, &rawFlags{}).Parse(args)
}

// newFlagSet defines every flag, writing into o and raw, and the checks
// Parse runs.
func newFlagSet(o *options, raw *rawFlags) *flagenv.Set {
	c, m := &o.cfg, &o.cfg.Mix
	fs := flagenv.New("loadgen", "Sends realistic pixel traffic (GET /p.gif) to a collector and measures it.\n"+
		"Only loopback targets unless -allow-remote. The run ends after -duration or -max-requests,\n"+
		"whichever comes first; Ctrl-C stops it early and still prints what was measured.")

	fs.String(&c.Target, "target", "LOADGEN_TARGET", c.Target, "collector base `URL` (http:// or https://)")
	fs.String(&c.Path, "path", "LOADGEN_PATH", c.Path, "path of the pixel on the target")
	fs.Bool(&c.AllowRemote, "allow-remote", "LOADGEN_ALLOW_REMOTE", false, "allow a target that is not a loopback address (staging; never production)")
	fs.Float64(&c.Rate, "rate", "LOADGEN_RATE", c.Rate, "`requests/s` on a fixed schedule (open loop, latency from the scheduled time); 0 = closed loop, as fast as the connections go")
	fs.Duration(&c.Duration, "duration", "LOADGEN_DURATION", 10*time.Second, "how long to send; 0 = until -max-requests")
	fs.Int64(&c.MaxRequests, "max-requests", "LOADGEN_MAX_REQUESTS", 0, "most requests to send; 0 = until -duration")
	fs.Int(&c.Connections, "connections", "LOADGEN_CONNECTIONS", c.Connections, "keep-alive connections, each with one request in flight")
	fs.Duration(&c.Timeout, "timeout", "LOADGEN_TIMEOUT", c.Timeout, "time limit of one request, dial included")
	fs.Int64(&raw.seed, "seed", "LOADGEN_SEED", 1, "seed of the traffic: the same seed sends the same hits")

	fs.Int(&m.Visitors, "visitors", "LOADGEN_VISITORS", m.Visitors, "distinct simulated browsers")
	fs.Float64(&m.CookieFraction, "cookie-fraction", "LOADGEN_COOKIE_FRACTION", m.CookieFraction, "`share` of browsers that keep the _pxid/_pxsid cookies and send them back (0..1)")
	if len(m.PixelIDs) == 0 {
		m.PixelIDs = []string{loadgen.DefaultPixelID}
	}
	fs.Strings(&m.PixelIDs, "pixel-ids", "LOADGEN_PIXEL_IDS", "comma-separated pixel `ids`, one per simulated site")
	fs.Func("events", "LOADGEN_EVENTS", m.Events.String(), "relative `weights` of the events of valid hits", func(v string) (err error) {
		m.Events, err = loadgen.ParseEventMix(v)
		return err
	})
	fs.Float64(&m.PropsFraction, "props-fraction", "LOADGEN_PROPS_FRACTION", m.PropsFraction, "`share` of hits with custom cd[...] properties (0..1)")
	fs.Float64(&m.MalformedFraction, "malformed-fraction", "LOADGEN_MALFORMED_FRACTION", m.MalformedFraction, "`share` of hits the collector must count as invalid: missing id, bad cd[value], bad ts, too long, ... (0..1)")
	fs.Bool(&m.EventIDs, "event-ids", "LOADGEN_EVENT_IDS", false, "give every hit a unique eid and list those answered 200 in the -json result")
	fs.String(&m.EventIDPrefix, "event-id-prefix", "LOADGEN_EVENT_ID_PREFIX", "", "`prefix` of every eid (default lg-<seed in hex>-)")
	fs.String(&o.jsonPath, "json", "LOADGEN_JSON", "", "write the full result (counts, latency, per-second timeline) as JSON to this `file`; - for stdout")
	fs.Check(func() error {
		if len(fs.Args()) > 0 {
			return fmt.Errorf("unexpected arguments %q; every setting is a flag, see -help", fs.Args())
		}
		if raw.seed < 0 {
			return fmt.Errorf("-seed %d must not be negative", raw.seed)
		}
		c.Seed = uint64(raw.seed)
		return nil
	})
	return fs
}

func main() {
	o := &options{cfg: loadgen.DefaultConfig()}
	newFlagSet(o, &rawFlags{}).ParseOrExit(os.Args[1:])
	os.Exit(run(o))
}

func run(o *options) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	summary := io.Writer(os.Stdout)
	if o.jsonPath == "-" {
		summary = os.Stderr
	}
	res, err := loadgen.Run(ctx, o.cfg)
	interrupted := errors.Is(err, context.Canceled)
	if err != nil && !interrupted {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	if interrupted {
		fmt.Fprintln(summary, "loadgen: interrupted; these are the results so far")
	}
	if err := res.WriteSummary(summary); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, res); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 1
		}
	}
	if interrupted {
		return 130
	}
	return 0
}

func writeJSON(path string, res *loadgen.Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the result: %w", err)
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("cannot write the result: %w; check -json", err)
	}
	return nil
}
