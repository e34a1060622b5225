-- The defender schema: sync runs, the current state of every scan agent,
-- the history of their descriptive attributes and the observations of their
-- volatile timestamps.
--
-- Storage is sized for years of hourly syncs: only changes are stored, and
-- the per-sync observations use an 8-byte agent key instead of the long
-- text ids, which the views put back for readers.

-- +goose Up
CREATE SCHEMA defender;
COMMENT ON SCHEMA defender IS
    'Microsoft Defender authenticated scan agents, synced by agentsync, with their full history. Query the views scan_agents, scan_agent_history, scan_agent_observations, scan_agent_changes, version_drift and the function scan_agents_as_of.';

-- btree_gist lets one exclusion constraint combine "same agent" (=) with
-- "overlapping validity" (&&).
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;

CREATE FUNCTION defender.version_key(version text) RETURNS numeric[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    -- Trailing zero parts do not count: 7.6.0 and 7.6.0.0 are one version.
    RETURN CASE WHEN version ~ '^[0-9]+(\.[0-9]+)*$'
                THEN pg_catalog.string_to_array(
                         pg_catalog.regexp_replace(version, '(\.0+)+$', ''), '.')::pg_catalog.numeric[]
           END;
COMMENT ON FUNCTION defender.version_key(text) IS
    'Sort key of a dotted version such as 10.8295.22621.1195: its parts as numbers, so that 10.8295.22621.1010 < 10.8295.22621.1195 < 10.10000.0.0; trailing zero parts do not count (7.6.0 = 7.6.0.0). NULL when the version is not purely numeric. Use ORDER BY defender.version_key(mde_client_version).';

CREATE TABLE defender.sync_runs (
    run_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           text        NOT NULL CHECK (tenant_id <> ''),
    started_at          timestamptz NOT NULL,
    fetched_at          timestamptz,
    finished_at         timestamptz,
    status              text        NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'succeeded', 'failed')),
    agents_seen         integer     NOT NULL DEFAULT 0 CHECK (agents_seen >= 0),
    agents_inserted     integer     NOT NULL DEFAULT 0 CHECK (agents_inserted >= 0),
    agents_changed      integer     NOT NULL DEFAULT 0 CHECK (agents_changed >= 0),
    agents_unchanged    integer     NOT NULL DEFAULT 0 CHECK (agents_unchanged >= 0),
    agents_deleted      integer     NOT NULL DEFAULT 0 CHECK (agents_deleted >= 0),
    deletions_withheld  integer     NOT NULL DEFAULT 0 CHECK (deletions_withheld >= 0),
    agents_rejected     integer     NOT NULL DEFAULT 0 CHECK (agents_rejected >= 0),
    api_requests        integer     NOT NULL DEFAULT 0 CHECK (api_requests >= 0),
    error               text,
    worker              text,
    CONSTRAINT sync_runs_finished_iff_done CHECK ((status = 'running') = (finished_at IS NULL)),
    CONSTRAINT sync_runs_failed_has_error CHECK (status <> 'failed' OR error IS NOT NULL),
    CONSTRAINT sync_runs_succeeded_has_fetch CHECK (status <> 'succeeded' OR fetched_at IS NOT NULL),
    CONSTRAINT sync_runs_time_order CHECK (fetched_at >= started_at AND finished_at >= started_at)
);
-- At most one run of a tenant is in progress at any time.
CREATE UNIQUE INDEX sync_runs_one_running_per_tenant
    ON defender.sync_runs (tenant_id) WHERE status = 'running';
-- The latest successful run of a tenant, and runs by time.
CREATE INDEX sync_runs_succeeded_by_tenant
    ON defender.sync_runs (tenant_id, run_id) INCLUDE (fetched_at) WHERE status = 'succeeded';
CREATE INDEX sync_runs_by_start ON defender.sync_runs (tenant_id, started_at);

COMMENT ON TABLE defender.sync_runs IS
    'One row per sync of a tenant: when it ran, how it ended and what it counted. A failed run changed no agent data.';
COMMENT ON COLUMN defender.sync_runs.run_id IS 'Number of the run, increasing over time.';
COMMENT ON COLUMN defender.sync_runs.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case) that was synced.';
COMMENT ON COLUMN defender.sync_runs.started_at IS 'When the run started (UTC).';
COMMENT ON COLUMN defender.sync_runs.fetched_at IS 'When the run began fetching agents from Defender. Every change and observation recorded by the run carries this time.';
COMMENT ON COLUMN defender.sync_runs.finished_at IS 'When the run ended (UTC); empty while it is running.';
COMMENT ON COLUMN defender.sync_runs.status IS 'running, succeeded or failed. A failed run changed no agent data.';
COMMENT ON COLUMN defender.sync_runs.agents_seen IS 'Agents the Defender API returned in this run (after removing duplicates and rejected records).';
COMMENT ON COLUMN defender.sync_runs.agents_inserted IS 'Agents seen for the first time.';
COMMENT ON COLUMN defender.sync_runs.agents_changed IS 'Known agents with at least one changed value (including agents that returned after deletion).';
COMMENT ON COLUMN defender.sync_runs.agents_unchanged IS 'Known agents returned with exactly the values already stored.';
COMMENT ON COLUMN defender.sync_runs.agents_deleted IS 'Agents marked deleted because this complete listing no longer returned them.';
COMMENT ON COLUMN defender.sync_runs.deletions_withheld IS 'Agents missing from this listing whose deletion was withheld by the mass-deletion guard (0 when none).';
COMMENT ON COLUMN defender.sync_runs.agents_rejected IS 'Records the API returned that could not be read (no id, a malformed timestamp...). An agent listed but unreadable is kept as it was, never deleted.';
COMMENT ON COLUMN defender.sync_runs.api_requests IS 'HTTP requests made to the Defender API by this run, retries included.';
COMMENT ON COLUMN defender.sync_runs.error IS 'Why the run failed; empty unless status is failed.';
COMMENT ON COLUMN defender.sync_runs.worker IS 'Host and process that ran the sync, for troubleshooting.';

-- Current state of every agent ever seen. Read it through the view
-- defender.scan_agents.
CREATE TABLE defender.agent_state (
    agent_key                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id                 text        NOT NULL CHECK (tenant_id <> ''),
    agent_id                  text        NOT NULL CHECK (agent_id <> ''),
    machine_id                text,
    computer_dns_name         text,
    assigned_application_id   text,
    scanner_software_version  text,
    mde_client_version        text,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz,
    extra                     jsonb       NOT NULL DEFAULT '{}'
                              CHECK (pg_catalog.jsonb_typeof(extra) = 'object'),
    first_seen_at             timestamptz NOT NULL,
    first_seen_run_id         bigint      NOT NULL REFERENCES defender.sync_runs,
    deleted_at                timestamptz,
    deleted_by_run_id         bigint      REFERENCES defender.sync_runs,
    CONSTRAINT agent_state_tenant_agent UNIQUE (tenant_id, agent_id),
    CONSTRAINT agent_state_deleted_by_run CHECK ((deleted_at IS NULL) = (deleted_by_run_id IS NULL))
) WITH (fillfactor = 75); -- room on each page, so that most syncs' updates of last_seen stay HOT
CREATE INDEX agent_state_active ON defender.agent_state (tenant_id) WHERE deleted_at IS NULL;
COMMENT ON TABLE defender.agent_state IS
    'Storage behind defender.scan_agents: the current values of every agent ever seen. Query defender.scan_agents instead.';
COMMENT ON COLUMN defender.agent_state.agent_key IS 'Internal number of the agent, used by the history and observation tables.';
COMMENT ON COLUMN defender.agent_state.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';
COMMENT ON COLUMN defender.agent_state.agent_id IS 'Defender id of the scan agent (<guid>_<hash>).';
COMMENT ON COLUMN defender.agent_state.machine_id IS 'Defender device id of the machine running the scanner.';
COMMENT ON COLUMN defender.agent_state.computer_dns_name IS 'Host name of the machine running the scanner.';
COMMENT ON COLUMN defender.agent_state.assigned_application_id IS 'Microsoft Entra application (client) id the scanner runs as.';
COMMENT ON COLUMN defender.agent_state.scanner_software_version IS 'Version of the scanner software, as reported.';
COMMENT ON COLUMN defender.agent_state.mde_client_version IS 'Version of the Microsoft Defender for Endpoint client on the machine, as reported.';
COMMENT ON COLUMN defender.agent_state.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';
COMMENT ON COLUMN defender.agent_state.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';
COMMENT ON COLUMN defender.agent_state.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent.';
COMMENT ON COLUMN defender.agent_state.first_seen_at IS 'Fetch time of the first sync that returned the agent.';
COMMENT ON COLUMN defender.agent_state.first_seen_run_id IS 'The sync run that first returned the agent.';
COMMENT ON COLUMN defender.agent_state.deleted_at IS 'Fetch time of the sync that marked the agent deleted; empty while active.';
COMMENT ON COLUMN defender.agent_state.deleted_by_run_id IS 'The sync run that marked the agent deleted.';

CREATE TABLE defender.scan_agent_history (
    history_id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_key                bigint      NOT NULL REFERENCES defender.agent_state,
    tenant_id                text        NOT NULL,
    agent_id                 text        NOT NULL,
    machine_id               text,
    computer_dns_name        text,
    assigned_application_id  text,
    scanner_software_version text,
    mde_client_version       text,
    extra                    jsonb       NOT NULL DEFAULT '{}',
    valid_from               timestamptz NOT NULL,
    valid_to                 timestamptz,
    opened_by_run_id         bigint      NOT NULL REFERENCES defender.sync_runs,
    closed_by_run_id         bigint      REFERENCES defender.sync_runs,
    CONSTRAINT scan_agent_history_range_order CHECK (valid_to > valid_from),
    CONSTRAINT scan_agent_history_closed_by_run CHECK ((valid_to IS NULL) = (closed_by_run_id IS NULL)),
    CONSTRAINT scan_agent_history_no_overlap EXCLUDE USING gist (
        agent_key WITH =,
        pg_catalog.tstzrange(valid_from, valid_to, '[)') WITH &&
    )
);
CREATE UNIQUE INDEX scan_agent_history_one_open_per_agent
    ON defender.scan_agent_history (agent_key) WHERE valid_to IS NULL;
CREATE INDEX scan_agent_history_by_agent
    ON defender.scan_agent_history (tenant_id, agent_id, valid_from);
CREATE INDEX scan_agent_history_by_valid_from
    ON defender.scan_agent_history (tenant_id, valid_from);

COMMENT ON TABLE defender.scan_agent_history IS
    'One row per version of an agent''s descriptive attributes: a row is valid from valid_from until valid_to (empty while current). A change, a deletion or a return starts a new version. The versions of one agent never overlap. last_seen and last_command_execution_at are not here: see scan_agent_observations.';
COMMENT ON COLUMN defender.scan_agent_history.history_id IS 'Number of this version row.';
COMMENT ON COLUMN defender.scan_agent_history.agent_key IS 'Internal number of the agent (see defender.agent_state).';
COMMENT ON COLUMN defender.scan_agent_history.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';
COMMENT ON COLUMN defender.scan_agent_history.agent_id IS 'Defender id of the scan agent.';
COMMENT ON COLUMN defender.scan_agent_history.machine_id IS 'Defender device id of the machine running the scanner, during this version.';
COMMENT ON COLUMN defender.scan_agent_history.computer_dns_name IS 'Host name of the machine running the scanner, during this version.';
COMMENT ON COLUMN defender.scan_agent_history.assigned_application_id IS 'Entra application id the scanner ran as, during this version.';
COMMENT ON COLUMN defender.scan_agent_history.scanner_software_version IS 'Scanner software version during this version.';
COMMENT ON COLUMN defender.scan_agent_history.mde_client_version IS 'Defender for Endpoint client version during this version.';
COMMENT ON COLUMN defender.scan_agent_history.extra IS 'Fields without a column of their own, names as sent, during this version.';
COMMENT ON COLUMN defender.scan_agent_history.valid_from IS 'Fetch time of the sync that first saw these values (inclusive).';
COMMENT ON COLUMN defender.scan_agent_history.valid_to IS 'Fetch time of the sync that saw them change or the agent vanish (exclusive); empty while current.';
COMMENT ON COLUMN defender.scan_agent_history.opened_by_run_id IS 'The sync run that started this version.';
COMMENT ON COLUMN defender.scan_agent_history.closed_by_run_id IS 'The sync run that ended this version; empty while current.';

-- What each sync saw of the volatile timestamps, stored compactly (an agent
-- key and a run id instead of text ids and a time). Read it through the view
-- defender.scan_agent_observations.
CREATE TABLE defender.agent_observation (
    agent_key                 bigint NOT NULL REFERENCES defender.agent_state,
    run_id                    bigint NOT NULL REFERENCES defender.sync_runs,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz,
    PRIMARY KEY (agent_key, run_id)
);
CREATE INDEX agent_observation_by_run ON defender.agent_observation (run_id);
COMMENT ON TABLE defender.agent_observation IS
    'Storage behind defender.scan_agent_observations: one row per agent per sync in which its last_seen or last_command_execution_at changed. Query defender.scan_agent_observations instead.';
COMMENT ON COLUMN defender.agent_observation.agent_key IS 'Internal number of the agent (see defender.agent_state).';
COMMENT ON COLUMN defender.agent_observation.run_id IS 'The sync run that made the observation.';
COMMENT ON COLUMN defender.agent_observation.last_seen IS 'The agent''s last check-in time as that sync saw it.';
COMMENT ON COLUMN defender.agent_observation.last_command_execution_at IS 'The scanner''s last command time as that sync saw it.';

-- Agents that a complete listing no longer returned but whose deletion the
-- mass-deletion guard withheld. Rare (a tenant losing most agents at once),
-- and what makes "as the sync saw them" exact for such runs.
CREATE TABLE defender.withheld_deletions (
    agent_key bigint NOT NULL REFERENCES defender.agent_state,
    run_id    bigint NOT NULL REFERENCES defender.sync_runs,
    PRIMARY KEY (agent_key, run_id)
);
CREATE INDEX withheld_deletions_by_run ON defender.withheld_deletions (run_id);
COMMENT ON TABLE defender.withheld_deletions IS
    'Agents a successful sync no longer returned but did not mark deleted, because the mass-deletion guard withheld the deletions of that run (see sync_runs.deletions_withheld).';
COMMENT ON COLUMN defender.withheld_deletions.agent_key IS 'Internal number of the agent (see defender.agent_state).';
COMMENT ON COLUMN defender.withheld_deletions.run_id IS 'The sync run whose listing did not return the agent.';

CREATE VIEW defender.scan_agents AS
SELECT a.tenant_id,
       a.agent_id,
       a.machine_id,
       a.computer_dns_name,
       a.assigned_application_id,
       a.scanner_software_version,
       a.mde_client_version,
       a.last_seen,
       a.last_command_execution_at,
       a.extra,
       a.first_seen_at,
       -- Every successful run since the agent was first seen returned it,
       -- withheld its deletion, or deleted it: the latest one before its
       -- deletion that did not withhold it is the latest that returned it.
       (SELECT r.fetched_at
          FROM defender.sync_runs r
         WHERE r.tenant_id = a.tenant_id
           AND r.status = 'succeeded'
           AND r.run_id < coalesce(a.deleted_by_run_id, 9223372036854775807)
           AND NOT EXISTS (SELECT FROM defender.withheld_deletions w
                            WHERE w.agent_key = a.agent_key AND w.run_id = r.run_id)
         ORDER BY r.run_id DESC
         LIMIT 1) AS last_synced_at,
       a.deleted_at
  FROM defender.agent_state a;
COMMENT ON VIEW defender.scan_agents IS
    'One row per scan agent ever seen, with its current values. Active agents have an empty deleted_at.';
COMMENT ON COLUMN defender.scan_agents.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';
COMMENT ON COLUMN defender.scan_agents.agent_id IS 'Defender id of the scan agent (<guid>_<hash>).';
COMMENT ON COLUMN defender.scan_agents.machine_id IS 'Defender device id of the machine running the scanner.';
COMMENT ON COLUMN defender.scan_agents.computer_dns_name IS 'Host name of the machine running the scanner.';
COMMENT ON COLUMN defender.scan_agents.assigned_application_id IS 'Microsoft Entra application (client) id the scanner runs as.';
COMMENT ON COLUMN defender.scan_agents.scanner_software_version IS 'Version of the scanner software, as reported.';
COMMENT ON COLUMN defender.scan_agents.mde_client_version IS 'Version of the Microsoft Defender for Endpoint client on the machine, as reported. Order with defender.version_key().';
COMMENT ON COLUMN defender.scan_agents.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';
COMMENT ON COLUMN defender.scan_agents.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';
COMMENT ON COLUMN defender.scan_agents.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (JSON object).';
COMMENT ON COLUMN defender.scan_agents.first_seen_at IS 'Fetch time of the first sync that returned the agent.';
COMMENT ON COLUMN defender.scan_agents.last_synced_at IS 'Fetch time of the latest successful sync that returned the agent.';
COMMENT ON COLUMN defender.scan_agents.deleted_at IS 'When a complete sync first no longer returned the agent; empty while active, cleared if it returns.';

CREATE VIEW defender.scan_agent_observations AS
SELECT a.tenant_id,
       a.agent_id,
       o.run_id,
       r.fetched_at AS observed_at,
       o.last_seen,
       o.last_command_execution_at
  FROM defender.agent_observation o
  JOIN defender.agent_state a ON a.agent_key = o.agent_key
  JOIN defender.sync_runs r ON r.run_id = o.run_id;
COMMENT ON VIEW defender.scan_agent_observations IS
    'What each sync saw of an agent''s volatile timestamps: one row per agent per sync in which last_seen or last_command_execution_at changed. Use it for lastSeen trends and gaps.';
COMMENT ON COLUMN defender.scan_agent_observations.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';
COMMENT ON COLUMN defender.scan_agent_observations.agent_id IS 'Defender id of the scan agent.';
COMMENT ON COLUMN defender.scan_agent_observations.run_id IS 'The sync run that made the observation.';
COMMENT ON COLUMN defender.scan_agent_observations.observed_at IS 'Fetch time of that sync.';
COMMENT ON COLUMN defender.scan_agent_observations.last_seen IS 'The agent''s last check-in time as that sync saw it.';
COMMENT ON COLUMN defender.scan_agent_observations.last_command_execution_at IS 'The scanner''s last command time as that sync saw it.';

-- +goose Down
DROP SCHEMA defender CASCADE;
