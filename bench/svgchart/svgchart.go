// Package svgchart draws the benchmark's charts as self-contained SVG
// files, written by hand with no dependencies: line charts (linear or
// logarithmic y axis) and grouped bar charts, stacked as panels on a page.
// A browser, GitHub and any image viewer show them.
package svgchart

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Palette colours the series of a panel in order.
var Palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

// Format turns an axis or bar value into text.
type Format func(float64) string

// Panel is one chart on a page.
type Panel interface {
	// Height is the panel's height in pixels.
	Height() int
	draw(b *builder, x, y, w, h float64)
}

// Page lays out panels one below the other, width pixels wide, under a title
// and a subtitle (which may be empty), and returns the SVG document.
func Page(title, subtitle string, width int, panels ...Panel) []byte {
	head := 40.0
	if subtitle != "" {
		head += 18
	}
	h := head
	for _, p := range panels {
		h += float64(p.Height()) + 20
	}
	b := &builder{}
	b.f(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, h, width, h)
	b.f(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	b.text(float64(width)/2, 26, "middle", 17, "bold", "#222", title)
	if subtitle != "" {
		b.text(float64(width)/2, 46, "middle", 12, "normal", "#555", subtitle)
	}
	y := head
	for _, p := range panels {
		ph := float64(p.Height())
		p.draw(b, 0, y, float64(width), ph)
		y += ph + 20
	}
	b.f("</svg>\n")
	return []byte(b.String())
}

// Series is one line of a Line chart.
type Series struct {
	Name string
	X, Y []float64 // same length; NaN values are gaps
	// Steps draws the line as a staircase (a counter that jumps), not as
	// straight segments.
	Steps bool
}

// Line is a line chart.
type Line struct {
	Title, XLabel, YLabel string
	Series                []Series
	LogY                  bool   // logarithmic y axis; values <= 0 are left out
	XFormat, YFormat      Format // default: Number
	PanelHeight           int    // default 300
	// XCategories names the x values 0, 1, 2, ... instead of numbers.
	XCategories []string
	// LegendLeft puts the legend in the top left corner, for lines that
	// rise to the right.
	LegendLeft bool
}

// Height implements Panel.
func (l *Line) Height() int { return orDefault(l.PanelHeight, 300) }

// Bars is a grouped bar chart: one group per category, one bar per series.
type Bars struct {
	Title, YLabel string
	SeriesNames   []string
	Groups        []Group
	YFormat       Format // default: Number
	PanelHeight   int    // default 300
}

// Group is one category of a Bars chart.
type Group struct {
	Label  string
	Values []float64 // one per series; NaN: no bar
	// Notes are written above the bars, e.g. a ratio; one per series, may be "".
	Notes []string
}

// Height implements Panel.
func (c *Bars) Height() int { return orDefault(c.PanelHeight, 300) }

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// Number formats v compactly: 1.2M, 45k, 3.5, 0.25.
func Number(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	default:
		return trim(v)
	}
}

// Seconds formats a value in seconds as a duration: 850µs, 1.2ms, 3s.
func Seconds(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a < 1e-3:
		return trim(v*1e6) + "µs"
	case a < 1:
		return trim(v*1e3) + "ms"
	default:
		return trim(v) + "s"
	}
}

// Bytes formats a size: 12MB, 1.5GB.
func Bytes(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1<<30:
		return trim(v/(1<<30)) + "GiB"
	case a >= 1<<20:
		return trim(v/(1<<20)) + "MiB"
	case a >= 1<<10:
		return trim(v/(1<<10)) + "KiB"
	default:
		return trim(v) + "B"
	}
}

func trim(v float64) string {
	var s string
	switch a := math.Abs(v); {
	case a >= 100 || a == math.Trunc(a):
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// The plot area inside a panel.
const (
	padLeft   = 70.0
	padRight  = 24.0
	padTop    = 30.0
	padBottom = 44.0
)

func (l *Line) draw(b *builder, x, y, w, h float64) {
	xf, yf := l.XFormat, l.YFormat
	if xf == nil {
		xf = Number
	}
	if yf == nil {
		yf = Number
	}
	px, py, pw, ph := x+padLeft, y+padTop, w-padLeft-padRight, h-padTop-padBottom
	b.text(x+w/2, y+16, "middle", 13, "bold", "#222", l.Title)

	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range l.Series {
		for i := range min(len(s.X), len(s.Y)) {
			if math.IsNaN(s.X[i]) || math.IsNaN(s.Y[i]) || (l.LogY && s.Y[i] <= 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
		}
	}
	if math.IsInf(xmin, 1) {
		b.text(px+pw/2, py+ph/2, "middle", 12, "normal", "#888", "no data")
		return
	}
	if len(l.XCategories) > 0 {
		xmin, xmax = -0.5, float64(len(l.XCategories))-0.5
	}
	if xmax == xmin {
		xmin, xmax = xmin-1, xmax+1
	}
	var yticks []float64
	var ymap func(float64) float64
	if l.LogY {
		lo, hi := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
		if hi == lo {
			hi++
		}
		for e := lo; e <= hi; e++ {
			yticks = append(yticks, math.Pow(10, e))
		}
		ymap = func(v float64) float64 { return py + ph - (math.Log10(v)-lo)/(hi-lo)*ph }
	} else {
		lo := math.Min(0, ymin)
		yticks = niceTicks(lo, ymax, 5)
		top := yticks[len(yticks)-1]
		lo = yticks[0]
		ymap = func(v float64) float64 { return py + ph - (v-lo)/(top-lo)*ph }
	}
	xmap := func(v float64) float64 { return px + (v-xmin)/(xmax-xmin)*pw }

	// Grid and axes.
	for _, t := range yticks {
		yy := ymap(t)
		b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", px, yy, px+pw, yy)
		b.text(px-6, yy+4, "end", 11, "normal", "#444", yf(t))
	}
	if len(l.XCategories) > 0 {
		for i, c := range l.XCategories {
			b.text(xmap(float64(i)), py+ph+16, "middle", 11, "normal", "#444", c)
		}
	} else {
		for _, t := range niceTicks(xmin, xmax, 8) {
			if t < xmin || t > xmax {
				continue
			}
			xx := xmap(t)
			b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#f0f0f0"/>`+"\n", xx, py, xx, py+ph)
			b.text(xx, py+ph+16, "middle", 11, "normal", "#444", xf(t))
		}
	}
	b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", px, py, pw, ph)
	b.text(px+pw/2, py+ph+34, "middle", 12, "normal", "#333", l.XLabel)
	b.f(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12" fill="#333" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		x+16, py+ph/2, x+16, py+ph/2, esc(l.YLabel))

	for si, s := range l.Series {
		color := Palette[si%len(Palette)]
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				b.f(`<polyline fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="%s"/>`+"\n", color, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		n := min(len(s.X), len(s.Y))
		prevY := math.NaN()
		for i := range n {
			if math.IsNaN(s.X[i]) || math.IsNaN(s.Y[i]) || (l.LogY && s.Y[i] <= 0) {
				flush()
				prevY = math.NaN()
				continue
			}
			xx, yy := xmap(s.X[i]), ymap(s.Y[i])
			if s.Steps && !math.IsNaN(prevY) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xx, prevY))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xx, yy))
			prevY = yy
			if n <= 12 {
				b.f(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", xx, yy, color)
			}
		}
		flush()
	}
	if l.LegendLeft {
		legendLeft(b, px, py, names(l.Series))
	} else {
		legend(b, px+pw, py, names(l.Series))
	}
}

func names(ss []Series) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

// legend writes the series names right-aligned at the top of the plot.
func legend(b *builder, right, top float64, names []string) {
	y := top + 14
	for i, n := range names {
		if n == "" {
			continue
		}
		w := 7*float64(len([]rune(n))) + 24
		x := right - w - 6
		b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="16" fill="#ffffff" fill-opacity="0.85"/>`+"\n", x-4, y-12, w+4)
		b.f(`<rect x="%.1f" y="%.1f" width="14" height="4" fill="%s"/>`+"\n", x, y-6, Palette[i%len(Palette)])
		b.text(x+20, y, "start", 11, "normal", "#222", n)
		y += 16
	}
}

// legendLeft writes the series names at the top left of the plot.
func legendLeft(b *builder, left, top float64, names []string) {
	y := top + 14
	for i, n := range names {
		if n == "" {
			continue
		}
		x := left + 10
		b.f(`<rect x="%.1f" y="%.1f" width="14" height="4" fill="%s"/>`+"\n", x, y-6, Palette[i%len(Palette)])
		b.text(x+20, y, "start", 11, "normal", "#222", n)
		y += 16
	}
}

func (c *Bars) draw(b *builder, x, y, w, h float64) {
	yf := c.YFormat
	if yf == nil {
		yf = Number
	}
	px, py, pw, ph := x+padLeft, y+padTop, w-padLeft-padRight, h-padTop-padBottom
	b.text(x+w/2, y+16, "middle", 13, "bold", "#222", c.Title)
	ymax := 0.0
	for _, g := range c.Groups {
		for _, v := range g.Values {
			if !math.IsNaN(v) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	if ymax <= 0 || len(c.Groups) == 0 {
		b.text(px+pw/2, py+ph/2, "middle", 12, "normal", "#888", "no data")
		return
	}
	ticks := niceTicks(0, ymax*1.12, 5)
	top := ticks[len(ticks)-1]
	ymap := func(v float64) float64 { return py + ph - v/top*ph }
	for _, t := range ticks {
		yy := ymap(t)
		b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", px, yy, px+pw, yy)
		b.text(px-6, yy+4, "end", 11, "normal", "#444", yf(t))
	}
	b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", px, py, pw, ph)
	b.f(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12" fill="#333" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		x+16, py+ph/2, x+16, py+ph/2, esc(c.YLabel))
	gw := pw / float64(len(c.Groups))
	nb := max(len(c.SeriesNames), 1)
	bw := math.Min(gw*0.8/float64(nb), 90)
	for gi, g := range c.Groups {
		gx := px + gw*float64(gi) + (gw-bw*float64(nb))/2
		for si, v := range g.Values {
			if math.IsNaN(v) || si >= nb {
				continue
			}
			bx, by := gx+bw*float64(si), ymap(v)
			b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", bx+2, by, bw-4, py+ph-by, Palette[si%len(Palette)])
			label := yf(v)
			if si < len(g.Notes) && g.Notes[si] != "" {
				label += " " + g.Notes[si]
			}
			b.text(bx+bw/2, by-4, "middle", 11, "normal", "#222", label)
		}
		b.text(px+gw*float64(gi)+gw/2, py+ph+16, "middle", 12, "normal", "#333", g.Label)
	}
	legend(b, px+pw, py, c.SeriesNames)
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v < hi+step*0.999; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

type builder struct{ strings.Builder }

func (b *builder) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

func (b *builder) text(x, y float64, anchor string, size int, weight, color, s string) {
	if s == "" {
		return
	}
	b.f(`<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d" font-weight="%s" fill="%s">%s</text>`+"\n", x, y, anchor, size, weight, color, esc(s))
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func esc(s string) string { return escaper.Replace(s) }
