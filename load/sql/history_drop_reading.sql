-- Drops the work tables of a reading of the scan history, so that the
-- next reading of the same sync starts from none.
-- No parameters.
DROP TABLE IF EXISTS pg_temp.agentsync_sessions, pg_temp.agentsync_sessions_diff, pg_temp.agentsync_sessions_diff_ready
