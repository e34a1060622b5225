-- Stores today's row of the agents about to be marked deleted (those of
-- agentsync_work_missing), as the previous sync of today saw them: copies their
-- rows of the view agent_daily_open into agent_daily, replacing a stored
-- row (the view already adds what an earlier stretch of the day stored).
-- The sibling rollup_store_closed_day stores every agent's row.
-- $1 tenant id.
INSERT INTO defender_storage.agent_daily (agent_key, day, run_id, synced_at, computer_dns_name, mde_client_version,
                                  scanner_software_version, last_seen, last_command_execution_at, syncs_observed)
SELECT o.agent_key, o.day, o.run_id, o.synced_at, o.computer_dns_name, o.mde_client_version,
       o.scanner_software_version, o.last_seen, o.last_command_execution_at, o.syncs_observed
  FROM defender.agent_daily_open o
 WHERE o.tenant_id = $1 AND o.agent_key IN (SELECT m.agent_key FROM pg_temp.agentsync_work_missing m)
ON CONFLICT (agent_key, day) DO UPDATE
   SET run_id = excluded.run_id,
       synced_at = excluded.synced_at,
       computer_dns_name = excluded.computer_dns_name,
       mde_client_version = excluded.mde_client_version,
       scanner_software_version = excluded.scanner_software_version,
       last_seen = excluded.last_seen,
       last_command_execution_at = excluded.last_command_execution_at,
       syncs_observed = excluded.syncs_observed
