-- Integrity the database declares, and storage out of the readers' sight.
--
-- Migration 00004 replaced the foreign keys of the agent tables and the
-- no-overlap rule of scan_agent_history with statement triggers, for a
-- write target at 100,000 agents in one tenant. Real tenants have tens of
-- agents, and triggers that take no FOR KEY SHARE lock hold only while one
-- writer syncs a tenant. This migration declares every one of those rules
-- as PostgreSQL constraints (FOREIGN KEY, EXCLUDE) and drops the triggers
-- and their functions; every reference between tables is now a foreign
-- key the catalog shows.
--
-- The tables behind the views move to schema defender_storage, with their
-- partitions and the loader's internal functions; schema defender keeps
-- what a defender_reader member may read (the views, sync_runs,
-- scan_agent_history and the documented functions), so a BI navigator
-- lists only those. Views and SQL-bodied functions follow the tables (they
-- reference them by oid); the one function that builds names moves and is
-- rewritten.

-- +goose Up
CREATE SCHEMA defender_storage;
COMMENT ON SCHEMA defender_storage IS
    'agentsync storage: the tables behind the views of schema defender, written by agentsync sync only. Readers query schema defender.';

DROP TRIGGER agent_daily_references_on_insert ON defender.agent_daily;
DROP TRIGGER agent_daily_references_on_update ON defender.agent_daily;
DROP TRIGGER agent_state_heartbeat_kept ON defender.agent_state;
DROP TRIGGER agent_state_keys ON defender.agent_state;
DROP TRIGGER agent_state_references_on_insert ON defender.agent_state;
DROP TRIGGER agent_state_references_on_update ON defender.agent_state;
DROP TRIGGER agent_state_still_referenced ON defender.agent_state;
DROP TRIGGER heartbeat_block_keys ON defender.heartbeat_block;
DROP TRIGGER heartbeat_block_references ON defender.heartbeat_block;
DROP TRIGGER heartbeat_block_tenant_has_agent ON defender.heartbeat_block;
DROP TRIGGER scan_agent_history_keys ON defender.scan_agent_history;
DROP TRIGGER scan_agent_history_no_overlap_on_insert ON defender.scan_agent_history;
DROP TRIGGER scan_agent_history_no_overlap_on_update ON defender.scan_agent_history;
DROP TRIGGER scan_agent_history_references_on_insert ON defender.scan_agent_history;
DROP TRIGGER scan_agent_history_references_on_update ON defender.scan_agent_history;
DROP TRIGGER session_result_still_referenced ON defender.session_result;
DROP TRIGGER sync_runs_still_referenced ON defender.sync_runs;
DROP TRIGGER target_coverage_references_on_insert ON defender.target_coverage;
DROP TRIGGER target_coverage_references_on_update ON defender.target_coverage;
DROP TRIGGER target_result_keys ON defender.target_result;
DROP TRIGGER target_result_references ON defender.target_result;

DROP FUNCTION defender.check_heartbeat_blocks();
DROP FUNCTION defender.check_history_overlap();
DROP FUNCTION defender.check_references();
DROP FUNCTION defender.check_removed_heartbeats();
DROP FUNCTION defender.check_removed_references();
DROP FUNCTION defender.refuse_key_change();

ALTER TABLE defender.tenants SET SCHEMA defender_storage;
ALTER TABLE defender.agent_state SET SCHEMA defender_storage;
ALTER TABLE defender.heartbeat_block SET SCHEMA defender_storage;
ALTER TABLE defender.observation_block SET SCHEMA defender_storage;
ALTER TABLE defender.agent_daily SET SCHEMA defender_storage;
ALTER TABLE defender.tenant_daily SET SCHEMA defender_storage;
ALTER TABLE defender.withheld_deletions SET SCHEMA defender_storage;
ALTER TABLE defender.definition_state SET SCHEMA defender_storage;
ALTER TABLE defender.definition_version SET SCHEMA defender_storage;
ALTER TABLE defender.definition_withheld SET SCHEMA defender_storage;
ALTER TABLE defender.session_result SET SCHEMA defender_storage;
ALTER TABLE defender.target_result SET SCHEMA defender_storage;
ALTER TABLE defender.target_coverage SET SCHEMA defender_storage;
ALTER TABLE defender.tenant_leases SET SCHEMA defender_storage;
ALTER TABLE defender.maintenance_leases SET SCHEMA defender_storage;

-- +goose StatementBegin
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass
          FROM pg_catalog.pg_inherits i
         WHERE i.inhparent = 'defender_storage.observation_block'::regclass
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s SET SCHEMA defender_storage', part);
    END LOOP;
END;
$$;
-- +goose StatementEnd

ALTER FUNCTION defender.observation_slots_valid(smallint[]) SET SCHEMA defender_storage;
ALTER FUNCTION defender.refresh_fleet_daily(text, date) SET SCHEMA defender_storage;
DROP FUNCTION defender.ensure_observation_partition(timestamptz);

-- +goose StatementBegin
CREATE FUNCTION defender_storage.ensure_observation_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    month_start timestamp   := pg_catalog.date_trunc('month', at AT TIME ZONE 'UTC');
    lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
    upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    name        text        := 'observation_block_' || pg_catalog.to_char(month_start, 'YYYY_MM');
BEGIN
    IF pg_catalog.to_regclass('defender_storage.' || pg_catalog.quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Serializes creators; readers and writers go on.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('agentsync observation partitions'));
    IF pg_catalog.to_regclass('defender_storage.' || pg_catalog.quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Created apart and attached: ATTACH PARTITION takes only a SHARE
    -- UPDATE EXCLUSIVE lock on the parent, which never blocks a read.
    EXECUTE pg_catalog.format(
        'CREATE TABLE defender_storage.%I (LIKE defender_storage.observation_block INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE pg_catalog.format(
        'ALTER TABLE defender_storage.observation_block ATTACH PARTITION defender_storage.%I FOR VALUES FROM (%L) TO (%L)',
        name, lower_bound, upper_bound);
    EXECUTE pg_catalog.format(
        'COMMENT ON TABLE defender_storage.%I IS %L', name,
        'Observations of ' || pg_catalog.to_char(month_start, 'YYYY-MM') || ' (UTC): a partition of defender_storage.observation_block.');
    RETURN name;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.ensure_observation_partition(timestamptz) IS
    'Creates the monthly partition of observation_block that holds the given time, if missing, and returns its name. The loader calls it before each sync.';
REVOKE ALL ON FUNCTION defender_storage.ensure_observation_partition(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION defender_storage.observation_slots_valid(smallint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION defender_storage.refresh_fleet_daily(text, date) FROM PUBLIC;

-- scan_agents_diff reads the tenants and agents where they now are.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text DEFAULT NULL::text) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
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
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.from_at
                              ORDER BY r.fetched_at DESC LIMIT 1) f ON true
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.to_at
                              ORDER BY r.fetched_at DESC LIMIT 1) n ON true
         WHERE scan_agents_diff.tenant IS NULL OR t.tenant_id = lower(scan_agents_diff.tenant)
    ), before_fleet AS MATERIALIZED (
        SELECT a.* FROM defender.scan_agents_as_of(scan_agents_diff.from_at) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), after_fleet AS MATERIALIZED (
        SELECT a.* FROM defender.scan_agents_as_of(scan_agents_diff.to_at) a
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

-- The references the triggers checked, declared.
ALTER TABLE defender_storage.agent_state
    ADD CONSTRAINT agent_state_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants (tenant_id),
    ADD CONSTRAINT agent_state_first_seen_run_id_fkey FOREIGN KEY (first_seen_run_id) REFERENCES defender.sync_runs (run_id),
    ADD CONSTRAINT agent_state_deleted_by_run_id_fkey FOREIGN KEY (deleted_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender.scan_agent_history
    ADD CONSTRAINT scan_agent_history_agent_key_fkey FOREIGN KEY (agent_key) REFERENCES defender_storage.agent_state (agent_key),
    ADD CONSTRAINT scan_agent_history_opened_by_run_id_fkey FOREIGN KEY (opened_by_run_id) REFERENCES defender.sync_runs (run_id),
    ADD CONSTRAINT scan_agent_history_closed_by_run_id_fkey FOREIGN KEY (closed_by_run_id) REFERENCES defender.sync_runs (run_id),
    ADD CONSTRAINT scan_agent_history_no_overlap
        EXCLUDE USING gist (agent_key WITH =, tstzrange(valid_from, valid_to) WITH &&);
ALTER TABLE defender_storage.agent_daily
    ADD CONSTRAINT agent_daily_agent_key_fkey FOREIGN KEY (agent_key) REFERENCES defender_storage.agent_state (agent_key),
    ADD CONSTRAINT agent_daily_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.heartbeat_block
    ADD CONSTRAINT heartbeat_block_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants (tenant_id);
ALTER TABLE defender_storage.target_result
    ADD CONSTRAINT target_result_session_key_fkey FOREIGN KEY (session_key) REFERENCES defender_storage.session_result (session_key);
ALTER TABLE defender_storage.target_coverage
    ADD CONSTRAINT target_coverage_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants (tenant_id),
    ADD CONSTRAINT target_coverage_latest_session_key_fkey FOREIGN KEY (latest_session_key) REFERENCES defender_storage.session_result (session_key),
    ADD CONSTRAINT target_coverage_last_success_session_key_fkey FOREIGN KEY (last_success_session_key) REFERENCES defender_storage.session_result (session_key);
-- The scan_agent_history_no_overlap index answers "versions of an agent";
-- the unique index on (agent_key, valid_from) stays for the loader's
-- lookups of an agent's latest version.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.grant_reader_access() RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    statements text[];
    statement  text;
BEGIN
    -- Functions are executable by PUBLIC by default; the reporting
    -- surface is the role's, and internal functions are nobody's.
    FOR statement IN
        SELECT pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', p.oid::pg_catalog.regprocedure)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace IN ('defender'::pg_catalog.regnamespace, 'defender_storage'::pg_catalog.regnamespace)
    LOOP
        EXECUTE statement;
    END LOOP;

    SELECT pg_catalog.array_agg(s ORDER BY s) INTO statements FROM (
        SELECT 'GRANT USAGE ON SCHEMA defender TO defender_reader' AS s
        UNION ALL
        -- Views, and the tables documented as part of the reporting surface.
        SELECT pg_catalog.format('GRANT SELECT ON %s TO defender_reader', c.oid::pg_catalog.regclass)
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace = 'defender'::pg_catalog.regnamespace
           AND c.relkind IN ('v', 'm', 'r', 'p')
        UNION ALL
        -- Every function of schema defender but the owner's.
        SELECT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO defender_reader', p.oid::pg_catalog.regprocedure)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'defender'::pg_catalog.regnamespace
           AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') NOT LIKE 'Internal%'
    ) grants;

    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_reader') THEN
        IF EXISTS (SELECT FROM pg_catalog.pg_roles
                    WHERE rolname = current_user AND (rolcreaterole OR rolsuper)) THEN
            CREATE ROLE defender_reader NOLOGIN;
            COMMENT ON ROLE defender_reader IS
                'Reads the agentsync reporting views and functions of schema defender, nothing else. Grant it to the login roles of BI tools and analysts: GRANT defender_reader TO grafana;';
        ELSE
            -- Short, whole and in order: an administrator creates the
            -- role, then the owner (only it may grant on its objects)
            -- grants. agentsync migrate grants prints the same.
            RAISE NOTICE USING MESSAGE =
                'agentsync: role defender_reader does not exist and ' || current_user || ' may not create roles; the reporting grants were skipped',
                HINT = 'Step 1, an administrator allowed to create roles runs: CREATE ROLE defender_reader NOLOGIN; ' ||
                       'step 2, ' || current_user || ' runs in database ' || pg_catalog.quote_ident(pg_catalog.current_database()) ||
                       ': SELECT defender.grant_reader_access(); (agentsync migrate grants prints both)';
            RETURN;
        END IF;
    END IF;
    FOREACH statement IN ARRAY statements LOOP
        EXECUTE statement;
    END LOOP;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.grant_reader_access() IS
    'Internal: grants defender_reader what it may read (USAGE on schema defender, SELECT on its views and tables, EXECUTE on its documented functions; nothing in defender_storage), creating the role when allowed. Migrations call it after creating objects; an administrator may call it after creating the role by hand.';
SELECT defender.grant_reader_access();

-- +goose Down
-- Schema 14 again: the tables back in schema defender, the rules checked by
-- the statement triggers of 00004, 00009 and 00011 instead of constraints.
ALTER TABLE defender_storage.target_coverage
    DROP CONSTRAINT target_coverage_tenant_id_fkey,
    DROP CONSTRAINT target_coverage_latest_session_key_fkey,
    DROP CONSTRAINT target_coverage_last_success_session_key_fkey;
ALTER TABLE defender_storage.target_result DROP CONSTRAINT target_result_session_key_fkey;
ALTER TABLE defender_storage.heartbeat_block DROP CONSTRAINT heartbeat_block_tenant_id_fkey;
ALTER TABLE defender_storage.agent_daily
    DROP CONSTRAINT agent_daily_agent_key_fkey,
    DROP CONSTRAINT agent_daily_run_id_fkey;
ALTER TABLE defender.scan_agent_history
    DROP CONSTRAINT scan_agent_history_agent_key_fkey,
    DROP CONSTRAINT scan_agent_history_opened_by_run_id_fkey,
    DROP CONSTRAINT scan_agent_history_closed_by_run_id_fkey,
    DROP CONSTRAINT scan_agent_history_no_overlap;
ALTER TABLE defender_storage.agent_state
    DROP CONSTRAINT agent_state_tenant_id_fkey,
    DROP CONSTRAINT agent_state_first_seen_run_id_fkey,
    DROP CONSTRAINT agent_state_deleted_by_run_id_fkey;

-- +goose StatementBegin
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass
          FROM pg_catalog.pg_inherits i
         WHERE i.inhparent = 'defender_storage.observation_block'::regclass
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s SET SCHEMA defender', part);
    END LOOP;
END;
$$;
-- +goose StatementEnd

ALTER TABLE defender_storage.tenants SET SCHEMA defender;
ALTER TABLE defender_storage.agent_state SET SCHEMA defender;
ALTER TABLE defender_storage.heartbeat_block SET SCHEMA defender;
ALTER TABLE defender_storage.observation_block SET SCHEMA defender;
ALTER TABLE defender_storage.agent_daily SET SCHEMA defender;
ALTER TABLE defender_storage.tenant_daily SET SCHEMA defender;
ALTER TABLE defender_storage.withheld_deletions SET SCHEMA defender;
ALTER TABLE defender_storage.definition_state SET SCHEMA defender;
ALTER TABLE defender_storage.definition_version SET SCHEMA defender;
ALTER TABLE defender_storage.definition_withheld SET SCHEMA defender;
ALTER TABLE defender_storage.session_result SET SCHEMA defender;
ALTER TABLE defender_storage.target_result SET SCHEMA defender;
ALTER TABLE defender_storage.target_coverage SET SCHEMA defender;
ALTER TABLE defender_storage.tenant_leases SET SCHEMA defender;
ALTER TABLE defender_storage.maintenance_leases SET SCHEMA defender;

ALTER FUNCTION defender_storage.observation_slots_valid(smallint[]) SET SCHEMA defender;
ALTER FUNCTION defender_storage.refresh_fleet_daily(text, date) SET SCHEMA defender;
DROP FUNCTION defender_storage.ensure_observation_partition(timestamptz);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.ensure_observation_partition(at timestamp with time zone) RETURNS text
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
COMMENT ON FUNCTION defender.ensure_observation_partition(at timestamp with time zone) IS 'Internal: creates the monthly partition of defender.observation_block that holds the given time, if missing, and returns its name. The loader calls it before each sync.';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.grant_reader_access() RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    statements text[];
    statement  text;
BEGIN
    -- Functions are executable by PUBLIC by default; the reporting
    -- surface is the role's, and internal functions are nobody's.
    FOR statement IN
        SELECT pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', p.oid::pg_catalog.regprocedure)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'defender'::pg_catalog.regnamespace
    LOOP
        EXECUTE statement;
    END LOOP;

    SELECT pg_catalog.array_agg(s ORDER BY s) INTO statements FROM (
        SELECT 'GRANT USAGE ON SCHEMA defender TO defender_reader' AS s
        UNION ALL
        -- Views, and the tables documented as part of the reporting surface.
        SELECT pg_catalog.format('GRANT SELECT ON %s TO defender_reader', c.oid::pg_catalog.regclass)
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace = 'defender'::pg_catalog.regnamespace
           AND (c.relkind IN ('v', 'm')
                OR (c.relkind IN ('r', 'p') AND c.relname IN ('sync_runs', 'scan_agent_history')))
        UNION ALL
        -- Every function but the internal ones (their comment says so).
        SELECT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO defender_reader', p.oid::pg_catalog.regprocedure)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'defender'::pg_catalog.regnamespace
           AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') NOT LIKE 'Internal%'
    ) grants;

    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_reader') THEN
        IF EXISTS (SELECT FROM pg_catalog.pg_roles
                    WHERE rolname = current_user AND (rolcreaterole OR rolsuper)) THEN
            CREATE ROLE defender_reader NOLOGIN;
            COMMENT ON ROLE defender_reader IS
                'Reads the agentsync reporting views and functions of schema defender, nothing else. Grant it to the login roles of BI tools and analysts: GRANT defender_reader TO grafana;';
        ELSE
            -- Short, whole and in order: an administrator creates the
            -- role, then the owner (only it may grant on its objects)
            -- grants. agentsync migrate grants prints the same.
            RAISE NOTICE USING MESSAGE =
                'agentsync: role defender_reader does not exist and ' || current_user || ' may not create roles; the reporting grants were skipped',
                HINT = 'Step 1, an administrator allowed to create roles runs: CREATE ROLE defender_reader NOLOGIN; ' ||
                       'step 2, ' || current_user || ' runs in database ' || pg_catalog.quote_ident(pg_catalog.current_database()) ||
                       ': SELECT defender.grant_reader_access(); (agentsync migrate grants prints both)';
            RETURN;
        END IF;
    END IF;
    FOREACH statement IN ARRAY statements LOOP
        EXECUTE statement;
    END LOOP;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.grant_reader_access() IS 'Internal: grants defender_reader what it may read (USAGE on the schema, SELECT on the views, sync_runs and scan_agent_history, EXECUTE on the documented functions), creating the role when allowed. Migrations call it after creating objects; an administrator may call it after creating the role by hand.';

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
-- +goose StatementBegin
CREATE FUNCTION defender.check_history_overlap() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    lo       bigint;
    hi       bigint;
    written  bigint;
    agents   bigint;
    versions bigint;
    agent    bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Many first versions of agents close together (a first sync's): when
    -- the range of their keys holds no other version, none can overlap. One
    -- index range instead of a lookup per row.
    IF (SELECT count(*) FROM (SELECT FROM new_rows LIMIT 512) n) = 512 THEN
        SELECT min(n.agent_key), max(n.agent_key), count(*), count(DISTINCT n.agent_key)
          INTO lo, hi, written, agents
          FROM new_rows n;
        IF agents = written AND hi - lo < 4 * written THEN
            SELECT count(*) INTO versions
              FROM (SELECT FROM defender.scan_agent_history h
                     WHERE h.agent_key BETWEEN lo AND hi LIMIT written + 1) v;
            IF versions = written THEN
                RETURN NULL;
            END IF;
        END IF;
    END IF;
    -- Two versions of an agent overlap when each starts before the other
    -- ends (an open version never ends).
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
-- +goose StatementBegin
CREATE FUNCTION defender.check_references() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
DECLARE
    columns text;
    bounds  bigint[];
    lo      bigint;
    hi      bigint;
    named   bigint;
    present bigint;
    missing text;
BEGIN
    -- A statement that wrote no row (most syncs insert no agent) costs
    -- nothing more.
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Arguments come in threes: column, referenced table, referenced column
    -- (unique, as for a foreign key). A small statement (a tenant of tens
    -- of agents) looks each key up. In a large one, one pass over the rows
    -- finds, for each integer column, the lowest and highest key named and
    -- how many rows name one.
    IF (SELECT count(*) FROM (SELECT FROM new_rows LIMIT 512) n) = 512 THEN
        SELECT pg_catalog.string_agg(
                   CASE WHEN a.atttypid IN ('pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype)
                        THEN pg_catalog.format('min(%1$I), max(%1$I), count(%1$I)', a.attname)
                        ELSE 'NULL, NULL, NULL'
                   END, ', ' ORDER BY i)
          INTO columns
          FROM pg_catalog.generate_series(0, TG_NARGS / 3 - 1) i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = TG_RELID AND a.attname = TG_ARGV[3 * i];
        EXECUTE 'SELECT ARRAY[' || columns || ']::bigint[] FROM new_rows' INTO bounds;
    END IF;
    FOR i IN 0 .. TG_NARGS / 3 - 1 LOOP
        lo := bounds[3 * i + 1];
        hi := bounds[3 * i + 2];
        named := bounds[3 * i + 3];
        CONTINUE WHEN named = 0;
        -- Keys named close together (a first sync's new agents, the one
        -- run of a statement): the referenced table holds every key of
        -- the range when it holds as many as the range has numbers, its
        -- keys being unique. One index range instead of a lookup per row.
        IF named IS NOT NULL AND hi - lo < 4 * named THEN
            EXECUTE pg_catalog.format('SELECT count(*) FROM %1$s r WHERE r.%2$I BETWEEN $1 AND $2',
                                      TG_ARGV[3 * i + 1], TG_ARGV[3 * i + 2])
               INTO present USING lo, hi;
            CONTINUE WHEN present = hi - lo + 1;
        END IF;
        -- Else each key is looked up, a run once.
        EXECUTE pg_catalog.format(
            CASE WHEN TG_ARGV[3 * i + 1] = 'defender.sync_runs'
                 THEN 'SELECT n.k::text FROM (SELECT DISTINCT %1$I AS k FROM new_rows WHERE %1$I IS NOT NULL) n
                        WHERE NOT EXISTS (SELECT FROM %2$s r WHERE r.%3$I = n.k) LIMIT 1'
                 ELSE 'SELECT n.%1$I::text FROM new_rows n
                        WHERE n.%1$I IS NOT NULL
                          AND NOT EXISTS (SELECT FROM %2$s r WHERE r.%3$I = n.%1$I) LIMIT 1'
            END,
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
$_$;
-- +goose StatementEnd
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
-- +goose StatementBegin
CREATE FUNCTION defender.check_removed_references() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
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
$_$;
-- +goose StatementEnd
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
COMMENT ON FUNCTION defender.check_heartbeat_blocks() IS 'Internal: statement trigger refusing a heartbeat_block row whose block holds no agent of its tenant.';
COMMENT ON FUNCTION defender.check_history_overlap() IS 'Internal: statement trigger refusing versions of an agent whose validity ranges overlap (scan_agent_history_no_overlap).';
COMMENT ON FUNCTION defender.check_references() IS 'Internal: statement trigger refusing new rows whose keys are missing from the referenced tables (arguments: column, table, column, ...).';
COMMENT ON FUNCTION defender.check_removed_heartbeats() IS 'Internal: statement trigger refusing to delete agents whose heartbeat is stored in heartbeat_block.';
COMMENT ON FUNCTION defender.check_removed_references() IS 'Internal: statement trigger refusing to delete rows still referenced (arguments: referencing table, its column, our column, ...).';
COMMENT ON FUNCTION defender.refuse_key_change() IS 'Internal: row trigger refusing an update of a key column (arguments: the key columns).';

CREATE TRIGGER agent_daily_references_on_insert AFTER INSERT ON defender.agent_daily REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('agent_key', 'defender.agent_state', 'agent_key', 'run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER agent_daily_references_on_update AFTER UPDATE ON defender.agent_daily REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('agent_key', 'defender.agent_state', 'agent_key', 'run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER agent_state_heartbeat_kept AFTER DELETE ON defender.agent_state REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_removed_heartbeats();
CREATE TRIGGER agent_state_keys BEFORE UPDATE OF first_seen_run_id ON defender.agent_state FOR EACH ROW WHEN ((old.first_seen_run_id <> new.first_seen_run_id)) EXECUTE FUNCTION defender.refuse_key_change('first_seen_run_id');
CREATE TRIGGER agent_state_references_on_insert AFTER INSERT ON defender.agent_state REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('first_seen_run_id', 'defender.sync_runs', 'run_id', 'deleted_by_run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER agent_state_references_on_update AFTER UPDATE ON defender.agent_state REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('deleted_by_run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER agent_state_still_referenced AFTER DELETE ON defender.agent_state REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_removed_references('defender.scan_agent_history', 'agent_key', 'agent_key', 'defender.agent_daily', 'agent_key', 'agent_key');
CREATE TRIGGER heartbeat_block_keys BEFORE UPDATE OF tenant_id, block ON defender.heartbeat_block FOR EACH ROW WHEN (((old.tenant_id <> new.tenant_id) OR (old.block <> new.block))) EXECUTE FUNCTION defender.refuse_key_change('tenant_id', 'block');
CREATE TRIGGER heartbeat_block_references AFTER INSERT ON defender.heartbeat_block REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('tenant_id', 'defender.tenants', 'tenant_id');
CREATE TRIGGER heartbeat_block_tenant_has_agent AFTER INSERT ON defender.heartbeat_block REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_heartbeat_blocks();
CREATE TRIGGER scan_agent_history_keys BEFORE UPDATE OF agent_key, opened_by_run_id ON defender.scan_agent_history FOR EACH ROW WHEN (((old.agent_key <> new.agent_key) OR (old.opened_by_run_id <> new.opened_by_run_id))) EXECUTE FUNCTION defender.refuse_key_change('agent_key', 'opened_by_run_id');
CREATE TRIGGER scan_agent_history_no_overlap_on_insert AFTER INSERT ON defender.scan_agent_history REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_history_overlap();
CREATE TRIGGER scan_agent_history_no_overlap_on_update AFTER UPDATE ON defender.scan_agent_history REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_history_overlap();
CREATE TRIGGER scan_agent_history_references_on_insert AFTER INSERT ON defender.scan_agent_history REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('agent_key', 'defender.agent_state', 'agent_key', 'opened_by_run_id', 'defender.sync_runs', 'run_id', 'closed_by_run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER scan_agent_history_references_on_update AFTER UPDATE ON defender.scan_agent_history REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('closed_by_run_id', 'defender.sync_runs', 'run_id');
CREATE TRIGGER session_result_still_referenced AFTER DELETE ON defender.session_result REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_removed_references('defender.target_result', 'session_key', 'session_key', 'defender.target_coverage', 'latest_session_key', 'session_key', 'defender.target_coverage', 'last_success_session_key', 'session_key');
CREATE TRIGGER sync_runs_still_referenced AFTER DELETE ON defender.sync_runs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_removed_references('defender.agent_state', 'first_seen_run_id', 'run_id', 'defender.agent_state', 'deleted_by_run_id', 'run_id', 'defender.scan_agent_history', 'opened_by_run_id', 'run_id', 'defender.scan_agent_history', 'closed_by_run_id', 'run_id', 'defender.agent_daily', 'run_id', 'run_id');
CREATE TRIGGER target_coverage_references_on_insert AFTER INSERT ON defender.target_coverage REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('tenant_id', 'defender.tenants', 'tenant_id', 'latest_session_key', 'defender.session_result', 'session_key', 'last_success_session_key', 'defender.session_result', 'session_key');
CREATE TRIGGER target_coverage_references_on_update AFTER UPDATE ON defender.target_coverage REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('latest_session_key', 'defender.session_result', 'session_key', 'last_success_session_key', 'defender.session_result', 'session_key');
CREATE TRIGGER target_result_keys BEFORE UPDATE OF session_key ON defender.target_result FOR EACH ROW WHEN ((old.session_key <> new.session_key)) EXECUTE FUNCTION defender.refuse_key_change('session_key');
CREATE TRIGGER target_result_references AFTER INSERT ON defender.target_result REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION defender.check_references('session_key', 'defender.session_result', 'session_key');

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text DEFAULT NULL::text) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
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
          FROM defender.tenants t
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.from_at
                              ORDER BY r.fetched_at DESC LIMIT 1) f ON true
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.to_at
                              ORDER BY r.fetched_at DESC LIMIT 1) n ON true
         WHERE scan_agents_diff.tenant IS NULL OR t.tenant_id = lower(scan_agents_diff.tenant)
    ), before_fleet AS MATERIALIZED (
        SELECT a.* FROM defender.scan_agents_as_of(scan_agents_diff.from_at) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), after_fleet AS MATERIALIZED (
        SELECT a.* FROM defender.scan_agents_as_of(scan_agents_diff.to_at) a
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
                WHEN EXISTS (SELECT FROM defender.agent_state a
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

SELECT defender.grant_reader_access();
DROP SCHEMA defender_storage;
