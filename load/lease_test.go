package load_test

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// TestNoOtherLoginCanHoldATenant: a reporting login may neither take the
// tenant's lease nor stop its syncs with the advisory lock older versions
// took; the sync goes on.
func TestNoOtherLoginCanHoldATenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	if _, err := f.loader.Sync(ctx, listOf(agents(2)...)); err != nil {
		t.Fatal(err)
	}
	reader := dbtest.ReaderPool(t, f.url)
	_, err := reader.Exec(ctx, `INSERT INTO defender_storage.tenant_leases (tenant_id, holder, expires_at) VALUES ('`+tenant+`', 'reader', now() + interval '1 day')`)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("a reader taking the lease: %v, want permission denied", err)
	}
	conn, err := reader.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	h := fnv.New64a()
	h.Write([]byte("agentsync sync " + tenant))
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock($1)`, int64(h.Sum64())).Scan(&locked); err != nil || !locked {
		t.Fatalf("the reader's advisory lock: %v, %v", locked, err)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.loader.Sync(ctx, listOf(agents(3)...)); err != nil {
		t.Fatalf("sync while a reader holds the tenant's former advisory lock: %v", err)
	}
}

// TestSyncSkipsAHeldTenantNamingItsHolder: a tenant whose lease another
// holder has while no run of it is running is skipped with an error naming
// the holder; an expired lease is taken over; a finished sync leaves the
// tenant free.
func TestSyncSkipsAHeldTenantNamingItsHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	holdTenant(t, f, "elsewhere:42/0badcafe", time.Hour, time.Hour)
	_, err := f.loader.Sync(ctx, listOf(agents(2)...))
	var held *load.HeldError
	if !errors.As(err, &held) || !errors.Is(err, load.ErrTenantHeld) || held.Holder != "elsewhere:42/0badcafe" ||
		!strings.Contains(err.Error(), "elsewhere:42/0badcafe") || errors.Is(err, load.ErrSyncInProgress) {
		t.Fatalf("sync of a held tenant: %v, want a HeldError naming elsewhere:42/0badcafe", err)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs`); n != 0 {
		t.Fatalf("runs after the skipped sync = %d, want 0", n)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE defender_storage.tenant_leases SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.loader.Sync(ctx, listOf(agents(2)...)); err != nil {
		t.Fatalf("sync after the holder's lease expired: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.tenant_leases`); n != 0 {
		t.Fatal("the lease is still held after the sync finished")
	}
}

// TestAHolderAboutToRecordItsRunIsASyncInProgress: a holder that took the
// lease moments ago and has not recorded its run yet (or has just ended
// it) is a sync in progress, not a tenant held: a busy server makes those
// moments long.
func TestAHolderAboutToRecordItsRunIsASyncInProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	holdTenant(t, f, "busy:8/0ddba11", 5*time.Second, time.Minute)
	_, err := f.loader.Sync(ctx, listOf(agents(2)...))
	if !errors.Is(err, load.ErrSyncInProgress) || errors.Is(err, load.ErrTenantHeld) {
		t.Fatalf("sync of a tenant whose holder took it 5 s ago: %v, want another sync in progress", err)
	}
}

// TestLeaseIsRenewedAndALostLeaseCancelsTheSync: a sync longer than its
// lease renews it, so that nobody takes the tenant over; when another
// holder has it after all, the sync is cancelled and rolled back.
func TestLeaseIsRenewedAndALostLeaseCancelsTheSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t, func(c *load.Config) { c.LeaseDuration = 2 * time.Second })
	other, err := load.New(f.pool, load.Config{TenantID: tenant, Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	steal := make(chan struct{})
	slow := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		select {
		case <-time.After(3 * time.Second): // longer than the lease
		case <-ctx.Done():
			return scanagent.ListStats{}, context.Cause(ctx)
		}
		// Renewed all along: no other sync may take the tenant.
		if _, err := other.Sync(ctx, listOf(agents(1)...)); !errors.Is(err, load.ErrSyncInProgress) {
			return scanagent.ListStats{}, errors.New("a second sync during the first: " + errorString(err))
		}
		close(steal)
		select {
		case <-time.After(10 * time.Second):
			return listOf(agents(2)...)(ctx, fn)
		case <-ctx.Done():
			return scanagent.ListStats{}, context.Cause(ctx)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.loader.Sync(ctx, slow)
		done <- err
	}()
	select {
	case <-steal:
	case err := <-done:
		t.Fatalf("sync ended before its lease was taken over: %v", err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE defender_storage.tenant_leases SET holder = 'thief:1/00000000', expires_at = now() + interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, load.ErrLeaseLost) || !strings.Contains(err.Error(), "thief:1/00000000") {
			t.Fatalf("sync whose lease was taken over: %v, want ErrLeaseLost naming the new holder", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sync whose lease was taken over still runs")
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE status = 'failed'`); n != 1 {
		t.Fatalf("failed runs = %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.agent_state`); n != 0 {
		t.Fatalf("agents stored by the cancelled sync = %d, want 0", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.tenant_leases WHERE holder = 'thief:1/00000000'`); n != 1 {
		t.Fatal("the cancelled sync released the lease of its new holder")
	}
}

func errorString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// holdTenant makes the tenant held by holder, which took its lease ago
// before now and holds it until left from now, with no run of it.
func holdTenant(t *testing.T, f *fixture, holder string, ago, left time.Duration) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), `
		WITH t AS (INSERT INTO defender_storage.tenants (tenant_id) VALUES ($1))
		INSERT INTO defender_storage.tenant_leases (tenant_id, holder, taken_at, expires_at)
		VALUES ($1, $2, now() - pg_catalog.make_interval(secs => $3), now() + pg_catalog.make_interval(secs => $4))`,
		tenant, holder, ago.Seconds(), left.Seconds()); err != nil {
		t.Fatal(err)
	}
}

// TestAHoldKeepsTheTenantBetweenItsSyncs: the syncs of a tenant under one
// Hold run in runs of their own, and no other sync of the tenant gets in
// between them; the tenant is free after Release.
func TestAHoldKeepsTheTenantBetweenItsSyncs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	other, err := load.New(f.pool, load.Config{TenantID: tenant, Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h, hctx, err := f.loader.Hold(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := h.Sync(hctx, listOf(agents(2)...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Sync(ctx, listOf(agents(1)...)); !errors.Is(err, load.ErrSyncInProgress) {
		t.Fatalf("another sync between two syncs of a hold: %v, want another sync in progress", err)
	}
	f.clock.Advance(time.Hour)
	second, err := h.Sync(hctx, listOf(agents(3)...))
	if err != nil {
		t.Fatal(err)
	}
	if first.RunID == second.RunID {
		t.Fatalf("two syncs of a hold share run %d", first.RunID)
	}
	h.Release()
	if hctx.Err() == nil {
		t.Error("the hold's context goes on after Release")
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.tenant_leases`); n != 0 {
		t.Fatal("the lease is still held after Release")
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE status = 'succeeded'`); n != 2 {
		t.Fatalf("succeeded runs = %d, want 2", n)
	}
	f.clock.Advance(time.Hour)
	if _, err := other.Sync(ctx, listOf(agents(1)...)); err != nil {
		t.Fatalf("sync after Release: %v", err)
	}
}

// TestAHoldWhoseLeaseWasTakenStartsNoRun: a sync under a hold whose lease
// another holder has taken meanwhile (it expired unrenewed, or a server
// crash lost it) records no run, marks no run of the new holder failed,
// and fails with ErrLeaseLost naming the new holder.
func TestAHoldWhoseLeaseWasTakenStartsNoRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	h, hctx, err := f.loader.Hold(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	if _, err := h.Sync(hctx, listOf(agents(2)...)); err != nil {
		t.Fatal(err)
	}
	// The new holder's sync is running.
	if _, err := f.pool.Exec(ctx, `UPDATE defender_storage.tenant_leases SET holder = 'thief:1/00000000', expires_at = now() + interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `
		WITH worker AS (INSERT INTO defender_storage.sync_worker (worker) VALUES ('thief:1') RETURNING worker_no)
		INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at, worker_no)
		SELECT t.tenant_no, 'd', $2, worker.worker_no FROM defender_storage.tenants t, worker WHERE t.tenant_id = $1`,
		tenant, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	_, err = h.SyncDefinitions(hctx, definitionsOf(definitions(1)...))
	if !errors.Is(err, load.ErrLeaseLost) || !strings.Contains(err.Error(), "thief:1/00000000") {
		t.Fatalf("sync under a lease taken over: %v, want ErrLeaseLost naming the new holder", err)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE resource = 'definitions' AND status = 'running' AND worker = 'thief:1'`); n != 1 {
		t.Fatal("the sync that lost its lease marked the new holder's run failed")
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs`); n != 2 {
		t.Fatalf("runs = %d, want the first sync's and the new holder's", n)
	}
	h.Release()
	if n := f.count(t, `SELECT count(*) FROM defender_storage.tenant_leases WHERE holder = 'thief:1/00000000'`); n != 1 {
		t.Fatal("Release gave back the lease of its new holder")
	}
}

// TestBookkeepingLeavesTheConnectionAsItWas: the lease and the run's start
// commit without waiting for the WAL flush for their own transactions
// only: a connection they used waits for it again (as every data
// transaction does).
func TestBookkeepingLeavesTheConnectionAsItWas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	cfg := f.pool.Config()
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := load.New(pool, load.Config{TenantID: tenant, Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Sync(ctx, listOf(agents(2)...)); err != nil {
		t.Fatal(err)
	}
	var setting string
	if err := pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "on" {
		t.Fatalf("synchronous_commit after a sync = %s, want on", setting)
	}
}
