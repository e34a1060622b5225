-- Creates, unless it exists, the table of the heartbeat blocks of a large sync, as COPY
-- streams them in (see writeHeartbeats).
-- It belongs to the session; its rows go at the end of each transaction.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_heartbeats (
	block                     bigint        NOT NULL,
	last_seen                 timestamptz[] NOT NULL,
	last_command_execution_at timestamptz[] NOT NULL
) ON COMMIT DELETE ROWS
