-- Gathers the statistics of the work tables of a history sync once, when
-- they are created empty (see analyzeOnce).
-- No parameters.
ANALYZE pg_temp.agentsync_work_sessions, pg_temp.agentsync_work_sessions_diff, pg_temp.agentsync_work_sessions_diff_ready,
        pg_temp.agentsync_work_targets_stored
