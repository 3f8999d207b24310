package registry_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/registry"
)

func TestSnippets(t *testing.T) {
	p := &registry.Pixel{ID: "Ab3_-x"}
	s := p.Snippets("https://collector.example/")
	noscript := `<noscript><img height="1" width="1" style="display:none" alt="" referrerpolicy="no-referrer-when-downgrade" src="https://collector.example/p.gif?id=Ab3_-x&amp;ev=PageView&amp;noscript=1"></noscript>`
	if s.NoScript != noscript {
		t.Errorf("NoScript =\n%s\nwant\n%s", s.NoScript, noscript)
	}
	if !strings.HasPrefix(s.JS, "<script>") || !strings.HasSuffix(s.JS, "</script>\n"+noscript) {
		t.Errorf("JS does not end with the noscript image:\n%s", s.JS)
	}
	for _, want := range []string{`'https://collector.example/px.js?id=Ab3_-x'`, `pixel('init','Ab3_-x');pixel('track','PageView');</script>`} {
		if !strings.Contains(s.JS, want) {
			t.Errorf("JS lacks %s:\n%s", want, s.JS)
		}
	}
	if want := "https://collector.example/p.gif?id=Ab3_-x&ev=PageView&dl={PAGE_URL}"; s.ImageURL != want {
		t.Errorf("ImageURL = %s, want %s", s.ImageURL, want)
	}

	// A collector URL with characters that mean something in HTML or JS
	// stays inside its attribute and its string.
	s = p.Snippets(`https://c.example/x'"<>&</script>`)
	if strings.Count(s.JS, "</script>") != 1 || strings.Contains(s.NoScript, `"<`) || strings.Contains(s.JS, `x'"`) {
		t.Errorf("escaping failed:\n%s", s.JS)
	}
}

// TestSnippetQueue runs the loader in node with a fake document: it defines
// pixel() at once, queues the calls until px.js runs, inserts one async
// script with the px.js URL, and does nothing when pixel exists already.
func TestSnippetQueue(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node (Node.js) is not installed: the snippet test needs it; make deps installs it")
	}
	js := (&registry.Pixel{ID: "demo"}).Snippets("https://collector.example").JS
	js = strings.TrimPrefix(js[:strings.Index(js, "</script>")], "<script>")
	prog := `
var added = [];
var document = {
  createElement: function (tag) { return {tag: tag}; },
  getElementsByTagName: function () { return [{parentNode: {insertBefore: function (s) { added.push(s); }}}]; },
  head: {appendChild: function (s) { added.push(s); }}
};
var window = {};
(function (window, document) {
  var pixel;
  ` + strings.ReplaceAll(js, "pixel(", "window.pixel(") + `
  ` + strings.ReplaceAll(js, "pixel(", "window.pixel(") + `
})(window, document);
var q = window.pixel.q.map(function (a) { return Array.prototype.slice.call(a).join(','); });
console.log(JSON.stringify({scripts: added.map(function (s) { return s.tag + ' ' + s.src + ' ' + s.async; }), queue: q}));
`
	f := filepath.Join(t.TempDir(), "snippet.js")
	if err := os.WriteFile(f, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, f).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := `{"scripts":["script https://collector.example/px.js?id=demo true"],"queue":["init,demo","track,PageView","init,demo","track,PageView"]}`
	if strings.TrimSpace(string(out)) != want {
		t.Fatalf("node printed\n%s\nwant\n%s", out, want)
	}
}

func TestServerSnippet(t *testing.T) {
	s := (&registry.Pixel{ID: "demo"}).Snippets("https://c.example/it's")
	want := `curl -sS 'https://c.example/it'\''s/v1/demo/events' -H "Authorization: Bearer $PIXEL_SECRET"`
	if !strings.HasPrefix(s.Server, want) || !strings.Contains(s.Server, `"event":"Purchase"`) {
		t.Errorf("Server =\n%s\nwant it to start with\n%s", s.Server, want)
	}
}
