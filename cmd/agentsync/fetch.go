package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"time"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/tenantsync"
)

// fetchCommand is agentsync fetch.
type fetchCommand struct {
	defenderSettings
	tenantSelection
	Resource string          `name:"resource" placeholder:"resource" default:"agents" help:"the resource to print: agents, definitions (scan definitions, never their credentials) or history (scan sessions of the lookback, with their targets)"`
	Lookback lookbackSetting `embed:""`
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*fetchCommand) Help() string {
	return "Fetches every authenticated scan agent of one tenant (or, with --resource, every scan\n" +
		"definition, or the scan sessions of SCAN_HISTORY_LOOKBACK with their targets) and prints\n" +
		"each, normalized, as one JSON object per line on stdout. Logs and a summary go to stderr.\n" +
		"It touches no database: use it to check credentials, hosts and what the API sends. With\n" +
		"several tenants configured, choose one with --tenant."
}

func (*fetchCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "every agent was fetched", exitFailure: "the fetch failed", exitUsage: usageExit}
}

func (c *fetchCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	prog, logger, err := newProgressLogger(a.stderr, c.logSettings)
	if err != nil {
		return a.fail(err)
	}
	ts, err := configuredTenants(c.defenderSettings, c.tenantSelection)
	if err != nil {
		return a.fail(err)
	}
	if len(ts) != 1 {
		return a.fail(fmt.Errorf("%d tenants are configured: fetch reads one, choose it with --tenant", len(ts)))
	}
	client, err := tenantsync.NewClient(ts[0], logger, prog)
	if err != nil {
		return a.fail(err)
	}
	resources, err := scanagent.ParseResources(c.Resource)
	if err != nil || len(resources) != 1 {
		return a.fail(fmt.Errorf("--resource %q: want one of agents, definitions, history", c.Resource))
	}
	lookback, err := c.Lookback.parse()
	if err != nil {
		return a.fail(err)
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	return fetchResource(ctx, a, client, resources[0], lookback, prog)
}

// fetchResource prints every record of resource as one JSON object per
// line on stdout and the listing's summary on stderr, and returns the exit
// status.
func fetchResource(ctx context.Context, a *app, client *extract.Client, resource scanagent.Resource, lookback time.Duration, prog *progress) int {
	out := bufio.NewWriter(a.stdout)
	enc := json.NewEncoder(jsonLines{out})
	enc.SetEscapeHTML(false)
	prog.StartCounting("fetch", tenantsync.Noun(resource))
	var st scanagent.ListStats
	var err error
	switch resource {
	case scanagent.Definitions:
		st, err = client.ListDefinitions(ctx, func(d scanagent.ScanDefinition) error { return enc.Encode(d) })
	case scanagent.History:
		st, err = client.History(ctx, time.Now().Add(-lookback), func(s scanagent.ScanSession) error { return enc.Encode(s) })
	default:
		st, err = client.List(ctx, func(r scanagent.Record) error { return enc.Encode(r) })
	}
	prog.Done()
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write %s: %w", resource, ferr)
	}
	code := exitOK
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync fetch: %s\n", errorText(err))
		code = exitFailure
	}
	// The summary ends the output whatever the log level, complete or
	// not: it tells how far the listing got.
	fmt.Fprintf(a.stderr, "agentsync fetch: %d %s in %d pages, %d API requests, %d rejected, %d duplicate ids\n",
		st.Agents, tenantsync.Noun(resource), st.Pages, st.Requests, st.Rejected, st.Duplicates)
	return code
}

// jsonLines writes each JSON value an encoder hands it with its C1
// controls and bidirectional overrides escaped (safetext.JSON): fetch's
// output may reach a terminal. encoding/json writes each value in one
// call, so no character is split between two.
type jsonLines struct{ w io.Writer }

func (j jsonLines) Write(p []byte) (int, error) {
	if _, err := j.w.Write(safetext.JSON(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
