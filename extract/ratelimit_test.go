package extract

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock whose Sleep advances time at once, so the limiter's
// budget over hours is checked in milliseconds, without timing.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return nil
}

// maxInWindow is the most calls among times (sorted) that fall in any
// half-open window [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	most, lo := 0, 0
	for hi := range times {
		for !times[hi].Before(times[lo].Add(w)) {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

func TestBudgetNeverExceedsDefendersLimits(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newBudget(DefaultRateBudget, clk)
	// A burst of 4,000 calls, as fast as the budget allows: well over two
	// hours of Defender's budget.
	const n = 4000
	times := make([]time.Time, 0, n)
	for range n {
		if err := b.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		times = append(times, clk.Now())
	}
	perMinute, perHour := maxInWindow(times, time.Minute), maxInWindow(times, time.Hour)
	if perMinute > 100 || perHour > 1500 {
		t.Fatalf("busiest minute %d calls (limit 100), busiest hour %d (limit 1500)", perMinute, perHour)
	}
	// The limiter keeps one call of slack below each limit, and no more
	// than needed: it does not waste the budget either.
	if perMinute != 99 || perHour != 1499 {
		t.Errorf("busiest minute %d calls, busiest hour %d; want 99 and 1499", perMinute, perHour)
	}
	// After the bursts, the calls go at the refill rate: three quarters
	// of the hour's budget an hour.
	if took := times[n-1].Sub(times[0]); took > 3*time.Hour+15*time.Minute {
		t.Errorf("%d calls took %s of simulated time", n, took)
	}
	// A short sync is not held back: the first 25 calls go at once, the
	// 26th waits.
	if !times[24].Equal(times[0]) {
		t.Errorf("25th call waited %s", times[24].Sub(times[0]))
	}
	if times[25].Equal(times[0]) {
		t.Error("26th call did not wait")
	}
}

func TestBudgetSmallLimits(t *testing.T) {
	t.Parallel()
	for _, rb := range []RateBudget{{PerMinute: 1, PerHour: 0}, {PerMinute: 3, PerHour: 20}, {PerMinute: 0, PerHour: 7}} {
		clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		b := newBudget(rb, clk)
		var times []time.Time
		for range 100 {
			if err := b.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			times = append(times, clk.Now())
		}
		if rb.PerMinute > 0 && maxInWindow(times, time.Minute) > rb.PerMinute {
			t.Errorf("%+v: %d calls in a minute", rb, maxInWindow(times, time.Minute))
		}
		if rb.PerHour > 0 && maxInWindow(times, time.Hour) > rb.PerHour {
			t.Errorf("%+v: %d calls in an hour", rb, maxInWindow(times, time.Hour))
		}
	}
}

func TestBudgetWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	b := newBudget(RateBudget{PerMinute: 1}, realClock{})
	if err := b.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.wait(ctx); err != context.Canceled {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
}
