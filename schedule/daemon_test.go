package schedule

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after a generous
// timeout; it never asserts how long anything took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// runDaemon starts d.Run in the background and returns a stop function
// that cancels it and waits for Run's result.
func runDaemon(t *testing.T, cfg Config) (stop func() error, done <-chan error) {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- d.Run(ctx) }()
	t.Cleanup(cancel)
	return func() error {
		cancel()
		select {
		case err := <-ch:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}, ch
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	job := func(context.Context) error { return nil }
	for name, cfg := range map[string]Config{
		"bad spec":        {Spec: "TZ=Bad/Zone * * * * *", Job: job},
		"panicking spec":  {Spec: "CRON_TZ=UTC", Job: job},
		"no job":          {Spec: "@hourly"},
		"negative jitter": {Spec: "@hourly", Job: job, Jitter: -time.Second},
		"negative grace":  {Spec: "@hourly", Job: job, ShutdownGrace: -time.Second},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New error = %v, want ErrConfig", name, err)
		}
	}
}

func TestRunsOnScheduleUntilCancelled(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	logger, _ := testLogger()
	stop, _ := runDaemon(t, Config{Spec: "@every 1s", Logger: logger, Job: func(context.Context) error {
		runs.Add(1)
		return nil
	}})
	waitFor(t, "two scheduled runs", func() bool { return runs.Load() >= 2 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	after := runs.Load()
	time.Sleep(1500 * time.Millisecond)
	if runs.Load() != after {
		t.Fatalf("job ran after Run returned")
	}
}

func TestRunOnStart(t *testing.T) {
	t.Parallel()
	ran := make(chan struct{}, 1)
	logger, _ := testLogger()
	stop, _ := runDaemon(t, Config{Spec: "@yearly", RunOnStart: true, Logger: logger, Job: func(context.Context) error {
		ran <- struct{}{}
		return nil
	}})
	select {
	case <-ran:
	case <-time.After(20 * time.Second):
		t.Fatal("job did not run at start")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestPanickingJobIsLoggedAndScheduleGoesOn(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	logger, logs := testLogger()
	stop, _ := runDaemon(t, Config{Spec: "@every 1s", RunOnStart: true, Logger: logger, Job: func(context.Context) error {
		if runs.Add(1) <= 2 {
			panic("boom")
		}
		return nil
	}})
	// Runs after two panics prove that neither Recover nor
	// SkipIfStillRunning lost the schedule.
	waitFor(t, "runs after the panics", func() bool { return runs.Load() >= 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "sync panicked") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

func TestOverlappingRunIsSkipped(t *testing.T) {
	t.Parallel()
	var running, maxRunning, runs atomic.Int32
	release := make(chan struct{})
	logger, logs := testLogger()
	stop, _ := runDaemon(t, Config{Spec: "@every 1s", RunOnStart: true, Logger: logger, Job: func(ctx context.Context) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		runs.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}})
	waitFor(t, "a skipped run", func() bool { return strings.Contains(logs.String(), "sync skipped") })
	close(release)
	waitFor(t, "a run after the slow one", func() bool { return runs.Load() >= 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if m := maxRunning.Load(); m != 1 {
		t.Fatalf("%d runs at once, want 1", m)
	}
}

// fakeAfter hands out timer channels the test fires by hand.
type fakeAfter struct {
	mu     sync.Mutex
	timers map[time.Duration]chan time.Time
}

func (f *fakeAfter) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timers == nil {
		f.timers = map[time.Duration]chan time.Time{}
	}
	if _, ok := f.timers[d]; !ok {
		f.timers[d] = make(chan time.Time, 1)
	}
	return f.timers[d]
}

func (f *fakeAfter) asked(d time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.timers[d]
	return ok
}

func (f *fakeAfter) fire(d time.Duration) {
	f.After(d) // make sure it exists
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timers[d] <- time.Now()
}

func TestShutdownLetsTheRunInFlightFinishWithinGrace(t *testing.T) {
	t.Parallel()
	const grace = time.Hour // never fired by the test
	timers := &fakeAfter{}
	started := make(chan struct{})
	release := make(chan struct{})
	var cancelled atomic.Bool
	logger, _ := testLogger()
	d, err := New(Config{Spec: "@yearly", RunOnStart: true, ShutdownGrace: grace, After: timers.After, Logger: logger, Job: func(ctx context.Context) error {
		close(started)
		<-release
		cancelled.Store(ctx.Err() != nil)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-started
	cancel()
	waitFor(t, "the grace timer", func() bool { return timers.asked(grace) })
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while the sync was in flight", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if cancelled.Load() {
		t.Fatal("the run's context was cancelled although it finished within the grace period")
	}
}

func TestShutdownCancelsTheRunAfterGrace(t *testing.T) {
	t.Parallel()
	const grace = 42 * time.Second
	timers := &fakeAfter{}
	started := make(chan struct{})
	logger, logs := testLogger()
	var sawCancel atomic.Bool
	d, err := New(Config{Spec: "@yearly", RunOnStart: true, ShutdownGrace: grace, After: timers.After, Logger: logger, Job: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		sawCancel.Store(true)
		return ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-started
	cancel()
	waitFor(t, "the grace timer", func() bool { return timers.asked(grace) })
	timers.fire(grace)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if !sawCancel.Load() {
		t.Fatal("the run's context was never cancelled")
	}
	if !strings.Contains(logs.String(), "grace period over") {
		t.Errorf("no log of the cancellation:\n%s", logs)
	}
}

func TestJitterDelaysTheRunAndShutdownAbortsTheDelay(t *testing.T) {
	t.Parallel()
	const jitter, delay = 10 * time.Minute, 7 * time.Minute
	timers := &fakeAfter{}
	var runs atomic.Int32
	logger, _ := testLogger()
	d, err := New(Config{
		Spec: "@yearly", RunOnStart: true, Jitter: jitter, After: timers.After, Logger: logger,
		RandDuration: func(max time.Duration) time.Duration {
			if max != jitter {
				t.Errorf("RandDuration(%s), want %s", max, jitter)
			}
			return delay
		},
		Job: func(context.Context) error { runs.Add(1); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "the jitter delay", func() bool { return timers.asked(delay) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 0 {
		t.Fatal("the job ran although shutdown came during its jitter delay")
	}

	// And when the delay passes, the job runs.
	runs.Store(0)
	timers = &fakeAfter{}
	d.cfg.After = timers.After
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "the jitter delay", func() bool { return timers.asked(delay) })
	timers.fire(delay)
	waitFor(t, "the delayed run", func() bool { return runs.Load() == 1 })
	cancel()
	<-done
}

func TestFailingJobIsLogged(t *testing.T) {
	t.Parallel()
	logger, logs := testLogger()
	stop, _ := runDaemon(t, Config{Spec: "@yearly", RunOnStart: true, Logger: logger, Job: func(context.Context) error {
		return errors.New("tenant unreachable")
	}})
	waitFor(t, "the failure log", func() bool { return strings.Contains(logs.String(), "tenant unreachable") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
