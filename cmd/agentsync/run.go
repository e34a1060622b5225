package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/signal"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/metrics"
	"github.com/agentsync/agentsync/migrations"
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
	targets, err := newTargets(ts, pool, loadCfg, logger, m, prog)
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
		syncTenants(ctx, runCtx, targets, resources, workers, jitter, prog, time.Now())
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
			serverDone <- metrics.Serve(serverCtx, listener, m.Handler(readiness(pool, targets)), logger)
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

// readiness is the daemon's /readyz check: the database answers, and not
// every tenant's latest sync (by any replica) failed. A sync still marked
// running after the sync timeout is stuck, which counts as failed; one
// running within it may yet succeed, so the sync before it tells. A tenant
// without a sync yet does not count, so that a new deployment is ready
// before its first scheduled time. The tenants whose latest sync failed
// while others' succeeded are listed after "ready".
func readiness(pool *pgxpool.Pool, targets []target) metrics.ReadyFunc {
	return func(ctx context.Context) ([]string, error) {
		if err := pool.Ping(ctx); err != nil {
			return nil, errors.New("database unreachable")
		}
		var failing []string
		synced := 0
		for _, t := range targets {
			run, ok, err := t.loader.LastRun(ctx)
			switch {
			case err != nil:
				return nil, errors.New("cannot read the last syncs from the database")
			case !ok:
				continue
			case run.Stuck():
				failing = append(failing, fmt.Sprintf("tenant %s: the latest sync (run %d, started %s) has run longer than the sync timeout: stuck, or its process died",
					t.loader.TenantID(), run.RunID, run.StartedAt.UTC().Format(time.RFC3339)))
			case run.Status != "succeeded":
				failing = append(failing, fmt.Sprintf("tenant %s: the latest sync (run %d, finished %s) failed",
					t.loader.TenantID(), run.RunID, run.FinishedAt.UTC().Format(time.RFC3339)))
			}
			synced++
		}
		if synced > 0 && len(failing) == synced {
			return nil, errors.New(strings.Join(failing, "; "))
		}
		return failing, nil
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
