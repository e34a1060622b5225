-- Opens a new history version for the known agents of agentsync_work_diff
-- that changed a descriptive value or returned.
-- $1 tenant id, $2 fetch time, $3 run id.
INSERT INTO defender.scan_agent_history (
	agent_key, tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
	scanner_software_version, mde_client_version, extra, valid_from, opened_by_run_id)
SELECT d.agent_key, $1, d.agent_id, d.machine_id, d.computer_dns_name, d.assigned_application_id,
       d.scanner_software_version, d.mde_client_version, d.extra, $2, $3
  FROM pg_temp.agentsync_work_diff d
 WHERE NOT d.is_new AND (d.descriptive_changed OR d.is_returning)
