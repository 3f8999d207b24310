package console

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// view is what every page template gets: the layout's needs and the
// page's own Data.
type view struct {
	Title  string
	User   *users.User
	CSRF   string
	Pixels []*registry.Pixel // for the nav's pixel switcher
	Pixel  *registry.Pixel   // the pixel the page is about, or nil
	Flash  string
	Data   any
}

// parsePages parses templates/base.html with each page template.
func parsePages(a *assetSet) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"asset":   a.url,
		"safeURL": safeURL,
	}
	base, err := template.New("base.html").Funcs(funcs).ParseFS(files, "templates/base.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := path.Base(n)
		if name == "base.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(files, n)
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// render answers the page template name in the layout. The page is
// rendered into a buffer first, so that a template error is a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	s.renderView(w, r, status, name, &view{Title: title, Data: data})
}

// renderView is render with the layout's fields chosen by the caller
// (Pixel, Flash); User, CSRF and Pixels are filled in here.
func (s *Server) renderView(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t := s.pages[name]
	if t == nil {
		s.log.Error().Str("template", name).Msg("no such console template")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v.User, v.CSRF = current(r), csrfOf(r)
	if v.User != nil && v.Pixels == nil {
		ps, err := s.pixels.List(r.Context())
		if err != nil {
			s.log.Warn().Err(err).Msg("cannot list pixels for the navigation")
		}
		v.Pixels = ps
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base.html", v); err != nil {
		s.log.Error().Err(err).Str("template", name).Msg("cannot render a console page")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage answers a page with one message.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error.html", http.StatusText(status), msg)
}

// safeURL is u when it is an http or https URL, for an href; otherwise ""
// (a hit's javascript: or data: "page" must never become a link).
func safeURL(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return p.String()
}
