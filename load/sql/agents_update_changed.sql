-- Rewrites the agent_state row of the known agents of agentsync_work_diff (a
-- change, a return, or a fingerprint to store); a returning agent is
-- active again from this sync.
-- $1 fetch time.
UPDATE defender_storage.agent_state a
   SET machine_id = d.machine_id,
       computer_dns_name = d.computer_dns_name,
       assigned_application_id = d.assigned_application_id,
       scanner_software_version = d.scanner_software_version,
       mde_client_version = d.mde_client_version,
       extra = d.extra,
       fingerprint = d.fingerprint,
       active_since = CASE WHEN d.is_returning THEN $1 ELSE a.active_since END,
       deleted_at = NULL,
       deleted_by_run_id = NULL
  FROM pg_temp.agentsync_work_diff d
 WHERE a.agent_key = d.agent_key AND NOT d.is_new
