-- Creates, unless it exists, the table of the ids of the definitions
-- listed but unreadable. It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_definitions_unreadable (
	definition_id text NOT NULL
) ON COMMIT PRESERVE ROWS
