-- Creates, unless it exists, the table of the tenant's active definitions
-- a complete listing lacks. It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_definitions_missing (
	definition_key bigint NOT NULL
) ON COMMIT PRESERVE ROWS
