package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load/loadtest"
)

// readerDatabase fills a new database with a simulated month and returns
// its connection string as a member of defender_reader, and the tenant.
func readerDatabase(t *testing.T) (string, string) {
	t.Helper()
	owner := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	synced := loadtest.Sync(t, pool, loadtest.Story{Agents: 40, Days: 10, FailDay: 4})
	u, err := url.Parse(owner)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(dbtest.ReaderRole)
	return u.String(), synced.TenantID
}

func TestReportWritesTheFileAsTheReader(t *testing.T) {
	t.Parallel()
	reader, tenant := readerDatabase(t)
	env := map[string]string{"DATABASE_URL": reader}
	out := filepath.Join(t.TempDir(), "agents.html")
	code, stdout, stderr := runCLI(t, env, "report", "--out", out, "--tenant", strings.ToUpper(tenant), "--since", "30d")
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "wrote "+out) {
		t.Fatalf("report --out: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", "Tenant <b>" + tenant + "</b>", `<figure class="chart"`, "agentsync " + version} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*")); len(left) > 0 {
		t.Errorf("report left %q beside the file", left)
	}

	// Without --out, the report goes to stdout.
	code, stdout, stderr = runCLI(t, env, "report")
	if code != exitOK || !strings.HasPrefix(stdout, "<!DOCTYPE html>") || stderr != "" {
		t.Errorf("report: exit %d, stderr %q, stdout starts %.40q", code, stderr, stdout)
	}
}

// TestReportWritesADirectory: --out-dir writes index.html, the overview,
// and one file per tenant, linked both ways, and leaves no temporary file.
func TestReportWritesADirectory(t *testing.T) {
	t.Parallel()
	reader, tenant := readerDatabase(t)
	dir := filepath.Join(t.TempDir(), "site")
	code, stdout, stderr := runCLI(t, map[string]string{"DATABASE_URL": reader}, "report", "--out-dir", dir)
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "wrote "+filepath.Join(dir, "index.html")) {
		t.Fatalf("report --out-dir: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	page := "tenant-" + tenant + ".html"
	if strings.Join(names, " ") != "index.html "+page {
		t.Fatalf("the directory has %q, want index.html and %s", names, page)
	}
	index, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	own, _ := os.ReadFile(filepath.Join(dir, page))
	if !strings.Contains(string(index), `href="`+page+`"`) || !strings.Contains(string(own), `href="index.html#overview-`+tenant+`"`) {
		t.Error("index.html and the tenant's file do not link to each other")
	}
	if strings.Contains(string(index), `<figure class="chart"`) || !strings.Contains(string(own), `<figure class="chart"`) {
		t.Error("the charts belong in the tenant's file, not in the overview")
	}
	if code, _, stderr := runCLI(t, map[string]string{"DATABASE_URL": reader}, "report", "--out-dir", dir, "--out", filepath.Join(dir, "x.html")); code != exitUsage || !strings.Contains(stderr, "--out-dir") {
		t.Errorf("report --out-dir and --out: exit %d, stderr %q; want %d", code, stderr, exitUsage)
	}
}

func TestReportFailures(t *testing.T) {
	t.Parallel()
	reader, _ := readerDatabase(t)
	env := map[string]string{"DATABASE_URL": reader}
	out := filepath.Join(t.TempDir(), "agents.html")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--tenant", "contoso.example", "--out", out}, exitFailure, `tenant "contoso.example": no sync of this tenant in the database; known tenants: `},
		{[]string{"--since", "last year"}, exitUsage, `--since "last year"`},
		{[]string{"--since", "0d"}, exitUsage, `--since "0d"`},
		{[]string{"--out", filepath.Join(out, "no", "such", "dir.html")}, exitFailure, "write the report"},
	} {
		code, stdout, stderr := runCLI(t, env, append([]string{"report"}, tc.args...)...)
		if code != tc.code || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("report %q: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed report left %s: %v", out, err)
	}
	if code, _, stderr := runCLI(t, nil, "report"); code != exitUsage || !strings.Contains(stderr, "no database given") {
		t.Errorf("report without a database: exit %d, stderr %q", code, stderr)
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90d":        now.AddDate(0, 0, -90),
		"2w":         now.AddDate(0, 0, -14),
		"36h":        now.Add(-36 * time.Hour),
		"2026-01-31": time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-3d", "0w", "-1h", "2027-01-01", "yesterday", "1.5d"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) accepted", in)
		}
	}
}

// TestReportAsATenantsRoleShowsItsTenantOnly: a login given one tenant of
// two with defender.grant_tenant_access gets a report of that tenant
// alone, whatever it asks for: the database filters, not the client.
func TestReportAsATenantsRoleShowsItsTenantOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := dbtest.URL(t)
	pool, err := pgxpool.New(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	end := time.Now().UTC().Truncate(time.Hour)
	mine := loadtest.Sync(t, pool, loadtest.Story{TenantID: "contoso.example", Name: "Contoso", Agents: 30, Days: 10, Seed: 7, End: end})
	other := loadtest.Sync(t, pool, loadtest.Story{Agents: 40, Days: 10, FailDay: 4, End: end})
	var otherAgents []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(agent_id) FROM defender.scan_agents WHERE tenant_id = $1`, other.TenantID).Scan(&otherAgents); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT defender.grant_tenant_access($1, $2)`, dbtest.TenantReaderRole, mine.TenantID); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(owner)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(dbtest.TenantReaderRole)
	env := map[string]string{"DATABASE_URL": u.String()}
	foreign := func(what, text string) {
		t.Helper()
		for _, s := range append([]string{other.TenantID}, otherAgents...) {
			if strings.Contains(text, s) {
				t.Errorf("%s shows %q of the other tenant", what, s)
				return
			}
		}
	}

	dir := filepath.Join(t.TempDir(), "site")
	code, _, stderr := runCLI(t, env, "report", "--out-dir", dir)
	if code != exitOK {
		t.Fatalf("report --out-dir as the tenant's role: exit %d, stderr %q", code, stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		page, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		foreign(e.Name(), string(page))
	}
	if want := "index.html tenant-" + mine.TenantID + ".html"; strings.Join(names, " ") != want {
		t.Errorf("the directory has %q, want %s", names, want)
	}

	code, stdout, stderr := runCLI(t, env, "report", "--since", "30d")
	if code != exitOK || !strings.Contains(stdout, "All tenants (1)") || !strings.Contains(stdout, mine.TenantID) {
		t.Fatalf("report as the tenant's role: exit %d, stderr %q; want all (one) tenant: %s", code, stderr, mine.TenantID)
	}
	foreign("the report", stdout)

	// Asking for the other tenant finds nothing of it: as for a tenant
	// never synced, the known tenants are the role's.
	code, stdout, stderr = runCLI(t, env, "report", "--tenant", other.TenantID)
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "no sync of this tenant") || !strings.Contains(stderr, "known tenants: "+mine.TenantID) {
		t.Errorf("report --tenant of another tenant: exit %d, stdout %.80q, stderr %q; want %d, no sync of it", code, stdout, stderr, exitFailure)
	}
	foreign("report --tenant "+other.TenantID, strings.ReplaceAll(stderr, `"`+other.TenantID+`"`, ""))
}
