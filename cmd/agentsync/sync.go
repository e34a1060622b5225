package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/migrations"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/tenantsync"
)

// syncCommand is agentsync sync.
type syncCommand struct {
	databaseSettings
	defenderSettings
	tenantSelection
	loadSettings
	AllowMassDeletion bool `name:"allow-mass-deletion" help:"apply this sync's deletions even when the guard would withhold them (the tenant really lost those agents)"`
	NoMigrate         bool `name:"no-migrate" help:"do not apply pending database migrations first"`
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*syncCommand) Help() string {
	return "Syncs every enabled tenant (or those of --tenant) into PostgreSQL once, now: for each,\n" +
		"fetches every scan agent, scan definition and the recent scan history (SYNC_RESOURCES),\n" +
		"loads each with history in a transaction of its own, and records each run in\n" +
		"defender.sync_runs; SYNC_CONCURRENCY tenants at once. One failing tenant or resource never\n" +
		"stops or rolls back another. Prints one line per tenant. Applies pending migrations first\n" +
		"unless --no-migrate."
}

func (*syncCommand) exits() exitStatuses {
	return exitStatuses{
		exitOK:      "every tenant's sync succeeded, or another process was syncing it",
		exitFailure: "a tenant's sync failed: nothing of it changed but its failed run's row in defender.sync_runs; the other tenants are committed; or a tenant was skipped because another process holds it with no sync of it running (stderr names the holder)",
		exitUsage:   usageExit,
	}
}

func (c *syncCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	prog, logger, err := newProgressLogger(a.stderr, c.logSettings)
	if err != nil {
		return a.fail(err)
	}
	if err := c.databaseSettings.check(a.getenv); err != nil {
		return a.fail(err)
	}
	loadCfg := load.Config{AllowMassDeletion: c.AllowMassDeletion}
	workers, resources, err := c.loadSettings.apply(&loadCfg)
	if err != nil {
		return a.fail(err)
	}
	ts, err := configuredTenants(c.defenderSettings, c.tenantSelection)
	if err != nil {
		return a.fail(err)
	}

	// SIGINT or SIGTERM cancels the syncs: they are rolled back and
	// recorded failed, and no other tenant starts.
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()

	pool, err := openPool(ctx, c.URL, logger)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync sync: %s\n", errorText(err))
		return exitFailure
	}
	defer closePool(pool, logger)
	targets, err := tenantsync.NewTargets(ts, pool, tenantsync.Config{Load: loadCfg, Logger: logger, Progress: prog})
	if err != nil {
		if errors.Is(err, extract.ErrConfig) {
			return a.fail(err)
		}
		fmt.Fprintf(a.stderr, "agentsync sync: %s\n", errorText(err))
		return exitFailure
	}
	if !c.NoMigrate {
		if _, err := migrations.Up(ctx, stdlib.OpenDBFromPool(pool), logger); err != nil {
			fmt.Fprintf(a.stderr, "agentsync sync: %s\n", errorText(err))
			return exitFailure
		}
	}

	outcomes := tenantsync.SyncTenants(ctx, ctx, targets, tenantsync.Round{Resources: resources, Concurrency: workers})
	c.Retention.apply(ctx, pool, logger)
	if failed := printOutcomes(a.stdout, a.stderr, outcomes); failed > 0 {
		if len(outcomes) > 1 {
			fmt.Fprintf(a.stderr, "agentsync sync: %d of %d tenants failed; the others are committed\n", failed, len(outcomes))
		}
		return exitFailure
	}
	return exitOK
}

// errorText shows a failure on stderr or in a log line. It may quote what
// the API or the database sent, so it goes through safetext whatever made
// it: escaped, redacted, bounded to about a kilobyte.
func errorText(err error) string { return safetext.Text(err.Error()) }

// printOutcomes writes one summary line per tenant on stdout, each of its
// resources in a few words, and on stderr one line per failure with its
// error. It returns how many tenants failed.
func printOutcomes(stdout, stderr io.Writer, outcomes []tenantsync.Outcome) (failed int) {
	for _, o := range outcomes {
		id := o.Target.Loader.TenantID()
		if o.Failed() {
			failed++
		}
		if o.NotStarted != nil {
			fmt.Fprintf(stdout, "%s: not synced: stopped before its turn\n", id)
			continue
		}
		var parts []string
		for _, r := range o.Resources {
			switch {
			case errors.Is(r.Err, load.ErrSyncInProgress):
				parts = append(parts, "skipped: another sync of this tenant is running")
			case errors.Is(r.Err, load.ErrSyncedAlready):
				parts = append(parts, "skipped: another process synced it in this round")
			case errors.Is(r.Err, load.ErrTenantHeld):
				fmt.Fprintf(stderr, "agentsync sync: tenant %s: skipped: %s\n", id, errorText(r.Err))
				parts = append(parts, "skipped: held by another process with no sync of it running")
			case r.Err != nil:
				run := ""
				if r.RunID != 0 {
					run = fmt.Sprintf(" run %d", r.RunID)
					fmt.Fprintf(stderr, "agentsync sync: tenant %s: %s run %d failed, nothing changed: %s\n", id, r.Resource, r.RunID, errorText(r.Err))
				} else {
					fmt.Fprintf(stderr, "agentsync sync: tenant %s: %s: %s\n", id, r.Resource, errorText(r.Err))
				}
				parts = append(parts, fmt.Sprintf("%s%s FAILED", r.Resource, run))
			default:
				parts = append(parts, resourceSummary(r.Result))
			}
		}
		fmt.Fprintf(stdout, "%s: %s\n", id, strings.Join(parts, "; "))
	}
	return failed
}

// resourceSummary is the one-line human summary of a successful sync of
// any resource.
func resourceSummary(res load.Result) string {
	var b strings.Builder
	switch res.Resource {
	case scanagent.Agents:
		return summaryLine(res)
	case scanagent.Definitions:
		fmt.Fprintf(&b, "definitions sync succeeded: run %d, %d definitions (%d new, %d changed, %d unchanged), %d deleted",
			res.RunID, res.Seen, res.Inserted, res.Changed, res.Unchanged, res.Deleted)
		if res.DeletionsWithheld > 0 {
			fmt.Fprintf(&b, ", %d deletions withheld", res.DeletionsWithheld)
		}
	default:
		fmt.Fprintf(&b, "history sync succeeded: run %d, %d sessions (%d new, %d completed, %d unchanged), %d targets",
			res.RunID, res.Seen, res.Inserted, res.Changed, res.Unchanged, res.Targets)
	}
	fmt.Fprintf(&b, ", %d rejected, %d API requests, %s", res.Rejected, res.APIRequests, res.Duration.Round(time.Millisecond))
	return b.String()
}

// summaryLine is the one-line human summary of a successful sync.
func summaryLine(res load.Result) string {
	s := fmt.Sprintf("sync succeeded: run %d, %d agents (%d new, %d changed, %d seen, %d unchanged), %d deleted",
		res.RunID, res.Seen, res.Inserted, res.Changed, res.HeartbeatOnly, res.Unchanged, res.Deleted)
	if res.DeletionsWithheld > 0 {
		s += fmt.Sprintf(", %d deletions withheld", res.DeletionsWithheld)
	}
	if res.FieldsRepaired > 0 {
		s += fmt.Sprintf(", %d fields repaired", res.FieldsRepaired)
	}
	return s + fmt.Sprintf(", %d rejected, %d API requests, %s",
		res.Rejected, res.APIRequests, res.Duration.Round(time.Millisecond))
}
