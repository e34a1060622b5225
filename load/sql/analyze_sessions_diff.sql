-- Gathers the statistics of the work table agentsync_work_sessions_diff, which
-- autovacuum never does (see analyzeWorkTable).
-- No parameters.
ANALYZE pg_temp.agentsync_work_sessions_diff
