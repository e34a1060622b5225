-- Stages a listing of definitions, given as one JSON array of rows keyed
-- by the columns of agentsync_work_definitions (definitions are few: one
-- parameter, in the round trip that compares them, costs less than a
-- COPY of its own).
-- $1 the rows (jsonb).
INSERT INTO pg_temp.agentsync_work_definitions
SELECT * FROM pg_catalog.jsonb_to_recordset($1::jsonb) AS x(
	seq                   bigint,
	definition_id         text,
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
	extra                 jsonb,
	latest_status         text,
	latest_failure_reason text,
	latest_executed_at    timestamptz
)
