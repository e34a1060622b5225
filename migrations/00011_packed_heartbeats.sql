-- Heartbeats packed by block: a sync writes one row per 64 agents.
--
-- Every sync moves the last_seen of nearly every agent. One heartbeat row
-- per agent made a steady sync of 100,000 agents update 99,000 rows (a
-- third of its time) and a first sync insert 100,000 more, with an index
-- entry each. The heartbeats now live as observation_block keeps what a
-- sync saw: agent key k in block k / 64, slot k % 64, one row per tenant
-- and block holding two arrays of 64 timestamps. A sync rewrites in place
-- only the blocks in which an agent moved; the views and
-- scan_agents_as_of read an agent's slot.
-- The rows are keyed by tenant as well as block, so that two tenants whose
-- agents share a block never write the same row.
--
-- Integrity, enforced here:
--   - both arrays hold exactly 64 timestamps, indexed from 1;
--   - a block row belongs to a tenant that exists, and holds, when it is
--     written first, at least one agent of that tenant;
--   - the tenant and block of a row never change;
--   - an agent whose slot holds a heartbeat cannot be deleted.
-- A slot of a key that is not an agent of the row's tenant is never read.
--
-- The upgrade copies every stored heartbeat into its block; the values the
-- views answer are the same.

-- +goose Up
CREATE TABLE defender.heartbeat_block (
    tenant_id                 text        NOT NULL,
    block                     bigint      NOT NULL CHECK (block >= 0),
    last_seen                 timestamptz[] NOT NULL,
    last_command_execution_at timestamptz[] NOT NULL,
    PRIMARY KEY (tenant_id, block),
    CONSTRAINT heartbeat_block_slots CHECK (
        pg_catalog.array_ndims(last_seen) = 1 AND pg_catalog.array_lower(last_seen, 1) = 1
        AND pg_catalog.cardinality(last_seen) = 64
        AND pg_catalog.array_ndims(last_command_execution_at) = 1 AND pg_catalog.array_lower(last_command_execution_at, 1) = 1
        AND pg_catalog.cardinality(last_command_execution_at) = 64)
) WITH (fillfactor = 50); -- room on each page for a new version of each row between prunings
COMMENT ON TABLE defender.heartbeat_block IS
    'Storage behind scan_agents: the volatile timestamps of up to 64 agents of one tenant as their latest sync saw them, packed in arrays and updated in place. Agent key k is in block k / 64, at index k % 64 + 1.';
COMMENT ON COLUMN defender.heartbeat_block.tenant_id IS 'Microsoft Entra tenant of the agents.';
COMMENT ON COLUMN defender.heartbeat_block.block IS 'Agent keys block * 64 to block * 64 + 63 (see defender.agent_state).';
COMMENT ON COLUMN defender.heartbeat_block.last_seen IS 'When each agent last checked in with Defender (UTC); empty if never, or if the key is not an agent of the tenant.';
COMMENT ON COLUMN defender.heartbeat_block.last_command_execution_at IS 'When each scanner last ran a command (UTC); empty if never, or if the key is not an agent of the tenant.';

WITH slots AS (
    SELECT a.tenant_id, a.agent_key / 64 AS block, (a.agent_key % 64)::integer AS slot,
           hb.last_seen, hb.last_command_execution_at
      FROM defender.agent_state a
      JOIN defender.agent_heartbeat hb ON hb.agent_key = a.agent_key
)
INSERT INTO defender.heartbeat_block (tenant_id, block, last_seen, last_command_execution_at)
SELECT b.tenant_id, b.block,
       pg_catalog.array_agg(s.last_seen ORDER BY i.slot),
       pg_catalog.array_agg(s.last_command_execution_at ORDER BY i.slot)
  FROM (SELECT DISTINCT tenant_id, block FROM slots
         WHERE last_seen IS NOT NULL OR last_command_execution_at IS NOT NULL) b
 CROSS JOIN pg_catalog.generate_series(0, 63) AS i(slot)
  LEFT JOIN slots s ON s.tenant_id = b.tenant_id AND s.block = b.block AND s.slot = i.slot
 GROUP BY b.tenant_id, b.block;

-- +goose StatementBegin
CREATE FUNCTION defender.check_heartbeat_blocks() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    bad record;
BEGIN
    -- The tenants of each block's agents, read by key range alone (at most
    -- 64 keys): matched on the tenant too, the planner may scan a large
    -- tenant's every agent for each block.
    SELECT n.tenant_id, n.block INTO bad
      FROM new_rows n
     WHERE NOT n.tenant_id = ANY (ARRAY(SELECT a.tenant_id FROM defender.agent_state a
                                         WHERE a.agent_key BETWEEN n.block * 64 AND n.block * 64 + 63))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'insert on table "heartbeat_block" names a block without an agent of its tenant',
            DETAIL = pg_catalog.format('Block %s holds no agent of tenant %s in defender.agent_state.', bad.block, bad.tenant_id),
            TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.check_heartbeat_blocks() IS
    'Internal: statement trigger refusing a heartbeat_block row whose block holds no agent of its tenant.';

-- +goose StatementBegin
CREATE FUNCTION defender.check_removed_heartbeats() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    found bigint;
BEGIN
    SELECT o.agent_key INTO found
      FROM old_rows o
      JOIN defender.heartbeat_block hb ON hb.tenant_id = o.tenant_id AND hb.block = o.agent_key / 64
     WHERE hb.last_seen[o.agent_key % 64 + 1] IS NOT NULL
        OR hb.last_command_execution_at[o.agent_key % 64 + 1] IS NOT NULL
     LIMIT 1;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'delete on table "agent_state" violates a reference from defender.heartbeat_block',
            DETAIL = pg_catalog.format('Key (agent_key)=(%s) still has a heartbeat in defender.heartbeat_block.', found),
            TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.check_removed_heartbeats() IS
    'Internal: statement trigger refusing to delete agents whose heartbeat is stored in heartbeat_block.';

CREATE TRIGGER heartbeat_block_references AFTER INSERT ON defender.heartbeat_block
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references('tenant_id', 'defender.tenants', 'tenant_id');
CREATE TRIGGER heartbeat_block_tenant_has_agent AFTER INSERT ON defender.heartbeat_block
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_heartbeat_blocks();
CREATE TRIGGER heartbeat_block_keys BEFORE UPDATE OF tenant_id, block ON defender.heartbeat_block
    FOR EACH ROW WHEN (OLD.tenant_id <> NEW.tenant_id OR OLD.block <> NEW.block)
    EXECUTE FUNCTION defender.refuse_key_change('tenant_id', 'block');

CREATE OR REPLACE VIEW defender.scan_agents AS
SELECT a.tenant_id,
       a.agent_id,
       a.machine_id,
       a.computer_dns_name,
       a.assigned_application_id,
       a.scanner_software_version,
       a.mde_client_version,
       hb.last_seen[a.agent_key % 64 + 1] AS last_seen,
       hb.last_command_execution_at[a.agent_key % 64 + 1] AS last_command_execution_at,
       a.extra,
       a.first_seen_at,
       CASE WHEN a.deleted_at IS NULL
                 AND NOT (t.last_run_withheld
                          AND EXISTS (SELECT FROM defender.withheld_deletions w
                                       WHERE w.agent_key = a.agent_key AND w.run_id = t.last_run_id))
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
  LEFT JOIN defender.heartbeat_block hb ON hb.tenant_id = a.tenant_id AND hb.block = a.agent_key / 64
  -- Whether the tenant's latest sync withheld any deletion is asked once
  -- per tenant, not once per agent.
  LEFT JOIN (SELECT t.tenant_id, t.last_run_id, t.last_fetched_at,
                    EXISTS (SELECT FROM defender.withheld_deletions w WHERE w.run_id = t.last_run_id)
                      AS last_run_withheld
               FROM defender.tenants t) t ON t.tenant_id = a.tenant_id;

CREATE OR REPLACE VIEW defender.agent_daily_open AS
SELECT a.agent_key,
       a.tenant_id,
       td.day,
       t.last_run_id AS run_id,
       t.last_fetched_at AS synced_at,
       a.computer_dns_name,
       a.mde_client_version,
       a.scanner_software_version,
       hb.last_seen[a.agent_key % 64 + 1] AS last_seen,
       hb.last_command_execution_at[a.agent_key % 64 + 1] AS last_command_execution_at,
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
  LEFT JOIN defender.heartbeat_block hb ON hb.tenant_id = a.tenant_id AND hb.block = a.agent_key / 64
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

CREATE OR REPLACE VIEW defender.scan_coverage AS
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
       hb.last_seen[a.agent_key % 64 + 1] AS scanner_last_seen,
       CASE WHEN a.agent_key IS NOT NULL
            THEN hb.last_seen[a.agent_key % 64 + 1] IS NULL
                 OR hb.last_seen[a.agent_key % 64 + 1] < t.last_fetched_at - interval '7 days' END AS scanner_stale,
       CASE WHEN a.agent_key IS NOT NULL THEN a.deleted_at IS NOT NULL END AS scanner_deleted,
       dr.run_id AS as_of_run_id,
       dr.fetched_at AS as_of_fetched_at,
       hr.run_id AS history_run_id,
       hr.fetched_at AS history_fetched_at
  FROM defender.definition_state d
  LEFT JOIN defender.tenants t ON t.tenant_id = d.tenant_id
  LEFT JOIN defender.agent_state a ON a.tenant_id = d.tenant_id AND a.agent_id = d.scanner_agent_id
  LEFT JOIN defender.heartbeat_block hb ON hb.tenant_id = a.tenant_id AND hb.block = a.agent_key / 64
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
               defender.utc_day(r.fetched_at)::timestamp AT TIME ZONE 'UTC' AS day_start,
               -- Most syncs withhold no deletion: then no agent is looked up.
               EXISTS (SELECT FROM defender.withheld_deletions w WHERE w.run_id = r.run_id) AS withheld
          FROM defender.tenants t
         CROSS JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_as_of.at
                              ORDER BY r.fetched_at DESC LIMIT 1) r
    ), current AS (
        -- A tenant's latest sync left its agents as they are now: the
        -- active ones but those whose deletion it withheld.
        SELECT s.tenant_id, a.agent_id, a.machine_id, a.computer_dns_name, a.assigned_application_id,
               a.scanner_software_version, a.mde_client_version,
               hb.last_seen[a.agent_key % 64 + 1], hb.last_command_execution_at[a.agent_key % 64 + 1],
               a.extra, s.run_id, s.fetched_at
          FROM s
          JOIN defender.agent_state a ON a.tenant_id = s.tenant_id AND a.deleted_at IS NULL
          LEFT JOIN defender.heartbeat_block hb ON hb.tenant_id = a.tenant_id AND hb.block = a.agent_key / 64
         WHERE s.latest
           AND NOT (s.withheld AND EXISTS (SELECT FROM defender.withheld_deletions w
                                            WHERE w.agent_key = a.agent_key AND w.run_id = s.run_id))
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
           AND NOT (s.withheld AND EXISTS (SELECT FROM defender.withheld_deletions w
                                            WHERE w.agent_key = h.agent_key AND w.run_id = s.run_id))
    ), obs AS MATERIALIZED (
        -- What each past sync observed: its own packed rows, about one per
        -- 64 agents, found by its run. Their fetch time is matched in the
        -- join below, not here: given both, the planner expects about one
        -- row and may pair every agent with every row. The day's start
        -- keeps older months' partitions out.
        SELECT b.run_id, b.observed_at, b.block, b.slots, b.last_seen, b.last_command_execution_at
          FROM s
          JOIN defender.observation_block b ON b.run_id = s.run_id AND b.observed_at >= s.day_start
         WHERE NOT s.latest
    ), seen AS MATERIALIZED (
        -- The versions, with what the sync observed of each agent, if
        -- anything: its slot in the sync's row of its block.
        SELECT v.tenant_id, v.agent_id, v.machine_id, v.computer_dns_name, v.assigned_application_id,
               v.scanner_software_version, v.mde_client_version, v.extra, v.run_id, v.fetched_at,
               v.agent_key, v.day, v.day_start,
               x.i IS NOT NULL AS observed, o.last_seen[x.i] AS last_seen,
               o.last_command_execution_at[x.i] AS last_command_execution_at
          FROM versions v
          LEFT JOIN obs o ON o.run_id = v.run_id AND o.block = v.agent_key / 64 AND o.observed_at = v.fetched_at
          CROSS JOIN LATERAL (SELECT pg_catalog.array_position(o.slots, (v.agent_key % 64)::smallint) AS i) x
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

DROP TRIGGER agent_state_still_referenced ON defender.agent_state;
CREATE TRIGGER agent_state_still_referenced AFTER DELETE ON defender.agent_state
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_removed_references(
        'defender.scan_agent_history', 'agent_key', 'agent_key',
        'defender.agent_daily', 'agent_key', 'agent_key');
CREATE TRIGGER agent_state_heartbeat_kept AFTER DELETE ON defender.agent_state
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_removed_heartbeats();
COMMENT ON TABLE defender.agent_state IS
    'Storage behind defender.scan_agents: the current descriptive values of every agent ever seen (heartbeats are in heartbeat_block). Query defender.scan_agents instead.';
DROP TABLE defender.agent_heartbeat;
-- The new functions are internal: nobody may call them.
SELECT defender.grant_reader_access();

-- +goose Down
CREATE TABLE defender.agent_heartbeat (
    agent_key                 bigint PRIMARY KEY,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz
) WITH (fillfactor = 30); -- room on each page for two new versions of each row between prunings
COMMENT ON TABLE defender.agent_heartbeat IS
    'Storage behind scan_agents: the volatile timestamps of every agent as its latest sync saw them, updated in place.';
COMMENT ON COLUMN defender.agent_heartbeat.agent_key IS 'Internal number of the agent (see defender.agent_state).';
COMMENT ON COLUMN defender.agent_heartbeat.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';
COMMENT ON COLUMN defender.agent_heartbeat.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';
INSERT INTO defender.agent_heartbeat (agent_key, last_seen, last_command_execution_at)
SELECT a.agent_key, hb.last_seen[a.agent_key % 64 + 1], hb.last_command_execution_at[a.agent_key % 64 + 1]
  FROM defender.agent_state a
  LEFT JOIN defender.heartbeat_block hb ON hb.tenant_id = a.tenant_id AND hb.block = a.agent_key / 64;
CREATE TRIGGER agent_heartbeat_references AFTER INSERT ON defender.agent_heartbeat
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_references('agent_key', 'defender.agent_state', 'agent_key');
CREATE TRIGGER agent_heartbeat_keys BEFORE UPDATE OF agent_key ON defender.agent_heartbeat
    FOR EACH ROW WHEN (OLD.agent_key <> NEW.agent_key)
    EXECUTE FUNCTION defender.refuse_key_change('agent_key');

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
                 AND NOT (t.last_run_withheld
                          AND EXISTS (SELECT FROM defender.withheld_deletions w
                                       WHERE w.agent_key = a.agent_key AND w.run_id = t.last_run_id))
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
  -- Whether the tenant's latest sync withheld any deletion is asked once
  -- per tenant, not once per agent.
  LEFT JOIN (SELECT t.tenant_id, t.last_run_id, t.last_fetched_at,
                    EXISTS (SELECT FROM defender.withheld_deletions w WHERE w.run_id = t.last_run_id)
                      AS last_run_withheld
               FROM defender.tenants t) t ON t.tenant_id = a.tenant_id;

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

CREATE OR REPLACE VIEW defender.scan_coverage AS
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
               defender.utc_day(r.fetched_at)::timestamp AT TIME ZONE 'UTC' AS day_start,
               -- Most syncs withhold no deletion: then no agent is looked up.
               EXISTS (SELECT FROM defender.withheld_deletions w WHERE w.run_id = r.run_id) AS withheld
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
           AND NOT (s.withheld AND EXISTS (SELECT FROM defender.withheld_deletions w
                                            WHERE w.agent_key = a.agent_key AND w.run_id = s.run_id))
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
           AND NOT (s.withheld AND EXISTS (SELECT FROM defender.withheld_deletions w
                                            WHERE w.agent_key = h.agent_key AND w.run_id = s.run_id))
    ), obs AS MATERIALIZED (
        -- What each past sync observed: its own packed rows, about one per
        -- 64 agents, found by its run. Their fetch time is matched in the
        -- join below, not here: given both, the planner expects about one
        -- row and may pair every agent with every row. The day's start
        -- keeps older months' partitions out.
        SELECT b.run_id, b.observed_at, b.block, b.slots, b.last_seen, b.last_command_execution_at
          FROM s
          JOIN defender.observation_block b ON b.run_id = s.run_id AND b.observed_at >= s.day_start
         WHERE NOT s.latest
    ), seen AS MATERIALIZED (
        -- The versions, with what the sync observed of each agent, if
        -- anything: its slot in the sync's row of its block.
        SELECT v.tenant_id, v.agent_id, v.machine_id, v.computer_dns_name, v.assigned_application_id,
               v.scanner_software_version, v.mde_client_version, v.extra, v.run_id, v.fetched_at,
               v.agent_key, v.day, v.day_start,
               x.i IS NOT NULL AS observed, o.last_seen[x.i] AS last_seen,
               o.last_command_execution_at[x.i] AS last_command_execution_at
          FROM versions v
          LEFT JOIN obs o ON o.run_id = v.run_id AND o.block = v.agent_key / 64 AND o.observed_at = v.fetched_at
          CROSS JOIN LATERAL (SELECT pg_catalog.array_position(o.slots, (v.agent_key % 64)::smallint) AS i) x
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

DROP TRIGGER agent_state_heartbeat_kept ON defender.agent_state;
DROP TRIGGER agent_state_still_referenced ON defender.agent_state;
CREATE TRIGGER agent_state_still_referenced AFTER DELETE ON defender.agent_state
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION defender.check_removed_references(
        'defender.scan_agent_history', 'agent_key', 'agent_key',
        'defender.agent_heartbeat', 'agent_key', 'agent_key',
        'defender.agent_daily', 'agent_key', 'agent_key');
COMMENT ON TABLE defender.agent_state IS
    'Storage behind defender.scan_agents: the current descriptive values of every agent ever seen (heartbeats are in agent_heartbeat). Query defender.scan_agents instead.';
DROP TABLE defender.heartbeat_block;
DROP FUNCTION defender.check_removed_heartbeats();
DROP FUNCTION defender.check_heartbeat_blocks();
