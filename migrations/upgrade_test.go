package migrations_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/migrations"
	"github.com/agentsync/agentsync/scanagent"
)

// TestUpgradeFromSchema2KeepsEveryAnswer loads a database filled by the
// schema-2 loader (testdata/upgrade), records what every reporting query
// answers, migrates to the latest schema and checks the answers, the new
// provenance columns and the back-filled rollups; then migrates back.
func TestUpgradeFromSchema2KeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.SchemaTwoHistory(t)
	answer := func(query string) string {
		t.Helper()
		return dbtest.Answer(t, pool, query)
	}
	before := map[string]string{}
	for name, q := range dbtest.AgentAnswers {
		before[name] = answer(q)
		if strings.Count(before[name], "\n") < 10 {
			t.Fatalf("%s answers %d rows before the upgrade; the fixture is too thin", name, strings.Count(before[name], "\n"))
		}
	}
	compare := func(when string) {
		t.Helper()
		for name, q := range dbtest.AgentAnswers {
			if got := answer(q); got != before[name] {
				t.Errorf("%s: %s answers differently\nbefore:\n%s\nafter:\n%s", when, name, before[name], got)
			}
		}
	}

	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	compare("after the upgrade")
	for name, q := range map[string]string{
		"as_of names the run it answers from": `
			SELECT r.run_id, a.agent_id FROM defender.sync_runs r
			 CROSS JOIN LATERAL defender.scan_agents_as_of(r.fetched_at) a
			 WHERE r.status = 'succeeded' AND a.tenant_id = r.tenant_id
			   AND (a.as_of_run_id, a.as_of_fetched_at) IS DISTINCT FROM (r.run_id, r.fetched_at)`,
		"previous_sync_at is the previous successful fetch": `
			SELECT c.run_id FROM defender.scan_agent_changes c
			  JOIN defender.sync_runs r ON r.run_id = c.run_id
			 WHERE c.previous_sync_at IS DISTINCT FROM (
			       SELECT max(p.fetched_at) FROM defender.sync_runs p
			        WHERE p.tenant_id = r.tenant_id AND p.status = 'succeeded' AND p.fetched_at < r.fetched_at)`,
	} {
		if got := answer(q); got != "" {
			t.Errorf("%s: wrong for\n%s", name, got)
		}
	}
	if n := answer(`SELECT count(*) FROM defender.scan_agent_changes WHERE previous_sync_at IS NOT NULL`); n == "0\n" {
		t.Error("no change carries previous_sync_at")
	}
	if m := dbtest.RollupMismatches(t, pool); len(m) > 0 {
		t.Errorf("back-filled rollups differ from their definition:\n%s", strings.Join(m, "\n"))
	}
	var days int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT day) FROM defender.scan_agent_daily`).Scan(&days); err != nil || days < 5 {
		t.Errorf("rollups cover %d days (%v), want the fixture's week", days, err)
	}

	if _, err := p.DownTo(ctx, 2); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
	compare("after migrating back down")
}

// TestPackedHeartbeatsKeepEveryHeartbeat: migration 00011 moves the
// heartbeats of schema 10 (a row per agent) into blocks of 64 keys per
// tenant. On agents of two tenants whose keys alternate within blocks,
// some never seen and one deleted, every agent reads the same heartbeat
// after the upgrade, each tenant gets its own row of a shared block that
// holds nothing of the other tenant's agents, and migrating back restores
// the rows exactly.
func TestPackedHeartbeatsKeepEveryHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openEmpty(t)
	p, err := migrations.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 10); err != nil {
		t.Fatal(err)
	}
	execOrFail(t, db, `INSERT INTO defender.tenants (tenant_id) VALUES ('t'), ('u')`)
	execOrFail(t, db, `INSERT INTO defender.sync_runs (tenant_id, started_at, fetched_at, finished_at, status)
	          VALUES ('t', '2026-01-01', '2026-01-01', '2026-01-01', 'succeeded'),
	                 ('u', '2026-01-01', '2026-01-01', '2026-01-01', 'succeeded')`)
	// Keys 1 to 150 alternate between the tenants, over three blocks.
	execOrFail(t, db, `INSERT INTO defender.agent_state (agent_key, tenant_id, agent_id, first_seen_at, first_seen_run_id, active_since)
	          OVERRIDING SYSTEM VALUE
	          SELECT k, CASE WHEN k % 2 = 0 THEN 't' ELSE 'u' END, 'a' || k, '2026-01-01', 1 + k % 2, '2026-01-01'
	            FROM generate_series(1, 150) k`)
	execOrFail(t, db, `UPDATE defender.agent_state SET deleted_at = '2026-01-01', deleted_by_run_id = 1 WHERE agent_key = 10`)
	// Every fifth agent was never seen; every seventh never ran a command.
	execOrFail(t, db, `INSERT INTO defender.agent_heartbeat (agent_key, last_seen, last_command_execution_at)
	          SELECT k, CASE WHEN k % 5 <> 0 THEN timestamptz '2025-12-01' + k * interval '1 minute' END,
	                    CASE WHEN k % 7 <> 0 THEN timestamptz '2025-11-01' + k * interval '1 hour' END
	            FROM generate_series(1, 150) k`)
	read := func(q string) string {
		t.Helper()
		var s string
		if err := db.QueryRow(`SELECT coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '') FROM (` + q + `) x`).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	const agents = `SELECT tenant_id, agent_id, last_seen, last_command_execution_at, deleted_at FROM defender.scan_agents`
	const heartbeats = `SELECT * FROM defender.agent_heartbeat`
	beforeAgents, beforeHeartbeats := read(agents), read(heartbeats)

	if _, err := p.UpTo(ctx, 11); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if got := read(agents); got != beforeAgents {
		t.Errorf("scan_agents after the upgrade:\n%s\nwant:\n%s", got, beforeAgents)
	}
	if got, want := read(`SELECT tenant_id, block FROM defender.heartbeat_block`), "(t,0)\n(t,1)\n(t,2)\n(u,0)\n(u,1)\n(u,2)"; got != want {
		t.Errorf("heartbeat blocks:\n%s\nwant:\n%s", got, want)
	}
	// A tenant's row holds nothing of the other tenant's agents.
	if got := read(`
		SELECT hb.tenant_id, hb.block * 64 + i.n - 1 AS agent_key
		  FROM defender.heartbeat_block hb
		 CROSS JOIN LATERAL unnest(hb.last_seen, hb.last_command_execution_at) WITH ORDINALITY AS i(seen, cmd, n)
		 WHERE (i.seen IS NOT NULL OR i.cmd IS NOT NULL)
		   AND NOT EXISTS (SELECT FROM defender.agent_state a
		                    WHERE a.agent_key = hb.block * 64 + i.n - 1 AND a.tenant_id = hb.tenant_id)`); got != "" {
		t.Errorf("heartbeats stored in another tenant's row:\n%s", got)
	}
	if _, err := p.DownTo(ctx, 10); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
	if got := read(heartbeats); got != beforeHeartbeats {
		t.Errorf("agent_heartbeat after the downgrade:\n%s\nwant:\n%s", got, beforeHeartbeats)
	}
	if got := read(agents); got != beforeAgents {
		t.Errorf("scan_agents after the downgrade:\n%s\nwant:\n%s", got, beforeAgents)
	}
}

// TestHeartbeatOnlyAgentsCountedApart: migration 00012 splits the
// agents_changed of the stored runs (filled by the loader of schema 2,
// two tenants, a week of hourly syncs) into the agents that changed a
// descriptive value or returned, as scan_agent_changes lists them, and
// the agents of which only the heartbeat moved; the counts still add up
// to agents_seen. Migrating back restores every run exactly.
func TestHeartbeatOnlyAgentsCountedApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.SchemaTwoHistory(t)
	if _, err := p.UpTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	read := func(q string) string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '') FROM (`+q+`) x`).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	const runs = `SELECT * FROM defender.sync_runs`
	before := read(runs)
	oldChanged := map[int64]int{}
	rows, err := pool.Query(ctx, `SELECT run_id, agents_changed FROM defender.sync_runs WHERE resource = 'agents'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		oldChanged[id] = n
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	if _, err := p.UpTo(ctx, 12); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	// The heartbeat-only agents of both tenants are counted apart.
	if got := read(`SELECT DISTINCT tenant_id FROM defender.sync_runs WHERE agents_heartbeat_only > 0`); strings.Count(got, "\n") < 1 {
		t.Fatalf("tenants with heartbeat-only agents after the upgrade: %q, want both of the fixture", got)
	}
	rows, err = pool.Query(ctx, `
		SELECT r.run_id, r.agents_changed, r.agents_heartbeat_only, r.records_changed,
		       r.agents_inserted + r.agents_changed + r.agents_heartbeat_only + r.agents_unchanged - r.agents_seen,
		       (SELECT count(DISTINCT c.agent_id) FROM defender.scan_agent_changes c
		         WHERE c.run_id = r.run_id AND NOT (c.attribute = 'agent' AND c.new_value IN ('first seen', 'deleted')))::integer,
		       r.fields_repaired
		  FROM defender.sync_runs r WHERE r.resource = 'agents'`)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for rows.Next() {
		var id int64
		var changed, heartbeat, records, off, listed, repaired int
		if err := rows.Scan(&id, &changed, &heartbeat, &records, &off, &listed, &repaired); err != nil {
			t.Fatal(err)
		}
		checked++
		if changed+heartbeat != oldChanged[id] || records != changed || off != 0 || changed != listed || repaired != 0 {
			t.Errorf("run %d: %d changed (%d in scan_agent_changes, %d records) and %d heartbeat-only, %d off agents_seen, %d repaired; before: %d changed",
				id, changed, listed, records, heartbeat, off, repaired, oldChanged[id])
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if checked != len(oldChanged) || checked < 10 {
		t.Errorf("%d runs checked of %d", checked, len(oldChanged))
	}

	if _, err := p.DownTo(ctx, 11); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
	if got := read(runs); got != before {
		t.Errorf("sync_runs after the downgrade:\n%s\nwant:\n%s", got, before)
	}
}

// TestTenantLeaseMigrationKeepsTenantsAndRuns: the lease table comes and
// goes without touching the tenants and runs stored before it.
func TestTenantLeaseMigrationKeepsTenantsAndRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.SchemaTwoHistory(t)
	const lease = 13 // 00013_tenant_lease.sql
	if _, err := p.UpTo(ctx, lease-1); err != nil {
		t.Fatal(err)
	}
	dump := func() string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, `
			SELECT (SELECT string_agg(t::text, E'\n' ORDER BY tenant_id) FROM defender.tenants t) || E'\n' ||
			       (SELECT string_agg(r::text, E'\n' ORDER BY run_id) FROM defender.sync_runs r)`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := dump()
	if strings.Count(before, "\n") < 3 {
		t.Fatalf("the fixture holds too few tenants and runs:\n%s", before)
	}
	if _, err := p.UpTo(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if after := dump(); after != before {
		t.Errorf("tenants and runs changed by the lease migration:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO defender.tenant_leases (tenant_id, holder, expires_at) SELECT tenant_id, 'w:1/00', now() FROM defender.tenants`); err != nil {
		t.Fatalf("a lease per tenant: %v", err)
	}
	if _, err := p.DownTo(ctx, lease-1); err != nil {
		t.Fatal(err)
	}
	if after := dump(); after != before {
		t.Errorf("tenants and runs changed by rolling the lease migration back:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestFleetDiffMigrationKeepsEveryRow: the diff function comes and goes
// without touching a stored row, answers on the history stored before it,
// and the reader role may call it.
func TestFleetDiffMigrationKeepsEveryRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.SchemaTwoHistory(t)
	const diff = 14 // 00014_scan_agents_diff.sql
	if _, err := p.UpTo(ctx, diff-1); err != nil {
		t.Fatal(err)
	}
	// Every table holding rows: the leaves of partitioned ones.
	var tables []string
	if err := pool.QueryRow(ctx, `
		SELECT array_agg(oid::regclass::text ORDER BY relname) FROM pg_class
		 WHERE relnamespace = 'defender'::regnamespace AND relkind = 'r'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	before := dbtest.RowVersions(t, pool, tables...)
	if !strings.Contains(before, "-- defender.agent_state\n") || strings.Count(before, "\n") < 50 {
		t.Fatalf("the fixture holds too few rows:\n%s", before)
	}
	var tenants int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM defender.tenants`).Scan(&tenants); err != nil || tenants < 2 {
		t.Fatalf("the fixture holds %d tenants (%v), want several", tenants, err)
	}
	if _, err := p.UpTo(ctx, diff); err != nil {
		t.Fatal(err)
	}
	if after := dbtest.RowVersions(t, pool, tables...); after != before {
		t.Errorf("rows changed by the diff migration:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	var rows, diffTenants int
	if err := pool.QueryRow(ctx, `
		SELECT count(*), count(DISTINCT tenant_id)
		  FROM defender.scan_agents_diff('-infinity', 'infinity')`).Scan(&rows, &diffTenants); err != nil {
		t.Fatal(err)
	}
	if diffTenants != tenants {
		t.Errorf("from nothing to now, the diff shows agents of %d tenants, want %d", diffTenants, tenants)
	}
	var readable bool
	if err := pool.QueryRow(ctx, `
		SELECT has_function_privilege('defender_reader', 'defender.scan_agents_diff(timestamptz, timestamptz, text)', 'EXECUTE')`).Scan(&readable); err != nil {
		t.Fatal(err)
	}
	if !readable {
		t.Error("defender_reader may not execute scan_agents_diff")
	}
	if _, err := p.DownTo(ctx, diff-1); err != nil {
		t.Fatal(err)
	}
	if after := dbtest.RowVersions(t, pool, tables...); after != before {
		t.Errorf("rows changed by rolling the diff migration back:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regprocedure('defender.scan_agents_diff(timestamptz, timestamptz, text)') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("scan_agents_diff outlives its Down migration")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTenantAccessMigrationKeepsEveryRowAndAnswer: migration 00017
// filters every view, table and function of the reporting surface by the
// tenants the reader may see. Up and down on a database with two tenants'
// history, no stored row changes, the owner and defender_reader read the
// same answers from every relation and function, and down restores the
// schema exactly.
func TestTenantAccessMigrationKeepsEveryRowAndAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.SchemaTwoHistory(t)
	const access = 17 // 00017_tenant_access.sql
	if _, err := p.UpTo(ctx, access-1); err != nil {
		t.Fatal(err)
	}
	url := pool.Config().ConnString()
	reader := dbtest.ReaderPool(t, url)
	var tables, relations []string
	if err := pool.QueryRow(ctx, `
		SELECT array_agg(oid::regclass::text ORDER BY oid::regclass::text) FILTER (WHERE relkind = 'r'),
		       array_agg(oid::regclass::text ORDER BY oid::regclass::text) FILTER (WHERE relnamespace = 'defender'::regnamespace)
		  FROM pg_class
		 WHERE relnamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace) AND relkind IN ('r', 'v')`).Scan(&tables, &relations); err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{
		"scan_agents_as_of": `
			SELECT x.at, a.* FROM (SELECT fetched_at AS at FROM defender.sync_runs WHERE fetched_at IS NOT NULL
			                       UNION SELECT fetched_at + interval '17 minutes' FROM defender.sync_runs WHERE fetched_at IS NOT NULL
			                       UNION SELECT 'infinity') x
			 CROSS JOIN LATERAL defender.scan_agents_as_of(x.at) a`,
		"scan_agents_diff": `
			SELECT r.run_id, d.* FROM defender.sync_runs r
			 CROSS JOIN LATERAL defender.scan_agents_diff('-infinity', r.fetched_at) d WHERE r.fetched_at IS NOT NULL`,
		"scan_agents_diff of a tenant": `
			SELECT t.tenant_id AS arg, d.* FROM (SELECT DISTINCT tenant_id FROM defender.sync_runs) t
			 CROSS JOIN LATERAL defender.scan_agents_diff('-infinity', 'infinity', t.tenant_id) d`,
	}
	for _, rel := range relations {
		queries[rel] = `SELECT * FROM ` + rel
	}
	answers := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for name, q := range queries {
			for who, db := range map[string]*pgxpool.Pool{"owner": pool, "defender_reader": reader} {
				rows, err := db.Query(ctx, `SELECT string_agg(x::text, E'\n' ORDER BY x::text) FROM (`+q+`) x`)
				if err != nil {
					t.Fatalf("%s as %s: %v", name, who, err)
				}
				text, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[*string])
				if err != nil {
					t.Fatal(err)
				}
				if text == nil {
					text = new(string)
				}
				out[name+" as "+who] = *text
			}
		}
		return out
	}
	rowsBefore, answersBefore := dbtest.RowVersions(t, pool, tables...), answers()
	if strings.Count(answersBefore["scan_agents_as_of as defender_reader"], "\n") < 50 ||
		answersBefore["defender.scan_agents as owner"] == "" || answersBefore["defender.fleet_daily as defender_reader"] == "" {
		t.Fatal("the fixture answers too little")
	}
	schemaBefore := dumpSchema(t, url)
	compare := func(when string) {
		t.Helper()
		if got := dbtest.RowVersions(t, pool, tables...); got != rowsBefore {
			t.Errorf("%s: stored rows changed", when)
		}
		for name, got := range answers() {
			if got != answersBefore[name] {
				t.Errorf("%s: %s answers differently\nbefore:\n%.2000s\nafter:\n%.2000s", when, name, answersBefore[name], got)
			}
		}
	}
	if _, err := p.UpTo(ctx, access); err != nil {
		t.Fatal(err)
	}
	compare("after 00017")
	if _, err := p.DownTo(ctx, access-1); err != nil {
		t.Fatal(err)
	}
	compare("after rolling 00017 back")
	if got := dumpSchema(t, url); !bytes.Equal(got, schemaBefore) {
		t.Errorf("rolling 00017 back leaves another schema: %s", dbtest.FirstDifference(string(schemaBefore), string(got)))
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRunDigestsComputedOnceAtTheUpgrade: the upgrade gives every
// successful run of the history a digest, marked computed at the upgrade,
// chained in run order within each tenant and resource, and verify finds
// them all; a sync after the upgrade chains on; an edit afterwards is
// named; the Down migration removes the digests and nothing else.
func TestRunDigestsComputedOnceAtTheUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.SchemaTwoHistory(t)
	const digests = 18 // 00018_run_digests.sql
	if _, err := p.UpTo(ctx, digests-1); err != nil {
		t.Fatal(err)
	}
	var tables []string
	if err := pool.QueryRow(ctx, `
		SELECT array_agg(oid::regclass::text ORDER BY relname) FROM pg_class
		 WHERE relnamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace) AND relkind = 'r'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	before := dbtest.RowVersions(t, pool, tables...)
	var succeeded, failed, tenants int
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'), count(DISTINCT tenant_id)
		  FROM defender.sync_runs`).Scan(&succeeded, &failed, &tenants); err != nil {
		t.Fatal(err)
	}
	if succeeded < 10 || failed == 0 || tenants < 2 {
		t.Fatalf("the fixture holds %d successful and %d failed runs of %d tenants: too thin", succeeded, failed, tenants)
	}
	if _, err := p.UpTo(ctx, digests); err != nil {
		t.Fatal(err)
	}
	var digested, atUpgrade, badLinks int
	if err := pool.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE d.computed_at_upgrade),
		       count(*) FILTER (WHERE d.previous_run_id IS DISTINCT FROM (
		           SELECT max(q.run_id) FROM defender.sync_runs q
		            WHERE q.tenant_id = r.tenant_id AND q.resource = r.resource AND q.status = 'succeeded' AND q.run_id < r.run_id))
		  FROM defender_storage.run_digest d JOIN defender.sync_runs r USING (run_id)`).Scan(&digested, &atUpgrade, &badLinks); err != nil {
		t.Fatal(err)
	}
	if digested != succeeded || atUpgrade != succeeded || badLinks != 0 {
		t.Errorf("after the upgrade: %d digests, %d computed at it, %d chained to another run than the previous; want %d, %d, 0",
			digested, atUpgrade, badLinks, succeeded, succeeded)
	}
	if after := dbtest.RowVersions(t, pool, tables...); after != before {
		t.Errorf("rows changed by the upgrade to digests:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// verify (of the latest schema: the digests go on through the
	// upgrades after 00018) finds every chain.
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	chains, err := load.Verify(ctx, pool, "")
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, c := range chains {
		if c.Mismatch != nil || c.ComputedAtUpgrade != c.Runs {
			t.Errorf("chain %s %s after the upgrade: %+v %+v", c.TenantID, c.Resource, c, c.Mismatch)
		}
		runs += c.Runs
	}
	if len(chains) != tenants || runs != succeeded {
		t.Errorf("verify found %d chains of %d runs, want %d of %d", len(chains), runs, tenants, succeeded)
	}

	// A sync after the upgrade (by the loader of the latest schema) chains
	// on the upgrade's head.
	var tenant string
	var head int64
	if err := pool.QueryRow(ctx, `
		SELECT tenant_id, max(run_id) FROM defender.sync_runs WHERE status = 'succeeded' GROUP BY tenant_id ORDER BY 1 LIMIT 1`).Scan(&tenant, &head); err != nil {
		t.Fatal(err)
	}
	l, err := load.New(pool, load.Config{TenantID: tenant, Logger: slog.New(slog.DiscardHandler), Now: time.Now, Worker: "test"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Sync(ctx, func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		return scanagent.ListStats{Requests: 1, Pages: 1, Agents: 1}, fn(scanagent.Record{ID: "47df41a0-0000-4fd6-bbea-000000000099_00000001", MachineID: "m99"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var previous int64
	var upgraded bool
	if err := pool.QueryRow(ctx, `SELECT previous_run_id, computed_at_upgrade FROM defender_storage.run_digest WHERE run_id = $1`, res.RunID).Scan(&previous, &upgraded); err != nil {
		t.Fatal(err)
	}
	if previous != head || upgraded {
		t.Errorf("the run after the upgrade chains run %d (computed at the upgrade: %v), want %d", previous, upgraded, head)
	}
	// An edit of a run from before the upgrade is named.
	var edited int64
	if err := pool.QueryRow(ctx, `
		UPDATE defender.scan_agent_history SET computer_dns_name = 'edited'
		 WHERE history_id = (SELECT min(history_id) FROM defender.scan_agent_history) RETURNING opened_by_run_id`).Scan(&edited); err != nil {
		t.Fatal(err)
	}
	if chains, err = load.Verify(ctx, pool, ""); err != nil || load.Verified(chains) {
		t.Fatalf("verify after an edit: %v, %+v", err, chains)
	}
	named := false
	for _, c := range chains {
		if c.Mismatch != nil {
			named = named || c.Mismatch.RunID == edited
		}
	}
	if !named {
		t.Errorf("verify after editing a version opened by run %d: %+v", edited, chains)
	}

	if _, err := p.DownTo(ctx, digests-1); err != nil {
		t.Fatal(err)
	}
	var left bool
	if err := pool.QueryRow(ctx, `
		SELECT to_regclass('defender_storage.run_digest') IS NOT NULL OR to_regclass('defender_storage.session_write') IS NOT NULL
		    OR to_regclass('defender.run_digests') IS NOT NULL
		    OR to_regprocedure('defender_storage.run_digest_parts(bigint)') IS NOT NULL`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left {
		t.Error("the digests outlive their Down migration")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCompactRunsMigrationKeepsEveryRowAndAnswer: 00019 keeps the runs in
// compact storage behind the view defender.sync_runs, and less of each
// digest's parts. Every relation of schema defender and the functions
// answer the same after it, as the owner and as defender_reader; the
// digests still verify; its Down restores schema 18 exactly with every
// row. A run synced after it survives its Down with a digest that chains.
func TestCompactRunsMigrationKeepsEveryRowAndAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.SchemaTwoHistory(t)
	const compact = 19 // 00019_compact_runs.sql
	if _, err := p.UpTo(ctx, compact-1); err != nil {
		t.Fatal(err)
	}
	url := pool.Config().ConnString()
	reader := dbtest.ReaderPool(t, url)
	var tables, relations []string
	if err := pool.QueryRow(ctx, `
		SELECT array_agg(oid::regclass::text ORDER BY oid::regclass::text) FILTER (WHERE relkind = 'r'),
		       array_agg(oid::regclass::text ORDER BY oid::regclass::text) FILTER (WHERE relnamespace = 'defender'::regnamespace)
		  FROM pg_class
		 WHERE relnamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace) AND relkind IN ('r', 'v')`).Scan(&tables, &relations); err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{
		"scan_agents_as_of": `
			SELECT x.at, a.* FROM (SELECT fetched_at AS at FROM defender.sync_runs WHERE fetched_at IS NOT NULL
			                       UNION SELECT fetched_at + interval '17 minutes' FROM defender.sync_runs WHERE fetched_at IS NOT NULL
			                       UNION SELECT 'infinity') x
			 CROSS JOIN LATERAL defender.scan_agents_as_of(x.at) a`,
		"scan_agents_diff": `
			SELECT r.run_id, d.* FROM defender.sync_runs r
			 CROSS JOIN LATERAL defender.scan_agents_diff('-infinity', r.fetched_at) d WHERE r.fetched_at IS NOT NULL`,
	}
	for _, rel := range relations {
		queries[rel] = `SELECT * FROM ` + rel
	}
	answers := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for name, q := range queries {
			for who, db := range map[string]*pgxpool.Pool{"owner": pool, "defender_reader": reader} {
				var text *string
				if err := db.QueryRow(ctx, `SELECT string_agg(x::text, E'\n' ORDER BY x::text) FROM (`+q+`) x`).Scan(&text); err != nil {
					t.Fatalf("%s as %s: %v", name, who, err)
				}
				if text == nil {
					text = new(string)
				}
				out[name+" as "+who] = *text
			}
		}
		return out
	}
	// Every row of every table of schema 18, by value (the upgrade
	// rewrites some: tenants gains a column, run_digest keeps less).
	contents := func() string {
		t.Helper()
		var b strings.Builder
		for _, table := range tables {
			var text *string
			if err := pool.QueryRow(ctx, `SELECT string_agg(x::text, E'\n' ORDER BY x::text) FROM `+table+` x`).Scan(&text); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			if text != nil {
				b.WriteString("-- " + table + "\n" + *text + "\n")
			}
		}
		return b.String()
	}
	answersBefore, rowsBefore, schemaBefore := answers(), contents(), dumpSchema(t, url)
	if strings.Count(answersBefore["defender.sync_runs as defender_reader"], "\n") < 50 || answersBefore["defender.run_digests as owner"] == "" {
		t.Fatal("the fixture answers too little")
	}
	compare := func(when string) {
		t.Helper()
		for name, got := range answers() {
			if got != answersBefore[name] {
				t.Errorf("%s: %s answers differently\nbefore:\n%.2000s\nafter:\n%.2000s", when, name, answersBefore[name], got)
			}
		}
	}
	if _, err := p.UpTo(ctx, compact); err != nil {
		t.Fatal(err)
	}
	compare("after 00019")
	// The loader and verify read the latest schema: the rows go through
	// the later migrations and back too.
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	chains, err := load.Verify(ctx, pool, "")
	if err != nil || !load.Verified(chains) {
		t.Fatalf("verify after 00019: %v, %+v", err, chains)
	}
	if _, err := p.DownTo(ctx, compact-1); err != nil {
		t.Fatal(err)
	}
	compare("after rolling 00019 back")
	if got := contents(); got != rowsBefore {
		t.Errorf("rolling 00019 back leaves other rows: %s", dbtest.FirstDifference(rowsBefore, got))
	}
	if got := dumpSchema(t, url); !bytes.Equal(got, schemaBefore) {
		t.Errorf("rolling 00019 back leaves another schema: %s", dbtest.FirstDifference(string(schemaBefore), string(got)))
	}

	// A run synced on schema 19 or later, rolled back to 18: its row and
	// digest stay, the digest chaining its parts restored whole.
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	var tenant string
	if err := pool.QueryRow(ctx, `SELECT min(tenant_id) FROM defender.sync_runs`).Scan(&tenant); err != nil {
		t.Fatal(err)
	}
	l, err := load.New(pool, load.Config{TenantID: tenant, Logger: slog.New(slog.DiscardHandler), Now: time.Now, Worker: "test:1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Sync(ctx, func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		return scanagent.ListStats{Requests: 1, Pages: 1, Agents: 1}, fn(scanagent.Record{ID: "47df41a0-0000-4fd6-bbea-000000000098_00000001", MachineID: "m98"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, compact-1); err != nil {
		t.Fatal(err)
	}
	var worker string
	var broken int
	if err := pool.QueryRow(ctx, `
		SELECT (SELECT worker FROM defender.sync_runs WHERE run_id = $1 AND status = 'succeeded' AND agents_seen = 1 AND records_seen = 1),
		       (SELECT count(*) FROM defender_storage.run_digest d
		          LEFT JOIN defender_storage.run_digest p ON p.run_id = d.previous_run_id
		         WHERE d.digest <> defender_storage.chain_digest(p.digest, d.parts) OR octet_length(d.parts) <> 256)`, res.RunID).Scan(&worker, &broken); err != nil {
		t.Fatal(err)
	}
	if worker != "test:1" || broken != 0 {
		t.Errorf("after rolling back a run synced on schema 19: worker %q, %d digests that do not chain their parts", worker, broken)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}
