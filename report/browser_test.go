package report_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/buildtest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/report"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the browser test's screenshot of the demo's report to docs/report.png")

// The browser tests look at the report as its reader does: the report of
// the real demo (agentsync demo, three simulated tenants), opened in
// headless Chromium at a window 1,000 px wide, and printed on A4.

// readingWidth is the window the report must fit without scrolling
// sideways.
const readingWidth = 1000

// chromiumPath returns Debian's chromium. Without it the test skips, and
// says how to get it, except in CI (CI set), where it fails: .ci/run
// installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; CI must run the browser test (.ci/run installs Debian's chromium)")
	}
	t.Skip("chromium is not installed: the report is not checked in a browser (apt-get install chromium)")
	return ""
}

// tab is a tab of a headless Chromium that reaches no network of its own,
// with what it saw: every request, and any console error or exception.
type tab struct {
	ctx context.Context

	mu                 sync.Mutex
	requests, problems []string
}

func newTab(t *testing.T) *tab {
	t.Helper()
	path := chromiumPath(t)
	// Its profile and its temporary files (a singleton socket it may leave
	// behind) go in directories removed after it stopped, named shortly: the
	// socket's path must fit a Unix socket address (108 bytes), which a
	// directory named after a long test's name does not.
	profile, tmp := shortTempDir(t), shortTempDir(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Env("TMPDIR=" + tmp),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(readingWidth, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tb := &tab{}
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithListener(func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			tb.requests = append(tb.requests, e.Request.URL)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				tb.problems = append(tb.problems, "console "+string(e.Type))
			}
		case *runtime.EventExceptionThrown:
			tb.problems = append(tb.problems, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				tb.problems = append(tb.problems, string(e.Entry.Source)+": "+e.Entry.Text)
			}
		}
	}))
	t.Cleanup(cancelTab)
	tb.ctx = ctx
	return tb
}

// shortTempDir is t.TempDir with a short name, directly in the system's
// temporary directory.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// open shows the file at path in the tab, width px wide, and fails the
// test on any request but the file's and on any problem the browser
// reports.
func (tb *tab) open(t *testing.T, path string, width int64) {
	t.Helper()
	fileURL := (&url.URL{Scheme: "file", Path: path}).String()
	tb.mu.Lock()
	tb.requests, tb.problems = nil, nil
	tb.mu.Unlock()
	if err := chromedp.Do(tb.ctx,
		chromedp.EmulateViewport(width, 1300),
		chromedp.Navigate(fileURL),
		chromedp.WaitReady(chromedp.CSS("footer")),
	); err != nil {
		t.Fatalf("open %s in chromium: %v", filepath.Base(path), err)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, r := range tb.requests {
		if r != fileURL {
			t.Errorf("%s requested %s", filepath.Base(path), r)
		}
	}
	if len(tb.requests) == 0 {
		t.Error("no request seen, not even the file's: the test does not watch the network")
	}
	for _, p := range tb.problems {
		t.Errorf("%s: the browser reports %s", filepath.Base(path), p)
	}
}

func evaluate[T any](t *testing.T, tb *tab, what, js string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// drawnChart is what the page's chart drew, as the browser laid it out.
type drawnChart struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Want   int      `json:"want"`
	Drawn  int      `json:"drawn"`
	Width  float64  `json:"width"`
	Height float64  `json:"height"`
	YTicks []string `json:"yTicks"`
	// Legend maps each series the legend names to its swatch's colour;
	// Names are the series in the legend's order.
	Legend map[string]string `json:"legend"`
	Names  []string          `json:"names"`
	// Fills are the colours of the chart's bars.
	Fills []string `json:"fills"`
}

// readCharts counts, in each chart, the marks the browser rendered in the
// colours of its series (bars with an area, or points on the lines), the
// labels of its value axis (numbers left of the plot), and reads its
// legend.
const readCharts = `(() => {
  const css = c => { const d = document.createElement('i'); d.style.color = c; document.body.appendChild(d);
                     const v = getComputedStyle(d).color; d.remove(); return v; };
  return Array.from(document.querySelectorAll('figure.chart')).map(f => {
    const colors = f.dataset.colors.split(' ').map(css);
    const svg = f.querySelector('svg');
    const box = svg.getBoundingClientRect();
    let drawn = 0;
    const fills = new Set();
    if (f.dataset.kind === 'bar') {
      for (const p of svg.querySelectorAll('path')) {
        const b = p.getBBox(), fill = getComputedStyle(p).fill;
        if (colors.includes(fill) && b.width > 0 && b.height > 0) { drawn++; fills.add(fill); }
      }
    } else {
      for (const c of svg.querySelectorAll('circle')) {
        if (colors.includes(getComputedStyle(c).stroke) && c.getBBox().width > 0) drawn++;
      }
    }
    const yTicks = Array.from(svg.querySelectorAll('text'))
      .filter(t => /^[0-9]+$/.test(t.textContent.trim()) && t.getBoundingClientRect().right < box.left + box.width * 0.08)
      .map(t => t.textContent.trim());
    const legend = {}, names = [];
    for (const li of f.querySelectorAll('.legend li')) {
      legend[li.dataset.series] = getComputedStyle(li.querySelector('.swatch')).backgroundColor;
      names.push(li.dataset.series);
    }
    return {id: f.id, kind: f.dataset.kind, want: +f.dataset.points, drawn, width: box.width, height: box.height,
            yTicks, legend, names, fills: Array.from(fills)};
  });
})()`

// overflowing lists the elements wider than the box they are laid out in:
// content scrolled or cut off sideways, or sticking out of the page.
const overflowing = `(() => {
  const out = [];
  const page = document.documentElement.getBoundingClientRect();
  if (document.documentElement.scrollWidth > window.innerWidth) out.push('the page: ' + document.documentElement.scrollWidth + ' px wide in a window of ' + window.innerWidth);
  for (const e of document.body.querySelectorAll('*')) {
    if (e.closest('details:not([open])') && e.tagName !== 'SUMMARY' && e.tagName !== 'DETAILS') continue;
    const name = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '');
    if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) out.push(name + ': content ' + e.scrollWidth + ' px wide in ' + e.clientWidth);
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > page.right + 1) out.push(name + ': ends at ' + Math.round(r.right) + ' px, the page at ' + Math.round(page.right));
  }
  return out.slice(0, 20);
})()`

// overviewRow is one row of the overview as the browser shows it.
type overviewRow struct {
	Tenant   string `json:"tenant"`
	Href     string `json:"href"`
	Failed   bool   `json:"failed"`
	Active   string `json:"active"`
	OnNewest string `json:"onNewest"`
	Stale    string `json:"stale"`
	Failing  string `json:"failing"`
}

const readOverview = `Array.from(document.querySelectorAll('#overview-table tbody tr')).map(r => ({
  tenant: r.dataset.tenant, href: r.querySelector('a').getAttribute('href'), failed: r.classList.contains('failing'),
  active: r.cells[2].textContent.trim(), onNewest: r.cells[3].textContent.trim(), stale: r.cells[4].textContent.trim(),
  failing: r.cells[6].textContent.trim()}))`

// demoReports runs agentsync demo (built from this repository) on the test
// server, in a database of its own dropped when the test ends, and writes
// its report, and the report of the same database as a directory. It
// returns the demo's report file and the directory.
func demoReports(t *testing.T) (file, dir string) {
	t.Helper()
	work := t.TempDir()
	bin := buildtest.Agentsync(t)
	var b [4]byte
	rand.Read(b[:])
	database := "agentsync_demo_report_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dbtest.ServerURL())
		if err != nil {
			t.Logf("drop %s: %v", database, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+database+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", database, err)
		}
	})
	run := func(databaseURL string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("agentsync %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	file = filepath.Join(work, "demo.html")
	run(dbtest.ServerURL(), "demo", "--demo-database", database, "--report", file)
	u, err := url.Parse(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + database
	dir = filepath.Join(work, "site")
	run(u.String(), "report", "--out-dir", dir, "--since", "31d")
	return file, dir
}

// TestDemoReportInABrowser opens the report of agentsync demo in headless
// Chromium, 1,000 px wide: nothing fetched, no console error, nothing
// wider than its box, every chart drew each of its data points over at
// least four labelled values, each version in one colour, newest first in
// the legends, the tenants worst first; then prints each tenant's page of
// the report as a directory on A4: at most three pages each, no column
// lost. It saves screenshots (and docs/report.png with
// -update-screenshot).
func TestDemoReportInABrowser(t *testing.T) {
	t.Parallel()
	file, dir := demoReports(t)
	tb := newTab(t)
	tb.open(t, file, readingWidth)

	for _, o := range evaluate[[]string](t, tb, "measure the boxes", overflowing) {
		t.Errorf("at %d px: %s", readingWidth, o)
	}
	charts := evaluate[[]drawnChart](t, tb, "read the charts", readCharts)
	if len(charts) != 9 {
		t.Errorf("%d charts, want 3 for each of the demo's 3 tenants", len(charts))
	}
	colors := map[string]string{}
	for _, c := range charts {
		if c.Want == 0 || c.Drawn != c.Want {
			t.Errorf("chart %s (%s): drew %d of %d data points", c.ID, c.Kind, c.Drawn, c.Want)
		}
		if c.Width < 600 || c.Height < 150 {
			t.Errorf("chart %s is %.0f×%.0f pixels: too small to read", c.ID, c.Width, c.Height)
		}
		if len(c.YTicks) < 4 {
			t.Errorf("chart %s labels %q on its value axis; want at least 4 values", c.ID, c.YTicks)
		}
		if !strings.HasPrefix(c.ID, "rollout-") {
			continue
		}
		var versions []string
		for _, name := range c.Names {
			if name == "(no version)" {
				continue
			}
			versions = append(versions, name)
			if seen, ok := colors[name]; ok && seen != c.Legend[name] {
				t.Errorf("version %s is %s in one chart and %s in %s", name, seen, c.Legend[name], c.ID)
			}
			colors[name] = c.Legend[name]
			if !slices.Contains(c.Fills, c.Legend[name]) {
				t.Errorf("chart %s: no bar of version %s in its legend's colour %s (bars: %q)", c.ID, name, c.Legend[name], c.Fills)
			}
		}
		if len(versions) < 2 || !slices.IsSortedFunc(versions, func(a, b string) int { return compareVersions(b, a) }) {
			t.Errorf("chart %s: legend %q; want the versions newest first", c.ID, versions)
		}
	}

	rows := evaluate[[]overviewRow](t, tb, "read the overview", readOverview)
	sections := evaluate[[]string](t, tb, "read the sections", `Array.from(document.querySelectorAll('section.tenant')).map(s => s.id + ' ' + s.querySelector('a.back').getAttribute('href'))`)
	if len(rows) != 3 || len(sections) != 3 {
		t.Fatalf("the overview has %d rows and the report %d tenant sections; want 3 and 3", len(rows), len(sections))
	}
	for i, r := range rows {
		if want := "tenant-" + r.Tenant + " #overview-" + r.Tenant; r.Href != "#tenant-"+r.Tenant || sections[i] != want {
			t.Errorf("overview row %d links to %s; section %d is %q; want the same tenant, linked both ways (%s)", i+1, r.Href, i+1, sections[i], want)
		}
	}
	if !slices.IsSortedFunc(rows, func(a, b overviewRow) int { return compareRows(t, a, b) }) {
		t.Errorf("the overview is not worst first: %+v", rows)
	}
	if rows[0].Failing == "0" {
		t.Errorf("the demo's first tenant has failing scans, and should come first: %+v", rows)
	}

	screenshot, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	page, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(80))
	if err != nil {
		t.Fatalf("screenshot of the whole page: %v", err)
	}
	saveArtifacts(t, map[string][]byte{"report.png": screenshot, "report-page.jpg": page})
	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join("..", "docs", "report.png"), screenshot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The report as a directory: the overview, and one file per tenant,
	// each printed on at most three A4 pages, none wider than the paper.
	tenantFiles, err := filepath.Glob(filepath.Join(dir, "tenant-*.html"))
	if err != nil || len(tenantFiles) != 3 {
		t.Fatalf("the report as a directory has %q, want a file for each of 3 tenants", tenantFiles)
	}
	tb.open(t, filepath.Join(dir, report.IndexFile), readingWidth)
	links := evaluate[[]string](t, tb, "read the index's links", `Array.from(document.querySelectorAll('#overview-table a')).map(a => a.getAttribute('href'))`)
	if len(links) != 3 {
		t.Errorf("index.html links to %q, want the 3 tenants' files", links)
	}
	for _, f := range append([]string{filepath.Join(dir, report.IndexFile)}, tenantFiles...) {
		name := filepath.Base(f)
		if name != report.IndexFile && !slices.Contains(links, name) {
			t.Errorf("index.html does not link to %s", name)
		}
		pdf := printA4(t, tb, f)
		pages := pdfPages(t, pdf)
		if name != report.IndexFile && pages > 3 {
			t.Errorf("%s prints on %d A4 pages, want at most 3", name, pages)
		}
		t.Logf("%s: %d A4 pages", name, pages)
		saveArtifacts(t, map[string][]byte{strings.TrimSuffix(name, ".html") + ".pdf": pdf})
	}
	pdf := printA4(t, tb, file)
	t.Logf("the demo's report: %d A4 pages", pdfPages(t, pdf))
	saveArtifacts(t, map[string][]byte{"report.pdf": pdf})
}

// a4Width is the width of an A4 page less the report's print margins
// (11 mm each side), in CSS pixels.
const a4Width = (210 - 2*11) * 96 * 10 / 254

// printA4 opens path as printed on A4 and checks that nothing is wider
// than the paper, then prints it to PDF.
func printA4(t *testing.T, tb *tab, path string) []byte {
	t.Helper()
	tb.open(t, path, int64(a4Width))
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatalf("emulate print: %v", err)
	}
	for _, o := range evaluate[[]string](t, tb, "measure the printed boxes", overflowing) {
		t.Errorf("%s printed on A4: %s", filepath.Base(path), o)
	}
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: ""}); err != nil {
		t.Fatalf("stop emulating print: %v", err)
	}
	pdf, err := chromedp.Run(tb.ctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperSize{Width: 8.27, Height: 11.69}), chromedp.PDFPreferCSSPageSize()))
	if err != nil {
		t.Fatalf("print %s: %v", filepath.Base(path), err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Fatalf("printing %s made no PDF", filepath.Base(path))
	}
	return pdf
}

// pdfPageObject matches the dictionary of one page of a PDF as Chromium
// writes it (not /Pages, the tree above them).
var pdfPageObject = regexp.MustCompile(`/Type\s*/Page\b`)

// pdfPages counts the pages of a PDF printed by Chromium.
func pdfPages(t *testing.T, pdf []byte) int {
	t.Helper()
	n := len(pdfPageObject.FindAll(pdf, -1))
	if n == 0 {
		t.Fatal("no page found in the PDF")
	}
	return n
}

func saveArtifacts(t *testing.T, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		path := filepath.Join(t.ArtifactDir(), name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved %s", path)
	}
}

// compareRows orders two rows of the overview as the report promises:
// a failed latest sync first, then more failing scans, then a larger share
// of stale agents, then a larger share not on the newest client.
func compareRows(t *testing.T, a, b overviewRow) int {
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.Fields(s + " x")[0], "%"), 64)
		if err != nil {
			t.Errorf("overview cell %q is not a number", s)
		}
		return f
	}
	staleShare := func(r overviewRow) float64 { return num(r.Stale) / max(num(r.Active), 1) }
	switch {
	case a.Failed != b.Failed:
		if a.Failed {
			return -1
		}
		return 1
	case num(a.Failing) != num(b.Failing):
		return int(num(b.Failing) - num(a.Failing))
	case staleShare(a) != staleShare(b):
		if staleShare(a) > staleShare(b) {
			return -1
		}
		return 1
	}
	return int(num(a.OnNewest) - num(b.OnNewest))
}

// compareVersions compares dotted versions part by part, as numbers.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// TestVersionColoursHoldAcrossReports: two reports whose versions differ
// (one has an older version the other lacks) draw the versions they share
// in the same colours, the newest the darkest.
func TestVersionColoursHoldAcrossReports(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	snapshot := func(versions ...string) *report.Snapshot {
		counts := map[string]int{}
		for i, v := range versions {
			counts[v] = 10 * (i + 1)
		}
		active := 0
		for _, n := range counts {
			active += n
		}
		newest := versions[len(versions)-1]
		return &report.Snapshot{GeneratedAt: day.Add(time.Hour), From: day.AddDate(0, 0, -1), Versions: versions, Tenants: []report.Tenant{{
			ID: "contoso.example", Name: "Contoso", Versions: versions,
			Days:     []report.FleetDay{{Day: day, Active: active, Versions: counts, Newest: newest, OnNewest: counts[newest]}},
			SyncDays: []report.SyncDay{{Day: day, Succeeded: 1}},
		}}}
	}
	tb := newTab(t)
	legends := make([]map[string]string, 2)
	for i, s := range []*report.Snapshot{
		snapshot("10.8295.22621.1010", "10.8295.22621.1195", "10.8295.22631.1062"),
		snapshot("10.8210.19045.900", "10.8295.22621.1010", "10.8295.22621.1195", "10.8295.22631.1062"),
	} {
		var b bytes.Buffer
		if err := report.WriteHTML(&b, s, "agentsync dev"); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), fmt.Sprintf("report-%d.html", i))
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		tb.open(t, path, readingWidth)
		charts := evaluate[[]drawnChart](t, tb, "read the charts", readCharts)
		if len(charts) == 0 || !strings.HasPrefix(charts[0].ID, "rollout-") {
			t.Fatalf("report %d has no roll-out chart first: %+v", i, charts)
		}
		legends[i] = charts[0].Legend
		if c := charts[0]; c.Names[0] != "10.8295.22631.1062" || darkness(t, c.Legend[c.Names[0]]) <= darkness(t, c.Legend[c.Names[1]]) {
			t.Errorf("report %d: legend %q in %v; want the newest first, in the darkest colour", i, c.Names, c.Legend)
		}
	}
	for v, c := range legends[0] {
		if legends[1][v] != c {
			t.Errorf("version %s is %s in one report and %s in the other", v, c, legends[1][v])
		}
	}
}

// darkness reads a CSS rgb() colour and returns 765 less the sum of its
// channels.
func darkness(t *testing.T, color string) int {
	t.Helper()
	var r, g, b int
	if _, err := fmt.Sscanf(color, "rgb(%d, %d, %d)", &r, &g, &b); err != nil {
		t.Fatalf("colour %q: %v", color, err)
	}
	return 765 - r - g - b
}
