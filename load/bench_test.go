package load_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// BenchmarkSync loads 10k and 100k agents and compares the time with a
// plain COPY of the same rows into an equivalent keyed table, measured in
// the same run on the same server:
//
//   - initial: every agent is new (insert, history, observation rows);
//   - resync: the same listing again (nothing changes, nothing is written);
//   - steady: an hour later, every agent moved lastSeen and 1% of them
//     changed a version, as in hourly syncs of a real fleet.
//
// It reports agents/s of the sync, copy_agents/s of the plain COPY, x_copy,
// the sync's time as a multiple of the COPY's, and row_versions, the rows
// of agent data the sync wrote. It runs 10k agents, and 100k too when
// AGENTSYNC_BENCH_SYNC_FULL=1 (the size of the goals). With
// AGENTSYNC_BENCH_STEPS=1 it prints the time of each step of the syncs.
func BenchmarkSync(b *testing.B) {
	sizes := []int{10_000}
	if os.Getenv("AGENTSYNC_BENCH_SYNC_FULL") == "1" {
		sizes = append(sizes, 100_000)
	}
	for _, n := range sizes {
		for _, mode := range []string{"initial", "resync", "steady"} {
			b.Run(fmt.Sprintf("%s/agents=%d", mode, n), func(b *testing.B) { benchmarkSync(b, n, mode) })
		}
	}
}

func benchmarkSync(b *testing.B, n int, mode string) {
	ctx := context.Background()
	var steps []func(*load.Config)
	if os.Getenv("AGENTSYNC_BENCH_STEPS") == "1" {
		steps = append(steps, func(c *load.Config) {
			c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
	}
	f := setup(b, steps...)
	recs := agents(n)
	if _, err := f.pool.Exec(ctx, `
		CREATE TABLE public.copy_baseline (
			tenant_id text NOT NULL, agent_id text NOT NULL, machine_id text, computer_dns_name text,
			assigned_application_id text, scanner_software_version text, mde_client_version text,
			last_seen timestamptz, last_command_execution_at timestamptz, extra jsonb NOT NULL,
			PRIMARY KEY (tenant_id, agent_id))`); err != nil {
		b.Fatal(err)
	}
	truncate := func() {
		if _, err := f.pool.Exec(ctx, `TRUNCATE public.copy_baseline, defender_storage.observation, defender_storage.withheld_deletions,
			defender_storage.agent_daily, defender_storage.tenant_daily, defender_storage.agent_heartbeat,
			defender.scan_agent_history, defender_storage.agent_state, defender_storage.target_coverage, defender_storage.session_target, defender_storage.scan_target,
			defender_storage.session_result, defender_storage.definition_withheld, defender_storage.definition_version, defender_storage.definition_state,
			defender_storage.sync_run, defender_storage.tenant_leases, defender_storage.tenants CASCADE`); err != nil {
			b.Fatal(err)
		}
	}
	drifted := func(round int) []scanagent.Record {
		out := make([]scanagent.Record, len(recs))
		for i, r := range recs {
			r.LastSeen = r.LastSeen.Add(time.Duration(round) * time.Hour)
			if i%100 == round%100 {
				r.MDEClientVersion = scanagent.Version(fmt.Sprintf("10.8295.22621.%d", 2000+round))
			}
			out[i] = r
		}
		return out
	}

	var syncTime, copyTime time.Duration
	var rowVersions int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		truncate()
		listing := recs
		if mode != "initial" {
			f.clock.Advance(time.Hour)
			f.sync(b, listOf(recs...)) // the state to resync or drift from
			// Steady state: an hour after a sync that inserted every
			// agent, autovacuum (which inserts trigger since PostgreSQL
			// 13) has vacuumed and analyzed the tables.
			if _, err := f.pool.Exec(ctx, `VACUUM (ANALYZE) defender_storage.agent_state, defender_storage.agent_heartbeat, defender.scan_agent_history`); err != nil {
				b.Fatal(err)
			}
			if mode == "steady" {
				listing = drifted(i + 1)
			}
		}
		rows := make([][]any, len(listing))
		for j, r := range listing {
			rows[j] = []any{tenant, r.ID, r.MachineID, r.ComputerDNSName, r.AssignedApplicationID,
				string(r.ScannerSoftwareVersion), string(r.MDEClientVersion), r.LastSeen, r.LastCommandExecutionAt, []byte("{}")}
		}
		start := time.Now()
		if _, err := f.pool.CopyFrom(ctx, pgx.Identifier{"public", "copy_baseline"},
			[]string{"tenant_id", "agent_id", "machine_id", "computer_dns_name", "assigned_application_id",
				"scanner_software_version", "mde_client_version", "last_seen", "last_command_execution_at", "extra"},
			pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(start)
		f.clock.Advance(time.Hour)

		var before int64
		if err := f.pool.QueryRow(ctx, `SELECT pg_catalog.pg_current_xact_id()::text::bigint`).Scan(&before); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start = time.Now()
		res := f.sync(b, listOf(listing...))
		syncTime += time.Since(start)
		b.StopTimer()
		rowVersions += f.rowsWrittenAfter(b, before)
		b.StartTimer()
		if res.Seen != n {
			b.Fatalf("sync saw %d agents, want %d", res.Seen, n)
		}
	}
	agentsTotal := float64(n) * float64(b.N)
	b.ReportMetric(agentsTotal/syncTime.Seconds(), "agents/s")
	b.ReportMetric(agentsTotal/copyTime.Seconds(), "copy_agents/s")
	b.ReportMetric(syncTime.Seconds()/copyTime.Seconds(), "x_copy")
	b.ReportMetric(float64(rowVersions)/float64(b.N), "row_versions")
}

// rowsWrittenAfter counts the rows of agent data written (inserted or
// updated) by transactions after the one numbered xid.
func (f *fixture) rowsWrittenAfter(b *testing.B, xid int64) int {
	n := 0
	for _, table := range dbtest.DataTables {
		var c int
		if err := f.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM `+table+` WHERE xmin::text::bigint > $1`, xid%(1<<32)).Scan(&c); err != nil {
			b.Fatal(err)
		}
		n += c
	}
	return n
}

// BenchmarkSyncHistory syncs a week of history of 40 definitions (run
// every 4 hours, 50 targets each): "first" stores every session and
// target, "again" reads the same history and writes nothing.
func BenchmarkSyncHistory(b *testing.B) {
	for _, mode := range []string{"first", "again"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			f := setup(b)
			defs := definitions(40)
			f.syncDefinitions(b, definitionsOf(defs...))
			h := &history{}
			for k := range 42 {
				for _, d := range defs {
					targets := make([][2]string, 50)
					for i := range targets {
						targets[i] = [2]string{fmt.Sprintf("10.%d.%d.%d", k, i/250, i%250), "Success"}
					}
					h.sessions = append(h.sessions, session(d, k, t0.Add(-time.Duration(k)*4*time.Hour), targets...))
				}
			}
			if mode == "again" {
				f.syncHistory(b, h)
			}
			sessions := 0
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				if mode == "first" {
					if _, err := f.pool.Exec(ctx, `
						TRUNCATE defender_storage.target_coverage, defender_storage.session_target, defender_storage.scan_target, defender_storage.session_result CASCADE;
						DELETE FROM defender_storage.run_digest
						 WHERE run_id IN (SELECT run_id FROM defender_storage.sync_run WHERE resource = 'h');
						DELETE FROM defender_storage.sync_run WHERE resource = 'h'`); err != nil {
						b.Fatal(err)
					}
				}
				f.clock.Advance(time.Minute)
				b.StartTimer()
				res := f.syncHistory(b, h)
				if mode == "first" && res.Targets != len(h.sessions)*50 {
					b.Fatalf("%+v", res)
				}
				sessions += res.Seen
			}
			b.ReportMetric(float64(sessions)/b.Elapsed().Seconds(), "sessions/s")
		})
	}
}
