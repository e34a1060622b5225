package main

import (
	"context"
	"fmt"
	"os/signal"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/report"
)

// verifyCommand is agentsync verify.
type verifyCommand struct {
	databaseSettings
	Tenant string `name:"tenant" placeholder:"id" help:"the tenant id only (default: every tenant in the database)"`
	Format string `name:"format" placeholder:"format" enum:"text,json" default:"text" help:"text (a line per chain) or json (one object)"`
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*verifyCommand) Help() string {
	return "Recomputes the digest of every successful run from the rows as stored, and checks each\n" +
		"chain: the runs of a tenant and resource (agents, definitions, history), each digest chained\n" +
		"with the previous one's. Prints per chain \"N runs verified, chain head <digest>\", or the\n" +
		"first run whose stored rows no longer give its digest and what differs (docs/audit.md).\n\n" +
		"It reads the storage behind the views (schema defender_storage), so it runs as the owner of\n" +
		"schema defender, the user that runs agentsync migrate, not as a member of defender_reader.\n" +
		"It reads in one read-only transaction and changes nothing."
}

func (*verifyCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "every chain verified", exitFailure: "a run's digest no longer matches its stored rows, or the database or the tenant could not be read", exitUsage: usageExit}
}

func (c *verifyCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	logger, err := newLogger(a.stderr, c.logSettings)
	if err != nil {
		return a.fail(err)
	}
	if err := c.databaseSettings.check(a.getenv); err != nil {
		return a.fail(err)
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	pool, err := openPool(ctx, c.URL, logger)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync verify: %s\n", errorText(err))
		return exitFailure
	}
	defer pool.Close()
	chains, err := load.Verify(ctx, pool, c.Tenant)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync verify: %s\n", errorText(err))
		return exitFailure
	}
	if c.Format == "json" {
		err = report.WriteVerifyJSON(a.stdout, chains)
	} else {
		err = report.WriteVerifyText(a.stdout, chains)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync verify: %s\n", errorText(err))
		return exitFailure
	}
	if !load.Verified(chains) {
		return exitFailure
	}
	return exitOK
}
