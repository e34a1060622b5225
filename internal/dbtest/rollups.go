package dbtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rollupOracle computes the daily rollups from their definition, through
// scan_agents_as_of at every successful run (which the loader's tests check
// against what each run saw), and lists the rows where scan_agent_daily or
// fleet_daily differ from it.
//
// An agent is active at a run when the run returned it or withheld its
// deletion. Its row of a day describes the day's last run at which it was
// active, with the values the latest run that returned it saw, and counts
// the runs of the day that returned it.
const rollupOracle = `
WITH runs AS (
    SELECT run_id, tenant_id, fetched_at, defender.utc_day(fetched_at) AS day
      FROM defender.sync_runs WHERE status = 'succeeded' AND resource = 'agents'
), returned AS (
    SELECT r.run_id, r.tenant_id, r.fetched_at, r.day, a.agent_id, a.computer_dns_name,
           a.mde_client_version, a.scanner_software_version, a.last_seen, a.last_command_execution_at
      FROM runs r
     CROSS JOIN LATERAL defender.scan_agents_as_of(r.fetched_at) a
     WHERE a.tenant_id = r.tenant_id
), active AS (
    SELECT run_id, tenant_id, fetched_at, day, agent_id, true AS returned FROM returned
    UNION ALL
    SELECT r.run_id, r.tenant_id, r.fetched_at, r.day, s.agent_id, false
      FROM defender_storage.withheld_deletions w
      JOIN runs r ON r.run_id = w.run_id
      JOIN defender_storage.agent_state s ON s.agent_key = w.agent_key
), last_active AS (
    SELECT DISTINCT ON (x.tenant_id, x.agent_id, x.day) x.tenant_id, x.agent_id, x.day, x.run_id, x.fetched_at,
           count(*) FILTER (WHERE x.returned) OVER (PARTITION BY x.tenant_id, x.agent_id, x.day) AS syncs
      FROM active x
     ORDER BY x.tenant_id, x.agent_id, x.day, x.fetched_at DESC
), expected AS (
    SELECT e.tenant_id, e.agent_id, e.day, v.computer_dns_name, v.mde_client_version,
           v.scanner_software_version, v.last_seen, e.fetched_at - v.last_seen AS staleness,
           e.syncs::integer AS syncs_observed, v.last_command_execution_at, e.run_id AS as_of_run_id,
           e.fetched_at AS as_of_fetched_at
      FROM last_active e
     CROSS JOIN LATERAL (SELECT * FROM returned r
                          WHERE r.tenant_id = e.tenant_id AND r.agent_id = e.agent_id
                            AND r.fetched_at <= e.fetched_at
                          ORDER BY r.fetched_at DESC LIMIT 1) v
), actual AS (
    SELECT tenant_id, agent_id, day, computer_dns_name, mde_client_version, scanner_software_version,
           last_seen, staleness, syncs_observed, last_command_execution_at, as_of_run_id, as_of_fetched_at
      FROM defender.scan_agent_daily
), day_end AS (
    SELECT DISTINCT ON (tenant_id, day) tenant_id, day, run_id, fetched_at, count(*) OVER w AS syncs
      FROM runs
    WINDOW w AS (PARTITION BY tenant_id, day)
     ORDER BY tenant_id, day, fetched_at DESC
), fleet AS (
    SELECT d.tenant_id, d.day, e.mde_client_version, defender.version_key(e.mde_client_version) AS key,
           e.last_seen, d.fetched_at
      FROM day_end d
      JOIN expected e ON e.tenant_id = d.tenant_id AND e.day = d.day AND e.as_of_run_id = d.run_id
), newest AS (
    SELECT DISTINCT ON (tenant_id, day) tenant_id, day, key, mde_client_version AS version
      FROM fleet WHERE key IS NOT NULL
     ORDER BY tenant_id, day, key DESC, length(mde_client_version) DESC, mde_client_version
), fleet_expected AS (
    SELECT d.tenant_id, d.day,
           (SELECT count(*) FROM fleet f WHERE f.tenant_id = d.tenant_id AND f.day = d.day)::integer AS active_agents,
           (SELECT count(*) FROM fleet f WHERE f.tenant_id = d.tenant_id AND f.day = d.day
               AND f.last_seen <= f.fetched_at - interval '7 days')::integer AS stale_7d_agents,
           (SELECT count(*) FROM fleet f WHERE f.tenant_id = d.tenant_id AND f.day = d.day
               AND f.last_seen IS NULL)::integer AS never_seen_agents,
           n.version AS newest_mde_client_version,
           (SELECT count(*) FROM fleet f WHERE f.tenant_id = d.tenant_id AND f.day = d.day
               AND f.key = n.key)::integer AS agents_on_newest,
           coalesce((SELECT jsonb_object_agg(v.mde_client_version, v.agents)
                       FROM (SELECT f.mde_client_version, count(*) AS agents FROM fleet f
                              WHERE f.tenant_id = d.tenant_id AND f.day = d.day AND f.mde_client_version IS NOT NULL
                              GROUP BY f.mde_client_version) v), '{}') AS mde_client_versions,
           d.syncs::integer AS syncs, d.run_id AS as_of_run_id, d.fetched_at AS as_of_fetched_at
      FROM day_end d
      LEFT JOIN newest n ON n.tenant_id = d.tenant_id AND n.day = d.day
), fleet_actual AS (
    SELECT tenant_id, day, active_agents, stale_7d_agents, never_seen_agents, newest_mde_client_version,
           agents_on_newest, mde_client_versions, syncs, as_of_run_id, as_of_fetched_at
      FROM defender.fleet_daily
)
SELECT 'scan_agent_daily lacks ' || x::text FROM (SELECT * FROM expected EXCEPT SELECT * FROM actual) x
UNION ALL
SELECT 'scan_agent_daily has unexpected ' || x::text FROM (SELECT * FROM actual EXCEPT SELECT * FROM expected) x
UNION ALL
SELECT 'fleet_daily lacks ' || x::text FROM (SELECT * FROM fleet_expected EXCEPT SELECT * FROM fleet_actual) x
UNION ALL
SELECT 'fleet_daily has unexpected ' || x::text FROM (SELECT * FROM fleet_actual EXCEPT SELECT * FROM fleet_expected) x
UNION ALL
SELECT 'fleet_daily_versions lacks ' || x::text FROM (
    SELECT f.tenant_id, f.day, e.key, e.value::integer FROM defender.fleet_daily f CROSS JOIN LATERAL jsonb_each_text(f.mde_client_versions) e
    EXCEPT SELECT tenant_id, day, mde_client_version, agents FROM defender.fleet_daily_versions) x
UNION ALL
SELECT 'fleet_daily_versions has unexpected ' || x::text FROM (
    SELECT tenant_id, day, mde_client_version, agents FROM defender.fleet_daily_versions
    EXCEPT SELECT f.tenant_id, f.day, e.key, e.value::integer FROM defender.fleet_daily f CROSS JOIN LATERAL jsonb_each_text(f.mde_client_versions) e) x`

// RollupMismatches lists, one line each, the rows of scan_agent_daily and
// fleet_daily that differ from their definition; none when the rollups are
// exact.
func RollupMismatches(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	return oracleLines(t, pool, "rollup oracle", rollupOracle)
}

// targetStatusOracle lists the rows of target_status that differ from its
// definition (target_status_of, computed for every tenant).
const targetStatusOracle = `
WITH expected AS (
    SELECT n.* FROM defender_storage.tenants t CROSS JOIN LATERAL defender_storage.target_status_of(t.tenant_id) n
)
SELECT 'target_status lacks ' || x::text FROM (SELECT * FROM expected EXCEPT SELECT * FROM defender_storage.target_status) x
UNION ALL
SELECT 'target_status has unexpected ' || x::text FROM (SELECT * FROM defender_storage.target_status EXCEPT SELECT * FROM expected) x`

// TargetStatusMismatches lists, one line each, the rows of target_status
// (behind scan_target_status) that differ from what target_coverage, the
// definitions and the targets say now; none when the loader kept it.
func TargetStatusMismatches(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	return oracleLines(t, pool, "target status oracle", targetStatusOracle)
}

// oracleLines runs an oracle, a query of one line of text per mismatch,
// and returns its lines.
func oracleLines(t testing.TB, pool *pgxpool.Pool, what, oracle string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), oracle)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return lines
}
