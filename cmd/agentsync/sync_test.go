package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
)

func queryInt(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestSyncThreeRunsAgainstTheSimulatedTenant: an initial sync; one with a
// version upgrade, an agent gone and a new one; and one whose fetch fails,
// which changes nothing but sync_runs.
func TestSyncThreeRunsAgainstTheSimulatedTenant(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	agents := defendertest.NewFleet(3, 20, start).AgentsAt(start)
	tenant := defendertest.NewServer(defendertest.WithAgents(agents), defendertest.WithPageSize(7), defendertest.WithCasing(defendertest.CasingMixed))
	t.Cleanup(tenant.Close)
	url := dbtest.URL(t)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = url
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// 1. Initial sync.
	code, stdout, stderr := runCLI(t, env, "sync")
	if code != exitOK || !strings.Contains(stdout, "20 agents (20 new, 0 changed, 0 seen, 0 unchanged), 0 deleted") {
		t.Fatalf("initial sync: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agent_history WHERE valid_to IS NULL`); n != 20 {
		t.Fatalf("open history rows after the initial sync = %d, want 20", n)
	}

	// 2. One upgrade, one agent gone, one new agent.
	upgraded, gone := agents[0], agents[1]
	next := append([]defendertest.Agent(nil), agents[2:]...)
	upgraded.MDEClientVersion = "10.8295.22631.9999"
	newcomer := agents[2]
	newcomer.ID = "0b6f4a52-1111-4c2e-9d8b-5e7a6c3f2d10_5c1e9a7b3d2f4e6a8b0c1d2e3f4a5b6c"
	newcomer.ComputerDNSName = "scanner-new.contoso.local"
	next = append(next, upgraded, newcomer)
	tenant.SetAgents(next)
	code, stdout, stderr = runCLI(t, env, "sync")
	if code != exitOK || !strings.Contains(stdout, "20 agents (1 new, 1 changed, 0 seen, 18 unchanged), 1 deleted") {
		t.Fatalf("second sync: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agent_history WHERE agent_id = $1`, upgraded.ID); n != 2 {
		t.Errorf("history rows of the upgraded agent = %d, want 2", n)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agents WHERE agent_id = $1 AND deleted_at IS NOT NULL`, gone.ID); n != 1 {
		t.Errorf("the vanished agent is not marked deleted")
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agent_history WHERE agent_id = $1 AND valid_to IS NULL`, gone.ID); n != 0 {
		t.Errorf("the vanished agent still has an open history row")
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agent_history WHERE agent_id = $1`, newcomer.ID); n != 1 {
		t.Errorf("history rows of the new agent = %d, want 1", n)
	}
	if n := queryInt(t, pool, `
		SELECT count(*) FROM defender.scan_agent_changes c
		  JOIN defender.sync_runs r USING (run_id)
		 WHERE r.run_id = (SELECT max(run_id) FROM defender.sync_runs WHERE resource = 'agents')
		   AND ((c.agent_id = $1 AND c.attribute = 'mde_client_version' AND c.new_value = '10.8295.22631.9999')
		     OR (c.agent_id = $2 AND c.new_value = 'deleted')
		     OR (c.agent_id = $3 AND c.new_value = 'first seen'))`, upgraded.ID, gone.ID, newcomer.ID); n != 3 {
		t.Errorf("scan_agent_changes of the second run: %d of the 3 expected rows", n)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agent_changes`); n != 23 {
		t.Errorf("scan_agent_changes has %d rows, want 20 first seen + 1 upgrade + 1 deleted + 1 first seen", n)
	}

	// 3. A fetch that fails on its second page changes nothing.
	before := dbtest.RowVersions(t, pool, dbtest.DataTables...)
	tenant.SetAgents(agents)
	tenant.Inject(defendertest.Status(403).OnPage(2))
	code, stdout, stderr = runCLI(t, env, "sync")
	if code != exitFailure || !strings.Contains(stderr, "nothing changed") || !strings.Contains(stderr, "403") {
		t.Fatalf("failing sync: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if after := dbtest.RowVersions(t, pool, dbtest.DataTables...); after != before {
		t.Fatalf("the failing sync changed data:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	var statuses string
	if err := pool.QueryRow(context.Background(), `SELECT string_agg(status, ',' ORDER BY run_id) FROM defender.sync_runs WHERE resource = 'agents'`).Scan(&statuses); err != nil {
		t.Fatal(err)
	}
	if statuses != "succeeded,succeeded,failed" {
		t.Fatalf("sync_runs statuses = %s", statuses)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.sync_runs WHERE status = 'failed' AND error LIKE '%403%'`); n != 1 {
		t.Errorf("the failed run does not record its error")
	}
	for _, out := range []string{stdout, stderr} {
		if strings.Contains(out, defendertest.DefaultClientSecret) {
			t.Fatal("output shows the client secret")
		}
	}
}

func TestSyncConfigurationErrorsExit2(t *testing.T) {
	t.Parallel()
	tenant := defendertest.NewServer()
	t.Cleanup(tenant.Close)
	base := fetchEnv(tenant)
	base["DATABASE_URL"] = dbtest.ServerURL()
	cases := map[string]func(env map[string]string){
		"no tenant":        func(env map[string]string) { delete(env, "DEFENDER_TENANT_ID") },
		"no credentials":   func(env map[string]string) { delete(env, "DEFENDER_CLIENT_SECRET") },
		"bad guard":        func(env map[string]string) { env["SYNC_MAX_DELETED_FRACTION"] = "2" },
		"bad database url": func(env map[string]string) { env["DATABASE_URL"] = "postgres://u:pw@h:notaport/db" },
		"bad log level":    func(env map[string]string) { env["LOG_LEVEL"] = "loud" },
		"unknown cloud":    func(env map[string]string) { env["DEFENDER_CLOUD"] = "mars" },
		"region off-cloud": func(env map[string]string) { env["DEFENDER_CLOUD"] = "gcc"; env["DEFENDER_REGION"] = "eu" },
		"secret file gone": func(env map[string]string) {
			delete(env, "DEFENDER_CLIENT_SECRET")
			env["DEFENDER_CLIENT_SECRET_FILE"] = "/nonexistent/secret"
		},
		"negative max count": func(env map[string]string) { env["SYNC_MAX_DELETED_COUNT"] = "-3" },
		"bad sync timeout":   func(env map[string]string) { env["SYNC_TIMEOUT"] = "soon" },
		"zero sync timeout":  func(env map[string]string) { env["SYNC_TIMEOUT"] = "0s" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			mutate(env)
			code, _, stderr := runCLI(t, env, "sync", "--no-migrate")
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, stderr)
			}
			if strings.Contains(stderr, defendertest.DefaultClientSecret) || strings.Contains(stderr, ":pw@") {
				t.Fatalf("stderr shows a secret: %s", stderr)
			}
		})
	}
}

func TestSyncSkipsWhileAnotherSyncRuns(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	tenant := defendertest.NewServer(defendertest.WithAgents(defendertest.NewFleet(4, 5, start).AgentsAt(start)))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	if code, _, stderr := runCLI(t, env, "migrate"); code != exitOK {
		t.Fatalf("migrate: %s", stderr)
	}
	tenant.Inject(defendertest.Slow(3 * time.Second))
	first := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, env, "sync", "--no-migrate")
		first <- code
	}()
	// Wait until the first sync holds the lock and has started its fetch.
	deadline := time.Now().Add(10 * time.Second)
	for tenant.Stats().APIRequests == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	code, stdout, stderr := runCLI(t, env, "sync", "--no-migrate")
	if code != exitOK || !strings.Contains(stdout, ": skipped: another sync") {
		t.Fatalf("second sync: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if code := <-first; code != exitOK {
		t.Fatalf("first sync: exit %d", code)
	}
}

// latestRun reads the status and error of the tenant's latest agents run.
func latestRun(t *testing.T, pool *pgxpool.Pool) (status, errText string) {
	t.Helper()
	var e *string
	if err := pool.QueryRow(context.Background(), `
		SELECT status, error FROM defender.sync_runs WHERE resource = 'agents' ORDER BY run_id DESC LIMIT 1`).Scan(&status, &e); err != nil {
		t.Fatal(err)
	}
	if e != nil {
		errText = *e
	}
	return status, errText
}

// TestSyncOfABadBodyEndsFailed: a 200 whose JSON string holds a raw NUL,
// or a raw control character next to invalid UTF-8, fails the sync, and
// the run ends failed with that error, not left running.
func TestSyncOfABadBodyEndsFailed(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	tenant := defendertest.NewServer(defendertest.WithAgents(defendertest.NewFleet(5, 4, start).AgentsAt(start)))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if code, _, stderr := runCLI(t, env, "sync"); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	for name, body := range map[string]string{
		"raw NUL":                       "{\"value\":[{\"id\":\"a\x00b\"}]}",
		"raw newline and invalid UTF-8": "{\"value\":[{\"id\":\"x_1\",\"computerDnsName\":\"M\xfcnchen\nBuild\"}]}",
	} {
		tenant.Inject(defendertest.RawBody([]byte(body)))
		code, stdout, stderr := runCLI(t, env, "sync", "--no-migrate")
		if code != exitFailure {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", name, code, exitFailure, stdout, stderr)
		}
		status, errText := latestRun(t, pool)
		if status != "failed" || !strings.Contains(errText, "not the expected JSON") {
			t.Errorf("%s: latest run %s with error %q, want failed with the parse error", name, status, errText)
		}
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.sync_runs WHERE status = 'running'`); n != 0 {
		t.Errorf("%d runs left running", n)
	}
}

// TestSyncShowsServerBytesSafely: a body with a 2 MB bad literal holding
// terminal escape sequences, NUL, invalid UTF-8, the client secret and
// the bearer token in use fails the sync; stderr, its log lines and
// sync_runs.error show the real error, escaped, redacted and bounded.
func TestSyncShowsServerBytesSafely(t *testing.T) {
	t.Parallel()
	const jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	tenant := defendertest.NewServer(defendertest.WithAgents(defendertest.NewFleet(6, 4, start).AgentsAt(start)))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["LOG_LEVEL"] = "debug"
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	literal := "\x1b]0;owned\x07\x1b[2J\x00M\xfcnchen\nBuild " + defendertest.DefaultClientSecret + " Bearer " +
		defendertest.EchoedToken + " " + jwt + " " + strings.Repeat("A\x01", 1<<20)
	tenant.Inject(defendertest.RawBody([]byte(`{"value":[{"id":"` + literal + `"}]}`)))
	code, stdout, stderr := runCLI(t, env, "sync")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %.2000s", code, exitFailure, stdout, stderr)
	}
	secrets := append(tenant.IssuedTokens(), defendertest.DefaultClientSecret, jwt)
	check := func(what, s string, limit int) {
		t.Helper()
		if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
			t.Errorf("%s holds control characters or invalid UTF-8: %.300q", what, s)
		}
		if len(s) > limit {
			t.Errorf("%s of %d bytes, want at most %d: %.200q...", what, len(s), limit, s)
		}
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s shows a secret: %.300q", what, s)
			}
		}
	}

	var failure, logged string
	for line := range strings.Lines(stderr) {
		line = strings.TrimSuffix(line, "\n")
		// A log line escapes the error once more as JSON.
		check("stderr line", line, 3*1024)
		var entry struct{ Msg, Error string }
		switch {
		case strings.HasPrefix(line, "agentsync sync: tenant ") && strings.Contains(line, ": agents run 1 failed"):
			failure = line
		case json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "sync failed":
			logged = entry.Error
			check("logged error", entry.Error, 1024)
		}
	}
	const want = `not the expected JSON (status 200, content type "application/json; odata.metadata=minimal; charset=utf-8"): hujson: line 1, column 17: invalid literal: "\x1b]0;owned\x07\x1b[2J\x00M\xfcnchen\nBuild [redacted] Bearer [redacted] [redacted] A\x01A\x01`
	if !strings.Contains(failure, want) || !strings.Contains(logged, want) {
		t.Errorf("stderr does not show the real error made safe, %q:\n%.3000s", want, stderr)
	}
	status, stored := latestRun(t, pool)
	check("sync_runs.error", stored, 1024)
	if status != "failed" || !strings.Contains(stored, want) || !strings.Contains(stored, "…[truncated]") {
		t.Errorf("run %s with error %q; want failed with the real error, cut with a marker", status, stored)
	}
	if len(stderr) > 16*1024 {
		t.Errorf("%d bytes on stderr for one failed sync", len(stderr))
	}
}

// TestSyncTimeoutCancelsTheSync: a sync still running after --sync-timeout
// is cancelled, rolled back and recorded failed, saying why.
func TestSyncTimeoutCancelsTheSync(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	tenant := defendertest.NewServer(defendertest.WithAgents(defendertest.NewFleet(7, 6, start).AgentsAt(start)), defendertest.WithPageSize(2))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tenant.Inject(defendertest.Slow(10 * time.Minute).OnPage(2))
	began := time.Now()
	code, stdout, stderr := runCLI(t, env, "sync", "--sync-timeout", "1s")
	if code != exitFailure || !strings.Contains(stderr, "sync timed out: still running after 1s, cancelled and rolled back") {
		t.Fatalf("exit %d, want %d naming the timeout\nstdout: %s\nstderr: %s", code, exitFailure, stdout, stderr)
	}
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("the sync took %s with a timeout of 1s", took)
	}
	if status, errText := latestRun(t, pool); status != "failed" || !strings.Contains(errText, "sync timed out") {
		t.Errorf("run %s with error %q, want failed with the timeout", status, errText)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender_storage.agent_state`); n != 0 {
		t.Errorf("%d agents written by the timed-out sync", n)
	}
}

// TestSyncWithholdsDeletionsWhenAnIDIsMissing: agents listed with a null
// id are not taken for deleted agents: the sync withholds its deletions,
// and they do not "return" with a false gap at the next sync.
func TestSyncWithholdsDeletionsWhenAnIDIsMissing(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	agents := defendertest.NewFleet(8, 20, start).AgentsAt(start)
	tenant := defendertest.NewServer(defendertest.WithAgents(agents), defendertest.WithPageSize(6))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if code, _, stderr := runCLI(t, env, "sync"); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}

	unidentified := append([]defendertest.Agent(nil), agents...)
	unidentified[3].ID, unidentified[11].ID = "", "" // sent as "id": null
	tenant.SetAgents(unidentified)
	code, stdout, stderr := runCLI(t, env, "sync", "--no-migrate")
	if code != exitOK || !strings.Contains(stdout, "18 agents (0 new, 0 changed, 0 seen, 18 unchanged), 0 deleted, 2 deletions withheld, 2 rejected") {
		t.Fatalf("sync with two null ids: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "deletions withheld: the listing had records without a usable id") {
		t.Errorf("no warning of the withheld deletions:\n%s", stderr)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agents WHERE deleted_at IS NOT NULL`); n != 0 {
		t.Errorf("%d agents marked deleted", n)
	}
	if n := queryInt(t, pool, `SELECT deletions_withheld FROM defender.sync_runs WHERE resource = 'agents' ORDER BY run_id DESC LIMIT 1`); n != 2 {
		t.Errorf("sync_runs.deletions_withheld = %d, want 2", n)
	}

	// Listed whole again: nothing returns, so no false gap in the history.
	tenant.SetAgents(agents)
	if code, stdout, stderr := runCLI(t, env, "sync", "--no-migrate"); code != exitOK || !strings.Contains(stdout, "20 agents (0 new, 0 changed, 0 seen, 20 unchanged), 0 deleted") {
		t.Fatalf("sync of the whole listing: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agent_history`); n != 20 {
		t.Errorf("%d history versions, want one per agent", n)
	}
}

// TestSyncCountsAMovedHeartbeatAsSeen: a sync in which only the agents'
// last_seen moved changed nothing: the summary, the log and sync_runs
// count those agents as seen, not changed, as scan_agent_changes (no row)
// and the demo's legend do.
func TestSyncCountsAMovedHeartbeatAsSeen(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	agents := defendertest.NewFleet(5, 12, start).AgentsAt(start)
	tenant := defendertest.NewServer(defendertest.WithAgents(agents))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["LOG_FORMAT"] = "json"
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if code, _, stderr := runCLI(t, env, "sync"); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	moved := append([]defendertest.Agent(nil), agents...)
	for i := range moved {
		moved[i].LastSeen = moved[i].LastSeen.Add(time.Hour)
	}
	tenant.SetAgents(moved)
	code, stdout, stderr := runCLI(t, env, "sync", "--no-migrate")
	if code != exitOK || !strings.Contains(stdout, "12 agents (0 new, 0 changed, 12 seen, 0 unchanged), 0 deleted") {
		t.Fatalf("sync of moved heartbeats: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, `"changed":0,"seen":12,"unchanged":0`) {
		t.Errorf("the log line does not count the agents as seen:\n%s", stderr)
	}
	if n := queryInt(t, pool, `
		SELECT count(*) FROM defender.sync_runs
		 WHERE run_id = (SELECT max(run_id) FROM defender.sync_runs WHERE resource = 'agents')
		   AND agents_changed = 0 AND records_changed = 0 AND agents_heartbeat_only = 12 AND agents_unchanged = 0`); n != 1 {
		t.Errorf("sync_runs does not count the 12 agents as heartbeat-only")
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agent_changes WHERE attribute <> 'agent'`); n != 0 {
		t.Errorf("%d rows in scan_agent_changes for moved heartbeats", n)
	}
}

// TestSyncCountsRepairedFields: a NUL inside a field is dropped to store
// it, and the sync says so: in its summary, in one log line naming the
// field and the agent, and in sync_runs.fields_repaired.
func TestSyncCountsRepairedFields(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	agents := defendertest.NewFleet(6, 5, start).AgentsAt(start)
	agents[2].ComputerDNSName = "scanner\x00-2.contoso.local"
	tenant := defendertest.NewServer(defendertest.WithAgents(agents))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["SYNC_RESOURCES"] = "agents"
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	code, stdout, stderr := runCLI(t, env, "sync")
	if code != exitOK || !strings.Contains(stdout, ", 1 fields repaired, ") {
		t.Fatalf("sync: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, `"fields_repaired":1,"fields":["computerDnsName"],"ids":["`+agents[2].ID+`"]`) {
		t.Errorf("no log line naming the repaired field and its agent:\n%s", stderr)
	}
	if n := queryInt(t, pool, `SELECT fields_repaired FROM defender.sync_runs WHERE resource = 'agents'`); n != 1 {
		t.Errorf("sync_runs.fields_repaired = %d, want 1", n)
	}
	if n := queryInt(t, pool, `SELECT count(*) FROM defender.scan_agents WHERE computer_dns_name = 'scanner-2.contoso.local'`); n != 1 {
		t.Errorf("the repaired value is not stored")
	}
}

// TestSyncOfAHeldTenantExitsOne: another holder has the tenant's lease
// and no sync of it is running: sync skips it, names the holder on stderr
// and exits 1.
func TestSyncOfAHeldTenantExitsOne(t *testing.T) {
	t.Parallel()
	tenant := fetchTenant(t)
	url := dbtest.URL(t)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = url
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), `
		WITH t AS (INSERT INTO defender_storage.tenants (tenant_id) VALUES (lower($1)))
		INSERT INTO defender_storage.tenant_leases (tenant_id, holder, taken_at, expires_at)
		VALUES (lower($1), 'stuck-host:99/feedf00d', now() - interval '1 hour', now() + interval '1 hour')`, env["DEFENDER_TENANT_ID"]); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, env, "sync")
	if code != exitFailure || !strings.Contains(stderr, "stuck-host:99/feedf00d") || !strings.Contains(stdout, "skipped") {
		t.Fatalf("sync of a held tenant: exit %d, want %d naming the holder\nstdout: %s\nstderr: %s", code, exitFailure, stdout, stderr)
	}
}
