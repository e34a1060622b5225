package load

import (
	"context"
	"sync"
	"time"

	"github.com/agentsync/agentsync/scanagent"
)

// Hold is the tenant's lease taken once for several syncs of the tenant
// (Loader.Hold): each sync still has its own run and transaction, with
// every guarantee of a sync alone, and no other process syncs the tenant
// between them. A sync of each resource alone (Loader.Sync, ...) takes the
// lease and gives it back around itself; a round of every resource of a
// tenant takes it once, saving two transactions a resource.
//
// A Hold is for one goroutine: its syncs run one after the other.
type Hold struct {
	l     *Loader
	lease *lease
	// parent is the context Hold was given, for giving the lease back.
	parent context.Context
	// stop stops the renewals; cancel ends the context Hold returned.
	stop   func()
	cancel context.CancelCauseFunc
	// taking is the time taking the lease took, counted in the Duration
	// of the first sync under it (as a sync alone counts it).
	taking time.Duration
	// released makes Release idempotent.
	released sync.Once
}

// Hold takes the tenant's lease for several syncs of it. It fails as a
// sync does when it cannot: ErrSyncInProgress when another sync of the
// tenant is running, a *HeldError (matching ErrTenantHeld) when another
// holder has the lease with no sync of it running, and, with a roundStart
// that is not zero, ErrSyncedAlready when a sync of the tenant's agents
// that started at or after roundStart has finished (see SyncRound).
//
// The lease is renewed until Release. The context returned, derived from
// ctx, is cancelled with ErrLeaseLost when the lease is lost (another
// holder took it after it expired): the syncs given it stop and roll back,
// and no further one starts. Release must be called once the syncs are
// done.
func (l *Loader) Hold(ctx context.Context, roundStart time.Time) (*Hold, context.Context, error) {
	start := time.Now()
	// The tenant's lease, in its row: it holds through a transaction
	// pooler, and only the writer may take it.
	s, err := l.takeLease(ctx, roundStart)
	if err != nil {
		return nil, ctx, err
	}
	hctx, lost := context.WithCancelCause(ctx)
	h := &Hold{l: l, lease: s, parent: ctx, cancel: lost, taking: time.Since(start)}
	h.stop = s.keep(hctx, lost)
	return h, hctx, nil
}

// Release stops renewing the lease and gives it back, even when the
// context was cancelled; the context Hold returned ends. Calling it again
// does nothing.
func (h *Hold) Release() {
	h.released.Do(func() {
		h.stop()
		h.cancel(nil)
		h.lease.release(h.parent)
	})
}

// alone runs one sync of resource under a lease of its own.
func (l *Loader) alone(ctx context.Context, resource scanagent.Resource, roundStart time.Time, sync func(context.Context, *Hold) (Result, error)) (Result, error) {
	h, ctx, err := l.Hold(ctx, roundStart)
	if err != nil {
		return Result{Resource: resource}, err
	}
	defer h.Release()
	return sync(ctx, h)
}
