package report

import (
	"fmt"
	"html/template"
	"math"
	"slices"
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
	// Legend lists Series as the legend shows them: for the roll-out,
	// newest version first.
	Legend []chartSeries
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

// Colours. A Defender client version is coloured by how many versions
// newer than it the report shows: the newest the strongest blue, each
// older one paler, those five and more behind in greys. So the newest
// version reads as the one to be on, and a version has the same colour in
// every chart of a report (and in another report whose versions differ
// only in older ones).
var (
	versionShades = []string{"#08306b", "#2b7bba", "#7db3dc", "#b9d5ec", "#dde9f5"}
	// versionGreys alternate for the versions behind the shades, so that
	// two of them stacked stay apart.
	versionGreys   = []string{"#bdbdbd", "#e0e0e0"}
	colorSucceeded = "#59a14f"
	colorFailed    = "#e15759"
	colorStale     = "#f28e2b"
	colorNeverSeen = "#79706e"
	colorNoVersion = "#e5c494"
)

// versionColors maps each version of versions (oldest first) to its colour.
func versionColors(versions []string) map[string]string {
	colors := make(map[string]string, len(versions))
	for i, v := range versions {
		behind := len(versions) - 1 - i
		if behind < len(versionShades) {
			colors[v] = versionShades[behind]
		} else {
			colors[v] = versionGreys[(behind-len(versionShades))%len(versionGreys)]
		}
	}
	return colors
}

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
	c := chart{ID: id, Kind: "bar", Series: series, Legend: series}
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
	bars := visibleBars(values, height)
	opt := charts.NewBarChartOptionWithData(bars)
	opt.Theme = theme(series)
	opt.StackSeries = charts.Ptr(true)
	opt.Padding = charts.NewBox(10, 10, 20, 10)
	opt.CategoryAxis.Labels = dayLabels(axis)
	opt.Legend.SeriesNames = names
	opt.Legend.Show = charts.Ptr(false)
	opt.CategoryAxis.LabelCount = dayLabelCount(len(axis))
	opt.CategoryAxis.LabelFontStyle = charts.NewFontStyleWithSize(chartFontSize)
	opt.ValueAxis = []charts.ValueAxisOption{countAxis(stackedMax(bars))}
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: chartWidth, Height: height})
	if err := p.BarChart(opt); err != nil {
		return c, fmt.Errorf("draw %s: %w", id, err)
	}
	return c.withSVG(p)
}

// visibleBars returns values with every bar that is not zero at least
// two pixels' worth of the axis of a chart height units high: the library
// draws a stacked bar in whole pixels, and one agent of a version among
// hundreds would round to nothing, a version that seems absent that day.
// The chart's table keeps the exact numbers.
func visibleBars(values [][]float64, height int) [][]float64 {
	top := *countAxis(stackedMax(values)).Max
	least := 2 * top / float64(height)
	out := make([][]float64, len(values))
	for i, row := range values {
		out[i] = slices.Clone(row)
		for j, v := range row {
			if v != charts.GetNullValue() && v > 0 && v < least {
				out[i][j] = least
			}
		}
	}
	return out
}

// lineChart draws values (one row per series) as lines over the days.
func lineChart(id string, axis []time.Time, series []chartSeries, values [][]float64) (chart, error) {
	c := chart{ID: id, Kind: "line", Series: series, Legend: series}
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

// minTicks is the fewest labels a value axis has, 0 included: with fewer,
// a reader cannot tell 140 from 260.
const minTicks = 4

// countAxis is a value axis for counts up to top: from 0, in whole steps
// of 1, 2 or 5 times a power of ten, at least minTicks labels and at most
// six, the last one the first round value at or above top.
func countAxis(top float64) charts.ValueAxisOption {
	step, steps := niceSteps(top)
	return charts.ValueAxisOption{
		Min:                 charts.Ptr(0.0),
		Max:                 charts.Ptr(float64(steps) * step),
		LabelCount:          steps + 1,
		PreferNiceIntervals: charts.Ptr(false),
		LabelFontStyle:      charts.NewFontStyleWithSize(chartFontSize),
		ValueFormatter:      func(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', 0, 64) },
	}
}

// niceSteps returns the step of an axis from 0 to top (1, 2 or 5 times a
// power of ten, never below 1: the values are counts) and the number of
// steps, from minTicks-1 to 5.
func niceSteps(top float64) (step float64, steps int) {
	if math.IsNaN(top) || math.IsInf(top, 0) || top < 0 {
		top = 0
	}
	for p := 1.0; ; p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			step = m * p
			if n := int(math.Ceil(top / step)); n <= 5 {
				return step, max(n, minTicks-1)
			}
		}
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
// version, oldest version at the bottom, each version in its colour of
// colors (see versionColors).
func rolloutChart(t *Tenant, axis []time.Time, colors map[string]string) (chart, error) {
	idx := dayIndex(axis)
	var series []chartSeries
	var values [][]float64
	for _, v := range t.Versions {
		color, ok := colors[v]
		if !ok {
			// Not in the report's scale (a snapshot put together by
			// hand): the palest.
			color = versionGreys[len(versionGreys)-1]
		}
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
	c, err := barChart("rollout-"+t.ID, axis, series, values, chartHeight)
	c.Legend = slices.Clone(series)
	slices.Reverse(c.Legend)
	return c, err
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
