package load

import (
	"context"
	"errors"
	"fmt"

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
// just before), each in its own run and transaction: one failing never
// stops or undoes another. Once ctx has ended no further resource starts;
// those not started have an Outcome with no run and ctx's cause.
func (l *Loader) SyncResources(ctx context.Context, resources []scanagent.Resource, src Sources) []Outcome {
	out := make([]Outcome, 0, len(resources))
	for _, r := range scanagent.AllResources {
		var wanted bool
		for _, w := range resources {
			wanted = wanted || w == r
		}
		if !wanted {
			continue
		}
		if err := context.Cause(ctx); err != nil {
			out = append(out, Outcome{Result: Result{Resource: r}, Err: fmt.Errorf("%s not synced: %w", r, err)})
			continue
		}
		var res Result
		var err error
		switch {
		case r == scanagent.Agents && src.Agents != nil:
			res, err = l.Sync(ctx, src.Agents)
		case r == scanagent.Definitions && src.Definitions != nil:
			res, err = l.SyncDefinitions(ctx, src.Definitions)
		case r == scanagent.History && src.History != nil:
			res, err = l.SyncHistory(ctx, src.History)
		default:
			res, err = Result{Resource: r}, errors.New("load: no source for "+string(r))
		}
		out = append(out, Outcome{Result: res, Err: err})
	}
	return out
}
