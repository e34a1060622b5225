package tenantsync_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/metrics"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/schedule"
	"github.com/agentsync/agentsync/tenants"
	"github.com/agentsync/agentsync/tenantsync"
)

// fixture is n simulated tenants served by one server, a test database,
// and the tenants configured as agentsync would configure them.
type fixture struct {
	fleets  []*defendertest.Tenant
	pool    *pgxpool.Pool
	tenants []tenants.Tenant
}

func setup(t *testing.T, n int) *fixture {
	t.Helper()
	now := time.Now().UTC()
	fleets := defendertest.FleetTenants(n, 20, 5, now.Add(-30*24*time.Hour), now)
	srv := defendertest.NewTenantsServer(fleets...)
	t.Cleanup(srv.Close)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = defendertest.TenantIDOf(i)
	}
	ts, err := tenants.Load(tenants.Defaults{
		TenantIDs: strings.Join(ids, ","), ClientID: defendertest.DefaultClientID, ClientSecret: defendertest.DefaultClientSecret,
		APIURL: srv.URL, TokenURL: srv.TokenURL(),
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &fixture{fleets: fleets, pool: pool, tenants: ts}
}

func (f *fixture) targets(t *testing.T, cfg tenantsync.Config) []tenantsync.Target {
	t.Helper()
	// The simulated tenants have no rate limit.
	cfg.ClientOptions = append(cfg.ClientOptions, extract.WithRateBudget(extract.RateBudget{}))
	targets, err := tenantsync.NewTargets(f.tenants, f.pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return targets
}

// runs counts the runs of each tenant's resource by status: "tenant/resource/status".
func (f *fixture) runs(t *testing.T) map[string]int {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `
		SELECT tenant_id || '/' || resource || '/' || status, count(*)::int FROM defender.sync_runs GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEachTenantStandsAlone: a tenant whose listing of agents is refused
// fails that run; its other resources and the other tenants sync in runs
// of their own, and the metrics count each tenant's outcome.
func TestEachTenantStandsAlone(t *testing.T) {
	t.Parallel()
	f := setup(t, 3)
	f.fleets[1].Inject(defendertest.Status(403).Always())
	m := metrics.New()
	targets := f.targets(t, tenantsync.Config{Metrics: m})
	outcomes := tenantsync.SyncTenants(t.Context(), t.Context(), targets, tenantsync.Round{
		Resources: scanagent.AllResources, Concurrency: 2,
	})
	if len(outcomes) != 3 {
		t.Fatalf("%d outcomes for 3 tenants", len(outcomes))
	}
	runs := f.runs(t)
	for i, o := range outcomes {
		id := defendertest.TenantIDOf(i)
		if o.Target != &targets[i] || o.Target.Tenant.ID != id {
			t.Errorf("outcome %d is of tenant %q, want %q: outcomes follow the order of the targets", i, o.Target.Tenant.ID, id)
		}
		if len(o.Resources) != len(scanagent.AllResources) {
			t.Errorf("tenant %s: %d resource outcomes, want one per resource", id, len(o.Resources))
			continue
		}
		wantFailed := i == 1
		if o.Failed() != wantFailed {
			t.Errorf("tenant %s: Failed() = %v, want %v (%+v)", id, o.Failed(), wantFailed, o.Resources)
		}
		for j, r := range o.Resources {
			if r.Resource != scanagent.AllResources[j] {
				t.Errorf("tenant %s: resource %d is %s, want %s", id, j, r.Resource, scanagent.AllResources[j])
			}
			failing := wantFailed && r.Resource == scanagent.Agents
			if (r.Err != nil) != failing || r.RunID == 0 {
				t.Errorf("tenant %s %s: run %d, error %v", id, r.Resource, r.RunID, r.Err)
			}
			status := "succeeded"
			if failing {
				status = "failed"
			}
			if n := runs[id+"/"+string(r.Resource)+"/"+status]; n != 1 {
				t.Errorf("tenant %s %s: %d %s runs, want 1 (%v)", id, r.Resource, n, status, runs)
			}
		}
	}
	rec := httptest.NewRecorder()
	m.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`agentsync_sync_runs_total{status="failed",tenant="` + defendertest.TenantIDOf(1) + `"} 1`,
		`agentsync_sync_runs_total{status="succeeded",tenant="` + defendertest.TenantIDOf(0) + `"} 1`,
		`agentsync_api_requests_total{code="403",tenant="` + defendertest.TenantIDOf(1) + `"}`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestNoTenantStartsAfterStop: once stop is done, no tenant starts; each
// is reported not started, which counts as failed, and nothing is written.
func TestNoTenantStartsAfterStop(t *testing.T) {
	t.Parallel()
	f := setup(t, 2)
	stop, cancel := context.WithCancel(t.Context())
	cancel()
	outcomes := tenantsync.SyncTenants(stop, t.Context(), f.targets(t, tenantsync.Config{}), tenantsync.Round{Resources: scanagent.AllResources})
	for i, o := range outcomes {
		if !errors.Is(o.NotStarted, schedule.ErrNotStarted) || !o.Failed() || len(o.Resources) != 0 {
			t.Errorf("tenant %d after stop: not started %v, failed %v, %d resources; want not started and failed", i, o.NotStarted, o.Failed(), len(o.Resources))
		}
	}
	if runs := f.runs(t); len(runs) != 0 {
		t.Errorf("runs after a stop before the round: %v, want none", runs)
	}
}

// TestATenantSyncedInTheRoundIsSkippedWhole: a tenant whose agents were
// synced since the round started (by another replica) is skipped, its
// other resources too, and that is no failure.
func TestATenantSyncedInTheRoundIsSkippedWhole(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	targets := f.targets(t, tenantsync.Config{})
	round := tenantsync.Round{Resources: scanagent.AllResources, Start: time.Now()}
	if o := tenantsync.SyncTenants(t.Context(), t.Context(), targets, round)[0]; o.Failed() {
		t.Fatalf("first sync of the round failed: %+v", o.Resources)
	}
	o := tenantsync.SyncTenants(t.Context(), t.Context(), targets, round)[0]
	if o.Failed() || len(o.Resources) != 1 || !errors.Is(o.Resources[0].Err, load.ErrSyncedAlready) || !tenantsync.Skipped(o.Resources[0].Err) {
		t.Fatalf("second sync in the round: failed %v, %+v; want the agents skipped and nothing else tried", o.Failed(), o.Resources)
	}
	if n := f.runs(t)[defendertest.TenantIDOf(0)+"/agents/succeeded"]; n != 1 {
		t.Errorf("%d successful agents runs, want the round's one", n)
	}
}

// recordingProgress records what a progress line would show.
type recordingProgress struct {
	extract.NopObserver
	mu     sync.Mutex
	labels []string
	pages  int
}

func (p *recordingProgress) StartCounting(label, noun string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.labels = append(p.labels, label+" ("+noun+")")
}

func (p *recordingProgress) Done() {}

func (p *recordingProgress) Page(int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages++
}

// TestProgressFollowsTheOnlyTenant: the progress line shows each resource
// of a sync of one tenant, and stays out of a sync of several.
func TestProgressFollowsTheOnlyTenant(t *testing.T) {
	t.Parallel()
	one := setup(t, 1)
	p := &recordingProgress{}
	tenantsync.SyncTenants(t.Context(), t.Context(), one.targets(t, tenantsync.Config{Progress: p}), tenantsync.Round{Resources: scanagent.AllResources})
	want := "sync agents (agents),sync definitions (definitions),sync history (sessions)"
	if got := strings.Join(p.labels, ","); got != want || p.pages == 0 {
		t.Errorf("progress of one tenant: %q, %d pages; want %q and the pages", got, p.pages, want)
	}
	two := setup(t, 2)
	p = &recordingProgress{}
	tenantsync.SyncTenants(t.Context(), t.Context(), two.targets(t, tenantsync.Config{Progress: p}), tenantsync.Round{Resources: scanagent.AllResources, Concurrency: 2})
	if len(p.labels) != 0 || p.pages != 0 {
		t.Errorf("progress of two tenants at once: %q, %d pages; want nothing", p.labels, p.pages)
	}
}

// failedRuns returns each failed run's resource and error, in run order.
func (f *fixture) failedRuns(t *testing.T, tenant string) (resources, errs []string) {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `
		SELECT resource, coalesce(error, '') FROM defender.sync_runs
		 WHERE tenant_id = $1 AND status = 'failed' ORDER BY run_id`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r, e string
		if err := rows.Scan(&r, &e); err != nil {
			t.Fatal(err)
		}
		resources, errs = append(resources, r), append(errs, e)
	}
	return resources, errs
}

// TestRefusedTokenFailsEveryResource: when Entra refuses a tenant's
// credentials, each of its resources is recorded failed with Entra's
// error, the history too, though with no definitions stored it has no
// request to make; no run of it reads as healthy.
func TestRefusedTokenFailsEveryResource(t *testing.T) {
	t.Parallel()
	for _, resources := range [][]scanagent.Resource{scanagent.AllResources, {scanagent.History}} {
		f := setup(t, 2)
		f.tenants[1].ClientSecret = "not the secret"
		targets := f.targets(t, tenantsync.Config{})
		outcomes := tenantsync.SyncTenants(t.Context(), t.Context(), targets, tenantsync.Round{Resources: resources})
		id := defendertest.TenantIDOf(1)
		if !outcomes[1].Failed() || outcomes[0].Failed() {
			t.Fatalf("%v: tenant 1 failed %v, tenant 0 failed %v; want only tenant 1", resources, outcomes[1].Failed(), outcomes[0].Failed())
		}
		for _, o := range outcomes[1].Resources {
			if !errors.Is(o.Err, extract.ErrToken) {
				t.Errorf("%v: %s: %v, want the token's error", resources, o.Resource, o.Err)
			}
		}
		runs := f.runs(t)
		for _, r := range resources {
			if n := runs[id+"/"+string(r)+"/succeeded"]; n != 0 {
				t.Errorf("%v: %d %s runs succeeded for a tenant that could not authenticate", resources, n, r)
			}
			if n := runs[id+"/"+string(r)+"/failed"]; n != 1 {
				t.Errorf("%v: %d failed %s runs, want 1 (%v)", resources, n, r, runs)
			}
		}
		_, errs := f.failedRuns(t, id)
		for _, e := range errs {
			if !strings.Contains(e, "invalid_client") || strings.Contains(e, "not the secret") {
				t.Errorf("%v: run error %q, want Entra's refusal, without the secret", resources, e)
			}
		}
	}
}

// TestDeadTokenEndpointIsAskedOnce: a tenant whose token endpoint does not
// answer spends its retries once in a sync: its remaining resources fail
// at once, with the same error, without asking the endpoint again.
func TestDeadTokenEndpointIsAskedOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	f.fleets[0].Inject(defendertest.TokenServerError(503).Always())
	targets := f.targets(t, tenantsync.Config{ClientOptions: []extract.Option{extract.WithRetryPolicy(extract.RetryPolicy{
		MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond,
	})}})
	outcomes := tenantsync.SyncTenants(t.Context(), t.Context(), targets, tenantsync.Round{Resources: scanagent.AllResources})
	if len(outcomes[0].Resources) != len(scanagent.AllResources) {
		t.Fatalf("%d resource outcomes, want %d", len(outcomes[0].Resources), len(scanagent.AllResources))
	}
	if n := f.fleets[0].Stats().TokenRequests; n != 3 {
		t.Errorf("%d token requests, want the 3 attempts of the first resource alone", n)
	}
	resources, errs := f.failedRuns(t, defendertest.TenantIDOf(0))
	if len(resources) != 3 {
		t.Fatalf("failed runs of %v, want every resource", resources)
	}
	for _, e := range errs[1:] {
		if e != errs[0] {
			t.Errorf("run error %q, want the first resource's %q", e, errs[0])
		}
	}
	if !strings.Contains(errs[0], "503") {
		t.Errorf("run error %q does not say what the token endpoint answered", errs[0])
	}
}

// TestRepairedScanFieldsAreCounted: the fields of scan definitions stored
// repaired count in agentsync_fields_repaired_total with the agents'.
func TestRepairedScanFieldsAreCounted(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	f.fleets[0].Inject(defendertest.RawBody([]byte(`{"value":[
		{"id":"d-1","scanName":"weekly\u0000scan","target":"10.0.0.` + "\xff" + `"}]}`)).On(defendertest.DefinitionsPath))
	m := metrics.New()
	targets := f.targets(t, tenantsync.Config{Metrics: m})
	outcomes := tenantsync.SyncTenants(t.Context(), t.Context(), targets, tenantsync.Round{Resources: []scanagent.Resource{scanagent.Definitions}})
	if outcomes[0].Failed() || outcomes[0].Resources[0].FieldsRepaired != 2 {
		t.Fatalf("outcome %+v, want 2 fields repaired", outcomes[0].Resources)
	}
	rec := httptest.NewRecorder()
	m.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `agentsync_fields_repaired_total{tenant="` + defendertest.TenantIDOf(0) + `"} 2`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
