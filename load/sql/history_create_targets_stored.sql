-- Creates, unless it exists, the table of the sessions whose targets a
-- sync stored, which update target coverage. It belongs to the session;
-- a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_targets_stored (session_key bigint PRIMARY KEY) ON COMMIT PRESERVE ROWS
