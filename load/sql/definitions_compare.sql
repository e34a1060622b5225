-- Compares the staged definitions with the stored ones and keeps in
-- agentsync_work_definition_diff those new (definition_key null), returning or
-- with a changed versioned attribute: the staged columns, then the
-- comparison's, in the table's order.
-- $1 tenant id.
INSERT INTO pg_temp.agentsync_work_definition_diff
SELECT * FROM (
	SELECT s.*, d.definition_key, d.deleted_at IS NOT NULL AS is_returning,
	       (d.scan_name, d.scan_type, d.is_active, d.interval_hours, d.target, d.target_type,
       d.scanner_agent_id, d.auth_variant, d.auth_type, d.created_by, d.extra) IS DISTINCT FROM
	       (s.scan_name, s.scan_type, s.is_active, s.interval_hours, s.target, s.target_type,
       s.scanner_agent_id, s.auth_variant, s.auth_type, s.created_by, s.extra) AS changed
	  FROM pg_temp.agentsync_work_definitions s
	  LEFT JOIN defender_storage.definition_state d ON d.tenant_id = $1 AND d.definition_id = s.definition_id) x
 WHERE x.definition_key IS NULL OR x.is_returning OR x.changed
