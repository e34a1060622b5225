package load_test

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/agentsync/agentsync/load"
)

// BenchmarkSmallTenantSyncs measures the fixed cost of a sync: tenants of
// 40 agents (Defender tenants have tens), each synced hourly one after the
// other, every lastSeen moving. It reports the median and 95th percentile
// of a sync's time, all of it spent in the database.
func BenchmarkSmallTenantSyncs(b *testing.B) {
	const tenants, rounds = 50, 4
	f := setup(b)
	loaders := make([]*load.Loader, tenants)
	fleets := make([]*fleetModel, tenants)
	for i := range loaders {
		l, err := load.New(f.pool, load.Config{TenantID: fmt.Sprintf("tenant-%03d.onmicrosoft.com", i),
			Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		loaders[i] = l
		fleets[i] = newFleetModel(40, f.clock.Now())
	}
	var times, digests []time.Duration
	b.ResetTimer()
	for range b.N {
		var last []int64 // the latest round's runs: the heads of their chains
		for round := range rounds {
			now := f.clock.Advance(time.Hour)
			last = last[:0]
			for i, l := range loaders {
				fleets[i].advance(now)
				start := time.Now()
				res, err := l.Sync(b.Context(), listOf(fleets[i].agents...))
				if err != nil {
					b.Fatal(err)
				}
				if round > 0 { // the first sync of a tenant inserts its agents
					times = append(times, time.Since(start))
				}
				last = append(last, res.RunID)
			}
		}
		// The share of the run digest in a sync: each head's digest stored
		// again, as the sync stored it, in a transaction rolled back.
		b.StopTimer()
		for _, run := range last {
			digests = append(digests, digestTime(b, f, run))
		}
		b.StartTimer()
	}
	slices.Sort(times)
	slices.Sort(digests)
	p50, p95 := times[len(times)/2], times[len(times)*95/100]
	fmt.Printf("\nsyncs of tenants of 40 agents: p50 %.1f ms, p95 %.1f ms (goal p50 ≤ 20 ms, p95 ≤ 60 ms)\n",
		float64(p50.Microseconds())/1000, float64(p95.Microseconds())/1000)
	d50 := digests[len(digests)/2]
	fmt.Printf("its run digest: p50 %.2f ms, %.1f%% of a sync's p50 (goal ≤ 10%%)\n",
		float64(d50.Microseconds())/1000, 100*float64(d50)/float64(p50))
	b.ReportMetric(float64(d50.Microseconds())/1000, "digest_p50_ms")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95_ms")
}

// digestTime stores the digest of a chain's head run again, in a
// transaction rolled back, and returns how long the loader's statement
// took.
func digestTime(b *testing.B, f *fixture, run int64) time.Duration {
	b.Helper()
	ctx := b.Context()
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM defender_storage.run_digest WHERE run_id = $1`, run); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := tx.Exec(ctx, `SELECT defender_storage.record_run_digest($1)`, run); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
