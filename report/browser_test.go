package report_test

import (
	"context"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/agentsync/agentsync/report"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the browser test's screenshot to docs/report.png")

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

// browser starts a headless Chromium that reaches no network of its own,
// and returns the context of a tab, whose events go to watch.
func browser(t *testing.T, watch func(ev any)) context.Context {
	t.Helper()
	path := chromiumPath(t)
	// Its profile and its temporary files (a singleton socket it may leave
	// behind) go in directories removed after it stopped.
	profile, tmp := t.TempDir(), t.TempDir()
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
		chromedp.WindowSize(1200, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithListener(watch))
	t.Cleanup(cancelTab)
	return ctx
}

// drawnChart is what the page's chart drew, as the browser laid it out.
type drawnChart struct {
	ID     string  `json:"id"`
	Kind   string  `json:"kind"`
	Want   int     `json:"want"`
	Drawn  int     `json:"drawn"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// countMarks counts, in each chart, the marks the browser rendered in the
// colours of its series: bars with an area, or points on the lines.
const countMarks = `(() => {
  const css = c => { const d = document.createElement('i'); d.style.color = c; document.body.appendChild(d);
                     const v = getComputedStyle(d).color; d.remove(); return v; };
  return Array.from(document.querySelectorAll('figure.chart')).map(f => {
    const colors = f.dataset.colors.split(' ').map(css);
    const svg = f.querySelector('svg');
    let drawn = 0;
    if (f.dataset.kind === 'bar') {
      for (const p of svg.querySelectorAll('path')) {
        const b = p.getBBox();
        if (colors.includes(getComputedStyle(p).fill) && b.width > 0 && b.height > 0) drawn++;
      }
    } else {
      for (const c of svg.querySelectorAll('circle')) {
        if (colors.includes(getComputedStyle(c).stroke) && c.getBBox().width > 0) drawn++;
      }
    }
    const r = svg.getBoundingClientRect();
    return {id: f.id, kind: f.dataset.kind, want: +f.dataset.points, drawn, width: r.width, height: r.height};
  });
})()`

// TestReportInABrowser opens the report file in headless Chromium: no
// console error, no request but the file itself, every chart drew each of
// its data points, and it prints. It saves a screenshot (docs/report.png
// with -update-screenshot).
func TestReportInABrowser(t *testing.T) {
	t.Parallel()
	pool, synced := setup(t)
	_, html := render(t, pool, report.Options{Now: synced.End.Add(time.Hour)})
	path := filepath.Join(t.ArtifactDir(), "report.html")
	if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	fileURL := (&url.URL{Scheme: "file", Path: path}).String()

	var mu sync.Mutex
	var requests, problems []string
	ctx := browser(t, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				problems = append(problems, "console "+string(e.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, string(e.Entry.Source)+": "+e.Entry.Text)
			}
		}
	})

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1200, 1300),
		chromedp.Navigate(fileURL),
		chromedp.WaitReady(chromedp.CSS("footer")),
	); err != nil {
		t.Fatalf("open the report in chromium: %v", err)
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]drawnChart](countMarks))
	if err != nil {
		t.Fatalf("count the charts' marks: %v", err)
	}
	screenshot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	page, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of the whole page: %v", err)
	}
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperSize{Width: 8.27, Height: 11.69})))
	if err != nil {
		t.Fatalf("print: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range requests {
		if r != fileURL {
			t.Errorf("the report requested %s", r)
		}
	}
	if len(requests) == 0 {
		t.Error("no request seen, not even the file's: the test does not watch the network")
	}
	for _, p := range problems {
		t.Errorf("the browser reports %s", p)
	}

	if len(charts) != 3 {
		t.Errorf("%d charts, want 3 (roll-out, stale, sync health)", len(charts))
	}
	for _, c := range charts {
		if c.Want == 0 || c.Drawn != c.Want {
			t.Errorf("chart %s (%s): drew %d of %d data points", c.ID, c.Kind, c.Drawn, c.Want)
		}
		if c.Width < 600 || c.Height < 150 {
			t.Errorf("chart %s is %.0f×%.0f pixels: too small to read", c.ID, c.Width, c.Height)
		}
	}
	if !strings.HasPrefix(string(pdf), "%PDF") {
		t.Error("printing the report made no PDF")
	}

	for name, b := range map[string][]byte{"report.png": screenshot, "report-page.png": page, "report.pdf": pdf} {
		shot := filepath.Join(t.ArtifactDir(), name)
		if err := os.WriteFile(shot, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved %s", shot)
	}
	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join("..", "docs", "report.png"), screenshot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
