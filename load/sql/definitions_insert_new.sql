-- Inserts the new definitions of agentsync_work_definition_diff into
-- definition_state, with their first version.
-- $1 tenant id, $2 fetch time, $3 run id.
WITH inserted AS (
	INSERT INTO defender_storage.definition_state (tenant_id, definition_id, scan_name, scan_type, is_active, interval_hours, target, target_type,
       scanner_agent_id, auth_variant, auth_type, created_by, extra,
	                                       first_seen_at, first_seen_run_id)
	SELECT $1, d.definition_id, d.scan_name, d.scan_type, d.is_active, d.interval_hours, d.target, d.target_type,
       d.scanner_agent_id, d.auth_variant, d.auth_type, d.created_by, d.extra, $2, $3
	  FROM pg_temp.agentsync_work_definition_diff d
	 WHERE d.definition_key IS NULL
	RETURNING *
)
INSERT INTO defender_storage.definition_version (definition_key, scan_name, scan_type, is_active, interval_hours, target, target_type,
       scanner_agent_id, auth_variant, auth_type, created_by, extra, valid_from, opened_by_run_id)
SELECT i.definition_key, i.scan_name, i.scan_type, i.is_active, i.interval_hours, i.target, i.target_type,
       i.scanner_agent_id, i.auth_variant, i.auth_type, i.created_by, i.extra, $2, $3 FROM inserted i
