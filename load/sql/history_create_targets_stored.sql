-- Creates the table of the sessions whose targets a sync stored, which
-- update target coverage (dropped at commit).
-- No parameters.
CREATE TEMPORARY TABLE agentsync_targets_stored (session_key bigint PRIMARY KEY) ON COMMIT DROP
