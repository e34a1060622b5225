package report

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"time"

	"github.com/go-analyze/charts"
)

// The charts are drawn by github.com/go-analyze/charts as SVG on the
// server: the report needs no script, fetches nothing and prints as sharp
// as it shows.

// Chart sizes, in SVG user units; the page scales them to its width.
const (
	chartWidth  = 1000
	chartHeight = 300
	// chartFontSize is the size of the axis labels, in points.
	chartFontSize = 10.5
)

// chart is one picture of a report, with what the browser test checks it
// drew.
type chart struct {
	// ID names the chart in the page (and its table).
	ID string
	// Kind is "bar" or "line".
	Kind   string
	Series []chartSeries
	// Points counts the values drawn: the non-zero bars, or the points of
	// the lines.
	Points int
	SVG    template.HTML
}

// chartSeries is one series of a chart: its name and its colour as CSS
// writes it.
type chartSeries struct {
	Name, Color string
	// unversioned marks the roll-out's series of agents without a
	// client version.
	unversioned bool
}

// Colours: Tableau 10, distinguishable by most colour-blind readers and
// in greyscale print by their lightness.
var (
	palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948",
		"#76b7b2", "#ff9da7", "#9c755f", "#e15759", "#bab0ac"}
	colorSucceeded = "#59a14f"
	colorFailed    = "#e15759"
	colorStale     = "#f28e2b"
	colorNeverSeen = "#79706e"
	colorNoVersion = "#bab0ac"
)

// theme is the charts' look: the page's, white, with quiet axes.
func theme(series []chartSeries) charts.ColorPalette {
	colors := make([]charts.Color, len(series))
	for i, s := range series {
		colors[i] = charts.ParseColor(s.Color)
	}
	return charts.MakeTheme(charts.ThemeOption{
		BackgroundColor:    charts.ColorWhite,
		TextColor:          charts.ParseColor("#333333"),
		AxisStrokeColor:    charts.ParseColor("#888888"),
		AxisSplitLineColor: charts.ParseColor("#e6e6e6"),
		SeriesColors:       colors,
	})
}

// dayAxis returns every UTC day from the first to the last of days, so
// that a day without data shows as a gap rather than disappearing.
func dayAxis(days ...[]time.Time) []time.Time {
	var first, last time.Time
	for _, ds := range days {
		for _, d := range ds {
			if first.IsZero() || d.Before(first) {
				first = d
			}
			if d.After(last) {
				last = d
			}
		}
	}
	if first.IsZero() {
		return nil
	}
	var axis []time.Time
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		axis = append(axis, d)
	}
	return axis
}

// dayLabels names the days of an axis for its labels.
func dayLabels(axis []time.Time) []string {
	labels := make([]string, len(axis))
	for i, d := range axis {
		labels[i] = d.Format("Jan 2")
	}
	return labels
}

// dayIndex maps each day of axis to its position.
func dayIndex(axis []time.Time) map[time.Time]int {
	idx := make(map[time.Time]int, len(axis))
	for i, d := range axis {
		idx[d] = i
	}
	return idx
}

// nullSeries returns n values that draw nothing.
func nullSeries(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = charts.GetNullValue()
	}
	return v
}

// barChart draws values (one row per series) as bars stacked per day.
func barChart(id string, axis []time.Time, series []chartSeries, values [][]float64, height int) (chart, error) {
	c := chart{ID: id, Kind: "bar", Series: series}
	for _, row := range values {
		for _, v := range row {
			if v != charts.GetNullValue() && v != 0 {
				c.Points++
			}
		}
	}
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.Name
	}
	opt := charts.NewBarChartOptionWithData(values)
	opt.Theme = theme(series)
	opt.StackSeries = charts.Ptr(true)
	opt.Padding = charts.NewBox(10, 10, 20, 10)
	opt.CategoryAxis.Labels = dayLabels(axis)
	opt.Legend.SeriesNames = names
	opt.Legend.Show = charts.Ptr(false)
	opt.CategoryAxis.LabelCount = dayLabelCount(len(axis))
	opt.CategoryAxis.LabelFontStyle = charts.NewFontStyleWithSize(chartFontSize)
	opt.ValueAxis = []charts.ValueAxisOption{countAxis(stackedMax(values))}
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: chartWidth, Height: height})
	if err := p.BarChart(opt); err != nil {
		return c, fmt.Errorf("draw %s: %w", id, err)
	}
	return c.withSVG(p)
}

// lineChart draws values (one row per series) as lines over the days.
func lineChart(id string, axis []time.Time, series []chartSeries, values [][]float64) (chart, error) {
	c := chart{ID: id, Kind: "line", Series: series}
	for _, row := range values {
		for _, v := range row {
			if v != charts.GetNullValue() {
				c.Points++
			}
		}
	}
	opt := charts.NewLineChartOptionWithData(values)
	opt.Theme = theme(series)
	opt.Padding = charts.NewBox(10, 10, 20, 10)
	opt.XAxis.Labels = dayLabels(axis)
	opt.Legend.Show = charts.Ptr(false)
	opt.XAxis.LabelCount = dayLabelCount(len(axis))
	opt.XAxis.LabelFontStyle = charts.NewFontStyleWithSize(chartFontSize)
	opt.YAxis = []charts.YAxisOption{countAxis(seriesMax(values))}
	opt.LineStrokeWidth = 2.5
	opt.Symbol = charts.Symbol{Shape: charts.SymbolCircle, Size: 3}
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: chartWidth, Height: chartHeight})
	if err := p.LineChart(opt); err != nil {
		return c, fmt.Errorf("draw %s: %w", id, err)
	}
	return c.withSVG(p)
}

// dayLabelCount is how many days an axis of n days names: about one a
// week, so that labels never collide.
func dayLabelCount(n int) int {
	return max(2, min(n, 8))
}

// countAxis is a value axis for counts up to top: from 0, in whole steps
// of 1, 2 or 5 times a power of ten, about five of them.
func countAxis(top float64) charts.ValueAxisOption {
	step := 1.0
	for _, m := range []float64{1, 2, 5, 10, 20, 50} {
		step = m
		if top/step <= 5 {
			break
		}
	}
	for top/step > 5 {
		step *= 10
	}
	steps := max(1, math.Ceil(top/step))
	return charts.ValueAxisOption{
		Min:                 charts.Ptr(0.0),
		Max:                 charts.Ptr(steps * step),
		LabelCount:          int(steps) + 1,
		PreferNiceIntervals: charts.Ptr(false),
		LabelFontStyle:      charts.NewFontStyleWithSize(chartFontSize),
		ValueFormatter:      func(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', 0, 64) },
	}
}

// seriesMax is the largest value of values.
func seriesMax(values [][]float64) float64 {
	top := 0.0
	for _, row := range values {
		for _, v := range row {
			if v != charts.GetNullValue() {
				top = max(top, v)
			}
		}
	}
	return top
}

// stackedMax is the largest sum of values at one position.
func stackedMax(values [][]float64) float64 {
	top := 0.0
	if len(values) == 0 {
		return top
	}
	for i := range values[0] {
		sum := 0.0
		for _, row := range values {
			if v := row[i]; v != charts.GetNullValue() {
				sum += v
			}
		}
		top = max(top, sum)
	}
	return top
}

func (c chart) withSVG(p *charts.Painter) (chart, error) {
	b, err := p.Bytes()
	if err != nil {
		return c, fmt.Errorf("render %s: %w", c.ID, err)
	}
	// The library escapes every text it writes (labels come from the
	// data), so its SVG is safe to inline.
	c.SVG = template.HTML(b)
	return c, nil
}

// rolloutChart stacks, per day, the active agents by Defender client
// version, oldest version at the bottom.
func rolloutChart(t *Tenant, axis []time.Time) (chart, error) {
	idx := dayIndex(axis)
	var series []chartSeries
	var values [][]float64
	for i, v := range t.Versions {
		// The newest version keeps the first colour whatever the period.
		color := palette[(len(t.Versions)-1-i)%len(palette)]
		row := nullSeries(len(axis))
		for _, d := range t.Days {
			row[idx[d.Day]] = float64(d.Versions[v])
		}
		series = append(series, chartSeries{Name: v, Color: color})
		values = append(values, row)
	}
	if unversioned := rolloutUnversioned(t, axis); unversioned != nil {
		series = append([]chartSeries{{Name: "(no version)", Color: colorNoVersion, unversioned: true}}, series...)
		values = append([][]float64{unversioned}, values...)
	}
	return barChart("rollout-"+t.ID, axis, series, values, chartHeight)
}

// rolloutUnversioned is the series of agents without a client version,
// nil when every agent had one.
func rolloutUnversioned(t *Tenant, axis []time.Time) []float64 {
	idx := dayIndex(axis)
	row, any := nullSeries(len(axis)), false
	for _, d := range t.Days {
		row[idx[d.Day]] = float64(d.Unversioned())
		any = any || d.Unversioned() > 0
	}
	if !any {
		return nil
	}
	return row
}

// staleChart draws, per day, the active agents not seen for 7 days and
// those never seen.
func staleChart(t *Tenant, axis []time.Time) (chart, error) {
	idx := dayIndex(axis)
	stale, never := nullSeries(len(axis)), nullSeries(len(axis))
	for _, d := range t.Days {
		stale[idx[d.Day]] = float64(d.Stale7d)
		never[idx[d.Day]] = float64(d.NeverSeen)
	}
	return lineChart("stale-"+t.ID, axis,
		[]chartSeries{{Name: "not seen for 7 days or more", Color: colorStale}, {Name: "never seen", Color: colorNeverSeen}},
		[][]float64{stale, never})
}

// syncChart stacks, per day, the runs that succeeded and failed.
func syncChart(t *Tenant, axis []time.Time) (chart, error) {
	idx := dayIndex(axis)
	ok, failed := make([]float64, len(axis)), make([]float64, len(axis))
	for _, d := range t.SyncDays {
		ok[idx[d.Day]] = float64(d.Succeeded)
		failed[idx[d.Day]] = float64(d.Failed)
	}
	return barChart("syncs-"+t.ID, axis,
		[]chartSeries{{Name: "succeeded", Color: colorSucceeded}, {Name: "failed", Color: colorFailed}},
		[][]float64{ok, failed}, chartHeight*2/3)
}
