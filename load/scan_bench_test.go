package load_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// stepTimes is a slog handler that sums the durations of the "sync step"
// lines, by step.
type stepTimes struct {
	totals map[string]time.Duration
}

func (h *stepTimes) Enabled(context.Context, slog.Level) bool { return true }
func (h *stepTimes) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *stepTimes) WithGroup(string) slog.Handler            { return h }
func (h *stepTimes) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "sync step" {
		return nil
	}
	var what string
	var d time.Duration
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "step":
			what = a.Value.String()
		case "duration":
			d, _ = time.ParseDuration(a.Value.String())
		}
		return true
	})
	h.totals[what] += d
	return nil
}

// sqlTimes is a pgx tracer that sums the time of each statement, batch
// and COPY, by the first line of its text (the comment naming it).
type sqlTimes struct {
	mu     sync.Mutex
	totals map[string]time.Duration
}

type sqlStart struct {
	what  string
	start time.Time
}

type sqlKey struct{}

func (t *sqlTimes) name(sql string) string {
	line, _, _ := strings.Cut(sql, "\n")
	return line
}

func (t *sqlTimes) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, sqlKey{}, sqlStart{t.name(d.SQL), time.Now()})
}

func (t *sqlTimes) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if s, ok := ctx.Value(sqlKey{}).(sqlStart); ok {
		t.mu.Lock()
		t.totals[s.what] += time.Since(s.start)
		t.mu.Unlock()
	}
}

func (t *sqlTimes) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, sqlKey{}, sqlStart{"batch " + t.name(d.Batch.QueuedQueries[len(d.Batch.QueuedQueries)-1].SQL), time.Now()})
}
func (t *sqlTimes) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (t *sqlTimes) TraceBatchEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchEndData) {
	t.TraceQueryEnd(ctx, c, pgx.TraceQueryEndData{})
}
func (t *sqlTimes) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return context.WithValue(ctx, sqlKey{}, sqlStart{"COPY " + d.TableName.Sanitize(), time.Now()})
}
func (t *sqlTimes) TraceCopyFromEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceCopyFromEndData) {
	t.TraceQueryEnd(ctx, c, pgx.TraceQueryEndData{})
}

// BenchmarkSmallTenantScanSyncs measures the fixed cost of the hourly
// syncs of the scan definitions and history of small tenants: 7
// definitions each, run every 4 hours at staggered times, with a week of
// history stored, so that an hourly sync lists a new session or two (and
// its definition's latest scan) among a week of settled ones. It reports
// the median and 95th percentile of a tenant's definitions and history
// syncs together under the tenant's lease (taken and given back
// included), all of it spent in the database (the listings are in
// memory), and the median of their first syncs; with -v, the time of the sync steps the loader logs, and with
// AGENTSYNC_BENCH_STATEMENTS=1 the time of each statement, batch and COPY
// as the client sees it (commits and run bookkeeping included).
func BenchmarkSmallTenantScanSyncs(b *testing.B) {
	const tenants, definitionsPerTenant, rounds = 40, 7, 6
	f := setup(b)
	steps := &stepTimes{totals: map[string]time.Duration{}}
	traceStatements := os.Getenv("AGENTSYNC_BENCH_STATEMENTS") == "1"
	tr := &sqlTimes{totals: map[string]time.Duration{}}
	if traceStatements {
		cfg, err := pgxpool.ParseConfig(f.url)
		if err != nil {
			b.Fatal(err)
		}
		cfg.ConnConfig.Tracer = tr
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		f.pool = pool
	}
	type tenant struct {
		loader *load.Loader
		defs   []scanagent.ScanDefinition
		hist   *history
	}
	ts := make([]tenant, tenants)
	// sessionsUntil adds the sessions of t's definitions that ran up to
	// now, and sets each definition's latest scan.
	next := make([]int, tenants*definitionsPerTenant)
	base := f.clock.Now().Add(-8 * 24 * time.Hour)
	sessionsUntil := func(i int, now time.Time) {
		t := &ts[i]
		for j := range t.defs {
			d := &t.defs[j]
			k := &next[i*definitionsPerTenant+j]
			start := base.Add(time.Duration(j*37+i) * time.Minute)
			for {
				at := start.Add(time.Duration(*k) * 4 * time.Hour)
				if at.After(now) {
					break
				}
				s := session(*d, *k, at, [2]string{fmt.Sprintf("10.%d.%d.1", i, j), "Success"}, [2]string{fmt.Sprintf("10.%d.%d.2", i, j), "Fail"})
				s.SessionID = fmt.Sprintf("t%03d-%s", i, s.SessionID)
				t.hist.sessions = append([]scanagent.ScanSession{s}, t.hist.sessions...)
				d.LatestScan = &scanagent.LatestScan{Status: s.Status, ExecutedAt: at}
				*k++
			}
		}
	}
	for i := range ts {
		id := fmt.Sprintf("tenant-%03d.onmicrosoft.com", i)
		l, err := load.New(f.pool, load.Config{TenantID: id, Now: f.clock.Now, Logger: slog.New(steps)})
		if err != nil {
			b.Fatal(err)
		}
		defs := make([]scanagent.ScanDefinition, definitionsPerTenant)
		for j := range defs {
			defs[j] = definition(j)
			defs[j].ID = fmt.Sprintf("d%07d-0000-4000-8000-%012d", i, j)
		}
		ts[i] = tenant{loader: l, defs: defs, hist: &history{}}
	}
	var times, firstTimes []time.Duration
	b.ResetTimer()
	for range b.N {
		for round := range rounds {
			now := f.clock.Advance(time.Hour)
			if round == 1 {
				clear(steps.totals)
				tr.mu.Lock()
				clear(tr.totals)
				tr.mu.Unlock()
			}
			for i := range ts {
				t := &ts[i]
				sessionsUntil(i, now)
				// As a tenant's sync runs them: one after the other under
				// the tenant's lease, taken once.
				start := time.Now()
				h, ctx, err := t.loader.Hold(b.Context(), time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.SyncDefinitions(ctx, definitionsOf(t.defs...)); err != nil {
					b.Fatal(err)
				}
				if _, err := h.SyncHistory(ctx, t.hist); err != nil {
					b.Fatal(err)
				}
				h.Release()
				if round > 0 { // the first sync of a tenant stores its week of history
					times = append(times, time.Since(start))
				} else {
					firstTimes = append(firstTimes, time.Since(start))
				}
			}
		}
	}
	b.StopTimer()
	slices.Sort(times)
	p50, p95 := times[len(times)/2], times[len(times)*95/100]
	slices.Sort(firstTimes)
	fmt.Printf("\nfirst syncs of the scan definitions and a week of history: p50 %.1f ms\n",
		float64(firstTimes[len(firstTimes)/2].Microseconds())/1000)
	fmt.Printf("hourly syncs of the scan definitions and history of tenants of %d definitions: p50 %.1f ms, p95 %.1f ms\n",
		definitionsPerTenant, float64(p50.Microseconds())/1000, float64(p95.Microseconds())/1000)
	if testing.Verbose() {
		names := make([]string, 0, len(steps.totals))
		for k := range steps.totals {
			names = append(names, k)
		}
		slices.SortFunc(names, func(a, b string) int { return int(steps.totals[b] - steps.totals[a]) })
		for _, k := range names {
			fmt.Printf("  %-45s %8.2f ms per sync\n", k, float64(steps.totals[k].Microseconds())/1000/float64(len(times)))
		}
	}
	if traceStatements {
		names := make([]string, 0, len(tr.totals))
		for k := range tr.totals {
			names = append(names, k)
		}
		slices.SortFunc(names, func(a, b string) int { return int(tr.totals[b] - tr.totals[a]) })
		for _, k := range names {
			fmt.Printf("  %-60.60s %8.2f ms per sync\n", k, float64(tr.totals[k].Microseconds())/1000/float64(len(times)))
		}
	}
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95_ms")
	b.ReportMetric(float64(firstTimes[len(firstTimes)/2].Microseconds())/1000, "first_p50_ms")
}
