-- Creates, unless it exists, the table of the active agents the listing lacks.
-- It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_missing (
	agent_key bigint NOT NULL
) ON COMMIT PRESERVE ROWS
