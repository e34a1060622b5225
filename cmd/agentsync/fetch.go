package main

import (
	"context"
	"fmt"
	"os/signal"
)

func runFetch(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("fetch", "",
		"Fetches every authenticated scan agent of the tenant (or, with --resource, every scan\n"+
			"definition, or the scan sessions of SCAN_HISTORY_LOOKBACK with their targets) and prints\n"+
			"each, normalized, as one JSON object per line on stdout. Logs and a summary go to stderr.\n"+
			"It touches no database: use it to check credentials, hosts and what the API sends.\n\n"+
			"Exit status: 0 when everything was fetched, 1 when the fetch failed, 2 on bad\n"+
			"configuration.")
	var defender defenderSettings
	var logs logSettings
	var what fetchSettings
	defender.register(fs)
	what.register(fs)
	logs.register(fs)
	if code, done := fs.parseOrExit(args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "agentsync fetch: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	prog, logger, err := newProgressLogger(a.stderr, logs)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync fetch: %v\n", err)
		return exitUsage
	}
	client, err := newDefenderLister(defender, logger, prog)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync fetch: %v\n", err)
		return exitUsage
	}
	resource, lookback, err := what.parse()
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync fetch: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	return fetchResource(ctx, a, client, resource, lookback, prog)
}
