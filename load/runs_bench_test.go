package load_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// envInt is the positive integer in the environment variable name, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// everyResourceTenant is a tenant of 40 agents synced hourly through the
// loader, each hour a run of every resource, as BenchmarkVerifyYear syncs
// its one: scan definitions with a weekly edit, scan history with a
// session of each of five definitions every four hours.
type everyResourceTenant struct {
	loader  *load.Loader
	fleet   *fleetModel
	defs    []scanagent.ScanDefinition
	history *history
}

func newEveryResourceTenants(b *testing.B, f *fixture, n int) []*everyResourceTenant {
	out := make([]*everyResourceTenant, n)
	for i := range out {
		l, err := load.New(f.pool, load.Config{TenantID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i+1),
			Now: f.clock.Now, Worker: "bench:1", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = &everyResourceTenant{loader: l, fleet: newFleetModel(40, f.clock.Now()), defs: definitions(5), history: &history{}}
	}
	return out
}

// syncHour runs the tenant's three syncs of hour (counted from the first)
// and returns the time they took together.
func (e *everyResourceTenant) syncHour(b *testing.B, hour int, now time.Time) time.Duration {
	ctx := b.Context()
	e.fleet.advance(now)
	if hour%(24*7) == 3 {
		e.defs[hour%5].IntervalHours = ptr(1 + hour%12)
	}
	if hour%4 == 0 {
		for i, d := range e.defs {
			e.history.sessions = append([]scanagent.ScanSession{session(d, hour+i, now.Add(-30*time.Minute),
				[2]string{fmt.Sprintf("10.0.%d.1", i), "Success"}, [2]string{fmt.Sprintf("10.0.%d.2", i), "Failure"})}, e.history.sessions...)
		}
		if len(e.history.sessions) > 200 {
			e.history.sessions = e.history.sessions[:200]
		}
		e.history.asked, e.history.askedIDs, e.history.askedDef = nil, nil, nil
	}
	start := time.Now()
	if _, err := e.loader.Sync(ctx, listOf(e.fleet.agents...)); err != nil {
		b.Fatal(err)
	}
	if _, err := e.loader.SyncDefinitions(ctx, definitionsOf(e.defs...)); err != nil {
		b.Fatal(err)
	}
	if _, err := e.loader.SyncHistory(ctx, e.history); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkRunStorage syncs tenants of 40 agents hourly through the
// loader, every resource (three runs a tenant-hour, 26,280 a tenant-year),
// vacuumed daily as autovacuum would, and prints the bytes per run of the
// runs' storage and of the run digests, table and each index apart (goal:
// the runs ≤ 200 B with their indexes). CI runs 2 tenants for 2 days;
// AGENTSYNC_BENCH_RUNS_TENANTS and AGENTSYNC_BENCH_RUNS_DAYS set the size.
func BenchmarkRunStorage(b *testing.B) {
	tenants, days := envInt("AGENTSYNC_BENCH_RUNS_TENANTS", 2), envInt("AGENTSYNC_BENCH_RUNS_DAYS", 2)
	f := setup(b)
	ts := newEveryResourceTenants(b, f, tenants)
	build := time.Now()
	for hour := range days * 24 {
		now := f.clock.Advance(time.Hour)
		for _, e := range ts {
			e.syncHour(b, hour, now)
		}
		if hour%24 == 23 {
			if _, err := f.pool.Exec(b.Context(), `VACUUM ANALYZE defender_storage.sync_run, defender_storage.run_digest, defender_storage.session_write`); err != nil {
				b.Fatal(err)
			}
		}
	}
	built := time.Since(build)
	b.ResetTimer()
	var runs int64
	if err := f.pool.QueryRow(b.Context(), `SELECT count(*) FROM defender.sync_runs`).Scan(&runs); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("\n%d tenants × %d days of hourly runs of every resource through the loader (%d runs, built in %s), bytes per run:\n\n",
		tenants, days, runs, built.Round(time.Second))
	fmt.Printf("| relation | table or index | bytes per run |\n|---|---|---|\n")
	rows, err := f.pool.Query(b.Context(), `
		SELECT t.oid::regclass::text, coalesce(i.indexrelid::regclass::text, 'table'),
		       pg_catalog.pg_relation_size(coalesce(i.indexrelid, t.oid))
		  FROM pg_catalog.pg_class t
		  LEFT JOIN LATERAL (SELECT NULL::oid AS indexrelid UNION ALL
		                     SELECT x.indexrelid FROM pg_catalog.pg_index x WHERE x.indrelid = t.oid) i ON true
		 WHERE t.oid IN (SELECT pg_catalog.to_regclass(n) FROM unnest(ARRAY['defender.sync_runs', 'defender_storage.sync_run',
		                 'defender_storage.sync_worker', 'defender_storage.run_digest', 'defender_storage.session_write']) n)
		   AND t.relkind = 'r'
		 ORDER BY 1, i.indexrelid NULLS FIRST`)
	if err != nil {
		b.Fatal(err)
	}
	totals := map[string]int64{}
	var order []string
	for rows.Next() {
		var rel, part string
		var bytes int64
		if err := rows.Scan(&rel, &part, &bytes); err != nil {
			b.Fatal(err)
		}
		if _, ok := totals[rel]; !ok {
			order = append(order, rel)
		}
		totals[rel] += bytes
		fmt.Printf("| %s | %s | %.1f |\n", rel, part, float64(bytes)/float64(runs))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	for _, rel := range order {
		perRun := float64(totals[rel]) / float64(runs)
		fmt.Printf("| %s | all | %.1f (%.2f MB per tenant-year of 26,280 runs) |\n", rel, perRun, perRun*26280/1e6)
		b.ReportMetric(perRun, "B/run:"+rel)
	}
}

// BenchmarkDigestShareOfSync measures what the run digest adds to a sync's
// database time at the typical shape: tenants of 40 agents, each hour a
// sync of every resource, in cycles of four hourly rounds (the simulated
// work repeats every four hours).
//
// Two measures, each printed per cycle with its median (goal ≤ 1.10):
//   - the database's own count, in cycles with digests: the time its
//     sessions spent executing statements (pg_stat_database.active_time)
//     against the part of it spent in the digest's function
//     (record_run_digest, from pg_stat_user_functions with
//     track_functions on for the benchmark's database): the sync's
//     database time with the digest over the same without it;
//   - the wall time of a cycle with digests over that of a cycle without,
//     alternating which goes first, pair after pair: the whole cost,
//     commits included, but as noisy as the machine.
//
// CI runs 3 tenants and 2 pairs; AGENTSYNC_BENCH_DIGEST_TENANTS and
// AGENTSYNC_BENCH_DIGEST_PAIRS set the size (20 and 8 for the figures of
// docs/performance.md).
func BenchmarkDigestShareOfSync(b *testing.B) {
	tenants, pairs := envInt("AGENTSYNC_BENCH_DIGEST_TENANTS", 3), envInt("AGENTSYNC_BENCH_DIGEST_PAIRS", 2)
	ctx := context.Background()
	f := setup(b)
	admin := adminConn(b, f)
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{admin.Config().Database}.Sanitize()+` SET track_functions = 'pl'`); err != nil {
		b.Fatal(err)
	}
	f.pool.Close() // sessions opened from now on count their functions' time
	pool, err := pgxpool.New(ctx, f.url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	f.pool = pool
	// databaseTime returns, in ms, the time the database's sessions have
	// spent executing statements, and in the digest's function.
	databaseTime := func() (active, digest float64) {
		for _, c := range f.pool.AcquireAllIdle(ctx) { // each session reports its counts now
			if _, err := c.Exec(ctx, `SELECT pg_catalog.pg_stat_force_next_flush()`); err != nil {
				b.Fatal(err)
			}
			c.Release()
		}
		if err := admin.QueryRow(ctx, `
			SELECT (SELECT active_time FROM pg_catalog.pg_stat_database WHERE datname = pg_catalog.current_database()),
			       (SELECT coalesce(sum(total_time), 0) FROM pg_catalog.pg_stat_user_functions
			         WHERE schemaname = 'defender_storage' AND funcname = 'record_run_digest')`).Scan(&active, &digest); err != nil {
			b.Fatal(err)
		}
		return active, digest
	}
	ts := newEveryResourceTenants(b, f, tenants)
	hour := 0
	round := func() time.Duration {
		now := f.clock.Advance(time.Hour)
		var took time.Duration
		for _, e := range ts {
			took += e.syncHour(b, hour, now)
		}
		hour++
		return took
	}
	cycle := func() time.Duration {
		var took time.Duration
		for range 4 {
			took += round()
		}
		return took
	}
	// settle brings the statistics up to date, as autovacuum keeps them
	// (this server runs without it: a plan made while the tables held a
	// few rows would scan them whole as they grow), then runs an untimed
	// cycle, in which the sessions plan their statements again.
	settle := func() {
		if _, err := admin.Exec(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
		cycle()
	}
	cycle() // the first syncs insert every record; then hourly drift
	b.ResetTimer()
	median := func(xs []float64) float64 {
		slices.Sort(xs)
		if len(xs)%2 == 0 {
			return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
		}
		return xs[len(xs)/2]
	}
	var dbRatios, wallRatios []float64
	fmt.Printf("\n%d tenants of 40 agents, every resource hourly (%d runs a cycle of four hours): the run digests' cost\n\n", tenants, 12*tenants)
	fmt.Printf("| pair | database time, with digests | of it, the digest | ratio | wall time with | without | ratio |\n|---|---|---|---|---|---|---|\n")
	for p := range pairs {
		b.StopTimer()
		settle()
		b.StartTimer()
		var with, without time.Duration
		var active, digest float64
		withDigests := func() {
			a0, d0 := databaseTime()
			with = cycle()
			a1, d1 := databaseTime()
			active, digest = a1-a0, d1-d0
		}
		if p%2 == 0 {
			withDigests()
			load.WithoutDigests(func() { without = cycle() })
		} else {
			load.WithoutDigests(func() { without = cycle() })
			withDigests()
		}
		dbRatio, wallRatio := active/(active-digest), float64(with)/float64(without)
		dbRatios, wallRatios = append(dbRatios, dbRatio), append(wallRatios, wallRatio)
		fmt.Printf("| %d | %.1f ms | %.1f ms | %.3f | %.1f ms | %.1f ms | %.3f |\n", p+1, active, digest, dbRatio,
			float64(with.Microseconds())/1000, float64(without.Microseconds())/1000, wallRatio)
	}
	dbMedian, wallMedian := median(dbRatios), median(wallRatios)
	fmt.Printf("\nmedian over %d pairs (goal ≤ 1.10): database time with/without the digest %.3f; wall time with/without %.3f\n", pairs, dbMedian, wallMedian)
	b.ReportMetric(dbMedian, "db-ratio")
	b.ReportMetric(wallMedian, "wall-ratio")
}

// BenchmarkRunRetention builds the runs of BenchmarkRunStorage, then drops
// every month of observations (OBSERVATION_RETENTION) and the runs past
// RUN_RETENTION, as a year-old database with both set would have them, and
// prints what is left per run: the runs kept (those a rollup, a version, a
// session or a chain's head needs) at their full size, the runs dropped in
// their stretches of runs_dropped, and the time a dropped run takes.
// Every chain still verifies. CI runs 2 tenants for 2 days;
// AGENTSYNC_BENCH_RUNS_TENANTS and AGENTSYNC_BENCH_RUNS_DAYS set the size.
func BenchmarkRunRetention(b *testing.B) {
	tenants, days := envInt("AGENTSYNC_BENCH_RUNS_TENANTS", 2), envInt("AGENTSYNC_BENCH_RUNS_DAYS", 2)
	f := setup(b)
	ctx := b.Context()
	ts := newEveryResourceTenants(b, f, tenants)
	for hour := range days * 24 {
		now := f.clock.Advance(time.Hour)
		for _, e := range ts {
			e.syncHour(b, hour, now)
		}
	}
	var runs int64
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM defender.sync_runs`).Scan(&runs); err != nil {
		b.Fatal(err)
	}
	// Everything synced is past both retentions.
	later := f.clock.Now().Add(load.MinRunRetention + 62*24*time.Hour)
	if _, err := load.DropObservations(ctx, f.pool, load.MinRunRetention, later, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	dropped, err := load.DropRuns(ctx, f.pool, load.MinRunRetention, later, nil)
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	var gone int64
	for _, d := range dropped {
		gone += d.Succeeded + d.Failed
	}
	if gone == 0 {
		b.Fatal("no run dropped")
	}
	chains, err := load.Verify(ctx, f.pool, "")
	if err != nil {
		b.Fatal(err)
	}
	if !load.Verified(chains) {
		b.Fatalf("a chain does not verify after retention: %+v", chains)
	}
	// The space deleted rows leave is reused by the next runs; measure the
	// tables as they hold what is left.
	if _, err := f.pool.Exec(ctx, `VACUUM FULL defender_storage.sync_run, defender_storage.run_digest, defender_storage.runs_dropped`); err != nil {
		b.Fatal(err)
	}
	var keptBytes, droppedBytes, stretches int64
	if err := f.pool.QueryRow(ctx, `
		SELECT pg_catalog.pg_total_relation_size('defender_storage.sync_run') + pg_catalog.pg_total_relation_size('defender_storage.run_digest'),
		       pg_catalog.pg_total_relation_size('defender_storage.runs_dropped'),
		       (SELECT count(*) FROM defender_storage.runs_dropped)`).Scan(&keptBytes, &droppedBytes, &stretches); err != nil {
		b.Fatal(err)
	}
	kept := runs - gone
	all := float64(keptBytes+droppedBytes) / float64(runs)
	fmt.Printf("\nRUN_RETENTION on %d tenants × %d days of hourly runs of every resource (%d runs), all past it and past OBSERVATION_RETENTION:\n\n", tenants, days, runs)
	fmt.Printf("| | runs | bytes per run |\n|---|---|---|\n")
	fmt.Printf("| kept (sync_run and run_digest, with indexes) | %d | %.1f |\n", kept, float64(keptBytes)/float64(kept))
	fmt.Printf("| dropped, in %d stretches of runs_dropped (with its indexes and TOAST) | %d | %.1f |\n", stretches, gone, float64(droppedBytes)/float64(gone))
	fmt.Printf("| all | %d | %.1f (%.2f MB per tenant-year of 26,280 runs) |\n", runs, all, all*26280/1e6)
	rows, err := f.pool.Query(ctx, `
		SELECT 'links (' || count(*) || ' stretches): as given', sum(pg_catalog.octet_length(links)) FROM defender_storage.runs_dropped
		UNION ALL SELECT 'links: as stored (compressed)', sum(pg_catalog.pg_column_size(links)) FROM defender_storage.runs_dropped
		UNION ALL SELECT 'table', pg_catalog.pg_relation_size('defender_storage.runs_dropped')
		UNION ALL SELECT 'TOAST', pg_catalog.pg_total_relation_size(reltoastrelid) FROM pg_catalog.pg_class
		           WHERE oid = 'defender_storage.runs_dropped'::regclass AND reltoastrelid <> 0
		UNION ALL SELECT 'index ' || indexrelid::regclass::text, pg_catalog.pg_relation_size(indexrelid) FROM pg_catalog.pg_index
		           WHERE indrelid = 'defender_storage.runs_dropped'::regclass`)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("\n| runs_dropped | bytes per run dropped |\n|---|---|\n")
	for rows.Next() {
		var part string
		var bytes int64
		if err := rows.Scan(&part, &bytes); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("| %s | %.1f |\n", part, float64(bytes)/float64(gone))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("\nDropping them took %s: %.0f µs a run. Every chain verifies through them.\n", took.Round(time.Millisecond), float64(took.Microseconds())/float64(gone))
	b.ReportMetric(float64(droppedBytes)/float64(gone), "B/dropped_run")
	b.ReportMetric(all, "B/run")
	b.ReportMetric(float64(took.Microseconds())/float64(gone), "µs/dropped_run")
}
