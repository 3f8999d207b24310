package collector_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
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

// TestTagIsES5 keeps the tag runnable in old browsers: none of the syntax
// ES2015 added, and no console noise.
func TestTagIsES5(t *testing.T) {
	src := string(pixel.Tag)
	for _, re := range []string{`=>`, "`", `\blet\s`, `\bconst\s`, `\bclass\s`, `\.\.\.[A-Za-z_$]`, `\bimport\b`, `\bexport\b`, `\basync\s`, `\bawait\s`, `console\.`} {
		if loc := regexp.MustCompile(re).FindStringIndex(src); loc != nil {
			t.Errorf("the tag uses %s: %q", re, src[max(0, loc[0]-30):min(len(src), loc[1]+30)])
		}
	}
	for _, want := range []string{"sendBeacon", "'/collect'", "'/p.gif?'", "visibilityState", "randomUUID", "'Engaged'", "stub.q", "currentScript"} {
		if !strings.Contains(src, want) {
			t.Errorf("the tag lacks %s", want)
		}
	}
}
