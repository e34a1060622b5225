package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/pgbouncertest"
)

// TestThroughPgBouncer runs agentsync as users deploy it behind Debian's
// PgBouncer, in transaction and in session mode, with a small pool that
// clients share: sync (migrating the empty database first) three times,
// two daemons at once, and the report as a reader. Every sync succeeds,
// none is skipped by a lock left behind, and nothing stays held.
func TestThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pgbouncertest.Binary(t)
	for _, mode := range []pgbouncertest.Mode{pgbouncertest.Transaction, pgbouncertest.Session} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			const tenants = 3
			ctx := context.Background()
			bouncer := pgbouncertest.Start(t, mode, "agentsync_test", dbtest.ReaderRole)
			direct := dbtest.EmptyURL(t)
			now := time.Now().UTC()
			fleets := defendertest.FleetTenants(tenants, 20, 5, now.Add(-30*24*time.Hour), now)
			srv := defendertest.NewTenantsServer(fleets...)
			t.Cleanup(srv.Close)
			ids := make([]string, tenants)
			for i := range ids {
				ids[i] = defendertest.TenantIDOf(i)
			}
			env := map[string]string{
				"DATABASE_URL":           bouncer.URL(t, direct, ""),
				"DEFENDER_TENANT_ID":     strings.Join(ids, ","),
				"DEFENDER_CLIENT_ID":     defendertest.DefaultClientID,
				"DEFENDER_CLIENT_SECRET": defendertest.DefaultClientSecret,
				"DEFENDER_API_URL":       srv.URL,
				"DEFENDER_TOKEN_URL":     srv.TokenURL(),
				"LOG_FORMAT":             "json",
			}
			for i := range 3 {
				code, stdout, stderr := runCLI(t, env, "sync")
				if code != exitOK || strings.Count(stdout, ": sync succeeded: run") != tenants || strings.Contains(stdout, "skipped") {
					t.Fatalf("sync #%d through PgBouncer (%s): exit %d\nstdout: %s\nstderr: %s", i+1, mode, code, stdout, stderr)
				}
			}

			pool, err := pgxpool.New(ctx, direct)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			succeeded := func() int {
				return queryInt(t, pool, `SELECT count(*) FROM defender.sync_runs WHERE resource = 'agents' AND status = 'succeeded'`)
			}
			before := succeeded()
			daemon := []string{"run", "--schedule", "@every 1s", "--run-on-start"}
			_, logs1, stop1, wait1 := startCLI(t, env, daemon...)
			_, logs2, stop2, wait2 := startCLI(t, env, daemon...)
			waitFor(t, "two daemons to sync every tenant three more times", func() bool { return succeeded() >= before+3*tenants })
			stop1()
			stop2()
			if c1, c2 := wait1(), wait2(); c1 != exitOK || c2 != exitOK {
				t.Fatalf("daemons exited %d and %d\nlogs 1:\n%s\nlogs 2:\n%s", c1, c2, logs1, logs2)
			}
			if n := queryInt(t, pool, `SELECT count(*) FROM defender.sync_runs WHERE status <> 'succeeded'`); n != 0 {
				t.Errorf("%d runs did not succeed through PgBouncer (%s)\nlogs 1:\n%s\nlogs 2:\n%s", n, mode, logs1, logs2)
			}
			for _, logs := range []string{logs1.String(), logs2.String()} {
				if strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, "another holder has the tenant") {
					t.Errorf("a daemon logged an error or found a tenant held:\n%s", logs)
				}
			}
			if n := queryInt(t, pool, `SELECT count(*) FROM defender_storage.tenant_leases`); n != 0 {
				t.Errorf("%d tenant leases left after the daemons stopped", n)
			}
			if n := queryInt(t, pool, `
				SELECT count(*) FROM pg_catalog.pg_locks
				 WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())`); n != 0 {
				t.Errorf("%d advisory locks held on the database's server connections", n)
			}
			// A later sync still syncs every tenant.
			if code, stdout, stderr := runCLI(t, env, "sync"); code != exitOK || strings.Count(stdout, ": sync succeeded: run") != tenants {
				t.Fatalf("sync after the daemons: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}

			out := filepath.Join(t.TempDir(), "report.html")
			reader := map[string]string{"DATABASE_URL": bouncer.URL(t, direct, dbtest.ReaderRole)}
			if code, stdout, stderr := runCLI(t, reader, "report", "--out", out); code != exitOK {
				t.Fatalf("report as a reader through PgBouncer (%s): exit %d\nstdout: %s\nstderr: %s", mode, code, stdout, stderr)
			}
			if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), ids[0]) {
				t.Fatalf("the report through PgBouncer does not show the tenants (%v)", err)
			}
		})
	}
}
