package tenantsync_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/tenantsync"
)

func TestReadinessReportsAnUnreachableDatabase(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	loader, err := load.New(pool, load.Config{TenantID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tenantsync.Readiness(pool, []tenantsync.Target{{Loader: loader}})(context.Background())
	if err == nil || !strings.Contains(err.Error(), "database unreachable") {
		t.Fatalf("readiness with the database down = %v, want database unreachable", err)
	}
}

// TestReadinessTakesAStuckSyncAsFailed: a sync still marked running within
// the sync timeout leaves readiness to the sync before it; past the
// timeout it is stuck and the daemon is not ready.
func TestReadinessTakesAStuckSyncAsFailed(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	if o := tenantsync.SyncTenants(t.Context(), t.Context(), f.targets(t, tenantsync.Config{}), tenantsync.Round{Resources: []scanagent.Resource{scanagent.Agents}})[0]; o.Failed() {
		t.Fatalf("sync: %+v", o.Resources)
	}
	id := defendertest.TenantIDOf(0)
	loader, err := load.New(f.pool, load.Config{TenantID: id, SyncTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ready := tenantsync.Readiness(f.pool, []tenantsync.Target{{Loader: loader}})
	if _, err := f.pool.Exec(context.Background(), `
		WITH worker AS (INSERT INTO defender_storage.sync_worker (worker) VALUES ('other:1') RETURNING worker_no)
		INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at, worker_no)
		SELECT t.tenant_no, 'a', now() - interval '50 minutes', w.worker_no FROM defender_storage.tenants t, worker w WHERE t.tenant_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := ready(context.Background()); err != nil {
		t.Errorf("readiness with a sync in flight after a good one = %v, want ready", err)
	}
	if _, err := f.pool.Exec(context.Background(), `
		UPDATE defender_storage.sync_run SET started_at = now() - interval '61 minutes' WHERE status = 'r'`); err != nil {
		t.Fatal(err)
	}
	if _, err := ready(context.Background()); err == nil || !strings.Contains(err.Error(), "longer than the sync timeout") {
		t.Errorf("readiness with a sync running past the timeout = %v, want not ready, naming it stuck", err)
	}
}

// TestReadinessListsTheFailingTenants: while some tenants' latest syncs
// succeeded, the daemon is ready and names those that failed; when every
// tenant's failed, it is not ready.
func TestReadinessListsTheFailingTenants(t *testing.T) {
	t.Parallel()
	f := setup(t, 2)
	f.fleets[1].Inject(defendertest.Status(403).Always())
	targets := f.targets(t, tenantsync.Config{})
	ready := tenantsync.Readiness(f.pool, targets)
	if notes, err := ready(t.Context()); err != nil || len(notes) != 0 {
		t.Errorf("readiness before any sync = %q, %v; want ready", notes, err)
	}
	agents := tenantsync.Round{Resources: []scanagent.Resource{scanagent.Agents}}
	tenantsync.SyncTenants(t.Context(), t.Context(), targets, agents)
	notes, err := ready(t.Context())
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], defendertest.TenantIDOf(1)) || !strings.Contains(notes[0], "failed") {
		t.Errorf("readiness with one tenant failing = %q, %v; want ready, naming it", notes, err)
	}
	f.fleets[0].Inject(defendertest.Status(403).Always())
	tenantsync.SyncTenants(t.Context(), t.Context(), targets, agents)
	if _, err := ready(t.Context()); err == nil || !strings.Contains(err.Error(), defendertest.TenantIDOf(0)) {
		t.Errorf("readiness with every tenant failing = %v, want not ready", err)
	}
}

// TestReadinessCountsASyncThatFailedBeforeItsRunWasRecorded: when a sync
// fails before its run reaches sync_runs, the database still shows the
// success before it; the daemon is not ready all the same, until a later
// sync records a run.
func TestReadinessCountsASyncThatFailedBeforeItsRunWasRecorded(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	targets := f.targets(t, tenantsync.Config{})
	ready := tenantsync.Readiness(f.pool, targets)
	agents := tenantsync.Round{Resources: []scanagent.Resource{scanagent.Agents}}
	if o := tenantsync.SyncTenants(t.Context(), t.Context(), targets, agents)[0]; o.Failed() {
		t.Fatalf("first sync: %+v", o.Resources)
	}
	// The owner gives up inserting runs: "record run start" fails.
	if _, err := f.pool.Exec(t.Context(), `REVOKE INSERT ON defender_storage.sync_run FROM CURRENT_USER`); err != nil {
		t.Fatal(err)
	}
	o := tenantsync.SyncTenants(t.Context(), t.Context(), targets, agents)[0]
	if !o.Failed() || o.Resources[0].RunID != 0 || !strings.Contains(o.Resources[0].Err.Error(), "record run start") {
		t.Fatalf("sync that cannot record its run: %+v, want failed with no run", o.Resources)
	}
	_, err := ready(t.Context())
	if err == nil || !strings.Contains(err.Error(), "before its run was recorded") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("readiness after a sync failed before its run was recorded = %v, want not ready, saying why", err)
	}
	if _, err := f.pool.Exec(t.Context(), `GRANT INSERT ON defender_storage.sync_run TO CURRENT_USER`); err != nil {
		t.Fatal(err)
	}
	if o := tenantsync.SyncTenants(t.Context(), t.Context(), targets, agents)[0]; o.Failed() {
		t.Fatalf("sync once runs may be recorded again: %+v", o.Resources)
	}
	if notes, err := ready(t.Context()); err != nil || len(notes) != 0 {
		t.Fatalf("readiness after a recorded success = %q, %v; want ready", notes, err)
	}
}

// TestATenantHeldWithNoSyncRunningFails: another holder has the tenant's
// lease and no run of it is running: the sync is skipped, and the tenant's
// outcome is failed, naming the holder in the log.
func TestATenantHeldWithNoSyncRunningFails(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	if _, err := f.pool.Exec(t.Context(), `
		WITH t AS (INSERT INTO defender_storage.tenants (tenant_id) VALUES ($1))
		INSERT INTO defender_storage.tenant_leases (tenant_id, holder, taken_at, expires_at)
		VALUES ($1, 'hung:7/deadbeef', now() - interval '1 hour', now() + interval '1 hour')`, defendertest.TenantIDOf(0)); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	targets := f.targets(t, tenantsync.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	o := tenantsync.SyncTenants(t.Context(), t.Context(), targets, tenantsync.Round{Resources: scanagent.AllResources})[0]
	if !o.Failed() || len(o.Resources) != 1 || !errors.Is(o.Resources[0].Err, load.ErrTenantHeld) {
		t.Fatalf("sync of a held tenant: %+v, want failed, skipped after the agents", o.Resources)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "hung:7/deadbeef") {
		t.Errorf("log of a held tenant's sync does not warn naming the holder:\n%s", logs.String())
	}
}
