package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/signal"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/metrics"
	"github.com/agentsync/agentsync/migrations"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/schedule"
)

// daemonSettings are the settings of agentsync run.
type daemonSettings struct {
	Schedule      string
	Jitter        string
	ShutdownGrace string
	MetricsAddr   string
	RunOnStart    bool
	NoMigrate     bool
}

func (s *daemonSettings) register(fs *flagSet) {
	fs.String(&s.Schedule, "schedule", "SYNC_SCHEDULE", "@hourly",
		"when to sync: a cron spec of 5 fields, @hourly, @daily, @every 30m...; in UTC unless it starts with CRON_TZ=<zone>")
	fs.String(&s.Jitter, "jitter", "SYNC_JITTER", "0s",
		"wait a random duration up to this before each sync, so that many deployments do not call the API at once")
	fs.String(&s.ShutdownGrace, "shutdown-grace", "SHUTDOWN_GRACE", "30s",
		"on SIGINT or SIGTERM, how long the sync in flight may go on before it is cancelled and rolled back")
	fs.String(&s.MetricsAddr, "metrics-addr", "METRICS_ADDR", "",
		"listen address for /metrics, /healthz and /readyz, such as :9090 (default: off)")
	fs.Bool(&s.RunOnStart, "run-on-start", "SYNC_RUN_ON_START", "sync once at start, before the first scheduled time")
	fs.Bool(&s.NoMigrate, "no-migrate", "", "do not apply pending database migrations at start")
}

// durationSetting parses a duration setting, naming it in the error.
func durationSetting(name, value string) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q: want a duration such as 30s or 5m", name, value)
	}
	return d, nil
}

func runDaemon(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("run", "",
		"Syncs the tenant on SYNC_SCHEDULE until SIGINT or SIGTERM. On a signal it starts no new\n"+
			"sync, lets the one in flight finish within the grace period, else cancels it (it is\n"+
			"rolled back and recorded failed), and exits 0. Several replicas may run against one\n"+
			"database: only one syncs the tenant at a time, the others log a skip.")
	var db databaseSettings
	var logs logSettings
	var def defenderSettings
	var ds daemonSettings
	var guard guardSettings
	var timeout syncTimeoutSetting
	var scans resourceSettings
	db.register(fs)
	def.register(fs)
	ds.register(fs)
	timeout.register(fs)
	scans.register(fs)
	// The guard's thresholds, but no --allow-mass-deletion: a daemon that
	// always allowed mass deletion would have no guard at all. After a real
	// mass loss, run "agentsync sync --allow-mass-deletion" once.
	guard.register(fs)
	logs.register(fs)
	if code, done := fs.parseOrExit(args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "agentsync run: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	usageErr := func(err error) int {
		fmt.Fprintf(a.stderr, "agentsync run: %v\n", err)
		return exitUsage
	}

	prog, logger, err := newProgressLogger(a.stderr, logs)
	if err != nil {
		return usageErr(err)
	}
	jitter, err := durationSetting("SYNC_JITTER", ds.Jitter)
	if err != nil {
		return usageErr(err)
	}
	grace, err := durationSetting("SHUTDOWN_GRACE", ds.ShutdownGrace)
	if err != nil {
		return usageErr(err)
	}
	if grace == 0 {
		return usageErr(errors.New("SHUTDOWN_GRACE must be positive"))
	}
	if ds.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(ds.MetricsAddr); err != nil {
			return usageErr(fmt.Errorf("METRICS_ADDR %q: want host:port or :port", ds.MetricsAddr))
		}
	}
	if _, err := pgxpool.ParseConfig(db.URL); err != nil {
		return usageErr(fmt.Errorf("DATABASE_URL: %w", redactConnErr(err)))
	}
	loadCfg := load.Config{TenantID: def.TenantID, Logger: logger}
	if err := guard.apply(&loadCfg); err != nil {
		return usageErr(err)
	}
	if err := timeout.apply(&loadCfg); err != nil {
		return usageErr(err)
	}
	resources, err := scans.apply(&loadCfg)
	if err != nil {
		return usageErr(err)
	}

	// The daemon is built before anything touches the network, so that a
	// bad schedule is a configuration error even with the database down.
	var job schedule.Job // set below, once the loader exists
	daemon, err := schedule.New(schedule.Config{
		Spec:          ds.Schedule,
		Job:           func(ctx context.Context) error { return job(ctx) },
		Logger:        logger,
		RunOnStart:    ds.RunOnStart,
		Jitter:        jitter,
		ShutdownGrace: grace,
	})
	if err != nil {
		return usageErr(err)
	}
	m := metrics.New()
	lister, err := newDefenderLister(def, logger, observers{m, prog})
	if err != nil {
		if errors.Is(err, extract.ErrConfig) {
			return usageErr(err)
		}
		logger.Error("defender client", "error", err)
		return exitFailure
	}

	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()

	pool, err := openPool(ctx, db.URL)
	if err != nil {
		logger.Error("database", "error", errorText(err))
		return exitFailure
	}
	defer closePool(pool, logger)
	loader, err := load.New(pool, loadCfg)
	if err != nil {
		return usageErr(err)
	}
	job = func(ctx context.Context) error {
		return syncAndRecord(ctx, logger, loader, resources, sources(lister), m, prog)
	}

	serverDone := make(chan error, 1)
	serverCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	if ds.MetricsAddr != "" {
		listener, err := net.Listen("tcp", ds.MetricsAddr)
		if err != nil {
			logger.Error("metrics listener", "addr", ds.MetricsAddr, "error", err)
			return exitFailure
		}
		logger.Info("serving /metrics, /healthz and /readyz", "addr", listener.Addr().String())
		go func() {
			serverDone <- metrics.Serve(serverCtx, listener, m.Handler(readiness(pool, loader)), logger)
		}()
	} else {
		close(serverDone)
	}
	stopServerAndWait := func() {
		stopServer()
		if err := <-serverDone; err != nil {
			logger.Warn("metrics server", "error", err)
		}
	}

	// Migrations run with the metrics server up: /healthz answers, and
	// /readyz says not ready until the schema is there.
	if !ds.NoMigrate {
		if _, err := migrations.Up(ctx, stdlib.OpenDBFromPool(pool), logger); err != nil {
			logger.Error("migrate", "error", errorText(err))
			stopServerAndWait()
			return exitFailure
		}
	}

	// The metrics server outlives the daemon's shutdown, so that /healthz
	// answers while the sync in flight finishes.
	err = daemon.Run(ctx)
	stopServerAndWait()
	if err != nil {
		logger.Error("daemon", "error", err)
		return exitFailure
	}
	return exitOK
}

// syncAndRecord runs one sync of the resources, logs it and records the
// agents' in the metrics. Another process syncing the tenant is not a
// failure: the run is skipped. It returns nil after logging, so that the
// daemon does not log a failure a second time.
func syncAndRecord(ctx context.Context, logger *slog.Logger, loader *load.Loader, resources []scanagent.Resource, src load.Sources, m *metrics.Metrics, prog *progress) error {
	syncResourcesAndLog(ctx, logger, loader, resources, src, prog, func(o load.Outcome) {
		res, err := o.Result, o.Err
		switch {
		case res.Resource != scanagent.Agents:
		case errors.Is(err, load.ErrSyncInProgress):
			m.SyncSkipped()
		case err != nil:
			m.SyncFinished(metrics.Outcome{Status: metrics.StatusFailed, Duration: res.Duration})
		default:
			m.SyncFinished(metrics.Outcome{
				Status: metrics.StatusSucceeded, Duration: res.Duration, FinishedAt: time.Now(),
				Seen: res.Seen, Inserted: res.Inserted, Changed: res.Changed, Unchanged: res.Unchanged,
				Deleted: res.Deleted, Withheld: res.DeletionsWithheld, Rejected: res.Rejected,
			})
		}
	})
	return nil
}

// poolCloseWait bounds the wait for the pool's connections to close at exit.
const poolCloseWait = 3 * time.Second

// closePool closes pool but waits for it only briefly. A connection whose
// query was cancelled in the middle of a COPY can take pgx up to 15 seconds
// to close cleanly, which would eat the orchestrator's grace period; the
// process exiting closes the socket anyway, and PostgreSQL rolls back
// whatever that connection still held.
func closePool(pool *pgxpool.Pool, logger *slog.Logger) {
	closed := make(chan struct{})
	go func() {
		pool.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(poolCloseWait):
		logger.Warn("database connections still closing; exiting without waiting for them")
	}
}

// readiness is the daemon's /readyz check: the database answers, and the
// tenant's latest sync (by any replica) did not fail. A sync still marked
// running after the sync timeout is stuck, which fails the check; one
// running within it may yet succeed, so the sync before it tells. Before
// the first sync the daemon is ready, so that a new deployment is not
// held back until its first scheduled time.
func readiness(pool *pgxpool.Pool, loader *load.Loader) metrics.ReadyFunc {
	return func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return errors.New("database unreachable")
		}
		run, ok, err := loader.LastRun(ctx)
		switch {
		case err != nil:
			return errors.New("cannot read the last sync from the database")
		case ok && run.Stuck():
			return fmt.Errorf("the last sync (run %d, started %s) has run longer than the sync timeout: stuck, or its process died",
				run.RunID, run.StartedAt.UTC().Format(time.RFC3339))
		case ok && run.Status != "succeeded":
			return fmt.Errorf("the last sync (run %d, finished %s) failed", run.RunID, run.FinishedAt.UTC().Format(time.RFC3339))
		}
		return nil
	}
}

// observers hands each extract event to several observers: the metrics and
// the terminal progress.
type observers []extract.Observer

func (o observers) APIRequest(status int, d time.Duration) {
	for _, x := range o {
		x.APIRequest(status, d)
	}
}

func (o observers) Retry(reason string) {
	for _, x := range o {
		x.Retry(reason)
	}
}

func (o observers) TokenFetch(err error) {
	for _, x := range o {
		x.TokenFetch(err)
	}
}

func (o observers) Page(page, agentsSoFar int) {
	for _, x := range o {
		x.Page(page, agentsSoFar)
	}
}
