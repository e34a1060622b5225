-- Keeps in agentsync_work_sessions_diff_ready the sessions
-- of the reading that reported targets and have none stored yet (those
-- just inserted among them), each with its last staged record.
-- No parameters.
INSERT INTO pg_temp.agentsync_work_sessions_diff_ready (session_key, seq)
SELECT DISTINCT ON (d.session_key) d.session_key, d.seq
  FROM pg_temp.agentsync_work_sessions_diff d
  JOIN defender_storage.session_result r ON r.session_key = d.session_key
 WHERE d.targets_reported AND (d.inserted OR r.targets_run_id IS NULL)
   -- The keys again as an array: session_result is read by its index,
   -- whatever the planner guesses of the size of the work table.
   AND r.session_key = ANY (ARRAY(SELECT t.session_key FROM pg_temp.agentsync_work_sessions_diff t WHERE t.targets_reported))
 ORDER BY d.session_key, d.seq DESC
