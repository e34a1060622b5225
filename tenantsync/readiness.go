package tenantsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/metrics"
)

// Readiness is the daemon's /readyz check: the database answers, and not
// every tenant's latest sync (by any replica) failed. A sync still marked
// running after the sync timeout is stuck, which counts as failed; one
// running within it may yet succeed, so the sync before it tells. A tenant
// without a sync yet does not count, so that a new deployment is ready
// before its first scheduled time. A sync of this process that failed
// before its run was recorded counts as the tenant's latest when nothing
// recorded since is newer. The tenants whose latest sync failed while
// others' succeeded are listed after "ready".
func Readiness(pool *pgxpool.Pool, targets []Target) metrics.ReadyFunc {
	return func(ctx context.Context) ([]string, error) {
		if err := pool.Ping(ctx); err != nil {
			return nil, errors.New("database unreachable")
		}
		var failing []string
		synced := 0
		for _, t := range targets {
			run, ok, err := t.Loader.LastRun(ctx)
			failedAt, failure, unrecorded := t.lastUnrecorded()
			switch {
			case err != nil:
				return nil, errors.New("cannot read the last syncs from the database")
			case unrecorded && (!ok || run.StartedAt.Before(failedAt)):
				failing = append(failing, fmt.Sprintf("tenant %s: the latest sync (%s) failed before its run was recorded: %s",
					t.Loader.TenantID(), failedAt.UTC().Format(time.RFC3339), failure))
			case !ok:
				continue
			case run.Stuck():
				failing = append(failing, fmt.Sprintf("tenant %s: the latest sync (run %d, started %s) has run longer than the sync timeout: stuck, or its process died",
					t.Loader.TenantID(), run.RunID, run.StartedAt.UTC().Format(time.RFC3339)))
			case run.Status != "succeeded":
				failing = append(failing, fmt.Sprintf("tenant %s: the latest sync (run %d, finished %s) failed",
					t.Loader.TenantID(), run.RunID, run.FinishedAt.UTC().Format(time.RFC3339)))
			}
			synced++
		}
		if synced > 0 && len(failing) == synced {
			return nil, errors.New(strings.Join(failing, "; "))
		}
		return failing, nil
	}
}
