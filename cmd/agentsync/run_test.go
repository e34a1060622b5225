package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/logtest"
)

// daemonSetup is a simulated tenant and a test database, and the
// environment that points agentsync at both.
type daemonSetup struct {
	tenant *defendertest.Server
	pool   *pgxpool.Pool
	env    map[string]string
}

func setupDaemon(t *testing.T, opts ...defendertest.Option) *daemonSetup {
	t.Helper()
	start := time.Now().Add(-30 * 24 * time.Hour)
	opts = append([]defendertest.Option{defendertest.WithFleet(defendertest.NewFleet(3, 60, start), time.Now()), defendertest.WithPageSize(25)}, opts...)
	tenant := defendertest.NewServer(opts...)
	t.Cleanup(tenant.Close)
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(defendertest.DefaultClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &daemonSetup{tenant: tenant, pool: pool, env: map[string]string{
		"DATABASE_URL":                url,
		"DEFENDER_TENANT_ID":          defendertest.DefaultTenantID,
		"DEFENDER_CLIENT_ID":          defendertest.DefaultClientID,
		"DEFENDER_CLIENT_SECRET_FILE": secretFile,
		"DEFENDER_API_URL":            tenant.URL,
		"DEFENDER_TOKEN_URL":          tenant.TokenURL(),
		"LOG_FORMAT":                  "json",
		"LOG_LEVEL":                   "debug",
	}}
}

// runs counts the tenant's agents runs by status.
func (s *daemonSetup) runs(t *testing.T) map[string]int {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT status, count(*) FROM defender.sync_runs WHERE resource = 'agents' GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			t.Fatal(err)
		}
		out[status] = n
	}
	return out
}

func (s *daemonSetup) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// metricsAddr finds the address the daemon logged it serves metrics on.
func metricsAddr(t *testing.T, logs *logtest.Buffer) string {
	t.Helper()
	var addr string
	waitFor(t, "the metrics server", func() bool {
		for line := range strings.Lines(logs.String()) {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && strings.HasPrefix(entry.Msg, "serving /metrics") {
				addr = entry.Addr
				return true
			}
		}
		return false
	})
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunRejectsBadScheduleWithExitTwo(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"CRON_TZ=", "TZ=Bad/Zone * * * * *", "CRON_TZ=Europe/Paris", "every hour", "61 * * * *"} {
		// No reachable database and no tenant: the schedule is checked first.
		code, _, errOut := runCLI(t, map[string]string{"SYNC_SCHEDULE": spec, "DATABASE_URL": "postgres://127.0.0.1:1/x"}, "run")
		if code != exitUsage || !strings.Contains(errOut, "schedule") {
			t.Errorf("SYNC_SCHEDULE=%q: exit %d, stderr %q; want %d and a word on the schedule", spec, code, errOut, exitUsage)
		}
	}
	for _, args := range [][]string{{"--jitter", "soon"}, {"--shutdown-grace", "0s"}, {"--metrics-addr", "nonsense"}, {"--max-deleted-fraction", "2"}, {"--sync-timeout", "0s"}, {"--observation-retention", "1h"}, {"--observation-retention", "forever"}, {"extra"}} {
		if code, _, errOut := runCLI(t, nil, append([]string{"run"}, args...)...); code != exitUsage {
			t.Errorf("run %q: exit %d, stderr %q; want %d", args, code, errOut, exitUsage)
		}
	}
}

func TestRunSyncsOnScheduleAndServesMetrics(t *testing.T) {
	t.Parallel()
	s := setupDaemon(t)
	_, logs, stop, wait := startCLI(t, s.env, "run", "--schedule", "@every 1s", "--run-on-start", "--metrics-addr", "127.0.0.1:0")
	addr := metricsAddr(t, logs)
	waitFor(t, "three successful runs", func() bool { return s.runs(t)["succeeded"] >= 3 })

	if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after good syncs = %d %q", code, body)
	}
	_, body := httpGet(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`agentsync_sync_runs_total{status="succeeded",tenant="` + defendertest.DefaultTenantID + `"}`,
		`agentsync_api_requests_total{code="200",tenant="` + defendertest.DefaultTenantID + `"}`,
		`agentsync_token_fetches_total{result="success",tenant="` + defendertest.DefaultTenantID + `"} 1`,
		`agentsync_agents_total{outcome="inserted",tenant="` + defendertest.DefaultTenantID + `"}`,
		`agentsync_last_success_timestamp_seconds{tenant="` + defendertest.DefaultTenantID + `"}`,
		`agentsync_sync_duration_seconds_bucket`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `agentsync_sync_runs_total{status="succeeded",tenant="`+defendertest.DefaultTenantID+`"} 0`) {
		t.Error("/metrics counts no successful run")
	}

	stop() // as SIGTERM
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d after the stop signal, want 0; logs:\n%s", code, logs)
	}
	if n := s.runs(t)["running"]; n != 0 {
		t.Errorf("%d runs still running after shutdown", n)
	}
	// One structured line per run, with its counts.
	if !strings.Contains(logs.String(), `"msg":"sync succeeded"`) || !strings.Contains(logs.String(), `"inserted":`) {
		t.Errorf("no structured run line in the logs:\n%s", logs)
	}
	if strings.Contains(logs.String(), defendertest.DefaultClientSecret) {
		t.Error("the logs show the client secret")
	}
}

func TestRunShutdownMidSyncRollsBackAndExitsZero(t *testing.T) {
	t.Parallel()
	s := setupDaemon(t)
	// Every page after the first takes far longer than the grace period.
	s.tenant.Inject(defendertest.Slow(10 * time.Minute).OnPage(2).Always())
	_, logs, stop, wait := startCLI(t, s.env, "run", "--schedule", "@yearly", "--run-on-start", "--shutdown-grace", "200ms")
	waitFor(t, "a sync in flight", func() bool { return s.runs(t)["running"] == 1 && s.tenant.Stats().APIRequests >= 2 })
	stop()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d after the stop signal, want 0; logs:\n%s", code, logs)
	}
	if got := s.runs(t); got["failed"] != 1 || got["running"] != 0 || got["succeeded"] != 0 {
		t.Fatalf("runs after the cancelled sync: %v, want one failed", got)
	}
	for _, table := range []string{"defender_storage.agent_state", "defender.scan_agent_history", "defender.scan_agent_observations"} {
		if n := s.count(t, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%s has %d rows after a cancelled sync, want 0", table, n)
		}
	}
}

func TestRunReadinessFailsAfterAFailedSync(t *testing.T) {
	t.Parallel()
	s := setupDaemon(t)
	s.tenant.Inject(defendertest.Status(403).Always())
	_, logs, stop, wait := startCLI(t, s.env, "run", "--schedule", "@yearly", "--run-on-start", "--metrics-addr", "127.0.0.1:0")
	addr := metricsAddr(t, logs)
	waitFor(t, "the failed run", func() bool { return s.runs(t)["failed"] >= 1 })
	code, body := httpGet(t, "http://"+addr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "failed") {
		t.Errorf("/readyz after a failed sync = %d %q, want 503 naming the failure", code, body)
	}
	if code, _ := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d: a failed sync does not make the process unhealthy", code)
	}
	// The run's row is written before the sync returns (and gives its
	// tenant's lease back); the metrics count it once it has.
	waitFor(t, "/metrics to count the failure", func() bool {
		_, metricsBody := httpGet(t, "http://"+addr+"/metrics")
		return strings.Contains(metricsBody, `agentsync_sync_runs_total{status="failed",tenant="`+defendertest.DefaultTenantID+`"} 1`) &&
			strings.Contains(metricsBody, `agentsync_api_requests_total{code="403",tenant="`+defendertest.DefaultTenantID+`"}`)
	})
	stop()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

// TestRunReadinessFailsAfterABadBody: a sync failed by a body whose JSON
// string holds a raw NUL ends failed, so /readyz says not ready.
func TestRunReadinessFailsAfterABadBody(t *testing.T) {
	t.Parallel()
	s := setupDaemon(t)
	s.tenant.Inject(defendertest.RawBody([]byte("{\"value\":[{\"id\":\"a\x00b\"}]}")))
	_, logs, stop, wait := startCLI(t, s.env, "run", "--schedule", "@yearly", "--run-on-start", "--metrics-addr", "127.0.0.1:0")
	addr := metricsAddr(t, logs)
	waitFor(t, "the sync to end", func() bool { return strings.Contains(logs.String(), `"msg":"sync failed"`) })
	if got := s.runs(t); got["failed"] != 1 || got["running"] != 0 {
		t.Errorf("runs after the failed sync: %v, want one failed", got)
	}
	if code, body := httpGet(t, "http://"+addr+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "failed") {
		t.Errorf("/readyz after the failed sync = %d %q, want 503 naming the failure", code, body)
	}
	stop()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

func TestTwoDaemonsNeverSyncTheTenantAtOnce(t *testing.T) {
	t.Parallel()
	s := setupDaemon(t)
	// Slow pages make the syncs long enough for the daemons to collide.
	s.tenant.Inject(defendertest.Slow(700 * time.Millisecond).OnPage(2).Always())
	args := []string{"run", "--schedule", "@every 1s", "--run-on-start"}
	_, logsA, stopA, waitA := startCLI(t, s.env, args...)
	_, logsB, stopB, waitB := startCLI(t, s.env, args...)
	const skipped = "skipped: another sync of this tenant is running"
	waitFor(t, "four runs and a skip", func() bool {
		return s.runs(t)["succeeded"] >= 4 && strings.Contains(logsA.String()+logsB.String(), skipped)
	})
	stopA()
	stopB()
	if a, b := waitA(), waitB(); a != exitOK || b != exitOK {
		t.Fatalf("exits %d and %d, want 0", a, b)
	}
	overlaps := s.count(t, `
		SELECT count(*) FROM defender.sync_runs a JOIN defender.sync_runs b
		    ON a.tenant_id = b.tenant_id AND a.resource = b.resource AND a.run_id < b.run_id
		   AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)`)
	if overlaps != 0 {
		t.Fatalf("%d pairs of runs of one tenant's resource overlap in time", overlaps)
	}
	for _, logs := range []*logtest.Buffer{logsA, logsB} {
		if strings.Contains(logs.String(), `"level":"ERROR"`) {
			t.Errorf("a daemon logged an error:\n%s", logs)
		}
	}
}

func TestRunExitsZeroOnSIGTERMMidSync(t *testing.T) {
	t.Parallel()
	s := setupDaemon(t)
	s.tenant.Inject(defendertest.Slow(10 * time.Minute).OnPage(2).Always())
	cmd := agentsyncCommand(t, s.env, "run", "--schedule", "@every 1s", "--run-on-start", "--shutdown-grace", "300ms")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	copied := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(&logs, sc.Text())
		}
		close(copied)
	}()
	waitFor(t, "a sync in flight", func() bool { return s.runs(t)["running"] == 1 && s.tenant.Stats().APIRequests >= 2 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-copied
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agentsync run after SIGTERM: %v; logs:\n%s", err, &logs)
	}
	if got := s.runs(t); got["failed"] != 1 || got["running"] != 0 || got["succeeded"] != 0 {
		t.Fatalf("runs after SIGTERM: %v, want one failed", got)
	}
	if n := s.count(t, "SELECT count(*) FROM defender_storage.agent_state"); n != 0 {
		t.Errorf("%d agents written by the cancelled sync", n)
	}
	if !strings.Contains(logs.String(), "grace period over") {
		t.Errorf("no word of the cancellation in the logs:\n%s", &logs)
	}
}

// TestReplicasShareTheTenants: two daemons started together on six tenants
// both do useful work: each skips the tenants the other is syncing, or has
// synced in this round, and goes on with the next, so every tenant is
// synced once, never twice at once.
func TestReplicasShareTheTenants(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	fleets := defendertest.FleetTenants(6, 20, 11, now.Add(-30*24*time.Hour), now)
	for _, tn := range fleets {
		tn.Inject(defendertest.Slow(400 * time.Millisecond).Always())
	}
	srv := defendertest.NewTenantsServer(fleets...)
	t.Cleanup(srv.Close)
	ids := make([]string, len(fleets))
	for i := range ids {
		ids[i] = defendertest.TenantIDOf(i)
	}
	url := dbtest.URL(t)
	env := map[string]string{
		"DATABASE_URL":           url,
		"DEFENDER_TENANT_ID":     strings.Join(ids, ","),
		"DEFENDER_CLIENT_ID":     defendertest.DefaultClientID,
		"DEFENDER_CLIENT_SECRET": defendertest.DefaultClientSecret,
		"DEFENDER_API_URL":       srv.URL,
		"DEFENDER_TOKEN_URL":     srv.TokenURL(),
		"SYNC_CONCURRENCY":       "2",
		"LOG_FORMAT":             "json",
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The schema first, so that neither daemon waits on the other's
	// migration.
	if code, _, errOut := runCLI(t, env, "migrate"); code != exitOK {
		t.Fatalf("migrate: %s", errOut)
	}
	args := []string{"run", "--schedule", "@yearly", "--run-on-start", "--no-migrate"}
	_, logsA, stopA, waitA := startCLI(t, env, args...)
	_, logsB, stopB, waitB := startCLI(t, env, args...)
	succeeded := func() int {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM defender.sync_runs WHERE status = 'succeeded' AND resource = 'agents'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Each daemon went through the six tenants: it synced the agents of
	// each, or skipped it.
	outcomes := func(logs string) int {
		n := 0
		for line := range strings.Lines(logs) {
			if strings.Contains(line, `"resource":"agents"`) &&
				(strings.Contains(line, `"msg":"sync succeeded"`) || strings.Contains(line, `"msg":"skipped: another`)) {
				n++
			}
		}
		return n
	}
	waitFor(t, "every tenant synced", func() bool {
		return outcomes(logsA.String()) >= 6 && outcomes(logsB.String()) >= 6
	})
	stopA()
	stopB()
	if a, b := waitA(), waitB(); a != exitOK || b != exitOK {
		t.Fatalf("exits %d and %d, want 0", a, b)
	}
	var perTenant []int
	rows, err := pool.Query(context.Background(), `SELECT count(*) FROM defender.sync_runs WHERE status = 'succeeded' AND resource = 'agents' GROUP BY tenant_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
		perTenant = append(perTenant, n)
	}
	if len(perTenant) != 6 || succeeded() != 6 {
		t.Fatalf("succeeded runs per tenant %v, want one for each of the six", perTenant)
	}
	a, b := strings.Count(logsA.String(), `"msg":"sync succeeded"`), strings.Count(logsB.String(), `"msg":"sync succeeded"`)
	if a == 0 || b == 0 {
		t.Fatalf("daemon A synced %d tenants, daemon B %d: both should have done useful work", a, b)
	}
	var overlaps int
	if err := pool.QueryRow(context.Background(), `
		SELECT count(*) FROM defender.sync_runs x JOIN defender.sync_runs y
		    ON x.tenant_id = y.tenant_id AND x.resource = y.resource AND x.run_id < y.run_id
		   AND tstzrange(x.started_at, x.finished_at) && tstzrange(y.started_at, y.finished_at)`).Scan(&overlaps); err != nil {
		t.Fatal(err)
	}
	if overlaps != 0 {
		t.Fatalf("%d pairs of runs of one tenant overlap in time", overlaps)
	}
}

// TestShutdownStartsNoNewTenant: at the signal, the tenant in flight
// finishes within the grace period and no other tenant starts.
func TestShutdownStartsNoNewTenant(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	fleets := defendertest.FleetTenants(4, 10, 21, now.Add(-24*time.Hour), now)
	for _, tn := range fleets {
		tn.Inject(defendertest.Slow(700 * time.Millisecond).Always())
	}
	srv := defendertest.NewTenantsServer(fleets...)
	t.Cleanup(srv.Close)
	ids := make([]string, len(fleets))
	for i := range ids {
		ids[i] = defendertest.TenantIDOf(i)
	}
	url := dbtest.URL(t)
	env := map[string]string{
		"DATABASE_URL": url, "DEFENDER_TENANT_ID": strings.Join(ids, ","),
		"DEFENDER_CLIENT_ID": defendertest.DefaultClientID, "DEFENDER_CLIENT_SECRET": defendertest.DefaultClientSecret,
		"DEFENDER_API_URL": srv.URL, "DEFENDER_TOKEN_URL": srv.TokenURL(),
		"SYNC_CONCURRENCY": "1", "LOG_FORMAT": "json", "LOG_LEVEL": "debug",
	}
	_, logs, stop, wait := startCLI(t, env, "run", "--schedule", "@yearly", "--run-on-start")
	waitFor(t, "the first tenant's sync to start", func() bool { return strings.Contains(logs.String(), `"msg":"listing"`) })
	stop()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var runs, succeeded int
	if err := pool.QueryRow(context.Background(), `
		SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM defender.sync_runs WHERE resource = 'agents'`).Scan(&runs, &succeeded); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || succeeded != 1 {
		t.Fatalf("%d runs (%d succeeded) after a stop during the first tenant: want that one, finished, and no other", runs, succeeded)
	}
}
