package schedule

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// ErrNotStarted is the error of a job that Fanout never started: shutdown
// came before its turn.
var ErrNotStarted = errors.New("not started: shutting down")

// FanoutConfig configures Fanout.
type FanoutConfig struct {
	// Concurrency is the most jobs running at once; default 1.
	Concurrency int
	// Jitter, when positive, delays each job by its own random duration in
	// [0, Jitter), so that many tenants synced on one schedule do not all
	// call the API at the same second.
	Jitter time.Duration
	// After and RandDuration replace time.After and the random delay, for
	// tests.
	After        func(d time.Duration) <-chan time.Time
	RandDuration func(max time.Duration) time.Duration
}

// Fanout runs jobs, Concurrency at a time, each once its jitter delay has
// passed and a slot is free, the shortest delays first. Once stop is done
// it starts no job; the jobs already running go on under ctx, which is
// what cancels them. It returns each job's error, in the order of jobs;
// a job it never started has ErrNotStarted, one that panicked an error
// saying so.
func Fanout(stop, ctx context.Context, cfg FanoutConfig, jobs []Job) []error {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.RandDuration == nil {
		cfg.RandDuration = func(max time.Duration) time.Duration { return rand.N(max) }
	}
	type turn struct {
		job   int
		delay time.Duration
	}
	turns := make([]turn, len(jobs))
	for i := range jobs {
		turns[i] = turn{job: i}
		if cfg.Jitter > 0 {
			turns[i].delay = cfg.RandDuration(cfg.Jitter)
		}
	}
	slices.SortStableFunc(turns, func(a, b turn) int { return int(a.delay - b.delay) })

	errs := make([]error, len(jobs))
	for i := range errs {
		errs[i] = ErrNotStarted
	}
	slots := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	var waited time.Duration
	for _, t := range turns {
		if t.delay > waited {
			select {
			case <-cfg.After(t.delay - waited):
				waited = t.delay
			case <-stop.Done():
			}
		}
		if stop.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-stop.Done():
		}
		if stop.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer func() {
				// One job's panic must not take the others down with the
				// process.
				if p := recover(); p != nil {
					errs[t.job] = fmt.Errorf("panic: %v", p)
				}
			}()
			errs[t.job] = jobs[t.job](ctx)
		}()
	}
	wg.Wait()
	return errs
}
