package main

import (
	"context"
	"fmt"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/tenantsync"
)

// demoSync syncs every resource of the simulated tenant once: the agents,
// then the scan definitions and history, each its own run. It returns the
// agents' result and error, and the error of the first other resource
// that failed: the demo fails only the agents on purpose.
func demoSync(ctx context.Context, loader *load.Loader, client *extract.Client) (agents load.Result, agentsErr, scansErr error) {
	out := loader.SyncResources(ctx, scanagent.AllResources, tenantsync.Sources(client))
	for _, o := range out[1:] {
		if o.Err != nil && scansErr == nil {
			scansErr = fmt.Errorf("sync of %s: %w", o.Resource, o.Err)
		}
	}
	return out[0].Result, out[0].Err, scansErr
}
