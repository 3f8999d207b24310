// Package promtext scrapes a Prometheus text endpoint, such as the
// collector's and consumer's admin /metrics, into a map from series to
// value. The parsing is prometheus/common's expfmt, Prometheus' own.
package promtext

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples maps a series, its name and its labels sorted by name, e.g.
// `pixel_hits_total{outcome="accepted"}`, to its value. A histogram's or a
// summary's samples are there as their lines: name_bucket{le="…"},
// name_sum, name_count, name{quantile="…"}.
type Samples map[string]float64

// Get returns the value of series and whether it was there.
func (s Samples) Get(series string) (float64, bool) {
	v, ok := s[series]
	return v, ok
}

// Sum adds up every series of the metric name, whatever its labels.
func (s Samples) Sum(name string) float64 {
	var sum float64
	for series, v := range s {
		if series == name || strings.HasPrefix(series, name+"{") {
			sum += v
		}
	}
	return sum
}

// Parse reads the text format.
func Parse(r io.Reader) (Samples, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("promtext: cannot parse the metrics: %w", err)
	}
	out := Samples{}
	for _, f := range families {
		vector, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, f)
		if err != nil {
			return nil, fmt.Errorf("promtext: cannot read the samples of %s: %w", f.GetName(), err)
		}
		for _, sample := range vector {
			out[series(sample.Metric)] = float64(sample.Value)
		}
	}
	return out, nil
}

// labelValue escapes a label value as the text format does.
var labelValue = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// series writes m as name{k1="v1",k2="v2"}, its labels sorted by name.
func series(m model.Metric) string {
	name := string(m[model.MetricNameLabel])
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != model.MetricNameLabel {
			keys = append(keys, string(k))
		}
	}
	if len(keys) == 0 {
		return name
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	sep := "{"
	for _, k := range keys {
		b.WriteString(sep + k + `="` + labelValue.Replace(string(m[model.LabelName(k)])) + `"`)
		sep = ","
	}
	b.WriteString("}")
	return b.String()
}

var client = &http.Client{Timeout: 2 * time.Second}

// Scrape fetches url and parses it.
func Scrape(ctx context.Context, url string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot scrape %s: status %s", url, resp.Status)
	}
	return Parse(resp.Body)
}
