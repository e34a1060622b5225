package main

import (
	"context"
	"fmt"
	"os/signal"
	"strings"
	"time"

	"github.com/agentsync/agentsync"
	"github.com/agentsync/agentsync/report"
)

// exportCommand is agentsync export.
type exportCommand struct {
	databaseSettings
	AsOf   string `name:"as-of" required:"" placeholder:"time" help:"the time of the fleet exported, and the end of the period: RFC 3339 (2026-03-01T00:00:00Z), a date (2026-03-01, UTC), a duration back from now (30d, 12w, 36h) or now"`
	Since  string `name:"since" placeholder:"time" default:"30d" help:"the start of the period of the changes and runs exported (excluded): a duration back from --as-of (30d, 12w, 36h), a date (2026-03-01, UTC) or RFC 3339"`
	Tenant string `name:"tenant" placeholder:"id" help:"the tenant id only (default: every tenant in the database)"`
	Out    string `name:"out" required:"" placeholder:"dir" help:"the directory to write to: created (mode 0700) when missing, refused when not empty"`
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*exportCommand) Help() string {
	return "Writes evidence an auditor can take away into the directory --out: the fleet as of --as-of\n" +
		"(fleet.csv, defender.scan_agents_as_of), the changes of the agents and of the scan definitions\n" +
		"in the period (--since, --as-of] (changes.csv, definition_changes.csv), the syncs of the period\n" +
		"and those the fleet comes from (runs.csv), as CSV (RFC 4180, UTF-8, CRLF, times in ISO 8601\n" +
		"UTC), and manifest.json: the period, the sync of each tenant's fleet, and each file's row count\n" +
		"and SHA-256 (check them with sha256sum). Files are written with mode 0600 and appear only once\n" +
		"every one is whole, the manifest last.\n\n" +
		"It reads the documented views in one read-only transaction, so that the files agree, and a\n" +
		"user in the role defender_reader can run it; it changes nothing in the database."
}

func (*exportCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "the files were written", exitFailure: "the database, or the tenant asked for, could not be read; or the directory not written (one not empty is refused)", exitUsage: usageExit}
}

func (c *exportCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	logger, err := newLogger(a.stderr, c.logSettings)
	if err != nil {
		return a.fail(err)
	}
	now := time.Now().UTC()
	asOf, err := parseDiffTime("--as-of", c.AsOf, now)
	if err != nil {
		return a.fail(err)
	}
	if asOf.After(now) {
		return a.fail(fmt.Errorf("--as-of %s is in the future: an export is of what was synced", asOf.Format(time.RFC3339)))
	}
	// --since reads as diff's times, a duration going back from --as-of.
	since, err := parseDiffTime("--since", c.Since, asOf)
	if err != nil {
		return a.fail(fmt.Errorf("--since %q: want a duration back from --as-of (30d, 12w, 36h), a date (2026-03-01) or a time (2026-03-01T00:00:00Z)", c.Since))
	}
	if !since.Before(asOf) {
		return a.fail(fmt.Errorf("--since %s is not before --as-of %s: give the start of the period to --since",
			since.Format(time.RFC3339), asOf.Format(time.RFC3339)))
	}
	if strings.TrimSpace(c.Out) == "" {
		return a.fail(fmt.Errorf("--out %q: want a directory", c.Out))
	}
	if err := c.databaseSettings.check(a.getenv); err != nil {
		return a.fail(err)
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	pool, err := openPool(ctx, c.URL, logger)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync export: %s\n", errorText(err))
		return exitFailure
	}
	defer pool.Close()
	m, err := report.Export(ctx, pool, c.Out, report.ExportOptions{
		AsOf:    asOf,
		Since:   since,
		Tenant:  c.Tenant,
		Version: semanticVersion(version, agentsync.Changelog),
	})
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync export: %s\n", errorText(err))
		return exitFailure
	}
	var files []string
	for _, f := range m.Files {
		files = append(files, fmt.Sprintf("%s (%d rows)", f.Name, f.Rows))
	}
	fmt.Fprintf(a.stderr, "agentsync export: wrote %s: %s, %s\n", c.Out, strings.Join(files, ", "), report.ManifestFile)
	return exitOK
}
