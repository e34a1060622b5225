-- Truncates the work tables of a definitions sync before it commits, instead of
-- emptying them (see definitions_empty_work_tables): the room of rows deleted
-- is not used again until the table is truncated, so every few syncs,
-- and after a large one, a sync gives it back.
-- No parameters.
TRUNCATE pg_temp.agentsync_work_definitions, pg_temp.agentsync_work_definitions_unreadable, pg_temp.agentsync_work_definition_diff, pg_temp.agentsync_work_definitions_missing
