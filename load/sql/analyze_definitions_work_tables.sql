-- Gathers the statistics of the work tables of a definitions sync once,
-- when they are created empty (see analyzeOnce).
-- No parameters.
ANALYZE pg_temp.agentsync_work_definitions, pg_temp.agentsync_work_definitions_unreadable, pg_temp.agentsync_work_definition_diff,
        pg_temp.agentsync_work_definitions_missing
