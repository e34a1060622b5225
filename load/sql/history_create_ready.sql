-- Creates, unless it exists, the table of the sessions of a reading whose
-- targets to store, each with its last staged record (see
-- history_choose_ready). It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_sessions_diff_ready (
	session_key bigint NOT NULL,
	seq         bigint NOT NULL
) ON COMMIT PRESERVE ROWS
