package svgchart_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/bench/svgchart"
)

// wellFormed decodes the whole document and returns its text.
func wellFormed(t *testing.T, doc []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var text strings.Builder
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
			text.WriteByte(' ')
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return text.String()
}

func TestPage(t *testing.T) {
	doc := svgchart.Page("Latency <at 50%> & more", "2 cores", 800,
		&svgchart.Line{
			Title: "percentiles", XLabel: "percentile", YLabel: "latency", LogY: true,
			XCategories: []string{"p50", "p90", "p99"}, YFormat: svgchart.Seconds,
			Series: []svgchart.Series{
				{Name: "collector", X: []float64{0, 1, 2}, Y: []float64{0.0002, 0.0009, 0.004}},
				{Name: "bare \"fasthttp\"", X: []float64{0, 1, 2}, Y: []float64{0.0001, 0, 0.001}},
			},
		},
		&svgchart.Line{
			Title: "rows", XLabel: "s", YLabel: "rows",
			Series: []svgchart.Series{{Name: "ours", X: []float64{0, 1, 2, 3}, Y: []float64{0, math.NaN(), 5e5, 1e6}, Steps: true}},
		},
		&svgchart.Bars{
			Title: "throughput", YLabel: "req/s", SeriesNames: []string{"baseline", "ours"},
			Groups: []svgchart.Group{
				{Label: "HTTP", Values: []float64{68000, 24000}, Notes: []string{"", "0.35×"}},
				{Label: "rows", Values: []float64{math.NaN(), 120000}},
			},
		},
		&svgchart.Line{Title: "empty"},
	)
	text := wellFormed(t, doc)
	for _, want := range []string{"Latency <at 50%> & more", "collector", `bare "fasthttp"`, "p99", "0.35×", "68k", "no data"} {
		if !strings.Contains(text, want) {
			t.Errorf("the chart's text lacks %q:\n%s", want, text)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		f    svgchart.Format
		v    float64
		want string
	}{
		{svgchart.Number, 68068, "68.1k"}, {svgchart.Number, 1.25e6, "1.25M"}, {svgchart.Number, 0.5, "0.5"}, {svgchart.Number, 200, "200"},
		{svgchart.Seconds, 0.00085, "850µs"}, {svgchart.Seconds, 0.0012, "1.2ms"}, {svgchart.Seconds, 2, "2s"},
		{svgchart.Bytes, 64 << 20, "64MiB"},
	} {
		if got := c.f(c.v); got != c.want {
			t.Errorf("format(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}
