package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/embeddedpg"
)

// demoTestDatabase returns a database name of the demo's family that no
// other test (and no user's demo) uses, dropped when the test ends.
func demoTestDatabase(t *testing.T) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := demoDatabaseName + "_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dbtest.ServerURL())
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	return name
}

func TestDemoTellsTheStoryAndIsRerunnable(t *testing.T) {
	t.Parallel()
	name := demoTestDatabase(t)
	env := map[string]string{"DATABASE_URL": dbtest.ServerURL()}
	reportFile := filepath.Join(t.TempDir(), "demo-report.html")
	args := []string{"demo", "--agents", "150", "--days", "12", "--demo-database", name, "--report", reportFile}
	for round := 1; round <= 2; round++ {
		code, out, errOut := runCLI(t, env, args...)
		if code != exitOK {
			t.Fatalf("round %d: demo exit %d\nstdout:\n%s\nstderr:\n%s", round, code, out, errOut)
		}
		for _, want := range []string{
			"FAILED*",
			"failed on purpose",
			"Version drift (defender.version_drift)",
			"Latest changes (defender.scan_agent_changes)",
			"Stale agents",
			"Scan coverage (defender.scan_coverage",
			"active scan definitions",
			"psql 'postgres://postgres@127.0.0.1:5432/" + name + "'",
			"Report: " + reportFile + "\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("round %d: the demo's output lacks %q:\n%s", round, want, out)
			}
		}
		// Every round starts from an empty database: the second finds
		// exactly the runs of one demo, not two.
		conn := connectDemoDatabase(t, name)
		var succeeded, failed, changes int
		err := conn.QueryRow(context.Background(), `
			SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
			       (SELECT count(*) FROM defender.scan_agent_changes WHERE attribute <> 'agent' AND tenant_id = $1)
			  FROM defender.sync_runs WHERE resource = 'agents' AND tenant_id = $1`,
			strings.ToLower(defendertest.DefaultTenantID)).Scan(&succeeded, &failed, &changes)
		if err != nil {
			t.Fatal(err)
		}
		if succeeded != 11 || failed != 1 {
			t.Errorf("round %d: %d succeeded and %d failed runs, want 11 and 1", round, succeeded, failed)
		}
		if changes == 0 {
			t.Errorf("round %d: the fleet drifted but the history shows no attribute change", round)
		}
		// The two tenants beside it synced every day, the day of the
		// failure included, under their own names.
		rows, err := conn.Query(context.Background(), `
			SELECT t.tenant_name, count(*) FILTER (WHERE r.status = 'succeeded'), count(*) FILTER (WHERE r.status = 'failed')
			  FROM defender.sync_runs r JOIN defender.tenant_sync_status t USING (tenant_id)
			 WHERE r.resource = 'agents' AND r.tenant_id <> $1
			 GROUP BY 1 ORDER BY 1`, strings.ToLower(defendertest.DefaultTenantID))
		if err != nil {
			t.Fatal(err)
		}
		var others []string
		for rows.Next() {
			var name string
			var ok, bad int
			if err := rows.Scan(&name, &ok, &bad); err != nil {
				t.Fatal(err)
			}
			others = append(others, fmt.Sprintf("%s %d/%d", name, ok, bad))
		}
		conn.Close(context.Background())
		if got := strings.Join(others, ", "); got != "Fabrikam 12/0, Northwind 12/0" {
			t.Errorf("round %d: the other tenants' runs (succeeded/failed): %s; want Fabrikam 12/0, Northwind 12/0", round, got)
		}
		failedDay := regexp.MustCompile(`(?m)^ +6 +\S+ +FAILED\*.* ok \d+ +ok \d+$`)
		if !failedDay.MatchString(out) || !strings.Contains(out, "FABRIKAM") || !strings.Contains(out, "Tenants side by side") {
			t.Errorf("round %d: the demo does not show the tenants side by side, the failing one alone failing on day 6:\n%s", round, out)
		}
		html, err := os.ReadFile(reportFile)
		if err != nil {
			t.Fatalf("round %d: the demo's report: %v", round, err)
		}
		if !strings.HasPrefix(string(html), "<!DOCTYPE html>") || strings.Count(string(html), "<figure class=\"chart\"") != 9 {
			t.Errorf("round %d: the demo's report is not the HTML report with three charts for each of its three tenants", round)
		}
	}
}

func TestDemoRefusesAnotherDatabaseName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"postgres", "prod", "agentsync", "agentsync_demo; DROP", "Agentsync_demo"} {
		code, _, errOut := runCLI(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}, "demo", "--demo-database", name)
		if code != exitUsage || !strings.Contains(errOut, "--demo-database") {
			t.Errorf("--demo-database %q: exit %d, stderr %q; want %d", name, code, errOut, exitUsage)
		}
	}
}

func TestPsqlURLCarriesNoPassword(t *testing.T) {
	t.Parallel()
	cfg, err := pgconn.ParseConfig("postgres://demo:s3cret-pw@db.example:6543/agentsync_demo?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := psqlURL(cfg), "postgres://demo@db.example:6543/agentsync_demo"; got != want {
		t.Errorf("psqlURL = %q, want %q", got, want)
	}
	cfg.Host = "/var/run/postgresql"
	if got := psqlURL(cfg); strings.Contains(got, "s3cret") || !strings.Contains(got, "host=%2Fvar%2Frun%2Fpostgresql") {
		t.Errorf("psqlURL for a socket = %q", got)
	}
}

func TestDemoWithAnUnreachableServerSaysSoWithoutPassword(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, map[string]string{"DATABASE_URL": "postgres://demo:hunter2-secret@127.0.0.1:1/postgres?connect_timeout=2"}, "demo", "--days", "1")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	if strings.Contains(out+errOut, "hunter2-secret") {
		t.Fatalf("the demo shows the password: %s %s", out, errOut)
	}
}

// TestDemoOnAnEmbeddedServer runs the demo on its embedded server, as root
// too (the server then runs as an unprivileged user), and checks that it
// leaves nothing in the temporary directory. Not parallel: it sets TMPDIR.
func TestDemoOnAnEmbeddedServer(t *testing.T) {
	if _, err := embeddedpg.FindBinaries(); err != nil {
		t.Skip(err)
	}
	tmp, err := os.MkdirTemp("", "agentsync-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	// The server's user must be able to enter it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	reportFile := filepath.Join(t.TempDir(), "demo-report.html")
	t.Setenv("TMPDIR", tmp)
	code, out, errOut := runCLI(t, nil, "demo", "--embedded-postgres", "--agents", "40", "--days", "4", "--report", reportFile)
	if code != exitOK || !strings.Contains(out, "on an embedded server") {
		t.Fatalf("demo --embedded-postgres as uid %d: exit %d\nstdout:\n%s\nstderr:\n%s", os.Geteuid(), code, out, errOut)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("the demo left %s in TMPDIR", e.Name())
	}
}

func TestRecreateDemoDatabaseRefusesOtherNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"postgres", "root", "agentsync", ""} {
		if _, err := recreateDemoDatabase(context.Background(), "postgres://127.0.0.1:1/postgres", name, "test"); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("recreateDemoDatabase(%q) = %v, want a refusal before connecting", name, err)
		}
	}
}

// runDemoCLI runs the demo with args into a database of its own, and returns
// its output and a connection to that database. The demo syncs the story's
// tenant alone unless args say --tenants.
func runDemoCLI(t *testing.T, args ...string) (string, *pgx.Conn) {
	t.Helper()
	name := demoTestDatabase(t)
	code, out, errOut := runCLI(t, map[string]string{"DATABASE_URL": dbtest.ServerURL()},
		append([]string{"demo", "--tenants", "1", "--demo-database", name, "--report", filepath.Join(t.TempDir(), "demo-report.html")}, args...)...)
	if code != exitOK {
		t.Fatalf("demo %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	conn := connectDemoDatabase(t, name)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return out, conn
}

// connectDemoDatabase connects to the demo database name on the test
// server; the caller closes the connection.
func connectDemoDatabase(t *testing.T, name string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = name
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// demoDay is one row of the demo's table of syncs.
type demoDay struct {
	day                                      int
	status                                   string
	agents, fresh, changed, seen, same, gone int
}

var demoDayRow = regexp.MustCompile(`(?m)^\s+(\d+)\s+\d{4}-\d\d-\d\d\s+(ok|FAILED\*)\s+(.*)$`)

// demoDays parses the demo's table of syncs.
func demoDays(t *testing.T, out string) []demoDay {
	t.Helper()
	var days []demoDay
	for _, m := range demoDayRow.FindAllStringSubmatch(out, -1) {
		d := demoDay{status: m[2]}
		d.day, _ = strconv.Atoi(m[1])
		if d.status == "ok" {
			cells := strings.Fields(m[3])
			if len(cells) != 7 {
				t.Fatalf("day %d: %d counts, want AGENTS NEW CHANGED SEEN SAME DELETED REQUESTS: %q", d.day, len(cells), m[0])
			}
			for i, dst := range []*int{&d.agents, &d.fresh, &d.changed, &d.seen, &d.same, &d.gone} {
				var err error
				if *dst, err = strconv.Atoi(cells[i]); err != nil {
					t.Fatalf("day %d: %q", d.day, m[0])
				}
			}
		}
		days = append(days, d)
	}
	return days
}

// demoSection returns the rows of the report section whose title starts
// with title, each split into its cells.
func demoSection(t *testing.T, out, title string) [][]string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "\n"+title)
	if !ok {
		t.Fatalf("no section %q in:\n%s", title, out)
	}
	lines := strings.Split(rest, "\n")[2:] // the title's end, the header
	var rows [][]string
	for _, l := range lines {
		if !strings.HasPrefix(l, "  ") {
			break
		}
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1))
	}
	return rows
}

// TestDemoTellsItsStoryStraight: the demo's counts are those of the
// history tables (a changed agent is one with a new version, not one that
// checked in), and its tables name hosts and leave no cell blank.
func TestDemoTellsItsStoryStraight(t *testing.T) {
	t.Parallel()
	const days = 30
	out, conn := runDemoCLI(t, "--days", strconv.Itoa(days))
	ctx := context.Background()

	rows := demoDays(t, out)
	if len(rows) != days {
		t.Fatalf("%d days in the table, want %d:\n%s", len(rows), days, out)
	}
	var fresh, changed, seen int
	for _, d := range rows {
		if d.status != "ok" {
			continue
		}
		if d.fresh+d.changed+d.seen+d.same != d.agents {
			t.Errorf("day %d: NEW %d + CHANGED %d + SEEN %d + SAME %d != AGENTS %d", d.day, d.fresh, d.changed, d.seen, d.same, d.agents)
		}
		fresh, changed, seen = fresh+d.fresh, changed+d.changed, seen+d.seen
	}
	var wantFresh, wantChanged int
	if err := conn.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE attribute = 'agent' AND new_value = 'first seen'),
		       count(DISTINCT (agent_id, run_id)) FILTER (WHERE attribute <> 'agent' OR new_value = 'returned')
		  FROM defender.scan_agent_changes`).Scan(&wantFresh, &wantChanged); err != nil {
		t.Fatal(err)
	}
	if fresh != wantFresh || changed != wantChanged {
		t.Errorf("the days add up to %d new and %d changed agents; defender.scan_agent_changes has %d and %d", fresh, changed, wantFresh, wantChanged)
	}
	if seen == 0 || changed >= seen {
		t.Errorf("%d agents changed and %d only checked in over %d days: checking in is what most agents do", changed, seen, days)
	}

	if strings.Contains(out, "…") {
		t.Errorf("the demo cuts ids short instead of naming hosts:\n%s", out)
	}
	for _, row := range demoSection(t, out, "Latest changes") {
		if len(row) != 6 || !regexp.MustCompile(`(?i)^scan\d{5}`).MatchString(row[1]) {
			t.Errorf("latest change %q: want DAY HOST ATTRIBUTE OLD NEW RUN, a host name in HOST", row)
		}
	}
	for section, columns := range map[string]int{"Changes by attribute": 3, "Stale agents": 3, "Sync runs": 6} {
		for _, row := range demoSection(t, out, section) {
			if len(row) != columns {
				t.Errorf("%s: row %q has a blank cell", section, row)
			}
		}
	}
}

// TestSchemaDocGapsQueryFindsTheFleetsGaps runs the lastSeen gaps query of
// docs/schema.md on the demo's daily data and checks that it finds exactly
// the gaps the simulated fleet has: no day-to-day jitter, no failed sync.
func TestSchemaDocGapsQueryFindsTheFleetsGaps(t *testing.T) {
	t.Parallel()
	const agents, days, failDay, seed = 300, 30, 15, 1
	_, conn := runDemoCLI(t, "--agents", strconv.Itoa(agents), "--days", strconv.Itoa(days),
		"--fail-day", strconv.Itoa(failDay), "--seed", strconv.Itoa(seed))
	ctx := context.Background()

	// The fleet's own story: an agent whose last_seen stood still, or that
	// was not listed, for more than two successful syncs, then moved.
	var start time.Time
	if err := conn.QueryRow(ctx, `SELECT min(fetched_at) - interval '12 hours' FROM defender.sync_runs`).Scan(&start); err != nil {
		t.Fatal(err)
	}
	fleet := defendertest.NewFleet(seed, agents, start)
	type watch struct {
		lastSeen time.Time
		syncs    int
	}
	watched := map[string]*watch{}
	want := map[string]time.Time{} // agent -> last_seen after its gap
	for day := 1; day <= days; day++ {
		if day == failDay {
			continue
		}
		for _, w := range watched {
			w.syncs++
		}
		for _, a := range fleet.AgentsAt(start.Add(time.Duration(day-1)*24*time.Hour + 12*time.Hour)) {
			seen := a.LastSeen.UTC().Truncate(time.Microsecond)
			w, ok := watched[a.ID]
			switch {
			case !ok:
				watched[a.ID] = &watch{lastSeen: seen}
			case !seen.Equal(w.lastSeen):
				if w.syncs > 2 {
					if _, twice := want[a.ID]; twice {
						t.Fatalf("agent %s has two gaps; the test keeps one", a.ID)
					}
					want[a.ID] = seen
				}
				w.lastSeen, w.syncs = seen, 0
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("the simulated fleet has no lastSeen gap to find: the test proves nothing")
	}
	gaps, err := conn.Query(ctx, docQuery(t, "### Where are the gaps in an agent's lastSeen?"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for gaps.Next() {
		values, err := gaps.Values()
		if err != nil {
			t.Fatal(err)
		}
		got[values[1].(string)] = values[3].(time.Time)
	}
	if err := gaps.Err(); err != nil {
		t.Fatal(err)
	}
	for id, seen := range want {
		if g, ok := got[id]; !ok || !g.Equal(seen) {
			t.Errorf("gap of agent %s up to %s: the query finds %v", id, seen, g)
		}
	}
	for id, seen := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("the query finds a gap of agent %s up to %s that the fleet does not have", id, seen)
		}
	}
}

// docQuery returns the first SQL example of docs/schema.md after heading.
func docQuery(t *testing.T, heading string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/schema.md has no %q", heading)
	}
	m := regexp.MustCompile("(?s)```sql\n(.*?)```").FindStringSubmatch(rest)
	if m == nil {
		t.Fatalf("docs/schema.md: no SQL after %q", heading)
	}
	return m[1]
}

// TestDemoFailsOnPurposeWhateverTheFleetSize: the failure the demo
// announces happens, on a fleet that fits one page too.
func TestDemoFailsOnPurposeWhateverTheFleetSize(t *testing.T) {
	t.Parallel()
	for _, size := range []struct{ agents, days, failDay int }{{50, 3, 2}, {1, 2, 1}, {250, 3, 2}} {
		out, conn := runDemoCLI(t, "--agents", strconv.Itoa(size.agents), "--days", strconv.Itoa(size.days))
		for _, d := range demoDays(t, out) {
			if failed := d.status != "ok"; failed != (d.day == size.failDay) {
				t.Errorf("demo --agents %d --days %d: day %d is %s; day %d was to fail on purpose:\n%s",
					size.agents, size.days, d.day, d.status, size.failDay, out)
			}
		}
		if !strings.Contains(out, fmt.Sprintf("Day %d failed on purpose", size.failDay)) {
			t.Errorf("demo --agents %d --days %d does not say day %d failed:\n%s", size.agents, size.days, size.failDay, out)
		}
		var failed int
		if err := conn.QueryRow(context.Background(),
			`SELECT count(*) FROM defender.sync_runs WHERE status = 'failed' AND resource = 'agents'`).Scan(&failed); err != nil {
			t.Fatal(err)
		}
		if failed != 1 {
			t.Errorf("demo --agents %d --days %d: %d failed runs, want 1", size.agents, size.days, failed)
		}
	}
}

// TestDemoBuildsHourlyHistory: --syncs-per-day 24 syncs every simulated
// hour through the loader, one of them failing on purpose, and the daily
// rollups count each day's syncs.
func TestDemoBuildsHourlyHistory(t *testing.T) {
	t.Parallel()
	out, conn := runDemoCLI(t, "--agents", "30", "--days", "2", "--syncs-per-day", "24", "--fail-day", "2")
	if !strings.Contains(out, "24 syncs a day") || !strings.Contains(out, "23/24") {
		t.Fatalf("the demo does not tell its hourly syncs:\n%s", out)
	}
	var succeeded, failed, days, syncs int
	if err := conn.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
		       (SELECT count(*) FROM defender.fleet_daily), (SELECT sum(syncs) FROM defender.fleet_daily)
		  FROM defender.sync_runs WHERE resource = 'agents'`).Scan(&succeeded, &failed, &days, &syncs); err != nil {
		t.Fatal(err)
	}
	if succeeded != 47 || failed != 1 || syncs != 47 || days != 2 {
		t.Fatalf("%d succeeded and %d failed runs, %d syncs over %d days in fleet_daily; want 47, 1, 47 over 2 days",
			succeeded, failed, syncs, days)
	}
	// The day that failed on purpose is the day the table, the history and
	// its rollups show the failure on: each simulated day is a day of the
	// calendar.
	var failedOn, fewerSyncsOn string
	if err := conn.QueryRow(context.Background(), `
		SELECT (SELECT to_char(fetched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM defender.sync_runs WHERE status = 'failed' AND resource = 'agents'),
		       (SELECT to_char(day, 'YYYY-MM-DD') FROM defender.fleet_daily WHERE syncs = 23)`).Scan(&failedOn, &fewerSyncsOn); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\s+2\s+(\d{4}-\d\d-\d\d)\s+ok\*\s.*23/24`).FindStringSubmatch(out)
	if row == nil || row[1] != failedOn || fewerSyncsOn != failedOn {
		t.Errorf("day 2 failed on purpose: the table shows it as %q, the failed run is of %s, the rollup's day of 23 syncs %s:\n%s",
			row, failedOn, fewerSyncsOn, out)
	}
	if !regexp.MustCompile(`(?m)^\s+1\s+` + time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly) + `\s`).MatchString(out) {
		t.Errorf("the two days are not the two days before today:\n%s", out)
	}
	checkSuggestedQuery(t, out, conn)
	for _, args := range [][]string{{"--syncs-per-day", "0"}, {"--syncs-per-day", "hourly"}} {
		if code, _, errOut := runCLI(t, nil, append([]string{"demo"}, args...)...); code != exitUsage || !strings.Contains(errOut, "--syncs-per-day") {
			t.Errorf("demo %q: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// checkSuggestedQuery runs the query the demo's output suggests on its
// database: it returns rows.
func checkSuggestedQuery(t *testing.T, out string, conn *pgx.Conn) {
	t.Helper()
	m := regexp.MustCompile(`then, for example: (SELECT .*;)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo suggests no query:\n%s", out)
	}
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM ("+strings.TrimSuffix(m[1], ";")+") q").Scan(&n); err != nil || n == 0 {
		t.Errorf("the demo's query %s: %d rows, %v; want rows", m[1], n, err)
	}
}

// readmeQueries returns the statements of the README's "Reporting with
// SQL" examples, each with the comment that introduces it.
func readmeQueries(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n## Reporting with SQL\n")
	m := regexp.MustCompile("(?s)```sql\n(.*?)```").FindStringSubmatch(rest)
	if !ok || m == nil {
		t.Fatal("README.md: no SQL under \"Reporting with SQL\"")
	}
	out := map[string]string{}
	for _, part := range strings.Split(m[1], ";") {
		comment, query := "", strings.TrimSpace(part)
		for strings.HasPrefix(query, "--") {
			line, more, _ := strings.Cut(query, "\n")
			comment, query = strings.TrimSpace(strings.TrimPrefix(line, "--")), strings.TrimSpace(more)
		}
		if query != "" {
			out[comment] = query
		}
	}
	return out
}

// TestEveryQuerySuggestedReturnsRowsOnTheDemo: the queries the README
// suggests, and the one the demo prints, each return rows on the demo's
// own data, as a user trying them after make demo would run them.
func TestEveryQuerySuggestedReturnsRowsOnTheDemo(t *testing.T) {
	t.Parallel()
	out, conn := runDemoCLI(t)
	queries := readmeQueries(t)
	if len(queries) < 5 {
		t.Fatalf("%d queries in the README", len(queries))
	}
	for what, q := range queries {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM ("+q+") q").Scan(&n); err != nil || n == 0 {
			t.Errorf("README's %q: %d rows, %v; want rows on the demo's data:\n%s", what, n, err, q)
		}
	}
	checkSuggestedQuery(t, out, conn)
	// A shorter story suggests a time within it.
	out, conn = runDemoCLI(t, "--agents", "20", "--days", "10")
	checkSuggestedQuery(t, out, conn)
}

// TestDemoChecksWhereItsReportGoesFirst: a report the demo could not write
// fails it at once, naming --report, before any database or sync.
func TestDemoChecksWhereItsReportGoesFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "no", "such", "dir", "r.html"), dir} {
		code, out, errOut := runCLI(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}, "demo", "--report", path)
		if code != exitFailure || out != "" || strings.Count(errOut, "\n") != 1 ||
			!strings.Contains(errOut, "agentsync demo: --report "+path+": cannot write the report there") {
			t.Errorf("demo --report %s: exit %d, stdout %q, stderr %q; want it refused at once, naming --report", path, code, out, errOut)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("the check left files: %v %v", entries, err)
	}
}

// TestDemoShowsItsDaysOffATerminal: with its output not a terminal (a CI
// log, a pipe), the demo prints a line per simulated day as it goes.
func TestDemoShowsItsDaysOffATerminal(t *testing.T) {
	t.Parallel()
	name := demoTestDatabase(t)
	code, out, errOut := runCLI(t, map[string]string{"DATABASE_URL": dbtest.ServerURL()},
		"demo", "--tenants", "1", "--agents", "20", "--days", "3", "--demo-database", name, "--report", filepath.Join(t.TempDir(), "r.html"))
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	for day := 1; day <= 3; day++ {
		date := time.Now().UTC().AddDate(0, 0, day-4).Format(time.DateOnly)
		if want := fmt.Sprintf("day %d/3 synced (%s)\n", day, date); !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestDemoProgressCountsWhatItLists: on a terminal, the demo's progress
// line counts agents while it lists agents, then definitions and sessions
// under their own names, never the scan history as agents.
func TestDemoProgressCountsWhatItLists(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var screen bytes.Buffer
	clock := time.Now()
	prog := &progress{out: &screen, enabled: true, now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	plan := demoPlan{agents: 30, tenants: 2, days: 2, syncsPerDay: 1, seed: 1, database: demoDatabaseName}
	if _, err := runDemoSyncs(context.Background(), io.Discard, slog.New(slog.DiscardHandler), prog, pool, plan); err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^day \d/2, (\w+): page \d+, (\d+) (agents|definitions|sessions) fetched$`)
	nouns := map[string]bool{}
	for _, drawn := range strings.Split(screen.String(), "\r\033[K") {
		if drawn == "" {
			continue
		}
		m := line.FindStringSubmatch(drawn)
		if m == nil {
			t.Fatalf("progress line %q", drawn)
		}
		nouns[m[3]] = true
		n, _ := strconv.Atoi(m[2])
		if max := map[string]int{"Contoso": plan.agents, "Fabrikam": demoOtherAgents}[m[1]]; m[3] == "agents" && n > max {
			t.Errorf("%q: more agents than the tenant has (%d)", drawn, max)
		}
	}
	for _, noun := range []string{"agents", "definitions", "sessions"} {
		if !nouns[noun] {
			t.Errorf("the progress never counted %s:\n%q", noun, screen.String())
		}
	}
}
