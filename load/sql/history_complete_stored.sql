-- Rewrites the stored sessions that a reading completes or corrects.
-- $1 fetch time, $2 run id.
UPDATE defender_storage.session_result r
   SET (definition_id, session_id, scanner_id, scanner_agent_id, status, scanned_at, targets, succeeded_targets, general_error, extra) = (d.definition_id, d.session_id, d.scanner_id, d.scanner_agent_id, d.status, d.scanned_at,
                  d.targets, d.succeeded_targets, d.general_error, d.extra),
       source = 'history', updated_at = $1, updated_by_run_id = $2
  FROM pg_temp.agentsync_work_sessions_diff d
 WHERE r.session_key = d.session_key AND d.changed
   -- The keys again as an array: session_result is read by its index,
   -- whatever the planner guesses of the size of the work table.
   AND r.session_key = ANY (ARRAY(SELECT c.session_key FROM pg_temp.agentsync_work_sessions_diff c WHERE c.changed))
