package load

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MinObservationRetention is the shortest retention DropObservations
// accepts: the current and the previous day always keep their
// observations.
const MinObservationRetention = 48 * time.Hour

// retentionTask is the maintenance lease that serializes retention
// passes across processes; a pass that finds it held leaves the work to
// its holder.
const retentionTask = "observation retention"

// retentionLeaseDuration is how long a retention pass holds its lease
// without renewing it (it renews it every quarter of it).
const retentionLeaseDuration = time.Minute

// DropObservations drops the raw observations older than retention, a
// whole month at a time: the monthly partitions of
// defender_storage.observation whose month ended more than retention before
// now. The daily rollups keep the trends of those months.
//
// A partition is first detached concurrently, which never blocks a read
// (it waits for the reads that started before it instead), then dropped.
// A detach interrupted earlier is finished. It returns the partitions it
// dropped.
func DropObservations(ctx context.Context, pool *pgxpool.Pool, retention time.Duration, now time.Time, logger *slog.Logger) ([]string, error) {
	return retain(ctx, pool, logger, retentionTask, "observation retention", retention, MinObservationRetention, func(ctx context.Context, logger *slog.Logger) ([]string, error) {
		return dropObservations(ctx, pool, retention, now, logger)
	})
}

func dropObservations(ctx context.Context, pool *pgxpool.Pool, retention time.Duration, now time.Time, logger *slog.Logger) ([]string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", interpretError(err))
	}
	defer conn.Release()

	cutoff := now.Add(-retention).UTC()
	rows, err := conn.Query(ctx, query("retention_list_partitions"))
	if err != nil {
		return nil, fmt.Errorf("list observation partitions: %w", interpretError(err))
	}
	type partition struct {
		Name          string
		DetachPending bool
	}
	parts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[partition])
	if err != nil {
		return nil, fmt.Errorf("list observation partitions: %w", interpretError(err))
	}
	var dropped []string
	for _, p := range parts {
		month, err := time.Parse("observation_2006_01", p.Name)
		if err != nil {
			continue // not one of ours
		}
		if end := month.AddDate(0, 1, 0); end.After(cutoff) {
			continue
		}
		// The two statements below name a partition, and an identifier
		// cannot be a parameter (nor can DETACH CONCURRENTLY run inside a
		// function): they are the only ones the loader composes, from a
		// name it read from the catalog, quoted.
		table := pgx.Identifier{"defender_storage", p.Name}.Sanitize()
		detach := "CONCURRENTLY"
		if p.DetachPending {
			detach = "FINALIZE"
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER TABLE defender_storage.observation DETACH PARTITION %s %s`, table, detach)); err != nil {
			return dropped, fmt.Errorf("detach %s: %w", p.Name, interpretError(err))
		}
		if _, err := conn.Exec(ctx, `DROP TABLE `+table); err != nil {
			return dropped, fmt.Errorf("drop %s: %w", p.Name, interpretError(err))
		}
		dropped = append(dropped, p.Name)
	}
	if len(dropped) > 0 {
		logger.Info("dropped observations past their retention", "partitions", strings.Join(dropped, ","),
			"retention", retention.String(), "before", cutoff.Format(time.RFC3339))
	}
	return dropped, nil
}

// dropTenantRuns drops the runs of tenant past the cutoff, a batch of
// runs after the run after at a time, each in a transaction, until none
// is left or the deadline passed (paused: the next pass goes on).
func dropTenantRuns(ctx context.Context, pool *pgxpool.Pool, tenant string, after int64, cutoff, now, deadline time.Time) (d RunsDropped, paused bool, err error) {
	d.TenantID = tenant
	for {
		var succeeded, failed, looked int64
		var last *int64
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, query("retention_drop_runs"), tenant, cutoff, now.UTC(), runRetentionBatch, after).
				Scan(&succeeded, &failed, &looked, &last)
		})
		if err != nil {
			return d, false, fmt.Errorf("drop runs of tenant %s: %w", tenant, interpretError(err))
		}
		d.Succeeded += succeeded
		d.Failed += failed
		if last == nil || looked < int64(runRetentionBatch) {
			return d, false, nil
		}
		if time.Now().After(deadline) {
			return d, true, nil
		}
		after = *last
	}
}

// takeMaintenanceLease takes the lease of task when nobody holds it or its
// holder's lease expired; nil when another holder has it.
func takeMaintenanceLease(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, task string, d time.Duration) (*lease, error) {
	host, _ := os.Hostname()
	holder := newHolder(fmt.Sprintf("%s:%d", host, os.Getpid()))
	tag, err := pool.Exec(ctx, query("lease_take_maintenance"), task, holder, d.Seconds())
	if err != nil {
		return nil, fmt.Errorf("take the lease of %s: %w", task, interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return nil, nil
	}
	return &lease{pool: pool, logger: logger, kind: maintenanceLease, key: task, holder: holder, duration: d}, nil
}

// MinScanHistoryRetention is the shortest retention DropScanHistory
// accepts. Keep the retention longer than SCAN_HISTORY_LOOKBACK too: a
// session dropped within the lookback would be read again, and stored
// again, by the next sync.
const MinScanHistoryRetention = 14 * 24 * time.Hour

// scanRetentionTask is the maintenance lease of scan history retention.
const scanRetentionTask = "scan history retention"

// ScanHistoryDropped is what DropScanHistory dropped of one tenant.
type ScanHistoryDropped struct {
	TenantID          string
	Sessions, Targets int64
}

// DropScanHistory drops the scan sessions that ran more than retention
// before now, with their targets, tenant by tenant (a transaction each),
// keeping every session an answer still reads: what scan_coverage and
// scan_target_status show of each definition and target (its latest
// session, latest success, failure and partial success, the failures
// since its latest success or partial success, each target's latest scan
// and last success). It records in scan_history_dropped which runs had
// written what it dropped, so that agentsync verify takes those parts of
// their digests as stored. It returns what it dropped, per tenant.
func DropScanHistory(ctx context.Context, pool *pgxpool.Pool, retention time.Duration, now time.Time, logger *slog.Logger) ([]ScanHistoryDropped, error) {
	return retain(ctx, pool, logger, scanRetentionTask, "scan history retention", retention, MinScanHistoryRetention, func(ctx context.Context, logger *slog.Logger) ([]ScanHistoryDropped, error) {
		return dropScanHistory(ctx, pool, retention, now, logger)
	})
}

func dropScanHistory(ctx context.Context, pool *pgxpool.Pool, retention time.Duration, now time.Time, logger *slog.Logger) ([]ScanHistoryDropped, error) {
	cutoff := now.Add(-retention).UTC()
	rows, err := pool.Query(ctx, query("retention_scan_tenants"), cutoff)
	if err != nil {
		return nil, fmt.Errorf("list tenants with scan history past its retention: %w", interpretError(err))
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tenants with scan history past its retention: %w", interpretError(err))
	}
	var out []ScanHistoryDropped
	for _, tenant := range tenants {
		d := ScanHistoryDropped{TenantID: tenant}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, query("retention_drop_sessions"), tenant, cutoff, now.UTC()).Scan(&d.Sessions, &d.Targets)
		})
		if err != nil {
			return out, fmt.Errorf("drop scan history of tenant %s: %w", tenant, interpretError(err))
		}
		if d.Sessions > 0 {
			out = append(out, d)
			logger.Info("dropped scan history past its retention", "tenant", tenant, "sessions", d.Sessions,
				"targets", d.Targets, "retention", retention.String(), "before", cutoff.Format(time.RFC3339))
		}
	}
	return out, nil
}

// retain checks that retention is at least least (what names the
// retention in the error), then runs drop under the maintenance lease of
// task, with the default logger when logger is nil.
func retain[T any](ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, task, what string, retention, least time.Duration,
	drop func(context.Context, *slog.Logger) ([]T, error)) ([]T, error) {
	if retention < least {
		return nil, fmt.Errorf("%s %s is shorter than %s", what, retention, least)
	}
	if logger == nil {
		logger = slog.Default()
	}
	var out []T
	err := underMaintenanceLease(ctx, pool, logger, task, func(ctx context.Context) error {
		var err error
		out, err = drop(ctx, logger)
		return err
	})
	return out, err
}

// underMaintenanceLease runs work while holding the lease of task, renewed
// as it runs (work's context ends if the lease is lost); when another
// holder has it, work does not run and it returns nil.
func underMaintenanceLease(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, task string, work func(context.Context) error) error {
	// A lease in a row, not a session's advisory lock: it holds through a
	// transaction pooler.
	held, err := takeMaintenanceLease(ctx, pool, logger, task, retentionLeaseDuration)
	if err != nil || held == nil {
		return err
	}
	defer held.release(ctx)
	ctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	defer held.keep(ctx, lost)()
	return work(ctx)
}

// MinRunRetention is the shortest retention DropRuns accepts: a month of
// runs stays for the report, the recent failures and the syncs of a
// month an auditor asks about first.
const MinRunRetention = 30 * 24 * time.Hour

// runRetentionTask is the maintenance lease of run retention.
const runRetentionTask = "run retention"

// runRetentionBatch is how many runs of a tenant one transaction looks
// at (a variable for the tests of batches).
var runRetentionBatch = 2000

// runRetentionBudget is how long a pass of run retention goes on: the
// first pass over years of runs would take longer, and a sync pass waits
// for it. The next pass goes on where it stopped.
var runRetentionBudget = 5 * time.Minute

// RunsDropped is what DropRuns dropped of one tenant.
type RunsDropped struct {
	TenantID          string
	Succeeded, Failed int64
}

// DropRuns drops, tenant by tenant, the runs that fetched (a failed run:
// started) more than retention before now and that nothing refers to any
// more: no version, deletion, withheld deletion, observation, session,
// target, rollup or target status, and not the latest of its tenant or of
// its digest chain. Those are the runs that changed nothing, and the
// runs whose observations or scan sessions retention has dropped since.
// A successful run's place in its tenant's digest chain is kept in
// runs_dropped (its digest, and what agentsync verify needs to chain
// through it), so the chain still verifies and a chain head recorded
// before still vouches for every run before it. A run whose stored rows
// no longer give its digest is kept, for verify to name. It returns what
// it dropped, per tenant.
func DropRuns(ctx context.Context, pool *pgxpool.Pool, retention time.Duration, now time.Time, logger *slog.Logger) ([]RunsDropped, error) {
	return retain(ctx, pool, logger, runRetentionTask, "run retention", retention, MinRunRetention, func(ctx context.Context, logger *slog.Logger) ([]RunsDropped, error) {
		return dropRuns(ctx, pool, retention, now, logger)
	})
}

func dropRuns(ctx context.Context, pool *pgxpool.Pool, retention time.Duration, now time.Time, logger *slog.Logger) ([]RunsDropped, error) {
	start := time.Now()
	cutoff := now.Add(-retention).UTC()
	rows, err := pool.Query(ctx, query("retention_run_tenants"), cutoff)
	if err != nil {
		return nil, fmt.Errorf("list tenants with runs past their retention: %w", interpretError(err))
	}
	type tenantAfter struct {
		ID    string
		After int64
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tenantAfter])
	if err != nil {
		return nil, fmt.Errorf("list tenants with runs past their retention: %w", interpretError(err))
	}
	deadline := start.Add(runRetentionBudget)
	var out []RunsDropped
	for _, tn := range tenants {
		d, paused, err := dropTenantRuns(ctx, pool, tn.ID, tn.After, cutoff, now, deadline)
		if d.Succeeded+d.Failed > 0 {
			out = append(out, d)
			logger.Info("dropped runs past their retention", "tenant", tn.ID, "succeeded", d.Succeeded,
				"failed", d.Failed, "retention", retention.String(), "before", cutoff.Format(time.RFC3339))
		}
		if err != nil {
			return out, err
		}
		if paused {
			logger.Info("run retention paused: it goes on at the next pass", "budget", runRetentionBudget.String(), "tenant", tn.ID)
			return out, nil
		}
	}
	return out, nil
}
