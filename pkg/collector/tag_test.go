package collector_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/collector"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
)

func TestTag(t *testing.T) {
	ls := startLive(t, nil)
	resp, body := ls.request(t, http.MethodGet, "/px.js")
	if resp.StatusCode != http.StatusOK || body != string(pixel.Tag) {
		t.Fatalf("status %d, %d bytes; want 200 and the %d-byte tag", resp.StatusCode, len(body), len(pixel.Tag))
	}
	for name, want := range map[string]string{
		"Content-Type":                 "application/javascript; charset=utf-8",
		"Cache-Control":                "public, max-age=3600",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Resource-Policy": "cross-origin",
		"Vary":                         "Accept-Encoding",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	etag := resp.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) {
		t.Fatalf("ETag %q, want a strong tag of the content", etag)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("the tag sets cookies %v", resp.Cookies())
	}

	t.Run("gzip", func(t *testing.T) {
		resp, body := ls.request(t, http.MethodGet, "/px.js", "Accept-Encoding: gzip, deflate, br")
		if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") == etag {
			t.Fatalf("Content-Encoding %q, ETag %q: want gzip with its own tag", resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"))
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(plain, pixel.Tag) {
			t.Fatalf("gunzipped %d bytes (%v), want the tag", len(plain), err)
		}
		if len(body) >= len(pixel.Tag) {
			t.Errorf("gzip gives %d bytes for %d", len(body), len(pixel.Tag))
		}
	})

	t.Run("If-None-Match", func(t *testing.T) {
		gzTag := strings.TrimSuffix(etag, `"`) + `-gz"`
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*", gzTag} {
			resp, body := ls.request(t, http.MethodGet, "/px.js", "If-None-Match: "+inm)
			if resp.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("If-None-Match %s: status %d, %d bytes; want 304 and nothing", inm, resp.StatusCode, len(body))
			}
			if resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
				t.Errorf("If-None-Match %s: a 304 must repeat ETag and Cache-Control, got %q %q", inm, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
			}
		}
		for _, inm := range []string{`"other"`, `"` + strings.Repeat("0", 16) + `"`, strings.Trim(etag, `"`)} {
			if resp, _ := ls.request(t, http.MethodGet, "/px.js", "If-None-Match: "+inm); resp.StatusCode != http.StatusOK {
				t.Errorf("If-None-Match %s: status %d, want 200", inm, resp.StatusCode)
			}
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		resp, body := ls.request(t, http.MethodHead, "/px.js")
		if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("ETag") != etag {
			t.Fatalf("HEAD: status %d, %d bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
		}
	})
}

// registryOf returns a Config change that serves the registry snapshot
// *cur (swappable by the test) to the collector.
func registryOf(cur *atomic.Pointer[registry.Snapshot]) func(*collector.Config) {
	return func(c *collector.Config) { c.Registry = cur.Load }
}

func tagPixel(id string, seconds int, consent pixel.ConsentMode, status string) *registry.Pixel {
	s := pixel.DefaultSettings()
	s.EngagementSeconds, s.Consent = seconds, consent
	return &registry.Pixel{ID: id, Status: status, Settings: s}
}

// TestTagConfig checks /px.js?id=ID: the tag followed by the pixel's
// settings when ID is registered and active, the generic tag otherwise.
func TestTagConfig(t *testing.T) {
	var cur atomic.Pointer[registry.Snapshot]
	cur.Store(registry.NewSnapshot([]*registry.Pixel{
		tagPixel("shop_A-1", 30, pixel.ConsentRequired, registry.StatusActive),
		tagPixel("demo", 60, pixel.ConsentGranted, registry.StatusActive),
		tagPixel("off", 60, pixel.ConsentGranted, registry.StatusDisabled),
	}))
	ls := startLive(t, registryOf(&cur))
	generic, _ := ls.request(t, http.MethodGet, "/px.js")
	genericTag := generic.Header.Get("ETag")

	want := string(pixel.Tag) + `;pixel('config',"shop_A-1",{engagementSeconds:30,consent:"required"});` + "\n"
	resp, body := ls.request(t, http.MethodGet, "/px.js?id=shop_A-1")
	if resp.StatusCode != http.StatusOK || body != want {
		t.Fatalf("status %d, body ends %q; want 200 and the tag with its config", resp.StatusCode, body[max(0, len(body)-90):])
	}
	etag := resp.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) || etag == genericTag {
		t.Fatalf("ETag %q (generic %q): want a strong tag of its own", etag, genericTag)
	}
	if resp.Header.Get("Cache-Control") != "public, max-age=3600" || resp.Header.Get("Content-Type") != "application/javascript; charset=utf-8" {
		t.Errorf("headers %v", resp.Header)
	}
	checkConfigCall(t, body[len(pixel.Tag):], `["config","shop_A-1",{"engagementSeconds":30,"consent":"required"}]`)
	if _, body := ls.request(t, http.MethodGet, "/px.js?v=2&id=demo"); !strings.HasSuffix(body, `;pixel('config',"demo",{engagementSeconds:60,consent:"granted"});`+"\n") {
		t.Errorf("demo: body ends %q", body[max(0, len(body)-90):])
	}

	t.Run("gzip and If-None-Match", func(t *testing.T) {
		resp, body := ls.request(t, http.MethodGet, "/px.js?id=shop_A-1", "Accept-Encoding: gzip")
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != want || resp.Header.Get("ETag") != strings.TrimSuffix(etag, `"`)+`-gz"` {
			t.Fatalf("gunzipped %d bytes (%v), ETag %q", len(plain), err, resp.Header.Get("ETag"))
		}
		if resp, _ := ls.request(t, http.MethodGet, "/px.js?id=shop_A-1", "If-None-Match: "+etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("its own ETag: status %d, want 304", resp.StatusCode)
		}
		if resp, _ := ls.request(t, http.MethodGet, "/px.js?id=shop_A-1", "If-None-Match: "+genericTag); resp.StatusCode != http.StatusOK {
			t.Errorf("the generic tag's ETag: status %d, want 200", resp.StatusCode)
		}
	})

	t.Run("generic tag", func(t *testing.T) {
		for _, q := range []string{"?id=unknown", "?id=off", "?id=", "?id=%22);alert(1)//", "?id=" + strings.Repeat("a", 65), "?x=shop_A-1", "?id=SHOP_A-1"} {
			resp, body := ls.request(t, http.MethodGet, "/px.js"+q)
			if resp.StatusCode != http.StatusOK || body != string(pixel.Tag) || resp.Header.Get("ETag") != genericTag {
				t.Errorf("%s: status %d, %d bytes, ETag %q; want the generic tag", q, resp.StatusCode, len(body), resp.Header.Get("ETag"))
			}
		}
		for _, reg := range []func(*collector.Config){nil, func(c *collector.Config) { c.Registry = func() *registry.Snapshot { return nil } }} {
			ls := startLive(t, reg)
			if _, body := ls.request(t, http.MethodGet, "/px.js?id=demo"); body != string(pixel.Tag) {
				t.Errorf("no registry (loaded): %d bytes, want the generic tag", len(body))
			}
		}
	})

	t.Run("a new snapshot takes effect", func(t *testing.T) {
		cur.Store(registry.NewSnapshot([]*registry.Pixel{
			tagPixel("shop_A-1", 90, pixel.ConsentGranted, registry.StatusActive),
			tagPixel("demo", 60, pixel.ConsentGranted, registry.StatusDisabled),
		}))
		if _, body := ls.request(t, http.MethodGet, "/px.js?id=shop_A-1"); !strings.HasSuffix(body, `{engagementSeconds:90,consent:"granted"});`+"\n") {
			t.Errorf("changed settings: body ends %q", body[max(0, len(body)-90):])
		}
		if _, body := ls.request(t, http.MethodGet, "/px.js?id=demo"); body != string(pixel.Tag) {
			t.Errorf("disabled pixel: %d bytes, want the generic tag", len(body))
		}
	})
}

// checkConfigCall runs the config line in Node.js (when installed) with a
// stand-in pixel function, so that the line is JavaScript that calls
// pixel('config', ...) with the settings as arguments.
func checkConfigCall(t *testing.T, line, wantArgs string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("node is not installed: the config line is checked as text only")
		return
	}
	f := filepath.Join(t.TempDir(), "config.js")
	if err := os.WriteFile(f, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, "-e", `var got; function pixel() { got = [].slice.call(arguments); }
eval(require('fs').readFileSync(process.argv[1], 'utf8')); console.log(JSON.stringify(got));`, f).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != wantArgs {
		t.Fatalf("node ran %q: %s (%v), want %s", line, out, err, wantArgs)
	}
}

// TestTagSnapshotRace serves per-pixel tags while the registry is swapped:
// every answer is the tag of one snapshot or the other, never a mix (run
// with -race).
func TestTagSnapshotRace(t *testing.T) {
	snaps := []*registry.Snapshot{
		registry.NewSnapshot([]*registry.Pixel{tagPixel("p1", 10, pixel.ConsentGranted, registry.StatusActive)}),
		registry.NewSnapshot([]*registry.Pixel{tagPixel("p1", 20, pixel.ConsentGranted, registry.StatusActive)}),
	}
	var cur atomic.Pointer[registry.Snapshot]
	cur.Store(snaps[0])
	ts := newTestServer(t, registryOf(&cur))
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				body := string(ts.do(t, http.MethodGet, "/px.js?id=p1").Body())
				if !strings.HasSuffix(body, `{engagementSeconds:10,consent:"granted"});`+"\n") && !strings.HasSuffix(body, `{engagementSeconds:20,consent:"granted"});`+"\n") {
					errs <- body[max(0, len(body)-90):]
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		cur.Store(snaps[i%2])
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("body ends %q", e)
	}
}

// BenchmarkTagPixel serves a registered pixel's tag (/px.js?id=ID) from
// the per-snapshot cache, compared with BenchmarkTag, the generic one.
func BenchmarkTagPixel(b *testing.B) {
	var cur atomic.Pointer[registry.Snapshot]
	cur.Store(registry.NewSnapshot([]*registry.Pixel{tagPixel("shop1", 30, pixel.ConsentRequired, registry.StatusActive)}))
	ts := newTestServer(b, registryOf(&cur))
	benchmarkRequest(b, ts.handler, rawGET("/px.js?id=shop1", "Accept-Encoding: gzip"))
}
