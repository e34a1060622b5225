-- Creates, unless it exists, the staging table of a reading of the scan
-- history, which COPY fills: a session makes one row with ordinal -1, then
-- one row per target. It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_sessions (
	seq               bigint  NOT NULL,
	ordinal           integer NOT NULL,
	definition_id     text,
	session_id        text,
	scanner_id        text,
	status            text,
	scanned_at        timestamptz,
	targets           integer,
	succeeded_targets integer,
	general_error     text,
	extra             jsonb,
	targets_reported  boolean,
	ip                text,
	hostname          text,
	description       text,
	target_status     text,
	error_message     text,
	duration          interval,
	target_extra      jsonb,
	fingerprint       bytea
) ON COMMIT PRESERVE ROWS
