-- Gathers the statistics of the work table agentsync_work_targets_stored, which
-- autovacuum never does (see analyzeWorkTable).
-- No parameters.
ANALYZE pg_temp.agentsync_work_targets_stored
