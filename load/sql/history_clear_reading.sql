-- Empties the work tables of a reading of the scan history, so that the
-- next reading of the same sync starts from none.
-- No parameters.
WITH sessions AS (DELETE FROM pg_temp.agentsync_work_sessions),
     diff AS (DELETE FROM pg_temp.agentsync_work_sessions_diff)
DELETE FROM pg_temp.agentsync_work_sessions_diff_ready
