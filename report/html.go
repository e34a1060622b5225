package report

import (
	"bufio"
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

// page is what the template renders: the report's header, the overview
// when the page has it, and the sections of its tenants.
type page struct {
	*Snapshot
	Generator string
	CSS       template.CSS
	// Title is the page's title and heading.
	Title string
	// Overview lists every tenant of the snapshot, worst first, each with
	// the link to its section; nil on a tenant's own page.
	Overview []overviewRow
	// Sections are the tenant sections of the page, in the overview's order.
	Sections []tenantPage
	// OverviewFile is the file of the overview, on a tenant's own page.
	OverviewFile string
}

// overviewRow is one tenant's row of the overview.
type overviewRow struct {
	*Tenant
	// Href links to the tenant's section.
	Href string
}

// tenantPage is one tenant's part of the page: its snapshot and its
// charts, each with the days of its table.
type tenantPage struct {
	*Tenant
	// Back links to the tenant's row of the overview.
	Back         string
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
	// Scans are the scans the coverage table lists: those that need a
	// look first, at most MaxRows; ScansLeft counts the others.
	Scans     []Coverage
	ScansLeft int
}

// dayRow is one day of the fleet tables; Fleet is nil on a day without a
// successful sync.
type dayRow struct {
	Day    time.Time
	Fleet  *FleetDay
	Counts []int // per RolloutSeries
}

var pageTmpl = template.Must(template.New("report").Funcs(templateFuncs).Parse(pageTemplate))

// WriteHTML writes the report of s as one self-contained HTML page: its
// style inline, its charts inline SVG, no script, nothing fetched, and
// every control character of the data shown as its escape. It opens with
// the overview of every tenant, worst first, each row linking to the
// tenant's section below. generator names the program that made it, for
// the page's provenance.
func WriteHTML(w io.Writer, s *Snapshot, generator string) error {
	p := newPage(s, generator)
	for i := range s.Tenants {
		t := &s.Tenants[i]
		p.Overview = append(p.Overview, overviewRow{Tenant: t, Href: "#" + sectionID(t.ID)})
		tp, err := newTenantPage(t, s, "#"+rowID(t.ID))
		if err != nil {
			return err
		}
		p.Sections = append(p.Sections, tp)
	}
	return p.write(w)
}

// IndexFile is the name of the overview among the files of a report
// written as a directory (see Files).
const IndexFile = "index.html"

// File is one file of a report written as a directory: its name in the
// directory, and how to write it.
type File struct {
	Name  string
	Write func(io.Writer) error
}

// Files are the files of the report of s written as a directory, for
// hundreds of tenants: IndexFile, the overview linking to one file per
// tenant, each linking back to its row; each self-contained as the report
// of WriteHTML is. Each file is rendered when written, so that only one
// tenant's charts are in memory at a time.
func Files(s *Snapshot, generator string) []File {
	names := tenantFiles(s.Tenants)
	index := newPage(s, generator)
	files := []File{{Name: IndexFile, Write: index.write}}
	for i := range s.Tenants {
		t := &s.Tenants[i]
		index.Overview = append(index.Overview, overviewRow{Tenant: t, Href: names[i]})
		files = append(files, File{Name: names[i], Write: func(w io.Writer) error {
			p := newPage(s, generator)
			p.Title = "Scan agents report – " + t.Title()
			tp, err := newTenantPage(t, s, IndexFile+"#"+rowID(t.ID))
			if err != nil {
				return err
			}
			p.Sections, p.OverviewFile = []tenantPage{tp}, IndexFile
			return p.write(w)
		}})
	}
	return files
}

// tenantFiles names the file of each tenant: "tenant-" and its id, any
// character but lower case letters, digits, dots and dashes replaced, made
// unique.
func tenantFiles(tenants []Tenant) []string {
	names := make([]string, len(tenants))
	taken := map[string]bool{IndexFile: true}
	for i, t := range tenants {
		base := "tenant-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
				return r
			}
			return '_'
		}, strings.ToLower(t.ID))
		name := base + ".html"
		for n := 2; taken[name]; n++ {
			name = fmt.Sprintf("%s-%d.html", base, n)
		}
		taken[name], names[i] = true, name
	}
	return names
}

func sectionID(tenant string) string { return "tenant-" + tenant }
func rowID(tenant string) string     { return "overview-" + tenant }

func newPage(s *Snapshot, generator string) *page {
	p := &page{Snapshot: s, Generator: generator, CSS: template.CSS(pageCSS), Title: "Scan agents report"}
	if s.Tenant != "" && len(s.Tenants) == 1 {
		p.Title += " – " + s.Tenants[0].Title()
	}
	return p
}

// write renders the page to w through a buffer: the template writes each
// of its pieces on its own, a system call each to a file.
func (p *page) write(w io.Writer) error {
	b := bufio.NewWriterSize(w, 64<<10)
	vw := &visibleControls{w: b}
	if err := pageTmpl.Execute(vw, p); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := vw.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func newTenantPage(t *Tenant, s *Snapshot, back string) (tenantPage, error) {
	var fleetDays, syncDays []time.Time
	for _, d := range t.Days {
		fleetDays = append(fleetDays, d.Day)
	}
	for _, d := range t.SyncDays {
		syncDays = append(syncDays, d.Day)
	}
	tp := tenantPage{Tenant: t, Back: back, Axis: dayAxis(fleetDays, syncDays), LatestDay: t.Glance()}
	tp.Scans, tp.ScansLeft = scansToList(t.Coverage, s.MaxRows, healthyScansListed)
	if len(tp.Axis) == 0 {
		return tp, nil
	}
	var err error
	if tp.RolloutChart, err = rolloutChart(t, tp.Axis, versionColors(s.Versions)); err != nil {
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
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	// tsAfter writes t as ts does, less its date when it is that of
	// before.
	"tsAfter": func(t time.Time, before *time.Time) string {
		if before != nil && before.UTC().Format(time.DateOnly) == t.UTC().Format(time.DateOnly) {
			return t.UTC().Format("15:04")
		}
		if before != nil && before.UTC().Year() == t.UTC().Year() {
			return t.UTC().Format("01-02 15:04")
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
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
	// age writes how long before the report a time was: "5 h", "3 d".
	"age": age,
	// daysSince writes the whole days from t to the sync ref; "never"
	// for nil.
	"daysSince": func(t *time.Time, ref *Run) string {
		switch {
		case t == nil:
			return "never"
		case ref == nil:
			return ""
		}
		return strconv.Itoa(int(ref.At.Sub(*t).Hours() / 24))
	},
	// targetsShown are the first targets of a scan's list, targetsLeft
	// counts the others.
	"targetsShown": func(s string) []string { t := splitTargets(s); return t[:min(shownTargets, len(t))] },
	"targetsLeft":  func(s string) int { return max(len(splitTargets(s))-shownTargets, 0) },
	"minus":        func(a, b int) int { return a - b },
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

// shownTargets is how many targets of a scan the coverage table shows; the
// others are counted, and listed on hover and in the numbers.
const shownTargets = 3

// splitTargets splits a scan's targets as scan_coverage writes them: IP
// addresses, ranges and host names separated by commas or spaces.
func splitTargets(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' || r == '\n' })
}

// healthyScansListed is how many rows the coverage table fills with
// scans that need no look, after those that do.
const healthyScansListed = 10

// scansToList picks the scans the coverage table lists: those that failed,
// never succeeded or run on a stale or deleted scanner first, in the
// view's order, at most limit (DefaultMaxRows when not positive); then
// others while the list is shorter than healthy. left counts the scans
// not listed.
func scansToList(all []Coverage, limit, healthy int) (scans []Coverage, left int) {
	if limit <= 0 {
		limit = DefaultMaxRows
	}
	for _, c := range all {
		if c.needsLook() && len(scans) < limit {
			scans = append(scans, c)
		}
	}
	for _, c := range all {
		if !c.needsLook() && len(scans) < healthy {
			scans = append(scans, c)
		}
	}
	return scans, len(all) - len(scans)
}
