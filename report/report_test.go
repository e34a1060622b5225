package report_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load/loadtest"
	"github.com/agentsync/agentsync/report"
)

// story is the month the report tests picture: a failed sync, and a day
// whose listing lost most agents, so that deletions were withheld.
var story = loadtest.Story{Name: "Contoso", Agents: 150, Days: 30, FailDay: 15, VanishDay: 22}

// setup fills a new database with story and returns a pool logged in as a
// member of defender_reader, and what was synced.
func setup(t *testing.T) (*pgxpool.Pool, loadtest.Synced) {
	t.Helper()
	pool, synced := syncStories(t, story)
	return pool, synced[0]
}

// syncStories fills a new database with stories and returns a pool logged
// in as a member of defender_reader, and what each story synced.
func syncStories(t *testing.T, stories ...loadtest.Story) (*pgxpool.Pool, []loadtest.Synced) {
	t.Helper()
	url := dbtest.URL(t)
	owner, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	var synced []loadtest.Synced
	for _, s := range stories {
		synced = append(synced, loadtest.Sync(t, owner, s))
	}
	return dbtest.ReaderPool(t, url), synced
}

// render reads the report as defender_reader and renders it.
func render(t *testing.T, pool *pgxpool.Pool, opt report.Options) (*report.Snapshot, string) {
	t.Helper()
	snap, err := report.Read(context.Background(), pool, opt)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := report.WriteHTML(&b, snap, "agentsync dev"); err != nil {
		t.Fatal(err)
	}
	return snap, b.String()
}

// writeReport saves a report in the test's temporary directory.
func writeReport(t *testing.T, html string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportReadsTheStoryAsTheReader(t *testing.T) {
	t.Parallel()
	pool, synced := setup(t)
	snap, html := render(t, pool, report.Options{Now: synced.End.Add(time.Hour)})

	if len(snap.Tenants) != 1 {
		t.Fatalf("%d tenants, want 1", len(snap.Tenants))
	}
	tn := snap.Tenants[0]
	if tn.ID != synced.TenantID || tn.Name != story.Name || tn.Succeeded != story.Days-1 || tn.Failed != 1 {
		t.Errorf("tenant %s %q: %d succeeded, %d failed runs; want %s %q, %d and 1", tn.ID, tn.Name, tn.Succeeded, tn.Failed,
			synced.TenantID, story.Name, story.Days-1)
	}
	if len(tn.Days) != story.Days-1 || len(tn.SyncDays) != story.Days {
		t.Errorf("%d days of fleet and %d of runs; want %d and %d", len(tn.Days), len(tn.SyncDays), story.Days-1, story.Days)
	}
	if len(tn.Versions) < 2 {
		t.Errorf("versions %q: the fleet rolls out new ones", tn.Versions)
	}
	if len(tn.Withheld) != 1 || tn.Withheld[0].RunID != synced.Results[story.VanishDay].RunID {
		t.Errorf("withheld %+v, want the run of day %d", tn.Withheld, story.VanishDay)
	}
	if tn.FirstSync == nil || tn.FirstSync.ID != synced.Results[1].RunID ||
		tn.LastSync == nil || tn.LastSync.ID != synced.Results[story.Days].RunID {
		t.Errorf("first and last sync %+v %+v, want the runs of days 1 and %d", tn.FirstSync, tn.LastSync, story.Days)
	}
	if tn.ChangesTotal == 0 || len(tn.Changes) == 0 {
		t.Error("no change in a month of a drifting fleet")
	}
	if !snap.HasScanCoverage && strings.Contains(html, "Scan coverage") {
		t.Error("the report has a scan coverage section, but the database has no defender.scan_coverage")
	}
	for _, want := range []string{"Defender client versions, per day", "Stale agents, per day", "Sync health",
		"Latest changes", "Stale agents at the latest sync", "Deletions withheld", "simulated listing broken off"} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// TestReportNeedsNothingFromElsewhere: the file names no other host and
// loads nothing: no script, no stylesheet, font or image by reference.
func TestReportNeedsNothingFromElsewhere(t *testing.T) {
	t.Parallel()
	pool, synced := setup(t)
	_, html := render(t, pool, report.Options{Now: synced.End})
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`),
		regexp.MustCompile(`(?i)<link`),
		regexp.MustCompile(`(?i)<img`),
		regexp.MustCompile(`(?i)@import`),
		regexp.MustCompile(`(?i)url\(`),
		regexp.MustCompile(`(?i)\b(src|href)\s*=\s*"(?:[a-z]+:|//)`),
	} {
		if m := bad.FindString(html); m != "" {
			t.Errorf("the report has %q", m)
		}
	}
	// The only URLs are the XML namespaces of the SVG, which name and
	// fetch nothing.
	for _, u := range regexp.MustCompile(`(?i)\b[a-z]+://[^"'\s<>)]*`).FindAllString(html, -1) {
		if u != "http://www.w3.org/2000/svg" && u != "http://www.w3.org/1999/xlink" {
			t.Errorf("the report names %s", u)
		}
	}
}

// TestReportOfAnUnknownTenantFails: a tenant never synced is an error that
// lists the tenants the database holds, by id and name, so that the user
// sees what to give.
func TestReportOfAnUnknownTenantFails(t *testing.T) {
	t.Parallel()
	pool, synced := setup(t)
	_, err := report.Read(context.Background(), pool, report.Options{Tenant: "contoso"})
	want := `tenant "contoso": no sync of this tenant in the database; known tenants: ` + synced.TenantID + " (" + story.Name + ")"
	if !errors.Is(err, report.ErrUnknownTenant) || err.Error() != want {
		t.Errorf("err = %v, want ErrUnknownTenant: %s", err, want)
	}
	many := &report.UnknownTenantError{Tenant: "x"}
	for i := range 25 {
		many.Known = append(many.Known, fmt.Sprintf("t%02d", i))
	}
	if msg := many.Error(); !strings.Contains(msg, "t19 and 5 more (agentsync status lists them all)") || strings.Contains(msg, "t20") {
		t.Errorf("25 known tenants: %s", msg)
	}
	if msg := (&report.UnknownTenantError{Tenant: "x"}).Error(); !strings.HasSuffix(msg, "the database holds no tenant yet") {
		t.Errorf("no tenant: %s", msg)
	}
}

func TestReportWithoutTheSchemaSaysSo(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), dbtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := report.Read(context.Background(), pool, report.Options{}); !errors.Is(err, report.ErrNoSchema) {
		t.Errorf("err = %v, want ErrNoSchema", err)
	}
}

// TestReportShowsScanCoverageWhenThereIsSome: with defender.scan_coverage
// (scan definitions and sessions), the report adds a section of it. Until
// the database has the view, the test makes one of the same columns.
func TestReportShowsScanCoverageWhenThereIsSome(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	owner, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	synced := loadtest.Sync(t, owner, loadtest.Story{Agents: 20, Days: 3})
	var exists bool
	if err := owner.QueryRow(context.Background(), `SELECT to_regclass('defender.scan_coverage') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	want := "No active scan definition is recorded for this tenant."
	if !exists {
		want = "nightly servers"
		if _, err := owner.Exec(context.Background(), `
			CREATE VIEW defender.scan_coverage AS
			SELECT $$`+synced.TenantID+`$$::text AS tenant_id, 'd1'::text AS definition_id, 'nightly servers'::text AS scan_name,
			       'Windows'::text AS scan_type, '10.0.0.0/24'::text AS target, 24 AS interval_hours,
			       now() AS last_scan_at, 'Fail'::text AS last_status, now() - interval '3 days' AS last_success_at,
			       now() AS last_failure_at, 3 AS consecutive_failures, 'agent-1'::text AS scanner_agent_id,
			       'scan00001.corp.contoso.com'::text AS scanner_host, now() AS scanner_last_seen,
			       false AS scanner_stale, false AS scanner_deleted;
			GRANT SELECT ON defender.scan_coverage TO defender_reader`); err != nil {
			t.Fatal(err)
		}
	}
	snap, html := render(t, dbtest.ReaderPool(t, url), report.Options{Now: synced.End})
	if !snap.HasScanCoverage || !strings.Contains(html, "Scan coverage") || !strings.Contains(html, want) {
		t.Errorf("the report of a database with scan coverage lacks its section, or %q", want)
	}
}

// quoting is a snapshot of one tenant whose every text from the API (and
// its name from the configuration) is text.
func quoting(text string) *report.Snapshot {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	return &report.Snapshot{GeneratedAt: day.Add(time.Hour), From: day.AddDate(0, 0, -90), Tenants: []report.Tenant{{
		ID: "t", Name: text, Versions: []string{text},
		Days:     []report.FleetDay{{Day: day, Active: 1, Versions: map[string]int{text: 1}, Newest: text, OnNewest: 1}},
		SyncDays: []report.SyncDay{{Day: day, Succeeded: 1, Failed: 1}},
		Failures: []report.FailedRun{{RunID: 2, StartedAt: day, Error: text}},
		Changes:  []report.Change{{ChangedAt: day, Host: text, Attribute: text, New: &text}},
		Stale:    []report.StaleAgent{{AgentID: text, Host: text}},
	}}}
}

// TestReportEscapesWhatTheAPISent: versions, host names and errors come
// from the API; none can add markup to the report.
func TestReportEscapesWhatTheAPISent(t *testing.T) {
	t.Parallel()
	evil := `<script>alert(1)</script>`
	var b bytes.Buffer
	if err := report.WriteHTML(&b, quoting(evil), "agentsync dev"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(b.String()), "<script") {
		t.Error("text from the API reached the report as markup")
	}
	if !strings.Contains(b.String(), "&lt;script&gt;") {
		t.Error("the report leaves out the text from the API instead of escaping it")
	}
}

// TestTextTablesReadAsTheReader: the demo's tables read through the views
// a member of defender_reader may read, and count each listed agent once.
func TestTextTablesReadAsTheReader(t *testing.T) {
	t.Parallel()
	pool, synced := setup(t)
	var b bytes.Buffer
	if err := report.WriteText(context.Background(), &b, pool, synced.TenantID, synced.End); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Sync runs (defender.sync_runs)", "Version drift", "Changes by attribute", "Latest changes", "Stale agents"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the tables lack %q:\n%s", want, b.String())
		}
	}
	last := synced.Results[story.Days]
	changed, seen, err := report.RunCounts(context.Background(), pool, synced.TenantID, last.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if changed+seen > last.Seen-last.Inserted || seen == 0 {
		t.Errorf("run %d listed %d agents, %d new: %d changed and %d only seen", last.RunID, last.Seen, last.Inserted, changed, seen)
	}
}

// TestReportOfSeveralTenants: every tenant has its own section and its own
// line of provenance; --tenant keeps one.
func TestReportOfSeveralTenants(t *testing.T) {
	t.Parallel()
	end := time.Now().UTC().Truncate(time.Hour)
	reader, synced := syncStories(t, loadtest.Story{Agents: 30, Days: 5, End: end},
		loadtest.Story{TenantID: "Contoso.example", Name: "Contoso <Europe>", Agents: 20, Days: 3, Seed: 3, FailDay: 2, End: end})
	a, b := synced[0], synced[1]

	snap, html := render(t, reader, report.Options{Now: end})
	if len(snap.Tenants) != 2 || strings.Count(html, `<section class="tenant"`) != 2 ||
		!strings.Contains(html, `id="tenant-`+a.TenantID+`"`) || !strings.Contains(html, `id="tenant-contoso.example"`) ||
		!strings.Contains(html, "Contoso &lt;Europe&gt;") {
		t.Errorf("a report of two tenants has %d tenants and %d sections", len(snap.Tenants), strings.Count(html, `<section class="tenant"`))
	}
	for _, tn := range snap.Tenants {
		if tn.FirstSync == nil || tn.LastSync == nil || tn.LastSync.At.After(end) {
			t.Errorf("tenant %s: first and last sync %+v %+v", tn.ID, tn.FirstSync, tn.LastSync)
		}
		// Its chain head: the digest of its latest agents run.
		var run int64
		var digest string
		if err := reader.QueryRow(context.Background(), `
			SELECT run_id, digest FROM defender.run_digests WHERE tenant_id = $1 AND resource = 'agents'
			 ORDER BY run_id DESC LIMIT 1`, tn.ID).Scan(&run, &digest); err != nil {
			t.Fatal(err)
		}
		if len(tn.ChainHeads) != 1 || tn.ChainHeads[0].Resource != "agents" || tn.ChainHeads[0].RunID != run ||
			tn.ChainHeads[0].Digest != digest || !strings.Contains(html, fmt.Sprintf("agents run %d, ", run)) ||
			!strings.Contains(html, `<code class="digest">`+digest+`</code>`) {
			t.Errorf("tenant %s: chain heads %+v, want run %d %s in the provenance", tn.ID, tn.ChainHeads, run, digest)
		}
	}
	one, _ := render(t, reader, report.Options{Now: end, Tenant: "CONTOSO.example"})
	if len(one.Tenants) != 1 || one.Tenants[0].ID != b.TenantID || one.Tenants[0].Failed != 1 {
		t.Errorf("the report of contoso.example has %+v", one.Tenants)
	}
}

// TestReportShowsControlCharactersVisibly: C0 and C1 control characters
// and bidirectional overrides sent by the API (or a tenant name from a
// configuration file) reach the report as visible escapes, never raw:
// they are HTML parse errors, and act on a terminal the report is printed
// to.
func TestReportShowsControlCharactersVisibly(t *testing.T) {
	t.Parallel()
	hostile := "a\x01b\x1b[2Jc\u0085d\u009b31me\u202eevil\x7f"
	var b bytes.Buffer
	if err := report.WriteHTML(&b, quoting(hostile), "agentsync dev"); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, r := range html {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Fatalf("the report holds %U raw", r)
		}
	}
	if !strings.Contains(html, `a\x01b\x1b[2Jc\u0085d\u009b31me\u202eevil\x7f`) {
		t.Error("the report does not show the control characters as escapes")
	}
}

// TestReportPolicyForbidsBaseAndForms: base-uri and form-action do not
// fall back to default-src, so the Content-Security-Policy names them.
func TestReportPolicyForbidsBaseAndForms(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := report.WriteHTML(&b, &report.Snapshot{GeneratedAt: time.Now()}, "agentsync dev"); err != nil {
		t.Fatal(err)
	}
	csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(b.String())
	if csp == nil {
		t.Fatal("the report has no Content-Security-Policy")
	}
	for _, directive := range []string{"default-src 'none'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp[1], directive) {
			t.Errorf("policy %q lacks %s", csp[1], directive)
		}
	}
}

// TestOverviewPutsTheWorstTenantFirst: the overview lists every tenant, the
// one whose latest sync failed first whatever its id, each row linking to
// its section, and the sections follow in that order.
func TestOverviewPutsTheWorstTenantFirst(t *testing.T) {
	t.Parallel()
	end := time.Now().UTC().Truncate(time.Hour)
	reader, synced := syncStories(t, loadtest.Story{TenantID: "aaaa.example", Name: "Alpha", Agents: 30, Days: 5, End: end},
		loadtest.Story{TenantID: "zzzz.example", Name: "Zulu", Agents: 30, Days: 5, FailDay: 5, Seed: 2, End: end})
	good, bad := synced[0], synced[1]
	snap, html := render(t, reader, report.Options{Now: end.Add(time.Hour)})
	if len(snap.Tenants) != 2 || snap.Tenants[0].ID != bad.TenantID || !snap.Tenants[0].LatestFailed() {
		t.Fatalf("tenants %v; want %s, whose latest sync failed, first", snap.Tenants, bad.TenantID)
	}
	rows := regexp.MustCompile(`<tr id="overview-([^"]+)"`).FindAllStringSubmatch(html, -1)
	sections := regexp.MustCompile(`<section class="tenant" id="tenant-([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(rows) != 2 || len(sections) != 2 || rows[0][1] != bad.TenantID || sections[0][1] != bad.TenantID || sections[1][1] != good.TenantID {
		t.Errorf("overview rows %q and sections %q; want %s first", rows, sections, bad.TenantID)
	}
	for _, want := range []string{`<a href="#tenant-` + bad.TenantID + `">Zulu</a>`, `href="#overview-` + bad.TenantID + `"`,
		"latest sync failed", "<h2>Zulu <span"} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// TestListsAreShortAndSayHowManyMore: the latest changes and the stale
// agents list at most 20 rows and count the others; stale agents show the
// days since they were last seen; the numbers start collapsed.
func TestListsAreShortAndSayHowManyMore(t *testing.T) {
	t.Parallel()
	pool, synced := setup(t)
	snap, html := render(t, pool, report.Options{Now: synced.End.Add(time.Hour)})
	tn := snap.Tenants[0]
	if len(tn.Changes) != 20 || tn.ChangesTotal <= 20 {
		t.Fatalf("%d changes listed of %d; want 20 of more", len(tn.Changes), tn.ChangesTotal)
	}
	if want := fmt.Sprintf("and %d more in the period", tn.ChangesTotal-20); !strings.Contains(html, want) {
		t.Errorf("the report does not say %q", want)
	}
	if len(tn.Stale) == 0 || !strings.Contains(html, "<th class=\"num\">days since</th>") {
		t.Error("the stale agents have no column of days since they were last seen")
	}
	if strings.Contains(html, "<details open") {
		t.Error("a numbers table starts open")
	}
}

// TestLatestChangesComeLatestFirst: the changes listed are the period's
// latest, latest first, and the counts by kind add up to the total.
func TestLatestChangesComeLatestFirst(t *testing.T) {
	t.Parallel()
	pool, synced := setup(t)
	// Lists long enough to hold changes of several syncs and attributes.
	snap, _ := render(t, pool, report.Options{Now: synced.End.Add(time.Hour), MaxRows: 300})
	tn := snap.Tenants[0]
	if len(tn.Changes) == 0 || !tn.Changes[0].ChangedAt.Equal(synced.End) {
		t.Fatalf("the first change listed is not of the last sync, %s: %+v", synced.End, tn.Changes[:min(1, len(tn.Changes))])
	}
	for i := 1; i < len(tn.Changes); i++ {
		if tn.Changes[i].ChangedAt.After(tn.Changes[i-1].ChangedAt) {
			t.Errorf("change %d (%s) is later than change %d (%s)", i, tn.Changes[i].ChangedAt, i-1, tn.Changes[i-1].ChangedAt)
		}
	}
	sum := 0
	for i, k := range tn.ChangeKinds {
		sum += k.Count
		if i > 0 && k.Count > tn.ChangeKinds[i-1].Count {
			t.Errorf("change kinds not by count, most first: %+v", tn.ChangeKinds)
		}
	}
	if sum != tn.ChangesTotal || sum <= len(tn.Changes) {
		t.Errorf("the kinds count %d changes, the total is %d, %d listed", sum, tn.ChangesTotal, len(tn.Changes))
	}
}

// TestLongTargetListsShowTheFirstFew: a scan's coverage row shows its
// first three targets and how many more, the whole list on hover and in
// the numbers; scans that need a look come first.
func TestLongTargetListsShowTheFirstFew(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	stale, ok := true, false
	targets := "10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8"
	snap := &report.Snapshot{GeneratedAt: day, From: day.AddDate(0, 0, -90), HasScanCoverage: true, Tenants: []report.Tenant{{
		ID: "contoso.example",
		Coverage: []report.Coverage{
			{Scan: "fine", Target: "10.1.0.1", LastSuccess: &day, Scanner: "scan1", ScannerStale: &ok, ScannerDeleted: &ok},
			{Scan: "wide", Target: targets, LastSuccess: &day, Scanner: "scan2", ScannerStale: &stale, ScannerDeleted: &ok},
		},
	}}}
	var b bytes.Buffer
	if err := report.WriteHTML(&b, snap, "agentsync dev"); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	row := regexp.MustCompile(`<tr><td class="name">wide</td><td class="targets" title="([^"]*)">(.*?)</td>`).FindStringSubmatch(html)
	if row == nil || row[1] != targets || strings.Count(row[2], `class="target"`) != 3 || !strings.Contains(row[2], "+5 more") {
		t.Errorf("the row of a scan of 8 targets: %q; want 3 of them, +5 more, all in its title", row)
	}
	if strings.Index(html, ">wide<") > strings.Index(html, ">fine<") {
		t.Error("the scan on a stale scanner is not listed before the one that is fine")
	}
	if !strings.Contains(html, `<td class="targets">`+targets+`</td>`) {
		t.Error("the numbers do not list every target")
	}
	if !strings.Contains(html, "2 active scan definitions: 0 failing, 1 on a stale or deleted scanner") {
		t.Error("the tenant's summary of its scans is missing")
	}
}
