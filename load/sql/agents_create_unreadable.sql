-- Creates, unless it exists, the table of the ids of agents listed but unreadable.
-- It belongs to the session; its rows go at the end of each transaction.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_unreadable (
	agent_id text NOT NULL
) ON COMMIT DELETE ROWS
