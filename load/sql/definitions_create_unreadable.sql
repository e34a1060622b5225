-- Creates, unless it exists, the table of the ids of the definitions
-- listed but unreadable. It belongs to the session; its rows go at the end
-- of each transaction.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_definitions_unreadable (
	definition_id text NOT NULL
) ON COMMIT DELETE ROWS
