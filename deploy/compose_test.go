package deploy

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv is what a user exports before docker compose up (compose.yaml
// says so at its top).
var composeEnv = map[string]string{"PIXEL_COOKIELESS_KEY": "0123456789abcdef0123456789abcdef"}

// loadCompose loads a compose file as docker compose does: interpolated,
// validated against the compose specification's JSON schema (which the
// loader embeds), normalized.
func loadCompose(text string, env map[string]string) (*types.Project, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(wd, "compose.yaml"), Content: []byte(text)}},
		Environment: env,
	})
}

// checkCompose checks what the schema cannot see: each pixel service runs a
// pixel binary with variables it reads, its admin address beyond loopback,
// a read-only root, and a stop grace period its flags fit in.
func checkCompose(t testing.TB, p *types.Project) []error {
	envs := binaryEnv(t)
	var errs []error
	fail := func(svc, format string, args ...any) {
		errs = append(errs, fmt.Errorf("compose.yaml: service %s: %s", svc, fmt.Sprintf(format, args...)))
	}
	want := map[string]int{"collector": 2, "consumer": 1, "console": 1, "forwarder": 1, "pixelctl": 1}
	have := map[string]int{}
	for name, svc := range p.Services {
		if len(svc.Entrypoint) == 0 || !strings.HasPrefix(svc.Entrypoint[0], "/usr/local/bin/") {
			continue // Kafka, ClickHouse, the topics' job
		}
		bin := filepath.Base(svc.Entrypoint[0])
		known, ok := envs[bin]
		if !ok {
			fail(name, "runs %s, not a pixel binary", bin)
			continue
		}
		have[bin]++
		for v := range svc.Environment {
			if !known[v] {
				fail(name, "sets $%s, which %s does not read (see %s -help)", v, bin, bin)
			}
		}
		if !svc.ReadOnly {
			fail(name, "set read_only: true (the binaries write only to their volumes)")
		}
		value := func(v string) string {
			if s := svc.Environment[v]; s != nil {
				return *s
			}
			return ""
		}
		if bin == "pixelctl" {
			continue
		}
		admin := strings.ToUpper(bin) + "_ADMIN_ADDR"
		if host, _, err := net.SplitHostPort(value(admin)); err != nil || host != "" {
			fail(name, "$%s=%q: the admin address must be \":PORT\", reachable from the other containers", admin, value(admin))
		}
		need, err := time.ParseDuration(value(strings.ToUpper(bin) + "_SHUTDOWN_TIMEOUT"))
		if err != nil {
			fail(name, "set $%s_SHUTDOWN_TIMEOUT: the stop grace period is measured against it (%v)", strings.ToUpper(bin), err)
		}
		if bin == "collector" {
			drain, err := time.ParseDuration(value("COLLECTOR_DRAIN_DELAY"))
			if err != nil {
				fail(name, "set $COLLECTOR_DRAIN_DELAY (%v)", err)
			}
			need += drain
		}
		if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) <= need {
			fail(name, "stop_grace_period %v must exceed %v (drain delay + shutdown timeout)", svc.StopGracePeriod, need)
		}
	}
	for bin, n := range want {
		if have[bin] < n {
			errs = append(errs, fmt.Errorf("compose.yaml: %d services run %s, want at least %d", have[bin], bin, n))
		}
	}
	brokers := 0
	for _, svc := range p.Services {
		if strings.HasPrefix(svc.Image, "apache/kafka:") && svc.Entrypoint == nil {
			brokers++
		}
	}
	if brokers != 3 {
		errs = append(errs, fmt.Errorf("compose.yaml: %d Apache Kafka brokers, want 3 (replication 3, min.insync.replicas 2)", brokers))
	}
	return errs
}

func TestCompose(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadCompose(string(b), composeEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkCompose(t, p) {
		t.Error(err)
	}
	t.Logf("compose.yaml: %d services: %v", len(p.Services), p.ServiceNames())
}

// TestComposeBroken: each broken copy of compose.yaml is refused.
func TestComposeBroken(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new, want string
		env                  map[string]string
	}{
		{"unknown field", "stop_grace_period: 40s", "stop_grace: 40s", "stop_grace", composeEnv},
		{"wrong type", "volumes: [spool-1:/var/lib/pixel/spool]", "volumes: spool-1:/var/lib/pixel/spool", "volumes", composeEnv},
		{"wrong value", "deploy: {replicas: 2}", "deploy: {replicas: two}", "replicas", composeEnv},
		{"unknown env var", "CONSUMER_SHUTDOWN_TIMEOUT: 30s", "CONSUMER_SHUTDOWN_TIMEOT: 30s", "CONSUMER_SHUTDOWN_TIMEOT", composeEnv},
		{"grace shorter than the drain", "stop_grace_period: 30s", "stop_grace_period: 20s", "must exceed 25s", composeEnv},
		{"admin on loopback", `FORWARDER_ADMIN_ADDR: ":8091"`, `FORWARDER_ADMIN_ADDR: "127.0.0.1:8091"`, "admin address", composeEnv},
		{"the cookieless key not set", "name: pixel", "name: pixel", "PIXEL_COOKIELESS_KEY", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(b), tc.old) {
				t.Fatalf("compose.yaml no longer holds %q: update the case", tc.old)
			}
			p, err := loadCompose(strings.Replace(string(b), tc.old, tc.new, 1), tc.env)
			errs := []error{err}
			if err == nil {
				errs = checkCompose(t, p)
			}
			for _, err := range errs {
				if err != nil && strings.Contains(err.Error(), tc.want) {
					t.Logf("refused: %v", err)
					return
				}
			}
			t.Errorf("want an error mentioning %q, got %v", tc.want, errs)
		})
	}
}
