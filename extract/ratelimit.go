package extract

import (
	"context"
	"errors"
	"time"

	"golang.org/x/time/rate"
)

// RateBudget is how many API calls the client may make per minute and per
// hour. Defender allows 100 a minute and 1,500 an hour per application and
// tenant; a limit of 0 or less means no limit, for simulated tenants and
// tests only.
type RateBudget struct {
	PerMinute int
	PerHour   int
}

// DefaultRateBudget is Defender's documented budget.
var DefaultRateBudget = RateBudget{PerMinute: 100, PerHour: 1500}

// budget spaces API calls so that neither limit is ever exceeded. Every
// call, retries included, waits on both limiters at once.
type budget struct {
	clock    clock
	limiters [2]*rate.Limiter
}

func newBudget(b RateBudget, clk clock) *budget {
	return &budget{clock: clk, limiters: [2]*rate.Limiter{
		windowLimiter(b.PerMinute, time.Minute),
		windowLimiter(b.PerHour, time.Hour),
	}}
}

// windowLimiter returns a token bucket that lets through at most n-1 calls
// in any window of length window.
//
// Why n-1: a bucket of burst b refilled at r lets through at most
// b + r·window - 1 calls in any half-open window [t, t+window). With
// b + r·window = n that is n-1, which leaves one call of slack for the
// moment between the limiter's decision and the request reaching the
// server. The burst is a quarter of the budget: a tenant's whole first
// sync (the agents, the scan definitions and the first reading of their
// history take a couple of dozen calls) runs at once, while a long
// listing settles to the refill rate, three quarters of the budget.
func windowLimiter(n int, window time.Duration) *rate.Limiter {
	if n <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	burst := max(1, n/4)
	refill := max(1, n-burst)
	return rate.NewLimiter(rate.Limit(float64(refill)/window.Seconds()), burst)
}

// wait blocks until one more API call fits both limits, then counts it. It
// reserves on both limiters at the same instant and, when either would
// make the call wait, gives both reservations back and sleeps: so a call is
// counted at the time it is actually made, never earlier.
func (b *budget) wait(ctx context.Context) error {
	for {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		now := b.clock.Now()
		var reservations [2]*rate.Reservation
		var delay time.Duration
		for i, l := range b.limiters {
			r := l.ReserveN(now, 1)
			if !r.OK() { // unreachable: every burst is at least 1
				return errors.New("rate limiter refused a single call")
			}
			reservations[i] = r
			delay = max(delay, r.DelayFrom(now))
		}
		if delay == 0 {
			return nil
		}
		for _, r := range reservations {
			r.CancelAt(now)
		}
		if err := b.clock.Sleep(ctx, delay); err != nil {
			return err
		}
	}
}
