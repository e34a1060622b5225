package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var pageTemplate string

//go:embed report.css
var pageCSS string

// page is what the template renders.
type page struct {
	*Snapshot
	Generator string
	CSS       template.CSS
	Tenants   []tenantPage
}

// tenantPage is one tenant's part of the page: its snapshot and its
// charts, each with the days of its table.
type tenantPage struct {
	*Tenant
	Axis         []time.Time
	RolloutChart chart
	StaleChart   chart
	SyncChart    chart
	// DayRows are the rows of the fleet tables, one per day of Axis.
	DayRows []dayRow
	// SyncRows are the rows of the sync table, one per day of Axis.
	SyncRows []SyncDay
	// RolloutSeries names the columns of the roll-out table, as the chart
	// stacks them.
	RolloutSeries []chartSeries
	LatestDay     *FleetDay
}

// dayRow is one day of the fleet tables; Fleet is nil on a day without a
// successful sync.
type dayRow struct {
	Day    time.Time
	Fleet  *FleetDay
	Counts []int // per RolloutSeries
}

// WriteHTML writes the report of s as one self-contained HTML page: its
// style inline, its charts inline SVG, no script, nothing fetched, and
// every control character of the data shown as its escape.
// generator names the program that made it, for the page's provenance.
func WriteHTML(w io.Writer, s *Snapshot, generator string) error {
	p := page{Snapshot: s, Generator: generator, CSS: template.CSS(pageCSS)}
	for i := range s.Tenants {
		tp, err := newTenantPage(&s.Tenants[i])
		if err != nil {
			return err
		}
		p.Tenants = append(p.Tenants, tp)
	}
	tmpl, err := template.New("report").Funcs(templateFuncs).Parse(pageTemplate)
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	vw := &visibleControls{w: w}
	if err := tmpl.Execute(vw, p); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := vw.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func newTenantPage(t *Tenant) (tenantPage, error) {
	var fleetDays, syncDays []time.Time
	for _, d := range t.Days {
		fleetDays = append(fleetDays, d.Day)
	}
	for _, d := range t.SyncDays {
		syncDays = append(syncDays, d.Day)
	}
	tp := tenantPage{Tenant: t, Axis: dayAxis(fleetDays, syncDays)}
	if len(t.Days) > 0 {
		tp.LatestDay = &t.Days[len(t.Days)-1]
	}
	if len(tp.Axis) == 0 {
		return tp, nil
	}
	var err error
	if tp.RolloutChart, err = rolloutChart(t, tp.Axis); err != nil {
		return tp, err
	}
	if tp.StaleChart, err = staleChart(t, tp.Axis); err != nil {
		return tp, err
	}
	if tp.SyncChart, err = syncChart(t, tp.Axis); err != nil {
		return tp, err
	}
	tp.RolloutSeries = tp.RolloutChart.Series
	fleet := map[time.Time]*FleetDay{}
	for i := range t.Days {
		fleet[t.Days[i].Day] = &t.Days[i]
	}
	syncs := map[time.Time]SyncDay{}
	for _, d := range t.SyncDays {
		syncs[d.Day] = d
	}
	for _, day := range tp.Axis {
		row := dayRow{Day: day, Fleet: fleet[day]}
		if row.Fleet != nil {
			for _, s := range tp.RolloutSeries {
				if s.unversioned {
					row.Counts = append(row.Counts, row.Fleet.Unversioned())
				} else {
					row.Counts = append(row.Counts, row.Fleet.Versions[s.Name])
				}
			}
		}
		tp.DayRows = append(tp.DayRows, row)
		sd := syncs[day]
		sd.Day = day
		tp.SyncRows = append(tp.SyncRows, sd)
	}
	return tp, nil
}

var templateFuncs = template.FuncMap{
	// ts writes a time in UTC to the minute.
	"ts": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04")
		}
		return fmt.Sprint(t)
	},
	"date":    func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"weekday": func(t time.Time) string { return t.UTC().Format("Mon") },
	// pct writes part of whole as a whole percentage.
	"pct": func(part, whole int) string {
		if whole == 0 {
			return "–"
		}
		return strconv.Itoa((part*100+whole/2)/whole) + "%"
	},
	"str": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"yesno": func(b *bool) string {
		switch {
		case b == nil:
			return "unknown"
		case *b:
			return "yes"
		}
		return "no"
	},
	"tenantTitle": func(t *Tenant) string {
		if t.Name != "" {
			return t.Name
		}
		return t.ID
	},
	"joinNames": func(series []chartSeries) string {
		names := make([]string, len(series))
		for i, s := range series {
			names[i] = s.Name
		}
		return strings.Join(names, " ")
	},
	"joinColors": func(series []chartSeries) string {
		colors := make([]string, len(series))
		for i, s := range series {
			colors[i] = s.Color
		}
		return strings.Join(colors, " ")
	},
	"swatch": func(color string) template.CSS { return template.CSS("background:" + color) },
	"plus":   func(a, b int) int { return a + b },
}
