-- Creates, unless it exists, the table of the staged definitions that are
-- new (definition_key null), returning or changed (see
-- definitions_compare): the staged columns, in their order, then the
-- comparison's. It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_definition_diff (
	LIKE pg_temp.agentsync_work_definitions,
	definition_key bigint,
	is_returning   boolean,
	changed        boolean
) ON COMMIT PRESERVE ROWS
