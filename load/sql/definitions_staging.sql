-- Creates, unless it exists, the staging table of a definitions sync,
-- which COPY fills with the listing. It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_definitions (
	seq                   bigint  NOT NULL,
	definition_id         text    NOT NULL,
	scan_name             text,
	scan_type             text,
	is_active             boolean,
	interval_hours        integer,
	target                text,
	target_type           text,
	scanner_agent_id      text,
	auth_variant          text,
	auth_type             text,
	created_by            text,
	extra                 jsonb   NOT NULL,
	latest_status         text,
	latest_failure_reason text,
	latest_executed_at    timestamptz
) ON COMMIT PRESERVE ROWS
