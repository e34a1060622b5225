package load_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// BenchmarkVerifyYear builds the hourly history of one tenant of 40
// agents through the loader, each hour a run of every resource (agents,
// scan definitions, scan history with a session per definition every four
// hours), then times agentsync verify's recomputation of every chain. CI
// runs two weeks; AGENTSYNC_BENCH_VERIFY_DAYS=365 is the full size (a year:
// 26,280 runs; goal 30 s).
func BenchmarkVerifyYear(b *testing.B) {
	days := 14
	if n, err := strconv.Atoi(os.Getenv("AGENTSYNC_BENCH_VERIFY_DAYS")); err == nil && n > 0 {
		days = n
	}
	f := setup(b)
	fleet := newFleetModel(40, f.clock.Now())
	defs := definitions(5)
	h := &history{}
	build := time.Now()
	for hour := range days * 24 {
		now := f.clock.Advance(time.Hour)
		fleet.advance(now)
		f.sync(b, listOf(fleet.agents...))
		if hour%(24*7) == 3 { // an edit a week
			defs[hour%5].IntervalHours = ptr(1 + hour%12)
		}
		f.clock.Advance(time.Minute)
		f.syncDefinitions(b, definitionsOf(defs...))
		if hour%4 == 0 {
			for i, d := range defs {
				h.sessions = append([]scanagent.ScanSession{session(d, hour+i, now.Add(-30*time.Minute),
					[2]string{fmt.Sprintf("10.0.%d.1", i), "Success"}, [2]string{fmt.Sprintf("10.0.%d.2", i), "Failure"})}, h.sessions...)
			}
			if len(h.sessions) > 200 {
				h.sessions = h.sessions[:200]
			}
		}
		f.clock.Advance(time.Minute)
		f.syncHistory(b, h)
	}
	built := time.Since(build)
	var chains []load.ChainVerification
	b.ResetTimer()
	for range b.N {
		var err error
		if chains, err = load.Verify(b.Context(), f.pool, tenant); err != nil {
			b.Fatal(err)
		}
	}
	took := b.Elapsed() / time.Duration(b.N)
	runs := 0
	for _, c := range chains {
		if c.Mismatch != nil {
			b.Fatalf("%s: %+v", c.Resource, c.Mismatch)
		}
		runs += c.Runs
	}
	fmt.Printf("\nverify %d days of hourly runs of a tenant of 40 agents (%d runs, built in %s): %.2f s (goal ≤ 30 s for a year)\n",
		days, runs, built.Round(time.Second), took.Seconds())
	b.ReportMetric(took.Seconds(), "s/verify")
	b.ReportMetric(float64(runs), "runs")
}
