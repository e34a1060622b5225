-- Rewrites the definition_state row of the known definitions of
-- agentsync_work_definition_diff that changed or returned (a returning one is
-- no longer deleted).
-- No parameters.
UPDATE defender_storage.definition_state s
   SET (scan_name, scan_type, is_active, interval_hours, target, target_type,
       scanner_agent_id, auth_variant, auth_type, created_by, extra) =
       (d.scan_name, d.scan_type, d.is_active, d.interval_hours, d.target, d.target_type,
       d.scanner_agent_id, d.auth_variant, d.auth_type, d.created_by, d.extra),
       deleted_at = NULL, deleted_by_run_id = NULL
  FROM pg_temp.agentsync_work_definition_diff d
 WHERE s.definition_key = d.definition_key AND (d.changed OR d.is_returning)
   -- The keys again as an array: definition_state is read by its index, whatever
   -- the planner guesses of the size of the work table.
   AND s.definition_key = ANY (ARRAY(SELECT c.definition_key FROM pg_temp.agentsync_work_definition_diff c
                                      WHERE c.changed OR c.is_returning))
