package dbtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// AgentAnswers are queries whose answers a migration must keep: every
// column users could read of the agents at schema version 2, rendered as
// text.
var AgentAnswers = map[string]string{
	"scan_agents_as_of at every run and between runs": `
		SELECT x.at, a.tenant_id, a.agent_id, a.machine_id, a.computer_dns_name, a.assigned_application_id,
		       a.scanner_software_version, a.mde_client_version, a.last_seen, a.last_command_execution_at, a.extra
		  FROM (SELECT fetched_at AS at FROM defender.sync_runs WHERE fetched_at IS NOT NULL
		        UNION SELECT fetched_at + interval '17 minutes' FROM defender.sync_runs WHERE fetched_at IS NOT NULL
		        UNION SELECT started_at - interval '1 second' FROM defender.sync_runs) x
		 CROSS JOIN LATERAL defender.scan_agents_as_of(x.at) a`,
	"scan_agents": `
		SELECT tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id, scanner_software_version,
		       mde_client_version, last_seen, last_command_execution_at, extra, first_seen_at, last_synced_at, deleted_at
		  FROM defender.scan_agents`,
	"scan_agent_history": `
		SELECT history_id, tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
		       scanner_software_version, mde_client_version, extra, valid_from, valid_to, opened_by_run_id, closed_by_run_id
		  FROM defender.scan_agent_history`,
	"scan_agent_observations": `
		SELECT tenant_id, agent_id, run_id, observed_at, last_seen, last_command_execution_at
		  FROM defender.scan_agent_observations`,
	"scan_agent_changes": `
		SELECT tenant_id, agent_id, changed_at, attribute, old_value, new_value, run_id
		  FROM defender.scan_agent_changes`,
	"version_drift": `SELECT * FROM defender.version_drift`,
	// agents_changed counted heartbeat-only agents before migration 12,
	// which counts them apart: their sum is what it counted.
	"sync_runs": `
		SELECT run_id, tenant_id, started_at, fetched_at, finished_at, status, agents_seen, agents_inserted,
		       agents_changed + coalesce((pg_catalog.to_jsonb(r) ->> 'agents_heartbeat_only')::integer, 0),
		       agents_unchanged, agents_deleted, deletions_withheld, agents_rejected,
		       api_requests, error, worker
		  FROM defender.sync_runs r`,
}

// LaterAnswers are the answers of what schema version 11 added to
// AgentAnswers: the rollups and the scans. A view that reads the clock
// (an age, "overdue") answers the same within one test.
var LaterAnswers = map[string]string{
	"scan_agent_daily":        `SELECT * FROM defender.scan_agent_daily`,
	"fleet_daily":             `SELECT * FROM defender.fleet_daily`,
	"scan_definitions":        `SELECT * FROM defender.scan_definitions`,
	"scan_definition_history": `SELECT * FROM defender.scan_definition_history`,
	"scan_definition_changes": `SELECT * FROM defender.scan_definition_changes`,
	"scan_sessions":           `SELECT * FROM defender.scan_sessions`,
	"scan_targets":            `SELECT * FROM defender.scan_targets`,
	"scan_coverage":           `SELECT * FROM defender.scan_coverage`,
	"scan_target_status":      `SELECT * FROM defender.scan_target_status`,
}

// Answer renders every row query answers as text, sorted.
func Answer(t testing.TB, pool *pgxpool.Pool, query string) string {
	t.Helper()
	var b strings.Builder
	renderRows(t, pool, &b, `SELECT x::text FROM (`+query+`) x ORDER BY 1`)
	return b.String()
}

// FirstDifference shows the first line where want and got (answers, row
// dumps, schema dumps) differ, or "(none)".
func FirstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d\n  want: %q\n  got:  %q", i+1, wl, gl)
		}
	}
	return "(none)"
}
