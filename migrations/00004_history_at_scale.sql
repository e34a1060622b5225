-- History that answers fast for years of hourly syncs:
--
-- * Heartbeats (last_seen, last_command_execution_at) leave agent_state for
--   a narrow table updated in place (HOT), so a sync rewrites an agent's
--   descriptive row only when a descriptive value changes, or the agent is
--   deleted or returns.
-- * Observations are packed: one row per sync per block of 64 agent keys,
--   with arrays of slots and timestamps, in monthly partitions that
--   retention drops whole.
-- * Daily rollups per agent (agent_daily: the state at each day's last
--   sync) and per tenant (tenant_daily), kept by the loader in each sync's
--   transaction and back-filled here from the stored history.
-- * tenants: one row per tenant with its latest successful sync, so that
--   views find "the latest sync" without scanning sync_runs.
-- * Reporting views that filter before they join, provenance columns
--   (as_of_run_id, as_of_fetched_at, previous_sync_at), and functions that
--   read storage run as SECURITY DEFINER for defender_reader.
--
-- Every stored row keeps its meaning: scan_agents_as_of answers at every
-- past run exactly as before (the upgrade test checks it).

-- +goose Up
CREATE FUNCTION defender.utc_day(at timestamptz) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (at AT TIME ZONE 'UTC')::date;
COMMENT ON FUNCTION defender.utc_day(timestamptz) IS
    'The UTC calendar day of a time: the day the daily rollups (scan_agent_daily, fleet_daily) file it under.';

-- sync_runs: the previous successful sync of the tenant, for the lower bound
-- of a change's time; and an index to find the sync at or before a time.
ALTER TABLE defender.sync_runs ADD COLUMN previous_sync_at timestamptz;
COMMENT ON COLUMN defender.sync_runs.previous_sync_at IS
    'Fetch time of the tenant''s previous successful sync, when this run succeeded; empty for its first. A change this run recorded happened in (previous_sync_at, fetched_at].';
UPDATE defender.sync_runs r
   SET previous_sync_at = p.previous
  FROM (SELECT run_id, lag(fetched_at) OVER (PARTITION BY tenant_id ORDER BY fetched_at) AS previous
          FROM defender.sync_runs WHERE status = 'succeeded') p
 WHERE r.run_id = p.run_id AND p.previous IS NOT NULL;
ALTER TABLE defender.sync_runs ADD CONSTRAINT sync_runs_previous_before_fetch
    CHECK (previous_sync_at < fetched_at);
CREATE INDEX sync_runs_succeeded_by_fetch
    ON defender.sync_runs (tenant_id, fetched_at) INCLUDE (run_id) WHERE status = 'succeeded';

-- One row per tenant ever synced.
CREATE TABLE defender.tenants (
    tenant_id       text PRIMARY KEY CHECK (tenant_id <> ''),
    display_name    text,
    last_run_id     bigint REFERENCES defender.sync_runs,
    last_fetched_at timestamptz,
    CONSTRAINT tenants_last_run_has_time CHECK ((last_run_id IS NULL) = (last_fetched_at IS NULL))
);
COMMENT ON TABLE defender.tenants IS
    'Storage behind fleet_daily and the views: one row per tenant ever synced, with its latest successful sync.';
COMMENT ON COLUMN defender.tenants.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case).';
COMMENT ON COLUMN defender.tenants.display_name IS 'Name of the tenant given in the configuration; empty when none.';
COMMENT ON COLUMN defender.tenants.last_run_id IS 'The tenant''s latest successful sync; empty before its first.';
COMMENT ON COLUMN defender.tenants.last_fetched_at IS 'Fetch time of that sync.';
INSERT INTO defender.tenants (tenant_id, last_run_id, last_fetched_at)
SELECT DISTINCT ON (tenant_id) tenant_id, run_id, fetched_at
  FROM defender.sync_runs WHERE status = 'succeeded'
 ORDER BY tenant_id, fetched_at DESC;
INSERT INTO defender.tenants (tenant_id)
SELECT DISTINCT tenant_id FROM defender.sync_runs
ON CONFLICT (tenant_id) DO NOTHING;
ALTER TABLE defender.sync_runs ADD CONSTRAINT sync_runs_tenant
    FOREIGN KEY (tenant_id) REFERENCES defender.tenants;

-- agent_state: when the agent's current stretch of activity began (first
-- seen, or returned after a deletion); the daily rollups count syncs from it.
ALTER TABLE defender.agent_state ADD COLUMN active_since timestamptz;
COMMENT ON COLUMN defender.agent_state.active_since IS
    'Fetch time of the sync that began the agent''s current stretch of activity: the one that first returned it, or that returned it after a deletion.';
UPDATE defender.agent_state a
   SET active_since = s.since
  FROM (SELECT agent_key, max(valid_from) AS since
          FROM (SELECT agent_key, valid_from,
                       lag(valid_to) OVER (PARTITION BY agent_key ORDER BY valid_from) AS previous_to
                  FROM defender.scan_agent_history) v
         WHERE previous_to IS NULL OR previous_to < valid_from
         GROUP BY agent_key) s
 WHERE a.agent_key = s.agent_key;
ALTER TABLE defender.agent_state ALTER COLUMN active_since SET NOT NULL;

-- Heartbeats: the narrow, hot part of an agent. No index covers the
-- updated columns and pages keep room, so syncs update them in place.
CREATE TABLE defender.agent_heartbeat (
    agent_key                 bigint PRIMARY KEY REFERENCES defender.agent_state,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz
) WITH (fillfactor = 30); -- room on each page for two new versions of each row between prunings
COMMENT ON TABLE defender.agent_heartbeat IS
    'Storage behind scan_agents: the volatile timestamps of every agent as its latest sync saw them, updated in place.';
COMMENT ON COLUMN defender.agent_heartbeat.agent_key IS 'Internal number of the agent (see defender.agent_state).';
COMMENT ON COLUMN defender.agent_heartbeat.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';
COMMENT ON COLUMN defender.agent_heartbeat.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';
INSERT INTO defender.agent_heartbeat (agent_key, last_seen, last_command_execution_at)
SELECT agent_key, last_seen, last_command_execution_at FROM defender.agent_state;

-- Packed observations. An agent key k is stored as block k / 64 and slot
-- k % 64; one row holds what one sync saw of up to 64 agents.
CREATE FUNCTION defender.observation_slots_valid(slots smallint[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.array_ndims(slots) = 1
       AND pg_catalog.cardinality(slots) BETWEEN 1 AND 64
       AND NOT EXISTS (SELECT FROM pg_catalog.unnest(slots) WITH ORDINALITY AS s(slot, n)
                        WHERE s.slot IS NULL OR s.slot NOT BETWEEN 0 AND 63
                           OR (s.n > 1 AND s.slot <= slots[s.n - 1]));
COMMENT ON FUNCTION defender.observation_slots_valid(smallint[]) IS
    'Internal: true when slots is a strictly increasing list of agent slots 0..63 (checks defender.observation_block).';

CREATE TABLE defender.observation_block (
    observed_at               timestamptz   NOT NULL,
    run_id                    bigint        NOT NULL REFERENCES defender.sync_runs,
    block                     bigint        NOT NULL CHECK (block >= 0),
    slots                     smallint[]    NOT NULL CHECK (defender.observation_slots_valid(slots)),
    last_seen                 timestamptz[] NOT NULL,
    last_command_execution_at timestamptz[] NOT NULL,
    PRIMARY KEY (run_id, block, observed_at),
    CONSTRAINT observation_block_arrays_match CHECK (
        pg_catalog.cardinality(last_seen) = pg_catalog.cardinality(slots)
        AND pg_catalog.cardinality(last_command_execution_at) = pg_catalog.cardinality(slots))
) PARTITION BY RANGE (observed_at);
CREATE INDEX observation_block_by_block ON defender.observation_block (block, observed_at);
COMMENT ON TABLE defender.observation_block IS
    'Storage behind scan_agent_observations: what one sync saw of the volatile timestamps of up to 64 agents whose values changed, packed in arrays. Partitioned by month of observed_at; OBSERVATION_RETENTION drops whole months.';
COMMENT ON COLUMN defender.observation_block.observed_at IS 'Fetch time of the sync (sync_runs.fetched_at).';
COMMENT ON COLUMN defender.observation_block.run_id IS 'The sync run that made the observations.';
COMMENT ON COLUMN defender.observation_block.block IS 'Agent key / 64: the agents of this row have keys block * 64 + slot.';
COMMENT ON COLUMN defender.observation_block.slots IS 'Agent key % 64 of each observed agent, increasing.';
COMMENT ON COLUMN defender.observation_block.last_seen IS 'last_seen of each observed agent, in the order of slots.';
COMMENT ON COLUMN defender.observation_block.last_command_execution_at IS 'last_command_execution_at of each observed agent, in the order of slots.';

-- +goose StatementBegin
CREATE FUNCTION defender.ensure_observation_partition(at timestamptz) RETURNS text
    LANGUAGE plpgsql
AS $$
DECLARE
    month_start timestamp   := pg_catalog.date_trunc('month', at AT TIME ZONE 'UTC');
    lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
    upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    name        text        := 'observation_block_' || pg_catalog.to_char(month_start, 'YYYY_MM');
BEGIN
    IF pg_catalog.to_regclass('defender.' || pg_catalog.quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Serializes creators; readers and writers go on.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('agentsync observation partitions'));
    IF pg_catalog.to_regclass('defender.' || pg_catalog.quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Created apart and attached: ATTACH PARTITION takes only a SHARE
    -- UPDATE EXCLUSIVE lock on the parent, which never blocks a read.
    EXECUTE pg_catalog.format(
        'CREATE TABLE defender.%I (LIKE defender.observation_block INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE pg_catalog.format(
        'ALTER TABLE defender.observation_block ATTACH PARTITION defender.%I FOR VALUES FROM (%L) TO (%L)',
        name, lower_bound, upper_bound);
    EXECUTE pg_catalog.format(
        'COMMENT ON TABLE defender.%I IS %L', name,
        'Observations of ' || pg_catalog.to_char(month_start, 'YYYY-MM') || ' (UTC): a partition of defender.observation_block.');
    RETURN name;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.ensure_observation_partition(timestamptz) IS
    'Internal: creates the monthly partition of defender.observation_block that holds the given time, if missing, and returns its name. The loader calls it before each sync.';

SELECT defender.ensure_observation_partition(m AT TIME ZONE 'UTC')
  FROM pg_catalog.generate_series(
         pg_catalog.date_trunc('month', least(
             (SELECT min(fetched_at) FROM defender.sync_runs WHERE fetched_at IS NOT NULL), pg_catalog.now())
             AT TIME ZONE 'UTC'),
         pg_catalog.date_trunc('month', pg_catalog.now() AT TIME ZONE 'UTC') + interval '1 month',
         interval '1 month') AS m;

INSERT INTO defender.observation_block
       (observed_at, run_id, block, slots, last_seen, last_command_execution_at)
SELECT r.fetched_at, o.run_id, o.agent_key / 64,
       pg_catalog.array_agg((o.agent_key % 64)::smallint ORDER BY o.agent_key),
       pg_catalog.array_agg(o.last_seen ORDER BY o.agent_key),
       pg_catalog.array_agg(o.last_command_execution_at ORDER BY o.agent_key)
  FROM defender.agent_observation o
  JOIN defender.sync_runs r ON r.run_id = o.run_id
 GROUP BY r.fetched_at, o.run_id, o.agent_key / 64;

-- Daily rollups per agent: the agent as the day's last successful sync
-- that had it active saw it. The day of a tenant's latest sync is still
-- open: the view scan_agent_daily reads it from the current state
-- (agent_daily_open), and the loader stores it when the next day's first
-- sync arrives. An agent deleted during the open day, or deleted and back,
-- keeps here what it had before.
CREATE TABLE defender.agent_daily (
    agent_key                 bigint      NOT NULL REFERENCES defender.agent_state,
    day                       date        NOT NULL,
    run_id                    bigint      NOT NULL REFERENCES defender.sync_runs,
    synced_at                 timestamptz NOT NULL,
    computer_dns_name         text,
    mde_client_version        text,
    scanner_software_version  text,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz,
    syncs_observed            integer     NOT NULL CHECK (syncs_observed >= 0),
    PRIMARY KEY (agent_key, day),
    CONSTRAINT agent_daily_synced_that_day CHECK (defender.utc_day(synced_at) = day)
);
CREATE INDEX agent_daily_by_day ON defender.agent_daily USING brin (day);
COMMENT ON TABLE defender.agent_daily IS
    'Storage behind scan_agent_daily: one row per agent per closed UTC day on which it was active at a successful sync.';
COMMENT ON COLUMN defender.agent_daily.agent_key IS 'Internal number of the agent (see defender.agent_state).';
COMMENT ON COLUMN defender.agent_daily.day IS 'The UTC day.';
COMMENT ON COLUMN defender.agent_daily.run_id IS 'The day''s last successful sync at which the agent was active.';
COMMENT ON COLUMN defender.agent_daily.synced_at IS 'Fetch time of that sync.';
COMMENT ON COLUMN defender.agent_daily.computer_dns_name IS 'Host name as of that sync.';
COMMENT ON COLUMN defender.agent_daily.mde_client_version IS 'Defender client version as of that sync.';
COMMENT ON COLUMN defender.agent_daily.scanner_software_version IS 'Scanner version as of that sync.';
COMMENT ON COLUMN defender.agent_daily.last_seen IS 'last_seen as of that sync.';
COMMENT ON COLUMN defender.agent_daily.last_command_execution_at IS 'last_command_execution_at as of that sync.';
COMMENT ON COLUMN defender.agent_daily.syncs_observed IS 'Successful syncs of the day that returned the agent.';

-- Daily rollups per tenant, rewritten by every successful sync of the day.
CREATE TABLE defender.tenant_daily (
    tenant_id                 text        NOT NULL REFERENCES defender.tenants,
    day                       date        NOT NULL,
    run_id                    bigint      NOT NULL REFERENCES defender.sync_runs,
    synced_at                 timestamptz NOT NULL,
    first_synced_at           timestamptz NOT NULL,
    syncs                     integer     NOT NULL CHECK (syncs > 0),
    active_agents             integer     NOT NULL DEFAULT 0 CHECK (active_agents >= 0),
    stale_7d_agents           integer     NOT NULL DEFAULT 0 CHECK (stale_7d_agents >= 0),
    never_seen_agents         integer     NOT NULL DEFAULT 0 CHECK (never_seen_agents >= 0),
    newest_mde_client_version text,
    agents_on_newest          integer     NOT NULL DEFAULT 0 CHECK (agents_on_newest >= 0),
    mde_client_versions       jsonb       NOT NULL DEFAULT '{}'
                              CHECK (pg_catalog.jsonb_typeof(mde_client_versions) = 'object'),
    PRIMARY KEY (tenant_id, day),
    CONSTRAINT tenant_daily_synced_that_day CHECK (
        defender.utc_day(synced_at) = day AND defender.utc_day(first_synced_at) = day
        AND first_synced_at <= synced_at)
);
COMMENT ON TABLE defender.tenant_daily IS 'Storage behind fleet_daily: one row per tenant per UTC day with a successful sync.';
COMMENT ON COLUMN defender.tenant_daily.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender.tenant_daily.day IS 'The UTC day.';
COMMENT ON COLUMN defender.tenant_daily.run_id IS 'The day''s last successful sync.';
COMMENT ON COLUMN defender.tenant_daily.synced_at IS 'Fetch time of that sync.';
COMMENT ON COLUMN defender.tenant_daily.first_synced_at IS 'Fetch time of the day''s first successful sync.';
COMMENT ON COLUMN defender.tenant_daily.syncs IS 'Successful syncs of the day.';
COMMENT ON COLUMN defender.tenant_daily.active_agents IS 'Agents active at the day''s last successful sync.';
COMMENT ON COLUMN defender.tenant_daily.stale_7d_agents IS 'Of those, agents whose last_seen was 7 days or more before that sync.';
COMMENT ON COLUMN defender.tenant_daily.never_seen_agents IS 'Of those, agents that never checked in.';
COMMENT ON COLUMN defender.tenant_daily.newest_mde_client_version IS 'Newest Defender client version among those agents.';
COMMENT ON COLUMN defender.tenant_daily.agents_on_newest IS 'Agents on that version.';
COMMENT ON COLUMN defender.tenant_daily.mde_client_versions IS 'Agents per Defender client version: {"version": agents}.';

-- The open day of each tenant (the day of its latest successful sync), as
-- that sync saw its active agents. The loader stores these rows into
-- agent_daily when the day closes, or for an agent deleted during it.
CREATE VIEW defender.agent_daily_open AS
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
COMMENT ON VIEW defender.agent_daily_open IS
    'The rows of scan_agent_daily for the open day of each tenant (the day of its latest successful sync), computed from the current state, with internal agent keys.';
COMMENT ON COLUMN defender.agent_daily_open.agent_key IS 'Internal number of the agent (see defender.agent_state).';
COMMENT ON COLUMN defender.agent_daily_open.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';
COMMENT ON COLUMN defender.agent_daily_open.day IS 'The UTC day of the tenant''s latest successful sync.';
COMMENT ON COLUMN defender.agent_daily_open.run_id IS 'That sync.';
COMMENT ON COLUMN defender.agent_daily_open.synced_at IS 'Fetch time of that sync.';
COMMENT ON COLUMN defender.agent_daily_open.computer_dns_name IS 'Host name as of that sync.';
COMMENT ON COLUMN defender.agent_daily_open.mde_client_version IS 'Defender client version as of that sync.';
COMMENT ON COLUMN defender.agent_daily_open.scanner_software_version IS 'Scanner version as of that sync.';
COMMENT ON COLUMN defender.agent_daily_open.last_seen IS 'last_seen as of that sync.';
COMMENT ON COLUMN defender.agent_daily_open.last_command_execution_at IS 'last_command_execution_at as of that sync.';
COMMENT ON COLUMN defender.agent_daily_open.syncs_observed IS 'Successful syncs of the day so far that returned the agent.';

CREATE VIEW defender.scan_agent_daily AS
SELECT a.tenant_id,
       a.agent_id,
       d.day,
       d.computer_dns_name,
       d.mde_client_version,
       d.scanner_software_version,
       d.last_seen,
       d.synced_at - d.last_seen AS staleness,
       d.syncs_observed,
       d.last_command_execution_at,
       d.run_id AS as_of_run_id,
       d.synced_at AS as_of_fetched_at
  FROM defender.agent_daily d
  JOIN defender.agent_state a ON a.agent_key = d.agent_key
  JOIN defender.tenants t ON t.tenant_id = a.tenant_id
 -- An agent active on the open day is read from the current state below.
 WHERE NOT (a.deleted_at IS NULL AND d.day = defender.utc_day(t.last_fetched_at))
UNION ALL
SELECT o.tenant_id,
       a.agent_id,
       o.day,
       o.computer_dns_name,
       o.mde_client_version,
       o.scanner_software_version,
       o.last_seen,
       o.synced_at - o.last_seen,
       o.syncs_observed,
       o.last_command_execution_at,
       o.run_id,
       o.synced_at
  FROM defender.agent_daily_open o
  JOIN defender.agent_state a ON a.agent_key = o.agent_key;
COMMENT ON VIEW defender.scan_agent_daily IS
    'One row per agent per UTC day on which its tenant had a successful sync while the agent was active: the agent as the day''s last such sync saw it. Kept after OBSERVATION_RETENTION drops raw observations.';
COMMENT ON COLUMN defender.scan_agent_daily.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';
COMMENT ON COLUMN defender.scan_agent_daily.agent_id IS 'Defender id of the scan agent.';
COMMENT ON COLUMN defender.scan_agent_daily.day IS 'The UTC day.';
COMMENT ON COLUMN defender.scan_agent_daily.computer_dns_name IS 'Host name as of the day''s last sync that had the agent active.';
COMMENT ON COLUMN defender.scan_agent_daily.mde_client_version IS 'Defender client version as of that sync.';
COMMENT ON COLUMN defender.scan_agent_daily.scanner_software_version IS 'Scanner version as of that sync.';
COMMENT ON COLUMN defender.scan_agent_daily.last_seen IS 'last_seen as of that sync.';
COMMENT ON COLUMN defender.scan_agent_daily.staleness IS 'That sync''s fetch time minus last_seen: how long the agent had not checked in; empty if never.';
COMMENT ON COLUMN defender.scan_agent_daily.syncs_observed IS 'Successful syncs of the day that returned the agent.';
COMMENT ON COLUMN defender.scan_agent_daily.last_command_execution_at IS 'last_command_execution_at as of that sync.';
COMMENT ON COLUMN defender.scan_agent_daily.as_of_run_id IS 'The sync the row comes from: the day''s last successful sync at which the agent was active.';
COMMENT ON COLUMN defender.scan_agent_daily.as_of_fetched_at IS 'Fetch time of that sync.';

-- +goose StatementBegin
CREATE FUNCTION defender.refresh_fleet_daily(tenant text, day date) RETURNS void
    LANGUAGE sql
BEGIN ATOMIC
    WITH fleet AS (
        SELECT d.mde_client_version, d.last_seen, td.synced_at
          FROM defender.tenant_daily td
          JOIN defender.agent_daily d ON d.day = td.day AND d.run_id = td.run_id
         WHERE td.tenant_id = refresh_fleet_daily.tenant AND td.day = refresh_fleet_daily.day
           -- A closed day only: the open one is read below, from the current state.
           AND refresh_fleet_daily.day <> (SELECT defender.utc_day(t.last_fetched_at) FROM defender.tenants t
                                            WHERE t.tenant_id = refresh_fleet_daily.tenant)
        UNION ALL
        SELECT o.mde_client_version, o.last_seen, o.synced_at
          FROM defender.agent_daily_open o
         WHERE o.tenant_id = refresh_fleet_daily.tenant AND o.day = refresh_fleet_daily.day
    ), versions AS (
        -- One row per version spelling, its sort key computed once.
        SELECT v.*, defender.version_key(v.mde_client_version) AS key
          FROM (SELECT f.mde_client_version,
                       count(*) AS agents,
                       count(*) FILTER (WHERE f.last_seen <= f.synced_at - interval '7 days') AS stale,
                       count(*) FILTER (WHERE f.last_seen IS NULL) AS never_seen
                  FROM fleet f GROUP BY f.mde_client_version) v
    ), newest AS (
        SELECT v.key, v.mde_client_version AS version
          FROM versions v WHERE v.key IS NOT NULL
         ORDER BY v.key DESC, pg_catalog.length(v.mde_client_version) DESC, v.mde_client_version
         LIMIT 1
    )
    UPDATE defender.tenant_daily td
       SET active_agents = coalesce(s.active, 0),
           stale_7d_agents = coalesce(s.stale, 0),
           never_seen_agents = coalesce(s.never_seen, 0),
           newest_mde_client_version = (SELECT version FROM newest),
           agents_on_newest = coalesce(s.on_newest, 0),
           mde_client_versions = s.counts
      FROM (SELECT sum(v.agents) AS active,
                   sum(v.stale) AS stale,
                   sum(v.never_seen) AS never_seen,
                   sum(v.agents) FILTER (WHERE v.key = (SELECT key FROM newest)) AS on_newest,
                   coalesce(pg_catalog.jsonb_object_agg(v.mde_client_version, v.agents)
                                FILTER (WHERE v.mde_client_version IS NOT NULL), '{}') AS counts
              FROM versions v) s
     WHERE td.tenant_id = refresh_fleet_daily.tenant AND td.day = refresh_fleet_daily.day;
END;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.refresh_fleet_daily(text, date) IS
    'Internal: recomputes the agent counts of a tenant''s day in tenant_daily from the agents active at the day''s last successful sync. The loader calls it in every sync''s transaction.';

-- Back-fill the rollups from the stored history: the successful runs, and
-- for each the agents whose version was valid at its fetch time.
CREATE TEMPORARY TABLE backfill_active ON COMMIT DROP AS
SELECT h.agent_key, h.history_id, r.run_id, r.tenant_id, r.fetched_at, defender.utc_day(r.fetched_at) AS day,
       NOT EXISTS (SELECT FROM defender.withheld_deletions w
                    WHERE w.agent_key = h.agent_key AND w.run_id = r.run_id) AS returned
  FROM defender.sync_runs r
  JOIN defender.scan_agent_history h
    ON h.tenant_id = r.tenant_id AND h.valid_from <= r.fetched_at
   AND (h.valid_to IS NULL OR h.valid_to > r.fetched_at)
 WHERE r.status = 'succeeded';

INSERT INTO defender.tenant_daily (tenant_id, day, run_id, synced_at, first_synced_at, syncs)
SELECT DISTINCT ON (r.tenant_id, defender.utc_day(r.fetched_at))
       r.tenant_id, defender.utc_day(r.fetched_at), r.run_id, r.fetched_at,
       min(r.fetched_at) OVER w, count(*) OVER w
  FROM defender.sync_runs r
 WHERE r.status = 'succeeded'
WINDOW w AS (PARTITION BY r.tenant_id, defender.utc_day(r.fetched_at))
 ORDER BY r.tenant_id, defender.utc_day(r.fetched_at), r.fetched_at DESC;

-- Every (agent, day) with its last active run, except, on a tenant's open
-- day, the runs of an agent's current stretch: the view reads those.
INSERT INTO defender.agent_daily (agent_key, day, run_id, synced_at, computer_dns_name, mde_client_version,
                                  scanner_software_version, last_seen, last_command_execution_at, syncs_observed)
SELECT x.agent_key, x.day, x.run_id, x.fetched_at, h.computer_dns_name, h.mde_client_version,
       h.scanner_software_version, o.last_seen, o.last_command_execution_at, x.syncs
  FROM (SELECT DISTINCT ON (b.agent_key, b.day) b.agent_key, b.day, b.run_id, b.fetched_at, b.history_id,
               count(*) FILTER (WHERE b.returned) OVER (PARTITION BY b.agent_key, b.day) AS syncs
          FROM pg_temp.backfill_active b
          JOIN defender.tenants t ON t.tenant_id = b.tenant_id
          JOIN defender.agent_state a ON a.agent_key = b.agent_key
         WHERE NOT (b.day = defender.utc_day(t.last_fetched_at) AND a.deleted_at IS NULL
                    AND b.fetched_at >= a.active_since)
         ORDER BY b.agent_key, b.day, b.fetched_at DESC) x
  JOIN defender.scan_agent_history h ON h.history_id = x.history_id
  LEFT JOIN LATERAL (SELECT ob.last_seen, ob.last_command_execution_at
                       FROM defender.agent_observation ob
                      WHERE ob.agent_key = x.agent_key AND ob.run_id <= x.run_id
                      ORDER BY ob.run_id DESC
                      LIMIT 1) o ON true;

SELECT defender.refresh_fleet_daily(tenant_id, day) FROM defender.tenant_daily;

-- The old observations go, with what read them.
DROP FUNCTION defender.scan_agents_as_of(timestamptz);
CREATE OR REPLACE VIEW defender.scan_agent_observations AS
SELECT a.tenant_id,
       a.agent_id,
       b.run_id,
       b.observed_at,
       o.last_seen,
       o.last_command_execution_at
  FROM defender.agent_state a
  JOIN defender.observation_block b ON b.block = a.agent_key / 64
 CROSS JOIN LATERAL unnest(b.slots, b.last_seen, b.last_command_execution_at)
       AS o(slot, last_seen, last_command_execution_at)
 WHERE o.slot = a.agent_key % 64;
COMMENT ON VIEW defender.scan_agent_observations IS
    'What each sync saw of an agent''s volatile timestamps: one row per agent per sync in which last_seen or last_command_execution_at changed. Use it for lastSeen trends and gaps; filter on agent_id or tenant_id and observed_at. Kept for OBSERVATION_RETENTION (default: forever); older trends are in scan_agent_daily.';

DROP TABLE defender.agent_observation;


-- Integrity, checked once per statement. The tables a sync fills by the
-- hundred thousand (agent_state, agent_heartbeat, scan_agent_history,
-- agent_daily) check their references and the history's non-overlap with
-- one set-based query per statement, instead of a lookup per row (foreign
-- keys) or a GiST entry per row (the exclusion constraint): a first sync
-- of 100,000 agents spent most of its time there. Deleting a referenced
-- agent or run is refused as a foreign key would; keys cannot be updated
-- (identity columns, and the triggers below). TRUNCATE is not checked.

-- +goose StatementBegin
CREATE FUNCTION defender.check_references() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    missing text;
BEGIN
    -- A statement that wrote no row (most syncs insert no agent) costs
    -- nothing more.
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Arguments come in threes: column, referenced table, referenced column.
    FOR i IN 0 .. TG_NARGS / 3 - 1 LOOP
        EXECUTE pg_catalog.format(
            'SELECT n.%1$I::text FROM new_rows n
              WHERE n.%1$I IS NOT NULL
                AND NOT EXISTS (SELECT FROM %2$s r WHERE r.%3$I = n.%1$I) LIMIT 1',
            TG_ARGV[3 * i], TG_ARGV[3 * i + 1], TG_ARGV[3 * i + 2]) INTO missing;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = pg_catalog.format('insert or update on table "%s" violates foreign key "%s_%s"',
                                            TG_TABLE_NAME, TG_TABLE_NAME, TG_ARGV[3 * i]),
                DETAIL = pg_catalog.format('Key (%s)=(%s) is not present in %s.', TG_ARGV[3 * i], missing, TG_ARGV[3 * i + 1]),
                TABLE = TG_TABLE_NAME,
                CONSTRAINT = TG_TABLE_NAME || '_' || TG_ARGV[3 * i];
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.check_references() IS
    'Internal: statement trigger refusing new rows whose keys are missing from the referenced tables (arguments: column, table, column, ...).';

-- +goose StatementBegin
CREATE FUNCTION defender.check_removed_references() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    found text;
BEGIN
    IF NOT EXISTS (SELECT FROM old_rows) THEN
        RETURN NULL;
    END IF;
    -- Arguments come in threes: referencing table, its column, our column.
    FOR i IN 0 .. TG_NARGS / 3 - 1 LOOP
        EXECUTE pg_catalog.format(
            'SELECT o.%3$I::text FROM old_rows o WHERE EXISTS (SELECT FROM %1$s r WHERE r.%2$I = o.%3$I) LIMIT 1',
            TG_ARGV[3 * i], TG_ARGV[3 * i + 1], TG_ARGV[3 * i + 2]) INTO found;
        IF found IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = pg_catalog.format('delete on table "%s" violates a reference from %s', TG_TABLE_NAME, TG_ARGV[3 * i]),
                DETAIL = pg_catalog.format('Key (%s)=(%s) is still referenced from %s.%s.',
                                           TG_ARGV[3 * i + 2], found, TG_ARGV[3 * i], TG_ARGV[3 * i + 1]),
                TABLE = TG_TABLE_NAME;
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.check_removed_references() IS
    'Internal: statement trigger refusing to delete rows still referenced (arguments: referencing table, its column, our column, ...).';

-- +goose StatementBegin
CREATE FUNCTION defender.refuse_key_change() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'foreign_key_violation',
        MESSAGE = pg_catalog.format('the keys of table "%s" (%s) cannot change', TG_TABLE_NAME,
                                    pg_catalog.array_to_string(TG_ARGV, ', ')),
        TABLE = TG_TABLE_NAME;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.refuse_key_change() IS
    'Internal: row trigger refusing an update of a key column (arguments: the key columns).';

-- +goose StatementBegin
CREATE FUNCTION defender.check_history_overlap() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    agent bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Two versions of an agent overlap when each starts before the other
    -- ends (an open version never ends). One join, whatever the number of
    -- rows the statement wrote.
    SELECT n.agent_key INTO agent
      FROM new_rows n
      JOIN defender.scan_agent_history h ON h.agent_key = n.agent_key AND h.history_id <> n.history_id
     WHERE h.valid_from < coalesce(n.valid_to, 'infinity') AND n.valid_from < coalesce(h.valid_to, 'infinity')
     LIMIT 1;
    IF agent IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'exclusion_violation',
            MESSAGE = 'conflicting key value violates exclusion constraint "scan_agent_history_no_overlap"',
            DETAIL = pg_catalog.format('Two versions of agent %s overlap in time.', agent),
            TABLE = 'scan_agent_history',
            CONSTRAINT = 'scan_agent_history_no_overlap';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.check_history_overlap() IS
    'Internal: statement trigger refusing versions of an agent whose validity ranges overlap (scan_agent_history_no_overlap).';

ALTER TABLE defender.scan_agent_history
    DROP CONSTRAINT scan_agent_history_no_overlap,
    DROP CONSTRAINT scan_agent_history_agent_key_fkey,
    DROP CONSTRAINT scan_agent_history_opened_by_run_id_fkey,
    DROP CONSTRAINT scan_agent_history_closed_by_run_id_fkey;
DROP INDEX defender.scan_agent_history_one_open_per_agent;
DROP INDEX defender.scan_agent_history_by_agent;
ALTER TABLE defender.agent_state
    DROP CONSTRAINT agent_state_first_seen_run_id_fkey,
    DROP CONSTRAINT agent_state_deleted_by_run_id_fkey;
DROP INDEX defender.agent_state_active;
ALTER TABLE defender.agent_heartbeat DROP CONSTRAINT agent_heartbeat_agent_key_fkey;
ALTER TABLE defender.agent_daily
    DROP CONSTRAINT agent_daily_agent_key_fkey,
    DROP CONSTRAINT agent_daily_run_id_fkey;

CREATE TRIGGER scan_agent_history_references_on_insert AFTER INSERT ON defender.scan_agent_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references(
        'agent_key', 'defender.agent_state', 'agent_key',
        'opened_by_run_id', 'defender.sync_runs', 'run_id',
        'closed_by_run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER scan_agent_history_references_on_update AFTER UPDATE ON defender.scan_agent_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references('closed_by_run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER scan_agent_history_keys BEFORE UPDATE OF agent_key, opened_by_run_id ON defender.scan_agent_history
    FOR EACH ROW WHEN (OLD.agent_key <> NEW.agent_key OR OLD.opened_by_run_id <> NEW.opened_by_run_id)
    EXECUTE FUNCTION defender.refuse_key_change('agent_key', 'opened_by_run_id');
CREATE TRIGGER scan_agent_history_no_overlap_on_insert AFTER INSERT ON defender.scan_agent_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_history_overlap();
CREATE TRIGGER scan_agent_history_no_overlap_on_update AFTER UPDATE ON defender.scan_agent_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_history_overlap();

CREATE TRIGGER agent_state_references_on_insert AFTER INSERT ON defender.agent_state
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references(
        'first_seen_run_id', 'defender.sync_runs', 'run_id',
        'deleted_by_run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER agent_state_references_on_update AFTER UPDATE ON defender.agent_state
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references('deleted_by_run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER agent_state_keys BEFORE UPDATE OF first_seen_run_id ON defender.agent_state
    FOR EACH ROW WHEN (OLD.first_seen_run_id <> NEW.first_seen_run_id)
    EXECUTE FUNCTION defender.refuse_key_change('first_seen_run_id');
CREATE TRIGGER agent_state_still_referenced AFTER DELETE ON defender.agent_state
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_removed_references(
        'defender.scan_agent_history', 'agent_key', 'agent_key',
        'defender.agent_heartbeat', 'agent_key', 'agent_key',
        'defender.agent_daily', 'agent_key', 'agent_key');

CREATE TRIGGER agent_heartbeat_references AFTER INSERT ON defender.agent_heartbeat
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references('agent_key', 'defender.agent_state', 'agent_key');
CREATE TRIGGER agent_heartbeat_keys BEFORE UPDATE OF agent_key ON defender.agent_heartbeat
    FOR EACH ROW WHEN (OLD.agent_key <> NEW.agent_key)
    EXECUTE FUNCTION defender.refuse_key_change('agent_key');

CREATE TRIGGER agent_daily_references_on_insert AFTER INSERT ON defender.agent_daily
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references(
        'agent_key', 'defender.agent_state', 'agent_key',
        'run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER agent_daily_references_on_update AFTER UPDATE ON defender.agent_daily
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references(
        'agent_key', 'defender.agent_state', 'agent_key',
        'run_id', 'defender.sync_runs', 'run_id');

CREATE TRIGGER sync_runs_still_referenced AFTER DELETE ON defender.sync_runs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_removed_references(
        'defender.agent_state', 'first_seen_run_id', 'run_id',
        'defender.agent_state', 'deleted_by_run_id', 'run_id',
        'defender.scan_agent_history', 'opened_by_run_id', 'run_id',
        'defender.scan_agent_history', 'closed_by_run_id', 'run_id',
        'defender.agent_daily', 'run_id', 'run_id');

-- The reporting surface.
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

ALTER TABLE defender.agent_state DROP COLUMN last_seen, DROP COLUMN last_command_execution_at;
ALTER TABLE defender.agent_state SET (fillfactor = 100); -- written only on real changes now
COMMENT ON TABLE defender.agent_state IS
    'Storage behind defender.scan_agents: the current descriptive values of every agent ever seen (heartbeats are in agent_heartbeat). Query defender.scan_agents instead.';

-- History indexes: the versions of an agent in order (changes, as-of,
-- non-overlap), and versions by start and end time (changes of a period;
-- versions are appended in start order, so a BRIN index serves the start).
CREATE UNIQUE INDEX scan_agent_history_agent_versions
    ON defender.scan_agent_history (agent_key, valid_from);
CREATE INDEX scan_agent_history_by_start ON defender.scan_agent_history USING brin (valid_from);
CREATE INDEX scan_agent_history_by_end ON defender.scan_agent_history (valid_to) WHERE valid_to IS NOT NULL;
DROP INDEX defender.scan_agent_history_by_valid_from;

-- Changes, filtered before they are joined: a condition on changed_at
-- reaches the index of each branch, and each version in the period looks
-- up its predecessor once.
CREATE OR REPLACE VIEW defender.scan_agent_changes AS
SELECT v.tenant_id, v.agent_id, v.valid_from AS changed_at, c.attribute, c.old_value, c.new_value,
       v.opened_by_run_id AS run_id, r.previous_sync_at
  FROM defender.scan_agent_history v
  LEFT JOIN LATERAL (SELECT p.* FROM defender.scan_agent_history p
                      WHERE p.agent_key = v.agent_key AND p.valid_from < v.valid_from
                      ORDER BY p.valid_from DESC LIMIT 1) p ON true
  JOIN defender.sync_runs r ON r.run_id = v.opened_by_run_id
 CROSS JOIN LATERAL (
        -- The agent appearing for the first time, or returning after a deletion.
        SELECT 'agent', CASE WHEN p.valid_to IS NOT NULL THEN 'deleted' END,
               CASE WHEN p.valid_to IS NOT NULL THEN 'returned' ELSE 'first seen' END
         WHERE p.valid_to IS NULL OR p.valid_to < v.valid_from
        UNION ALL
        -- Attribute changes between consecutive versions.
        SELECT a.attribute, a.old_value, a.new_value
          FROM (VALUES
                ('machine_id', p.machine_id, v.machine_id),
                ('computer_dns_name', p.computer_dns_name, v.computer_dns_name),
                ('assigned_application_id', p.assigned_application_id, v.assigned_application_id),
                ('scanner_software_version', p.scanner_software_version, v.scanner_software_version),
                ('mde_client_version', p.mde_client_version, v.mde_client_version)) AS a(attribute, old_value, new_value)
         WHERE p.history_id IS NOT NULL AND a.old_value IS DISTINCT FROM a.new_value
        UNION ALL
        -- Changes of fields without a column, one row per key: extra.<key as sent>.
        SELECT 'extra.' || k.key, p.extra -> k.key #>> '{}', v.extra -> k.key #>> '{}'
          FROM (SELECT pg_catalog.jsonb_object_keys(p.extra) UNION SELECT pg_catalog.jsonb_object_keys(v.extra)) AS k(key)
         WHERE p.history_id IS NOT NULL AND p.extra IS DISTINCT FROM v.extra
           AND (p.extra -> k.key) IS DISTINCT FROM (v.extra -> k.key)
       ) AS c(attribute, old_value, new_value)
UNION ALL
-- The agent deleted: a version closed with no version starting then.
SELECT v.tenant_id, v.agent_id, v.valid_to, 'agent', 'active', 'deleted', v.closed_by_run_id, r.previous_sync_at
  FROM defender.scan_agent_history v
  JOIN defender.sync_runs r ON r.run_id = v.closed_by_run_id
 WHERE v.valid_to IS NOT NULL
   AND NOT EXISTS (SELECT FROM defender.scan_agent_history n
                    WHERE n.agent_key = v.agent_key AND n.valid_from = v.valid_to);
COMMENT ON COLUMN defender.scan_agent_changes.previous_sync_at IS
    'Fetch time of the tenant''s previous successful sync: the change happened in (previous_sync_at, changed_at]. Empty for changes seen by a tenant''s first sync.';

-- Version drift: the distinct versions of each tenant ranked once, then
-- joined to the agents.
CREATE OR REPLACE VIEW defender.version_drift AS
WITH active AS (
    SELECT a.tenant_id, a.agent_id, a.computer_dns_name, a.mde_client_version, a.scanner_software_version
      FROM defender.agent_state a
     WHERE a.deleted_at IS NULL
), spellings AS MATERIALIZED (
    -- The distinct versions first: their sort keys are computed once each.
    SELECT DISTINCT tenant_id, 'mde' AS kind, mde_client_version AS version FROM active
    UNION
    SELECT DISTINCT tenant_id, 'scanner', scanner_software_version FROM active
), keyed AS (
    SELECT s.tenant_id, s.kind, s.version, defender.version_key(s.version) AS key FROM spellings s
), mde AS (
    -- Each spelling, ranked by its numeric key; spellings of one version
    -- (7.6.0 and 7.6.0.0) share a rank, and the longest names the newest.
    SELECT v.tenant_id, v.version,
           dense_rank() OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC) - 1 AS behind,
           first_value(v.version) OVER (PARTITION BY v.tenant_id
                                        ORDER BY v.key DESC, pg_catalog.length(v.version) DESC, v.version) AS newest
      FROM keyed v
     WHERE v.kind = 'mde' AND v.key IS NOT NULL
), scanner AS (
    SELECT v.tenant_id, v.version,
           dense_rank() OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC) - 1 AS behind,
           first_value(v.version) OVER (PARTITION BY v.tenant_id
                                        ORDER BY v.key DESC, pg_catalog.length(v.version) DESC, v.version) AS newest
      FROM keyed v
     WHERE v.kind = 'scanner' AND v.key IS NOT NULL
)
SELECT a.tenant_id,
       a.agent_id,
       a.computer_dns_name,
       a.mde_client_version,
       mn.newest AS newest_mde_client_version,
       m.behind AS versions_behind,
       a.scanner_software_version,
       sn.newest AS newest_scanner_software_version,
       s.behind AS scanner_versions_behind
  FROM active a
  LEFT JOIN mde m ON m.tenant_id = a.tenant_id AND m.version = a.mde_client_version
  LEFT JOIN (SELECT DISTINCT tenant_id, newest FROM mde) mn ON mn.tenant_id = a.tenant_id
  LEFT JOIN scanner s ON s.tenant_id = a.tenant_id AND s.version = a.scanner_software_version
  LEFT JOIN (SELECT DISTINCT tenant_id, newest FROM scanner) sn ON sn.tenant_id = a.tenant_id;

CREATE VIEW defender.fleet_daily AS
SELECT td.tenant_id,
       t.display_name AS tenant_name,
       td.day,
       td.active_agents,
       td.stale_7d_agents,
       td.never_seen_agents,
       td.newest_mde_client_version,
       td.agents_on_newest,
       td.mde_client_versions,
       td.syncs,
       td.run_id AS as_of_run_id,
       td.synced_at AS as_of_fetched_at
  FROM defender.tenant_daily td
  JOIN defender.tenants t ON t.tenant_id = td.tenant_id;
COMMENT ON VIEW defender.fleet_daily IS
    'One row per tenant per UTC day with a successful sync: the fleet as the day''s last successful sync saw it. Kept for ever; answers year-long trends in milliseconds.';
COMMENT ON COLUMN defender.fleet_daily.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender.fleet_daily.tenant_name IS 'Display name of the tenant from the configuration; empty when none.';
COMMENT ON COLUMN defender.fleet_daily.day IS 'The UTC day.';
COMMENT ON COLUMN defender.fleet_daily.active_agents IS 'Agents active at the day''s last successful sync.';
COMMENT ON COLUMN defender.fleet_daily.stale_7d_agents IS 'Of those, agents whose last_seen was 7 days or more before that sync (never-seen agents are counted apart).';
COMMENT ON COLUMN defender.fleet_daily.never_seen_agents IS 'Of those, agents that never checked in (no last_seen).';
COMMENT ON COLUMN defender.fleet_daily.newest_mde_client_version IS 'Newest Defender client version among those agents.';
COMMENT ON COLUMN defender.fleet_daily.agents_on_newest IS 'Agents on that version.';
COMMENT ON COLUMN defender.fleet_daily.mde_client_versions IS 'Agents per Defender client version, as a JSON object {"version": agents}; agents without a version are left out.';
COMMENT ON COLUMN defender.fleet_daily.syncs IS 'Successful syncs of the tenant that day.';
COMMENT ON COLUMN defender.fleet_daily.as_of_run_id IS 'The day''s last successful sync, which the row describes.';
COMMENT ON COLUMN defender.fleet_daily.as_of_fetched_at IS 'Fetch time of that sync.';

-- +goose StatementBegin
CREATE FUNCTION defender.scan_agents_as_of(at timestamptz)
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
COMMENT ON FUNCTION defender.scan_agents_as_of(timestamptz) IS
    'The agents exactly as the last successful sync at or before the given time saw them, per tenant (the columns of scan_agents without bookkeeping), then as_of_run_id and as_of_fetched_at: the sync the answer comes from. Example: SELECT * FROM defender.scan_agents_as_of(''2026-10-01''). Beyond OBSERVATION_RETENTION, last_seen and last_command_execution_at are those of the last sync of the previous day.';

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
DROP FUNCTION defender.scan_agents_as_of(timestamptz);
DROP VIEW defender.fleet_daily;
DROP VIEW defender.scan_agent_daily;
DROP FUNCTION defender.refresh_fleet_daily(text, date);
DROP VIEW defender.agent_daily_open;

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
INSERT INTO defender.agent_observation (agent_key, run_id, last_seen, last_command_execution_at)
SELECT b.block * 64 + o.slot, b.run_id, o.last_seen, o.last_command_execution_at
  FROM defender.observation_block b
 CROSS JOIN LATERAL unnest(b.slots, b.last_seen, b.last_command_execution_at) AS o(slot, last_seen, last_command_execution_at);

-- +goose StatementBegin
CREATE FUNCTION defender.scan_agents_as_of(at timestamptz)
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
    extra                     jsonb
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH last_run AS (
        SELECT DISTINCT ON (r.tenant_id) r.tenant_id, r.run_id, r.fetched_at
          FROM defender.sync_runs r
         WHERE r.status = 'succeeded' AND r.fetched_at <= scan_agents_as_of.at
         ORDER BY r.tenant_id, r.run_id DESC
    )
    SELECT h.tenant_id, h.agent_id, h.machine_id, h.computer_dns_name, h.assigned_application_id,
           h.scanner_software_version, h.mde_client_version, o.last_seen, o.last_command_execution_at, h.extra
      FROM last_run s
      JOIN defender.scan_agent_history h
        ON h.tenant_id = s.tenant_id AND h.valid_from <= s.fetched_at
       AND (h.valid_to IS NULL OR h.valid_to > s.fetched_at)
      LEFT JOIN LATERAL (
            SELECT ob.last_seen, ob.last_command_execution_at
              FROM defender.agent_observation ob
             WHERE ob.agent_key = h.agent_key AND ob.run_id <= s.run_id
             ORDER BY ob.run_id DESC
             LIMIT 1) o ON true
     WHERE NOT EXISTS (SELECT FROM defender.withheld_deletions w
                        WHERE w.agent_key = h.agent_key AND w.run_id = s.run_id);
END;
-- +goose StatementEnd
ALTER TABLE defender.agent_state ADD COLUMN last_seen timestamptz, ADD COLUMN last_command_execution_at timestamptz;
UPDATE defender.agent_state a
   SET last_seen = hb.last_seen, last_command_execution_at = hb.last_command_execution_at
  FROM defender.agent_heartbeat hb WHERE hb.agent_key = a.agent_key;
ALTER TABLE defender.agent_state SET (fillfactor = 75);

DROP VIEW defender.scan_agent_observations;
CREATE VIEW defender.scan_agent_observations AS
SELECT a.tenant_id, a.agent_id, o.run_id, r.fetched_at AS observed_at, o.last_seen, o.last_command_execution_at
  FROM defender.agent_observation o
  JOIN defender.agent_state a ON a.agent_key = o.agent_key
  JOIN defender.sync_runs r ON r.run_id = o.run_id;
COMMENT ON VIEW defender.scan_agent_observations IS
    'What each sync saw of an agent''s volatile timestamps: one row per agent per sync in which last_seen or last_command_execution_at changed. Use it for lastSeen trends and gaps.';

DROP VIEW defender.scan_agents;
CREATE VIEW defender.scan_agents AS
SELECT a.tenant_id, a.agent_id, a.machine_id, a.computer_dns_name, a.assigned_application_id,
       a.scanner_software_version, a.mde_client_version, a.last_seen, a.last_command_execution_at,
       a.extra, a.first_seen_at,
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

DROP VIEW defender.scan_agent_changes;
CREATE VIEW defender.scan_agent_changes AS
WITH versions AS (
    SELECT h.*,
           lag(h.history_id) OVER w AS prev_history_id,
           lead(h.valid_from) OVER w AS next_valid_from
      FROM defender.scan_agent_history h
    WINDOW w AS (PARTITION BY h.agent_key ORDER BY h.valid_from)
), pairs AS (
    SELECT v.tenant_id, v.agent_id, v.valid_from AS changed_at, v.opened_by_run_id AS run_id,
           p.valid_to AS prev_valid_to,
           p.machine_id AS old_machine_id, v.machine_id AS new_machine_id,
           p.computer_dns_name AS old_computer_dns_name, v.computer_dns_name AS new_computer_dns_name,
           p.assigned_application_id AS old_assigned_application_id, v.assigned_application_id AS new_assigned_application_id,
           p.scanner_software_version AS old_scanner_software_version, v.scanner_software_version AS new_scanner_software_version,
           p.mde_client_version AS old_mde_client_version, v.mde_client_version AS new_mde_client_version,
           p.extra AS old_extra, v.extra AS new_extra
      FROM versions v
      JOIN defender.scan_agent_history p ON p.history_id = v.prev_history_id
)
SELECT c.tenant_id, c.agent_id, c.changed_at, a.attribute, a.old_value, a.new_value, c.run_id
  FROM pairs c
 CROSS JOIN LATERAL (VALUES
        ('machine_id', c.old_machine_id, c.new_machine_id),
        ('computer_dns_name', c.old_computer_dns_name, c.new_computer_dns_name),
        ('assigned_application_id', c.old_assigned_application_id, c.new_assigned_application_id),
        ('scanner_software_version', c.old_scanner_software_version, c.new_scanner_software_version),
        ('mde_client_version', c.old_mde_client_version, c.new_mde_client_version)
       ) AS a(attribute, old_value, new_value)
 WHERE a.old_value IS DISTINCT FROM a.new_value
UNION ALL
SELECT c.tenant_id, c.agent_id, c.changed_at, 'extra.' || k.key, o.value #>> '{}', n.value #>> '{}', c.run_id
  FROM pairs c
 CROSS JOIN LATERAL (SELECT jsonb_object_keys(c.old_extra) UNION SELECT jsonb_object_keys(c.new_extra)) AS k(key)
  LEFT JOIN LATERAL (SELECT c.old_extra -> k.key) AS o(value) ON true
  LEFT JOIN LATERAL (SELECT c.new_extra -> k.key) AS n(value) ON true
 WHERE o.value IS DISTINCT FROM n.value
UNION ALL
SELECT v.tenant_id, v.agent_id, v.valid_from, 'agent', NULL, 'first seen', v.opened_by_run_id
  FROM versions v
 WHERE v.prev_history_id IS NULL
UNION ALL
SELECT c.tenant_id, c.agent_id, c.changed_at, 'agent', 'deleted', 'returned', c.run_id
  FROM pairs c
 WHERE c.prev_valid_to < c.changed_at
UNION ALL
SELECT v.tenant_id, v.agent_id, v.valid_to, 'agent', 'active', 'deleted', v.closed_by_run_id
  FROM versions v
 WHERE v.valid_to IS NOT NULL AND (v.next_valid_from IS NULL OR v.next_valid_from > v.valid_to);
COMMENT ON VIEW defender.scan_agent_changes IS
    'One row per changed attribute of an agent, from its history: versions, host names, application ids, fields without a column (attribute extra.<name>), and the agent itself being first seen, deleted or returning (attribute agent).';

DROP TRIGGER scan_agent_history_references_on_insert ON defender.scan_agent_history;
DROP TRIGGER scan_agent_history_references_on_update ON defender.scan_agent_history;
DROP TRIGGER scan_agent_history_keys ON defender.scan_agent_history;
DROP TRIGGER scan_agent_history_no_overlap_on_insert ON defender.scan_agent_history;
DROP TRIGGER scan_agent_history_no_overlap_on_update ON defender.scan_agent_history;
DROP TRIGGER agent_state_references_on_insert ON defender.agent_state;
DROP TRIGGER agent_state_references_on_update ON defender.agent_state;
DROP TRIGGER agent_state_keys ON defender.agent_state;
DROP TRIGGER agent_state_still_referenced ON defender.agent_state;
DROP TRIGGER sync_runs_still_referenced ON defender.sync_runs;
ALTER TABLE defender.scan_agent_history
    ADD CONSTRAINT scan_agent_history_agent_key_fkey FOREIGN KEY (agent_key) REFERENCES defender.agent_state,
    ADD CONSTRAINT scan_agent_history_opened_by_run_id_fkey FOREIGN KEY (opened_by_run_id) REFERENCES defender.sync_runs,
    ADD CONSTRAINT scan_agent_history_closed_by_run_id_fkey FOREIGN KEY (closed_by_run_id) REFERENCES defender.sync_runs,
    ADD CONSTRAINT scan_agent_history_no_overlap EXCLUDE USING gist (
        agent_key WITH =,
        pg_catalog.tstzrange(valid_from, valid_to, '[)') WITH &&
    );
CREATE UNIQUE INDEX scan_agent_history_one_open_per_agent
    ON defender.scan_agent_history (agent_key) WHERE valid_to IS NULL;
CREATE INDEX scan_agent_history_by_agent
    ON defender.scan_agent_history (tenant_id, agent_id, valid_from);
ALTER TABLE defender.agent_state
    ADD CONSTRAINT agent_state_first_seen_run_id_fkey FOREIGN KEY (first_seen_run_id) REFERENCES defender.sync_runs,
    ADD CONSTRAINT agent_state_deleted_by_run_id_fkey FOREIGN KEY (deleted_by_run_id) REFERENCES defender.sync_runs;
CREATE INDEX agent_state_active ON defender.agent_state (tenant_id) WHERE deleted_at IS NULL;
DROP INDEX defender.scan_agent_history_agent_versions;
DROP INDEX defender.scan_agent_history_by_start;
DROP INDEX defender.scan_agent_history_by_end;
CREATE INDEX scan_agent_history_by_valid_from ON defender.scan_agent_history (tenant_id, valid_from);

DROP TABLE defender.agent_daily;
DROP TABLE defender.tenant_daily;
DROP TABLE defender.observation_block;
DROP FUNCTION defender.ensure_observation_partition(timestamptz);
DROP FUNCTION defender.observation_slots_valid(smallint[]);
DROP TABLE defender.agent_heartbeat;
DROP FUNCTION defender.check_references();
DROP FUNCTION defender.check_removed_references();
DROP FUNCTION defender.refuse_key_change();
DROP FUNCTION defender.check_history_overlap();
ALTER TABLE defender.agent_state DROP COLUMN active_since;
ALTER TABLE defender.sync_runs DROP CONSTRAINT sync_runs_tenant;
DROP TABLE defender.tenants;
DROP INDEX defender.sync_runs_succeeded_by_fetch;
ALTER TABLE defender.sync_runs DROP COLUMN previous_sync_at;
DROP FUNCTION defender.utc_day(timestamptz);
SELECT defender.grant_reader_access();
