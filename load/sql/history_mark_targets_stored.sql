-- Marks the sessions of agentsync_sessions_diff_ready as having their
-- targets stored by the run, and keeps them in agentsync_targets_stored.
-- $1 run id.
WITH marked AS (
	UPDATE defender_storage.session_result s SET targets_run_id = $1
	  FROM pg_temp.agentsync_sessions_diff_ready r WHERE s.session_key = r.session_key
	RETURNING s.session_key
)
INSERT INTO pg_temp.agentsync_targets_stored SELECT session_key FROM marked ON CONFLICT DO NOTHING
