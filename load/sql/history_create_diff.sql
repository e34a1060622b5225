-- Creates, unless it exists, the table of the staged sessions compared
-- with the stored ones (see history_compare). It belongs to the session;
-- a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_sessions_diff (
	seq               bigint  NOT NULL,
	targets_reported  boolean,
	fingerprint       bytea,
	session_key       bigint,
	definition_id     text,
	session_id        text,
	scanner_id        text,
	scanner_agent_id  text,
	status            text,
	scanned_at        timestamptz,
	targets           integer,
	succeeded_targets integer,
	general_error     text,
	extra             jsonb,
	changed           boolean,
	inserted          boolean NOT NULL
) ON COMMIT PRESERVE ROWS
