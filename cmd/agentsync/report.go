package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/agentsync/agentsync"
	"github.com/agentsync/agentsync/report"
)

// reportCommand is agentsync report.
type reportCommand struct {
	databaseSettings
	Out    string `name:"out" placeholder:"file" help:"write the report to file (default: standard output, unless it is a terminal)"`
	OutDir string `name:"out-dir" placeholder:"dir" help:"write the report to dir as index.html, the overview of every tenant, and one file per tenant (for hundreds of tenants)"`
	Tenant string `name:"tenant" placeholder:"id" help:"report on the tenant id only (default: every tenant in the database)"`
	Since  string `name:"since" placeholder:"period" default:"90d" help:"the period the report covers, back from now: days (90d), weeks (12w), a duration (36h) or a date (2026-01-31)"`
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*reportCommand) Help() string {
	return "Writes a report of the history as one self-contained HTML file: Defender client versions\n" +
		"rolling out day by day, stale agents per day, sync health with the errors, the latest\n" +
		"changes, the stale agents at the latest sync, the deletions withheld, and scan coverage\n" +
		"when there is scan data. Every chart has its numbers in a table. The file opens offline\n" +
		"(it fetches nothing and runs no script) and prints; it says which syncs it comes from.\n\n" +
		"It reads only the reporting views, so a user in the role defender_reader can run it, in\n" +
		"one read-only transaction, and changes nothing. It applies no migration."
}

func (*reportCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "the report was written", exitFailure: "the database, or the tenant asked for, could not be read; or the file not written", exitUsage: usageExit}
}

func (c *reportCommand) run(ctx context.Context, a *app) int {
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
	if c.Out != "" && c.OutDir != "" {
		return a.fail(errors.New("--out and --out-dir: give one of them"))
	}
	now := time.Now().UTC()
	from, err := parseSince(c.Since, now)
	if err != nil {
		return a.fail(err)
	}
	if c.Out == "" && c.OutDir == "" && isTerminal(a.stdout) {
		// A page of HTML is no use on a terminal, and the data it quotes
		// must not reach one raw.
		return a.fail(errors.New("standard output is a terminal: write the report to a file with --out FILE (or redirect it: > report.html)"))
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	pool, err := openPool(ctx, c.URL, logger)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync report: %s\n", errorText(err))
		return exitFailure
	}
	defer pool.Close()
	opt := report.Options{Tenant: c.Tenant, Now: now, From: from}
	switch {
	case c.OutDir != "":
		err = writeReportDir(ctx, c.OutDir, pool, opt)
	case c.Out != "":
		err = writeReportFile(ctx, c.Out, pool, opt)
	default:
		err = writeReport(ctx, a.stdout, pool, opt)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync report: %s\n", errorText(err))
		return exitFailure
	}
	switch {
	case c.OutDir != "":
		fmt.Fprintf(a.stderr, "agentsync report: wrote %s\n", filepath.Join(c.OutDir, report.IndexFile))
	case c.Out != "":
		fmt.Fprintf(a.stderr, "agentsync report: wrote %s\n", c.Out)
	}
	return exitOK
}

// parseSince reads --since: a duration as every duration setting takes it
// (90d, 12w, 36h: see parseDuration), or a date (UTC), and returns the
// start of the period ending at now.
func parseSince(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	bad := fmt.Errorf("--since %q: want days (90d), weeks (12w), a duration (36h) or a date (2026-01-31)", v)
	if d, err := parseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, bad
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if !t.Before(now) {
			return time.Time{}, fmt.Errorf("--since %q: the date is not in the past", v)
		}
		return t, nil
	}
	return time.Time{}, bad
}

// generator names this program in the reports it writes.
func generator() string { return "agentsync " + semanticVersion(version, agentsync.Changelog) }

// writeReport reads the report of pool and writes it to w.
func writeReport(ctx context.Context, w io.Writer, pool *pgxpool.Pool, opt report.Options) error {
	snap, err := report.Read(ctx, pool, opt)
	if err != nil {
		return err
	}
	return report.WriteHTML(w, snap, generator())
}

// writeReportFile writes the report to path whole or not at all, with the
// mode of the file it replaces or else as the umask allows (see
// report.WriteFile).
func writeReportFile(ctx context.Context, path string, pool *pgxpool.Pool, opt report.Options) error {
	err := report.WriteFile(path, func(w io.Writer) error { return writeReport(ctx, w, pool, opt) })
	if err != nil && !errors.Is(err, report.ErrNoSchema) && !errors.Is(err, report.ErrUnknownTenant) {
		return fmt.Errorf("report to %s: %w", path, err)
	}
	return err
}

// writeReportDir reads the report of pool and writes it to dir as
// report.Files: index.html and one file per tenant, each whole or not at
// all (report.WriteFile); index.html last, so that it links only to files
// written.
func writeReportDir(ctx context.Context, dir string, pool *pgxpool.Pool, opt report.Options) error {
	snap, err := report.Read(ctx, pool, opt)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil { // less the umask
		return fmt.Errorf("write the report: %w", err)
	}
	// The tenants' files are drawn on every core; each is written whole.
	files := report.Files(snap, generator())
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, f := range files[1:] {
		g.Go(func() error { return report.WriteFile(filepath.Join(dir, f.Name), f.Write) })
	}
	err = g.Wait()
	if err == nil {
		err = report.WriteFile(filepath.Join(dir, files[0].Name), files[0].Write)
	}
	if err != nil {
		return fmt.Errorf("report to %s: %w", dir, err)
	}
	return nil
}
