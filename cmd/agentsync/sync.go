package main

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/migrations"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/tenantsync"
)

// guardSettings configure the mass-deletion guard of the loader.
type guardSettings struct {
	MaxDeletedFraction string
	MaxDeletedCount    string
}

func (s *guardSettings) register(fs *flagSet) {
	fs.String(&s.MaxDeletedFraction, "max-deleted-fraction", "SYNC_MAX_DELETED_FRACTION",
		strconv.FormatFloat(load.DefaultMaxDeletedFraction, 'g', -1, 64),
		"mass-deletion guard: withhold a sync's deletions when it would mark more than this `fraction` of the active agents deleted, and more than --max-deleted-count of them")
	fs.String(&s.MaxDeletedCount, "max-deleted-count", "SYNC_MAX_DELETED_COUNT",
		strconv.Itoa(load.DefaultMaxDeletedCount),
		"mass-deletion guard: withhold a sync's deletions only when they are more than `n` agents, and more than --max-deleted-fraction of the active ones")
}

// apply validates the settings into cfg.
func (s *guardSettings) apply(cfg *load.Config) error {
	f, err := strconv.ParseFloat(s.MaxDeletedFraction, 64)
	if err != nil || f <= 0 || f > 1 {
		return fmt.Errorf("SYNC_MAX_DELETED_FRACTION %q: want a number above 0 and at most 1", s.MaxDeletedFraction)
	}
	n, err := strconv.Atoi(s.MaxDeletedCount)
	if err != nil || n < 1 {
		return fmt.Errorf("SYNC_MAX_DELETED_COUNT %q: want a whole number of at least 1", s.MaxDeletedCount)
	}
	cfg.MaxDeletedFraction, cfg.MaxDeletedCount = f, n
	return nil
}

// syncTimeoutSetting bounds one sync, for sync and run.
type syncTimeoutSetting struct {
	value string
}

func (s *syncTimeoutSetting) register(fs *flagSet) {
	fs.String(&s.value, "sync-timeout", "SYNC_TIMEOUT", "30m",
		"cancel a sync still running after this `duration`: it is rolled back and recorded failed; /readyz takes a run still marked running after it as stuck")
}

// apply validates the setting into cfg.
func (s *syncTimeoutSetting) apply(cfg *load.Config) error {
	d, err := durationSetting("SYNC_TIMEOUT", s.value)
	if err != nil {
		return err
	}
	if d == 0 {
		return errors.New("SYNC_TIMEOUT must be positive")
	}
	cfg.SyncTimeout = d
	return nil
}

// loadSettings are the settings of loading that sync and run share.
type loadSettings struct {
	concurrency concurrencySetting
	scans       resourceSettings
	guard       guardSettings
	timeout     syncTimeoutSetting
	retention   retentionSetting
}

func (s *loadSettings) register(fs *flagSet) {
	s.concurrency.register(fs)
	s.scans.register(fs)
	s.guard.register(fs)
	s.timeout.register(fs)
	s.retention.register(fs)
}

// apply validates the settings into cfg and returns how many tenants to
// sync at once and the resources to sync.
func (s *loadSettings) apply(cfg *load.Config) (workers int, resources []scanagent.Resource, err error) {
	if err := s.guard.apply(cfg); err != nil {
		return 0, nil, err
	}
	if err := s.timeout.apply(cfg); err != nil {
		return 0, nil, err
	}
	if err := s.retention.parse(); err != nil {
		return 0, nil, err
	}
	if workers, err = s.concurrency.parse(); err != nil {
		return 0, nil, err
	}
	resources, err = s.scans.apply(cfg)
	return workers, resources, err
}

func runSync(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("sync", "",
		"Syncs every enabled tenant (or those of --tenant) into PostgreSQL once, now: for each,\n"+
			"fetches every scan agent, scan definition and the recent scan history (SYNC_RESOURCES),\n"+
			"loads each with history in a transaction of its own, and records each run in\n"+
			"defender.sync_runs; SYNC_CONCURRENCY tenants at once. One failing tenant or resource never\n"+
			"stops or rolls back another. Prints one line per tenant. Applies pending migrations first\n"+
			"unless --no-migrate.")
	var db databaseSettings
	var logs logSettings
	var def defenderSettings
	var loading loadSettings
	var selected tenantSelection
	var noMigrate, allowMassDeletion bool
	db.register(fs)
	def.register(fs)
	selected.register(fs)
	loading.register(fs)
	fs.Bool(&allowMassDeletion, "allow-mass-deletion", "",
		"apply this sync's deletions even when the guard would withhold them (the tenant really lost those agents)")
	fs.Bool(&noMigrate, "no-migrate", "", "do not apply pending database migrations first")
	logs.register(fs)
	if code, done := fs.parseFlagsOnly(args); done {
		return code
	}
	usageErr := fs.fail

	prog, logger, err := newProgressLogger(a.stderr, logs)
	if err != nil {
		return usageErr(err)
	}
	if err := db.check(a.getenv); err != nil {
		return usageErr(err)
	}
	loadCfg := load.Config{AllowMassDeletion: allowMassDeletion}
	workers, resources, err := loading.apply(&loadCfg)
	if err != nil {
		return usageErr(err)
	}
	ts, err := configuredTenants(def, selected)
	if err != nil {
		return usageErr(err)
	}

	// SIGINT or SIGTERM cancels the syncs: they are rolled back and
	// recorded failed, and no other tenant starts.
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()

	pool, err := openPool(ctx, db.URL, logger)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync sync: %s\n", errorText(err))
		return exitFailure
	}
	defer closePool(pool, logger)
	targets, err := tenantsync.NewTargets(ts, pool, tenantsync.Config{Load: loadCfg, Logger: logger, Progress: prog})
	if err != nil {
		if errors.Is(err, extract.ErrConfig) {
			return usageErr(err)
		}
		fmt.Fprintf(a.stderr, "agentsync sync: %s\n", errorText(err))
		return exitFailure
	}
	if !noMigrate {
		if _, err := migrations.Up(ctx, stdlib.OpenDBFromPool(pool), logger); err != nil {
			fmt.Fprintf(a.stderr, "agentsync sync: %s\n", errorText(err))
			return exitFailure
		}
	}

	outcomes := tenantsync.SyncTenants(ctx, ctx, targets, tenantsync.Round{Resources: resources, Concurrency: workers})
	loading.retention.apply(ctx, pool, logger)
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

// summaryLine is the one-line human summary of a successful sync.
func summaryLine(res load.Result) string {
	s := fmt.Sprintf("sync succeeded: run %d, %d agents (%d new, %d changed, %d unchanged), %d deleted",
		res.RunID, res.Seen, res.Inserted, res.Changed, res.Unchanged, res.Deleted)
	if res.DeletionsWithheld > 0 {
		s += fmt.Sprintf(", %d deletions withheld", res.DeletionsWithheld)
	}
	return s + fmt.Sprintf(", %d rejected, %d API requests, %s",
		res.Rejected, res.APIRequests, res.Duration.Round(time.Millisecond))
}
