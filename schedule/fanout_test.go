package schedule

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFanoutBoundsConcurrencyAndReturnsEachError(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int32
	jobs := make([]Job, 12)
	for i := range jobs {
		jobs[i] = func(ctx context.Context) error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
			running.Add(-1)
			switch i {
			case 3:
				return errors.New("tenant 3 failed")
			case 7:
				panic("tenant 7 panicked")
			}
			return nil
		}
	}
	errs := Fanout(context.Background(), context.Background(), FanoutConfig{Concurrency: 4}, jobs)
	if p := peak.Load(); p != 4 {
		t.Errorf("peak concurrency %d, want 4", p)
	}
	for i, err := range errs {
		switch i {
		case 3:
			if err == nil || err.Error() != "tenant 3 failed" {
				t.Errorf("job 3: %v", err)
			}
		case 7:
			if err == nil || !strings.Contains(err.Error(), "tenant 7 panicked") {
				t.Errorf("job 7: %v", err)
			}
		default:
			if err != nil {
				t.Errorf("job %d: %v", i, err)
			}
		}
	}
}

// TestFanoutStartsEachJobAfterItsJitter: jobs start in the order of their
// own random delays, each once its delay has passed.
func TestFanoutStartsEachJobAfterItsJitter(t *testing.T) {
	t.Parallel()
	delays := []time.Duration{30 * time.Second, 10 * time.Second, 20 * time.Second}
	var mu sync.Mutex
	var waits []time.Duration
	var order []int
	n := 0
	cfg := FanoutConfig{
		Concurrency: 1,
		Jitter:      time.Minute,
		RandDuration: func(max time.Duration) time.Duration {
			if max != time.Minute {
				t.Errorf("jitter %s", max)
			}
			d := delays[n]
			n++
			return d
		},
		After: func(d time.Duration) <-chan time.Time {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			c := make(chan time.Time, 1)
			c <- time.Time{}
			return c
		},
	}
	jobs := make([]Job, 3)
	for i := range jobs {
		jobs[i] = func(context.Context) error {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			return nil
		}
	}
	Fanout(context.Background(), context.Background(), cfg, jobs)
	if got := order; len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Errorf("start order %v, want [1 2 0] (shortest delay first)", got)
	}
	if len(waits) != 3 || waits[0] != 10*time.Second || waits[1] != 10*time.Second || waits[2] != 10*time.Second {
		t.Errorf("waits %v, want 10s each (the delays 10s, 20s, 30s from the start)", waits)
	}
}

// TestFanoutStartsNothingAfterStop: once stop is done, the jobs running
// finish and no other starts; cancelling ctx is what stops a running job.
func TestFanoutStartsNothingAfterStop(t *testing.T) {
	t.Parallel()
	stop, stopNow := context.WithCancel(context.Background())
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	jobs := make([]Job, 5)
	for i := range jobs {
		jobs[i] = func(ctx context.Context) error {
			started <- struct{}{}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	done := make(chan []error)
	go func() { done <- Fanout(stop, context.Background(), FanoutConfig{Concurrency: 2}, jobs) }()
	<-started
	<-started
	stopNow()
	time.Sleep(20 * time.Millisecond) // a third job would start now if stop were ignored
	close(release)
	errs := <-done
	if len(started) != 0 {
		t.Fatalf("%d more jobs started after stop", len(started))
	}
	ran, notStarted := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ran++
		case errors.Is(err, ErrNotStarted):
			notStarted++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ran != 2 || notStarted != 3 {
		t.Errorf("%d ran, %d not started; want 2 and 3", ran, notStarted)
	}
}
