// Package svgchart draws the benchmark's charts as SVG documents with
// gonum.org/v1/plot: line charts (linear or logarithmic y axis) and grouped
// bar charts, stacked as panels on a page. A browser, GitHub and any image
// viewer show them.
package svgchart

import (
	"bytes"
	"image/color"
	"math"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// palette colours the series of a panel in order.
var palette = []color.Color{rgb(0x1f77b4), rgb(0xff7f0e), rgb(0x2ca02c), rgb(0xd62728), rgb(0x9467bd), rgb(0x8c564b)}

var gridColor = rgb(0xe5e5e5)

func rgb(v uint32) color.Color {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
}

// px is one CSS pixel: sizes here are in pixels, as a browser shows them.
const px = vg.Inch / 96

// Format turns an axis or bar value into text.
type Format func(float64) string

// Panel is one chart on a page.
type Panel interface {
	// Height is the panel's height in pixels.
	Height() int
	draw(c draw.Canvas)
}

// Page lays out panels one below the other, width pixels wide, under a title
// and a subtitle (which may be empty), and returns the SVG document.
func Page(title, subtitle string, width int, panels ...Panel) []byte {
	head := 40
	if subtitle != "" {
		head += 18
	}
	height := head
	for _, p := range panels {
		height += p.Height() + 20
	}
	w, h := vg.Length(width)*px, vg.Length(height)*px
	c := vgsvg.New(w, h)
	page := draw.New(c)
	page.SetColor(color.White)
	page.Fill(page.Rectangle.Path())
	// The layout counts pixels from the top, the canvas from the bottom.
	fromTop := func(y int) vg.Length { return h - vg.Length(y)*px }
	page.FillText(centered(17, xfont.WeightBold), vg.Point{X: w / 2, Y: fromTop(26)}, title)
	if subtitle != "" {
		page.FillText(centered(12, xfont.WeightNormal), vg.Point{X: w / 2, Y: fromTop(46)}, subtitle)
	}
	y := head
	for _, p := range panels {
		// A margin of 8 pixels on the left, 24 on the right.
		area := vg.Rectangle{Min: vg.Point{X: 8 * px, Y: fromTop(y + p.Height())}, Max: vg.Point{X: w - 24*px, Y: fromTop(y)}}
		p.draw(draw.Canvas{Canvas: c, Rectangle: area})
		y += p.Height() + 20
	}
	var b bytes.Buffer
	_, _ = c.WriteTo(&b) // a bytes.Buffer takes every write
	return b.Bytes()
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

func orNumber(f Format) Format {
	if f == nil {
		return Number
	}
	return f
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

func (l *Line) draw(c draw.Canvas) {
	usable := func(x, y float64) bool {
		return !math.IsNaN(x) && !math.IsInf(x, 0) && !math.IsNaN(y) && !math.IsInf(y, 0) && (!l.LogY || y > 0)
	}
	p := newPlot(l.Title, l.XLabel, l.YLabel)
	points := 0
	for si, s := range l.Series {
		n := min(len(s.X), len(s.Y))
		style := draw.LineStyle{Color: palette[si%len(palette)], Width: 2 * px}
		// One line per run of usable points: a NaN is a gap.
		var run plotter.XYs
		flush := func() {
			if len(run) > 1 {
				line := &plotter.Line{XYs: run, LineStyle: style}
				if s.Steps {
					line.StepStyle = plotter.PostStep
				}
				p.Add(line)
			}
			if len(run) > 0 && n <= 12 {
				dots := &plotter.Scatter{XYs: run, GlyphStyle: draw.GlyphStyle{Color: style.Color, Radius: 3 * px, Shape: draw.CircleGlyph{}}}
				p.Add(dots)
			}
			run = nil
		}
		for i := range n {
			if !usable(s.X[i], s.Y[i]) {
				flush()
				continue
			}
			run = append(run, plotter.XY{X: s.X[i], Y: s.Y[i]})
			points++
		}
		flush()
		if s.Name != "" {
			p.Legend.Add(s.Name, &plotter.Line{LineStyle: style})
		}
	}
	if points == 0 {
		noData(c, l.Title)
		return
	}
	if len(l.XCategories) > 0 {
		p.NominalX(l.XCategories...)
		p.X.Min, p.X.Max = -0.5, float64(len(l.XCategories))-0.5
	} else {
		p.X.Tick.Marker = formatted(plot.DefaultTicks{}, orNumber(l.XFormat))
	}
	if l.LogY {
		// Whole decades, each one a labelled tick.
		lo, hi := math.Floor(math.Log10(p.Y.Min)), math.Ceil(math.Log10(p.Y.Max))
		if hi == lo {
			hi++
		}
		p.Y.Min, p.Y.Max = math.Pow(10, lo), math.Pow(10, hi)
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = decades(lo, hi, orNumber(l.YFormat))
	} else {
		p.Y.Min = math.Min(0, p.Y.Min)
		if p.Y.Max == p.Y.Min {
			p.Y.Max++ // a flat line at the bottom, as a zero lag is
		}
		p.Y.Tick.Marker = formatted(plot.DefaultTicks{}, orNumber(l.YFormat))
	}
	p.Legend.Left = l.LegendLeft
	p.Draw(c)
}

func (c *Bars) draw(dc draw.Canvas) {
	yf := orNumber(c.YFormat)
	ymax := 0.0
	for _, g := range c.Groups {
		for _, v := range g.Values {
			if !math.IsNaN(v) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	if ymax <= 0 || len(c.Groups) == 0 {
		noData(dc, c.Title)
		return
	}
	p := newPlot(c.Title, "", c.YLabel)
	labels := make([]string, len(c.Groups))
	for gi, g := range c.Groups {
		labels[gi] = g.Label
	}
	p.NominalX(labels...)
	nb := max(len(c.SeriesNames), 1)
	// Each group gets 80% of its share of the width (the plot area is the
	// panel less about 100 pixels of axes), at most 90 pixels a bar.
	share := (dc.Max.X - dc.Min.X - 100*px) / vg.Length(len(c.Groups))
	bw := min(share*0.8/vg.Length(nb), 90*px)
	for si := range nb {
		heights := make(plotter.Values, len(c.Groups)) // no bar: height 0
		var tops plotter.XYs
		var notes []string
		for gi, g := range c.Groups {
			if si >= len(g.Values) || math.IsNaN(g.Values[si]) {
				continue
			}
			v := g.Values[si]
			heights[gi] = v
			label := yf(v)
			if si < len(g.Notes) && g.Notes[si] != "" {
				label += " " + g.Notes[si]
			}
			tops, notes = append(tops, plotter.XY{X: float64(gi), Y: v}), append(notes, label)
		}
		offset := (vg.Length(si) - vg.Length(nb-1)/2) * bw
		bars := &plotter.BarChart{Values: heights, Width: bw - 4*px, Color: palette[si%len(palette)], Offset: offset}
		bars.LineStyle.Width = 0
		p.Add(bars)
		if si < len(c.SeriesNames) && c.SeriesNames[si] != "" {
			p.Legend.Add(c.SeriesNames[si], bars)
		}
		text := &plotter.Labels{XYs: tops, Labels: notes, Offset: vg.Point{X: offset, Y: 4 * px}}
		for range notes {
			text.TextStyle = append(text.TextStyle, centered(11, xfont.WeightNormal))
		}
		p.Add(text)
	}
	p.X.Min, p.X.Max = -0.5, float64(len(c.Groups))-0.5
	p.Y.Min, p.Y.Max = 0, ymax*1.12 // room for the labels above the bars
	p.Y.Tick.Marker = formatted(plot.DefaultTicks{}, yf)
	p.Draw(dc)
}

// newPlot returns a plot with the house fonts, a light grid and the legend
// at the top.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	// Only the faces change: plot.New's styles know where their text goes.
	p.Title.TextStyle.Font = face(13, xfont.WeightBold)
	p.X.Label.TextStyle.Font = face(12, xfont.WeightNormal)
	p.Y.Label.TextStyle.Font = face(12, xfont.WeightNormal)
	p.X.Tick.Label.Font = face(11, xfont.WeightNormal)
	p.Y.Tick.Label.Font = face(11, xfont.WeightNormal)
	p.Legend.TextStyle.Font = face(11, xfont.WeightNormal)
	p.Legend.Top = true
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = gridColor, gridColor
	p.Add(grid)
	return p
}

// noData draws a panel's title and "no data" where its chart would be.
func noData(c draw.Canvas, title string) {
	top := vg.Point{X: c.Center().X, Y: c.Max.Y - 16*px}
	c.FillText(centered(13, xfont.WeightBold), top, title)
	c.FillText(centered(12, xfont.WeightNormal), c.Center(), "no data")
}

// face is the sans-serif font, size in pixels.
func face(size vg.Length, weight xfont.Weight) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Weight: weight, Size: size * px}
}

// centered is black text in the sans-serif face, centred on its point.
func centered(size vg.Length, weight xfont.Weight) text.Style {
	return text.Style{Color: color.Black, Font: face(size, weight), XAlign: draw.XCenter, Handler: plot.DefaultTextHandler}
}

// decades ticks every power of ten from 10^lo to 10^hi, labelled with f,
// and the multiples between them.
func decades(lo, hi float64, f Format) plot.ConstantTicks {
	var ticks plot.ConstantTicks
	for e := lo; e <= hi; e++ {
		decade := math.Pow(10, e)
		ticks = append(ticks, plot.Tick{Value: decade, Label: f(decade)})
		for m := 2.0; m <= 9 && e < hi; m++ {
			ticks = append(ticks, plot.Tick{Value: m * decade})
		}
	}
	return ticks
}

// formatted labels the major ticks of t with f.
func formatted(t plot.Ticker, f Format) plot.Ticker {
	return plot.TickerFunc(func(min, max float64) []plot.Tick {
		ticks := t.Ticks(min, max)
		for i := range ticks {
			if ticks[i].Label != "" {
				ticks[i].Label = f(ticks[i].Value)
			}
		}
		return ticks
	})
}
