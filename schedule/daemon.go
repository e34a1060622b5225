package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is the work the daemon runs on schedule. It should return soon after
// ctx is cancelled, having undone whatever it had not finished.
type Job func(ctx context.Context) error

// Config configures a Daemon. Spec and Job are required; New fills in the
// other fields' defaults.
type Config struct {
	// Spec is the cron schedule, as Parse accepts it.
	Spec string
	// Job is the work to run on schedule.
	Job Job
	// Logger receives the daemon's log lines; default: slog.Default().
	Logger *slog.Logger
	// RunOnStart runs the job once at start, before the first scheduled time.
	RunOnStart bool
	// Jitter, when positive, delays each run by a random duration in
	// [0, Jitter), so that many deployments on one schedule do not all call
	// the API at the same second.
	Jitter time.Duration
	// ShutdownGrace is how long a run in flight may go on after shutdown is
	// asked for, before its context is cancelled; default 30s.
	ShutdownGrace time.Duration
	// Now is the clock, for log lines; default time.Now.
	Now func() time.Time
	// After returns a channel that receives after d, for the jitter delay
	// and the grace period; default time.After. Tests inject their own.
	After func(d time.Duration) <-chan time.Time
	// RandDuration returns a random duration in [0, max); default uses
	// math/rand/v2.
	RandDuration func(max time.Duration) time.Duration
}

// DefaultShutdownGrace is the grace period when Config.ShutdownGrace is 0.
const DefaultShutdownGrace = 30 * time.Second

// Daemon runs a Job on a cron schedule until its context ends.
type Daemon struct {
	cfg      Config
	schedule cron.Schedule
}

// New validates cfg and returns a daemon. Every error it returns wraps
// ErrConfig.
func New(cfg Config) (*Daemon, error) {
	s, err := Parse(cfg.Spec)
	if err != nil {
		return nil, err
	}
	if cfg.Job == nil {
		return nil, fmt.Errorf("%w: no job", ErrConfig)
	}
	if cfg.Jitter < 0 {
		return nil, fmt.Errorf("%w: jitter %s is negative", ErrConfig, cfg.Jitter)
	}
	if cfg.ShutdownGrace < 0 {
		return nil, fmt.Errorf("%w: shutdown grace %s is negative", ErrConfig, cfg.ShutdownGrace)
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.RandDuration == nil {
		cfg.RandDuration = func(max time.Duration) time.Duration { return rand.N(max) }
	}
	return &Daemon{cfg: cfg, schedule: s}, nil
}

// Next returns the first scheduled time after t.
func (d *Daemon) Next(t time.Time) time.Time { return d.schedule.Next(t) }

// Run runs the job on schedule until ctx is done. Then it starts no new run,
// waits up to the grace period for the run in flight, cancels that run's
// context if it is still going, and waits for it to return. A run that
// panics is logged and the schedule goes on. Run returns nil after a clean
// shutdown, whether or not the run in flight had to be cancelled.
func (d *Daemon) Run(ctx context.Context) error {
	log := d.cfg.Logger
	// Runs get a context of their own: the shutdown signal (ctx) must not
	// abort a run at once, only after the grace period.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()

	adapter := cronLogger{log}
	// SkipIfStillRunning must wrap Recover, not the other way round: cron
	// v3.0.1's SkipIfStillRunning hands its token back only when the job
	// returns normally, so a panic passing through it would make it skip
	// every later run.
	job := cron.NewChain(cron.SkipIfStillRunning(adapter), cron.Recover(adapter)).
		Then(cron.FuncJob(func() { d.runOnce(ctx, runCtx) }))

	c := cron.New(cron.WithLocation(time.UTC), cron.WithLogger(adapter))
	c.Schedule(d.schedule, job)

	// Runs cron did not start itself (the one at start) are not in the wait
	// of cron's Stop, so they are counted here.
	var own sync.WaitGroup
	c.Start()
	log.Info("daemon started", "schedule", d.cfg.Spec, "next_run", d.schedule.Next(d.cfg.Now()).UTC(),
		"run_on_start", d.cfg.RunOnStart, "jitter", d.cfg.Jitter.String(), "shutdown_grace", d.cfg.ShutdownGrace.String())
	if d.cfg.RunOnStart {
		own.Add(1)
		go func() {
			defer own.Done()
			job.Run()
		}()
	}

	<-ctx.Done()
	log.Info("shutting down: no new syncs will start", "reason", context.Cause(ctx))
	cronDone := c.Stop()
	idle := make(chan struct{})
	go func() {
		<-cronDone.Done()
		own.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-d.cfg.After(d.cfg.ShutdownGrace):
		log.Warn("shutdown grace period over: cancelling the sync in flight", "grace", d.cfg.ShutdownGrace.String())
		cancelRuns()
		<-idle
	}
	log.Info("daemon stopped")
	return nil
}

// runOnce is one scheduled run: the jitter delay, then the job. stop is the
// daemon's shutdown signal, runCtx the context the job runs under.
func (d *Daemon) runOnce(stop, runCtx context.Context) {
	if stop.Err() != nil {
		return
	}
	if d.cfg.Jitter > 0 {
		delay := d.cfg.RandDuration(d.cfg.Jitter)
		d.cfg.Logger.Debug("jitter: delaying the sync", "delay", delay.String())
		select {
		case <-d.cfg.After(delay):
		case <-stop.Done():
			// Shutting down before the run began: nothing to finish.
			return
		}
	}
	if err := d.cfg.Job(runCtx); err != nil {
		if errors.Is(err, context.Canceled) && runCtx.Err() != nil {
			d.cfg.Logger.Warn("sync cancelled at shutdown", "error", err)
			return
		}
		d.cfg.Logger.Error("sync failed", "error", err)
	}
}

// cronLogger adapts slog to cron's logger. Cron's routine messages (start,
// wake, run, ...) go to debug; a skipped run is worth an info line.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		l.log.Info("sync skipped: the previous sync is still running")
		return
	}
	l.log.Debug("cron: "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	if msg == "panic" {
		l.log.Error("sync panicked; the daemon goes on", append([]any{"error", err}, kv...)...)
		return
	}
	l.log.Error("cron: "+msg, append([]any{"error", err}, kv...)...)
}
