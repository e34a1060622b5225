-- Creates, unless it exists, the table of the agents whose descriptive row must be written.
-- It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_diff (
	LIKE pg_temp.agentsync_work_staging,
	agent_key           bigint  NOT NULL,
	is_new              boolean NOT NULL,
	is_returning        boolean NOT NULL,
	descriptive_changed boolean NOT NULL,
	fingerprint_changed boolean NOT NULL
) ON COMMIT PRESERVE ROWS
