package load_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/load/loadtest"
	"github.com/agentsync/agentsync/scanagent"
)

// scanGrowthSize is what BenchmarkScanGrowth builds: tenants synced through
// the loader for days, then copied in SQL until there are copies tenants
// in all. CI's small default; AGENTSYNC_BENCH_SCAN_TENANTS=10
// AGENTSYNC_BENCH_SCAN_DAYS=14 AGENTSYNC_BENCH_SCAN_COPIES=1000 is the
// full size.
func scanGrowthSize() (tenants, days, copies int) {
	tenants, days, copies = 2, 2, 20
	if n, err := strconv.Atoi(os.Getenv("AGENTSYNC_BENCH_SCAN_TENANTS")); err == nil && n > 0 {
		tenants = n
	}
	if n, err := strconv.Atoi(os.Getenv("AGENTSYNC_BENCH_SCAN_DAYS")); err == nil && n > 1 {
		days = n
	}
	if n, err := strconv.Atoi(os.Getenv("AGENTSYNC_BENCH_SCAN_COPIES")); err == nil && n > 0 {
		copies = n
	}
	return tenants, days, max(copies, tenants)
}

// scanRelations are the relations that hold the scans (their share of the
// whole schema is summed apart).
var scanRelations = []string{
	"defender_storage.definition_state", "defender_storage.definition_version", "defender_storage.definition_withheld",
	"defender_storage.session_result", "defender_storage.scan_target", "defender_storage.session_target", "defender_storage.target_coverage",
	"defender_storage.session_write", "defender_storage.definition_coverage", "defender_storage.target_status",
}

// schemaSizes returns the bytes of every table of agentsync's schemas,
// indexes and TOAST included, a partitioned table's partitions counted
// as the table: the whole schema, relation by relation.
func schemaSizes(b *testing.B, pool *pgxpool.Pool) map[string]int64 {
	b.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT coalesce(pg_catalog.pg_partition_root(c.oid), c.oid)::regclass::text,
		       sum(pg_catalog.pg_total_relation_size(c.oid))::bigint
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname IN ('defender', 'defender_storage') AND c.relkind IN ('r', 'm')
		 GROUP BY 1`)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var rel string
		var n int64
		if err := rows.Scan(&rel, &n); err != nil {
			b.Fatal(err)
		}
		out[rel] = n
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkScanGrowth measures what the scans weigh per tenant-year, and
// how fast scan_coverage and scan_target_status answer at many tenants.
//
// It syncs AGENTSYNC_BENCH_SCAN_TENANTS simulated tenants of 40 agents
// (defendertest.Fleet, each of its own seed: its scan definitions and
// their history, sessions with their targets) through the loader every
// hour for AGENTSYNC_BENCH_SCAN_DAYS days, each hour a run of every
// resource. The first day's syncs store the week of history the first
// reading finds; from the end of the first day on, storage grows with the
// sessions the tenants run. A year is the size at the end of the first
// day plus the growth of the days after, per day, times the 364 days
// after the first: linear, as the sessions are (definitions edited in the
// first weeks make that an overestimate of their versions).
//
// Then it copies the synced tenants in SQL (the loader's format: every
// key shifted) until there are AGENTSYNC_BENCH_SCAN_COPIES tenants, and
// times scan_coverage and scan_target_status as a member of
// defender_reader, for all tenants and for one, warm, best of 3 (goal
// < 100 ms).
func BenchmarkScanGrowth(b *testing.B) {
	tenants, days, copies := scanGrowthSize()
	ctx := context.Background()
	f := setup(b)
	start := f.clock.Now()
	type simulated struct {
		loader *load.Loader
		fleet  *defendertest.Fleet
	}
	ts := make([]simulated, tenants)
	for i := range ts {
		l, err := load.New(f.pool, load.Config{TenantID: fmt.Sprintf("tenant-%03d.onmicrosoft.com", i), Now: f.clock.Now,
			Worker: "bench", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		ts[i] = simulated{l, defendertest.NewFleet(int64(i+1), 40, start.Add(-24*time.Hour))}
	}
	var afterFirstDay map[string]int64
	var sessionsFirstDay int64
	built := time.Now()
	for hour := range days * 24 {
		now := f.clock.Advance(time.Hour)
		for _, t := range ts {
			agents := t.fleet.AgentsAt(now)
			list := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
				for _, a := range agents {
					if err := fn(a.Record()); err != nil {
						return scanagent.ListStats{}, err
					}
				}
				return scanagent.ListStats{Requests: 1, Pages: 1, Agents: len(agents)}, nil
			}
			if _, err := t.loader.Sync(ctx, list); err != nil {
				b.Fatal(err)
			}
			if _, err := t.loader.SyncDefinitions(ctx, loadtest.Definitions(t.fleet, now)); err != nil {
				b.Fatal(err)
			}
			if _, err := t.loader.SyncHistory(ctx, loadtest.History(t.fleet, now)); err != nil {
				b.Fatal(err)
			}
		}
		if hour%24 == 23 {
			if _, err := f.pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
				b.Fatal(err)
			}
		}
		if hour == 23 {
			afterFirstDay = schemaSizes(b, f.pool)
			if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM defender_storage.session_result`).Scan(&sessionsFirstDay); err != nil {
				b.Fatal(err)
			}
		}
	}
	buildTime := time.Since(built)
	end := schemaSizes(b, f.pool)

	// The shape of what was synced.
	var definitions, sessions, targets int64
	if err := f.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM defender_storage.definition_state),
		       (SELECT count(*) FROM defender_storage.session_result),
		       (SELECT count(*) FROM defender_storage.session_target)`).Scan(&definitions, &sessions, &targets); err != nil {
		b.Fatal(err)
	}
	perDay := float64(sessions-sessionsFirstDay) / float64(days-1) / float64(tenants)
	fmt.Printf("\n%d simulated tenants of 40 agents, every resource hourly for %d days through the loader (built in %s): "+
		"%.1f definitions per tenant, %.1f sessions per tenant and day, %.1f targets per session\n\n",
		tenants, days, buildTime.Round(time.Second), float64(definitions)/float64(tenants), perDay, float64(targets)/float64(sessions))
	year := func(r string) float64 {
		grown := float64(end[r]-afterFirstDay[r]) / float64(days-1)
		return (float64(afterFirstDay[r]) + grown*364) / float64(tenants)
	}
	rels := slices.Collect(maps.Keys(end))
	slices.SortFunc(rels, func(x, y string) int { return cmp.Compare(year(y), year(x)) })
	fmt.Printf("| relation (with its indexes and TOAST) | MB per tenant-year | bytes per session |\n|---|---|---|\n")
	var scans, whole float64
	for _, r := range rels {
		y := year(r)
		whole += y
		if slices.Contains(scanRelations, r) {
			scans += y
		}
		if y >= 5e3 { // the rest: tables of a few rows
			fmt.Printf("| %s | %.2f | %.0f |\n", r, y/1e6, y/(perDay*365))
		}
	}
	fmt.Printf("| **the whole schema** | **%.1f** | |\n", whole/1e6)
	fmt.Printf("\nThe scans (%s): %.1f MB per tenant-year; the whole schema %.1f MB (goal: 50 MB)\n",
		strings.Join(scanRelations, ", "), scans/1e6, whole/1e6)
	if testing.Verbose() { // each table's heap, TOAST and indexes apart, at the end
		rows, err := f.pool.Query(ctx, `
			SELECT c.relname::text, x.part, x.bytes
			  FROM pg_catalog.pg_class c
			 CROSS JOIN LATERAL (
			       SELECT 'heap' AS part, pg_catalog.pg_relation_size(c.oid) AS bytes
			       UNION ALL SELECT 'toast', coalesce(pg_catalog.pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)
			       UNION ALL SELECT i.indexrelid::regclass::text, pg_catalog.pg_relation_size(i.indexrelid)
			         FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid) x
			 WHERE c.oid = ANY ($1::regclass[]) ORDER BY 1, 3 DESC`, scanRelations)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var rel, part string
			var n int64
			if err := rows.Scan(&rel, &part, &n); err != nil {
				b.Fatal(err)
			}
			fmt.Printf("  %-20s %-50s %10d bytes, %6.0f per session\n", rel, part, n, float64(n)/float64(sessions))
		}
		rows.Close()
	}
	b.ReportMetric(scans/1e6, "scan_MB/tenant-year")
	b.ReportMetric(whole/1e6, "schema_MB/tenant-year")

	// Many tenants: copies of the synced ones.
	conn := adminConn(b, f)
	copied := time.Now()
	rounds := (copies + tenants - 1) / tenants
	cloneScans(b, conn, rounds)
	var all int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM defender_storage.tenants`).Scan(&all); err != nil {
		b.Fatal(err)
	}
	one := "tenant-000.onmicrosoft.com"
	questions := []struct{ name, all, one string }{
		{"scan_coverage", `SELECT * FROM defender.scan_coverage`, `SELECT * FROM defender.scan_coverage WHERE tenant_id = $1`},
		{"scan_target_status", `SELECT * FROM defender.scan_target_status`, `SELECT * FROM defender.scan_target_status WHERE tenant_id = $1`},
	}
	reader := dbtest.ReaderPool(b, f.url)
	timeIt := func(sql string, args ...any) (time.Duration, int) {
		best, n := time.Duration(1<<63-1), 0
		for run := range 4 { // the first run warms the cache
			t0 := time.Now()
			if err := reader.QueryRow(ctx, `SELECT count(*) FROM (`+sql+`) q`, args...).Scan(&n); err != nil {
				b.Fatalf("%v\n%s", err, sql)
			}
			if d := time.Since(t0); run > 0 && d < best {
				best = d
			}
		}
		return best, n
	}
	type timing struct {
		name             string
		allRows, oneRows int
		all, one         time.Duration
	}
	var timings []timing
	b.ResetTimer()
	for range b.N {
		timings = timings[:0]
		for _, q := range questions {
			a, ar := timeIt(q.all)
			o, or := timeIt(q.one, one)
			timings = append(timings, timing{q.name, ar, or, a, o})
		}
	}
	b.StopTimer()
	var sessionsAll int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM defender_storage.session_result`).Scan(&sessionsAll); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("\n%d tenants (copied in %s; %d sessions), as a member of defender_reader, warm, best of 3 (goal < 100 ms):\n\n",
		all, time.Since(copied).Round(time.Second), sessionsAll)
	fmt.Printf("| view | all tenants: rows | time | one tenant: rows | time |\n|---|---|---|---|---|\n")
	for _, t := range timings {
		fmt.Printf("| %s | %d | %.1f ms | %d | %.1f ms |\n", t.name, t.allRows, float64(t.all.Microseconds())/1000,
			t.oneRows, float64(t.one.Microseconds())/1000)
		b.ReportMetric(float64(t.all.Microseconds())/1000, t.name+"_all_ms")
		b.ReportMetric(float64(t.one.Microseconds())/1000, t.name+"_one_ms")
	}
	if os.Getenv("AGENTSYNC_BENCH_EXPLAIN") == "1" {
		for _, q := range questions {
			for _, sql := range []string{q.all, q.one} {
				args := []any{}
				if strings.Contains(sql, "$1") {
					args = append(args, one)
				}
				rows, err := reader.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+sql, args...)
				if err != nil {
					b.Fatal(err)
				}
				fmt.Printf("\n%s\n", sql)
				for rows.Next() {
					var line string
					if err := rows.Scan(&line); err != nil {
						b.Fatal(err)
					}
					fmt.Println(line)
				}
				rows.Close()
			}
		}
	}
	fmt.Println()
}

// scanCloneShifts are the key columns a copy shifts past the source's.
var scanCloneShifts = map[string]string{
	"run_id": "run", "first_seen_run_id": "run", "deleted_by_run_id": "run", "opened_by_run_id": "run",
	"closed_by_run_id": "run", "last_run_id": "run", "recorded_by_run_id": "run", "updated_by_run_id": "run",
	"targets_run_id": "run", "agent_key": "agent", "definition_key": "definition", "version_id": "version",
	"session_key": "session", "latest_session_key": "session", "last_success_session_key": "session",
	"as_of_run_id": "run", "target_no": "target",
}

// cloneScans copies every tenant's agents, scan definitions and scan
// history rounds-1 times, as tenants of their own (the tenant id with
// -cN appended), keys shifted, with cloneRows.
func cloneScans(b *testing.B, conn *pgx.Conn, rounds int) {
	if rounds < 2 {
		return
	}
	ctx := context.Background()
	maxOf := map[string]int64{}
	for kind, q := range map[string]string{
		"run":        `SELECT max(run_id) FROM defender.sync_runs`,
		"agent":      `SELECT max(agent_key) FROM defender_storage.agent_state`,
		"definition": `SELECT max(definition_key) FROM defender_storage.definition_state`,
		"version":    `SELECT max(version_id) FROM defender_storage.definition_version`,
		"session":    `SELECT max(session_key) FROM defender_storage.session_result`,
		"target":     `SELECT max(target_no) FROM defender_storage.scan_target`,
	} {
		var n *int64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n != nil {
			maxOf[kind] = *n
		}
	}
	var tables []cloneTable
	for _, t := range []string{
		"defender_storage.tenants", "defender_storage.sync_run", "defender_storage.agent_state", "defender_storage.agent_heartbeat",
		"defender_storage.definition_state", "defender_storage.definition_version", "defender_storage.session_result",
		"defender_storage.scan_target", "defender_storage.session_target", "defender_storage.target_coverage", "defender_storage.definition_coverage",
		"defender_storage.target_status",
	} {
		tables = append(tables, cloneTable{t, "true"})
	}
	cloneRows(b, conn, tables, rounds, nil, func(table, col string) (string, bool) {
		switch kind := scanCloneShifts[col]; {
		case col == "tenant_no" && table == "defender_storage.tenants": // a new identity
			return "", false
		case col == "tenant_no": // the copy's
			return `(SELECT c.tenant_no FROM defender_storage.tenants o
			  JOIN defender_storage.tenants c ON c.tenant_id = o.tenant_id || '-c' || k WHERE o.tenant_no = src.tenant_no)`, true
		case col == "tenant_id":
			return `tenant_id || '-c' || k`, true
		case kind != "":
			return fmt.Sprintf("%s + k * %d", col, maxOf[kind]), true
		}
		return col, true
	})
}

// adminConn connects to the fixture's database as the server's
// administrator: copying without checking each row again takes it.
func adminConn(b *testing.B, f *fixture) *pgx.Conn {
	b.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(dbtest.ServerURL())
	if err != nil {
		b.Fatal(err)
	}
	own, err := pgx.ParseConfig(f.url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Database = own.Database
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
