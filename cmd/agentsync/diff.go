package main

import (
	"context"
	"fmt"
	"os/signal"
	"strings"
	"time"

	"github.com/agentsync/agentsync/report"
)

// diffCommand is agentsync diff.
type diffCommand struct {
	databaseSettings
	From   string `name:"from" required:"" placeholder:"time" help:"the earlier time: RFC 3339 (2026-03-01T00:00:00Z), a date (2026-03-01, UTC) or a duration back from now (30d, 12w, 36h)"`
	To     string `name:"to" placeholder:"time" default:"now" help:"the later time, as --from takes it, or now"`
	Tenant string `name:"tenant" placeholder:"id" help:"the tenant id only (default: every tenant in the database)"`
	Format string `name:"format" placeholder:"format" enum:"table,csv,json" default:"table" help:"table, csv (RFC 4180) or json (one object per line)"`
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*diffCommand) Help() string {
	return "Prints the agents that changed between the fleet as of --from and as of --to, each as the\n" +
		"last successful sync at or before the time saw it (defender.scan_agents_as_of): those that\n" +
		"appeared, were deleted, returned, or changed a descriptive column, with the old and new\n" +
		"values and the sync each side reflects. Unchanged agents are not printed.\n\n" +
		"It reads defender.scan_agents_diff, so a user in the role defender_reader can run it, in\n" +
		"one read-only transaction, and changes nothing."
}

func (*diffCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "the changes were printed (none is no error)", exitFailure: "the database, or the tenant asked for, could not be read", exitUsage: usageExit}
}

func (c *diffCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	logger, err := newLogger(a.stderr, c.logSettings)
	if err != nil {
		return a.fail(err)
	}
	now := time.Now().UTC()
	from, err := parseDiffTime("--from", c.From, now)
	if err != nil {
		return a.fail(err)
	}
	to, err := parseDiffTime("--to", c.To, now)
	if err != nil {
		return a.fail(err)
	}
	if from.After(to) {
		return a.fail(fmt.Errorf("--from %s is after --to %s: give the earlier time to --from",
			from.Format(time.RFC3339), to.Format(time.RFC3339)))
	}
	if err := c.databaseSettings.check(a.getenv); err != nil {
		return a.fail(err)
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	pool, err := openPool(ctx, c.URL, logger)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync diff: %s\n", errorText(err))
		return exitFailure
	}
	defer pool.Close()
	changes, err := report.ReadFleetDiff(ctx, pool, from, to, c.Tenant)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync diff: %s\n", errorText(err))
		return exitFailure
	}
	switch c.Format {
	case "csv":
		err = report.WriteDiffCSV(a.stdout, changes)
	case "json":
		err = report.WriteDiffJSON(a.stdout, changes)
	default:
		err = report.WriteDiffTable(a.stdout, changes)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync diff: %s\n", errorText(err))
		return exitFailure
	}
	return exitOK
}

// parseDiffTime reads a time of agentsync diff: now, RFC 3339, a date
// (UTC midnight), or a duration back from now as every duration setting
// takes it (30d, 12w, 36h: see parseDuration).
func parseDiffTime(flag, v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if d, err := parseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want a time (2026-03-01T00:00:00Z), a date (2026-03-01), a duration back from now (30d, 12w, 36h) or now", flag, v)
}
