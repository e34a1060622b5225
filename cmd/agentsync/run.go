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
	"github.com/agentsync/agentsync/schedule"
	"github.com/agentsync/agentsync/tenantsync"
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
		"when to sync, a `cron-spec`: 5 fields (17 * * * *), @hourly, @daily, @every 30m...; in UTC unless it starts with CRON_TZ=<zone>")
	fs.String(&s.Jitter, "jitter", "SYNC_JITTER", "0s",
		"wait a random `duration` up to this before each sync, so that many deployments do not call the API at once")
	fs.String(&s.ShutdownGrace, "shutdown-grace", "SHUTDOWN_GRACE", "30s",
		"on SIGINT or SIGTERM, the `duration` the sync in flight may go on before it is cancelled and rolled back")
	fs.String(&s.MetricsAddr, "metrics-addr", "METRICS_ADDR", "",
		"listen address (`host:port`) for /metrics, /healthz and /readyz, such as :9090 (default: off)")
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
		"Syncs every enabled tenant on SYNC_SCHEDULE until SIGINT or SIGTERM: SYNC_CONCURRENCY\n"+
			"tenants at once, each after its own random delay within SYNC_JITTER. On a signal it starts\n"+
			"no new tenant, lets the syncs in flight finish within the grace period, else cancels them\n"+
			"(they are rolled back and recorded failed), and exits 0. Several replicas may run against\n"+
			"one database: they share the work, a tenant another replica is syncing is skipped.")
	var db databaseSettings
	var logs logSettings
	var def defenderSettings
	var ds daemonSettings
	var loading loadSettings
	db.register(fs)
	def.register(fs)
	ds.register(fs)
	// The guard's thresholds, but no --allow-mass-deletion: a daemon that
	// always allowed mass deletion would have no guard at all. After a real
	// mass loss, run "agentsync sync --allow-mass-deletion" once.
	loading.register(fs)
	logs.register(fs)
	if code, done := fs.parseFlagsOnly(args); done {
		return code
	}
	usageErr := fs.fail

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
	if err := db.check(a.getenv); err != nil {
		return usageErr(err)
	}
	var loadCfg load.Config
	workers, resources, err := loading.apply(&loadCfg)
	if err != nil {
		return usageErr(err)
	}

	// The daemon is built before anything touches the network, so that a
	// bad schedule is a configuration error even with the database down.
	// The jitter is each tenant's, not the run's.
	var job schedule.Job // set below, once the targets exist
	daemon, err := schedule.New(schedule.Config{
		Spec:          ds.Schedule,
		Job:           func(ctx context.Context) error { return job(ctx) },
		Logger:        logger,
		RunOnStart:    ds.RunOnStart,
		ShutdownGrace: grace,
	})
	if err != nil {
		return usageErr(err)
	}
	ts, err := configuredTenants(def, nil)
	if err != nil {
		return usageErr(err)
	}

	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()

	m := metrics.New()
	pool, err := openPool(ctx, db.URL, logger)
	if err != nil {
		logger.Error("database", "error", errorText(err))
		return exitFailure
	}
	defer closePool(pool, logger)
	targets, err := tenantsync.NewTargets(ts, pool, tenantsync.Config{Load: loadCfg, Logger: logger, Metrics: m, Progress: prog})
	if err != nil {
		if errors.Is(err, extract.ErrConfig) {
			return usageErr(err)
		}
		logger.Error("defender client", "error", errorText(err))
		return exitFailure
	}
	job = func(runCtx context.Context) error {
		// The signal (ctx) stops new tenants at once; runCtx, cancelled
		// after the grace period, stops those in flight.
		tenantsync.SyncTenants(ctx, runCtx, targets, tenantsync.Round{
			Resources: resources, Concurrency: workers, Jitter: jitter, Start: time.Now(),
		})
		loading.retention.apply(runCtx, pool, logger)
		return nil
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
			serverDone <- metrics.Serve(serverCtx, listener, m.Handler(tenantsync.Readiness(pool, targets)), logger)
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

	loading.retention.apply(ctx, pool, logger)

	// The metrics server outlives the daemon's shutdown, so that /healthz
	// answers while the syncs in flight finish.
	err = daemon.Run(ctx)
	stopServerAndWait()
	if err != nil {
		logger.Error("daemon", "error", err)
		return exitFailure
	}
	return exitOK
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
