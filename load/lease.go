package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/scanagent"
)

// DefaultLeaseDuration is how long a sync holds its tenant without
// renewing: a process that died frees the tenant this long after its last
// renewal. A live sync renews it every quarter of it.
const DefaultLeaseDuration = time.Minute

// lease is a hold on a tenant (its row of defender_storage.tenant_leases) or on a
// maintenance task (defender_storage.maintenance_leases): the row names the holder
// and when the hold expires. Taking, renewing and giving it back are
// single statements, each its own transaction, so that the lease holds
// through a transaction pooler; a session's advisory lock would not (the
// pooler may run its release on another server connection, and a lock
// left on an idle server connection blocks the tenant for good).
type lease struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	kind     leaseKind
	key      string // the tenant, or the maintenance task
	holder   string
	duration time.Duration
}

// newHolder names a sync: the worker, and a token that tells this sync
// from any other of the same process.
func (l *Loader) newHolder() string { return newHolder(l.cfg.Worker) }

// newHolder names a lease's holder: worker (host:pid), and a token that
// tells it from any other of the same process.
func newHolder(worker string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return worker + "/" + hex.EncodeToString(b)
}

// heldGrace is how long a holder may have the tenant with no run of it
// running before a sync that finds it so reports the tenant held: a sync
// takes the lease before it records its run and gives it back after the
// run ended, and on a busy server those moments take a while. A holder
// that took the lease this recently, or whose run of the tenant ended this
// recently, is a sync in progress.
const heldGrace = 30 * time.Second

// takeLease takes the tenant's lease when nobody holds it or its holder's
// lease expired. Otherwise it returns an error matching ErrSyncInProgress
// when a run of the tenant is running, or the holder took the lease or
// ended a run within heldGrace, and a *HeldError otherwise. The tenant's
// row is created when missing. With a roundStart (not zero), a lease taken
// is given back at once, and ErrSyncedAlready returned, when a sync of the
// tenant's agents that started at or after roundStart has finished.
//
// One round trip, in one transaction that does not wait for the flush of
// its WAL (see bookkeeping.go); the round's check reads after the lease is
// taken, so that a sync another process finished before it gave the lease
// back is seen.
func (l *Loader) takeLease(ctx context.Context, roundStart time.Time) (*lease, error) {
	holder := l.newHolder()
	var (
		taken   bool
		current *string
		until   *time.Time
		busy    bool
		done    bool
	)
	var b batch
	b.exec(commitUnflushed, nil)
	// The tenant's row first (the lease refers to it); an existing one is
	// left as it is.
	take := query("lease_take_tenant_call")
	if l.cfg.schemaBefore(40) { // 00040_lease_taken_in_one_call.sql
		take = query("lease_take_tenant")
	}
	b.queryRow(step{"take the tenant's lease", take, []any{
		l.cfg.TenantID, holder, l.cfg.LeaseDuration.Seconds(), l.cfg.TenantName,
		heldGrace.Seconds(), (l.cfg.SyncTimeout + heldGrace).Seconds()}}, &taken, &current, &until, &busy)
	if !roundStart.IsZero() {
		b.queryRow(step{"read this round's syncs", query("runs_done_this_round"), []any{
			l.cfg.TenantID, string(scanagent.Agents), roundStart}}, &done)
	}
	if err := b.sendPool(ctx, l.pool); err != nil {
		return nil, err
	}
	if taken {
		s := &lease{pool: l.pool, logger: l.cfg.Logger, kind: tenantLease, key: l.cfg.TenantID, holder: holder, duration: l.cfg.LeaseDuration}
		if done {
			s.release(ctx)
			return nil, ErrSyncedAlready
		}
		return s, nil
	}
	if busy {
		return nil, ErrSyncInProgress
	}
	held := &HeldError{}
	if current != nil {
		held.Holder = *current
	}
	if until != nil {
		held.Until = until.UTC()
	}
	return nil, held
}

// leaseKind is what a lease holds: its statements, each written once, and
// its name in messages. $1 is the key (tenant or task), $2 the holder, $3
// the duration in seconds.
type leaseKind struct {
	name                            string
	renewSQL, releaseSQL, holderSQL string
}

var (
	tenantLease = leaseKind{
		name:       "the tenant's lease",
		renewSQL:   query("lease_renew_tenant"),
		releaseSQL: query("lease_release_tenant"),
		holderSQL:  query("lease_holder_tenant"),
	}
	maintenanceLease = leaseKind{
		name:       "the maintenance lease",
		renewSQL:   query("lease_renew_maintenance"),
		releaseSQL: query("lease_release_maintenance"),
		holderSQL:  query("lease_holder_maintenance"),
	}
)

// renew extends the lease; ErrLeaseLost when another holder has it now.
func (s *lease) renew(ctx context.Context) error {
	tag, err := s.pool.Exec(ctx, s.kind.renewSQL, s.key, s.holder, s.duration.Seconds())
	if err != nil {
		return fmt.Errorf("renew %s: %w", s.kind.name, interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// release gives the lease back, even when ctx was cancelled. Releasing a
// lease another holder took since is a no-op.
func (s *lease) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Without waiting for the flush (see bookkeeping.go): a release lost
	// in a server crash leaves the lease to expire by itself.
	var b batch
	b.exec(commitUnflushed, nil)
	b.exec(step{"give back " + s.kind.name, s.kind.releaseSQL, []any{s.key, s.holder}}, nil)
	if err := b.sendPool(ctx, s.pool); err != nil {
		s.logger.Warn("release "+s.kind.name+"; it expires by itself", "key", s.key,
			"holder", s.holder, "error", err)
	}
}

// keep renews the lease every quarter of its duration until stop is
// called. When the lease is lost (another holder took it after it
// expired) or could not be renewed before it expired, it cancels the work
// with ErrLeaseLost: a sync's data transaction then rolls back.
func (s *lease) keep(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		d := s.duration
		ticker := time.NewTicker(d / 4)
		defer ticker.Stop()
		renewed := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), d/4)
			err := s.renew(rctx)
			rcancel()
			switch {
			case err == nil:
				renewed = time.Now()
			case errors.Is(err, ErrLeaseLost):
				cancel(fmt.Errorf("%w: %s holds it now", ErrLeaseLost, s.currentHolder(ctx)))
				return
			case time.Since(renewed) >= d:
				cancel(fmt.Errorf("%w: not renewed for %s: %v", ErrLeaseLost, d, err))
				return
			default:
				s.logger.Warn("renew "+s.kind.name+"; trying again", "key", s.key, "error", err)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// currentHolder names the lease's holder, for a message.
func (s *lease) currentHolder(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var holder *string
	err := s.pool.QueryRow(ctx, s.kind.holderSQL, s.key).Scan(&holder)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && holder == nil):
		return "nobody"
	case err != nil:
		return "another process"
	}
	return *holder
}
