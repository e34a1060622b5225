-- Truncates the work tables of a history sync before it commits, instead of
-- emptying them (see history_empty_work_tables): the room of rows deleted
-- is not used again until the table is truncated, so every few syncs,
-- and after a large one, a sync gives it back.
-- No parameters.
TRUNCATE pg_temp.agentsync_work_sessions, pg_temp.agentsync_work_sessions_diff, pg_temp.agentsync_work_sessions_diff_ready, pg_temp.agentsync_work_targets_stored
