-- Inserts the new agents of a tenant with stored agents: those of
-- agentsync_work_diff marked is_new (their keys taken by agents_compare) go
-- into agent_state, numbered after the tenant's agents in the order of
-- their keys, and get their first version in scan_agent_history.
-- Returns, in one round trip, the heartbeat of each new agent that has one
-- (agent_key, agent_no, last_seen, last_command_execution_at, false) and
-- of each staged known agent whose heartbeat differs from its stored row
-- (agent_key, agent_no, last_seen, last_command_execution_at, whether the
-- move is its only change). The sibling agents_insert_first does the same
-- for a tenant's first agents.
-- $1 tenant id, $2 fetch time, $3 run id.
WITH numbered AS (
	SELECT d.*,
	       (SELECT coalesce(max(n.agent_no), 0) FROM defender_storage.agent_state n WHERE n.tenant_id = $1)
	         + pg_catalog.row_number() OVER (ORDER BY d.agent_key) AS agent_no
	  FROM pg_temp.agentsync_work_diff d WHERE d.is_new
), inserted AS (
	INSERT INTO defender_storage.agent_state (
		agent_key, tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
		scanner_software_version, mde_client_version, extra, fingerprint,
		first_seen_at, first_seen_run_id, active_since, agent_no)
	OVERRIDING SYSTEM VALUE
	SELECT d.agent_key, $1, d.agent_id, d.machine_id, d.computer_dns_name, d.assigned_application_id,
	       d.scanner_software_version, d.mde_client_version, d.extra, d.fingerprint, $2, $3, $2, d.agent_no
	  FROM numbered d
), history AS (
	INSERT INTO defender.scan_agent_history (
		agent_key, tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
		scanner_software_version, mde_client_version, extra, valid_from, opened_by_run_id)
	SELECT d.agent_key, $1, d.agent_id, d.machine_id, d.computer_dns_name, d.assigned_application_id,
	       d.scanner_software_version, d.mde_client_version, d.extra, $2, $3
	  FROM pg_temp.agentsync_work_diff d WHERE d.is_new
), born AS (
	SELECT d.agent_key, d.agent_no, d.last_seen, d.last_command_execution_at
	  FROM numbered d
), moved AS (
	SELECT a.agent_key, a.agent_no, s.last_seen, s.last_command_execution_at
	  FROM pg_temp.agentsync_work_staging s
	  JOIN defender_storage.agent_state a ON a.tenant_id = $1 AND a.agent_id = s.agent_id
	  LEFT JOIN defender_storage.agent_heartbeat hb ON hb.agent_key = a.agent_key
	 WHERE (hb.last_seen, hb.last_command_execution_at) IS DISTINCT FROM (s.last_seen, s.last_command_execution_at)
)
SELECT b.agent_key, b.agent_no, b.last_seen, b.last_command_execution_at, false
  FROM born b
 WHERE b.last_seen IS NOT NULL OR b.last_command_execution_at IS NOT NULL
UNION ALL
-- A known agent's move is a change of its own when nothing else of it
-- changed.
SELECT m.agent_key, m.agent_no, m.last_seen, m.last_command_execution_at,
       NOT EXISTS (SELECT FROM pg_temp.agentsync_work_diff d
                    WHERE d.agent_key = m.agent_key AND (d.is_new OR d.is_returning OR d.descriptive_changed))
  FROM moved m
