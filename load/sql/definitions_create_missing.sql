-- Creates, unless it exists, the table of the tenant's active definitions
-- a complete listing lacks. It belongs to the session; its rows go at the
-- end of each transaction.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_definitions_missing (
	definition_key bigint NOT NULL
) ON COMMIT DELETE ROWS
