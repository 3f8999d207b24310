package apptest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
)

// TestCollectorDrainDelay: on SIGTERM the collector is a lame duck for
// -drain-delay — /readyz answers 503 while new hits are still answered — and
// only then closes its listener and exits.
func TestCollectorDrainDelay(t *testing.T) {
	const delay = 3 * time.Second
	ports := make([]int, 3)
	for i := range ports {
		p, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	addr, admin := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	log, err := os.Create(filepath.Join(t.TempDir(), "collector.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// No Kafka listens at the broker address: the collector spools and
	// stays ready.
	p, err := devstack.StartProcess("collector", filepath.Join(binDir, "collector"), []string{
		"-addr", addr, "-admin-addr", admin,
		"-kafka-brokers", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"-spool-dir", t.TempDir(), "-drain-delay", delay.String(), "-log-level", "warn", "-registry", "off",
	}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.WaitHTTP(ctx, "http://"+addr+"/readyz"); err != nil {
		t.Fatalf("collector not ready: %v", err)
	}

	p.Signal(syscall.SIGTERM)
	get := func(path string) (int, error) {
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for deadline := time.Now().Add(delay); ; time.Sleep(20 * time.Millisecond) {
		if code, err := get("/readyz"); err == nil && code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not turn 503 within %s of SIGTERM", delay)
		}
	}
	// Still within the delay: a new connection is answered.
	if code, err := get("/p.gif?id=drain-test"); err != nil || code != http.StatusOK {
		t.Fatalf("a hit during the drain delay: %d, %v; want 200", code, err)
	}
	select {
	case <-p.Exited():
	case <-time.After(delay + 30*time.Second):
		t.Fatal("collector did not exit after its drain delay")
	}
	if err := p.Err(); err != nil {
		t.Fatalf("collector exited with %v", err)
	}
	if _, err := get("/p.gif?id=drain-test"); err == nil {
		t.Fatal("a hit after the exit was answered")
	}
}
