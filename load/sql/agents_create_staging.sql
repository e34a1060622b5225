-- Creates, unless it exists, the staging table of an agents sync: the records of the listing that
-- may change something (see knownAgents), as COPY streams them in.
-- It belongs to the session; a sync empties it before it commits.
-- No parameters.
CREATE TEMPORARY TABLE IF NOT EXISTS agentsync_work_staging (
	seq                       bigint NOT NULL,
	agent_id                  text   NOT NULL,
	machine_id                text,
	computer_dns_name         text,
	assigned_application_id   text,
	scanner_software_version  text,
	mde_client_version        text,
	last_seen                 timestamptz,
	last_command_execution_at timestamptz,
	extra                     jsonb  NOT NULL,
	fingerprint               bytea  NOT NULL
) ON COMMIT PRESERVE ROWS
