-- Scan definitions and scan history: which scans each agent runs and how
-- they changed, and which targets were scanned, when, with what result.
--
-- * sync_runs says which resource a run synced (agents, definitions,
--   history); each resource has its own runs, at most one running per
--   tenant, and everything that read sync_runs for agents (scan_agents,
--   scan_agents_as_of, the daily rollups, tenants.last_run_id) keeps
--   reading agent runs only.
-- * Definitions are stored like agents: current state, versions that never
--   overlap, deletions only after a complete listing. No credential is
--   stored: of a definition's authentication only the variant and the
--   type.
-- * Sessions and targets are facts: stored once, never rewritten by a
--   sync that fetches them again. A definition's latestScan is a session
--   too when the history has not named it.
-- * target_coverage keeps, per target and definition, its latest and last
--   successful scan, so that scan_target_status answers without reading
--   every target row ever stored.

-- +goose Up
ALTER TABLE defender.sync_runs
    ADD COLUMN resource          text    NOT NULL DEFAULT 'agents'
        CONSTRAINT sync_runs_resource CHECK (resource IN ('agents', 'definitions', 'history')),
    ADD COLUMN records_seen      integer NOT NULL DEFAULT 0 CHECK (records_seen >= 0),
    ADD COLUMN records_inserted  integer NOT NULL DEFAULT 0 CHECK (records_inserted >= 0),
    ADD COLUMN records_changed   integer NOT NULL DEFAULT 0 CHECK (records_changed >= 0),
    ADD COLUMN records_unchanged integer NOT NULL DEFAULT 0 CHECK (records_unchanged >= 0),
    ADD COLUMN records_deleted   integer NOT NULL DEFAULT 0 CHECK (records_deleted >= 0),
    ADD COLUMN records_rejected  integer NOT NULL DEFAULT 0 CHECK (records_rejected >= 0),
    ADD COLUMN targets_inserted  integer NOT NULL DEFAULT 0 CHECK (targets_inserted >= 0);
UPDATE defender.sync_runs
   SET records_seen = agents_seen, records_inserted = agents_inserted, records_changed = agents_changed,
       records_unchanged = agents_unchanged, records_deleted = agents_deleted, records_rejected = agents_rejected;
COMMENT ON COLUMN defender.sync_runs.resource IS
    'What the run synced: agents (scan agents), definitions (scan definitions) or history (scan sessions and their targets). Each resource of a tenant has its own runs; a failure of one never undoes another.';
COMMENT ON COLUMN defender.sync_runs.records_seen IS
    'Records of the run''s resource the API returned (agents, definitions or sessions), after removing duplicates and rejected ones.';
COMMENT ON COLUMN defender.sync_runs.records_inserted IS 'Records seen for the first time.';
COMMENT ON COLUMN defender.sync_runs.records_changed IS
    'Known records with at least one changed value (agents and definitions: a new version; sessions: values the history completed or corrected).';
COMMENT ON COLUMN defender.sync_runs.records_unchanged IS 'Known records returned with exactly the values already stored: not written.';
COMMENT ON COLUMN defender.sync_runs.records_deleted IS 'Agents or definitions marked deleted because this complete listing no longer returned them.';
COMMENT ON COLUMN defender.sync_runs.records_rejected IS 'Records the API returned that could not be read; a definition listed but unreadable is kept as it was, never deleted.';
COMMENT ON COLUMN defender.sync_runs.targets_inserted IS 'History runs: scanned targets stored, of the sessions whose targets were not stored yet.';
COMMENT ON TABLE defender.sync_runs IS
    'One row per sync of a resource of a tenant (see resource): when it ran, how it ended and what it counted. A failed run changed no data. The agents_* columns count agent runs only; records_* count every run.';

DROP INDEX defender.sync_runs_one_running_per_tenant;
-- At most one run of a tenant's resource is in progress at any time.
CREATE UNIQUE INDEX sync_runs_one_running_per_tenant
    ON defender.sync_runs (tenant_id, resource) WHERE status = 'running';
-- The latest successful run of a tenant's resource at or before a time.
CREATE INDEX sync_runs_succeeded_by_resource
    ON defender.sync_runs (tenant_id, resource, fetched_at) INCLUDE (run_id) WHERE status = 'succeeded';

-- Everything that reads sync_runs for agents reads agent runs only.
CREATE OR REPLACE VIEW defender.agent_daily_open AS
SELECT a.agent_key,
       a.tenant_id,
       td.day,
       t.last_run_id AS run_id,
       t.last_fetched_at AS synced_at,
       a.computer_dns_name,
       a.mde_client_version,
       a.scanner_software_version,
       hb.last_seen,
       hb.last_command_execution_at,
       -- The day's syncs since the agent's activity began, less those that
       -- withheld its deletion, plus what an earlier stretch of the same
       -- day left in agent_daily.
       (CASE WHEN a.active_since <= td.first_synced_at THEN td.syncs
             ELSE (SELECT count(*)::integer FROM defender.sync_runs r
                    WHERE r.tenant_id = a.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                      AND r.fetched_at >= a.active_since AND r.fetched_at <= t.last_fetched_at)
        END
        - CASE WHEN wh.agent_key IS NULL THEN 0
               ELSE (SELECT count(*)::integer FROM unnest(wh.withheld_at) AS x(at)
                      WHERE x.at >= greatest(a.active_since, td.first_synced_at))
          END
        + coalesce(earlier.syncs_observed, 0)) AS syncs_observed
  FROM defender.tenants t
  JOIN defender.tenant_daily td ON td.tenant_id = t.tenant_id AND td.day = defender.utc_day(t.last_fetched_at)
  JOIN defender.agent_state a ON a.tenant_id = t.tenant_id AND a.deleted_at IS NULL
  LEFT JOIN defender.agent_heartbeat hb ON hb.agent_key = a.agent_key
  LEFT JOIN defender.agent_daily earlier ON earlier.agent_key = a.agent_key AND earlier.day = td.day
  -- Withheld deletions on open days are rare: gathered once, not looked up
  -- per agent.
  LEFT JOIN (SELECT w.agent_key, pg_catalog.array_agg(r.fetched_at) AS withheld_at
               FROM defender.tenants wt
               JOIN defender.sync_runs r
                 ON r.tenant_id = wt.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                AND r.fetched_at >= defender.utc_day(wt.last_fetched_at)::timestamp AT TIME ZONE 'UTC'
               JOIN defender.withheld_deletions w ON w.run_id = r.run_id
              GROUP BY w.agent_key) wh ON wh.agent_key = a.agent_key;

CREATE OR REPLACE VIEW defender.scan_agents AS
SELECT a.tenant_id,
       a.agent_id,
       a.machine_id,
       a.computer_dns_name,
       a.assigned_application_id,
       a.scanner_software_version,
       a.mde_client_version,
       hb.last_seen,
       hb.last_command_execution_at,
       a.extra,
       a.first_seen_at,
       CASE WHEN a.deleted_at IS NULL
                 AND NOT EXISTS (SELECT FROM defender.withheld_deletions w
                                  WHERE w.agent_key = a.agent_key AND w.run_id = t.last_run_id)
            -- Active and returned by the tenant's latest sync.
            THEN t.last_fetched_at
            -- Every successful agents run since the agent was first seen returned
            -- it, withheld its deletion, or deleted it: the latest one
            -- before its deletion that did not withhold it returned it.
            ELSE (SELECT r.fetched_at
                    FROM defender.sync_runs r
                   WHERE r.tenant_id = a.tenant_id
                     AND r.resource = 'agents' AND r.status = 'succeeded'
                     AND r.run_id < coalesce(a.deleted_by_run_id, 9223372036854775807)
                     AND NOT EXISTS (SELECT FROM defender.withheld_deletions w
                                      WHERE w.agent_key = a.agent_key AND w.run_id = r.run_id)
                   ORDER BY r.run_id DESC
                   LIMIT 1)
       END AS last_synced_at,
       a.deleted_at
  FROM defender.agent_state a
  LEFT JOIN defender.agent_heartbeat hb ON hb.agent_key = a.agent_key
  LEFT JOIN defender.tenants t ON t.tenant_id = a.tenant_id;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_as_of(at timestamptz)
RETURNS TABLE (
    tenant_id                 text,
    agent_id                  text,
    machine_id                text,
    computer_dns_name         text,
    assigned_application_id   text,
    scanner_software_version  text,
    mde_client_version        text,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz,
    extra                     jsonb,
    as_of_run_id              bigint,
    as_of_fetched_at          timestamptz
)
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Compiling its plan costs more than running it.
SET jit = off
BEGIN ATOMIC
    WITH s AS (
        -- Per tenant, the last successful agents sync at or before `at`.
        SELECT t.tenant_id, r.run_id, r.fetched_at, r.run_id = t.last_run_id AS latest,
               defender.utc_day(r.fetched_at) AS day,
               defender.utc_day(r.fetched_at)::timestamp AT TIME ZONE 'UTC' AS day_start
          FROM defender.tenants t
         CROSS JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_as_of.at
                              ORDER BY r.fetched_at DESC LIMIT 1) r
    ), current AS (
        -- A tenant's latest sync left its agents as they are now: the
        -- active ones but those whose deletion it withheld.
        SELECT s.tenant_id, a.agent_id, a.machine_id, a.computer_dns_name, a.assigned_application_id,
               a.scanner_software_version, a.mde_client_version, hb.last_seen, hb.last_command_execution_at,
               a.extra, s.run_id, s.fetched_at
          FROM s
          JOIN defender.agent_state a ON a.tenant_id = s.tenant_id AND a.deleted_at IS NULL
          LEFT JOIN defender.agent_heartbeat hb ON hb.agent_key = a.agent_key
         WHERE s.latest
           AND NOT EXISTS (SELECT FROM defender.withheld_deletions w
                            WHERE w.agent_key = a.agent_key AND w.run_id = s.run_id)
    ), versions AS (
        -- An earlier sync saw the agents with a version valid at its fetch
        -- time, but those whose deletion it withheld. An agent deleted by
        -- then, and not back since, has none.
        SELECT s.run_id, s.fetched_at, s.day, s.day_start, a.tenant_id, h.*
          FROM s
          JOIN defender.agent_state a
            ON a.tenant_id = s.tenant_id AND a.first_seen_at <= s.fetched_at
           AND (a.deleted_at IS NULL OR a.deleted_at > s.fetched_at)
         CROSS JOIN LATERAL (SELECT h.agent_key, h.agent_id, h.machine_id, h.computer_dns_name,
                                    h.assigned_application_id, h.scanner_software_version,
                                    h.mde_client_version, h.extra, h.valid_to
                               FROM defender.scan_agent_history h
                              WHERE h.agent_key = a.agent_key AND h.valid_from <= s.fetched_at
                              ORDER BY h.valid_from DESC LIMIT 1) h
         WHERE NOT s.latest
           AND (h.valid_to IS NULL OR h.valid_to > s.fetched_at)
           AND NOT EXISTS (SELECT FROM defender.withheld_deletions w
                            WHERE w.agent_key = h.agent_key AND w.run_id = s.run_id)
    ), own AS (
        -- What that sync observed: the agents whose timestamps it changed.
        SELECT b.block * 64 + o.slot AS agent_key, o.last_seen, o.last_command_execution_at
          FROM s
          JOIN defender.observation_block b ON b.run_id = s.run_id AND b.observed_at = s.fetched_at
         CROSS JOIN LATERAL unnest(b.slots, b.last_seen, b.last_command_execution_at)
               AS o(slot, last_seen, last_command_execution_at)
         WHERE NOT s.latest
    ), seen AS MATERIALIZED (
        -- The versions, with what the sync observed of each agent, if
        -- anything.
        SELECT v.tenant_id, v.agent_id, v.machine_id, v.computer_dns_name, v.assigned_application_id,
               v.scanner_software_version, v.mde_client_version, v.extra, v.run_id, v.fetched_at,
               v.agent_key, v.day, v.day_start,
               o.agent_key IS NOT NULL AS observed, o.last_seen, o.last_command_execution_at
          FROM versions v
          LEFT JOIN own o ON o.agent_key = v.agent_key
    )
    SELECT c.tenant_id, c.agent_id, c.machine_id, c.computer_dns_name, c.assigned_application_id,
           c.scanner_software_version, c.mde_client_version, c.last_seen, c.last_command_execution_at,
           c.extra, c.run_id, c.fetched_at
      FROM current c
    UNION ALL
    SELECT v.tenant_id, v.agent_id, v.machine_id, v.computer_dns_name, v.assigned_application_id,
           v.scanner_software_version, v.mde_client_version, v.last_seen, v.last_command_execution_at,
           v.extra, v.run_id, v.fetched_at
      FROM seen v
     WHERE v.observed
    UNION ALL
    -- The agents the sync did not observe (their timestamps had not moved):
    -- what an earlier sync of the same day observed last, else what the
    -- last sync of an earlier day left. Only these few look further back.
    SELECT v.tenant_id, v.agent_id, v.machine_id, v.computer_dns_name, v.assigned_application_id,
           v.scanner_software_version, v.mde_client_version,
           CASE WHEN e.found THEN e.last_seen ELSE p.last_seen END,
           CASE WHEN e.found THEN e.last_command_execution_at ELSE p.last_command_execution_at END,
           v.extra, v.run_id, v.fetched_at
      FROM seen v
      LEFT JOIN LATERAL (SELECT true AS found, b.last_seen[x.i] AS last_seen,
                                b.last_command_execution_at[x.i] AS last_command_execution_at
                           FROM defender.observation_block b
                          CROSS JOIN LATERAL (SELECT pg_catalog.array_position(b.slots, (v.agent_key % 64)::smallint) AS i) x
                          WHERE b.block = v.agent_key / 64
                            AND b.observed_at >= v.day_start AND b.observed_at < v.fetched_at
                            AND x.i IS NOT NULL
                          ORDER BY b.observed_at DESC LIMIT 1) e ON true
      LEFT JOIN LATERAL (SELECT ad.last_seen, ad.last_command_execution_at
                           FROM defender.agent_daily ad
                          WHERE e.found IS NULL
                            AND ad.agent_key = v.agent_key AND ad.day < v.day
                          ORDER BY ad.day DESC LIMIT 1) p ON true
     WHERE NOT v.observed;
END;
-- +goose StatementEnd

CREATE FUNCTION defender.scan_outcome(status text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    -- translate, not a regular expression: the loader reads every stored
    -- target's status through it.
    RETURN CASE pg_catalog.translate(pg_catalog.lower(status), ' _-' || pg_catalog.chr(9), '')
               WHEN 'success' THEN 'success'
               WHEN 'succeeded' THEN 'success'
               WHEN 'partialsuccess' THEN 'partial'
               WHEN 'partial' THEN 'partial'
               WHEN 'fail' THEN 'failure'
               WHEN 'failed' THEN 'failure'
               WHEN 'failure' THEN 'failure'
           END;
COMMENT ON FUNCTION defender.scan_outcome(text) IS
    'The outcome of a scan status as Defender spells it (Success, Fail, Failure, Partial Success, PartialSuccess...): success, partial or failure; NULL for a status it does not know. Example: SELECT * FROM defender.scan_sessions WHERE defender.scan_outcome(status) = ''failure''.';

-- Current state of every scan definition ever seen. Read it through the
-- view defender.scan_definitions.
CREATE TABLE defender.definition_state (
    definition_key    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         text        NOT NULL REFERENCES defender.tenants,
    definition_id     text        NOT NULL CHECK (definition_id <> ''),
    scan_name         text,
    scan_type         text,
    is_active         boolean,
    interval_hours    integer,
    target            text,
    target_type       text,
    scanner_agent_id  text,
    auth_variant      text,
    auth_type         text,
    created_by        text,
    extra             jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(extra) = 'object'),
    first_seen_at     timestamptz NOT NULL,
    first_seen_run_id bigint      NOT NULL REFERENCES defender.sync_runs,
    deleted_at        timestamptz,
    deleted_by_run_id bigint      REFERENCES defender.sync_runs,
    CONSTRAINT definition_state_tenant_definition UNIQUE (tenant_id, definition_id),
    CONSTRAINT definition_state_deleted_by_run CHECK ((deleted_at IS NULL) = (deleted_by_run_id IS NULL))
);
CREATE INDEX definition_state_by_agent ON defender.definition_state (tenant_id, scanner_agent_id);
COMMENT ON TABLE defender.definition_state IS
    'Storage behind defender.scan_definitions: the current values of every scan definition ever seen. Query defender.scan_definitions instead.';
COMMENT ON COLUMN defender.definition_state.definition_key IS 'Internal number of the definition, used by its versions.';
COMMENT ON COLUMN defender.definition_state.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';
COMMENT ON COLUMN defender.definition_state.definition_id IS 'Defender id of the scan definition.';
COMMENT ON COLUMN defender.definition_state.scan_name IS 'Display name of the scan.';
COMMENT ON COLUMN defender.definition_state.scan_type IS 'Kind of scan: Network, Windows (retired), Linux, AdvancedActive, as sent.';
COMMENT ON COLUMN defender.definition_state.is_active IS 'Whether the scan is switched on; empty when not sent.';
COMMENT ON COLUMN defender.definition_state.interval_hours IS 'Hours between runs; empty when not sent.';
COMMENT ON COLUMN defender.definition_state.target IS 'What the scan covers: IP addresses, ranges or host names, comma-separated, as sent.';
COMMENT ON COLUMN defender.definition_state.target_type IS 'How to read target: Ip, Hostname or Combined.';
COMMENT ON COLUMN defender.definition_state.scanner_agent_id IS 'The scan agent that runs the scan (scan_agents.agent_id).';
COMMENT ON COLUMN defender.definition_state.auth_variant IS 'Kind of credentials the scan uses (SnmpAuthParams, WindowsAuthParams, LinuxAuthParams). The credentials themselves are never stored.';
COMMENT ON COLUMN defender.definition_state.auth_type IS 'Authentication type within the variant (CommunityString, AuthPriv, Kerberos, PrivateKey...).';
COMMENT ON COLUMN defender.definition_state.created_by IS 'Identity that created the definition.';
COMMENT ON COLUMN defender.definition_state.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (never a credential).';
COMMENT ON COLUMN defender.definition_state.first_seen_at IS 'Fetch time of the first definitions sync that returned it.';
COMMENT ON COLUMN defender.definition_state.first_seen_run_id IS 'The sync run that first returned it.';
COMMENT ON COLUMN defender.definition_state.deleted_at IS 'Fetch time of the sync that marked it deleted; empty while listed.';
COMMENT ON COLUMN defender.definition_state.deleted_by_run_id IS 'The sync run that marked it deleted.';

CREATE TABLE defender.definition_version (
    version_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    definition_key    bigint      NOT NULL REFERENCES defender.definition_state,
    scan_name         text,
    scan_type         text,
    is_active         boolean,
    interval_hours    integer,
    target            text,
    target_type       text,
    scanner_agent_id  text,
    auth_variant      text,
    auth_type         text,
    created_by        text,
    extra             jsonb       NOT NULL DEFAULT '{}',
    valid_from        timestamptz NOT NULL,
    valid_to          timestamptz,
    opened_by_run_id  bigint      NOT NULL REFERENCES defender.sync_runs,
    closed_by_run_id  bigint      REFERENCES defender.sync_runs,
    CONSTRAINT definition_version_range_order CHECK (valid_to > valid_from),
    CONSTRAINT definition_version_closed_by_run CHECK ((valid_to IS NULL) = (closed_by_run_id IS NULL)),
    CONSTRAINT definition_version_no_overlap EXCLUDE USING gist (
        definition_key WITH =,
        pg_catalog.tstzrange(valid_from, valid_to, '[)') WITH &&
    )
);
CREATE UNIQUE INDEX definition_version_one_open
    ON defender.definition_version (definition_key) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX definition_version_by_definition
    ON defender.definition_version (definition_key, valid_from);
CREATE INDEX definition_version_by_start ON defender.definition_version (valid_from);
COMMENT ON TABLE defender.definition_version IS
    'Storage behind scan_definition_history and scan_definition_changes: one row per version of a definition, valid from valid_from until valid_to. Query the views instead.';
COMMENT ON COLUMN defender.definition_version.version_id IS 'Number of this version row.';
COMMENT ON COLUMN defender.definition_version.definition_key IS 'Internal number of the definition (see definition_state).';
COMMENT ON COLUMN defender.definition_version.scan_name IS 'Display name during this version.';
COMMENT ON COLUMN defender.definition_version.scan_type IS 'Kind of scan during this version.';
COMMENT ON COLUMN defender.definition_version.is_active IS 'Whether the scan was switched on during this version.';
COMMENT ON COLUMN defender.definition_version.interval_hours IS 'Hours between runs during this version.';
COMMENT ON COLUMN defender.definition_version.target IS 'What the scan covered during this version.';
COMMENT ON COLUMN defender.definition_version.target_type IS 'How to read target during this version.';
COMMENT ON COLUMN defender.definition_version.scanner_agent_id IS 'The scan agent that ran the scan during this version.';
COMMENT ON COLUMN defender.definition_version.auth_variant IS 'Kind of credentials during this version.';
COMMENT ON COLUMN defender.definition_version.auth_type IS 'Authentication type during this version.';
COMMENT ON COLUMN defender.definition_version.created_by IS 'Identity that created the definition, as this version reported it.';
COMMENT ON COLUMN defender.definition_version.extra IS 'Fields without a column, names as sent, during this version.';
COMMENT ON COLUMN defender.definition_version.valid_from IS 'Fetch time of the sync that first saw these values (inclusive).';
COMMENT ON COLUMN defender.definition_version.valid_to IS 'Fetch time of the sync that saw them change or the definition vanish (exclusive); empty while current.';
COMMENT ON COLUMN defender.definition_version.opened_by_run_id IS 'The sync run that started this version.';
COMMENT ON COLUMN defender.definition_version.closed_by_run_id IS 'The sync run that ended it; empty while current.';

-- Definitions a complete listing no longer returned but whose deletion
-- was withheld (mass-deletion guard, or a record without an id).
CREATE TABLE defender.definition_withheld (
    definition_key bigint NOT NULL REFERENCES defender.definition_state,
    run_id         bigint NOT NULL REFERENCES defender.sync_runs,
    PRIMARY KEY (definition_key, run_id)
);
COMMENT ON TABLE defender.definition_withheld IS
    'Definitions a successful sync no longer returned but did not mark deleted, because it withheld its deletions (see sync_runs.deletions_withheld).';
COMMENT ON COLUMN defender.definition_withheld.definition_key IS 'Internal number of the definition (see definition_state).';
COMMENT ON COLUMN defender.definition_withheld.run_id IS 'The sync run whose listing did not return it.';

-- Scan sessions: facts, stored once. A session is known by its session id,
-- or, when the API named none (a definition's latestScan, a history
-- without ids), by its definition and time.
CREATE TABLE defender.session_result (
    session_key        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          text        NOT NULL REFERENCES defender.tenants,
    definition_id      text        NOT NULL CHECK (definition_id <> ''),
    session_id         text        CHECK (session_id <> ''),
    scanner_id         text,
    scanner_agent_id   text,
    status             text,
    scanned_at         timestamptz,
    targets            integer     CHECK (targets >= 0),
    succeeded_targets  integer     CHECK (succeeded_targets >= 0),
    general_error      text,
    extra              jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(extra) = 'object'),
    source             text        NOT NULL CHECK (source IN ('history', 'latest_scan')),
    recorded_at        timestamptz NOT NULL,
    recorded_by_run_id bigint      NOT NULL REFERENCES defender.sync_runs,
    updated_at         timestamptz,
    updated_by_run_id  bigint      REFERENCES defender.sync_runs,
    targets_run_id     bigint      REFERENCES defender.sync_runs,
    CONSTRAINT session_result_known CHECK (session_id IS NOT NULL OR scanned_at IS NOT NULL),
    CONSTRAINT session_result_updated_by_run CHECK ((updated_at IS NULL) = (updated_by_run_id IS NULL))
);
CREATE UNIQUE INDEX session_result_by_session_id
    ON defender.session_result (tenant_id, session_id) WHERE session_id IS NOT NULL;
CREATE UNIQUE INDEX session_result_without_id
    ON defender.session_result (tenant_id, definition_id, scanned_at) WHERE session_id IS NULL;
CREATE INDEX session_result_by_definition
    ON defender.session_result (tenant_id, definition_id, scanned_at);
CREATE INDEX session_result_targets_pending
    ON defender.session_result (tenant_id, scanned_at) WHERE targets_run_id IS NULL AND session_id IS NOT NULL;
COMMENT ON TABLE defender.session_result IS
    'Storage behind scan_sessions: one row per scan session, a fact recorded once. Query defender.scan_sessions instead.';
COMMENT ON COLUMN defender.session_result.session_key IS 'Internal number of the session, used by its targets.';
COMMENT ON COLUMN defender.session_result.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender.session_result.definition_id IS 'The scan definition that ran.';
COMMENT ON COLUMN defender.session_result.session_id IS 'Defender id of the session; empty when the API named none.';
COMMENT ON COLUMN defender.session_result.scanner_id IS 'The scanner the history named (ScannerId), as sent.';
COMMENT ON COLUMN defender.session_result.scanner_agent_id IS 'The scan agent that ran the session (scan_agents.agent_id).';
COMMENT ON COLUMN defender.session_result.status IS 'Outcome as sent (Success, Fail, Partial Success...).';
COMMENT ON COLUMN defender.session_result.scanned_at IS 'When the session ran (UTC).';
COMMENT ON COLUMN defender.session_result.targets IS 'Number of targets of the session.';
COMMENT ON COLUMN defender.session_result.succeeded_targets IS 'Number of them scanned successfully.';
COMMENT ON COLUMN defender.session_result.general_error IS 'The session''s error message, when it has one.';
COMMENT ON COLUMN defender.session_result.extra IS 'Fields the API sent that have no column, names as sent.';
COMMENT ON COLUMN defender.session_result.source IS 'Where the values come from: history (the scan history) or latest_scan (a definition''s latestScan, the history naming no such session).';
COMMENT ON COLUMN defender.session_result.recorded_at IS 'Fetch time of the sync that recorded the session.';
COMMENT ON COLUMN defender.session_result.recorded_by_run_id IS 'The sync run that recorded it.';
COMMENT ON COLUMN defender.session_result.updated_at IS 'Fetch time of the sync that last completed or corrected its values; empty if never.';
COMMENT ON COLUMN defender.session_result.updated_by_run_id IS 'That sync run.';
COMMENT ON COLUMN defender.session_result.targets_run_id IS 'The history run that stored the session''s targets; empty until then.';

-- Targets of sessions: the largest table (a session lists up to 1,500
-- targets), so its reference to the session is checked once per
-- statement, as in 00004.
CREATE TABLE defender.target_result (
    session_key   bigint  NOT NULL,
    ordinal       integer NOT NULL CHECK (ordinal >= 0),
    ip            text,
    hostname      text,
    description   text,
    status        text,
    error_message text,
    duration      interval,
    extra         jsonb   NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(extra) = 'object'),
    PRIMARY KEY (session_key, ordinal)
);
COMMENT ON TABLE defender.target_result IS
    'Storage behind scan_targets: one row per target of a session, in the order the API listed them. Query defender.scan_targets instead.';
COMMENT ON COLUMN defender.target_result.session_key IS 'Internal number of the session (see session_result).';
COMMENT ON COLUMN defender.target_result.ordinal IS 'Position of the target in the session''s list, from 0.';
COMMENT ON COLUMN defender.target_result.ip IS 'IP address of the target.';
COMMENT ON COLUMN defender.target_result.hostname IS 'Host name of the target.';
COMMENT ON COLUMN defender.target_result.description IS 'Description of the scanned device.';
COMMENT ON COLUMN defender.target_result.status IS 'Outcome for the target as sent (Success, Failure, PartialSuccess).';
COMMENT ON COLUMN defender.target_result.error_message IS 'Why the target failed; empty on success.';
COMMENT ON COLUMN defender.target_result.duration IS 'How long the target''s scan took.';
COMMENT ON COLUMN defender.target_result.extra IS 'Fields the API sent that have no column, names as sent.';
CREATE TRIGGER target_result_references AFTER INSERT ON defender.target_result
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references('session_key', 'defender.session_result', 'session_key');
CREATE TRIGGER target_result_keys BEFORE UPDATE OF session_key ON defender.target_result
    FOR EACH ROW WHEN (OLD.session_key <> NEW.session_key)
    EXECUTE FUNCTION defender.refuse_key_change('session_key');


-- Per target and definition, its latest and last successful scan: kept by
-- the loader in each history sync's transaction from the targets it
-- stores.
CREATE TABLE defender.target_coverage (
    tenant_id                text        NOT NULL,
    target                   text        NOT NULL CHECK (target <> ''),
    definition_id            text        NOT NULL,
    latest_session_key       bigint      NOT NULL,
    latest_ordinal           integer     NOT NULL,
    latest_scanned_at        timestamptz,
    last_success_at          timestamptz,
    last_success_session_key bigint,
    PRIMARY KEY (tenant_id, target, definition_id)
);
-- Written by the thousand per history sync: references checked once per
-- statement, as for target_result.
CREATE TRIGGER target_coverage_references_on_insert AFTER INSERT ON defender.target_coverage
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references(
        'tenant_id', 'defender.tenants', 'tenant_id',
        'latest_session_key', 'defender.session_result', 'session_key',
        'last_success_session_key', 'defender.session_result', 'session_key');
CREATE TRIGGER target_coverage_references_on_update AFTER UPDATE ON defender.target_coverage
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references(
        'latest_session_key', 'defender.session_result', 'session_key',
        'last_success_session_key', 'defender.session_result', 'session_key');
CREATE TRIGGER session_result_still_referenced AFTER DELETE ON defender.session_result
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_removed_references(
        'defender.target_result', 'session_key', 'session_key',
        'defender.target_coverage', 'latest_session_key', 'session_key',
        'defender.target_coverage', 'last_success_session_key', 'session_key');
COMMENT ON TABLE defender.target_coverage IS
    'Storage behind scan_target_status: per target and definition, its latest and last successful scan, kept by each history sync. Query defender.scan_target_status instead.';
COMMENT ON COLUMN defender.target_coverage.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender.target_coverage.target IS 'The target: its IP address, else its host name in lower case.';
COMMENT ON COLUMN defender.target_coverage.definition_id IS 'A definition that scanned it.';
COMMENT ON COLUMN defender.target_coverage.latest_session_key IS 'The latest session of that definition that scanned it (see session_result).';
COMMENT ON COLUMN defender.target_coverage.latest_ordinal IS 'The target''s position in that session (see target_result).';
COMMENT ON COLUMN defender.target_coverage.latest_scanned_at IS 'When that session ran.';
COMMENT ON COLUMN defender.target_coverage.last_success_at IS 'When the latest session of that definition that scanned it successfully ran; empty if none did.';
COMMENT ON COLUMN defender.target_coverage.last_success_session_key IS 'That session.';

-- The reporting surface.
CREATE VIEW defender.scan_definitions AS
SELECT d.tenant_id,
       d.definition_id,
       d.scan_name,
       d.scan_type,
       d.is_active,
       d.interval_hours,
       d.target,
       d.target_type,
       d.scanner_agent_id,
       d.auth_variant,
       d.auth_type,
       d.created_by,
       d.extra,
       d.first_seen_at,
       r.fetched_at AS last_synced_at,
       r.run_id AS as_of_run_id,
       d.deleted_at
  FROM defender.definition_state d
  -- The latest successful definitions sync before the deletion that
  -- returned the definition (did not withhold its deletion).
  LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at
                       FROM defender.sync_runs r
                      WHERE r.tenant_id = d.tenant_id AND r.resource = 'definitions' AND r.status = 'succeeded'
                        AND r.fetched_at < coalesce(d.deleted_at, 'infinity')
                        AND NOT EXISTS (SELECT FROM defender.definition_withheld w
                                         WHERE w.definition_key = d.definition_key AND w.run_id = r.run_id)
                      ORDER BY r.fetched_at DESC
                      LIMIT 1) r ON true;
COMMENT ON VIEW defender.scan_definitions IS
    'One row per scan definition ever seen, with its current values: which scans each agent runs. Listed definitions have an empty deleted_at. No credential is stored: of the authentication only auth_variant and auth_type.';
COMMENT ON COLUMN defender.scan_definitions.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';
COMMENT ON COLUMN defender.scan_definitions.definition_id IS 'Defender id of the scan definition.';
COMMENT ON COLUMN defender.scan_definitions.scan_name IS 'Display name of the scan.';
COMMENT ON COLUMN defender.scan_definitions.scan_type IS 'Kind of scan: Network, Windows (retired), Linux, AdvancedActive, as sent.';
COMMENT ON COLUMN defender.scan_definitions.is_active IS 'Whether the scan is switched on; empty when not sent.';
COMMENT ON COLUMN defender.scan_definitions.interval_hours IS 'Hours between runs; empty when not sent.';
COMMENT ON COLUMN defender.scan_definitions.target IS 'What the scan covers: IP addresses, ranges or host names, comma-separated, as sent.';
COMMENT ON COLUMN defender.scan_definitions.target_type IS 'How to read target: Ip, Hostname or Combined.';
COMMENT ON COLUMN defender.scan_definitions.scanner_agent_id IS 'The scan agent that runs the scan: joins scan_agents.agent_id.';
COMMENT ON COLUMN defender.scan_definitions.auth_variant IS 'Kind of credentials the scan uses (SnmpAuthParams, WindowsAuthParams, LinuxAuthParams).';
COMMENT ON COLUMN defender.scan_definitions.auth_type IS 'Authentication type within the variant (CommunityString, AuthPriv, Kerberos, PrivateKey...).';
COMMENT ON COLUMN defender.scan_definitions.created_by IS 'Identity that created the definition.';
COMMENT ON COLUMN defender.scan_definitions.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (JSON object).';
COMMENT ON COLUMN defender.scan_definitions.first_seen_at IS 'Fetch time of the first definitions sync that returned it.';
COMMENT ON COLUMN defender.scan_definitions.last_synced_at IS 'Fetch time of the latest successful definitions sync that returned it: the sync these values come from.';
COMMENT ON COLUMN defender.scan_definitions.as_of_run_id IS 'That sync run.';
COMMENT ON COLUMN defender.scan_definitions.deleted_at IS 'When a complete sync first no longer returned it; empty while listed, cleared if it returns.';

CREATE VIEW defender.scan_definition_history AS
SELECT d.tenant_id,
       d.definition_id,
       v.scan_name,
       v.scan_type,
       v.is_active,
       v.interval_hours,
       v.target,
       v.target_type,
       v.scanner_agent_id,
       v.auth_variant,
       v.auth_type,
       v.created_by,
       v.extra,
       v.valid_from,
       v.valid_to,
       v.opened_by_run_id,
       v.closed_by_run_id
  FROM defender.definition_version v
  JOIN defender.definition_state d ON d.definition_key = v.definition_key;
COMMENT ON VIEW defender.scan_definition_history IS
    'One row per version of a scan definition: valid from valid_from until valid_to (empty while current). An edit, a deletion or a return starts a new version; the versions of one definition never overlap.';
COMMENT ON COLUMN defender.scan_definition_history.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';
COMMENT ON COLUMN defender.scan_definition_history.definition_id IS 'Defender id of the scan definition.';
COMMENT ON COLUMN defender.scan_definition_history.scan_name IS 'Display name during this version.';
COMMENT ON COLUMN defender.scan_definition_history.scan_type IS 'Kind of scan during this version.';
COMMENT ON COLUMN defender.scan_definition_history.is_active IS 'Whether the scan was switched on during this version.';
COMMENT ON COLUMN defender.scan_definition_history.interval_hours IS 'Hours between runs during this version.';
COMMENT ON COLUMN defender.scan_definition_history.target IS 'What the scan covered during this version.';
COMMENT ON COLUMN defender.scan_definition_history.target_type IS 'How to read target during this version.';
COMMENT ON COLUMN defender.scan_definition_history.scanner_agent_id IS 'The scan agent that ran the scan during this version (scan_agents.agent_id).';
COMMENT ON COLUMN defender.scan_definition_history.auth_variant IS 'Kind of credentials during this version.';
COMMENT ON COLUMN defender.scan_definition_history.auth_type IS 'Authentication type during this version.';
COMMENT ON COLUMN defender.scan_definition_history.created_by IS 'Identity that created the definition.';
COMMENT ON COLUMN defender.scan_definition_history.extra IS 'Fields without a column, names as sent, during this version.';
COMMENT ON COLUMN defender.scan_definition_history.valid_from IS 'Fetch time of the sync that first saw these values (inclusive).';
COMMENT ON COLUMN defender.scan_definition_history.valid_to IS 'Fetch time of the sync that saw them change or the definition vanish (exclusive); empty while current.';
COMMENT ON COLUMN defender.scan_definition_history.opened_by_run_id IS 'The sync run that started this version.';
COMMENT ON COLUMN defender.scan_definition_history.closed_by_run_id IS 'The sync run that ended it; empty while current.';

CREATE VIEW defender.scan_definition_changes AS
-- Attribute changes between consecutive versions.
SELECT d.tenant_id, d.definition_id, v.valid_from AS changed_at, c.attribute, c.old_value, c.new_value,
       v.opened_by_run_id AS run_id, r.previous_sync_at
  FROM defender.definition_version v
  JOIN defender.definition_state d ON d.definition_key = v.definition_key
  JOIN LATERAL (SELECT p.* FROM defender.definition_version p
                 WHERE p.definition_key = v.definition_key AND p.valid_from < v.valid_from
                 ORDER BY p.valid_from DESC LIMIT 1) p ON true
 CROSS JOIN LATERAL (VALUES
        ('scan_name', p.scan_name, v.scan_name),
        ('scan_type', p.scan_type, v.scan_type),
        ('is_active', p.is_active::text, v.is_active::text),
        ('interval_hours', p.interval_hours::text, v.interval_hours::text),
        ('target', p.target, v.target),
        ('target_type', p.target_type, v.target_type),
        ('scanner_agent_id', p.scanner_agent_id, v.scanner_agent_id),
        ('auth_variant', p.auth_variant, v.auth_variant),
        ('auth_type', p.auth_type, v.auth_type),
        ('created_by', p.created_by, v.created_by)
       ) AS c(attribute, old_value, new_value)
  JOIN defender.sync_runs r ON r.run_id = v.opened_by_run_id
 WHERE c.old_value IS DISTINCT FROM c.new_value
UNION ALL
-- Changes of fields without a column, one row per key: extra.<key as sent>.
SELECT d.tenant_id, d.definition_id, v.valid_from, 'extra.' || k.key, p.extra -> k.key #>> '{}', v.extra -> k.key #>> '{}',
       v.opened_by_run_id, r.previous_sync_at
  FROM defender.definition_version v
  JOIN defender.definition_state d ON d.definition_key = v.definition_key
  JOIN LATERAL (SELECT p.extra FROM defender.definition_version p
                 WHERE p.definition_key = v.definition_key AND p.valid_from < v.valid_from
                 ORDER BY p.valid_from DESC LIMIT 1) p ON true
 CROSS JOIN LATERAL (SELECT pg_catalog.jsonb_object_keys(p.extra) UNION SELECT pg_catalog.jsonb_object_keys(v.extra)) AS k(key)
  JOIN defender.sync_runs r ON r.run_id = v.opened_by_run_id
 WHERE p.extra IS DISTINCT FROM v.extra AND (p.extra -> k.key) IS DISTINCT FROM (v.extra -> k.key)
UNION ALL
-- The definition appearing for the first time, or returning after a deletion.
SELECT d.tenant_id, d.definition_id, v.valid_from, 'definition',
       CASE WHEN p.valid_to IS NOT NULL THEN 'deleted' END,
       CASE WHEN p.valid_to IS NOT NULL THEN 'returned' ELSE 'first seen' END,
       v.opened_by_run_id, r.previous_sync_at
  FROM defender.definition_version v
  JOIN defender.definition_state d ON d.definition_key = v.definition_key
  LEFT JOIN LATERAL (SELECT p.valid_to FROM defender.definition_version p
                      WHERE p.definition_key = v.definition_key AND p.valid_from < v.valid_from
                      ORDER BY p.valid_from DESC LIMIT 1) p ON true
  JOIN defender.sync_runs r ON r.run_id = v.opened_by_run_id
 WHERE p.valid_to IS NULL OR p.valid_to < v.valid_from
UNION ALL
-- The definition deleted: a version closed with no version starting then.
SELECT d.tenant_id, d.definition_id, v.valid_to, 'definition', 'listed', 'deleted', v.closed_by_run_id, r.previous_sync_at
  FROM defender.definition_version v
  JOIN defender.definition_state d ON d.definition_key = v.definition_key
  JOIN defender.sync_runs r ON r.run_id = v.closed_by_run_id
 WHERE v.valid_to IS NOT NULL
   AND NOT EXISTS (SELECT FROM defender.definition_version n
                    WHERE n.definition_key = v.definition_key AND n.valid_from = v.valid_to);
COMMENT ON VIEW defender.scan_definition_changes IS
    'One row per changed attribute of a scan definition, from its history: edits of its name, interval, target, scanner agent (a scan moved to another agent), activation, authentication kind, fields without a column (attribute extra.<name>), and the definition itself being first seen, deleted or returning (attribute definition).';
COMMENT ON COLUMN defender.scan_definition_changes.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';
COMMENT ON COLUMN defender.scan_definition_changes.definition_id IS 'Defender id of the scan definition.';
COMMENT ON COLUMN defender.scan_definition_changes.changed_at IS 'Fetch time of the sync that saw the change.';
COMMENT ON COLUMN defender.scan_definition_changes.attribute IS 'What changed: a column name of scan_definitions, extra.<field name as sent>, or definition (first seen, deleted, returned).';
COMMENT ON COLUMN defender.scan_definition_changes.old_value IS 'Value before the change, as text; empty if there was none.';
COMMENT ON COLUMN defender.scan_definition_changes.new_value IS 'Value after the change, as text; empty if there is none.';
COMMENT ON COLUMN defender.scan_definition_changes.run_id IS 'The sync run that saw the change.';
COMMENT ON COLUMN defender.scan_definition_changes.previous_sync_at IS 'Fetch time of the previous successful definitions sync of the tenant: the change happened in (previous_sync_at, changed_at]. Empty for changes seen by the first.';

CREATE VIEW defender.scan_sessions AS
SELECT s.tenant_id,
       s.definition_id,
       d.scan_name,
       s.scanner_agent_id,
       s.scanner_id,
       s.session_id,
       s.status,
       defender.scan_outcome(s.status) AS outcome,
       s.scanned_at,
       s.targets,
       s.succeeded_targets,
       s.general_error,
       s.extra,
       s.source,
       s.targets_run_id IS NOT NULL AS targets_recorded,
       s.recorded_at,
       s.recorded_by_run_id AS run_id,
       s.updated_at,
       s.updated_by_run_id
  FROM defender.session_result s
  LEFT JOIN defender.definition_state d ON d.tenant_id = s.tenant_id AND d.definition_id = s.definition_id;
COMMENT ON VIEW defender.scan_sessions IS
    'One row per scan session: which definition ran, on which agent, when, with what result and how many targets. A fact, recorded once: fetching the same history again writes nothing. A definition''s latestScan is a session here (source latest_scan) when the history has not named it.';
COMMENT ON COLUMN defender.scan_sessions.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender.scan_sessions.definition_id IS 'The scan definition that ran (scan_definitions.definition_id).';
COMMENT ON COLUMN defender.scan_sessions.scan_name IS 'The definition''s current name.';
COMMENT ON COLUMN defender.scan_sessions.scanner_agent_id IS 'The scan agent that ran it (scan_agents.agent_id): the agent whose machine id is the scanner the history named, else the definition''s scanner agent when the session was recorded.';
COMMENT ON COLUMN defender.scan_sessions.scanner_id IS 'The scanner the history named (ScannerId), as sent.';
COMMENT ON COLUMN defender.scan_sessions.session_id IS 'Defender id of the session; empty when the API named none.';
COMMENT ON COLUMN defender.scan_sessions.status IS 'Outcome as sent (Success, Fail, Partial Success...).';
COMMENT ON COLUMN defender.scan_sessions.outcome IS 'status read by defender.scan_outcome: success, partial or failure.';
COMMENT ON COLUMN defender.scan_sessions.scanned_at IS 'When the session ran (UTC).';
COMMENT ON COLUMN defender.scan_sessions.targets IS 'Number of targets of the session.';
COMMENT ON COLUMN defender.scan_sessions.succeeded_targets IS 'Number of them scanned successfully.';
COMMENT ON COLUMN defender.scan_sessions.general_error IS 'The session''s error message, when it has one.';
COMMENT ON COLUMN defender.scan_sessions.extra IS 'Fields the API sent that have no column, names as sent.';
COMMENT ON COLUMN defender.scan_sessions.source IS 'history (the scan history) or latest_scan (a definition''s latestScan).';
COMMENT ON COLUMN defender.scan_sessions.targets_recorded IS 'Whether the session''s targets are in scan_targets.';
COMMENT ON COLUMN defender.scan_sessions.recorded_at IS 'Fetch time of the sync that recorded the session.';
COMMENT ON COLUMN defender.scan_sessions.run_id IS 'The sync run that recorded it.';
COMMENT ON COLUMN defender.scan_sessions.updated_at IS 'Fetch time of the sync that last completed or corrected its values (the history naming a latestScan session, counts arriving later); empty if never.';
COMMENT ON COLUMN defender.scan_sessions.updated_by_run_id IS 'That sync run.';

CREATE VIEW defender.scan_targets AS
SELECT s.tenant_id,
       s.definition_id,
       s.session_id,
       s.scanned_at,
       t.ordinal,
       t.ip,
       t.hostname,
       t.description,
       t.status,
       defender.scan_outcome(t.status) AS outcome,
       t.error_message,
       t.duration,
       t.extra,
       s.targets_run_id AS run_id
  FROM defender.target_result t
  JOIN defender.session_result s ON s.session_key = t.session_key;
COMMENT ON VIEW defender.scan_targets IS
    'One row per target of a scan session: was target X scanned, when, with what result. Facts, recorded once.';
COMMENT ON COLUMN defender.scan_targets.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender.scan_targets.definition_id IS 'The scan definition that ran.';
COMMENT ON COLUMN defender.scan_targets.session_id IS 'Defender id of the session.';
COMMENT ON COLUMN defender.scan_targets.scanned_at IS 'When the session ran (UTC).';
COMMENT ON COLUMN defender.scan_targets.ordinal IS 'Position of the target in the session''s list, from 0.';
COMMENT ON COLUMN defender.scan_targets.ip IS 'IP address of the target.';
COMMENT ON COLUMN defender.scan_targets.hostname IS 'Host name of the target.';
COMMENT ON COLUMN defender.scan_targets.description IS 'Description of the scanned device.';
COMMENT ON COLUMN defender.scan_targets.status IS 'Outcome for the target as sent (Success, Failure, PartialSuccess).';
COMMENT ON COLUMN defender.scan_targets.outcome IS 'status read by defender.scan_outcome: success, partial or failure.';
COMMENT ON COLUMN defender.scan_targets.error_message IS 'Why the target failed; empty on success.';
COMMENT ON COLUMN defender.scan_targets.duration IS 'How long the target''s scan took.';
COMMENT ON COLUMN defender.scan_targets.extra IS 'Fields the API sent that have no column, names as sent.';
COMMENT ON COLUMN defender.scan_targets.run_id IS 'The history sync run that recorded the targets.';

CREATE VIEW defender.scan_coverage AS
SELECT d.tenant_id,
       d.definition_id,
       d.scan_name,
       d.scan_type,
       d.target,
       d.interval_hours,
       latest.scanned_at AS last_scan_at,
       latest.status AS last_status,
       defender.scan_outcome(latest.status) AS last_outcome,
       ok.scanned_at AS last_success_at,
       bad.scanned_at AS last_failure_at,
       (SELECT count(*)::integer FROM defender.session_result s
         WHERE s.tenant_id = d.tenant_id AND s.definition_id = d.definition_id
           AND s.scanned_at > coalesce(streak.scanned_at, '-infinity')
           AND defender.scan_outcome(s.status) = 'failure') AS consecutive_failures,
       d.scanner_agent_id,
       a.computer_dns_name AS scanner_host,
       hb.last_seen AS scanner_last_seen,
       CASE WHEN a.agent_key IS NOT NULL
            THEN hb.last_seen IS NULL OR hb.last_seen < t.last_fetched_at - interval '7 days' END AS scanner_stale,
       CASE WHEN a.agent_key IS NOT NULL THEN a.deleted_at IS NOT NULL END AS scanner_deleted,
       dr.run_id AS as_of_run_id,
       dr.fetched_at AS as_of_fetched_at,
       hr.run_id AS history_run_id,
       hr.fetched_at AS history_fetched_at
  FROM defender.definition_state d
  LEFT JOIN defender.tenants t ON t.tenant_id = d.tenant_id
  LEFT JOIN defender.agent_state a ON a.tenant_id = d.tenant_id AND a.agent_id = d.scanner_agent_id
  LEFT JOIN defender.agent_heartbeat hb ON hb.agent_key = a.agent_key
  LEFT JOIN LATERAL (SELECT s.scanned_at, s.status FROM defender.session_result s
                      WHERE s.tenant_id = d.tenant_id AND s.definition_id = d.definition_id AND s.scanned_at IS NOT NULL
                      ORDER BY s.scanned_at DESC LIMIT 1) latest ON true
  LEFT JOIN LATERAL (SELECT s.scanned_at FROM defender.session_result s
                      WHERE s.tenant_id = d.tenant_id AND s.definition_id = d.definition_id AND s.scanned_at IS NOT NULL
                        AND defender.scan_outcome(s.status) = 'success'
                      ORDER BY s.scanned_at DESC LIMIT 1) ok ON true
  LEFT JOIN LATERAL (SELECT s.scanned_at FROM defender.session_result s
                      WHERE s.tenant_id = d.tenant_id AND s.definition_id = d.definition_id AND s.scanned_at IS NOT NULL
                        AND defender.scan_outcome(s.status) = 'failure'
                      ORDER BY s.scanned_at DESC LIMIT 1) bad ON true
  -- The latest session that was not a failure ends the streak.
  LEFT JOIN LATERAL (SELECT s.scanned_at FROM defender.session_result s
                      WHERE s.tenant_id = d.tenant_id AND s.definition_id = d.definition_id AND s.scanned_at IS NOT NULL
                        AND defender.scan_outcome(s.status) IN ('success', 'partial')
                      ORDER BY s.scanned_at DESC LIMIT 1) streak ON true
  LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                      WHERE r.tenant_id = d.tenant_id AND r.resource = 'definitions' AND r.status = 'succeeded'
                      ORDER BY r.fetched_at DESC LIMIT 1) dr ON true
  LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                      WHERE r.tenant_id = d.tenant_id AND r.resource = 'history' AND r.status = 'succeeded'
                      ORDER BY r.fetched_at DESC LIMIT 1) hr ON true
 WHERE d.deleted_at IS NULL AND d.is_active;
COMMENT ON VIEW defender.scan_coverage IS
    'One row per active scan definition (listed and switched on): when it last ran, last succeeded and last failed, how many runs in a row failed, and its scanner agent with whether that agent is stale or deleted. An auditor''s first question: which scans are not doing their job.';
COMMENT ON COLUMN defender.scan_coverage.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender.scan_coverage.definition_id IS 'Defender id of the scan definition.';
COMMENT ON COLUMN defender.scan_coverage.scan_name IS 'Display name of the scan.';
COMMENT ON COLUMN defender.scan_coverage.scan_type IS 'Kind of scan.';
COMMENT ON COLUMN defender.scan_coverage.target IS 'What the scan covers, as sent.';
COMMENT ON COLUMN defender.scan_coverage.interval_hours IS 'Hours between runs.';
COMMENT ON COLUMN defender.scan_coverage.last_scan_at IS 'When its latest recorded session ran; empty if none is recorded.';
COMMENT ON COLUMN defender.scan_coverage.last_status IS 'That session''s status, as sent.';
COMMENT ON COLUMN defender.scan_coverage.last_outcome IS 'last_status read by defender.scan_outcome: success, partial or failure.';
COMMENT ON COLUMN defender.scan_coverage.last_success_at IS 'When its latest fully successful session ran; empty if none.';
COMMENT ON COLUMN defender.scan_coverage.last_failure_at IS 'When its latest failed session ran; empty if none.';
COMMENT ON COLUMN defender.scan_coverage.consecutive_failures IS 'Failed sessions since its latest successful or partly successful one (all of them if none): 0 when the latest run did not fail.';
COMMENT ON COLUMN defender.scan_coverage.scanner_agent_id IS 'The scan agent that runs it (scan_agents.agent_id).';
COMMENT ON COLUMN defender.scan_coverage.scanner_host IS 'Host name of that agent''s machine; empty when the agent is unknown.';
COMMENT ON COLUMN defender.scan_coverage.scanner_last_seen IS 'When that agent last checked in.';
COMMENT ON COLUMN defender.scan_coverage.scanner_stale IS 'True when that agent has not checked in for 7 days before the tenant''s latest agents sync (or never); empty when the agent is not in scan_agents.';
COMMENT ON COLUMN defender.scan_coverage.scanner_deleted IS 'True when that agent is marked deleted in scan_agents; empty when it is not there at all.';
COMMENT ON COLUMN defender.scan_coverage.as_of_run_id IS 'The latest successful definitions sync of the tenant, which the definition''s values come from.';
COMMENT ON COLUMN defender.scan_coverage.as_of_fetched_at IS 'Fetch time of that sync.';
COMMENT ON COLUMN defender.scan_coverage.history_run_id IS 'The latest successful history sync of the tenant: sessions recorded up to it are counted.';
COMMENT ON COLUMN defender.scan_coverage.history_fetched_at IS 'Fetch time of that sync.';

CREATE VIEW defender.scan_target_status AS
WITH per_target AS (
    SELECT c.tenant_id,
           c.target,
           max(c.last_success_at) AS last_success_at,
           pg_catalog.array_agg(c.definition_id ORDER BY c.definition_id)
               FILTER (WHERE d.deleted_at IS NULL AND d.is_active) AS covering_definitions,
           (pg_catalog.array_agg(ARRAY[c.latest_session_key, c.latest_ordinal]
                ORDER BY c.latest_scanned_at DESC NULLS LAST, c.latest_session_key DESC))[1:1] AS latest
      FROM defender.target_coverage c
      LEFT JOIN defender.definition_state d ON d.tenant_id = c.tenant_id AND d.definition_id = c.definition_id
     GROUP BY c.tenant_id, c.target
)
SELECT p.tenant_id,
       p.target,
       t.ip,
       t.hostname,
       t.description,
       t.status AS latest_status,
       defender.scan_outcome(t.status) AS latest_outcome,
       t.error_message AS latest_error_message,
       s.scanned_at AS latest_scanned_at,
       s.definition_id AS latest_definition_id,
       s.session_id AS latest_session_id,
       p.last_success_at,
       coalesce(p.covering_definitions, '{}') AS covering_definitions,
       s.targets_run_id AS as_of_run_id
  FROM per_target p
  JOIN defender.session_result s ON s.session_key = p.latest[1][1]
  JOIN defender.target_result t ON t.session_key = p.latest[1][1] AND t.ordinal = p.latest[1][2];
COMMENT ON VIEW defender.scan_target_status IS
    'One row per scanned target (an IP address, else a host name): its latest outcome, its last successful scan and the active definitions that scan it. Answers "was target X actually scanned, when, with what result". Built from the targets stored; filter on tenant_id and target.';
COMMENT ON COLUMN defender.scan_target_status.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender.scan_target_status.target IS 'The target: its IP address, else its host name in lower case.';
COMMENT ON COLUMN defender.scan_target_status.ip IS 'IP address, as its latest scan reported it.';
COMMENT ON COLUMN defender.scan_target_status.hostname IS 'Host name, as its latest scan reported it.';
COMMENT ON COLUMN defender.scan_target_status.description IS 'Device description, as its latest scan reported it.';
COMMENT ON COLUMN defender.scan_target_status.latest_status IS 'Outcome of its latest scan, as sent.';
COMMENT ON COLUMN defender.scan_target_status.latest_outcome IS 'latest_status read by defender.scan_outcome: success, partial or failure.';
COMMENT ON COLUMN defender.scan_target_status.latest_error_message IS 'Why its latest scan failed; empty on success.';
COMMENT ON COLUMN defender.scan_target_status.latest_scanned_at IS 'When its latest scan ran.';
COMMENT ON COLUMN defender.scan_target_status.latest_definition_id IS 'The definition of its latest scan.';
COMMENT ON COLUMN defender.scan_target_status.latest_session_id IS 'The session of its latest scan.';
COMMENT ON COLUMN defender.scan_target_status.last_success_at IS 'When it was last scanned successfully; empty if never.';
COMMENT ON COLUMN defender.scan_target_status.covering_definitions IS 'Ids of the active definitions (listed and switched on) that have scanned it, in order.';
COMMENT ON COLUMN defender.scan_target_status.as_of_run_id IS 'The history sync run that recorded its latest scan.';

SELECT defender.grant_reader_access();

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_reader') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA defender FROM defender_reader;
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA defender FROM defender_reader;
    END IF;
END;
$$;
-- +goose StatementEnd
DROP VIEW defender.scan_target_status;
DROP VIEW defender.scan_coverage;
DROP VIEW defender.scan_targets;
DROP VIEW defender.scan_sessions;
DROP VIEW defender.scan_definition_changes;
DROP VIEW defender.scan_definition_history;
DROP VIEW defender.scan_definitions;
DROP TABLE defender.target_coverage;
DROP TABLE defender.target_result;
DROP TABLE defender.session_result;
DROP TABLE defender.definition_withheld;
DROP TABLE defender.definition_version;
DROP TABLE defender.definition_state;
DROP FUNCTION defender.scan_outcome(text);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_as_of(at timestamptz)
RETURNS TABLE (
    tenant_id                 text,
    agent_id                  text,
    machine_id                text,
    computer_dns_name         text,
    assigned_application_id   text,
    scanner_software_version  text,
    mde_client_version        text,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz,
    extra                     jsonb,
    as_of_run_id              bigint,
    as_of_fetched_at          timestamptz
)
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Compiling its plan costs more than running it.
SET jit = off
BEGIN ATOMIC
    WITH s AS (
        -- Per tenant, the last successful sync at or before `at`.
        SELECT t.tenant_id, r.run_id, r.fetched_at, r.run_id = t.last_run_id AS latest,
               defender.utc_day(r.fetched_at) AS day
          FROM defender.tenants t
         CROSS JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_as_of.at
                              ORDER BY r.fetched_at DESC LIMIT 1) r
    ), versions AS (
        -- The agents that sync saw: a version valid at its fetch time, and
        -- not among the deletions it withheld.
        SELECT s.tenant_id, s.run_id, s.fetched_at, s.latest, s.day, h.*
          FROM s
          JOIN defender.agent_state a ON a.tenant_id = s.tenant_id
         CROSS JOIN LATERAL (SELECT h.agent_key, h.agent_id, h.machine_id, h.computer_dns_name,
                                    h.assigned_application_id, h.scanner_software_version,
                                    h.mde_client_version, h.extra, h.valid_to
                               FROM defender.scan_agent_history h
                              WHERE h.agent_key = a.agent_key AND h.valid_from <= s.fetched_at
                              ORDER BY h.valid_from DESC LIMIT 1) h
         WHERE (h.valid_to IS NULL OR h.valid_to > s.fetched_at)
           AND NOT EXISTS (SELECT FROM defender.withheld_deletions w
                            WHERE w.agent_key = h.agent_key AND w.run_id = s.run_id)
    ), day_observations AS (
        -- For a past sync, the latest observation of each agent on the
        -- sync's day up to the sync: max over (time, values) picks it.
        SELECT b.block * 64 + o.slot AS agent_key,
               max(ARRAY[b.observed_at, o.last_seen, o.last_command_execution_at]) AS latest
          FROM s
          JOIN defender.sync_runs r
            ON r.tenant_id = s.tenant_id AND r.status = 'succeeded'
           AND r.fetched_at >= s.day::timestamp AT TIME ZONE 'UTC' AND r.fetched_at <= s.fetched_at
          JOIN defender.observation_block b ON b.run_id = r.run_id AND b.observed_at = r.fetched_at
         CROSS JOIN LATERAL unnest(b.slots, b.last_seen, b.last_command_execution_at)
               AS o(slot, last_seen, last_command_execution_at)
         WHERE NOT s.latest
         GROUP BY 1
    )
    SELECT v.tenant_id, v.agent_id, v.machine_id, v.computer_dns_name, v.assigned_application_id,
           v.scanner_software_version, v.mde_client_version,
           CASE WHEN v.latest THEN hb.last_seen
                WHEN d.agent_key IS NOT NULL THEN d.latest[2]
                ELSE before.last_seen END,
           CASE WHEN v.latest THEN hb.last_command_execution_at
                WHEN d.agent_key IS NOT NULL THEN d.latest[3]
                ELSE before.last_command_execution_at END,
           v.extra, v.run_id, v.fetched_at
      FROM versions v
      LEFT JOIN defender.agent_heartbeat hb ON v.latest AND hb.agent_key = v.agent_key
      LEFT JOIN day_observations d ON d.agent_key = v.agent_key
      -- Else the agent as the last sync of an earlier day left it.
      LEFT JOIN LATERAL (SELECT ad.last_seen, ad.last_command_execution_at
                           FROM defender.agent_daily ad
                          WHERE NOT v.latest AND d.agent_key IS NULL
                            AND ad.agent_key = v.agent_key AND ad.day < v.day
                          ORDER BY ad.day DESC LIMIT 1) before ON true;
END;
-- +goose StatementEnd

CREATE OR REPLACE VIEW defender.scan_agents AS
SELECT a.tenant_id,
       a.agent_id,
       a.machine_id,
       a.computer_dns_name,
       a.assigned_application_id,
       a.scanner_software_version,
       a.mde_client_version,
       hb.last_seen,
       hb.last_command_execution_at,
       a.extra,
       a.first_seen_at,
       CASE WHEN a.deleted_at IS NULL
                 AND NOT EXISTS (SELECT FROM defender.withheld_deletions w
                                  WHERE w.agent_key = a.agent_key AND w.run_id = t.last_run_id)
            -- Active and returned by the tenant's latest sync.
            THEN t.last_fetched_at
            -- Every successful run since the agent was first seen returned
            -- it, withheld its deletion, or deleted it: the latest one
            -- before its deletion that did not withhold it returned it.
            ELSE (SELECT r.fetched_at
                    FROM defender.sync_runs r
                   WHERE r.tenant_id = a.tenant_id
                     AND r.status = 'succeeded'
                     AND r.run_id < coalesce(a.deleted_by_run_id, 9223372036854775807)
                     AND NOT EXISTS (SELECT FROM defender.withheld_deletions w
                                      WHERE w.agent_key = a.agent_key AND w.run_id = r.run_id)
                   ORDER BY r.run_id DESC
                   LIMIT 1)
       END AS last_synced_at,
       a.deleted_at
  FROM defender.agent_state a
  LEFT JOIN defender.agent_heartbeat hb ON hb.agent_key = a.agent_key
  LEFT JOIN defender.tenants t ON t.tenant_id = a.tenant_id;

CREATE OR REPLACE VIEW defender.agent_daily_open AS
SELECT a.agent_key,
       a.tenant_id,
       td.day,
       t.last_run_id AS run_id,
       t.last_fetched_at AS synced_at,
       a.computer_dns_name,
       a.mde_client_version,
       a.scanner_software_version,
       hb.last_seen,
       hb.last_command_execution_at,
       -- The day's syncs since the agent's activity began, less those that
       -- withheld its deletion, plus what an earlier stretch of the same
       -- day left in agent_daily.
       (CASE WHEN a.active_since <= td.first_synced_at THEN td.syncs
             ELSE (SELECT count(*)::integer FROM defender.sync_runs r
                    WHERE r.tenant_id = a.tenant_id AND r.status = 'succeeded'
                      AND r.fetched_at >= a.active_since AND r.fetched_at <= t.last_fetched_at)
        END
        - CASE WHEN wh.agent_key IS NULL THEN 0
               ELSE (SELECT count(*)::integer FROM unnest(wh.withheld_at) AS x(at)
                      WHERE x.at >= greatest(a.active_since, td.first_synced_at))
          END
        + coalesce(earlier.syncs_observed, 0)) AS syncs_observed
  FROM defender.tenants t
  JOIN defender.tenant_daily td ON td.tenant_id = t.tenant_id AND td.day = defender.utc_day(t.last_fetched_at)
  JOIN defender.agent_state a ON a.tenant_id = t.tenant_id AND a.deleted_at IS NULL
  LEFT JOIN defender.agent_heartbeat hb ON hb.agent_key = a.agent_key
  LEFT JOIN defender.agent_daily earlier ON earlier.agent_key = a.agent_key AND earlier.day = td.day
  -- Withheld deletions on open days are rare: gathered once, not looked up
  -- per agent.
  LEFT JOIN (SELECT w.agent_key, pg_catalog.array_agg(r.fetched_at) AS withheld_at
               FROM defender.tenants wt
               JOIN defender.sync_runs r
                 ON r.tenant_id = wt.tenant_id AND r.status = 'succeeded'
                AND r.fetched_at >= defender.utc_day(wt.last_fetched_at)::timestamp AT TIME ZONE 'UTC'
               JOIN defender.withheld_deletions w ON w.run_id = r.run_id
              GROUP BY w.agent_key) wh ON wh.agent_key = a.agent_key;

-- The runs of other resources have no meaning without their tables.
DELETE FROM defender.sync_runs WHERE resource <> 'agents';
DROP INDEX defender.sync_runs_succeeded_by_resource;
DROP INDEX defender.sync_runs_one_running_per_tenant;
CREATE UNIQUE INDEX sync_runs_one_running_per_tenant
    ON defender.sync_runs (tenant_id) WHERE status = 'running';
ALTER TABLE defender.sync_runs
    DROP COLUMN resource, DROP COLUMN records_seen, DROP COLUMN records_inserted, DROP COLUMN records_changed,
    DROP COLUMN records_unchanged, DROP COLUMN records_deleted, DROP COLUMN records_rejected, DROP COLUMN targets_inserted;
COMMENT ON TABLE defender.sync_runs IS
    'One row per sync of a tenant: when it ran, how it ended and what it counted. A failed run changed no agent data.';
SELECT defender.grant_reader_access();
