-- Marks the sessions of agentsync_work_sessions_diff_ready as having their
-- targets stored by the run (history_insert_new marked those it
-- inserted), and keeps them all in agentsync_work_targets_stored.
-- $1 run id.
WITH marked AS (
	-- The keys as an array: session_result is read by its index,
	-- whatever the planner guesses of the size of the work table.
	UPDATE defender_storage.session_result s SET targets_run_id = $1
	 WHERE s.session_key = ANY (ARRAY(SELECT r.session_key FROM pg_temp.agentsync_work_sessions_diff_ready r))
	   AND s.targets_run_id IS NULL
)
INSERT INTO pg_temp.agentsync_work_targets_stored SELECT session_key FROM pg_temp.agentsync_work_sessions_diff_ready ON CONFLICT DO NOTHING
