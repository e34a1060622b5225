package load_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load/loadtest"
)

// tenantAccessGoal: a role given one tenant answers that tenant's
// questions within 20 % of defender_reader's time.
const tenantAccessGoal = 1.20

// BenchmarkTenantAccess fills AGENTSYNC_BENCH_ACCESS_TENANTS tenants (200
// for the full size, 6 by default) of 40 agents with their definitions and
// scan history, synced once a day for AGENTSYNC_BENCH_ACCESS_DAYS days (365
// for the full size, 10 by default) through the loader, gives one tenant
// to a role with defender.grant_tenant_access, and times the questions of
// one tenant as that role and as defender_reader, the same SQL, warm and
// interleaved. It prints each question's times and their ratio against
// the goal.
func BenchmarkTenantAccess(b *testing.B) {
	tenants := benchEnv("AGENTSYNC_BENCH_ACCESS_TENANTS", 6)
	days := benchEnv("AGENTSYNC_BENCH_ACCESS_DAYS", 10)
	ctx := context.Background()
	url := dbtest.URL(b)
	owner, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer owner.Close()
	end := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	built := time.Now()
	syncTenant := func(i int) {
		loadtest.Sync(b, owner, loadtest.Story{TenantID: fmt.Sprintf("tenant%04d.example", i), Name: fmt.Sprintf("Tenant %d", i+1),
			Agents: 40, Days: days, Seed: int64(i + 1), History: true, End: end.Add(time.Duration(i%60) * time.Second)})
	}
	// The first alone (it makes the monthly partitions), then four at once.
	syncTenant(0)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				syncTenant(i)
			}
		})
	}
	for i := 1; i < tenants; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if _, err := owner.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d tenants of 40 agents, %d days each, synced in %s", tenants, days, time.Since(built).Round(time.Second))

	mine := fmt.Sprintf("tenant%04d.example", tenants/2)
	if _, err := owner.Exec(ctx, `SELECT defender.grant_tenant_access($1, $2)`, dbtest.TenantReaderRole, mine); err != nil {
		b.Fatal(err)
	}
	var agent string
	if err := owner.QueryRow(ctx, `SELECT min(agent_id) FROM defender.scan_agents WHERE tenant_id = $1`, mine).Scan(&agent); err != nil {
		b.Fatal(err)
	}
	last := end
	mid := end.Add(-time.Duration(days) * 12 * time.Hour)
	second := end.Add(-time.Duration(days-2) * 24 * time.Hour) // the day after the first sync
	queries := []struct {
		name, sql string
		args      []any
	}{
		{"scan_agents", `SELECT * FROM defender.scan_agents WHERE tenant_id = $1`, []any{mine}},
		{"fleet_daily over the history", `SELECT * FROM defender.fleet_daily WHERE tenant_id = $1 ORDER BY day`, []any{mine}},
		{"scan_agent_changes over the history", `SELECT * FROM defender.scan_agent_changes WHERE tenant_id = $1`, []any{mine}},
		{"one agent's changes", `SELECT * FROM defender.scan_agent_changes WHERE tenant_id = $1 AND agent_id = $2`, []any{mine, agent}},
		{"version_drift", `SELECT * FROM defender.version_drift WHERE tenant_id = $1`, []any{mine}},
		{"scan_agents_as_of(mid-history)", `SELECT * FROM defender.scan_agents_as_of($2) WHERE tenant_id = $1`, []any{mine, mid}},
		{"scan_agents_diff(second day, now, tenant)", `SELECT * FROM defender.scan_agents_diff($2, $3, $1)`, []any{mine, second, last}},
		{"one agent's days (scan_agent_daily)", `SELECT * FROM defender.scan_agent_daily WHERE tenant_id = $1 AND agent_id = $2`, []any{mine, agent}},
		{"scan_agent_observations of a day", `
			SELECT * FROM defender.scan_agent_observations WHERE tenant_id = $1 AND observed_at >= $2::timestamptz - interval '1 day'`, []any{mine, last}},
		{"sync_runs of 30 days", `SELECT * FROM defender.sync_runs WHERE tenant_id = $1 AND started_at >= $2::timestamptz - interval '30 days'`, []any{mine, last}},
		{"tenant_sync_status", `SELECT * FROM defender.tenant_sync_status WHERE tenant_id = $1`, []any{mine}},
		{"scan_coverage", `SELECT * FROM defender.scan_coverage WHERE tenant_id = $1`, []any{mine}},
		{"scan_sessions of 7 days", `SELECT * FROM defender.scan_sessions WHERE tenant_id = $1 AND scanned_at >= $2::timestamptz - interval '7 days'`, []any{mine, last}},
		{"scan_target_status", `SELECT * FROM defender.scan_target_status WHERE tenant_id = $1`, []any{mine}},
	}
	type timing struct {
		name             string
		rows             int
		reader, customer time.Duration
	}
	run := func(pool *pgxpool.Pool, sql string, args []any) (time.Duration, int) {
		t0 := time.Now()
		rows, err := pool.Query(ctx, sql, args...)
		if err != nil {
			b.Fatalf("%v\n%s", err, sql)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			b.Fatalf("%v\n%s", err, sql)
		}
		return time.Since(t0), n
	}
	var timings []timing
	b.ResetTimer()
	for b.Loop() {
		timings = timings[:0]
		for _, q := range queries {
			// Three sessions per role, new for each question: a session can
			// stay slower than another for its whole life (where the
			// scheduler puts it beside the client). In each, the first call
			// of each role warms the cache.
			best := [2]time.Duration{1<<63 - 1, 1<<63 - 1}
			var rows [2]int
			for range 3 {
				pools := [2]*pgxpool.Pool{dbtest.ReaderPool(b, url), dbtest.TenantReaderPool(b, url)}
				for i := range 16 {
					who := i % 2
					d, n := run(pools[who], q.sql, q.args)
					if i >= 2 {
						best[who] = min(best[who], d)
					}
					rows[who] = n
				}
				pools[0].Close()
				pools[1].Close()
			}
			if rows[0] != rows[1] || rows[0] == 0 {
				b.Fatalf("%s: defender_reader reads %d rows, the tenant's role %d", q.name, rows[0], rows[1])
			}
			timings = append(timings, timing{name: q.name, rows: rows[0], reader: best[0], customer: best[1]})
		}
	}
	b.StopTimer()

	fmt.Printf("\nOne tenant's questions on %d tenants of 40 agents, %d daily syncs each (agents, definitions and scan history):\n"+
		"the same SQL as defender_reader and as a role given that tenant (warm, best of 21 each from three sessions, interleaved).\n\n", tenants, days)
	fmt.Printf("| question | rows | defender_reader | tenant's role | ratio | within 20 %% |\n|---|---|---|---|---|---|\n")
	worst := 0.0
	for _, t := range timings {
		ratio := float64(t.customer) / float64(t.reader)
		worst = max(worst, ratio)
		ok := "yes"
		if ratio > tenantAccessGoal {
			ok = "no"
		}
		fmt.Printf("| %s | %d | %.2f ms | %.2f ms | %.2f | %s |\n", t.name, t.rows,
			float64(t.reader.Microseconds())/1000, float64(t.customer.Microseconds())/1000, ratio, ok)
		b.ReportMetric(ratio, "ratio_"+metricName(t.name))
	}
	fmt.Printf("\nWorst ratio %.2f (goal %.2f).\n\n", worst, tenantAccessGoal)
}

// benchEnv reads a benchmark's size from the environment, else def.
func benchEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
