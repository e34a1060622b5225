-- scan_agents_diff of every tenant took about 180 ms over a year of 200
-- tenants (the goal is under 100). It read each side's fleet with
-- scan_agents_as_of, which also finds every agent's last_seen and last
-- command time at that sync (its observation, else the day's, else the
-- day before's rollup): more than half of the work, for two columns the
-- diff neither compares nor returns. Each side now reads the same agents
-- and versions without them (defender_storage.fleet_as_of, for the diff
-- alone), and the two sides are joined by the agent's key rather than by
-- its tenant and id as text; whether an agent absent at from had been
-- seen before it is read from the side that has it, not looked up again.
--
-- Every agent a tenant ever had stays in agent_state, deleted or not: a
-- year of a 40-agent tenant that replaces a machine a day holds ten times
-- its live agents. The live ones were found by reading all of them. An
-- index of the live agents by tenant serves every question about the
-- current fleet (scan_agents_as_of now, the active agents, version drift).
--
-- Answers do not change.

-- +goose Up
CREATE INDEX agent_state_alive_by_tenant ON defender_storage.agent_state (tenant_id) WHERE deleted_at IS NULL;

-- +goose StatementBegin
CREATE FUNCTION defender_storage.fleet_as_of(at timestamp with time zone, viewer name, tenant text) RETURNS TABLE(tenant_id text, agent_key bigint, agent_id text, first_seen_at timestamp with time zone, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
BEGIN
    -- The statement of scan_agents_as_of without the observations: the
    -- same sync per tenant, the same agents, the same versions. Planned
    -- once per session, as that one is.
    RETURN QUERY
    WITH s AS MATERIALIZED (
        SELECT t.tenant_id, r.run_id, r.fetched_at, (r.run_id = t.last_run_id) AS latest,
               EXISTS (SELECT FROM defender_storage.withheld_deletions w WHERE w.run_id = r.run_id) AS withheld
          FROM defender_storage.tenants t
         CROSS JOIN LATERAL (SELECT r_1.run_id, r_1.fetched_at
                               FROM defender_storage.sync_run r_1
                              WHERE r_1.tenant_no = t.tenant_no AND r_1.resource = 'a' AND r_1.status = 's'
                                AND r_1.fetched_at <= fleet_as_of.at
                              ORDER BY r_1.fetched_at DESC LIMIT 1) r
         WHERE ((SELECT defender_storage.visible_tenants(fleet_as_of.viewer)) IS NULL
                OR t.tenant_id = ANY ((SELECT defender_storage.visible_tenants(fleet_as_of.viewer))::text[]))
           AND (fleet_as_of.tenant IS NULL OR t.tenant_id = lower(fleet_as_of.tenant))
    )
    SELECT s.tenant_id, a.agent_key, a.agent_id, a.first_seen_at, a.machine_id, a.computer_dns_name, a.assigned_application_id,
           a.scanner_software_version, a.mde_client_version, a.extra, s.run_id, s.fetched_at
      FROM s
      JOIN defender_storage.agent_state a ON a.tenant_id = s.tenant_id AND a.deleted_at IS NULL
     WHERE s.latest
       AND NOT (s.withheld AND EXISTS (SELECT FROM defender_storage.withheld_deletions w
                                        WHERE w.agent_key = a.agent_key AND w.run_id = s.run_id))
    UNION ALL
    SELECT s.tenant_id, a.agent_key, h.agent_id, a.first_seen_at, h.machine_id, h.computer_dns_name, h.assigned_application_id,
           h.scanner_software_version, h.mde_client_version, h.extra, s.run_id, s.fetched_at
      FROM s
      JOIN defender.scan_agent_history h
        ON h.tenant_id = s.tenant_id AND tstzrange(h.valid_from, h.valid_to, '[)') @> s.fetched_at
      JOIN defender_storage.agent_state a
        ON a.agent_key = h.agent_key AND a.tenant_id = s.tenant_id AND a.first_seen_at <= s.fetched_at
       AND (a.deleted_at IS NULL OR a.deleted_at > s.fetched_at)
     WHERE NOT s.latest
       AND NOT (s.withheld AND EXISTS (SELECT FROM defender_storage.withheld_deletions w
                                        WHERE w.agent_key = h.agent_key AND w.run_id = s.run_id));
END;
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION defender_storage.fleet_as_of(timestamp with time zone, name, text) FROM PUBLIC;
COMMENT ON FUNCTION defender_storage.fleet_as_of(timestamp with time zone, name, text) IS 'The descriptive columns of defender.scan_agents_as_of (without last_seen and last_command_execution_at), for the tenants the role viewer may see (of them, tenant alone when given): each side of scan_agents_diff, which calls it as the owner.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS $$
#variable_conflict use_column
BEGIN
    IF from_at IS NULL OR to_at IS NULL THEN
        RAISE EXCEPTION 'scan_agents_diff: from and to must both be given'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF from_at > to_at THEN
        RAISE EXCEPTION 'scan_agents_diff: from (%) is after to (%)', from_at, to_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the earlier time first.';
    END IF;
    RETURN QUERY
    WITH syncs AS MATERIALIZED (
        -- Per tenant, the sync each side reflects (none before its first).
        SELECT t.tenant_id, f.run_id AS from_run_id, f.fetched_at AS from_fetched_at,
               n.run_id AS to_run_id, n.fetched_at AS to_fetched_at
          FROM defender_storage.tenants t
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender_storage.sync_run r
                              WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 's'
                                AND r.fetched_at <= scan_agents_diff.from_at
                              ORDER BY r.fetched_at DESC LIMIT 1) f ON true
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender_storage.sync_run r
                              WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 's'
                                AND r.fetched_at <= scan_agents_diff.to_at
                              ORDER BY r.fetched_at DESC LIMIT 1) n ON true
         WHERE (scan_agents_diff.tenant IS NULL OR t.tenant_id = lower(scan_agents_diff.tenant))
           AND ((SELECT defender_storage.visible_tenants(scan_agents_diff.viewer)) IS NULL OR t.tenant_id = ANY ((SELECT defender_storage.visible_tenants(scan_agents_diff.viewer))::text[]))
    ), before_fleet AS MATERIALIZED (
        SELECT * FROM defender_storage.fleet_as_of(scan_agents_diff.from_at, scan_agents_diff.viewer, scan_agents_diff.tenant)
    ), after_fleet AS MATERIALIZED (
        SELECT * FROM defender_storage.fleet_as_of(scan_agents_diff.to_at, scan_agents_diff.viewer, scan_agents_diff.tenant)
    ), pairs AS (
        SELECT coalesce(o.tenant_id, n.tenant_id) AS tenant_id, coalesce(o.agent_id, n.agent_id) AS agent_id,
               o.agent_id IS NOT NULL AS was_there, n.agent_id IS NOT NULL AS is_there,
               n.first_seen_at,
               o.machine_id AS old_machine_id, n.machine_id AS new_machine_id,
               o.computer_dns_name AS old_computer_dns_name, n.computer_dns_name AS new_computer_dns_name,
               o.assigned_application_id AS old_assigned_application_id,
               n.assigned_application_id AS new_assigned_application_id,
               o.scanner_software_version AS old_scanner_software_version,
               n.scanner_software_version AS new_scanner_software_version,
               o.mde_client_version AS old_mde_client_version, n.mde_client_version AS new_mde_client_version,
               o.extra AS old_extra, n.extra AS new_extra,
               array_remove(ARRAY[
                   CASE WHEN o.machine_id IS DISTINCT FROM n.machine_id THEN 'machine_id' END,
                   CASE WHEN o.computer_dns_name IS DISTINCT FROM n.computer_dns_name THEN 'computer_dns_name' END,
                   CASE WHEN o.assigned_application_id IS DISTINCT FROM n.assigned_application_id THEN 'assigned_application_id' END,
                   CASE WHEN o.scanner_software_version IS DISTINCT FROM n.scanner_software_version THEN 'scanner_software_version' END,
                   CASE WHEN o.mde_client_version IS DISTINCT FROM n.mde_client_version THEN 'mde_client_version' END,
                   CASE WHEN o.extra IS DISTINCT FROM n.extra THEN 'extra' END
               ], NULL) AS changed_columns
          FROM before_fleet o
          -- An agent's key is its tenant and id (agent_state_tenant_agent).
          FULL JOIN after_fleet n ON n.agent_key = o.agent_key
    )
    SELECT p.tenant_id, p.agent_id,
           CASE WHEN p.was_there AND p.is_there THEN 'changed'
                WHEN p.was_there THEN 'deleted'
                -- Absent at from but seen by a sync at or before it: back.
                WHEN p.first_seen_at <= s.from_fetched_at THEN 'returned'
                ELSE 'appeared' END,
           CASE WHEN p.was_there AND p.is_there THEN p.changed_columns ELSE '{}'::text[] END,
           p.old_machine_id, p.new_machine_id, p.old_computer_dns_name, p.new_computer_dns_name,
           p.old_assigned_application_id, p.new_assigned_application_id,
           p.old_scanner_software_version, p.new_scanner_software_version,
           p.old_mde_client_version, p.new_mde_client_version, p.old_extra, p.new_extra,
           s.from_run_id, s.from_fetched_at, s.to_run_id, s.to_fetched_at
      FROM pairs p
      JOIN syncs s ON s.tenant_id = p.tenant_id
     WHERE NOT (p.was_there AND p.is_there) OR p.changed_columns <> '{}'
     ORDER BY p.tenant_id, p.agent_id;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS $$
#variable_conflict use_column
BEGIN
    IF from_at IS NULL OR to_at IS NULL THEN
        RAISE EXCEPTION 'scan_agents_diff: from and to must both be given'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF from_at > to_at THEN
        RAISE EXCEPTION 'scan_agents_diff: from (%) is after to (%)', from_at, to_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the earlier time first.';
    END IF;
    RETURN QUERY
    WITH syncs AS MATERIALIZED (
        -- Per tenant, the sync each side reflects (none before its first).
        SELECT t.tenant_id, f.run_id AS from_run_id, f.fetched_at AS from_fetched_at,
               n.run_id AS to_run_id, n.fetched_at AS to_fetched_at
          FROM defender_storage.tenants t
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender_storage.sync_run r
                              WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 's'
                                AND r.fetched_at <= scan_agents_diff.from_at
                              ORDER BY r.fetched_at DESC LIMIT 1) f ON true
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender_storage.sync_run r
                              WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 's'
                                AND r.fetched_at <= scan_agents_diff.to_at
                              ORDER BY r.fetched_at DESC LIMIT 1) n ON true
         WHERE (scan_agents_diff.tenant IS NULL OR t.tenant_id = lower(scan_agents_diff.tenant))
           AND ((SELECT defender_storage.visible_tenants(scan_agents_diff.viewer)) IS NULL OR t.tenant_id = ANY ((SELECT defender_storage.visible_tenants(scan_agents_diff.viewer))::text[]))
    ), before_fleet AS MATERIALIZED (
        SELECT a.* FROM defender_storage.scan_agents_as_of(scan_agents_diff.from_at, scan_agents_diff.viewer, scan_agents_diff.tenant) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), after_fleet AS MATERIALIZED (
        SELECT a.* FROM defender_storage.scan_agents_as_of(scan_agents_diff.to_at, scan_agents_diff.viewer, scan_agents_diff.tenant) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), pairs AS (
        SELECT coalesce(o.tenant_id, n.tenant_id) AS tenant_id, coalesce(o.agent_id, n.agent_id) AS agent_id,
               o.agent_id IS NOT NULL AS was_there, n.agent_id IS NOT NULL AS is_there,
               o.machine_id AS old_machine_id, n.machine_id AS new_machine_id,
               o.computer_dns_name AS old_computer_dns_name, n.computer_dns_name AS new_computer_dns_name,
               o.assigned_application_id AS old_assigned_application_id,
               n.assigned_application_id AS new_assigned_application_id,
               o.scanner_software_version AS old_scanner_software_version,
               n.scanner_software_version AS new_scanner_software_version,
               o.mde_client_version AS old_mde_client_version, n.mde_client_version AS new_mde_client_version,
               o.extra AS old_extra, n.extra AS new_extra,
               array_remove(ARRAY[
                   CASE WHEN o.machine_id IS DISTINCT FROM n.machine_id THEN 'machine_id' END,
                   CASE WHEN o.computer_dns_name IS DISTINCT FROM n.computer_dns_name THEN 'computer_dns_name' END,
                   CASE WHEN o.assigned_application_id IS DISTINCT FROM n.assigned_application_id THEN 'assigned_application_id' END,
                   CASE WHEN o.scanner_software_version IS DISTINCT FROM n.scanner_software_version THEN 'scanner_software_version' END,
                   CASE WHEN o.mde_client_version IS DISTINCT FROM n.mde_client_version THEN 'mde_client_version' END,
                   CASE WHEN o.extra IS DISTINCT FROM n.extra THEN 'extra' END
               ], NULL) AS changed_columns
          FROM before_fleet o
          FULL JOIN after_fleet n ON n.tenant_id = o.tenant_id AND n.agent_id = o.agent_id
    )
    SELECT p.tenant_id, p.agent_id,
           CASE WHEN p.was_there AND p.is_there THEN 'changed'
                WHEN p.was_there THEN 'deleted'
                -- Absent at from but seen by a sync at or before it: back.
                WHEN EXISTS (SELECT FROM defender_storage.agent_state a
                              WHERE a.tenant_id = p.tenant_id AND a.agent_id = p.agent_id
                                AND a.first_seen_at <= s.from_fetched_at) THEN 'returned'
                ELSE 'appeared' END,
           CASE WHEN p.was_there AND p.is_there THEN p.changed_columns ELSE '{}'::text[] END,
           p.old_machine_id, p.new_machine_id, p.old_computer_dns_name, p.new_computer_dns_name,
           p.old_assigned_application_id, p.new_assigned_application_id,
           p.old_scanner_software_version, p.new_scanner_software_version,
           p.old_mde_client_version, p.new_mde_client_version, p.old_extra, p.new_extra,
           s.from_run_id, s.from_fetched_at, s.to_run_id, s.to_fetched_at
      FROM pairs p
      JOIN syncs s ON s.tenant_id = p.tenant_id
     WHERE NOT (p.was_there AND p.is_there) OR p.changed_columns <> '{}'
     ORDER BY p.tenant_id, p.agent_id;
END;
$$;
-- +goose StatementEnd

DROP FUNCTION defender_storage.fleet_as_of(timestamp with time zone, name, text);

DROP INDEX defender_storage.agent_state_alive_by_tenant;
