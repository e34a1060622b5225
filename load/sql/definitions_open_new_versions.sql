-- Opens a new version for the known definitions of
-- agentsync_work_definition_diff that changed or returned.
-- $1 fetch time, $2 run id.
INSERT INTO defender_storage.definition_version (definition_key, scan_name, scan_type, is_active, interval_hours, target, target_type,
       scanner_agent_id, auth_variant, auth_type, created_by, extra, valid_from, opened_by_run_id)
SELECT d.definition_key, d.scan_name, d.scan_type, d.is_active, d.interval_hours, d.target, d.target_type,
       d.scanner_agent_id, d.auth_variant, d.auth_type, d.created_by, d.extra, $1, $2
  FROM pg_temp.agentsync_work_definition_diff d
 WHERE d.definition_key IS NOT NULL AND (d.changed OR d.is_returning)
