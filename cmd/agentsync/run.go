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

// runCommand is agentsync run, the daemon.
type runCommand struct {
	databaseSettings
	defenderSettings
	Schedule      string `name:"schedule" envvar:"SYNC_SCHEDULE" placeholder:"cron-spec" default:"@hourly" help:"when to sync, a cron-spec: 5 fields (17 * * * *), @hourly, @daily, @every 30m...; in UTC unless it starts with CRON_TZ=<zone>"`
	Jitter        string `name:"jitter" envvar:"SYNC_JITTER" placeholder:"duration" default:"0s" help:"wait a random duration up to this before each sync, so that many deployments do not call the API at once"`
	ShutdownGrace string `name:"shutdown-grace" envvar:"SHUTDOWN_GRACE" placeholder:"duration" default:"30s" help:"on SIGINT or SIGTERM, the duration the sync in flight may go on before it is cancelled and rolled back"`
	MetricsAddr   string `name:"metrics-addr" envvar:"METRICS_ADDR" placeholder:"host:port" help:"listen address (host:port) for /metrics, /healthz and /readyz, such as :9090 (default: off)"`
	RunOnStart    bool   `name:"run-on-start" envvar:"SYNC_RUN_ON_START" help:"sync once at start, before the first scheduled time"`
	NoMigrate     bool   `name:"no-migrate" help:"do not apply pending database migrations at start"`
	// The guard's thresholds, but no --allow-mass-deletion: a daemon that
	// always allowed mass deletion would have no guard at all. After a real
	// mass loss, run "agentsync sync --allow-mass-deletion" once.
	loadSettings
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*runCommand) Help() string {
	return "Syncs every enabled tenant on SYNC_SCHEDULE until SIGINT or SIGTERM: SYNC_CONCURRENCY\n" +
		"tenants at once, each after its own random delay within SYNC_JITTER. On a signal it starts\n" +
		"no new tenant, lets the syncs in flight finish within the grace period, else cancels them\n" +
		"(they are rolled back and recorded failed), and exits 0. Several replicas may run against\n" +
		"one database: they share the work, a tenant another replica is syncing is skipped."
}

func (*runCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "stopped by SIGINT or SIGTERM", exitFailure: "could not start (database, migrations, listener)", exitUsage: usageExit}
}

func (c *runCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	usageErr := a.fail
	prog, logger, err := newProgressLogger(a.stderr, c.logSettings)
	if err != nil {
		return usageErr(err)
	}
	jitter, err := durationSetting("SYNC_JITTER", c.Jitter)
	if err != nil {
		return usageErr(err)
	}
	grace, err := durationSetting("SHUTDOWN_GRACE", c.ShutdownGrace)
	if err != nil {
		return usageErr(err)
	}
	if grace == 0 {
		return usageErr(errors.New("SHUTDOWN_GRACE must be positive"))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return usageErr(fmt.Errorf("METRICS_ADDR %q: want host:port or :port", c.MetricsAddr))
		}
	}
	if err := c.databaseSettings.check(a.getenv); err != nil {
		return usageErr(err)
	}
	var loadCfg load.Config
	workers, resources, err := c.loadSettings.apply(&loadCfg)
	if err != nil {
		return usageErr(err)
	}

	// The daemon is built before anything touches the network, so that a
	// bad schedule is a configuration error even with the database down.
	// The jitter is each tenant's, not the run's.
	var job schedule.Job // set below, once the targets exist
	daemon, err := schedule.New(schedule.Config{
		Spec:          c.Schedule,
		Job:           func(ctx context.Context) error { return job(ctx) },
		Logger:        logger,
		RunOnStart:    c.RunOnStart,
		ShutdownGrace: grace,
	})
	if err != nil {
		return usageErr(scheduleSettingError(err))
	}
	ts, err := configuredTenants(c.defenderSettings, tenantSelection{})
	if err != nil {
		return usageErr(err)
	}

	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()

	m := metrics.New()
	pool, err := openPool(ctx, c.URL, logger)
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
		c.Retention.apply(runCtx, pool, logger)
		return nil
	}

	serverDone := make(chan error, 1)
	serverCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	if c.MetricsAddr != "" {
		listener, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			logger.Error("metrics listener", "addr", c.MetricsAddr, "error", err)
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
	if !c.NoMigrate {
		if _, err := migrations.Up(ctx, stdlib.OpenDBFromPool(pool), logger); err != nil {
			logger.Error("migrate", "error", errorText(err))
			stopServerAndWait()
			return exitFailure
		}
	}

	c.Retention.apply(ctx, pool, logger)

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

// scheduleSettingError names SYNC_SCHEDULE in the error of a schedule
// refused, with the forms it takes; other errors come back as they are.
func scheduleSettingError(err error) error {
	if se, ok := errors.AsType[*schedule.SpecError](err); ok {
		return fmt.Errorf("SYNC_SCHEDULE %q: %s; want %s", se.Spec, se.Reason, schedule.Forms)
	}
	return err
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
