package main

import (
	"context"
	"fmt"
	"os/signal"

	"github.com/agentsync/agentsync/tenantsync"
)

func runFetch(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("fetch", "",
		"Fetches every authenticated scan agent of one tenant (or, with --resource, every scan\n"+
			"definition, or the scan sessions of SCAN_HISTORY_LOOKBACK with their targets) and prints\n"+
			"each, normalized, as one JSON object per line on stdout. Logs and a summary go to stderr.\n"+
			"It touches no database: use it to check credentials, hosts and what the API sends. With\n"+
			"several tenants configured, choose one with --tenant.")
	var defender defenderSettings
	var logs logSettings
	var what fetchSettings
	var selected tenantSelection
	defender.register(fs)
	selected.register(fs)
	what.register(fs)
	logs.register(fs)
	if code, done := fs.parseFlagsOnly(args); done {
		return code
	}
	prog, logger, err := newProgressLogger(a.stderr, logs)
	if err != nil {
		return fs.fail(err)
	}
	ts, err := configuredTenants(defender, selected)
	if err != nil {
		return fs.fail(err)
	}
	if len(ts) != 1 {
		return fs.fail(fmt.Errorf("%d tenants are configured: fetch reads one, choose it with --tenant", len(ts)))
	}
	client, err := tenantsync.NewClient(ts[0], logger, prog)
	if err != nil {
		return fs.fail(err)
	}
	resource, lookback, err := what.parse()
	if err != nil {
		return fs.fail(err)
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	return fetchResource(ctx, a, client, resource, lookback, prog)
}
