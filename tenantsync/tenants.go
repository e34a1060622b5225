package tenantsync

import (
	"context"
	"errors"
	"time"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/schedule"
)

// Round is one pass over the tenants.
type Round struct {
	// Resources are what each tenant's sync fetches and loads.
	Resources []scanagent.Resource
	// Concurrency is the most tenants synced at once; default 1.
	Concurrency int
	// Jitter delays each tenant by its own random duration below it.
	Jitter time.Duration
	// Start, when not zero, is when the round started: a tenant another
	// process synced since then is skipped (see load.Loader.SyncRound).
	Start time.Time
}

// Outcome is how one tenant's sync ended: each resource's outcome, or why
// it never started.
type Outcome struct {
	Target    *Target
	Resources []load.Outcome
	// NotStarted is schedule.ErrNotStarted when shutdown came before the
	// tenant's turn.
	NotStarted error
}

// Failed reports whether a resource of the tenant failed, or the tenant
// never started. A tenant skipped because another process was syncing it,
// or had synced it in the round, has not failed; one skipped because
// another holder has it with no sync of it running has (load.ErrTenantHeld:
// that holder hangs, or is gone and its lease not yet expired).
func (o Outcome) Failed() bool {
	if o.NotStarted != nil {
		return true
	}
	for _, r := range o.Resources {
		if r.Err != nil && (!Skipped(r.Err) || errors.Is(r.Err, load.ErrTenantHeld)) {
			return true
		}
	}
	return false
}

// SyncTenants syncs the targets' resources, round.Concurrency tenants at
// once, each after its own jitter: each resource of each tenant in its own
// transaction and run, so that one failing never stops or rolls back
// another. Once stop is done no tenant starts; those in flight go on under
// ctx, which is what cancels them. It returns the outcomes in the order of
// targets.
func SyncTenants(stop, ctx context.Context, targets []Target, round Round) []Outcome {
	outcomes := make([]Outcome, len(targets))
	jobs := make([]schedule.Job, len(targets))
	for i := range targets {
		t := &targets[i]
		outcomes[i].Target = t
		jobs[i] = func(ctx context.Context) error {
			outcomes[i].Resources = t.SyncResources(ctx, round.Resources, round.Start)
			return nil
		}
	}
	errs := schedule.Fanout(stop, ctx, schedule.FanoutConfig{Concurrency: round.Concurrency, Jitter: round.Jitter}, jobs)
	for i, err := range errs {
		if errors.Is(err, schedule.ErrNotStarted) {
			outcomes[i].NotStarted = err
		}
	}
	return outcomes
}
