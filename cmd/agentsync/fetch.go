package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/signal"

	"github.com/agentsync/agentsync/scanagent"
)

func runFetch(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("fetch", "",
		"Fetches every authenticated scan agent of one tenant and prints each, normalized, as one\n"+
			"JSON object per line on stdout. Logs and a summary go to stderr. It touches no database:\n"+
			"use it to check credentials, hosts and what the API sends. With several tenants configured,\n"+
			"choose one with --tenant.")
	var defender defenderSettings
	var logs logSettings
	var selected tenantSelection
	defender.register(fs)
	selected.register(fs)
	logs.register(fs)
	if code, done := fs.parseOrExit(args); done {
		return code
	}
	if fs.NArg() > 0 {
		return fs.fail(fmt.Errorf("unexpected arguments %q", fs.Args()))
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
	client, err := newTenantClient(ts[0], logger, prog)
	if err != nil {
		return fs.fail(err)
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()

	out := bufio.NewWriter(a.stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	prog.start("fetch")
	st, err := client.List(ctx, func(r scanagent.Record) error { return enc.Encode(r) })
	prog.done()
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write agents: %w", ferr)
	}
	code := exitOK
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync fetch: %s\n", errorText(err))
		code = exitFailure
	}
	// The summary ends the output whatever the log level, complete or
	// not: it tells how far the listing got.
	fmt.Fprintf(a.stderr, "agentsync fetch: %d agents in %d pages, %d API requests, %d rejected, %d duplicate ids\n",
		st.Agents, st.Pages, st.Requests, st.Rejected, st.Duplicates)
	return code
}
