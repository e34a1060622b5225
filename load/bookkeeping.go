package load

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentsync/agentsync/scanagent"
)

// A sync's bookkeeping (taking the tenant's lease, recording its run as
// started, with what an agents sync reads then, giving the lease back;
// a month's observation partition made then is made again if lost)
// commits without waiting for its WAL to
// reach the disk (synchronous_commit off for those transactions alone,
// sql/bookkeeping_commit_unflushed.sql). A commit that waits for the flush
// costs a few milliseconds on ordinary disks, more than the rest of an
// hourly sync of a small tenant; the data transaction of every sync still
// waits for it. Why losing the bookkeeping in a server crash is harmless:
//
//   - PostgreSQL writes its WAL in order and a flush covers everything
//     before it: once the sync's data transaction has committed (waiting
//     for the flush), its lease and its run's start are on disk too. Only
//     what a crash interrupted, in the last fraction of a second before
//     the WAL writer's next flush, can be lost.
//   - The crash ends every connection, so the sync it interrupted fails
//     and rolls back whatever it wrote. A lost run start leaves no run,
//     where a kept one would have been marked failed (abandoned) by the
//     next sync: either way nothing of the sync is stored. A lost lease
//     take frees the tenant that the interrupted sync no longer holds
//     anyway; a sync that goes on with a new connection renews the lease
//     before each run it starts, and stops with ErrLeaseLost when the row
//     is gone. A lost release leaves the lease to expire by itself.
//   - Visibility does not change: a transaction committed this way is
//     seen by every other one at once, as any other; only its durability
//     waits for the WAL writer (wal_writer_delay, 200 ms by default).
//
// A failed run is recorded with a commit that waits: it is rare, and the
// error it stores is what an operator reads.

// commitUnflushed makes a bookkeeping transaction commit without waiting
// for the flush; it comes before the transaction's statements.
var commitUnflushed = step{"commit without waiting for the flush", query("bookkeeping_commit_unflushed"), nil}

// startRun renews the lease s, marks failed the runs of the tenant's
// resource that a process that died left running, and records the run as
// running: in one statement (defender_storage.start_run), whose
// transaction commits at once, without waiting for the flush, so that the
// run is visible while the sync goes on. When the lease is no longer s's
// (another holder took it after it expired, or a server crash lost it),
// nothing is recorded and the error matches ErrLeaseLost. The function
// also raises the session's temp_buffers (see session_temp_buffers).
// alongside, if not nil, queues statements sent in the same round trip,
// and so in the same transaction: when one fails, the run is recorded
// again on its own, and the error is an alongsideError for the caller to
// record the run failed with.
func (l *Loader) startRun(ctx context.Context, conn *pgx.Conn, s *lease, resource scanagent.Resource, alongside func(*batch)) (int64, error) {
	if l.cfg.schemaBefore(38) { // 00038_start_run_in_one_call.sql
		return l.startRunInSteps(ctx, conn, s, resource, alongside)
	}
	var (
		runID     *int64
		abandoned int
		read      bool // the run's start was read back
		b         batch
	)
	b.read(step{"record run start", query("runs_start_run"), []any{l.cfg.TenantID, string(resource), l.cfg.Now().UTC(),
		l.cfg.Worker, l.cfg.TenantName, s.holder, s.duration.Seconds(), abandonedRunError, tempBuffers}}, func(r pgx.BatchResults) error {
		err := r.QueryRow().Scan(&runID, &abandoned)
		read = err == nil
		return err
	})
	if alongside != nil {
		alongside(&b)
	}
	if err := b.sendOn(ctx, conn, "record run start"); err != nil {
		if !read {
			return 0, err
		}
		if runID != nil {
			// A statement sent alongside failed, and the run's start, in
			// the same transaction, rolled back with it: the run is
			// recorded on its own, to be recorded failed with that error.
			id, startErr := l.startRun(ctx, conn, s, resource, nil)
			if startErr != nil {
				return 0, startErr
			}
			return id, alongsideError{err}
		}
		// The lease is lost, which says more.
	}
	if runID == nil {
		return 0, fmt.Errorf("%w: %s holds it now", ErrLeaseLost, s.currentHolder(ctx))
	}
	if abandoned > 0 {
		l.cfg.Logger.Warn("marked runs left running by a stopped process as failed", "tenant", l.cfg.TenantID, "resource", resource, "runs", abandoned)
	}
	return *runID, nil
}

// alongsideError is the error of a statement sent alongside a run's start
// (see syncResource): the run is recorded, and fails with it.
type alongsideError struct{ err error }

func (e alongsideError) Error() string { return e.err.Error() }
func (e alongsideError) Unwrap() error { return e.err }

// startRunInSteps is startRun for a database at a schema before 38
// (tests of earlier migrations, export_test.go): the same in a
// transaction of its own, in two round trips.
func (l *Loader) startRunInSteps(ctx context.Context, conn *pgx.Conn, s *lease, resource scanagent.Resource, alongside func(*batch)) (int64, error) {
	var (
		renewed, abandoned int64
		runID              int64
	)
	var b batch
	b.exec(step{"begin", "BEGIN", nil}, nil)
	b.exec(commitUnflushed, nil)
	b.exec(step{"raise temp_buffers", query("session_temp_buffers"), []any{tempBuffers}}, nil)
	b.exec(step{"renew the tenant's lease", query("lease_renew_tenant"), []any{s.key, s.holder, s.duration.Seconds()}},
		func(tag pgconn.CommandTag) { renewed = tag.RowsAffected() })
	// Only under the lease, so no live sync of the resource can be
	// running.
	b.exec(step{"mark abandoned runs", query("runs_abandon"), []any{
		l.cfg.TenantID, l.cfg.Now().UTC(), abandonedRunError, string(resource)}},
		func(tag pgconn.CommandTag) { abandoned = tag.RowsAffected() })
	// The tenant's row first (the run refers to it), with its display
	// name.
	b.queryRow(step{"record run start", query("runs_start"), []any{
		l.cfg.TenantID, string(resource), l.cfg.Now().UTC(), l.cfg.Worker, l.cfg.TenantName}}, &runID)
	if alongside != nil {
		alongside(&b)
	}
	err := b.sendOn(ctx, conn, "record run start")
	end := "COMMIT"
	if err != nil || renewed == 0 {
		end = "ROLLBACK"
	}
	// A failed statement leaves the transaction open (aborted): end it
	// even when ctx was cancelled.
	if conn.PgConn().TxStatus() != 'I' {
		if _, endErr := conn.Exec(context.WithoutCancel(ctx), end); endErr != nil && err == nil {
			err = fmt.Errorf("record run start: %w", interpretError(endErr))
		}
	}
	if err != nil {
		return 0, err
	}
	if renewed == 0 {
		return 0, fmt.Errorf("%w: %s holds it now", ErrLeaseLost, s.currentHolder(ctx))
	}
	if abandoned > 0 {
		l.cfg.Logger.Warn("marked runs left running by a stopped process as failed", "tenant", l.cfg.TenantID, "resource", resource, "runs", abandoned)
	}
	return runID, nil
}
