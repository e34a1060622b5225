-- Stores the closed day of every agent active at the tenant's previous
-- sync: copies the tenant's rows of the view agent_daily_open (the day of
-- its previous sync, as that sync saw its active agents) into
-- agent_daily. The view already adds what an earlier stretch of the same
-- day stored, so a stored row is replaced. Runs before a sync changes
-- anything. The sibling rollup_store_day_of_deleted stores the same rows
-- for the agents about to be marked deleted only.
-- $1 tenant id.
INSERT INTO defender_storage.agent_daily (agent_key, day, run_id, synced_at, computer_dns_name, mde_client_version,
                                  scanner_software_version, last_seen, last_command_execution_at, syncs_observed)
SELECT o.agent_key, o.day, o.run_id, o.synced_at, o.computer_dns_name, o.mde_client_version,
       o.scanner_software_version, o.last_seen, o.last_command_execution_at, o.syncs_observed
  FROM defender.agent_daily_open o
 WHERE o.tenant_id = $1
ON CONFLICT (agent_key, day) DO UPDATE
   SET run_id = excluded.run_id,
       synced_at = excluded.synced_at,
       computer_dns_name = excluded.computer_dns_name,
       mde_client_version = excluded.mde_client_version,
       scanner_software_version = excluded.scanner_software_version,
       last_seen = excluded.last_seen,
       last_command_execution_at = excluded.last_command_execution_at,
       syncs_observed = excluded.syncs_observed
