package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/scanagent"
)

// scanTenant is a simulated tenant whose fleet runs scans, now, with a
// few weeks of history (the loader and fetch read the history back from
// the wall clock).
func scanTenant(t *testing.T, opts ...defendertest.Option) *defendertest.Server {
	t.Helper()
	start := time.Now().UTC().Add(-20 * 24 * time.Hour)
	fleet := defendertest.NewFleet(11, 120, start)
	tenant := defendertest.NewServer(append([]defendertest.Option{defendertest.WithFleet(fleet, time.Now())}, opts...)...)
	t.Cleanup(tenant.Close)
	return tenant
}

func TestSyncFetchesEveryResourceInRunsOfTheirOwn(t *testing.T) {
	t.Parallel()
	tenant := scanTenant(t, defendertest.WithPageSize(30))
	url := dbtest.URL(t)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = url
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	code, stdout, stderr := runCLI(t, env, "sync")
	if code != exitOK {
		t.Fatalf("sync: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	defs := tenant.Definitions()
	for _, want := range []string{
		"sync succeeded: run 1, ",
		fmt.Sprintf("definitions sync succeeded: run 2, %d definitions (%d new, 0 changed, 0 unchanged), 0 deleted", len(defs), len(defs)),
		"history sync succeeded: run 3, ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	var sessions, targets, withTargets int
	if err := pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM defender.scan_sessions WHERE source = 'history'),
		       (SELECT count(*) FROM defender.scan_targets),
		       (SELECT count(*) FROM defender.scan_sessions WHERE targets_recorded)`).Scan(&sessions, &targets, &withTargets); err != nil {
		t.Fatal(err)
	}
	if sessions == 0 || targets == 0 || withTargets != sessions {
		t.Errorf("%d sessions from the history, %d with targets, %d targets", sessions, withTargets, targets)
	}
	// Only what SYNC_RESOURCES names, in its own run; the lookback is a
	// setting.
	env["SYNC_RESOURCES"] = "definitions"
	if code, stdout, stderr = runCLI(t, env, "sync", "--no-migrate"); code != exitOK || strings.Count(stdout, "\n") != 1 ||
		!strings.Contains(stdout, "definitions sync succeeded: run 4") {
		t.Fatalf("definitions only: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// A failure of one resource fails the command, and undoes no other.
	env["SYNC_RESOURCES"] = "agents,definitions"
	tenant.Inject(defendertest.Status(403).On(defendertest.DefinitionsPath))
	code, stdout, stderr = runCLI(t, env, "sync", "--no-migrate")
	if code != exitFailure || !strings.Contains(stdout, "sync succeeded: run 5") ||
		!strings.Contains(stderr, "definitions run 6 failed, nothing changed") {
		t.Fatalf("definitions failing: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for name, env2 := range map[string]map[string]string{
		"bad resource": {"SYNC_RESOURCES": "agents,scans"},
		"bad lookback": {"SCAN_HISTORY_LOOKBACK": "a week"},
		"no lookback":  {"SCAN_HISTORY_LOOKBACK": "0s"},
	} {
		e := fetchEnv(tenant)
		e["DATABASE_URL"] = url
		for k, v := range env2 {
			e[k] = v
		}
		if code, _, stderr := runCLI(t, e, "sync", "--no-migrate"); code != exitUsage {
			t.Errorf("%s: exit %d, want 2\n%s", name, code, stderr)
		}
	}
}

func TestFetchPrintsAnyResource(t *testing.T) {
	t.Parallel()
	tenant := scanTenant(t, defendertest.WithCasing(defendertest.CasingMixed))
	code, stdout, stderr := runCLI(t, fetchEnv(tenant), "fetch", "--resource", "definitions")
	if code != exitOK {
		t.Fatalf("fetch definitions: exit %d\n%s", code, stderr)
	}
	defs := tenant.Definitions()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(defs) {
		t.Fatalf("%d lines, want %d definitions", len(lines), len(defs))
	}
	for i, d := range defs {
		want, _ := json.Marshal(d.Record())
		if lines[i] != string(want) {
			t.Fatalf("line %d:\n got %s\nwant %s", i+1, lines[i], want)
		}
	}
	if !strings.Contains(stderr, fmt.Sprintf("agentsync fetch: %d definitions in 1 pages", len(defs))) {
		t.Errorf("stderr lacks the summary:\n%s", stderr)
	}

	// Sessions run on whole minutes: a lookback that ends half a minute
	// off them reads the same sessions whenever fetch computes it.
	now := time.Now()
	lookback := 24*time.Hour + time.Duration(30-now.Second())*time.Second
	env := fetchEnv(tenant)
	env["SCAN_HISTORY_LOOKBACK"] = lookback.String()
	code, stdout, stderr = runCLI(t, env, "fetch", "--resource", "History")
	if code != exitOK {
		t.Fatalf("fetch history: exit %d\n%s", code, stderr)
	}
	lines = strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	var ids []string
	for _, d := range defs {
		ids = append(ids, d.ID)
	}
	var want []string
	for _, s := range tenant.Sessions(ids...) {
		if s.ScannedAt.Before(now.Add(-lookback)) {
			continue
		}
		rec := s.Record(true)
		rec.ScannerID = s.ScannerID // the history by definition names it
		b, _ := json.Marshal(rec)
		want = append(want, string(b))
	}
	if len(want) < 10 || len(lines) != len(want) {
		t.Fatalf("fetch history printed %d sessions, want %d:\n%.500s", len(lines), len(want), stdout)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Fatalf("session %d:\n got %s\nwant %s", i+1, lines[i], want[i])
		}
	}
	targets := 0
	for _, line := range lines {
		var s scanagent.ScanSession
		if err := json.Unmarshal([]byte(line), &s); err != nil || !s.TargetsReported {
			t.Fatalf("a session without its targets: %s", line)
		}
		targets += len(s.ScannedTargets)
	}
	if targets == 0 {
		t.Error("fetch history printed no target")
	}
	if code, _, stderr := runCLI(t, fetchEnv(tenant), "fetch", "--resource", "scans"); code != exitUsage || !strings.Contains(stderr, "--resource") {
		t.Errorf("bad resource: exit %d\n%s", code, stderr)
	}
}

// TestScanCredentialsReachNoOutput: a distinct canary in every field of
// every variant of scanAuthenticationParams, and under every
// credential-like name at depths 1 to 3 of agents and definitions,
// reaches neither the database (every row of every table), nor a log
// line, an error or fetch's output, whether the definitions body reads or
// is broken around them.
func TestScanCredentialsReachNoOutput(t *testing.T) {
	t.Parallel()
	tenant := scanTenant(t)
	agents, canaries := defendertest.CanaryAgents(tenant.Agents()[:5])
	tenant.SetAgents(agents)
	defs, defCanaries := defendertest.CanaryDefinitions(agents[0])
	canaries = append(canaries, defCanaries...)
	now := time.Now().UTC().Truncate(time.Minute)
	sessions := []defendertest.Session{{DefinitionID: defs[0].ID, SessionID: "0123456789abcdef0123456789abcdef", ScannerID: agents[0].MachineID,
		Status: "Success", ScannedAt: now.Add(-time.Hour), Targets: []defendertest.Target{{IP: "10.99.0.1", Status: "Success", Duration: time.Minute}}}}
	for i := range defs {
		defs[i].LatestScan = &defendertest.LatestScan{Status: "Success", ExecutedAt: now.Add(-time.Duration(i+1) * time.Hour)}
	}
	tenant.SetScans(defs, sessions)
	url := dbtest.URL(t)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = url
	env["LOG_LEVEL"] = "debug"

	var out []string
	run := func(args ...string) int {
		code, stdout, stderr := runCLI(t, env, args...)
		out = append(out, strings.Join(args, " "), stdout, stderr)
		return code
	}
	if code := run("sync"); code != exitOK {
		t.Fatalf("sync: exit %d\n%s", code, strings.Join(out, "\n"))
	}
	run("fetch")
	run("fetch", "--resource", "definitions")
	run("fetch", "--resource", "history")
	// Broken bodies: cut inside a credential, and a bad literal after one.
	body := string(defendertest.RenderDefinitions(tenant.URL, defs, defendertest.CasingVendor, ""))
	pw := strings.Index(body, "CANARY-Windows-password")
	pwEnd := pw + strings.IndexByte(body[pw:], '"') + 1
	for _, broken := range []string{body[:pw+12], body[:pwEnd] + " CANARY-bare " + body[pwEnd:]} {
		tenant.Inject(defendertest.RawBody([]byte(broken)).On(defendertest.DefinitionsPath))
		if code := run("sync", "--no-migrate", "--resources", "definitions"); code != exitFailure {
			t.Fatalf("sync of a broken body: exit %d", code)
		}
		tenant.Inject(defendertest.RawBody([]byte(broken)).On(defendertest.DefinitionsPath))
		run("fetch", "--resource", "definitions")
	}
	canaries = append(canaries, "CANARY-bare")

	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	dump := dumpDatabase(t, pool)
	if !strings.Contains(dump, "SnmpAuthParams") || !strings.Contains(dump, "WindowsAuthParams") || !strings.Contains(dump, "not valid JSON") {
		t.Fatalf("the dump lacks the definitions or the failed runs:\n%.2000s", dump)
	}
	all := strings.Join(out, "\n")
	if !strings.Contains(all, `"level":"DEBUG"`) || !strings.Contains(all, "LinuxAuthParams") ||
		!strings.Contains(all, "agents: removed members that may hold credentials") || !strings.Contains(all, "scan definitions: removed members") {
		t.Fatalf("the commands did not run as planned:\n%.3000s", all)
	}
	for _, c := range canaries {
		for name, text := range map[string]string{"the database": dump, "the output": all} {
			if i := strings.Index(text, c); i >= 0 {
				t.Errorf("canary %s reached %s: %q", c, name, text[max(0, i-200):min(len(text), i+len(c)+50)])
			}
		}
	}
}

// dumpDatabase renders every row of every table of the database, whatever
// its schema, as text.
func dumpDatabase(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT c.oid::regclass::text FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
		 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := pool.Query(ctx, `SELECT t::text FROM `+table+` t`)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		b.WriteString("-- " + table + "\n")
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			b.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestSyncCountsRepairedScanFields: the fields of scan definitions and of
// the scan history repaired to be stored are counted in their runs and
// named, with their records' ids, in one line per run; a session whose id
// is a number is rejected, not stored under its digits.
func TestSyncCountsRepairedScanFields(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	defs := []defendertest.Definition{{ID: "def-1", Name: "weekly\x00scan", IsActive: true, Target: "10.0.0.1"}}
	sessions := []defendertest.Session{{
		DefinitionID: "def-1", SessionID: "s-1", Status: "Fail", ScannedAt: now.Add(-time.Hour), GeneralError: "timed\x00out",
		Targets: []defendertest.Target{{IP: "10.0.0.1", Hostname: "host\x00-1", Status: "Failure"}},
	}}
	tenant := defendertest.NewServer(defendertest.WithScans(defs, sessions))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["SYNC_RESOURCES"] = "definitions,history"
	pool := testPool(t, env["DATABASE_URL"])
	stderr := syncOK(t, env)
	for _, want := range []string{
		`"msg":"scan definitions: repaired fields PostgreSQL cannot store as sent`,
		`"fields_repaired":1,"fields":["scanName"],"ids":["def-1"]`,
		`"msg":"scan history: repaired fields PostgreSQL cannot store as sent`,
		`"fields_repaired":2,"fields":["generalErrorMessage","scannedTargets.hostname"],"ids":["s-1"]`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %s:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "repaired fields PostgreSQL cannot store as sent"); n != 2 {
		t.Errorf("%d lines about repaired fields, want one per run:\n%s", n, stderr)
	}
	var defsRepaired, historyRepaired int
	if err := pool.QueryRow(context.Background(), `
		SELECT (SELECT fields_repaired FROM defender.sync_runs WHERE resource = 'definitions'),
		       (SELECT fields_repaired FROM defender.sync_runs WHERE resource = 'history')`).Scan(&defsRepaired, &historyRepaired); err != nil {
		t.Fatal(err)
	}
	if defsRepaired != 1 || historyRepaired != 2 {
		t.Errorf("fields_repaired: definitions %d, history %d; want 1 and 2", defsRepaired, historyRepaired)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_targets WHERE hostname = 'host-1'`); n != 1 {
		t.Errorf("the repaired target is not stored")
	}

	// A session whose id is a number is rejected as one without an id.
	env["SYNC_RESOURCES"] = "history"
	tenant.Inject(defendertest.RawBody([]byte(`{"value":[{"scanDefinitionId":"def-1","sessionId":4242,"lastScanned":"` +
		now.Add(-time.Minute).Format(time.RFC3339) + `","scanStatus":"Success"}]}`)).On(defendertest.HistoryByDefinitionPath))
	stderr = syncOK(t, env, "--no-migrate")
	if !strings.Contains(stderr, "want an id string, got number 4242") {
		t.Errorf("no warning naming the id that is no string:\n%s", stderr)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_sessions WHERE session_id = '4242'`); n != 0 {
		t.Errorf("a session stored under the digits of its id")
	}
	if n := queryInt(t, pool, `SELECT records_rejected FROM defender.sync_runs WHERE resource = 'history' ORDER BY run_id DESC LIMIT 1`); n != 1 {
		t.Errorf("history run: %d records rejected, want 1", n)
	}
}

// testPool connects to the database at url for the test's duration.
func testPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// syncOK runs sync with env and args, fails the test unless it exits 0,
// and returns its stderr.
func syncOK(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, env, append([]string{"sync"}, args...)...)
	if code != exitOK {
		t.Fatalf("sync: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	return stderr
}
