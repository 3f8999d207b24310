package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pixel-pipeline/pixel/pkg/analysis"
	"github.com/pixel-pipeline/pixel/pkg/audience"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/pkg/report"
)

// audienceRoutes registers the audience pages and API. A rule runs through
// audience.ForPixel and audience.Run, and a file is audience.Write's, as
// pixelctl audience export writes it.
func (s *Server) audienceRoutes() {
	s.page("GET /pixels/{id}/audiences", "", s.audiencesPage)
	s.page("GET /pixels/{id}/audiences/{name}", "", s.audiencePage)
	s.page("GET /pixels/{id}/audiences/{name}/download", "", s.audienceDownloadPage)
	s.api("GET /api/audiences", "", s.apiAudiences)
	s.api("GET /api/audiences/{name}", "", s.apiAudience)
	s.api("GET /api/audiences/{name}/download", "", s.apiAudienceDownload)
}

// ruleParam is a parameter a person sets (not the registry's).
type ruleParam struct {
	Name, Type, Default, Doc string
	HasDefault               bool
	Value                    string // on the rule's page: the value run
}

// ownRuleParams are the rule's parameters other than the registry's
// (audience.RegistryParams), to defaults the value given in q; to
// defaults to today in the pixel's zone (filled is ForPixel's answer).
func ownRuleParams(rule analysis.Query, q url.Values, filled map[string]string) []ruleParam {
	var out []ruleParam
	for _, p := range rule.Params {
		registryOwn := false
		for _, r := range audience.RegistryParams {
			registryOwn = registryOwn || r == p.Name
		}
		if registryOwn {
			continue
		}
		rp := ruleParam{Name: p.Name, Type: p.Type, Default: p.Default, Doc: p.Doc, HasDefault: p.HasDefault, Value: p.Default}
		if p.Name == "to" && !p.HasDefault {
			rp.Default = "today"
		}
		if v, ok := filled[p.Name]; ok {
			rp.Value = v
		}
		if q.Has(p.Name) {
			rp.Value = q.Get(p.Name)
		}
		out = append(out, rp)
	}
	return out
}

// The query keys of the audience routes that are not rule parameters.
var audienceKeys = map[string]bool{"pixel": true, "format": true}

// ruleValues reads a rule's parameters from a query: every key but pixel
// and format, once each.
func ruleValues(q url.Values) (map[string]string, error) {
	out := map[string]string{}
	for k, vs := range q {
		if audienceKeys[k] {
			continue
		}
		if len(vs) > 1 {
			return nil, errors.New("the parameter " + k + " given twice")
		}
		out[k] = vs[0]
	}
	return out, nil
}

// audienceRun is a rule run for a pixel.
type audienceRun struct {
	Rule     analysis.Query
	Params   map[string]string // every parameter, the registry's filled
	Audience *audience.Audience
}

// errNoRule is an unknown rule (404).
var errNoRule = errors.New("no such audience")

// runAudience runs rule name for pixel p with the parameters of q. An
// unknown rule is errNoRule; wrong parameters are an *badInput; anything
// else failed on the server.
func (s *Server) runAudience(ctx context.Context, p *registry.Pixel, name string, q url.Values) (*audienceRun, error) {
	rule, err := audience.Lookup(name)
	if err != nil {
		return nil, errNoRule
	}
	run := &audienceRun{Rule: rule}
	values, err := ruleValues(q)
	if err != nil {
		return run, &badInput{err.Error()}
	}
	if run.Params, err = audience.ForPixel(p, values, s.opts.Now()); err != nil {
		return run, &badInput{err.Error()}
	}
	if _, err := audience.Check(name, run.Params); err != nil {
		return run, &badInput{err.Error()}
	}
	// The limits pixelctl audience export sets by default: a long window
	// spills to disk instead of failing.
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(report.MemorySettings(0, 0)))
	if run.Audience, err = audience.Run(qctx, s.conn, name, run.Params); err != nil {
		return run, err
	}
	return run, nil
}

// badInput is wrong input to an audience: 400, its message shown.
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

// countAudience counts what a file of format f would hold: audience.Write
// into nowhere.
func countAudience(a *audience.Audience, f audience.Format) (audience.Counts, error) {
	return audience.Write(io.Discard, f, a.Members)
}

// excludedJSON is the API's excluded counts.
func excludedJSON(c audience.Counts) map[string]int {
	return map[string]int{"consent": c.Consent, "optout": c.OptOut, "gpc": c.GPC, "bot": c.Bot, "no_identifier": c.NoIdentifier}
}

type audienceListRow struct {
	Name, Title string
	Params      []ruleParam
}

func audienceList() ([]audienceListRow, error) {
	rules, err := audience.Rules()
	if err != nil {
		return nil, err
	}
	var out []audienceListRow
	for _, r := range rules {
		out = append(out, audienceListRow{Name: r.Name, Title: r.Title, Params: ownRuleParams(r, nil, nil)})
	}
	return out, nil
}

// audiencesPage lists the rules for a pixel.
func (s *Server) audiencesPage(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	list, err := audienceList()
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, "Cannot read the audience rules: "+err.Error())
		return
	}
	s.renderView(w, r, http.StatusOK, "audiences.html", &view{Title: "Audiences · " + p.Name, Pixel: p, Data: list})
}

type formatCount struct {
	Format, Label string
	Counts        audience.Counts
	Download      string // the download URL
}

type audienceView struct {
	Name, Title, Doc, Error string
	To                      string
	Params                  []ruleParam
	Members                 int
	Meta, Google            *formatCount
}

// audiencePage is a rule's form, its live count and its download links.
func (s *Server) audiencePage(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	name := r.PathValue("name")
	run, err := s.runAudience(r.Context(), p, name, r.URL.Query())
	if errors.Is(err, errNoRule) {
		s.errorPage(w, r, http.StatusNotFound, "There is no audience "+name+".")
		return
	}
	v := &audienceView{Name: run.Rule.Name, Title: run.Rule.Title, Doc: run.Rule.Doc, Params: ownRuleParams(run.Rule, r.URL.Query(), run.Params)}
	status := http.StatusOK
	var ie *badInput
	switch {
	case errors.As(err, &ie):
		v.Error, status = ie.msg, http.StatusBadRequest
	case err != nil:
		s.log.Error().Err(err).Str("audience", name).Str("pixel", p.ID).Msg("an audience failed")
		v.Error, status = "The audience failed: "+err.Error(), http.StatusInternalServerError
	default:
		v.To, v.Members = run.Params["to"], len(run.Audience.Members)
		own := url.Values{}
		for _, prm := range v.Params {
			own.Set(prm.Name, prm.Value)
		}
		for _, f := range []struct {
			dst   **formatCount
			f     audience.Format
			label string
		}{{&v.Meta, audience.Meta, "Meta Custom Audience"}, {&v.Google, audience.Google, "Google Customer Match"}} {
			c, err := countAudience(run.Audience, f.f)
			if err != nil {
				v.Error, status = "The audience failed: "+err.Error(), http.StatusInternalServerError
				break
			}
			q := url.Values{"format": {string(f.f)}}
			for k, vs := range own {
				q[k] = vs
			}
			*f.dst = &formatCount{Format: string(f.f), Label: f.label, Counts: c,
				Download: "/pixels/" + url.PathEscape(p.ID) + "/audiences/" + url.PathEscape(name) + "/download?" + q.Encode()}
		}
	}
	s.renderView(w, r, status, "audience.html", &view{Title: run.Rule.Title + " · " + p.Name, Pixel: p, Data: v})
}

// audienceFile writes rule name of pixel p in the request's format: the
// bytes pixelctl audience export -format F writes, as an attachment.
func (s *Server) audienceFile(w http.ResponseWriter, r *http.Request, p *registry.Pixel, name string, formats []audience.Format, fail func(status int, msg string)) {
	f, err := audience.ParseFormat(r.URL.Query().Get("format"))
	if err != nil || !hasFormat(formats, f) {
		names := make([]string, len(formats))
		for i, x := range formats {
			names[i] = string(x)
		}
		fail(http.StatusBadRequest, "format="+r.URL.Query().Get("format")+": want "+strings.Join(names, ", "))
		return
	}
	run, err := s.runAudience(r.Context(), p, name, r.URL.Query())
	var ie *badInput
	switch {
	case errors.Is(err, errNoRule):
		fail(http.StatusNotFound, "no audience called "+name)
		return
	case errors.As(err, &ie):
		fail(http.StatusBadRequest, ie.msg)
		return
	case err != nil:
		s.log.Error().Err(err).Str("audience", name).Str("pixel", p.ID).Msg("an audience failed")
		fail(http.StatusInternalServerError, "the audience failed: "+err.Error())
		return
	}
	var buf bytes.Buffer
	if _, err := audience.Write(&buf, f, run.Audience.Members); err != nil {
		fail(http.StatusInternalServerError, "cannot write the audience: "+err.Error())
		return
	}
	file := safeFileName(p.ID + "-" + name + "-" + run.Params["to"] + "-" + string(f) + ".csv")
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func hasFormat(fs []audience.Format, f audience.Format) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

// safeFileName keeps letters, digits, '-', '_' and '.': a pixel id is
// URL-safe already, this keeps the header's quoting trivially right.
func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// audienceDownloadPage is the page's download: meta or google.
func (s *Server) audienceDownloadPage(w http.ResponseWriter, r *http.Request) {
	p := s.pagePixel(w, r)
	if p == nil {
		return
	}
	s.audienceFile(w, r, p, r.PathValue("name"), []audience.Format{audience.Meta, audience.Google}, func(status int, msg string) {
		s.errorPage(w, r, status, msg)
	})
}

// apiAudiences lists the rules and their parameters.
func (s *Server) apiAudiences(w http.ResponseWriter, r *http.Request) {
	list, err := audienceList()
	if err != nil {
		apiError(w, http.StatusInternalServerError, "cannot read the audience rules: "+err.Error())
		return
	}
	type rule struct {
		Name   string           `json:"name"`
		Title  string           `json:"title"`
		Params []apiReportParam `json:"params"`
	}
	out := []rule{}
	for _, a := range list {
		x := rule{Name: a.Name, Title: a.Title, Params: []apiReportParam{}}
		for _, p := range a.Params {
			def := p.Default
			if !p.HasDefault {
				def = ""
			}
			x.Params = append(x.Params, apiReportParam{Name: p.Name, Type: p.Type, Default: def, HasDefault: p.HasDefault, Doc: p.Doc})
		}
		out = append(out, x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"audiences": out})
}

// apiAudience counts who a rule matches, for a format (meta unless given):
// count is how many rows its file has; excluded says who was left out.
func (s *Server) apiAudience(w http.ResponseWriter, r *http.Request) {
	p := s.queryPixel(w, r)
	if p == nil {
		return
	}
	f := audience.Meta
	if v := r.URL.Query().Get("format"); v != "" {
		var err error
		if f, err = audience.ParseFormat(v); err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	name := r.PathValue("name")
	run, err := s.runAudience(r.Context(), p, name, r.URL.Query())
	var ie *badInput
	switch {
	case errors.Is(err, errNoRule):
		apiError(w, http.StatusNotFound, "no audience called "+name)
		return
	case errors.As(err, &ie):
		apiError(w, http.StatusBadRequest, ie.msg)
		return
	case err != nil:
		s.log.Error().Err(err).Str("audience", name).Msg("an audience failed")
		apiError(w, http.StatusInternalServerError, "the audience failed: "+err.Error())
		return
	}
	c, err := countAudience(run.Audience, f)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "the audience failed: "+err.Error())
		return
	}
	params := map[string]string{}
	for _, prm := range ownRuleParams(run.Rule, r.URL.Query(), run.Params) {
		params[prm.Name] = prm.Value
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"audience": name, "pixel": p.ID, "format": f, "params": params,
		"members": len(run.Audience.Members), "count": c.Exported, "excluded": excludedJSON(c),
	})
}

// apiAudienceDownload answers the file: meta, google or ids.
func (s *Server) apiAudienceDownload(w http.ResponseWriter, r *http.Request) {
	p := s.queryPixel(w, r)
	if p == nil {
		return
	}
	s.audienceFile(w, r, p, r.PathValue("name"), []audience.Format{audience.Meta, audience.Google, audience.IDs}, func(status int, msg string) {
		apiError(w, status, msg)
	})
}
