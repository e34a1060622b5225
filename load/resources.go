package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentsync/agentsync/scanagent"
)

// Sources are where a sync reads each resource.
type Sources struct {
	Agents      scanagent.ListFunc
	Definitions scanagent.DefinitionListFunc
	History     scanagent.HistorySource
}

// Outcome is the sync of one resource by SyncResources: its result, and
// its error (ErrSyncInProgress when another process was syncing it).
type Outcome struct {
	Result
	Err error
}

// SyncResources syncs each of resources in the order a sync runs them
// (agents, definitions, history: the history reads the definitions stored
// just before), each in its own run and transaction, under the tenant's
// lease taken once for them all: one failing never stops or undoes
// another. When the lease cannot be taken, every resource's Outcome has
// the error (ErrSyncInProgress, ErrTenantHeld). Once ctx has ended, or the
// lease is lost, no further resource starts; those not started have an
// Outcome with no run and the cause.
func (l *Loader) SyncResources(ctx context.Context, resources []scanagent.Resource, src Sources) []Outcome {
	h, ctx, err := l.Hold(ctx, time.Time{})
	if err != nil {
		var out []Outcome
		for _, r := range scanagent.InSyncOrder(resources) {
			out = append(out, Outcome{Result: Result{Resource: r}, Err: err})
		}
		return out
	}
	defer h.Release()
	return h.SyncResources(ctx, resources, src)
}

// SyncResources is Loader.SyncResources under the lease h holds.
func (h *Hold) SyncResources(ctx context.Context, resources []scanagent.Resource, src Sources) []Outcome {
	out := make([]Outcome, 0, len(resources))
	for _, r := range scanagent.InSyncOrder(resources) {
		if err := context.Cause(ctx); err != nil {
			out = append(out, Outcome{Result: Result{Resource: r}, Err: fmt.Errorf("%s not synced: %w", r, err)})
			continue
		}
		var res Result
		var err error
		switch {
		case r == scanagent.Agents && src.Agents != nil:
			res, err = h.Sync(ctx, src.Agents)
		case r == scanagent.Definitions && src.Definitions != nil:
			res, err = h.SyncDefinitions(ctx, src.Definitions)
		case r == scanagent.History && src.History != nil:
			res, err = h.SyncHistory(ctx, src.History)
		default:
			res, err = Result{Resource: r}, errors.New("load: no source for "+string(r))
		}
		out = append(out, Outcome{Result: res, Err: err})
	}
	return out
}
