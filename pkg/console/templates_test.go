package console

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// hostile is what an attacker puts into every string a page shows: markup
// that would run script, an inline style, an event handler, a javascript:
// link, and breaks out of attributes, titles and script blocks.
const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(2)>' onmouseover='alert(3)' ` +
	`javascript:alert(4)</title></textarea></script><style>*{}</style><p style="x">{{.}}`

// sampleData gives a page template data that reaches its own string fields,
// filled with h. A template not listed renders with Data nil, which reaches
// the layout's fields (Title, Flash, User, Pixels, Pixel) and every
// {{with}}/{{range}} stays empty. A page whose template cannot render with
// nil Data must be listed here, so that it is checked too.
var sampleData = map[string]func(h string) any{
	"error.html": func(h string) any { return h },
	"login.html": func(h string) any { return loginView{Name: h, Next: h, Error: h, LoginCSRF: h} },
	"users.html": func(h string) any {
		t := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		return &usersView{
			Users: []*users.User{
				{Name: h, Role: users.RoleViewer, CreatedAt: t},
				{Name: h + "2", Role: h, Disabled: true, CreatedAt: t},
			},
			Tokens: []*users.Token{
				{ID: h, User: h, Label: h, CreatedAt: t},
				{ID: h, User: h, Label: h, CreatedAt: t, Revoked: true},
			},
			Self: "ana", NewPassword: h, NewPasswordFor: h, Error: h,
		}
	},
	"account.html": func(h string) any {
		t := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		return &accountView{
			Tokens:   []*users.Token{{ID: h, User: h, Label: h, CreatedAt: t}, {ID: h, User: h, Label: h, CreatedAt: t, Revoked: true}},
			NewToken: h, Curl: h, Error: h, MinPassword: users.MinPasswordLength,
		}
	},
}

// TestTemplatesAreSafe renders every page template through the layout for a
// signed-in admin, with hostile strings in every field it can reach, and
// checks that the page has no inline script, no style attribute or
// element, no event handler attribute and no javascript: URL, and that it
// is served with the Content-Security-Policy.
func TestTemplatesAreSafe(t *testing.T) {
	tc := newTestConsole(t)
	names := make([]string, 0, len(tc.pages))
	for n := range tc.pages {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 4 {
		t.Fatalf("only %d page templates: %v", len(names), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, h := range []string{hostile, "plain"} {
				pix := &registry.Pixel{ID: h, Name: h, Domains: []string{h}, Status: h, TimeZone: h}
				v := &view{Title: h, Flash: h, Pixels: []*registry.Pixel{pix}, Pixel: pix}
				if f := sampleData[name]; f != nil {
					v.Data = f(h)
				}
				admin := &users.User{Name: h, Role: users.RoleAdmin}
				a := &auth{user: admin, session: &session{csrf: h, user: admin}}
				rec := httptest.NewRecorder()
				tc.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					tc.renderView(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, a)), http.StatusOK, name, v)
				})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				body := rec.Body.String()
				if rec.Code != http.StatusOK {
					t.Fatalf("%s does not render (%d); if it needs data, add it to sampleData in templates_test.go:\n%s", name, rec.Code, body)
				}
				if got := rec.Header().Get("Content-Security-Policy"); got != csp {
					t.Errorf("CSP %q, want %q", got, csp)
				}
				for _, p := range unsafeMarkup(body) {
					t.Errorf("%s with %q: %s", name, h, p)
				}
				if h == hostile && !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
					t.Errorf("%s: the hostile title is not shown escaped:\n%s", name, body)
				}
			}
		})
	}
}

// TestUnsafeMarkup checks the checker: it finds what it must and is not
// fooled by escaped text or attribute values.
func TestUnsafeMarkup(t *testing.T) {
	for doc, want := range map[string]int{
		`<p>ok</p><script src="/assets/app.js"></script>`:                   0,
		`<script type="application/json" id="d">{"a":"&lt;"}</script>`:      0,
		`<p title="x onerror=alert(1) style=x">&lt;script&gt; onclick=</p>`: 0,
		`<!-- <script>x</script> --><p>`:                                    0,
		`<script>alert(1)</script>`:                                         1,
		`<SCRIPT type="module">x</SCRIPT>`:                                  1,
		`<img src=x onerror=alert(1)>`:                                      1,
		`<p style="color:red">`:                                             1,
		`<style>p{}</style>`:                                                1,
		`<a href=" JavaScript:alert(1)">`:                                   1,
		`<form action="javascript:x"><button formaction="javascript:y">`:    2,
		`<div data-x='a' ONCLICK='b' style=c>`:                              2,
	} {
		if got := unsafeMarkup(doc); len(got) != want {
			t.Errorf("%s: %d problems %v, want %d", doc, len(got), got, want)
		}
	}
}

// unsafeMarkup lists what in an HTML page could run script or style that
// the CSP is there to refuse: it reads the real tags only (text and
// attribute values that html/template escaped are not tags).
func unsafeMarkup(doc string) []string {
	var problems []string
	lower := strings.ToLower(doc)
	i := 0
	for {
		j := strings.IndexByte(doc[i:], '<')
		if j < 0 {
			return problems
		}
		i += j + 1
		switch {
		case strings.HasPrefix(doc[i:], "!--"):
			k := strings.Index(doc[i:], "-->")
			if k < 0 {
				return problems
			}
			i += k + 3
			continue
		case i < len(doc) && (doc[i] == '!' || doc[i] == '/' || doc[i] == '?'):
			k := strings.IndexByte(doc[i:], '>')
			if k < 0 {
				return problems
			}
			i += k + 1
			continue
		case i >= len(doc) || !isASCIILetter(doc[i]):
			continue
		}
		start := i
		for i < len(doc) && (isASCIILetter(doc[i]) || doc[i] >= '0' && doc[i] <= '9' || doc[i] == '-') {
			i++
		}
		name := strings.ToLower(doc[start:i])
		attrs := map[string]string{}
		for i < len(doc) {
			for i < len(doc) && isSpace(doc[i]) {
				i++
			}
			if i >= len(doc) || doc[i] == '>' {
				i++
				break
			}
			if doc[i] == '/' {
				i++
				continue
			}
			k := i
			for i < len(doc) && !isSpace(doc[i]) && doc[i] != '=' && doc[i] != '>' && doc[i] != '/' {
				i++
			}
			key := strings.ToLower(doc[k:i])
			for i < len(doc) && isSpace(doc[i]) {
				i++
			}
			val := ""
			if i < len(doc) && doc[i] == '=' {
				i++
				for i < len(doc) && isSpace(doc[i]) {
					i++
				}
				if i < len(doc) && (doc[i] == '"' || doc[i] == '\'') {
					q := doc[i]
					e := strings.IndexByte(doc[i+1:], q)
					if e < 0 {
						return append(problems, "an attribute quote is never closed")
					}
					val = doc[i+1 : i+1+e]
					i += e + 2
				} else {
					v := i
					for i < len(doc) && !isSpace(doc[i]) && doc[i] != '>' {
						i++
					}
					val = doc[v:i]
				}
			}
			attrs[key] = html.UnescapeString(val)
			switch {
			case strings.HasPrefix(key, "on"):
				problems = append(problems, "an event handler attribute "+key+" on <"+name+">")
			case key == "style":
				problems = append(problems, "a style attribute on <"+name+">")
			case key == "href" || key == "src" || key == "action" || key == "formaction":
				if strings.HasPrefix(strings.ToLower(strings.TrimSpace(attrs[key])), "javascript:") {
					problems = append(problems, "a javascript: URL in "+key+" of <"+name+">")
				}
			}
		}
		switch name {
		case "style":
			problems = append(problems, "an inline <style> element")
		case "script":
			if attrs["src"] == "" && strings.ToLower(attrs["type"]) != "application/json" {
				problems = append(problems, "an inline <script> without src")
			}
		}
		if name == "script" || name == "style" {
			// Raw text up to the end tag: no tags inside.
			k := strings.Index(lower[min(i, len(doc)):], "</"+name)
			if k < 0 {
				return append(problems, "<"+name+"> is never closed")
			}
			i += k
		}
	}
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
