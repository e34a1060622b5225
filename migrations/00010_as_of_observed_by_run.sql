-- scan_agents_as_of at a past sync finds what that sync observed with one
-- lookup per sync instead of one per agent.
--
-- Each agent's row of the sync's packed observations was looked up by its
-- block, one index probe per agent (10,000 on a tenant of 10,000 agents).
-- The sync's rows, about one per 64 agents, are now read once by its run
-- and joined to the agents by block. The answers are the same.

-- +goose Up
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

-- +goose Down
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
    ), seen AS MATERIALIZED (
        -- The versions, with what the sync observed of each agent, if
        -- anything: the agents whose timestamps it changed, packed in its
        -- own observation rows. Each agent's row is looked up by its
        -- block, whatever the planner guesses of the number of rows.
        SELECT v.tenant_id, v.agent_id, v.machine_id, v.computer_dns_name, v.assigned_application_id,
               v.scanner_software_version, v.mde_client_version, v.extra, v.run_id, v.fetched_at,
               v.agent_key, v.day, v.day_start,
               o.found IS NOT NULL AS observed, o.last_seen, o.last_command_execution_at
          FROM versions v
          LEFT JOIN LATERAL (SELECT true AS found, b.last_seen[x.i] AS last_seen,
                                    b.last_command_execution_at[x.i] AS last_command_execution_at
                               FROM defender.observation_block b
                              CROSS JOIN LATERAL (SELECT pg_catalog.array_position(b.slots, (v.agent_key % 64)::smallint) AS i) x
                              WHERE b.run_id = v.run_id AND b.block = v.agent_key / 64 AND b.observed_at = v.fetched_at
                                AND x.i IS NOT NULL) o ON true
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
