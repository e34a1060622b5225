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
// then the scan definitions and history, each its own run, the progress
// line labelled label counting what each lists. It returns the agents'
// result and error, and the error of the first other resource that
// failed: the demo fails only the agents on purpose.
func demoSync(ctx context.Context, loader *load.Loader, client *extract.Client, prog *progress, label string) (agents load.Result, agentsErr, scansErr error) {
	defer prog.Done()
	for _, r := range scanagent.AllResources {
		prog.StartCounting(label, tenantsync.Noun(r))
		o := loader.SyncResources(ctx, []scanagent.Resource{r}, tenantsync.Sources(client))[0]
		switch {
		case r == scanagent.Agents:
			agents, agentsErr = o.Result, o.Err
		case o.Err != nil && scansErr == nil:
			scansErr = fmt.Errorf("sync of %s: %w", r, o.Err)
		}
	}
	return agents, agentsErr, scansErr
}
