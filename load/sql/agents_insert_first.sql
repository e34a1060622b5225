-- Inserts a tenant's first agents (none stored yet): every staged record
-- is new, gets its key and its number in the tenant (in the listing's
-- order) as it is inserted, and fills agent_state and the
-- first version of scan_agent_history straight from agentsync_work_staging.
-- Returns each new agent's heartbeat (agent_key, agent_no, last_seen,
-- last_command_execution_at, false) when it has one. The sibling
-- agents_insert_new does the same for a tenant with stored agents.
-- $1 tenant id, $2 fetch time, $3 run id.
WITH d AS (
	SELECT s.*, pg_catalog.nextval('defender_storage.agent_state_agent_key_seq') AS agent_key,
	       pg_catalog.row_number() OVER (ORDER BY s.seq) AS agent_no
	  FROM pg_temp.agentsync_work_staging s
), inserted AS (
	INSERT INTO defender_storage.agent_state (
		agent_key, tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
		scanner_software_version, mde_client_version, extra, fingerprint,
		first_seen_at, first_seen_run_id, active_since, agent_no)
	OVERRIDING SYSTEM VALUE
	SELECT d.agent_key, $1, d.agent_id, d.machine_id, d.computer_dns_name, d.assigned_application_id,
	       d.scanner_software_version, d.mde_client_version, d.extra, d.fingerprint, $2, $3, $2, d.agent_no
	  FROM d
), history AS (
	INSERT INTO defender.scan_agent_history (
		agent_key, tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
		scanner_software_version, mde_client_version, extra, valid_from, opened_by_run_id)
	SELECT d.agent_key, $1, d.agent_id, d.machine_id, d.computer_dns_name, d.assigned_application_id,
	       d.scanner_software_version, d.mde_client_version, d.extra, $2, $3
	  FROM d
), born AS (
	SELECT d.agent_key, d.agent_no, d.last_seen, d.last_command_execution_at
	  FROM d
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
