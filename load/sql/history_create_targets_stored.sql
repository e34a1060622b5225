-- Creates, unless it exists, the table of the sessions whose targets a
-- sync stored, which update target coverage. It belongs to the session;
-- its rows go at the end of each transaction.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_targets_stored (session_key bigint PRIMARY KEY) ON COMMIT DELETE ROWS
