--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: agentsync; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA agentsync;


--
-- Name: SCHEMA agentsync; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA agentsync IS 'agentsync''s own records: which migrations of the schema defender are applied (goose_db_version), and the lock held while migrating (goose_lock). Not for readers.';


--
-- Name: defender; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA defender;


--
-- Name: SCHEMA defender; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA defender IS 'Microsoft Defender authenticated scan agents, synced by agentsync, with their full history. Query the views scan_agents, scan_agent_history, scan_agent_observations, scan_agent_changes, version_drift and the function scan_agents_as_of.';


--
-- Name: defender_storage; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA defender_storage;


--
-- Name: SCHEMA defender_storage; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA defender_storage IS 'agentsync storage: the tables behind the views of schema defender, written by agentsync sync only. Readers query schema defender.';


--
-- Name: btree_gist; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;


--
-- Name: EXTENSION btree_gist; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION btree_gist IS 'support for indexing common datatypes in GiST';


--
-- Name: grant_reader_access(); Type: FUNCTION; Schema: defender; Owner: -
--

CREATE FUNCTION defender.grant_reader_access() RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    reader     text;
    missing    text[] := '{}';
    statements text[];
    statement  text;
BEGIN
    -- Functions are executable by PUBLIC by default; the reporting
    -- surface is the roles', and internal functions are nobody's.
    FOR statement IN
        SELECT pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', p.oid::pg_catalog.regprocedure)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace IN ('defender'::pg_catalog.regnamespace, 'defender_storage'::pg_catalog.regnamespace)
    LOOP
        EXECUTE statement;
    END LOOP;

    -- defender_reader sees every tenant; defender_tenant_reader holds the
    -- same privileges for the roles given tenants by grant_tenant_access,
    -- which see only theirs.
    FOREACH reader IN ARRAY ARRAY['defender_reader', 'defender_tenant_reader'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = reader) THEN
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                            WHERE rolname = current_user AND (rolcreaterole OR rolsuper)) THEN
                missing := missing || reader;
                CONTINUE;
            END IF;
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', reader);
            EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', reader, CASE reader
                WHEN 'defender_reader' THEN
                    'Reads the agentsync reporting views and functions of schema defender, every tenant, nothing else. Grant it to the login roles of BI tools and analysts: GRANT defender_reader TO grafana;'
                ELSE
                    'Reads the agentsync reporting views and functions of schema defender, only the rows of the tenants given to the role with SELECT defender.grant_tenant_access(role, tenant); which makes the role a member.'
                END);
        END IF;
        SELECT pg_catalog.array_agg(s ORDER BY s) INTO statements FROM (
            SELECT pg_catalog.format('GRANT USAGE ON SCHEMA defender TO %I', reader) AS s
            UNION ALL
            -- Views, and the tables documented as part of the reporting surface.
            SELECT pg_catalog.format('GRANT SELECT ON %s TO %I', c.oid::pg_catalog.regclass, reader)
              FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'defender'::pg_catalog.regnamespace
               AND c.relkind IN ('v', 'm', 'r', 'p')
            UNION ALL
            -- Every function of schema defender but the owner's.
            SELECT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::pg_catalog.regprocedure, reader)
              FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'defender'::pg_catalog.regnamespace
               AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') NOT LIKE 'Internal%'
               AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') NOT LIKE 'Owner only%'
            UNION ALL
            -- The internal functions the views and the documented
            -- functions call as the reader, who cannot name them (no USAGE
            -- on defender_storage).
            SELECT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::pg_catalog.regprocedure, reader)
              FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'defender_storage'::pg_catalog.regnamespace
               AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') LIKE 'Runs for readers:%'
        ) grants;
        FOREACH statement IN ARRAY statements LOOP
            EXECUTE statement;
        END LOOP;
    END LOOP;

    IF pg_catalog.cardinality(missing) > 0 THEN
        -- Short, whole and in order: an administrator creates the roles,
        -- then the owner (only it may grant on its objects) grants.
        -- agentsync migrate grants prints the same.
        RAISE NOTICE USING MESSAGE =
            'agentsync: role ' || pg_catalog.array_to_string(missing, ' and role ') || ' does not exist and ' || current_user ||
            ' may not create roles; the reporting grants to it were skipped',
            HINT = 'Step 1, an administrator allowed to create roles runs: ' ||
                   (SELECT pg_catalog.string_agg(pg_catalog.format('CREATE ROLE %I NOLOGIN;', m), ' ') FROM pg_catalog.unnest(missing) m) ||
                   ' step 2, ' || current_user || ' runs in database ' || pg_catalog.quote_ident(pg_catalog.current_database()) ||
                   ': SELECT defender.grant_reader_access(); (agentsync migrate grants prints both)';
    END IF;
END;
$$;


--
-- Name: FUNCTION grant_reader_access(); Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON FUNCTION defender.grant_reader_access() IS 'Internal: grants defender_reader and defender_tenant_reader what they may read (USAGE on schema defender, SELECT on its views and tables, EXECUTE on its documented functions and on the functions of defender_storage they run through, which they cannot name), creating the roles when allowed. Migrations call it after creating objects; an administrator may call it after creating the roles by hand.';


--
-- Name: grant_tenant_access(text, text); Type: FUNCTION; Schema: defender; Owner: -
--

CREATE FUNCTION defender.grant_tenant_access(role text, tenant text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    grantee_oid oid;
    tenant_key  text := pg_catalog.lower(grant_tenant_access.tenant);
BEGIN
    IF grant_tenant_access.role IS NULL OR grant_tenant_access.tenant IS NULL THEN
        RAISE EXCEPTION 'grant_tenant_access: role and tenant must both be given'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT r.oid INTO grantee_oid FROM pg_catalog.pg_roles r WHERE r.rolname = grant_tenant_access.role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'grant_tenant_access: role "%" does not exist', grant_tenant_access.role
            USING ERRCODE = 'undefined_object',
                  HINT = 'Give the role''s name exactly as stored (SELECT rolname FROM pg_roles); an administrator creates login roles: CREATE ROLE name LOGIN;';
    END IF;
    IF NOT EXISTS (SELECT FROM defender_storage.tenants t WHERE t.tenant_id = tenant_key) THEN
        RAISE EXCEPTION 'grant_tenant_access: tenant "%" is not stored in this database', grant_tenant_access.tenant
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A tenant is stored by its first sync; SELECT tenant_id FROM defender.tenant_sync_status lists them.';
    END IF;
    IF defender_storage.visible_tenants(grant_tenant_access.role::name) IS NULL THEN
        RAISE EXCEPTION 'grant_tenant_access: role "%" sees every tenant already', grant_tenant_access.role
            USING ERRCODE = 'invalid_grant_operation',
                  DETAIL = 'It is a superuser, the owner of schema defender, a member of it, or a member of defender_reader.',
                  HINT = 'Give a customer''s analysts a login role of their own, not a member of defender_reader.';
    END IF;
    INSERT INTO defender_storage.tenant_access (role_oid, role_name, tenant_id)
    VALUES (grantee_oid, grant_tenant_access.role, tenant_key)
    ON CONFLICT (role_oid, tenant_id) DO UPDATE SET role_name = EXCLUDED.role_name;

    -- The privileges to query come with defender_tenant_reader.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_tenant_reader') THEN
        RAISE NOTICE USING MESSAGE =
            'agentsync: role defender_tenant_reader does not exist: ' || grant_tenant_access.role || ' may see tenant ' || tenant_key || ' but may not query yet',
            HINT = 'Step 1, an administrator allowed to create roles runs: CREATE ROLE defender_tenant_reader NOLOGIN; GRANT defender_tenant_reader TO ' ||
                   pg_catalog.quote_ident(grant_tenant_access.role) || '; step 2, ' || current_user || ' runs in database ' ||
                   pg_catalog.quote_ident(pg_catalog.current_database()) || ': SELECT defender.grant_reader_access();';
    ELSIF NOT pg_catalog.pg_has_role(grantee_oid, 'defender_tenant_reader', 'MEMBER') THEN
        BEGIN
            EXECUTE pg_catalog.format('GRANT defender_tenant_reader TO %I', grant_tenant_access.role);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE USING MESSAGE =
                'agentsync: ' || current_user || ' may not grant role defender_tenant_reader: ' || grant_tenant_access.role ||
                ' may see tenant ' || tenant_key || ' but may not query yet',
                HINT = 'An administrator allowed to create roles runs: GRANT defender_tenant_reader TO ' ||
                       pg_catalog.quote_ident(grant_tenant_access.role) || ';';
        END;
    END IF;
END;
$$;


--
-- Name: FUNCTION grant_tenant_access(role text, tenant text); Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON FUNCTION defender.grant_tenant_access(role text, tenant text) IS 'Owner only: lets the role (its name as stored) see the tenant (any case) in every view, table and function of the reporting surface, and no tenant it was not given; makes it a member of defender_tenant_reader for the privileges to query. Example: SELECT defender.grant_tenant_access(''contoso_analysts'', ''contoso.onmicrosoft.com'').';


--
-- Name: revoke_tenant_access(text, text); Type: FUNCTION; Schema: defender; Owner: -
--

CREATE FUNCTION defender.revoke_tenant_access(role text, tenant text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    tenant_key text := pg_catalog.lower(revoke_tenant_access.tenant);
    removed    integer;
BEGIN
    IF revoke_tenant_access.role IS NULL OR revoke_tenant_access.tenant IS NULL THEN
        RAISE EXCEPTION 'revoke_tenant_access: role and tenant must both be given'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM defender_storage.tenants t WHERE t.tenant_id = tenant_key) THEN
        RAISE EXCEPTION 'revoke_tenant_access: tenant "%" is not stored in this database', revoke_tenant_access.tenant
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT tenant_id FROM defender.tenant_sync_status lists the stored tenants.';
    END IF;
    -- By name too: the access of a role since dropped is removed by its name.
    DELETE FROM defender_storage.tenant_access a
     WHERE a.tenant_id = tenant_key
       AND (a.role_name = revoke_tenant_access.role
            OR a.role_oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = revoke_tenant_access.role));
    GET DIAGNOSTICS removed = ROW_COUNT;
    IF removed = 0 THEN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = revoke_tenant_access.role) THEN
            RAISE EXCEPTION 'revoke_tenant_access: role "%" does not exist', revoke_tenant_access.role
                USING ERRCODE = 'undefined_object',
                      HINT = 'Give the role''s name exactly as stored (SELECT rolname FROM pg_roles).';
        END IF;
        RAISE NOTICE 'agentsync: role % had no access to tenant %', revoke_tenant_access.role, tenant_key;
    END IF;
END;
$$;


--
-- Name: FUNCTION revoke_tenant_access(role text, tenant text); Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON FUNCTION defender.revoke_tenant_access(role text, tenant text) IS 'Owner only: takes back what grant_tenant_access gave: the role no longer sees the tenant (it keeps its membership of defender_tenant_reader, through which it sees only the tenants still given to it). Example: SELECT defender.revoke_tenant_access(''contoso_analysts'', ''contoso.onmicrosoft.com'').';


--
-- Name: scan_agents_as_of(timestamp with time zone, name, text); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
BEGIN
    -- One statement, planned once per session for any time, viewer and
    -- tenant (its parameters unknown, as a SQL function's were at each
    -- call), and kept: PostgreSQL plans it again when the statistics of
    -- its tables change. A plan for the values of a call would expect
    -- every tenant's rows where there are 40, and join them by hashing
    -- whole tables.
    RETURN QUERY
 WITH s AS MATERIALIZED (
          -- Per tenant, the latest successful sync at or before the time,
          -- with what it observed (the agents whose heartbeat moved).
          SELECT t.tenant_id,
             t.tenant_no,
             r.run_id,
             r.fetched_at,
             (r.run_id = t.last_run_id) AS latest,
             defender.utc_day(r.fetched_at) AS day,
             ((defender.utc_day(r.fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text) AS day_start,
             (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE (w.run_id = r.run_id))) AS withheld,
             o.agent_nos,
             o.last_seen,
             o.last_command_execution_at
            FROM ((defender_storage.tenants t
              CROSS JOIN LATERAL ( SELECT r_1.run_id,
                     r_1.fetched_at
                    FROM defender_storage.sync_run r_1
                   WHERE ((r_1.tenant_no = t.tenant_no) AND (r_1.resource = 'a'::"char") AND (r_1.status = 's'::"char") AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
              LEFT JOIN LATERAL ( SELECT o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((r.run_id <> t.last_run_id) AND (o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o ON (true))
           WHERE (((( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants) IS NULL) OR (t.tenant_id = ANY (( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants)::text[]))) AND ((scan_agents_as_of.tenant IS NULL) OR (t.tenant_id = lower(scan_agents_as_of.tenant))))
         ), current AS (
          SELECT s.tenant_id,
             a.agent_id,
             a.machine_id,
             a.computer_dns_name,
             a.assigned_application_id,
             a.scanner_software_version,
             a.mde_client_version,
             hb.last_seen,
             hb.last_command_execution_at,
             a.extra,
             s.run_id,
             s.fetched_at
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.deleted_at IS NULL))))
              LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
           WHERE (s.latest AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = a.agent_key) AND (w.run_id = s.run_id)))))))
         ), versions AS MATERIALIZED (
          -- The version of each agent valid at its tenant's sync (one per
          -- agent: versions never overlap), and where that sync's
          -- observation holds the agent, if it does.
          SELECT s.run_id,
             s.fetched_at,
             s.day,
             s.day_start,
             a.tenant_id,
             s.tenant_no,
             h.agent_key,
             a.agent_no,
             h.agent_id,
             h.machine_id,
             h.computer_dns_name,
             h.assigned_application_id,
             h.scanner_software_version,
             h.mde_client_version,
             h.extra,
             s.last_seen[i.i] AS observed_last_seen,
             s.last_command_execution_at[i.i] AS observed_last_command_execution_at,
             i.i AS observed
            FROM (((s
              JOIN defender.scan_agent_history h ON (((h.tenant_id = s.tenant_id) AND (tstzrange(h.valid_from, h.valid_to, '[)'::text) @> s.fetched_at))))
              -- Its agent, alive at the sync (by its key: a join of every
              -- agent of every tenant, hashed, took a third of the time).
              JOIN defender_storage.agent_state a ON (((a.agent_key = h.agent_key) AND (a.tenant_id = s.tenant_id) AND (a.first_seen_at <= s.fetched_at) AND ((a.deleted_at IS NULL) OR (a.deleted_at > s.fetched_at)))))
              CROSS JOIN LATERAL array_position(s.agent_nos, a.agent_no) i(i))
           WHERE ((NOT s.latest) AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = h.agent_key) AND (w.run_id = s.run_id)))))))
         ), unobserved AS MATERIALIZED (
          -- Per tenant, the agents that sync did not observe: their latest
          -- observation of the day, else the day before's.
          SELECT v.tenant_id,
             v.tenant_no,
             v.fetched_at,
             v.day_start,
             array_agg(v.agent_no) AS agent_nos
            FROM versions v
           WHERE (v.observed IS NULL)
           GROUP BY v.tenant_id, v.tenant_no, v.fetched_at, v.day_start
         ), day_obs AS MATERIALIZED (
          SELECT DISTINCT ON (u.tenant_id, n.agent_no) u.tenant_id,
             n.agent_no,
             o.last_seen[p.i] AS last_seen,
             o.last_command_execution_at[p.i] AS last_command_execution_at
            FROM ((((unobserved u
              JOIN defender_storage.sync_run r ON (((r.tenant_no = u.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.fetched_at >= u.day_start) AND (r.fetched_at < u.fetched_at))))
              CROSS JOIN LATERAL ( SELECT o_1.observed_at,
                     o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o)
              CROSS JOIN LATERAL unnest(u.agent_nos) n(agent_no))
              CROSS JOIN LATERAL array_position(o.agent_nos, n.agent_no) p(i))
           WHERE (p.i IS NOT NULL)
           ORDER BY u.tenant_id, n.agent_no, o.observed_at DESC
         )
  SELECT c.tenant_id,
     c.agent_id,
     c.machine_id,
     c.computer_dns_name,
     c.assigned_application_id,
     c.scanner_software_version,
     c.mde_client_version,
     c.last_seen,
     c.last_command_execution_at,
     c.extra,
     c.run_id,
     c.fetched_at
    FROM current c
 UNION ALL
  SELECT v.tenant_id,
     v.agent_id,
     v.machine_id,
     v.computer_dns_name,
     v.assigned_application_id,
     v.scanner_software_version,
     v.mde_client_version,
         CASE
             WHEN (v.observed IS NOT NULL) THEN v.observed_last_seen
             WHEN (d.agent_no IS NOT NULL) THEN d.last_seen
             ELSE p.last_seen
         END AS last_seen,
         CASE
             WHEN (v.observed IS NOT NULL) THEN v.observed_last_command_execution_at
             WHEN (d.agent_no IS NOT NULL) THEN d.last_command_execution_at
             ELSE p.last_command_execution_at
         END AS last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM ((versions v
      LEFT JOIN day_obs d ON (((v.observed IS NULL) AND (d.tenant_id = v.tenant_id) AND (d.agent_no = v.agent_no))))
      LEFT JOIN LATERAL ( SELECT ad.last_seen,
             ad.last_command_execution_at
            FROM defender_storage.agent_daily ad
           WHERE ((v.observed IS NULL) AND (d.agent_no IS NULL) AND (ad.agent_key = v.agent_key) AND (ad.day < v.day))
           ORDER BY ad.day DESC
          LIMIT 1) p ON (true));
END;
$$;


--
-- Name: FUNCTION scan_agents_as_of(at timestamp with time zone, viewer name, tenant text); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) IS 'Runs for readers: defender.scan_agents_as_of for the tenants the role viewer may see (of them, tenant alone when given, any case); runs as its owner to read the storage. Only the wrapper calls it (readers cannot name it), with its caller as viewer.';


--
-- Name: scan_agents_as_of(timestamp with time zone, text); Type: FUNCTION; Schema: defender; Owner: -
--

CREATE FUNCTION defender.scan_agents_as_of(at timestamp with time zone, tenant text DEFAULT NULL::text) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    BEGIN ATOMIC
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
     a.as_of_run_id,
     a.as_of_fetched_at
    FROM defender_storage.scan_agents_as_of(scan_agents_as_of.at, CURRENT_USER, scan_agents_as_of.tenant) a(tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id, scanner_software_version, mde_client_version, last_seen, last_command_execution_at, extra, as_of_run_id, as_of_fetched_at);
END;


--
-- Name: FUNCTION scan_agents_as_of(at timestamp with time zone, tenant text); Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON FUNCTION defender.scan_agents_as_of(at timestamp with time zone, tenant text) IS 'The agents exactly as the last successful sync at or before the given time saw them, per tenant, or of the given tenant alone (any case; faster than a WHERE on the result, which computes every tenant first): the columns of scan_agents without bookkeeping, then as_of_run_id and as_of_fetched_at: the sync the answer comes from. Example: SELECT * FROM defender.scan_agents_as_of(''2026-10-01''), or SELECT * FROM defender.scan_agents_as_of(''2026-10-01'', ''contoso.onmicrosoft.com''). Beyond OBSERVATION_RETENTION, last_seen and last_command_execution_at are those of the last sync of the previous day.';


--
-- Name: scan_agents_diff(timestamp with time zone, timestamp with time zone, text, name); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
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


--
-- Name: FUNCTION scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) IS 'Runs for readers: defender.scan_agents_diff for the tenants the role viewer may see; runs as its owner to read the storage. Only the wrapper calls it (readers cannot name it), with its caller as viewer.';


--
-- Name: scan_agents_diff(timestamp with time zone, timestamp with time zone, text); Type: FUNCTION; Schema: defender; Owner: -
--

CREATE FUNCTION defender.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text DEFAULT NULL::text) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    BEGIN ATOMIC
 SELECT d.tenant_id,
     d.agent_id,
     d.change,
     d.changed_columns,
     d.old_machine_id,
     d.new_machine_id,
     d.old_computer_dns_name,
     d.new_computer_dns_name,
     d.old_assigned_application_id,
     d.new_assigned_application_id,
     d.old_scanner_software_version,
     d.new_scanner_software_version,
     d.old_mde_client_version,
     d.new_mde_client_version,
     d.old_extra,
     d.new_extra,
     d.from_run_id,
     d.from_fetched_at,
     d.to_run_id,
     d.to_fetched_at
    FROM defender_storage.scan_agents_diff(scan_agents_diff.from_at, scan_agents_diff.to_at, scan_agents_diff.tenant, CURRENT_USER) d(tenant_id, agent_id, change, changed_columns, old_machine_id, new_machine_id, old_computer_dns_name, new_computer_dns_name, old_assigned_application_id, new_assigned_application_id, old_scanner_software_version, new_scanner_software_version, old_mde_client_version, new_mde_client_version, old_extra, new_extra, from_run_id, from_fetched_at, to_run_id, to_fetched_at);
END;


--
-- Name: FUNCTION scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text); Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON FUNCTION defender.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text) IS 'The agents that changed between the fleet as of from_at and as of to_at (each as scan_agents_as_of tells it), optionally of one tenant: change is appeared, deleted, returned (absent at from_at, seen by an earlier sync) or changed (changed_columns names the descriptive columns that differ); old_* and new_* are the values at each side, from_run_id/from_fetched_at and to_run_id/to_fetched_at the tenant''s sync each side reflects. Unchanged agents are absent; last_seen and last_command_execution_at are observations, not compared. Example: SELECT * FROM defender.scan_agents_diff(''2026-03-01'', ''2026-06-01'').';


--
-- Name: scan_outcome(text); Type: FUNCTION; Schema: defender; Owner: -
--

CREATE FUNCTION defender.scan_outcome(status text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE translate(lower(status), (' _-'::text || chr(9)), ''::text) WHEN 'success'::text THEN 'success'::text WHEN 'succeeded'::text THEN 'success'::text WHEN 'partialsuccess'::text THEN 'partial'::text WHEN 'partial'::text THEN 'partial'::text WHEN 'fail'::text THEN 'failure'::text WHEN 'failed'::text THEN 'failure'::text WHEN 'failure'::text THEN 'failure'::text ELSE NULL::text END;


--
-- Name: FUNCTION scan_outcome(status text); Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON FUNCTION defender.scan_outcome(status text) IS 'The outcome of a scan status as Defender spells it (Success, Fail, Failure, Partial Success, PartialSuccess...): success, partial or failure; NULL for a status it does not know. Example: SELECT * FROM defender.scan_sessions WHERE defender.scan_outcome(status) = ''failure''.';


--
-- Name: utc_day(timestamp with time zone); Type: FUNCTION; Schema: defender; Owner: -
--

CREATE FUNCTION defender.utc_day(at timestamp with time zone) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ((at AT TIME ZONE 'UTC'::text))::date;


--
-- Name: FUNCTION utc_day(at timestamp with time zone); Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON FUNCTION defender.utc_day(at timestamp with time zone) IS 'The UTC calendar day of a time: the day the daily rollups (scan_agent_daily, fleet_daily) file it under.';


--
-- Name: version_key(text); Type: FUNCTION; Schema: defender; Owner: -
--

CREATE FUNCTION defender.version_key(version text) RETURNS numeric[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN (version ~ '^[0-9]+(\.[0-9]+)*$'::text) THEN (string_to_array(regexp_replace(version, '(\.0+)+$'::text, ''::text), '.'::text))::numeric[] ELSE NULL::numeric[] END;


--
-- Name: FUNCTION version_key(version text); Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON FUNCTION defender.version_key(version text) IS 'Sort key of a dotted version such as 10.8295.22621.1195: its parts as numbers, so that 10.8295.22621.1010 < 10.8295.22621.1195 < 10.10000.0.0; trailing zero parts do not count (7.6.0 = 7.6.0.0). NULL when the version is not purely numeric. Use ORDER BY defender.version_key(mde_client_version).';


--
-- Name: agent_numbers_valid(integer[]); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.agent_numbers_valid(agent_nos integer[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ((array_ndims(agent_nos) = 1) AND (array_lower(agent_nos, 1) = 1) AND (NOT (EXISTS (SELECT FROM unnest(agent_numbers_valid.agent_nos) WITH ORDINALITY n(agent_no, i) WHERE ((n.agent_no IS NULL) OR (n.agent_no < 1) OR ((n.i > 1) AND (n.agent_no <= (agent_numbers_valid.agent_nos)[(n.i - 1)])))))));


--
-- Name: FUNCTION agent_numbers_valid(agent_nos integer[]); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.agent_numbers_valid(agent_nos integer[]) IS 'True when agent_nos is a non-empty list of agent numbers (1 and up) from index 1, strictly increasing: the check observation_agent_nos_valid.';


--
-- Name: chain_digest(bytea, bytea); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.chain_digest(previous bytea, parts bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN sha256((COALESCE(previous, '\x'::bytea) || parts));


--
-- Name: FUNCTION chain_digest(previous bytea, parts bytea); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.chain_digest(previous bytea, parts bytea) IS 'Internal: a run digest: SHA-256 of the previous run''s digest (nothing for the first) and the run''s parts.';


--
-- Name: check_observed_agents(); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.check_observed_agents() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    tenant text;
    found  integer;
BEGIN
    IF TG_TABLE_NAME = 'agent_state' THEN
        -- An agent removed or renumbered while an observation names it.
        IF EXISTS (SELECT FROM defender_storage.tenants t
                     JOIN defender_storage.sync_run r ON r.tenant_no = t.tenant_no
                     JOIN defender_storage.observation o ON o.run_id = r.run_id
                    WHERE t.tenant_id = OLD.tenant_id AND r.resource = 'a'
                      AND OLD.agent_no = ANY (o.agent_nos)) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'update or delete on table "agent_state" violates constraint "observation_agents_exist"',
                DETAIL = pg_catalog.format('Agent %s of tenant %s is still named by observations.', OLD.agent_no, OLD.tenant_id),
                TABLE = 'agent_state', SCHEMA = 'defender_storage', CONSTRAINT = 'observation_agents_exist';
        END IF;
        RETURN NULL;
    END IF;
    -- A row of observation (of one of its partitions): every number names
    -- an agent of its run's tenant, locked against removal until the
    -- transaction ends, as a foreign key's check does.
    SELECT t.tenant_id INTO tenant
      FROM defender_storage.sync_run r JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
     WHERE r.run_id = NEW.run_id;
    SELECT count(*) INTO found FROM (
        SELECT FROM defender_storage.agent_state a
         WHERE a.tenant_id = tenant AND a.agent_no = ANY (NEW.agent_nos)
           FOR KEY SHARE OF a) k;
    IF found <> pg_catalog.cardinality(NEW.agent_nos) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'insert or update on table "observation" violates constraint "observation_agents_exist"',
            DETAIL = pg_catalog.format('%s of the agent numbers %s of run %s are not agents of tenant %s.',
                                       pg_catalog.cardinality(NEW.agent_nos) - found, NEW.agent_nos, NEW.run_id, tenant),
            TABLE = 'observation', SCHEMA = 'defender_storage', CONSTRAINT = 'observation_agents_exist';
    END IF;
    RETURN NULL;
END;
$$;


--
-- Name: FUNCTION check_observed_agents(); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.check_observed_agents() IS 'The constraint trigger observation_agents_exist: the agent numbers of an observation are agents of its run''s tenant (array elements, which no foreign key can reference).';


--
-- Name: compact_digest_parts(bytea); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.compact_digest_parts(parts bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (((((substr(parts, 1, 4) || substr(parts, 33, 4)) || substr(parts, 65, 4)) || substr(parts, 97, 4)) || substr(parts, 129, 4)) || substr(parts, 161, 96));


--
-- Name: FUNCTION compact_digest_parts(parts bytea); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.compact_digest_parts(parts bytea) IS 'Internal: what run_digest keeps of a run''s eight part digests (256 bytes): the first 4 bytes of each of the first five, the last three (observations, sessions, targets: retention may drop their rows) whole: 116 bytes (docs/audit.md).';


--
-- Name: cover_definitions(text, text[]); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.cover_definitions(tenant text, definitions text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
BEGIN
INSERT INTO defender_storage.definition_coverage AS c
       (tenant_id, definition_id, latest_scanned_at, latest_status, last_success_at, last_failure_at, last_partial_at,
        consecutive_failures)
SELECT tenant, x.definition_id, latest.scanned_at, latest.status, ok.scanned_at, bad.scanned_at, partial.scanned_at,
       (SELECT count(*)::integer FROM defender_storage.session_result s
         WHERE s.tenant_id = tenant AND s.definition_id = x.definition_id
           AND defender.scan_outcome(s.status) = 'failure'
           AND s.scanned_at > coalesce(greatest(ok.scanned_at, partial.scanned_at), '-infinity'))
  FROM (SELECT DISTINCT u.definition_id FROM pg_catalog.unnest(definitions) u(definition_id)) x
  JOIN LATERAL (SELECT s.scanned_at, s.status FROM defender_storage.session_result s
                 WHERE s.tenant_id = tenant AND s.definition_id = x.definition_id AND s.scanned_at IS NOT NULL
                 ORDER BY s.scanned_at DESC LIMIT 1) latest ON true
  LEFT JOIN LATERAL (SELECT s.scanned_at FROM defender_storage.session_result s
                      WHERE s.tenant_id = tenant AND s.definition_id = x.definition_id AND s.scanned_at IS NOT NULL
                        AND defender.scan_outcome(s.status) = 'success'
                      ORDER BY s.scanned_at DESC LIMIT 1) ok ON true
  LEFT JOIN LATERAL (SELECT s.scanned_at FROM defender_storage.session_result s
                      WHERE s.tenant_id = tenant AND s.definition_id = x.definition_id AND s.scanned_at IS NOT NULL
                        AND defender.scan_outcome(s.status) = 'failure'
                      ORDER BY s.scanned_at DESC LIMIT 1) bad ON true
  LEFT JOIN LATERAL (SELECT s.scanned_at FROM defender_storage.session_result s
                      WHERE s.tenant_id = tenant AND s.definition_id = x.definition_id AND s.scanned_at IS NOT NULL
                        AND defender.scan_outcome(s.status) = 'partial'
                      ORDER BY s.scanned_at DESC LIMIT 1) partial ON true
ON CONFLICT (tenant_id, definition_id) DO UPDATE
   SET latest_scanned_at = excluded.latest_scanned_at, latest_status = excluded.latest_status,
       last_success_at = excluded.last_success_at, last_failure_at = excluded.last_failure_at,
       last_partial_at = excluded.last_partial_at, consecutive_failures = excluded.consecutive_failures
 WHERE (c.latest_scanned_at, c.latest_status, c.last_success_at, c.last_failure_at, c.last_partial_at, c.consecutive_failures)
       IS DISTINCT FROM
       (excluded.latest_scanned_at, excluded.latest_status, excluded.last_success_at, excluded.last_failure_at,
        excluded.last_partial_at, excluded.consecutive_failures);
END;
$$;


--
-- Name: FUNCTION cover_definitions(tenant text, definitions text[]); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.cover_definitions(tenant text, definitions text[]) IS 'Internal: brings definition_coverage up to date for the given definitions of a tenant, from their sessions. The loader calls it in each run that writes sessions.';


--
-- Name: digest_field(text); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.digest_field(value text) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE WHEN (value IS NULL) THEN '\xffffffff'::bytea ELSE (int4send(octet_length(convert_to(value, 'UTF8'::name))) || convert_to(value, 'UTF8'::name)) END;


--
-- Name: FUNCTION digest_field(value text); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.digest_field(value text) IS 'Internal: one field of the canonical encoding of run digests: its UTF-8 bytes after their length (4 bytes, big-endian); NULL is the length -1 alone (docs/audit.md).';


--
-- Name: digest_time(timestamp with time zone); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.digest_time(at timestamp with time zone) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN (at IS NULL) THEN '\xffffffff'::bytea ELSE ('\x00000008'::bytea || timestamptz_send(at)) END;


--
-- Name: FUNCTION digest_time(at timestamp with time zone); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.digest_time(at timestamp with time zone) IS 'Internal: a time field of the canonical encoding of run digests: its length (8) and the microseconds since 2000-01-01 00:00:00 UTC, 8 bytes big-endian; NULL is the length -1 alone (docs/audit.md).';


--
-- Name: ensure_observation_partition(timestamp with time zone); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.ensure_observation_partition(at timestamp with time zone) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    month_start timestamp   := pg_catalog.date_trunc('month', at AT TIME ZONE 'UTC');
    lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
    upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    name        text        := 'observation_' || pg_catalog.to_char(month_start, 'YYYY_MM');
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
        'CREATE TABLE defender_storage.%I (LIKE defender_storage.observation INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE pg_catalog.format(
        'ALTER TABLE defender_storage.observation ATTACH PARTITION defender_storage.%I FOR VALUES FROM (%L) TO (%L)',
        name, lower_bound, upper_bound);
    EXECUTE pg_catalog.format(
        'COMMENT ON TABLE defender_storage.%I IS %L', name,
        'Observations of ' || pg_catalog.to_char(month_start, 'YYYY-MM') || ' (UTC): a partition of defender_storage.observation.');
    RETURN name;
END;
$$;


--
-- Name: FUNCTION ensure_observation_partition(at timestamp with time zone); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.ensure_observation_partition(at timestamp with time zone) IS 'Creates the monthly partition of observation that holds the given time, if missing, and returns its name. The loader calls it before each sync.';


--
-- Name: fleet_as_of(timestamp with time zone, name, text); Type: FUNCTION; Schema: defender_storage; Owner: -
--

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


--
-- Name: FUNCTION fleet_as_of(at timestamp with time zone, viewer name, tenant text); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.fleet_as_of(at timestamp with time zone, viewer name, tenant text) IS 'The descriptive columns of defender.scan_agents_as_of (without last_seen and last_command_execution_at), for the tenants the role viewer may see (of them, tenant alone when given): each side of scan_agents_diff, which calls it as the owner.';


--
-- Name: record_run_digest(bigint, boolean); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean DEFAULT false) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    r      record;
    stored bytea;
BEGIN
    -- The run, its tenant, the chain's previous link and the run's own
    -- part: its row of sync_runs.
    SELECT s.run_id, s.tenant_id, s.resource_code, s.fetched_at, s.wrote,
           previous.run_id AS previous_run_id, previous.digest AS previous_digest,
           -- 1. The run: its row of sync_runs.
           pg_catalog.sha256(
               defender_storage.digest_field(s.run_id::text) || defender_storage.digest_field(s.tenant_id)
               || defender_storage.digest_field(s.resource) || defender_storage.digest_field(s.status)
               || defender_storage.digest_time(s.fetched_at)
               || defender_storage.digest_time(s.previous_sync_at)
               || defender_storage.digest_field(s.agents_seen::text) || defender_storage.digest_field(s.agents_inserted::text)
               || defender_storage.digest_field(s.agents_changed::text) || defender_storage.digest_field(s.agents_heartbeat_only::text)
               || defender_storage.digest_field(s.agents_unchanged::text) || defender_storage.digest_field(s.agents_deleted::text)
               || defender_storage.digest_field(s.agents_rejected::text) || defender_storage.digest_field(s.deletions_withheld::text)
               || defender_storage.digest_field(s.records_seen::text) || defender_storage.digest_field(s.records_inserted::text)
               || defender_storage.digest_field(s.records_changed::text) || defender_storage.digest_field(s.records_unchanged::text)
               || defender_storage.digest_field(s.records_deleted::text) || defender_storage.digest_field(s.records_rejected::text)
               || defender_storage.digest_field(s.targets_inserted::text) || defender_storage.digest_field(s.fields_repaired::text)
               || defender_storage.digest_field(s.api_requests::text)) AS run_part
      INTO r
      FROM (SELECT rs.run_id, rs.tenant_no, rt.tenant_id, rs.resource AS resource_code, rs.fetched_at, rs.previous_sync_at,
                   coalesce(rs.records_inserted, 0) + coalesce(rs.records_changed, 0) + coalesce(rs.records_deleted, 0)
                   + coalesce(rs.deletions_withheld, 0) > 0 AS wrote,
                   CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
                   CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
                   CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_seen, 0) ELSE 0 END AS agents_seen,
                   CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_inserted, 0) ELSE 0 END AS agents_inserted,
                   CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_changed, 0) ELSE 0 END AS agents_changed,
                   coalesce(rs.heartbeat_only, 0) AS agents_heartbeat_only,
                   CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_unchanged, 0) ELSE 0 END AS agents_unchanged,
                   CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_deleted, 0) ELSE 0 END AS agents_deleted,
                   CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_rejected, 0) ELSE 0 END AS agents_rejected,
                   coalesce(rs.deletions_withheld, 0) AS deletions_withheld,
                   coalesce(rs.records_seen, 0) AS records_seen,
                   coalesce(rs.records_inserted, 0) AS records_inserted,
                   coalesce(rs.records_changed, 0) AS records_changed,
                   coalesce(rs.records_unchanged, 0) AS records_unchanged,
                   coalesce(rs.records_deleted, 0) AS records_deleted,
                   coalesce(rs.records_rejected, 0) AS records_rejected,
                   coalesce(rs.targets_inserted, 0) AS targets_inserted,
                   coalesce(rs.fields_repaired, 0) AS fields_repaired,
                   coalesce(rs.api_requests, 0) AS api_requests
              FROM defender_storage.sync_run rs
              JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
             WHERE rs.run_id = run AND rs.status = 's') s
      -- The chain's previous link: the latest earlier successful run of
      -- the tenant and resource that has a digest, read backwards through
      -- the runs by tenant until the first (a probe, however long the
      -- history). The digest's test is per row, so that no plan joins
      -- every earlier run; the run id's bound is a filter (+ 0), so that
      -- no plan reads every earlier run by its key and sorts them.
      LEFT JOIN LATERAL (
            SELECT q.run_id, (SELECT d.digest FROM defender_storage.run_digest d WHERE d.run_id = q.run_id) AS digest
              FROM defender_storage.sync_run q
             WHERE q.tenant_no = s.tenant_no AND q.resource = s.resource_code AND q.status = 's'
               AND q.fetched_at < s.fetched_at AND q.run_id + 0 < s.run_id
               AND (SELECT true FROM defender_storage.run_digest d WHERE d.run_id = q.run_id)
             ORDER BY q.fetched_at DESC
             LIMIT 1) previous ON true;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % is not a succeeded run: only successful runs have a digest', run;
    END IF;
    IF at_upgrade THEN
        -- Runs written by earlier releases: every writer of sessions, and
        -- the canonical computation of every part.
        PERFORM defender_storage.record_session_writes(run, true);
        INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
        SELECT run, r.previous_run_id, defender_storage.chain_digest(r.previous_digest, p.digest_parts),
               defender_storage.compact_digest_parts(p.digest_parts), true
          FROM defender_storage.run_digest_parts(ARRAY[run]) p
        RETURNING digest INTO stored;
        RETURN stored;
    END IF;
    -- Runs of scan definitions (their latest scans) and of history write
    -- sessions; runs of agents write none.
    IF r.resource_code IN ('d', 'h') THEN
        PERFORM defender_storage.record_session_writes(run, false);
    END IF;
    -- One statement per resource: run_digest_parts for one run of it,
    -- without the parts the resource cannot write (the digest of nothing,
    -- as the canonical computation finds them for such a run), and
    -- without the versions, deletions and withheld deletions for a run
    -- whose counts say it wrote none. The fence (OFFSET 0) computes the
    -- parts once for the digest and what is kept of them.
    IF r.resource_code = 'a' THEN
        IF NOT r.wrote THEN -- no version opened or closed, nothing deleted or withheld
            INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
            SELECT run, r.previous_run_id, defender_storage.chain_digest(r.previous_digest, p.parts),
                   defender_storage.compact_digest_parts(p.parts), false
              FROM (SELECT r.run_part
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                -- 6. Its observations: the row of its tenant at its fetch time, one
                -- entry per agent.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(
                               defender_storage.digest_field(a.agent_id)
                               || defender_storage.digest_time(x.last_seen)
                               || defender_storage.digest_time(x.last_command_execution_at),
                               ''::bytea ORDER BY a.agent_id COLLATE "C")
                      FROM defender_storage.observation o
                     CROSS JOIN LATERAL unnest(o.agent_nos, o.last_seen, o.last_command_execution_at)
                           x(agent_no, last_seen, last_command_execution_at)
                      LEFT JOIN defender_storage.agent_state a ON a.tenant_id = r.tenant_id AND a.agent_no = x.agent_no
                     WHERE o.run_id = run AND o.observed_at = r.fetched_at), ''::bytea))
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                AS parts
                    OFFSET 0) p
            RETURNING digest INTO stored;
        ELSE
            INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
            SELECT run, r.previous_run_id, defender_storage.chain_digest(r.previous_digest, p.parts),
                   defender_storage.compact_digest_parts(p.parts), false
              FROM (SELECT r.run_part
                -- 2. The versions it opened (what later runs write of them, valid_to
                -- and closed_by_run_id, is theirs).
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(o.e, ''::bytea ORDER BY o.k COLLATE "C") FROM (
                        SELECT h.agent_id AS k,
                               defender_storage.digest_field(h.tenant_id) || defender_storage.digest_field(h.agent_id)
                               || defender_storage.digest_field(h.machine_id) || defender_storage.digest_field(h.computer_dns_name)
                               || defender_storage.digest_field(h.assigned_application_id) || defender_storage.digest_field(h.scanner_software_version)
                               || defender_storage.digest_field(h.mde_client_version) || defender_storage.digest_field(h.extra::text)
                               || defender_storage.digest_time(h.valid_from) AS e
                          FROM defender.scan_agent_history h
                         WHERE h.opened_by_run_id = run) o), ''::bytea))
                -- 3. The versions it closed.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(c.e, ''::bytea ORDER BY c.k COLLATE "C") FROM (
                        SELECT h.agent_id AS k,
                               defender_storage.digest_field(h.tenant_id) || defender_storage.digest_field(h.agent_id)
                               || defender_storage.digest_time(h.valid_from)
                               || defender_storage.digest_time(h.valid_to) AS e
                          FROM defender.scan_agent_history h
                         WHERE h.closed_by_run_id = run) c), ''::bytea))
                -- 4. Its deletions: the records it marked deleted, and those whose
                -- version it closed without opening another (a deletion, as the
                -- history keeps it). Each is 'deleted' while it is marked deleted by
                -- this run at its fetch time, or has returned since (a later version
                -- opened, which clears the mark); else 'not deleted'.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(d.e, ''::bytea ORDER BY d.k COLLATE "C") FROM (
                        SELECT a.agent_id AS k,
                               defender_storage.digest_field(a.tenant_id) || defender_storage.digest_field(a.agent_id)
                               || defender_storage.digest_field(CASE
                                      WHEN a.deleted_by_run_id = run AND a.deleted_at = r.fetched_at THEN 'deleted'
                                      WHEN a.deleted_by_run_id IS DISTINCT FROM run
                                       AND EXISTS (SELECT FROM defender.scan_agent_history l
                                                    WHERE l.agent_key = a.agent_key AND l.valid_from > r.fetched_at) THEN 'deleted'
                                      ELSE 'not deleted' END) AS e
                          FROM (SELECT x.agent_key FROM defender_storage.agent_state x WHERE x.deleted_by_run_id = run
                                UNION
                                SELECT c.agent_key FROM defender.scan_agent_history c
                                 WHERE c.closed_by_run_id = run
                                   AND NOT EXISTS (SELECT FROM defender.scan_agent_history n
                                                    WHERE n.agent_key = c.agent_key AND n.opened_by_run_id = run)) k
                          JOIN defender_storage.agent_state a ON a.agent_key = k.agent_key) d), ''::bytea))
                -- 5. The deletions it withheld.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(w.e, ''::bytea ORDER BY w.k COLLATE "C") FROM (
                        SELECT a.agent_id AS k, defender_storage.digest_field(a.tenant_id) || defender_storage.digest_field(a.agent_id) AS e
                          FROM defender_storage.withheld_deletions x
                         CROSS JOIN LATERAL (SELECT a1.tenant_id, a1.agent_id FROM defender_storage.agent_state a1
                                              WHERE a1.agent_key = x.agent_key OFFSET 0) a
                         WHERE x.run_id = run) w), ''::bytea))
                -- 6. Its observations: the row of its tenant at its fetch time, one
                -- entry per agent.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(
                               defender_storage.digest_field(a.agent_id)
                               || defender_storage.digest_time(x.last_seen)
                               || defender_storage.digest_time(x.last_command_execution_at),
                               ''::bytea ORDER BY a.agent_id COLLATE "C")
                      FROM defender_storage.observation o
                     CROSS JOIN LATERAL unnest(o.agent_nos, o.last_seen, o.last_command_execution_at)
                           x(agent_no, last_seen, last_command_execution_at)
                      LEFT JOIN defender_storage.agent_state a ON a.tenant_id = r.tenant_id AND a.agent_no = x.agent_no
                     WHERE o.run_id = run AND o.observed_at = r.fetched_at), ''::bytea))
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                AS parts
                    OFFSET 0) p
            RETURNING digest INTO stored;
        END IF;
    ELSIF r.resource_code = 'd' THEN
        IF NOT r.wrote THEN -- no version opened or closed, nothing deleted or withheld
            INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
            SELECT run, r.previous_run_id, defender_storage.chain_digest(r.previous_digest, p.parts),
                   defender_storage.compact_digest_parts(p.parts), false
              FROM (SELECT r.run_part
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                -- 7. Its writes of sessions: the values it wrote, as record_session_writes
                -- kept them just now (the run is each one's latest writer: what the
                -- canonical computation reads from the session itself).
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(
                               defender_storage.digest_field(l.session_key)
                               || defender_storage.digest_field(CASE WHEN l.recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                               || defender_storage.digest_field(pg_catalog.encode(w.values_digest, 'hex')),
                               ''::bytea ORDER BY w.session_key)
                      FROM defender_storage.session_write w
                      -- Each session by its key (the fence keeps a plan made while the
                      -- sessions were few from reading them all).
                     CROSS JOIN LATERAL (SELECT s1.recorded_by_run_id, w.session_key::text AS session_key
                                           FROM defender_storage.session_result s1
                                          WHERE s1.session_key = w.session_key OFFSET 0) l
                     WHERE w.run_id = run), ''::bytea))
                || pg_catalog.sha256(''::bytea)
                AS parts
                    OFFSET 0) p
            RETURNING digest INTO stored;
        ELSE
            INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
            SELECT run, r.previous_run_id, defender_storage.chain_digest(r.previous_digest, p.parts),
                   defender_storage.compact_digest_parts(p.parts), false
              FROM (SELECT r.run_part
                -- 2. The versions it opened (what later runs write of them, valid_to
                -- and closed_by_run_id, is theirs).
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(o.e, ''::bytea ORDER BY o.k COLLATE "C") FROM (
                        SELECT s.definition_id AS k,
                               defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                               || defender_storage.digest_field(v.scan_name) || defender_storage.digest_field(v.scan_type)
                               || defender_storage.digest_field(v.is_active::text) || defender_storage.digest_field(v.interval_hours::text)
                               || defender_storage.digest_field(v.target) || defender_storage.digest_field(v.target_type)
                               || defender_storage.digest_field(v.scanner_agent_id) || defender_storage.digest_field(v.auth_variant)
                               || defender_storage.digest_field(v.auth_type) || defender_storage.digest_field(v.created_by)
                               || defender_storage.digest_field(v.extra::text)
                               || defender_storage.digest_time(v.valid_from) AS e
                          FROM defender_storage.definition_version v
                          JOIN defender_storage.definition_state s ON s.definition_key = v.definition_key
                         WHERE v.opened_by_run_id = run) o), ''::bytea))
                -- 3. The versions it closed.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(c.e, ''::bytea ORDER BY c.k COLLATE "C") FROM (
                        SELECT s.definition_id AS k,
                               defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                               || defender_storage.digest_time(v.valid_from)
                               || defender_storage.digest_time(v.valid_to) AS e
                          FROM defender_storage.definition_version v
                          JOIN defender_storage.definition_state s ON s.definition_key = v.definition_key
                         WHERE v.closed_by_run_id = run) c), ''::bytea))
                -- 4. Its deletions: the records it marked deleted, and those whose
                -- version it closed without opening another (a deletion, as the
                -- history keeps it). Each is 'deleted' while it is marked deleted by
                -- this run at its fetch time, or has returned since (a later version
                -- opened, which clears the mark); else 'not deleted'.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(d.e, ''::bytea ORDER BY d.k COLLATE "C") FROM (
                        SELECT s.definition_id AS k,
                               defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                               || defender_storage.digest_field(CASE
                                      WHEN s.deleted_by_run_id = run AND s.deleted_at = r.fetched_at THEN 'deleted'
                                      WHEN s.deleted_by_run_id IS DISTINCT FROM run
                                       AND EXISTS (SELECT FROM defender_storage.definition_version l
                                                    WHERE l.definition_key = s.definition_key AND l.valid_from > r.fetched_at) THEN 'deleted'
                                      ELSE 'not deleted' END) AS e
                          FROM (SELECT x.definition_key FROM defender_storage.definition_state x WHERE x.deleted_by_run_id = run
                                UNION
                                SELECT c.definition_key FROM defender_storage.definition_version c
                                 WHERE c.closed_by_run_id = run
                                   AND NOT EXISTS (SELECT FROM defender_storage.definition_version n
                                                    WHERE n.definition_key = c.definition_key AND n.opened_by_run_id = run)) k
                          JOIN defender_storage.definition_state s ON s.definition_key = k.definition_key) d), ''::bytea))
                -- 5. The deletions it withheld.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(w.e, ''::bytea ORDER BY w.k COLLATE "C") FROM (
                        SELECT s.definition_id AS k, defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id) AS e
                          FROM defender_storage.definition_withheld x
                         CROSS JOIN LATERAL (SELECT s1.tenant_id, s1.definition_id FROM defender_storage.definition_state s1
                                              WHERE s1.definition_key = x.definition_key OFFSET 0) s
                         WHERE x.run_id = run) w), ''::bytea))
                || pg_catalog.sha256(''::bytea)
                -- 7. Its writes of sessions: the values it wrote, as record_session_writes
                -- kept them just now (the run is each one's latest writer: what the
                -- canonical computation reads from the session itself).
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(
                               defender_storage.digest_field(l.session_key)
                               || defender_storage.digest_field(CASE WHEN l.recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                               || defender_storage.digest_field(pg_catalog.encode(w.values_digest, 'hex')),
                               ''::bytea ORDER BY w.session_key)
                      FROM defender_storage.session_write w
                      -- Each session by its key (the fence keeps a plan made while the
                      -- sessions were few from reading them all).
                     CROSS JOIN LATERAL (SELECT s1.recorded_by_run_id, w.session_key::text AS session_key
                                           FROM defender_storage.session_result s1
                                          WHERE s1.session_key = w.session_key OFFSET 0) l
                     WHERE w.run_id = run), ''::bytea))
                || pg_catalog.sha256(''::bytea)
                AS parts
                    OFFSET 0) p
            RETURNING digest INTO stored;
        END IF;
    ELSIF r.resource_code = 'h' THEN
        INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
        SELECT run, r.previous_run_id, defender_storage.chain_digest(r.previous_digest, p.parts),
               defender_storage.compact_digest_parts(p.parts), false
          FROM (SELECT r.run_part
            || pg_catalog.sha256(''::bytea)
            || pg_catalog.sha256(''::bytea)
            || pg_catalog.sha256(''::bytea)
            || pg_catalog.sha256(''::bytea)
            || pg_catalog.sha256(''::bytea)
            -- 7. Its writes of sessions: the values it wrote, as record_session_writes
            -- kept them just now (the run is each one's latest writer: what the
            -- canonical computation reads from the session itself).
            || pg_catalog.sha256(coalesce((
                SELECT pg_catalog.string_agg(
                           defender_storage.digest_field(l.session_key)
                           || defender_storage.digest_field(CASE WHEN l.recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                           || defender_storage.digest_field(pg_catalog.encode(w.values_digest, 'hex')),
                           ''::bytea ORDER BY w.session_key)
                  FROM defender_storage.session_write w
                  -- Each session by its key (the fence keeps a plan made while the
                  -- sessions were few from reading them all).
                 CROSS JOIN LATERAL (SELECT s1.recorded_by_run_id, w.session_key::text AS session_key
                                       FROM defender_storage.session_result s1
                                      WHERE s1.session_key = w.session_key OFFSET 0) l
                 WHERE w.run_id = run), ''::bytea))
            -- 8. The targets of the sessions whose targets it stored.
            || pg_catalog.sha256(coalesce((
                SELECT pg_catalog.string_agg(
                           defender_storage.digest_field(t.key_text) || defender_storage.digest_field(t.ordinal_text)
                           || defender_storage.digest_field(t.ip) || defender_storage.digest_field(t.hostname)
                           || defender_storage.digest_field(t.description) || defender_storage.digest_field(t.status)
                           || defender_storage.digest_field(t.error_message)
                           || defender_storage.digest_field(t.duration_text)
                           || defender_storage.digest_field(t.extra_text),
                           ''::bytea ORDER BY t.session_key, t.ordinal)
                  FROM defender_storage.session_result s
                  -- Each session's targets by its key (the fence keeps the
                  -- generic plan from hashing every target of every tenant), their
                  -- values as text computed once (digest_field names its value
                  -- three times).
                 CROSS JOIN LATERAL (SELECT t1.session_key, t1.ordinal, t1.session_key::text AS key_text, t1.ordinal::text AS ordinal_text,
                                            t1.ip, t1.hostname, t1.description, t1.status, t1.error_message,
                                            (EXTRACT(epoch FROM t1.duration) * 1000000)::bigint::text AS duration_text,
                                            t1.extra::text AS extra_text
                                       FROM defender_storage.target_result t1
                                      WHERE t1.session_key = s.session_key OFFSET 0) t
                 WHERE s.targets_run_id = run), ''::bytea))
                        AS parts
                OFFSET 0) p
        RETURNING digest INTO stored;
    ELSE
        RAISE EXCEPTION 'run % is of no known resource (%)', run, r.resource_code;
    END IF;
    RETURN stored;
END;
$$;


--
-- Name: FUNCTION record_run_digest(run bigint, at_upgrade boolean); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean) IS 'Internal: stores the digest of a succeeded run (and the sessions it wrote), chained with the previous successful run of its tenant and resource; the loader calls it in the run''s transaction, after recording its success.';


--
-- Name: record_session_writes(bigint, boolean); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.record_session_writes(run bigint, every_writer boolean) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- The sessions the run wrote, as it left them. At the upgrade
    -- (every_writer) every earlier writer is known, not the values it
    -- wrote: they are taken as they are now. Two probes, each by its index (as one condition with OR, a plan
    -- made while the sessions were few reads them all): the sessions it
    -- recorded, and those it updated that the first did not take.
    INSERT INTO defender_storage.session_write (run_id, session_key, values_digest)
    SELECT run, s.session_key, defender_storage.session_digest(s)
      FROM defender_storage.session_result s
     WHERE s.recorded_by_run_id = run AND (every_writer OR s.updated_by_run_id IS NULL)
    UNION ALL
    SELECT run, s.session_key, defender_storage.session_digest(s)
      FROM defender_storage.session_result s
     WHERE s.updated_by_run_id = run AND (s.recorded_by_run_id IS DISTINCT FROM run OR NOT every_writer);
END;
$$;


--
-- Name: FUNCTION record_session_writes(run bigint, every_writer boolean); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.record_session_writes(run bigint, every_writer boolean) IS 'Internal: records the sessions a run wrote (session_write) with the digest of their values as it left them; record_run_digest calls it for the runs that write sessions.';


--
-- Name: refresh_fleet_daily(text, date); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
BEGIN
    -- The day's counts: the agents active at its last successful sync
    -- (a closed day: its rows of agent_daily; the open day: the agents
    -- as stored now).
    WITH fleet AS (
              SELECT d.mde_client_version,
                 d.last_seen,
                 td_1.synced_at
                FROM (defender_storage.tenant_daily td_1
                  JOIN defender_storage.agent_daily d ON (((d.day = td_1.day) AND (d.run_id = td_1.run_id))))
               WHERE ((td_1.tenant_id = refresh_fleet_daily.tenant) AND (td_1.day = refresh_fleet_daily.day) AND (refresh_fleet_daily.day <> ( SELECT defender.utc_day(t.last_fetched_at) AS utc_day
                        FROM defender_storage.tenants t
                       WHERE (t.tenant_id = refresh_fleet_daily.tenant))))
             UNION ALL
              SELECT o.mde_client_version,
                 o.last_seen,
                 o.synced_at
                FROM defender.agent_daily_open o
               WHERE ((o.tenant_id = refresh_fleet_daily.tenant) AND (o.day = refresh_fleet_daily.day))
             ), versions AS (
              SELECT v.mde_client_version,
                 v.agents,
                 v.stale,
                 v.never_seen,
                 defender.version_key(v.mde_client_version) AS key
                FROM ( SELECT f.mde_client_version,
                         count(*) AS agents,
                         count(*) FILTER (WHERE (f.last_seen <= (f.synced_at - '7 days'::interval))) AS stale,
                         count(*) FILTER (WHERE (f.last_seen IS NULL)) AS never_seen
                        FROM fleet f
                       GROUP BY f.mde_client_version) v
             ), newest AS (
              SELECT v.key,
                 v.mde_client_version AS version
                FROM versions v
               WHERE (v.key IS NOT NULL)
               ORDER BY v.key DESC, (length(v.mde_client_version)) DESC, v.mde_client_version
              LIMIT 1
             )
      UPDATE defender_storage.tenant_daily AS td SET active_agents = COALESCE(s.active, (0)::numeric), stale_7d_agents = COALESCE(s.stale, (0)::numeric), never_seen_agents = COALESCE(s.never_seen, (0)::numeric), newest_mde_client_version = ( SELECT newest.version
                FROM newest), agents_on_newest = COALESCE(s.on_newest, (0)::numeric), mde_client_versions = s.counts
        FROM ( SELECT sum(v.agents) AS active,
                 sum(v.stale) AS stale,
                 sum(v.never_seen) AS never_seen,
                 sum(v.agents) FILTER (WHERE (v.key = ( SELECT newest.key
                        FROM newest))) AS on_newest,
                 COALESCE(jsonb_object_agg(v.mde_client_version, v.agents) FILTER (WHERE (v.mde_client_version IS NOT NULL)), '{}'::jsonb) AS counts
                FROM versions v) s
       WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day));
    -- The same counts one row per version, for reading without JSON
    -- (defender.fleet_daily_versions): versions gone from the day are
    -- removed, counts written only when they changed.
    DELETE FROM defender_storage.tenant_daily_version AS v
       WHERE ((v.tenant_id = refresh_fleet_daily.tenant) AND (v.day = refresh_fleet_daily.day) AND (NOT ( SELECT (td.mde_client_versions ? v.mde_client_version)
                FROM defender_storage.tenant_daily td
               WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day)))));
    INSERT INTO defender_storage.tenant_daily_version AS v (tenant_id, day, mde_client_version, agents)  SELECT td.tenant_id,
                 td.day,
                 e.key,
                 (e.value)::integer AS value
                FROM (defender_storage.tenant_daily td
                  CROSS JOIN LATERAL jsonb_each_text(td.mde_client_versions) e(key, value))
               WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day)) ON CONFLICT(tenant_id, day, mde_client_version) DO UPDATE SET agents = excluded.agents
       WHERE (v.agents <> excluded.agents);
END;
$$;


--
-- Name: FUNCTION refresh_fleet_daily(tenant text, day date); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) IS 'Internal: recomputes the agent counts of a tenant''s day in tenant_daily from the agents active at the day''s last successful sync. The loader calls it in every sync''s transaction.';


--
-- Name: refresh_run_target_status(text, bigint); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.refresh_run_target_status(tenant text, run bigint) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
DECLARE
    sessions bigint[];
    touched text[];
BEGIN
    -- The sessions the run rewrote or stored the targets of (a session it
    -- recorded without its targets is named by no coverage), each set by
    -- its own index.
    sessions := ARRAY(SELECT s.session_key FROM defender_storage.session_result s WHERE s.updated_by_run_id = run
                      UNION ALL
                      SELECT s.session_key FROM defender_storage.session_result s WHERE s.targets_run_id = run);
    IF cardinality(sessions) = 0 THEN
        RETURN;
    END IF;
    -- The targets whose coverage names one of them as its latest scan or
    -- its last success: one pass over the tenant's coverage, whatever the
    -- number of sessions (a first reading writes hundreds; a search of
    -- the coverage's indexes for each would cost more than the pass).
    touched := ARRAY(
        SELECT DISTINCT c.target FROM defender_storage.target_coverage c
         WHERE c.tenant_id = tenant
           AND (c.latest_session_key = ANY (sessions) OR coalesce(c.last_success_session_key, 0) = ANY (sessions)));
    IF cardinality(touched) > 0 THEN
        PERFORM defender_storage.refresh_target_status(tenant, touched);
    END IF;
END;
$$;


--
-- Name: FUNCTION refresh_run_target_status(tenant text, run bigint); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.refresh_run_target_status(tenant text, run bigint) IS 'Internal: brings target_status up to date for the targets whose coverage names a session the run rewrote or stored the targets of (refresh_target_status). The loader calls it in each history sync that wrote sessions or stored targets.';


--
-- Name: refresh_target_status(text); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.refresh_target_status(tenant text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM defender_storage.refresh_target_status(tenant, NULL::text[]);
END;
$$;


--
-- Name: FUNCTION refresh_target_status(tenant text); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.refresh_target_status(tenant text) IS 'Internal: brings target_status up to date for every target of a tenant (target_status_of), writing only the rows that differ. The loader calls it in each definitions sync that changed a definition.';


--
-- Name: refresh_target_status(text, text[]); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.refresh_target_status(tenant text, targets text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
BEGIN
    INSERT INTO defender_storage.target_status AS ts
           (tenant_id, target, latest_session_key, latest_ordinal, ip, hostname, description, latest_status,
            latest_error_message, latest_scanned_at, latest_definition_id, latest_session_id, last_success_at,
            covering_definitions, as_of_run_id)
    SELECT n.tenant_id, n.target, n.latest_session_key, n.latest_ordinal, n.ip, n.hostname, n.description,
           n.latest_status, n.latest_error_message, n.latest_scanned_at, n.latest_definition_id, n.latest_session_id,
           n.last_success_at, n.covering_definitions, n.as_of_run_id
      FROM defender_storage.target_status_of(refresh_target_status.tenant, refresh_target_status.targets) n
    ON CONFLICT (tenant_id, target) DO UPDATE
       SET latest_session_key = excluded.latest_session_key, latest_ordinal = excluded.latest_ordinal,
           ip = excluded.ip, hostname = excluded.hostname, description = excluded.description,
           latest_status = excluded.latest_status, latest_error_message = excluded.latest_error_message,
           latest_scanned_at = excluded.latest_scanned_at, latest_definition_id = excluded.latest_definition_id,
           latest_session_id = excluded.latest_session_id, last_success_at = excluded.last_success_at,
           covering_definitions = excluded.covering_definitions, as_of_run_id = excluded.as_of_run_id
     WHERE (ts.latest_session_key, ts.latest_ordinal, ts.ip, ts.hostname, ts.description, ts.latest_status,
            ts.latest_error_message, ts.latest_scanned_at, ts.latest_definition_id, ts.latest_session_id,
            ts.last_success_at, ts.covering_definitions, ts.as_of_run_id)
           IS DISTINCT FROM
           (excluded.latest_session_key, excluded.latest_ordinal, excluded.ip, excluded.hostname, excluded.description,
            excluded.latest_status, excluded.latest_error_message, excluded.latest_scanned_at,
            excluded.latest_definition_id, excluded.latest_session_id, excluded.last_success_at,
            excluded.covering_definitions, excluded.as_of_run_id);
END;
$$;


--
-- Name: FUNCTION refresh_target_status(tenant text, targets text[]); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.refresh_target_status(tenant text, targets text[]) IS 'Internal: brings target_status up to date for the named targets of a tenant (every target when targets is null; target_status_of), writing only the rows that differ.';


--
-- Name: run_digest_parts(bigint[]); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.run_digest_parts(runs bigint[]) RETURNS TABLE(digested_run_id bigint, digest_parts bytea)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
BEGIN
RETURN QUERY SELECT r.run_id,
    -- 1. The run: its row of sync_runs.
    pg_catalog.sha256(
        defender_storage.digest_field(r.run_id::text) || defender_storage.digest_field(r.tenant_id)
        || defender_storage.digest_field(r.resource) || defender_storage.digest_field(r.status)
        || defender_storage.digest_time(r.fetched_at)
        || defender_storage.digest_time(r.previous_sync_at)
        || defender_storage.digest_field(r.agents_seen::text) || defender_storage.digest_field(r.agents_inserted::text)
        || defender_storage.digest_field(r.agents_changed::text) || defender_storage.digest_field(r.agents_heartbeat_only::text)
        || defender_storage.digest_field(r.agents_unchanged::text) || defender_storage.digest_field(r.agents_deleted::text)
        || defender_storage.digest_field(r.agents_rejected::text) || defender_storage.digest_field(r.deletions_withheld::text)
        || defender_storage.digest_field(r.records_seen::text) || defender_storage.digest_field(r.records_inserted::text)
        || defender_storage.digest_field(r.records_changed::text) || defender_storage.digest_field(r.records_unchanged::text)
        || defender_storage.digest_field(r.records_deleted::text) || defender_storage.digest_field(r.records_rejected::text)
        || defender_storage.digest_field(r.targets_inserted::text) || defender_storage.digest_field(r.fields_repaired::text)
        || defender_storage.digest_field(r.api_requests::text))
    -- 2. The versions it opened (what later runs write of them, valid_to
    -- and closed_by_run_id, is theirs).
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(o.e, ''::bytea ORDER BY o.k COLLATE "C") FROM (
            SELECT h.agent_id AS k,
                   defender_storage.digest_field(h.tenant_id) || defender_storage.digest_field(h.agent_id)
                   || defender_storage.digest_field(h.machine_id) || defender_storage.digest_field(h.computer_dns_name)
                   || defender_storage.digest_field(h.assigned_application_id) || defender_storage.digest_field(h.scanner_software_version)
                   || defender_storage.digest_field(h.mde_client_version) || defender_storage.digest_field(h.extra::text)
                   || defender_storage.digest_time(h.valid_from) AS e
              FROM defender.scan_agent_history h
             WHERE h.opened_by_run_id = r.run_id
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_field(v.scan_name) || defender_storage.digest_field(v.scan_type)
                   || defender_storage.digest_field(v.is_active::text) || defender_storage.digest_field(v.interval_hours::text)
                   || defender_storage.digest_field(v.target) || defender_storage.digest_field(v.target_type)
                   || defender_storage.digest_field(v.scanner_agent_id) || defender_storage.digest_field(v.auth_variant)
                   || defender_storage.digest_field(v.auth_type) || defender_storage.digest_field(v.created_by)
                   || defender_storage.digest_field(v.extra::text)
                   || defender_storage.digest_time(v.valid_from)
              FROM defender_storage.definition_version v
              JOIN defender_storage.definition_state s ON s.definition_key = v.definition_key
             WHERE v.opened_by_run_id = r.run_id) o), ''::bytea))
    -- 3. The versions it closed.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(c.e, ''::bytea ORDER BY c.k COLLATE "C") FROM (
            SELECT h.agent_id AS k,
                   defender_storage.digest_field(h.tenant_id) || defender_storage.digest_field(h.agent_id)
                   || defender_storage.digest_time(h.valid_from)
                   || defender_storage.digest_time(h.valid_to) AS e
              FROM defender.scan_agent_history h
             WHERE h.closed_by_run_id = r.run_id
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_time(v.valid_from)
                   || defender_storage.digest_time(v.valid_to)
              FROM defender_storage.definition_version v
              JOIN defender_storage.definition_state s ON s.definition_key = v.definition_key
             WHERE v.closed_by_run_id = r.run_id) c), ''::bytea))
    -- 4. Its deletions: the records it marked deleted, and those whose
    -- version it closed without opening another (a deletion, as the
    -- history keeps it). Each is 'deleted' while it is marked deleted by
    -- this run at its fetch time, or has returned since (a later version
    -- opened, which clears the mark); else 'not deleted'.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(d.e, ''::bytea ORDER BY d.k COLLATE "C") FROM (
            SELECT a.agent_id AS k,
                   defender_storage.digest_field(a.tenant_id) || defender_storage.digest_field(a.agent_id)
                   || defender_storage.digest_field(CASE
                          WHEN a.deleted_by_run_id = r.run_id AND a.deleted_at = r.fetched_at THEN 'deleted'
                          WHEN a.deleted_by_run_id IS DISTINCT FROM r.run_id
                           AND EXISTS (SELECT FROM defender.scan_agent_history l
                                        WHERE l.agent_key = a.agent_key AND l.valid_from > r.fetched_at) THEN 'deleted'
                          ELSE 'not deleted' END) AS e
              FROM (SELECT x.agent_key FROM defender_storage.agent_state x WHERE x.deleted_by_run_id = r.run_id
                    UNION
                    SELECT c.agent_key FROM defender.scan_agent_history c
                     WHERE c.closed_by_run_id = r.run_id
                       AND NOT EXISTS (SELECT FROM defender.scan_agent_history n
                                        WHERE n.agent_key = c.agent_key AND n.opened_by_run_id = r.run_id)) k
              JOIN defender_storage.agent_state a ON a.agent_key = k.agent_key
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_field(CASE
                          WHEN s.deleted_by_run_id = r.run_id AND s.deleted_at = r.fetched_at THEN 'deleted'
                          WHEN s.deleted_by_run_id IS DISTINCT FROM r.run_id
                           AND EXISTS (SELECT FROM defender_storage.definition_version l
                                        WHERE l.definition_key = s.definition_key AND l.valid_from > r.fetched_at) THEN 'deleted'
                          ELSE 'not deleted' END)
              FROM (SELECT x.definition_key FROM defender_storage.definition_state x WHERE x.deleted_by_run_id = r.run_id
                    UNION
                    SELECT c.definition_key FROM defender_storage.definition_version c
                     WHERE c.closed_by_run_id = r.run_id
                       AND NOT EXISTS (SELECT FROM defender_storage.definition_version n
                                        WHERE n.definition_key = c.definition_key AND n.opened_by_run_id = r.run_id)) k
              JOIN defender_storage.definition_state s ON s.definition_key = k.definition_key) d), ''::bytea))
    -- 5. The deletions it withheld.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(w.e, ''::bytea ORDER BY w.k COLLATE "C") FROM (
            SELECT a.agent_id AS k, defender_storage.digest_field(a.tenant_id) || defender_storage.digest_field(a.agent_id) AS e
              FROM defender_storage.withheld_deletions x
              JOIN defender_storage.agent_state a ON a.agent_key = x.agent_key
             WHERE x.run_id = r.run_id
            UNION ALL
            SELECT s.definition_id, defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
              FROM defender_storage.definition_withheld x
              JOIN defender_storage.definition_state s ON s.definition_key = x.definition_key
             WHERE x.run_id = r.run_id) w), ''::bytea))
    -- 6. Its observations: the row of its tenant at its fetch time, one
    -- entry per agent.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(a.agent_id)
                   || defender_storage.digest_time(x.last_seen)
                   || defender_storage.digest_time(x.last_command_execution_at),
                   ''::bytea ORDER BY a.agent_id COLLATE "C")
          FROM defender_storage.observation o
         CROSS JOIN LATERAL unnest(o.agent_nos, o.last_seen, o.last_command_execution_at)
               x(agent_no, last_seen, last_command_execution_at)
          LEFT JOIN defender_storage.agent_state a ON a.tenant_id = r.tenant_id AND a.agent_no = x.agent_no
         WHERE o.run_id = r.run_id AND o.observed_at = r.fetched_at), ''::bytea))
    -- 7. Its writes of sessions: the values it wrote, from the session
    -- while it is the latest writer, else as kept when it wrote them.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(w.session_key::text)
                   || defender_storage.digest_field(CASE WHEN s.recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                   || defender_storage.digest_field(pg_catalog.encode(
                          CASE WHEN coalesce(s.updated_by_run_id, s.recorded_by_run_id) = w.run_id
                               THEN defender_storage.session_digest(s) ELSE w.values_digest END, 'hex')),
                   ''::bytea ORDER BY w.session_key)
          FROM defender_storage.session_write w
          JOIN defender_storage.session_result s ON s.session_key = w.session_key
         WHERE w.run_id = r.run_id), ''::bytea))
    -- 8. The targets of the sessions whose targets it stored.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(t.session_key::text) || defender_storage.digest_field(t.ordinal::text)
                   || defender_storage.digest_field(t.ip) || defender_storage.digest_field(t.hostname)
                   || defender_storage.digest_field(t.description) || defender_storage.digest_field(t.status)
                   || defender_storage.digest_field(t.error_message)
                   || defender_storage.digest_field((EXTRACT(epoch FROM t.duration) * 1000000)::bigint::text)
                   || defender_storage.digest_field(t.extra::text),
                   ''::bytea ORDER BY t.session_key, t.ordinal)
          FROM defender_storage.session_result s
          -- Each session's targets by its key (the fence keeps the
          -- generic plan from hashing every target of every tenant).
         CROSS JOIN LATERAL (SELECT t1.* FROM defender_storage.target_result t1
                              WHERE t1.session_key = s.session_key OFFSET 0) t
         WHERE s.targets_run_id = r.run_id), ''::bytea))
  -- The runs as defender.sync_runs shows them, read from their storage.
  FROM (SELECT rs.run_id, rt.tenant_id, rs.fetched_at, rs.previous_sync_at,
               CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
               CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
               CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_seen, 0) ELSE 0 END AS agents_seen,
               CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_inserted, 0) ELSE 0 END AS agents_inserted,
               CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_changed, 0) ELSE 0 END AS agents_changed,
               coalesce(rs.heartbeat_only, 0) AS agents_heartbeat_only,
               CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_unchanged, 0) ELSE 0 END AS agents_unchanged,
               CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_deleted, 0) ELSE 0 END AS agents_deleted,
               CASE WHEN rs.resource = 'a' THEN coalesce(rs.records_rejected, 0) ELSE 0 END AS agents_rejected,
               coalesce(rs.deletions_withheld, 0) AS deletions_withheld,
               coalesce(rs.records_seen, 0) AS records_seen,
               coalesce(rs.records_inserted, 0) AS records_inserted,
               coalesce(rs.records_changed, 0) AS records_changed,
               coalesce(rs.records_unchanged, 0) AS records_unchanged,
               coalesce(rs.records_deleted, 0) AS records_deleted,
               coalesce(rs.records_rejected, 0) AS records_rejected,
               coalesce(rs.targets_inserted, 0) AS targets_inserted,
               coalesce(rs.fields_repaired, 0) AS fields_repaired,
               coalesce(rs.api_requests, 0) AS api_requests
          FROM defender_storage.sync_run rs
          JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
         WHERE rs.run_id = ANY (runs)) r;
END;
$$;


--
-- Name: FUNCTION run_digest_parts(runs bigint[]); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.run_digest_parts(runs bigint[]) IS 'Internal: per run of runs, the SHA-256 of each of its eight parts, concatenated (256 bytes), computed from the rows as stored: the canonical computation of run digests (docs/audit.md).';


--
-- Name: run_resource_code(text); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.run_resource_code(resource text) RETURNS "char"
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE resource WHEN 'agents'::text THEN 'a'::text WHEN 'definitions'::text THEN 'd'::text WHEN 'history'::text THEN 'h'::text ELSE '?'::text END;


--
-- Name: FUNCTION run_resource_code(resource text); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.run_resource_code(resource text) IS 'Internal: the sync_run code of a resource; ? for any other name, which sync_run_resource refuses.';


--
-- Name: run_resource_name("char"); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.run_resource_name(code "char") RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE code WHEN 'a'::"char" THEN 'agents'::text WHEN 'd'::"char" THEN 'definitions'::text WHEN 'h'::"char" THEN 'history'::text ELSE NULL::text END;


--
-- Name: FUNCTION run_resource_name(code "char"); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.run_resource_name(code "char") IS 'Internal: the resource a sync_run code stands for (agents, definitions, history).';


--
-- Name: run_status_name("char"); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.run_status_name(code "char") RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE code WHEN 'r'::"char" THEN 'running'::text WHEN 's'::"char" THEN 'succeeded'::text WHEN 'f'::"char" THEN 'failed'::text ELSE NULL::text END;


--
-- Name: FUNCTION run_status_name(code "char"); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.run_status_name(code "char") IS 'Internal: the status a sync_run code stands for (running, succeeded, failed).';


--
-- Name: sees_every_tenant(name); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.sees_every_tenant(viewer name) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- Running as its owner, CURRENT_USER is the owner of schema defender
    -- (the migrating user, who made both).
    RETURN pg_catalog.pg_has_role(viewer, CURRENT_USER, 'USAGE')
       OR coalesce(pg_catalog.pg_has_role(viewer, pg_catalog.to_regrole('defender_reader'), 'USAGE'), false);
END;
$$;


--
-- Name: FUNCTION sees_every_tenant(viewer name); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.sees_every_tenant(viewer name) IS 'Runs for readers: whether the role viewer sees every tenant (the owner of schema defender and the roles that use its privileges, superusers, members of defender_reader). visible_tenants asks it first; defender_storage.caller_tenants asks it with CURRENT_USER.';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: session_result; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.session_result (
    session_key bigint NOT NULL,
    tenant_id text NOT NULL,
    definition_id text NOT NULL,
    session_id text,
    scanner_id text,
    scanner_agent_id text,
    status text,
    scanned_at timestamp with time zone,
    targets integer,
    succeeded_targets integer,
    general_error text,
    extra jsonb DEFAULT '{}'::jsonb NOT NULL,
    source text NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    recorded_by_run_id bigint NOT NULL,
    updated_at timestamp with time zone,
    updated_by_run_id bigint,
    targets_run_id bigint,
    listed_fingerprint bytea,
    CONSTRAINT session_result_definition_id_check CHECK ((definition_id <> ''::text)),
    CONSTRAINT session_result_extra_check CHECK ((jsonb_typeof(extra) = 'object'::text)),
    CONSTRAINT session_result_known CHECK (((session_id IS NOT NULL) OR (scanned_at IS NOT NULL))),
    CONSTRAINT session_result_session_id_check CHECK ((session_id <> ''::text)),
    CONSTRAINT session_result_source_check CHECK ((source = ANY (ARRAY['history'::text, 'latest_scan'::text]))),
    CONSTRAINT session_result_succeeded_targets_check CHECK ((succeeded_targets >= 0)),
    CONSTRAINT session_result_targets_check CHECK ((targets >= 0)),
    CONSTRAINT session_result_updated_by_run CHECK (((updated_at IS NULL) = (updated_by_run_id IS NULL)))
);


--
-- Name: TABLE session_result; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.session_result IS 'Storage behind scan_sessions: one row per scan session, a fact recorded once. Query defender.scan_sessions instead.';


--
-- Name: COLUMN session_result.session_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.session_key IS 'Internal number of the session, used by its targets.';


--
-- Name: COLUMN session_result.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN session_result.definition_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.definition_id IS 'The scan definition that ran.';


--
-- Name: COLUMN session_result.session_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.session_id IS 'Defender id of the session; empty when the API named none.';


--
-- Name: COLUMN session_result.scanner_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.scanner_id IS 'The scanner the history named (ScannerId), as sent.';


--
-- Name: COLUMN session_result.scanner_agent_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.scanner_agent_id IS 'The scan agent that ran the session (scan_agents.agent_id).';


--
-- Name: COLUMN session_result.status; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.status IS 'Outcome as sent (Success, Fail, Partial Success...).';


--
-- Name: COLUMN session_result.scanned_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.scanned_at IS 'When the session ran (UTC).';


--
-- Name: COLUMN session_result.targets; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.targets IS 'Number of targets of the session.';


--
-- Name: COLUMN session_result.succeeded_targets; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.succeeded_targets IS 'Number of them scanned successfully.';


--
-- Name: COLUMN session_result.general_error; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.general_error IS 'The session''s error message, when it has one.';


--
-- Name: COLUMN session_result.extra; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.extra IS 'Fields the API sent that have no column, names as sent.';


--
-- Name: COLUMN session_result.source; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.source IS 'Where the values come from: history (the scan history) or latest_scan (a definition''s latestScan, the history naming no such session).';


--
-- Name: COLUMN session_result.recorded_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.recorded_at IS 'Fetch time of the sync that recorded the session.';


--
-- Name: COLUMN session_result.recorded_by_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.recorded_by_run_id IS 'The sync run that recorded it.';


--
-- Name: COLUMN session_result.updated_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.updated_at IS 'Fetch time of the sync that last completed or corrected its values; empty if never.';


--
-- Name: COLUMN session_result.updated_by_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.updated_by_run_id IS 'That sync run.';


--
-- Name: COLUMN session_result.targets_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.targets_run_id IS 'The history run that stored the session''s targets; empty until then.';


--
-- Name: COLUMN session_result.listed_fingerprint; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_result.listed_fingerprint IS 'Hash of the session as the history by definition listed it when it was last written: a history sync leaves a session listed the same way, whose targets are stored, out of its comparison. Empty until a sync stores one.';


--
-- Name: session_digest(defender_storage.session_result); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.session_digest(s defender_storage.session_result) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN sha256(((((((((((((((((defender_storage.digest_field(((s).session_key)::text) || defender_storage.digest_field((s).tenant_id)) || defender_storage.digest_field((s).definition_id)) || defender_storage.digest_field((s).session_id)) || defender_storage.digest_field((s).scanner_id)) || defender_storage.digest_field((s).scanner_agent_id)) || defender_storage.digest_field((s).status)) || defender_storage.digest_time((s).scanned_at)) || defender_storage.digest_field(((s).targets)::text)) || defender_storage.digest_field(((s).succeeded_targets)::text)) || defender_storage.digest_field((s).general_error)) || defender_storage.digest_field(((s).extra)::text)) || defender_storage.digest_field((s).source)) || defender_storage.digest_time((s).recorded_at)) || defender_storage.digest_field(((s).recorded_by_run_id)::text)) || defender_storage.digest_time((s).updated_at)) || defender_storage.digest_field(((s).updated_by_run_id)::text)));


--
-- Name: FUNCTION session_digest(s defender_storage.session_result); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.session_digest(s defender_storage.session_result) IS 'Internal: SHA-256 of the values of a stored session as a run wrote them (docs/audit.md).';


--
-- Name: start_run(text, text, timestamp with time zone, text, text, text, double precision, text, text); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.start_run(tenant text, resource text, started timestamp with time zone, worker text, display_name text, holder text, lease_seconds double precision, abandoned_error text, temp_buffers text, OUT new_run_id bigint, OUT abandoned_runs integer) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
BEGIN
    abandoned_runs := 0;
    -- The transaction this call runs in commits without waiting for its
    -- WAL to reach the disk: a run's start lost in a server crash is
    -- harmless (load/bookkeeping.go says why).
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    -- The session's temp_buffers, raised for the sync's work tables
    -- (PostgreSQL lets a session raise it only before its first temporary
    -- table).
    PERFORM pg_catalog.set_config('temp_buffers', start_run.temp_buffers, false)
      WHERE pg_catalog.pg_my_temp_schema() = 0
        AND pg_catalog.pg_size_bytes(pg_catalog.current_setting('temp_buffers'))
            < pg_catalog.pg_size_bytes(start_run.temp_buffers);
    -- The lease, renewed; when it is no longer the holder's, nothing is
    -- recorded and new_run_id is null.
    UPDATE defender_storage.tenant_leases l
       SET expires_at = pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => start_run.lease_seconds)
     WHERE l.tenant_id = start_run.tenant AND l.holder = start_run.holder;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Under the lease, no live sync of the resource is running: a run
    -- still marked running was left by a process that stopped.
    UPDATE defender_storage.sync_run r
       SET status = 'f', finished_at = greatest(start_run.started, r.started_at), error = start_run.abandoned_error
      FROM defender_storage.tenants t
     WHERE t.tenant_id = start_run.tenant AND r.tenant_no = t.tenant_no
       AND r.resource = defender_storage.run_resource_code(start_run.resource) AND r.status = 'r';
    GET DIAGNOSTICS abandoned_runs = ROW_COUNT;
    -- The tenant's row (created, or given its new display name) and the
    -- worker's, then the run.
    WITH tenant_row AS (
        INSERT INTO defender_storage.tenants AS t (tenant_id, display_name)
        VALUES (start_run.tenant, nullif(start_run.display_name, ''))
        ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name
         WHERE excluded.display_name IS NOT NULL AND excluded.display_name IS DISTINCT FROM t.display_name
        RETURNING t.tenant_no
    ), worker_row AS (
        INSERT INTO defender_storage.sync_worker AS w (worker) SELECT start_run.worker WHERE start_run.worker IS NOT NULL
        ON CONFLICT (worker) DO NOTHING
        RETURNING w.worker_no
    )
    INSERT INTO defender_storage.sync_run AS r (tenant_no, resource, started_at, worker_no)
    SELECT coalesce((SELECT x.tenant_no FROM tenant_row x),
                    (SELECT t.tenant_no FROM defender_storage.tenants t WHERE t.tenant_id = start_run.tenant)),
           defender_storage.run_resource_code(start_run.resource), start_run.started,
           coalesce((SELECT x.worker_no FROM worker_row x),
                    (SELECT w.worker_no FROM defender_storage.sync_worker w WHERE w.worker = start_run.worker))
    RETURNING r.run_id INTO new_run_id;
END;
$$;


--
-- Name: FUNCTION start_run(tenant text, resource text, started timestamp with time zone, worker text, display_name text, holder text, lease_seconds double precision, abandoned_error text, temp_buffers text, OUT new_run_id bigint, OUT abandoned_runs integer); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.start_run(tenant text, resource text, started timestamp with time zone, worker text, display_name text, holder text, lease_seconds double precision, abandoned_error text, temp_buffers text, OUT new_run_id bigint, OUT abandoned_runs integer) IS 'Internal: records a sync''s run as running, in the transaction of the call, committed without waiting for the WAL flush: renews the tenant''s lease held by holder (new_run_id is null when it is no longer the holder''s), marks failed the runs of the tenant''s resource left running by a process that stopped (abandoned_runs), and records the tenant, the worker and the run. Raises the session''s temp_buffers first.';


--
-- Name: take_tenant_lease(text, text, double precision, text, double precision, double precision); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.take_tenant_lease(tenant text, holder text, lease_seconds double precision, display_name text, grace_seconds double precision, busy_seconds double precision, OUT taken boolean, OUT lease_holder text, OUT lease_expires_at timestamp with time zone, OUT busy boolean) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
BEGIN
    -- The tenant's row first (the lease refers to it; an existing one is
    -- left as it is), then the lease when it is free or expired; busy
    -- when a run of the tenant is marked running, or the holder took the
    -- lease or ended a run within the grace.
    WITH tenant AS (
        INSERT INTO defender_storage.tenants (tenant_id, display_name) VALUES (take_tenant_lease.tenant, nullif(take_tenant_lease.display_name, ''))
        ON CONFLICT (tenant_id) DO NOTHING
    ), taken AS (
        INSERT INTO defender_storage.tenant_leases AS t (tenant_id, holder, taken_at, expires_at)
        VALUES (take_tenant_lease.tenant, take_tenant_lease.holder, pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => take_tenant_lease.lease_seconds))
        ON CONFLICT (tenant_id) DO UPDATE
           SET holder = excluded.holder, taken_at = excluded.taken_at, expires_at = excluded.expires_at
         WHERE t.expires_at < pg_catalog.clock_timestamp()
        RETURNING t.holder
    ), held AS (
        SELECT holder, taken_at, expires_at FROM defender_storage.tenant_leases WHERE tenant_id = take_tenant_lease.tenant
    )
    SELECT EXISTS (SELECT FROM taken),
           (SELECT holder FROM held),
           (SELECT expires_at FROM held),
           EXISTS (SELECT FROM held WHERE taken_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => take_tenant_lease.grace_seconds))
           -- A run ended within the grace: a success (fetched after it
           -- started: found by fetch time) or a failure; or one running.
           OR EXISTS (SELECT FROM defender_storage.sync_run r
                        JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
                       WHERE t.tenant_id = take_tenant_lease.tenant AND r.resource IN ('a', 'd', 'h') AND r.status = 's'
                         AND r.fetched_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => take_tenant_lease.busy_seconds)
                         AND r.started_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => take_tenant_lease.busy_seconds)
                         AND r.finished_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => take_tenant_lease.grace_seconds))
           OR EXISTS (SELECT FROM defender_storage.sync_run r
                        JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
                       WHERE t.tenant_id = take_tenant_lease.tenant AND r.resource IN ('a', 'd', 'h') AND r.status = 'f'
                         AND r.started_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => take_tenant_lease.busy_seconds)
                         AND r.finished_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => take_tenant_lease.grace_seconds))
           OR EXISTS (SELECT FROM defender_storage.sync_run r
                        JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
                       WHERE t.tenant_id = take_tenant_lease.tenant AND r.resource IN ('a', 'd', 'h') AND r.status = 'r')
      INTO taken, lease_holder, lease_expires_at, busy;
END;
$$;


--
-- Name: FUNCTION take_tenant_lease(tenant text, holder text, lease_seconds double precision, display_name text, grace_seconds double precision, busy_seconds double precision, OUT taken boolean, OUT lease_holder text, OUT lease_expires_at timestamp with time zone, OUT busy boolean); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.take_tenant_lease(tenant text, holder text, lease_seconds double precision, display_name text, grace_seconds double precision, busy_seconds double precision, OUT taken boolean, OUT lease_holder text, OUT lease_expires_at timestamp with time zone, OUT busy boolean) IS 'Internal: takes a tenant''s lease for holder when it is free or expired, after the tenant''s row; returns whether it was taken, the holder and expiry stored, and whether the tenant is busy (a run marked running, or the lease taken or a run ended within grace_seconds; busy_seconds bounds the runs read). The loader''s lease (load/lease.go).';


--
-- Name: target_fingerprint(text, text, text); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.target_fingerprint(ip text, hostname text, description text) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN sha256((replace(((COALESCE((((length(ip))::text || ':'::text) || ip), '-'::text) || COALESCE((((length(hostname))::text || ':'::text) || hostname), '-'::text)) || COALESCE((((length(description))::text || ':'::text) || description), '-'::text)), '\'::text, '\\'::text))::bytea);


--
-- Name: FUNCTION target_fingerprint(ip text, hostname text, description text); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.target_fingerprint(ip text, hostname text, description text) IS 'Internal: what identifies a scanned target within its tenant (scan_target.fingerprint): SHA-256 of its address, host name and description, each after its length, NULL distinct from empty.';


--
-- Name: definition_state; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.definition_state (
    definition_key bigint NOT NULL,
    tenant_id text NOT NULL,
    definition_id text NOT NULL,
    scan_name text,
    scan_type text,
    is_active boolean,
    interval_hours integer,
    target text,
    target_type text,
    scanner_agent_id text,
    auth_variant text,
    auth_type text,
    created_by text,
    extra jsonb DEFAULT '{}'::jsonb NOT NULL,
    first_seen_at timestamp with time zone NOT NULL,
    first_seen_run_id bigint NOT NULL,
    deleted_at timestamp with time zone,
    deleted_by_run_id bigint,
    CONSTRAINT definition_state_definition_id_check CHECK ((definition_id <> ''::text)),
    CONSTRAINT definition_state_deleted_by_run CHECK (((deleted_at IS NULL) = (deleted_by_run_id IS NULL))),
    CONSTRAINT definition_state_extra_check CHECK ((jsonb_typeof(extra) = 'object'::text))
);


--
-- Name: TABLE definition_state; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.definition_state IS 'Storage behind defender.scan_definitions: the current values of every scan definition ever seen. Query defender.scan_definitions instead.';


--
-- Name: COLUMN definition_state.definition_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.definition_key IS 'Internal number of the definition, used by its versions.';


--
-- Name: COLUMN definition_state.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';


--
-- Name: COLUMN definition_state.definition_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.definition_id IS 'Defender id of the scan definition.';


--
-- Name: COLUMN definition_state.scan_name; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.scan_name IS 'Display name of the scan.';


--
-- Name: COLUMN definition_state.scan_type; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.scan_type IS 'Kind of scan: Network, Windows (retired), Linux, AdvancedActive, as sent.';


--
-- Name: COLUMN definition_state.is_active; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.is_active IS 'Whether the scan is switched on; empty when not sent.';


--
-- Name: COLUMN definition_state.interval_hours; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.interval_hours IS 'Hours between runs; empty when not sent.';


--
-- Name: COLUMN definition_state.target; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.target IS 'What the scan covers: IP addresses, ranges or host names, comma-separated, as sent.';


--
-- Name: COLUMN definition_state.target_type; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.target_type IS 'How to read target: Ip, Hostname or Combined.';


--
-- Name: COLUMN definition_state.scanner_agent_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.scanner_agent_id IS 'The scan agent that runs the scan (scan_agents.agent_id).';


--
-- Name: COLUMN definition_state.auth_variant; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.auth_variant IS 'Kind of credentials the scan uses (SnmpAuthParams, WindowsAuthParams, LinuxAuthParams). The credentials themselves are never stored.';


--
-- Name: COLUMN definition_state.auth_type; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.auth_type IS 'Authentication type within the variant (CommunityString, AuthPriv, Kerberos, PrivateKey...).';


--
-- Name: COLUMN definition_state.created_by; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.created_by IS 'Identity that created the definition.';


--
-- Name: COLUMN definition_state.extra; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (never a credential).';


--
-- Name: COLUMN definition_state.first_seen_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.first_seen_at IS 'Fetch time of the first definitions sync that returned it.';


--
-- Name: COLUMN definition_state.first_seen_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.first_seen_run_id IS 'The sync run that first returned it.';


--
-- Name: COLUMN definition_state.deleted_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.deleted_at IS 'Fetch time of the sync that marked it deleted; empty while listed.';


--
-- Name: COLUMN definition_state.deleted_by_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_state.deleted_by_run_id IS 'The sync run that marked it deleted.';


--
-- Name: scan_target; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.scan_target (
    target_no integer NOT NULL,
    tenant_no integer NOT NULL,
    ip text,
    hostname text,
    description text,
    fingerprint bytea GENERATED ALWAYS AS (defender_storage.target_fingerprint(ip, hostname, description)) STORED NOT NULL
);


--
-- Name: TABLE scan_target; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.scan_target IS 'Storage behind scan_targets: each target a tenant''s scans reported, once (its address, host name and description as sent); session_target names it for every session that scanned it. Query defender.scan_targets instead.';


--
-- Name: COLUMN scan_target.target_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_target.target_no IS 'Internal number of the target, which session_target names.';


--
-- Name: COLUMN scan_target.tenant_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_target.tenant_no IS 'The tenant whose scans reported it (tenants.tenant_no).';


--
-- Name: COLUMN scan_target.ip; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_target.ip IS 'IP address of the target.';


--
-- Name: COLUMN scan_target.hostname; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_target.hostname IS 'Host name of the target.';


--
-- Name: COLUMN scan_target.description; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_target.description IS 'Description of the scanned device.';


--
-- Name: COLUMN scan_target.fingerprint; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_target.fingerprint IS 'What makes the target one within its tenant (target_fingerprint of the three fields), generated.';


--
-- Name: session_target; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.session_target (
    session_key bigint NOT NULL,
    ordinal integer NOT NULL,
    target_no integer NOT NULL,
    status text,
    error_message text,
    duration interval,
    extra jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT session_target_extra_check CHECK ((jsonb_typeof(extra) = 'object'::text)),
    CONSTRAINT session_target_ordinal_check CHECK ((ordinal >= 0))
);


--
-- Name: TABLE session_target; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.session_target IS 'Storage behind scan_targets: one row per target of a session, in the order the API listed them, naming the target (scan_target) and what its scan found. Query defender.scan_targets instead.';


--
-- Name: COLUMN session_target.session_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_target.session_key IS 'Internal number of the session (see session_result).';


--
-- Name: COLUMN session_target.ordinal; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_target.ordinal IS 'Position of the target in the session''s list, from 0.';


--
-- Name: COLUMN session_target.target_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_target.target_no IS 'The target (scan_target): its address, host name and description.';


--
-- Name: COLUMN session_target.status; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_target.status IS 'Outcome for the target as sent (Success, Failure, PartialSuccess).';


--
-- Name: COLUMN session_target.error_message; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_target.error_message IS 'Why the target failed; empty on success.';


--
-- Name: COLUMN session_target.duration; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_target.duration IS 'How long the target''s scan took.';


--
-- Name: COLUMN session_target.extra; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_target.extra IS 'Fields the API sent that have no column, names as sent.';


--
-- Name: target_coverage; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.target_coverage (
    tenant_id text NOT NULL,
    target text NOT NULL,
    definition_id text NOT NULL,
    latest_session_key bigint NOT NULL,
    latest_ordinal integer NOT NULL,
    latest_scanned_at timestamp with time zone,
    last_success_at timestamp with time zone,
    last_success_session_key bigint,
    CONSTRAINT target_coverage_target_check CHECK ((target <> ''::text))
);


--
-- Name: TABLE target_coverage; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.target_coverage IS 'Storage behind scan_target_status: per target and definition, its latest and last successful scan, kept by each history sync. Query defender.scan_target_status instead.';


--
-- Name: COLUMN target_coverage.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_coverage.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN target_coverage.target; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_coverage.target IS 'The target: its IP address, else its host name in lower case.';


--
-- Name: COLUMN target_coverage.definition_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_coverage.definition_id IS 'A definition that scanned it.';


--
-- Name: COLUMN target_coverage.latest_session_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_coverage.latest_session_key IS 'The latest session of that definition that scanned it (see session_result).';


--
-- Name: COLUMN target_coverage.latest_ordinal; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_coverage.latest_ordinal IS 'The target''s position in that session (see target_result).';


--
-- Name: COLUMN target_coverage.latest_scanned_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_coverage.latest_scanned_at IS 'When that session ran.';


--
-- Name: COLUMN target_coverage.last_success_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_coverage.last_success_at IS 'When the latest session of that definition that scanned it successfully ran; empty if none did.';


--
-- Name: COLUMN target_coverage.last_success_session_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_coverage.last_success_session_key IS 'That session.';


--
-- Name: target_result; Type: VIEW; Schema: defender_storage; Owner: -
--

CREATE VIEW defender_storage.target_result AS
 SELECT t.session_key,
    t.ordinal,
    g.ip,
    g.hostname,
    g.description,
    t.status,
    t.error_message,
    t.duration,
    t.extra
   FROM (defender_storage.session_target t
     CROSS JOIN LATERAL ( SELECT g1.ip,
            g1.hostname,
            g1.description
           FROM defender_storage.scan_target g1
          WHERE (g1.target_no = t.target_no)
         OFFSET 0) g);


--
-- Name: VIEW target_result; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON VIEW defender_storage.target_result IS 'Internal: one row per target of a session, in the order the API listed them, with the target''s address, host name and description (session_target with scan_target). Query defender.scan_targets instead.';


--
-- Name: target_status_of(text, text[]); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.target_status_of(tenant text, targets text[]) RETURNS TABLE(tenant_id text, target text, latest_session_key bigint, latest_ordinal integer, ip text, hostname text, description text, latest_status text, latest_error_message text, latest_scanned_at timestamp with time zone, latest_definition_id text, latest_session_id text, last_success_at timestamp with time zone, covering_definitions text[], as_of_run_id bigint)
    LANGUAGE sql STABLE
    BEGIN ATOMIC
 WITH coverage AS (
          SELECT c.tenant_id,
             c.target,
             c.definition_id,
             c.latest_session_key,
             c.latest_ordinal,
             c.latest_scanned_at,
             c.last_success_at
            FROM defender_storage.target_coverage c
           WHERE ((c.tenant_id = target_status_of.tenant) AND (target_status_of.targets IS NULL))
         UNION ALL
          SELECT c.tenant_id,
             c.target,
             c.definition_id,
             c.latest_session_key,
             c.latest_ordinal,
             c.latest_scanned_at,
             c.last_success_at
            FROM (( SELECT DISTINCT u_1.name
                    FROM unnest(target_status_of.targets) u_1(name)) u
              CROSS JOIN LATERAL ( SELECT c1.tenant_id,
                     c1.target,
                     c1.definition_id,
                     c1.latest_session_key,
                     c1.latest_ordinal,
                     c1.latest_scanned_at,
                     c1.last_success_at
                    FROM defender_storage.target_coverage c1
                   WHERE ((c1.tenant_id = target_status_of.tenant) AND (c1.target = u.name))
                  OFFSET 0) c)
         ), per_target AS (
          SELECT c.tenant_id,
             c.target,
             max(c.last_success_at) AS last_success_at,
             array_agg(c.definition_id ORDER BY c.definition_id) FILTER (WHERE ((d.deleted_at IS NULL) AND d.is_active)) AS covering_definitions,
             (array_agg(ARRAY[c.latest_session_key, (c.latest_ordinal)::bigint] ORDER BY c.latest_scanned_at DESC NULLS LAST, c.latest_session_key DESC))[1:1] AS latest
            FROM (coverage c
              LEFT JOIN LATERAL ( SELECT d1.deleted_at,
                     d1.is_active
                    FROM defender_storage.definition_state d1
                   WHERE ((d1.tenant_id = c.tenant_id) AND (d1.definition_id = c.definition_id))
                  OFFSET 0) d ON (true))
           GROUP BY c.tenant_id, c.target
         )
  SELECT p.tenant_id,
     p.target,
     t.session_key,
     t.ordinal,
     t.ip,
     t.hostname,
     t.description,
     t.status,
     t.error_message,
     s.scanned_at,
     s.definition_id,
     s.session_id,
     p.last_success_at,
     COALESCE(p.covering_definitions, '{}'::text[]) AS "coalesce",
     s.targets_run_id
    FROM ((per_target p
      CROSS JOIN LATERAL ( SELECT s1.scanned_at,
             s1.definition_id,
             s1.session_id,
             s1.targets_run_id
            FROM defender_storage.session_result s1
           WHERE (s1.session_key = p.latest[1][1])
          OFFSET 0) s)
      CROSS JOIN LATERAL ( SELECT t1.session_key,
             t1.ordinal,
             t1.ip,
             t1.hostname,
             t1.description,
             t1.status,
             t1.error_message
            FROM defender_storage.target_result t1
           WHERE ((t1.session_key = p.latest[1][1]) AND (t1.ordinal = p.latest[1][2]))
          OFFSET 0) t);
END;


--
-- Name: FUNCTION target_status_of(tenant text, targets text[]); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.target_status_of(tenant text, targets text[]) IS 'Internal: what scan_target_status shows of the named targets of a tenant (every target when targets is null), computed from target_coverage, the definitions and the latest targets: the definition of target_status, which refresh_target_status stores.';


--
-- Name: target_status_of(text); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.target_status_of(tenant text) RETURNS TABLE(tenant_id text, target text, latest_session_key bigint, latest_ordinal integer, ip text, hostname text, description text, latest_status text, latest_error_message text, latest_scanned_at timestamp with time zone, latest_definition_id text, latest_session_id text, last_success_at timestamp with time zone, covering_definitions text[], as_of_run_id bigint)
    LANGUAGE sql STABLE
    BEGIN ATOMIC
 SELECT n.tenant_id,
     n.target,
     n.latest_session_key,
     n.latest_ordinal,
     n.ip,
     n.hostname,
     n.description,
     n.latest_status,
     n.latest_error_message,
     n.latest_scanned_at,
     n.latest_definition_id,
     n.latest_session_id,
     n.last_success_at,
     n.covering_definitions,
     n.as_of_run_id
    FROM defender_storage.target_status_of(target_status_of.tenant, NULL::text[]) n(tenant_id, target, latest_session_key, latest_ordinal, ip, hostname, description, latest_status, latest_error_message, latest_scanned_at, latest_definition_id, latest_session_id, last_success_at, covering_definitions, as_of_run_id);
END;


--
-- Name: FUNCTION target_status_of(tenant text); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.target_status_of(tenant text) IS 'Internal: what scan_target_status shows of a tenant, computed from target_coverage, the definitions and the latest targets: the definition of target_status, which refresh_target_status stores.';


--
-- Name: visible_tenants(name); Type: FUNCTION; Schema: defender_storage; Owner: -
--

CREATE FUNCTION defender_storage.visible_tenants(viewer name) RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- The functions that take a viewer and the policy of
    -- scan_agent_history call it; the views read caller_tenants, the same
    -- tests in their own plan.
    IF defender_storage.sees_every_tenant(viewer) THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT a.tenant_id
                   FROM defender_storage.live_tenant_access a
                  WHERE pg_catalog.pg_has_role(viewer, a.role_oid, 'USAGE'));
END;
$$;


--
-- Name: FUNCTION visible_tenants(viewer name); Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON FUNCTION defender_storage.visible_tenants(viewer name) IS 'Runs for readers: the tenants the role viewer may see in the reporting surface: NULL for every tenant (the owner of schema defender and the roles that use its privileges, superusers, members of defender_reader), else the tenants granted to the roles whose privileges viewer uses (tenant_access), maybe none. The views and row-level security policies call it with CURRENT_USER.';


--
-- Name: goose_db_version; Type: TABLE; Schema: agentsync; Owner: -
--

CREATE TABLE agentsync.goose_db_version (
    id integer NOT NULL,
    version_id bigint NOT NULL,
    is_applied boolean NOT NULL,
    tstamp timestamp without time zone DEFAULT now() NOT NULL
);


--
-- Name: goose_db_version_id_seq; Type: SEQUENCE; Schema: agentsync; Owner: -
--

ALTER TABLE agentsync.goose_db_version ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME agentsync.goose_db_version_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: goose_lock; Type: TABLE; Schema: agentsync; Owner: -
--

CREATE TABLE agentsync.goose_lock (
    lock_id bigint NOT NULL,
    locked boolean DEFAULT false NOT NULL,
    locked_at timestamp with time zone,
    locked_by text,
    lease_expires_at timestamp with time zone,
    updated_at timestamp with time zone
);


--
-- Name: agent_daily; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.agent_daily (
    agent_key bigint NOT NULL,
    day date NOT NULL,
    run_id bigint NOT NULL,
    synced_at timestamp with time zone NOT NULL,
    computer_dns_name text,
    mde_client_version text,
    scanner_software_version text,
    last_seen timestamp with time zone,
    last_command_execution_at timestamp with time zone,
    syncs_observed integer NOT NULL,
    CONSTRAINT agent_daily_synced_that_day CHECK ((defender.utc_day(synced_at) = day)),
    CONSTRAINT agent_daily_syncs_observed_check CHECK ((syncs_observed >= 0))
);


--
-- Name: TABLE agent_daily; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.agent_daily IS 'Storage behind scan_agent_daily: one row per agent per closed UTC day on which it was active at a successful sync.';


--
-- Name: COLUMN agent_daily.agent_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.agent_key IS 'Internal number of the agent (see defender.agent_state).';


--
-- Name: COLUMN agent_daily.day; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.day IS 'The UTC day.';


--
-- Name: COLUMN agent_daily.run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.run_id IS 'The day''s last successful sync at which the agent was active.';


--
-- Name: COLUMN agent_daily.synced_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.synced_at IS 'Fetch time of that sync.';


--
-- Name: COLUMN agent_daily.computer_dns_name; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.computer_dns_name IS 'Host name as of that sync.';


--
-- Name: COLUMN agent_daily.mde_client_version; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.mde_client_version IS 'Defender client version as of that sync.';


--
-- Name: COLUMN agent_daily.scanner_software_version; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.scanner_software_version IS 'Scanner version as of that sync.';


--
-- Name: COLUMN agent_daily.last_seen; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.last_seen IS 'last_seen as of that sync.';


--
-- Name: COLUMN agent_daily.last_command_execution_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.last_command_execution_at IS 'last_command_execution_at as of that sync.';


--
-- Name: COLUMN agent_daily.syncs_observed; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_daily.syncs_observed IS 'Successful syncs of the day that returned the agent.';


--
-- Name: agent_heartbeat; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.agent_heartbeat (
    agent_key bigint NOT NULL,
    last_seen timestamp with time zone,
    last_command_execution_at timestamp with time zone
)
WITH (fillfactor='50');


--
-- Name: TABLE agent_heartbeat; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.agent_heartbeat IS 'Storage behind scan_agents: the volatile timestamps of each agent as its latest sync saw them, one narrow row per agent updated in place (half of each page is left free for that). No row: neither was ever reported.';


--
-- Name: COLUMN agent_heartbeat.agent_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_heartbeat.agent_key IS 'The agent (agent_state.agent_key).';


--
-- Name: COLUMN agent_heartbeat.last_seen; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_heartbeat.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';


--
-- Name: COLUMN agent_heartbeat.last_command_execution_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_heartbeat.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';


--
-- Name: agent_state; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.agent_state (
    agent_key bigint NOT NULL,
    tenant_id text NOT NULL,
    agent_id text NOT NULL,
    machine_id text,
    computer_dns_name text,
    assigned_application_id text,
    scanner_software_version text,
    mde_client_version text,
    extra jsonb DEFAULT '{}'::jsonb NOT NULL,
    first_seen_at timestamp with time zone NOT NULL,
    first_seen_run_id bigint NOT NULL,
    deleted_at timestamp with time zone,
    deleted_by_run_id bigint,
    active_since timestamp with time zone NOT NULL,
    fingerprint bytea,
    agent_no integer NOT NULL,
    CONSTRAINT agent_state_agent_id_check CHECK ((agent_id <> ''::text)),
    CONSTRAINT agent_state_agent_no_check CHECK ((agent_no > 0)),
    CONSTRAINT agent_state_deleted_by_run CHECK (((deleted_at IS NULL) = (deleted_by_run_id IS NULL))),
    CONSTRAINT agent_state_extra_check CHECK ((jsonb_typeof(extra) = 'object'::text)),
    CONSTRAINT agent_state_tenant_id_check CHECK ((tenant_id <> ''::text))
)
WITH (fillfactor='100');


--
-- Name: TABLE agent_state; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.agent_state IS 'Storage behind defender.scan_agents: the current descriptive values of every agent ever seen (heartbeats are in heartbeat_block). Query defender.scan_agents instead.';


--
-- Name: COLUMN agent_state.agent_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.agent_key IS 'Internal number of the agent, used by the history and observation tables.';


--
-- Name: COLUMN agent_state.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';


--
-- Name: COLUMN agent_state.agent_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.agent_id IS 'Defender id of the scan agent (<guid>_<hash>).';


--
-- Name: COLUMN agent_state.machine_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.machine_id IS 'Defender device id of the machine running the scanner.';


--
-- Name: COLUMN agent_state.computer_dns_name; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.computer_dns_name IS 'Host name of the machine running the scanner.';


--
-- Name: COLUMN agent_state.assigned_application_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.assigned_application_id IS 'Microsoft Entra application (client) id the scanner runs as.';


--
-- Name: COLUMN agent_state.scanner_software_version; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.scanner_software_version IS 'Version of the scanner software, as reported.';


--
-- Name: COLUMN agent_state.mde_client_version; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.mde_client_version IS 'Version of the Microsoft Defender for Endpoint client on the machine, as reported.';


--
-- Name: COLUMN agent_state.extra; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent.';


--
-- Name: COLUMN agent_state.first_seen_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.first_seen_at IS 'Fetch time of the first sync that returned the agent.';


--
-- Name: COLUMN agent_state.first_seen_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.first_seen_run_id IS 'The sync run that first returned the agent.';


--
-- Name: COLUMN agent_state.deleted_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.deleted_at IS 'Fetch time of the sync that marked the agent deleted; empty while active.';


--
-- Name: COLUMN agent_state.deleted_by_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.deleted_by_run_id IS 'The sync run that marked the agent deleted.';


--
-- Name: COLUMN agent_state.active_since; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.active_since IS 'Fetch time of the sync that began the agent''s current stretch of activity: the one that first returned it, or that returned it after a deletion.';


--
-- Name: COLUMN agent_state.fingerprint; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.fingerprint IS 'Internal: hash of the descriptive values of the agent''s latest record, kept by the loader to skip unchanged records; empty when not known yet.';


--
-- Name: COLUMN agent_state.agent_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.agent_state.agent_no IS 'Number of the agent within its tenant (1, 2, ...), in the order agents were first seen: how observations name it.';


--
-- Name: tenant_access; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.tenant_access (
    role_oid oid NOT NULL,
    role_name text NOT NULL,
    tenant_id text NOT NULL,
    granted_at timestamp with time zone DEFAULT now() NOT NULL,
    granted_by text DEFAULT CURRENT_USER NOT NULL
);


--
-- Name: TABLE tenant_access; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.tenant_access IS 'Which role sees which tenant in the reporting surface (defender.grant_tenant_access and revoke_tenant_access write it). A role with rows here and no other way to see everything reads only the rows of its tenants.';


--
-- Name: COLUMN tenant_access.role_oid; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_access.role_oid IS 'The role (pg_roles.oid). A row counts only while a role of this oid has the name role_name: a role dropped and another created later with the same oid gains nothing.';


--
-- Name: COLUMN tenant_access.role_name; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_access.role_name IS 'The role''s name when access was granted; renaming a role takes its access away (grant it again).';


--
-- Name: COLUMN tenant_access.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_access.tenant_id IS 'The tenant the role may see.';


--
-- Name: COLUMN tenant_access.granted_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_access.granted_at IS 'When access was granted.';


--
-- Name: COLUMN tenant_access.granted_by; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_access.granted_by IS 'Who granted it.';


--
-- Name: live_tenant_access; Type: VIEW; Schema: defender_storage; Owner: -
--

CREATE VIEW defender_storage.live_tenant_access AS
 SELECT a.role_oid,
    a.tenant_id
   FROM defender_storage.tenant_access a
  WHERE (pg_get_userbyid(a.role_oid) = a.role_name);


--
-- Name: VIEW live_tenant_access; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON VIEW defender_storage.live_tenant_access IS 'The grants of tenant_access that count: a row counts while its role has the name it was granted to, so that a role dropped, and another later given its oid, gains nothing. visible_tenants and caller_tenants read it.';


--
-- Name: caller_tenants; Type: VIEW; Schema: defender_storage; Owner: -
--

CREATE VIEW defender_storage.caller_tenants AS
 SELECT
        CASE
            WHEN defender_storage.sees_every_tenant(CURRENT_USER) THEN NULL::text[]
            ELSE ARRAY( SELECT a.tenant_id
               FROM defender_storage.live_tenant_access a
              WHERE pg_has_role(CURRENT_USER, a.role_oid, 'USAGE'::text))
        END AS tenants;


--
-- Name: VIEW caller_tenants; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON VIEW defender_storage.caller_tenants IS 'One row: the tenants the current user may see in the reporting surface, as defender_storage.visible_tenants(CURRENT_USER) answers (NULL for every tenant), read by the plan of the query that asks. Each view of schema defender reads it once (its common table expression visible); only they read it, as their owner.';


--
-- Name: sync_run; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.sync_run (
    run_id bigint NOT NULL,
    started_at timestamp with time zone NOT NULL,
    fetched_at timestamp with time zone,
    finished_at timestamp with time zone,
    previous_sync_at timestamp with time zone,
    tenant_no integer NOT NULL,
    worker_no integer,
    records_seen integer,
    records_inserted integer,
    records_changed integer,
    records_unchanged integer,
    records_deleted integer,
    records_rejected integer,
    heartbeat_only integer,
    deletions_withheld integer,
    targets_inserted integer,
    fields_repaired integer,
    api_requests integer,
    resource "char" NOT NULL,
    status "char" DEFAULT 'r'::"char" NOT NULL,
    error text DEFAULT ''::text NOT NULL,
    CONSTRAINT sync_run_api_requests_check CHECK ((api_requests >= 0)),
    CONSTRAINT sync_run_deletions_withheld_check CHECK ((deletions_withheld >= 0)),
    CONSTRAINT sync_run_failed_has_error CHECK (((status <> 'f'::"char") OR (error <> ''::text))),
    CONSTRAINT sync_run_fields_repaired_check CHECK ((fields_repaired >= 0)),
    CONSTRAINT sync_run_finished_iff_done CHECK (((status = 'r'::"char") = (finished_at IS NULL))),
    CONSTRAINT sync_run_heartbeat_only_check CHECK ((heartbeat_only >= 0)),
    CONSTRAINT sync_run_heartbeat_only_of_agents CHECK (((resource = 'a'::"char") OR (heartbeat_only IS NULL) OR (heartbeat_only = 0))),
    CONSTRAINT sync_run_previous_before_fetch CHECK ((previous_sync_at < fetched_at)),
    CONSTRAINT sync_run_records_changed_check CHECK ((records_changed >= 0)),
    CONSTRAINT sync_run_records_deleted_check CHECK ((records_deleted >= 0)),
    CONSTRAINT sync_run_records_inserted_check CHECK ((records_inserted >= 0)),
    CONSTRAINT sync_run_records_rejected_check CHECK ((records_rejected >= 0)),
    CONSTRAINT sync_run_records_seen_check CHECK ((records_seen >= 0)),
    CONSTRAINT sync_run_records_unchanged_check CHECK ((records_unchanged >= 0)),
    CONSTRAINT sync_run_resource CHECK ((resource = ANY (ARRAY['a'::"char", 'd'::"char", 'h'::"char"]))),
    CONSTRAINT sync_run_status_check CHECK ((status = ANY (ARRAY['r'::"char", 's'::"char", 'f'::"char"]))),
    CONSTRAINT sync_run_succeeded_has_fetch CHECK (((status <> 's'::"char") OR (fetched_at IS NOT NULL))),
    CONSTRAINT sync_run_targets_inserted_check CHECK ((targets_inserted >= 0)),
    CONSTRAINT sync_run_time_order CHECK (((fetched_at >= started_at) AND (finished_at >= started_at)))
);


--
-- Name: TABLE sync_run; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.sync_run IS 'One row per sync of a resource of a tenant, in compact form: what defender.sync_runs shows (query it instead). The agents_* counts of sync_runs are the records_* of agent runs. A count of 0 is stored as null, in no bytes (as 0 in the runs stored before schema 41).';


--
-- Name: COLUMN sync_run.run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.run_id IS 'Number of the run, increasing over time (sync_runs.run_id).';


--
-- Name: COLUMN sync_run.started_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.started_at IS 'sync_runs.started_at.';


--
-- Name: COLUMN sync_run.fetched_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.fetched_at IS 'sync_runs.fetched_at.';


--
-- Name: COLUMN sync_run.finished_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.finished_at IS 'sync_runs.finished_at.';


--
-- Name: COLUMN sync_run.previous_sync_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.previous_sync_at IS 'sync_runs.previous_sync_at.';


--
-- Name: COLUMN sync_run.tenant_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.tenant_no IS 'The tenant (tenants.tenant_no).';


--
-- Name: COLUMN sync_run.worker_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.worker_no IS 'The worker that ran it (sync_worker.worker_no); empty when none was recorded.';


--
-- Name: COLUMN sync_run.records_seen; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.records_seen IS 'sync_runs.records_seen (and agents_seen of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.records_inserted; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.records_inserted IS 'sync_runs.records_inserted (and agents_inserted of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.records_changed; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.records_changed IS 'sync_runs.records_changed (and agents_changed of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.records_unchanged; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.records_unchanged IS 'sync_runs.records_unchanged (and agents_unchanged of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.records_deleted; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.records_deleted IS 'sync_runs.records_deleted (and agents_deleted of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.records_rejected; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.records_rejected IS 'sync_runs.records_rejected (and agents_rejected of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.heartbeat_only; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.heartbeat_only IS 'sync_runs.agents_heartbeat_only, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0), as on every run of another resource.';


--
-- Name: COLUMN sync_run.deletions_withheld; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.deletions_withheld IS 'sync_runs.deletions_withheld, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.targets_inserted; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.targets_inserted IS 'sync_runs.targets_inserted, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.fields_repaired; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.fields_repaired IS 'sync_runs.fields_repaired, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.api_requests; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.api_requests IS 'sync_runs.api_requests, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';


--
-- Name: COLUMN sync_run.resource; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.resource IS 'a (agents), d (definitions) or h (history): sync_runs.resource.';


--
-- Name: COLUMN sync_run.status; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.status IS 'r (running), s (succeeded) or f (failed): sync_runs.status.';


--
-- Name: COLUMN sync_run.error; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_run.error IS 'sync_runs.error; empty when there is none (sync_runs shows NULL): a successful run''s row then holds no NULL, and takes no null bitmap.';


--
-- Name: tenant_daily; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.tenant_daily (
    tenant_id text NOT NULL,
    day date NOT NULL,
    run_id bigint NOT NULL,
    synced_at timestamp with time zone NOT NULL,
    first_synced_at timestamp with time zone NOT NULL,
    syncs integer NOT NULL,
    active_agents integer DEFAULT 0 NOT NULL,
    stale_7d_agents integer DEFAULT 0 NOT NULL,
    never_seen_agents integer DEFAULT 0 NOT NULL,
    newest_mde_client_version text,
    agents_on_newest integer DEFAULT 0 NOT NULL,
    mde_client_versions jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT tenant_daily_active_agents_check CHECK ((active_agents >= 0)),
    CONSTRAINT tenant_daily_agents_on_newest_check CHECK ((agents_on_newest >= 0)),
    CONSTRAINT tenant_daily_mde_client_versions_check CHECK ((jsonb_typeof(mde_client_versions) = 'object'::text)),
    CONSTRAINT tenant_daily_never_seen_agents_check CHECK ((never_seen_agents >= 0)),
    CONSTRAINT tenant_daily_stale_7d_agents_check CHECK ((stale_7d_agents >= 0)),
    CONSTRAINT tenant_daily_synced_that_day CHECK (((defender.utc_day(synced_at) = day) AND (defender.utc_day(first_synced_at) = day) AND (first_synced_at <= synced_at))),
    CONSTRAINT tenant_daily_syncs_check CHECK ((syncs > 0))
);


--
-- Name: TABLE tenant_daily; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.tenant_daily IS 'Storage behind fleet_daily: one row per tenant per UTC day with a successful sync.';


--
-- Name: COLUMN tenant_daily.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN tenant_daily.day; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.day IS 'The UTC day.';


--
-- Name: COLUMN tenant_daily.run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.run_id IS 'The day''s last successful sync.';


--
-- Name: COLUMN tenant_daily.synced_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.synced_at IS 'Fetch time of that sync.';


--
-- Name: COLUMN tenant_daily.first_synced_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.first_synced_at IS 'Fetch time of the day''s first successful sync.';


--
-- Name: COLUMN tenant_daily.syncs; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.syncs IS 'Successful syncs of the day.';


--
-- Name: COLUMN tenant_daily.active_agents; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.active_agents IS 'Agents active at the day''s last successful sync.';


--
-- Name: COLUMN tenant_daily.stale_7d_agents; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.stale_7d_agents IS 'Of those, agents whose last_seen was 7 days or more before that sync.';


--
-- Name: COLUMN tenant_daily.never_seen_agents; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.never_seen_agents IS 'Of those, agents that never checked in.';


--
-- Name: COLUMN tenant_daily.newest_mde_client_version; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.newest_mde_client_version IS 'Newest Defender client version among those agents.';


--
-- Name: COLUMN tenant_daily.agents_on_newest; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.agents_on_newest IS 'Agents on that version.';


--
-- Name: COLUMN tenant_daily.mde_client_versions; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_daily.mde_client_versions IS 'Agents per Defender client version: {"version": agents}.';


--
-- Name: tenants; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.tenants (
    tenant_id text NOT NULL,
    display_name text,
    last_run_id bigint,
    last_fetched_at timestamp with time zone,
    tenant_no integer NOT NULL,
    CONSTRAINT tenants_last_run_has_time CHECK (((last_run_id IS NULL) = (last_fetched_at IS NULL))),
    CONSTRAINT tenants_tenant_id_check CHECK ((tenant_id <> ''::text))
);


--
-- Name: TABLE tenants; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.tenants IS 'Storage behind fleet_daily and the views: one row per tenant ever synced, with its latest successful sync.';


--
-- Name: COLUMN tenants.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenants.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case).';


--
-- Name: COLUMN tenants.display_name; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenants.display_name IS 'Name of the tenant given in the configuration; empty when none.';


--
-- Name: COLUMN tenants.last_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenants.last_run_id IS 'The tenant''s latest successful sync; empty before its first.';


--
-- Name: COLUMN tenants.last_fetched_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenants.last_fetched_at IS 'Fetch time of that sync.';


--
-- Name: COLUMN tenants.tenant_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenants.tenant_no IS 'Number of the tenant within this database: how its runs name it (sync_run.tenant_no).';


--
-- Name: withheld_deletions; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.withheld_deletions (
    agent_key bigint NOT NULL,
    run_id bigint NOT NULL
);


--
-- Name: TABLE withheld_deletions; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.withheld_deletions IS 'Agents a successful sync no longer returned but did not mark deleted, because the mass-deletion guard withheld the deletions of that run (see sync_runs.deletions_withheld).';


--
-- Name: COLUMN withheld_deletions.agent_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.withheld_deletions.agent_key IS 'Internal number of the agent (see defender.agent_state).';


--
-- Name: COLUMN withheld_deletions.run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.withheld_deletions.run_id IS 'The sync run whose listing did not return the agent.';


--
-- Name: agent_daily_open; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.agent_daily_open WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.agent_key,
    v.tenant_id,
    v.day,
    v.run_id,
    v.synced_at,
    v.computer_dns_name,
    v.mde_client_version,
    v.scanner_software_version,
    v.last_seen,
    v.last_command_execution_at,
    v.syncs_observed
   FROM ( SELECT a.agent_key,
            a.tenant_id,
            td.day,
            t.last_run_id AS run_id,
            t.last_fetched_at AS synced_at,
            a.computer_dns_name,
            a.mde_client_version,
            a.scanner_software_version,
            hb.last_seen,
            hb.last_command_execution_at,
            ((
                CASE
                    WHEN (a.active_since <= td.first_synced_at) THEN td.syncs
                    ELSE ( SELECT (count(*))::integer AS count
                       FROM defender_storage.sync_run r
                      WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.fetched_at >= a.active_since) AND (r.fetched_at <= t.last_fetched_at)))
                END -
                CASE
                    WHEN (wh.agent_key IS NULL) THEN 0
                    ELSE ( SELECT (count(*))::integer AS count
                       FROM unnest(wh.withheld_at) x(at)
                      WHERE (x.at >= GREATEST(a.active_since, td.first_synced_at)))
                END) + COALESCE(earlier.syncs_observed, 0)) AS syncs_observed
           FROM (((((defender_storage.tenants t
             JOIN defender_storage.tenant_daily td ON (((td.tenant_id = t.tenant_id) AND (td.day = defender.utc_day(t.last_fetched_at)))))
             JOIN defender_storage.agent_state a ON (((a.tenant_id = t.tenant_id) AND (a.deleted_at IS NULL))))
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN defender_storage.agent_daily earlier ON (((earlier.agent_key = a.agent_key) AND (earlier.day = td.day))))
             LEFT JOIN ( SELECT w.agent_key,
                    array_agg(r.fetched_at) AS withheld_at
                   FROM ((defender_storage.tenants wt
                     JOIN defender_storage.sync_run r ON (((r.tenant_no = wt.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.fetched_at >= ((defender.utc_day(wt.last_fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text)))))
                     JOIN defender_storage.withheld_deletions w ON ((w.run_id = r.run_id)))
                  GROUP BY w.agent_key) wh ON ((wh.agent_key = a.agent_key)))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW agent_daily_open; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.agent_daily_open IS 'The rows of scan_agent_daily for the open day of each tenant (the day of its latest successful sync), computed from the current state, with internal agent keys.';


--
-- Name: COLUMN agent_daily_open.agent_key; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.agent_key IS 'Internal number of the agent (see defender.agent_state).';


--
-- Name: COLUMN agent_daily_open.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';


--
-- Name: COLUMN agent_daily_open.day; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.day IS 'The UTC day of the tenant''s latest successful sync.';


--
-- Name: COLUMN agent_daily_open.run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.run_id IS 'That sync.';


--
-- Name: COLUMN agent_daily_open.synced_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.synced_at IS 'Fetch time of that sync.';


--
-- Name: COLUMN agent_daily_open.computer_dns_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.computer_dns_name IS 'Host name as of that sync.';


--
-- Name: COLUMN agent_daily_open.mde_client_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.mde_client_version IS 'Defender client version as of that sync.';


--
-- Name: COLUMN agent_daily_open.scanner_software_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.scanner_software_version IS 'Scanner version as of that sync.';


--
-- Name: COLUMN agent_daily_open.last_seen; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.last_seen IS 'last_seen as of that sync.';


--
-- Name: COLUMN agent_daily_open.last_command_execution_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.last_command_execution_at IS 'last_command_execution_at as of that sync.';


--
-- Name: COLUMN agent_daily_open.syncs_observed; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.agent_daily_open.syncs_observed IS 'Successful syncs of the day so far that returned the agent.';


--
-- Name: fleet_daily; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.fleet_daily WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.tenant_name,
    v.day,
    v.active_agents,
    v.stale_7d_agents,
    v.never_seen_agents,
    v.newest_mde_client_version,
    v.agents_on_newest,
    v.mde_client_versions,
    v.syncs,
    v.as_of_run_id,
    v.as_of_fetched_at
   FROM ( SELECT td.tenant_id,
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
           FROM (defender_storage.tenant_daily td
             JOIN defender_storage.tenants t ON ((t.tenant_id = td.tenant_id)))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW fleet_daily; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.fleet_daily IS 'One row per tenant per UTC day with a successful sync: the fleet as the day''s last successful sync saw it. Kept for ever; answers year-long trends in milliseconds.';


--
-- Name: COLUMN fleet_daily.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN fleet_daily.tenant_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.tenant_name IS 'Display name of the tenant from the configuration; empty when none.';


--
-- Name: COLUMN fleet_daily.day; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.day IS 'The UTC day.';


--
-- Name: COLUMN fleet_daily.active_agents; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.active_agents IS 'Agents active at the day''s last successful sync.';


--
-- Name: COLUMN fleet_daily.stale_7d_agents; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.stale_7d_agents IS 'Of those, agents whose last_seen was 7 days or more before that sync (never-seen agents are counted apart).';


--
-- Name: COLUMN fleet_daily.never_seen_agents; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.never_seen_agents IS 'Of those, agents that never checked in (no last_seen).';


--
-- Name: COLUMN fleet_daily.newest_mde_client_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.newest_mde_client_version IS 'Newest Defender client version among those agents.';


--
-- Name: COLUMN fleet_daily.agents_on_newest; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.agents_on_newest IS 'Agents on that version.';


--
-- Name: COLUMN fleet_daily.mde_client_versions; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.mde_client_versions IS 'Agents per Defender client version, as a JSON object {"version": agents}; agents without a version are left out.';


--
-- Name: COLUMN fleet_daily.syncs; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.syncs IS 'Successful syncs of the tenant that day.';


--
-- Name: COLUMN fleet_daily.as_of_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.as_of_run_id IS 'The day''s last successful sync, which the row describes.';


--
-- Name: COLUMN fleet_daily.as_of_fetched_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily.as_of_fetched_at IS 'Fetch time of that sync.';


--
-- Name: tenant_daily_version; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.tenant_daily_version (
    tenant_id text NOT NULL,
    day date NOT NULL,
    mde_client_version text NOT NULL,
    agents integer NOT NULL,
    CONSTRAINT tenant_daily_version_agents_check CHECK ((agents > 0))
);


--
-- Name: TABLE tenant_daily_version; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.tenant_daily_version IS 'Storage behind defender.fleet_daily_versions: tenant_daily.mde_client_versions one row per version, kept equal to it by refresh_fleet_daily. Query defender.fleet_daily_versions instead.';


--
-- Name: fleet_daily_versions; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.fleet_daily_versions WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.day,
    v.mde_client_version,
    v.agents
   FROM ( SELECT tv.tenant_id,
            tv.day,
            tv.mde_client_version,
            tv.agents
           FROM defender_storage.tenant_daily_version tv) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW fleet_daily_versions; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.fleet_daily_versions IS 'Agents per Defender client version per tenant per UTC day, as the day''s last successful sync saw them: fleet_daily.mde_client_versions one row per version (agents without a version are left out). Kept for ever, like fleet_daily.';


--
-- Name: COLUMN fleet_daily_versions.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily_versions.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case).';


--
-- Name: COLUMN fleet_daily_versions.day; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily_versions.day IS 'UTC day.';


--
-- Name: COLUMN fleet_daily_versions.mde_client_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily_versions.mde_client_version IS 'Defender client version.';


--
-- Name: COLUMN fleet_daily_versions.agents; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.fleet_daily_versions.agents IS 'Active agents on that version at the day''s last successful sync.';


--
-- Name: sync_worker; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.sync_worker (
    worker_no integer NOT NULL,
    worker text NOT NULL
);


--
-- Name: TABLE sync_worker; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.sync_worker IS 'Each worker (host and process) that ran syncs, once: runs name it by number. Query defender.sync_runs.worker instead.';


--
-- Name: COLUMN sync_worker.worker_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_worker.worker_no IS 'Number of the worker, named by sync_run.worker_no.';


--
-- Name: COLUMN sync_worker.worker; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.sync_worker.worker IS 'Host and process, as sync_runs.worker shows it.';


--
-- Name: sync_runs; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.sync_runs WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT r.run_id,
    t.tenant_id,
    r.started_at,
    r.fetched_at,
    r.finished_at,
        CASE r.status
            WHEN 'r'::"char" THEN 'running'::text
            WHEN 's'::"char" THEN 'succeeded'::text
            WHEN 'f'::"char" THEN 'failed'::text
            ELSE NULL::text
        END AS status,
        CASE
            WHEN (r.resource = 'a'::"char") THEN COALESCE(r.records_seen, 0)
            ELSE 0
        END AS agents_seen,
        CASE
            WHEN (r.resource = 'a'::"char") THEN COALESCE(r.records_inserted, 0)
            ELSE 0
        END AS agents_inserted,
        CASE
            WHEN (r.resource = 'a'::"char") THEN COALESCE(r.records_changed, 0)
            ELSE 0
        END AS agents_changed,
        CASE
            WHEN (r.resource = 'a'::"char") THEN COALESCE(r.records_unchanged, 0)
            ELSE 0
        END AS agents_unchanged,
        CASE
            WHEN (r.resource = 'a'::"char") THEN COALESCE(r.records_deleted, 0)
            ELSE 0
        END AS agents_deleted,
    COALESCE(r.deletions_withheld, 0) AS deletions_withheld,
        CASE
            WHEN (r.resource = 'a'::"char") THEN COALESCE(r.records_rejected, 0)
            ELSE 0
        END AS agents_rejected,
    COALESCE(r.api_requests, 0) AS api_requests,
    NULLIF(r.error, ''::text) AS error,
    w.worker,
    r.previous_sync_at,
        CASE r.resource
            WHEN 'a'::"char" THEN 'agents'::text
            WHEN 'd'::"char" THEN 'definitions'::text
            WHEN 'h'::"char" THEN 'history'::text
            ELSE NULL::text
        END AS resource,
    COALESCE(r.records_seen, 0) AS records_seen,
    COALESCE(r.records_inserted, 0) AS records_inserted,
    COALESCE(r.records_changed, 0) AS records_changed,
    COALESCE(r.records_unchanged, 0) AS records_unchanged,
    COALESCE(r.records_deleted, 0) AS records_deleted,
    COALESCE(r.records_rejected, 0) AS records_rejected,
    COALESCE(r.targets_inserted, 0) AS targets_inserted,
    COALESCE(r.heartbeat_only, 0) AS agents_heartbeat_only,
    COALESCE(r.fields_repaired, 0) AS fields_repaired
   FROM ((defender_storage.sync_run r
     JOIN defender_storage.tenants t ON ((t.tenant_no = r.tenant_no)))
     LEFT JOIN defender_storage.sync_worker w ON ((w.worker_no = r.worker_no)))
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (t.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW sync_runs; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.sync_runs IS 'One row per sync of a resource of a tenant (see resource): when it ran, how it ended and what it counted. A failed run changed no data. The agents_* columns count agent runs only; records_* count every run.';


--
-- Name: COLUMN sync_runs.run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.run_id IS 'Number of the run, increasing over time.';


--
-- Name: COLUMN sync_runs.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case) that was synced.';


--
-- Name: COLUMN sync_runs.started_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.started_at IS 'When the run started (UTC).';


--
-- Name: COLUMN sync_runs.fetched_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.fetched_at IS 'When the run began fetching agents from Defender. Every change and observation recorded by the run carries this time.';


--
-- Name: COLUMN sync_runs.finished_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.finished_at IS 'When the run ended (UTC); empty while it is running.';


--
-- Name: COLUMN sync_runs.status; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.status IS 'running, succeeded or failed. A failed run changed no agent data.';


--
-- Name: COLUMN sync_runs.agents_seen; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.agents_seen IS 'Agents the Defender API returned in this run (after removing duplicates and rejected records).';


--
-- Name: COLUMN sync_runs.agents_inserted; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.agents_inserted IS 'Agents seen for the first time.';


--
-- Name: COLUMN sync_runs.agents_changed; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.agents_changed IS 'Known agents with a changed descriptive value (a new version: every column of scan_agents but last_seen, last_command_execution_at and bookkeeping), including agents that returned after deletion. Agents of which only the heartbeat moved are agents_heartbeat_only.';


--
-- Name: COLUMN sync_runs.agents_unchanged; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.agents_unchanged IS 'Known agents returned with exactly the values already stored, heartbeat included.';


--
-- Name: COLUMN sync_runs.agents_deleted; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.agents_deleted IS 'Agents marked deleted because this complete listing no longer returned them.';


--
-- Name: COLUMN sync_runs.deletions_withheld; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.deletions_withheld IS 'Agents missing from this listing whose deletion was withheld by the mass-deletion guard (0 when none).';


--
-- Name: COLUMN sync_runs.agents_rejected; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.agents_rejected IS 'Records the API returned that could not be read (no id, a malformed timestamp...). An agent listed but unreadable is kept as it was, never deleted.';


--
-- Name: COLUMN sync_runs.api_requests; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.api_requests IS 'HTTP requests made to the Defender API by this run, retries included.';


--
-- Name: COLUMN sync_runs.error; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.error IS 'Why the run failed; empty unless status is failed.';


--
-- Name: COLUMN sync_runs.worker; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.worker IS 'Host and process that ran the sync, for troubleshooting.';


--
-- Name: COLUMN sync_runs.previous_sync_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.previous_sync_at IS 'Fetch time of the tenant''s previous successful sync, when this run succeeded; empty for its first. A change this run recorded happened in (previous_sync_at, fetched_at].';


--
-- Name: COLUMN sync_runs.resource; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.resource IS 'What the run synced: agents (scan agents), definitions (scan definitions) or history (scan sessions and their targets). Each resource of a tenant has its own runs; a failure of one never undoes another.';


--
-- Name: COLUMN sync_runs.records_seen; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.records_seen IS 'Records of the run''s resource the API returned (agents, definitions or sessions), after removing duplicates and rejected ones.';


--
-- Name: COLUMN sync_runs.records_inserted; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.records_inserted IS 'Records seen for the first time.';


--
-- Name: COLUMN sync_runs.records_changed; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.records_changed IS 'Known records with at least one changed value (agents and definitions: a new version, or a return; sessions: values the history completed or corrected). Agents of which only the heartbeat moved are agents_heartbeat_only.';


--
-- Name: COLUMN sync_runs.records_unchanged; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.records_unchanged IS 'Known records returned with exactly the values already stored: not written.';


--
-- Name: COLUMN sync_runs.records_deleted; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.records_deleted IS 'Agents or definitions marked deleted because this complete listing no longer returned them.';


--
-- Name: COLUMN sync_runs.records_rejected; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.records_rejected IS 'Records the API returned that could not be read; a definition listed but unreadable is kept as it was, never deleted.';


--
-- Name: COLUMN sync_runs.targets_inserted; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.targets_inserted IS 'History runs: scanned targets stored, of the sessions whose targets were not stored yet.';


--
-- Name: COLUMN sync_runs.agents_heartbeat_only; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.agents_heartbeat_only IS 'Known agents of which only last_seen or last_command_execution_at moved: observed, no new version ("seen" in the sync''s summary). agents_inserted + agents_changed + agents_heartbeat_only + agents_unchanged = agents_seen. 0 on runs of other resources.';


--
-- Name: COLUMN sync_runs.fields_repaired; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.sync_runs.fields_repaired IS 'Fields of the listing stored repaired, because PostgreSQL cannot store them as sent: a NUL character dropped, invalid UTF-8 replaced by U+FFFD. The log of the run names the fields and the records. 0 for runs before this was counted.';


--
-- Name: run_digest; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.run_digest (
    run_id bigint NOT NULL,
    previous_run_id bigint,
    digest bytea NOT NULL,
    parts bytea NOT NULL,
    computed_at_upgrade boolean DEFAULT false NOT NULL,
    previous_dropped_run_id bigint,
    CONSTRAINT run_digest_chains_one CHECK (((previous_run_id IS NULL) OR (previous_dropped_run_id IS NULL))),
    CONSTRAINT run_digest_digest_check CHECK ((octet_length(digest) = 32)),
    CONSTRAINT run_digest_parts_check CHECK ((octet_length(parts) = 116)),
    CONSTRAINT run_digest_previous_before CHECK ((previous_run_id < run_id)),
    CONSTRAINT run_digest_previous_dropped_before CHECK ((previous_dropped_run_id < run_id))
);


--
-- Name: TABLE run_digest; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.run_digest IS 'The digest of what each successful run wrote, chained with the previous successful run of its tenant and resource (docs/audit.md). Query defender.run_digests instead.';


--
-- Name: COLUMN run_digest.run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_digest.run_id IS 'The run (a succeeded one).';


--
-- Name: COLUMN run_digest.previous_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_digest.previous_run_id IS 'The previous successful run of the tenant and resource, whose digest this one chains; empty for the first, and when RUN_RETENTION dropped that run (previous_dropped_run_id).';


--
-- Name: COLUMN run_digest.digest; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_digest.digest IS 'SHA-256 of the previous run''s digest and parts.';


--
-- Name: COLUMN run_digest.parts; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_digest.parts IS 'Of the SHA-256 of each of the run''s eight parts, the first 4 bytes of the first five, and the last three (its observations, sessions and targets, whose rows retention may drop) whole, concatenated (116 bytes): what verify compares to name the part that changed; the digest covers the parts whole.';


--
-- Name: COLUMN run_digest.computed_at_upgrade; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_digest.computed_at_upgrade IS 'True for runs older than the digests, whose digest migration 00018 computed from the rows as they were then: it proves nothing of before the upgrade.';


--
-- Name: COLUMN run_digest.previous_dropped_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_digest.previous_dropped_run_id IS 'The previous successful run of the tenant and resource, when RUN_RETENTION dropped it: the last run of a stretch of runs_dropped, which keeps its digest.';


--
-- Name: run_digests; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.run_digests WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT r.run_id,
    r.tenant_id,
    r.resource,
    r.fetched_at,
    COALESCE(d.previous_run_id, d.previous_dropped_run_id) AS previous_run_id,
    encode(d.digest, 'hex'::text) AS digest,
    d.computed_at_upgrade
   FROM (defender_storage.run_digest d
     JOIN defender.sync_runs r ON ((r.run_id = d.run_id)))
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (r.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW run_digests; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.run_digests IS 'The digest of each successful run, chained with the previous successful run of its tenant and resource: the latest of a tenant and resource is its chain head. agentsync verify recomputes them (docs/audit.md).';


--
-- Name: COLUMN run_digests.run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.run_digests.run_id IS 'The run.';


--
-- Name: COLUMN run_digests.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.run_digests.tenant_id IS 'Its tenant.';


--
-- Name: COLUMN run_digests.resource; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.run_digests.resource IS 'What it synced: agents, definitions or history; each tenant and resource is a chain of its own.';


--
-- Name: COLUMN run_digests.fetched_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.run_digests.fetched_at IS 'Its fetch time.';


--
-- Name: COLUMN run_digests.previous_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.run_digests.previous_run_id IS 'The run whose digest it chains; empty for the first of the chain. A run RUN_RETENTION dropped is no longer in sync_runs; agentsync verify chains through it.';


--
-- Name: COLUMN run_digests.digest; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.run_digests.digest IS 'SHA-256, hex: of the previous digest and of what the run wrote.';


--
-- Name: COLUMN run_digests.computed_at_upgrade; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.run_digests.computed_at_upgrade IS 'True when the upgrade to digests computed it, from the rows as they were then: it proves nothing of before the upgrade.';


--
-- Name: scan_agent_history; Type: TABLE; Schema: defender; Owner: -
--

CREATE TABLE defender.scan_agent_history (
    history_id bigint NOT NULL,
    agent_key bigint NOT NULL,
    tenant_id text NOT NULL,
    agent_id text NOT NULL,
    machine_id text,
    computer_dns_name text,
    assigned_application_id text,
    scanner_software_version text,
    mde_client_version text,
    extra jsonb DEFAULT '{}'::jsonb NOT NULL,
    valid_from timestamp with time zone NOT NULL,
    valid_to timestamp with time zone,
    opened_by_run_id bigint NOT NULL,
    closed_by_run_id bigint,
    CONSTRAINT scan_agent_history_closed_by_run CHECK (((valid_to IS NULL) = (closed_by_run_id IS NULL))),
    CONSTRAINT scan_agent_history_range_order CHECK ((valid_to > valid_from))
);


--
-- Name: TABLE scan_agent_history; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON TABLE defender.scan_agent_history IS 'One row per version of an agent''s descriptive attributes: a row is valid from valid_from until valid_to (empty while current). A change, a deletion or a return starts a new version. The versions of one agent never overlap. last_seen and last_command_execution_at are not here: see scan_agent_observations.';


--
-- Name: COLUMN scan_agent_history.history_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.history_id IS 'Number of this version row.';


--
-- Name: COLUMN scan_agent_history.agent_key; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.agent_key IS 'Internal number of the agent (see defender.agent_state).';


--
-- Name: COLUMN scan_agent_history.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';


--
-- Name: COLUMN scan_agent_history.agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.agent_id IS 'Defender id of the scan agent.';


--
-- Name: COLUMN scan_agent_history.machine_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.machine_id IS 'Defender device id of the machine running the scanner, during this version.';


--
-- Name: COLUMN scan_agent_history.computer_dns_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.computer_dns_name IS 'Host name of the machine running the scanner, during this version.';


--
-- Name: COLUMN scan_agent_history.assigned_application_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.assigned_application_id IS 'Entra application id the scanner ran as, during this version.';


--
-- Name: COLUMN scan_agent_history.scanner_software_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.scanner_software_version IS 'Scanner software version during this version.';


--
-- Name: COLUMN scan_agent_history.mde_client_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.mde_client_version IS 'Defender for Endpoint client version during this version.';


--
-- Name: COLUMN scan_agent_history.extra; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.extra IS 'Fields without a column of their own, names as sent, during this version.';


--
-- Name: COLUMN scan_agent_history.valid_from; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.valid_from IS 'Fetch time of the sync that first saw these values (inclusive).';


--
-- Name: COLUMN scan_agent_history.valid_to; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.valid_to IS 'Fetch time of the sync that saw them change or the agent vanish (exclusive); empty while current.';


--
-- Name: COLUMN scan_agent_history.opened_by_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.opened_by_run_id IS 'The sync run that started this version.';


--
-- Name: COLUMN scan_agent_history.closed_by_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_history.closed_by_run_id IS 'The sync run that ended this version; empty while current.';


--
-- Name: scan_agent_changes; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_agent_changes WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.agent_id,
    v.changed_at,
    v.attribute,
    v.old_value,
    v.new_value,
    v.run_id,
    v.previous_sync_at
   FROM ( SELECT v_1.tenant_id,
            v_1.agent_id,
            v_1.valid_from AS changed_at,
            c.attribute,
            c.old_value,
            c.new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM (((defender.scan_agent_history v_1
             LEFT JOIN LATERAL ( SELECT p_1.history_id,
                    p_1.agent_key,
                    p_1.tenant_id,
                    p_1.agent_id,
                    p_1.machine_id,
                    p_1.computer_dns_name,
                    p_1.assigned_application_id,
                    p_1.scanner_software_version,
                    p_1.mde_client_version,
                    p_1.extra,
                    p_1.valid_from,
                    p_1.valid_to,
                    p_1.opened_by_run_id,
                    p_1.closed_by_run_id
                   FROM defender.scan_agent_history p_1
                  WHERE ((p_1.agent_key = v_1.agent_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.opened_by_run_id)))
             CROSS JOIN LATERAL ( SELECT 'agent'::text AS "?column?",
                        CASE
                            WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                            ELSE NULL::text
                        END AS "case",
                        CASE
                            WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                            ELSE 'first seen'::text
                        END AS "case"
                  WHERE ((p.valid_to IS NULL) OR (p.valid_to < v_1.valid_from))
                UNION ALL
                 SELECT a.attribute,
                    a.old_value,
                    a.new_value
                   FROM ( VALUES ('machine_id'::text,p.machine_id,v_1.machine_id), ('computer_dns_name'::text,p.computer_dns_name,v_1.computer_dns_name), ('assigned_application_id'::text,p.assigned_application_id,v_1.assigned_application_id), ('scanner_software_version'::text,p.scanner_software_version,v_1.scanner_software_version), ('mde_client_version'::text,p.mde_client_version,v_1.mde_client_version)) a(attribute, old_value, new_value)
                  WHERE ((p.history_id IS NOT NULL) AND (a.old_value IS DISTINCT FROM a.new_value))
                UNION ALL
                 SELECT ('extra.'::text || k.key),
                    ((p.extra -> k.key) #>> '{}'::text[]),
                    ((v_1.extra -> k.key) #>> '{}'::text[])
                   FROM ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
                        UNION
                         SELECT jsonb_object_keys(v_1.extra) AS jsonb_object_keys) k(key)
                  WHERE ((p.history_id IS NOT NULL) AND (p.extra IS DISTINCT FROM v_1.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v_1.extra -> k.key)))) c(attribute, old_value, new_value))
        UNION ALL
         SELECT v_1.tenant_id,
            v_1.agent_id,
            v_1.valid_to AS changed_at,
            'agent'::text AS attribute,
            'active'::text AS old_value,
            'deleted'::text AS new_value,
            v_1.closed_by_run_id AS run_id,
            r.previous_sync_at
           FROM (defender.scan_agent_history v_1
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.closed_by_run_id)))
          WHERE ((v_1.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
                   FROM defender.scan_agent_history n
                  WHERE ((n.agent_key = v_1.agent_key) AND (n.valid_from = v_1.valid_to))))))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_agent_changes; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_agent_changes IS 'One row per changed attribute of an agent, from its history: versions, host names, application ids, fields without a column (attribute extra.<name>), and the agent itself being first seen, deleted or returning (attribute agent).';


--
-- Name: COLUMN scan_agent_changes.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_changes.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';


--
-- Name: COLUMN scan_agent_changes.agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_changes.agent_id IS 'Defender id of the scan agent.';


--
-- Name: COLUMN scan_agent_changes.changed_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_changes.changed_at IS 'Fetch time of the sync that saw the change.';


--
-- Name: COLUMN scan_agent_changes.attribute; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_changes.attribute IS 'What changed: a column name of scan_agents, extra.<field name as sent>, or agent (first seen, deleted, returned).';


--
-- Name: COLUMN scan_agent_changes.old_value; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_changes.old_value IS 'Value before the change, as text; empty if there was none.';


--
-- Name: COLUMN scan_agent_changes.new_value; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_changes.new_value IS 'Value after the change, as text; empty if there is none.';


--
-- Name: COLUMN scan_agent_changes.run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_changes.run_id IS 'The sync run that saw the change.';


--
-- Name: COLUMN scan_agent_changes.previous_sync_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_changes.previous_sync_at IS 'Fetch time of the tenant''s previous successful sync: the change happened in (previous_sync_at, changed_at]. Empty for changes seen by a tenant''s first sync.';


--
-- Name: scan_agent_daily; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_agent_daily WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.agent_id,
    v.day,
    v.computer_dns_name,
    v.mde_client_version,
    v.scanner_software_version,
    v.last_seen,
    v.staleness,
    v.syncs_observed,
    v.last_command_execution_at,
    v.as_of_run_id,
    v.as_of_fetched_at
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            d.day,
            d.computer_dns_name,
            d.mde_client_version,
            d.scanner_software_version,
            d.last_seen,
            (d.synced_at - d.last_seen) AS staleness,
            d.syncs_observed,
            d.last_command_execution_at,
            d.run_id AS as_of_run_id,
            d.synced_at AS as_of_fetched_at
           FROM ((defender_storage.agent_daily d
             JOIN defender_storage.agent_state a ON ((a.agent_key = d.agent_key)))
             JOIN defender_storage.tenants t ON ((t.tenant_id = a.tenant_id)))
          WHERE (NOT ((a.deleted_at IS NULL) AND (d.day = defender.utc_day(t.last_fetched_at))))
        UNION ALL
         SELECT o.tenant_id,
            a.agent_id,
            o.day,
            o.computer_dns_name,
            o.mde_client_version,
            o.scanner_software_version,
            o.last_seen,
            (o.synced_at - o.last_seen) AS staleness,
            o.syncs_observed,
            o.last_command_execution_at,
            o.run_id AS as_of_run_id,
            o.synced_at AS as_of_fetched_at
           FROM (defender.agent_daily_open o
             JOIN defender_storage.agent_state a ON ((a.agent_key = o.agent_key)))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_agent_daily; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_agent_daily IS 'One row per agent per UTC day on which its tenant had a successful sync while the agent was active: the agent as the day''s last such sync saw it. Kept after OBSERVATION_RETENTION drops raw observations.';


--
-- Name: COLUMN scan_agent_daily.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';


--
-- Name: COLUMN scan_agent_daily.agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.agent_id IS 'Defender id of the scan agent.';


--
-- Name: COLUMN scan_agent_daily.day; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.day IS 'The UTC day.';


--
-- Name: COLUMN scan_agent_daily.computer_dns_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.computer_dns_name IS 'Host name as of the day''s last sync that had the agent active.';


--
-- Name: COLUMN scan_agent_daily.mde_client_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.mde_client_version IS 'Defender client version as of that sync.';


--
-- Name: COLUMN scan_agent_daily.scanner_software_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.scanner_software_version IS 'Scanner version as of that sync.';


--
-- Name: COLUMN scan_agent_daily.last_seen; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.last_seen IS 'last_seen as of that sync.';


--
-- Name: COLUMN scan_agent_daily.staleness; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.staleness IS 'That sync''s fetch time minus last_seen: how long the agent had not checked in; empty if never.';


--
-- Name: COLUMN scan_agent_daily.syncs_observed; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.syncs_observed IS 'Successful syncs of the day that returned the agent.';


--
-- Name: COLUMN scan_agent_daily.last_command_execution_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.last_command_execution_at IS 'last_command_execution_at as of that sync.';


--
-- Name: COLUMN scan_agent_daily.as_of_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.as_of_run_id IS 'The sync the row comes from: the day''s last successful sync at which the agent was active.';


--
-- Name: COLUMN scan_agent_daily.as_of_fetched_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_daily.as_of_fetched_at IS 'Fetch time of that sync.';


--
-- Name: scan_agent_history_history_id_seq; Type: SEQUENCE; Schema: defender; Owner: -
--

ALTER TABLE defender.scan_agent_history ALTER COLUMN history_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender.scan_agent_history_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: observation; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.observation (
    observed_at timestamp with time zone NOT NULL,
    run_id bigint NOT NULL,
    agent_nos integer[] NOT NULL,
    last_seen timestamp with time zone[] NOT NULL,
    last_command_execution_at timestamp with time zone[] NOT NULL,
    CONSTRAINT observation_agent_nos_valid CHECK (defender_storage.agent_numbers_valid(agent_nos)),
    CONSTRAINT observation_arrays_match CHECK (((cardinality(last_seen) = cardinality(agent_nos)) AND (cardinality(last_command_execution_at) = cardinality(agent_nos))))
)
PARTITION BY RANGE (observed_at);


--
-- Name: TABLE observation; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.observation IS 'Storage behind scan_agent_observations: what one sync of a tenant saw of the volatile timestamps of its agents whose values moved, one row per sync (its run names the tenant), in arrays by agent number. Partitioned by month of observed_at; OBSERVATION_RETENTION drops whole months.';


--
-- Name: COLUMN observation.observed_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.observation.observed_at IS 'Fetch time of the sync (sync_runs.fetched_at).';


--
-- Name: COLUMN observation.run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.observation.run_id IS 'The sync run that made the observations; its tenant is the agents''.';


--
-- Name: COLUMN observation.agent_nos; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.observation.agent_nos IS 'agent_state.agent_no of each observed agent of the run''s tenant, increasing.';


--
-- Name: COLUMN observation.last_seen; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.observation.last_seen IS 'last_seen of each observed agent, in the order of agent_nos.';


--
-- Name: COLUMN observation.last_command_execution_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.observation.last_command_execution_at IS 'last_command_execution_at of each observed agent, in the order of agent_nos.';


--
-- Name: scan_agent_observations; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_agent_observations WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.agent_id,
    v.run_id,
    v.observed_at,
    v.last_seen,
    v.last_command_execution_at
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            r.run_id,
            r.fetched_at AS observed_at,
            o.last_seen[((array_lower(o.last_seen, 1) + x.i) - 1)] AS last_seen,
            o.last_command_execution_at[((array_lower(o.last_command_execution_at, 1) + x.i) - 1)] AS last_command_execution_at
           FROM ((((defender_storage.sync_run r
             JOIN defender_storage.tenants rt ON ((rt.tenant_no = r.tenant_no)))
             CROSS JOIN LATERAL ( SELECT o_1.agent_nos,
                    o_1.last_seen,
                    o_1.last_command_execution_at
                   FROM defender_storage.observation o_1
                  WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                 LIMIT 1) o)
             CROSS JOIN LATERAL unnest(o.agent_nos) WITH ORDINALITY x(agent_no, i))
             JOIN defender_storage.agent_state a ON (((a.tenant_id = rt.tenant_id) AND (a.agent_no = x.agent_no))))
          WHERE ((r.resource = 'a'::"char") AND (r.status = 's'::"char"))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_agent_observations; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_agent_observations IS 'What each sync saw of an agent''s volatile timestamps: one row per agent per sync in which last_seen or last_command_execution_at changed. Use it for lastSeen trends and gaps; filter on agent_id or tenant_id and observed_at. Kept for OBSERVATION_RETENTION (default: forever); older trends are in scan_agent_daily.';


--
-- Name: COLUMN scan_agent_observations.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_observations.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';


--
-- Name: COLUMN scan_agent_observations.agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_observations.agent_id IS 'Defender id of the scan agent.';


--
-- Name: COLUMN scan_agent_observations.run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_observations.run_id IS 'The sync run that made the observation.';


--
-- Name: COLUMN scan_agent_observations.observed_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_observations.observed_at IS 'Fetch time of that sync.';


--
-- Name: COLUMN scan_agent_observations.last_seen; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_observations.last_seen IS 'The agent''s last check-in time as that sync saw it.';


--
-- Name: COLUMN scan_agent_observations.last_command_execution_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agent_observations.last_command_execution_at IS 'The scanner''s last command time as that sync saw it.';


--
-- Name: scan_agents; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_agents WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.agent_id,
    v.machine_id,
    v.computer_dns_name,
    v.assigned_application_id,
    v.scanner_software_version,
    v.mde_client_version,
    v.last_seen,
    v.last_command_execution_at,
    v.extra,
    v.first_seen_at,
    v.last_synced_at,
    v.deleted_at
   FROM ( SELECT a.tenant_id,
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
                CASE
                    WHEN ((a.deleted_at IS NULL) AND (NOT (t.last_run_withheld AND (EXISTS ( SELECT
                       FROM defender_storage.withheld_deletions w
                      WHERE ((w.agent_key = a.agent_key) AND (w.run_id = t.last_run_id))))))) THEN t.last_fetched_at
                    ELSE ( SELECT r.fetched_at
                       FROM defender_storage.sync_run r
                      WHERE ((r.tenant_no = ( SELECT tn.tenant_no
                               FROM defender_storage.tenants tn
                              WHERE (tn.tenant_id = a.tenant_id))) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.run_id < COALESCE(a.deleted_by_run_id, '9223372036854775807'::bigint)) AND (r.fetched_at < COALESCE(( SELECT dr.fetched_at
                               FROM defender_storage.sync_run dr
                              WHERE (dr.run_id = a.deleted_by_run_id)), 'infinity'::timestamp with time zone)) AND (NOT (EXISTS ( SELECT
                               FROM defender_storage.withheld_deletions w
                              WHERE ((w.agent_key = a.agent_key) AND (w.run_id = r.run_id))))))
                      ORDER BY r.fetched_at DESC
                     LIMIT 1)
                END AS last_synced_at,
            a.deleted_at
           FROM ((defender_storage.agent_state a
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN ( SELECT t_1.tenant_id,
                    t_1.last_run_id,
                    t_1.last_fetched_at,
                    (EXISTS ( SELECT
                           FROM defender_storage.withheld_deletions w
                          WHERE (w.run_id = t_1.last_run_id))) AS last_run_withheld
                   FROM defender_storage.tenants t_1) t ON ((t.tenant_id = a.tenant_id)))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_agents; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_agents IS 'One row per scan agent ever seen, with its current values. Active agents have an empty deleted_at.';


--
-- Name: COLUMN scan_agents.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';


--
-- Name: COLUMN scan_agents.agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.agent_id IS 'Defender id of the scan agent (<guid>_<hash>).';


--
-- Name: COLUMN scan_agents.machine_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.machine_id IS 'Defender device id of the machine running the scanner.';


--
-- Name: COLUMN scan_agents.computer_dns_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.computer_dns_name IS 'Host name of the machine running the scanner.';


--
-- Name: COLUMN scan_agents.assigned_application_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.assigned_application_id IS 'Microsoft Entra application (client) id the scanner runs as.';


--
-- Name: COLUMN scan_agents.scanner_software_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.scanner_software_version IS 'Version of the scanner software, as reported.';


--
-- Name: COLUMN scan_agents.mde_client_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.mde_client_version IS 'Version of the Microsoft Defender for Endpoint client on the machine, as reported. Order with defender.version_key().';


--
-- Name: COLUMN scan_agents.last_seen; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';


--
-- Name: COLUMN scan_agents.last_command_execution_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';


--
-- Name: COLUMN scan_agents.extra; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (JSON object).';


--
-- Name: COLUMN scan_agents.first_seen_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.first_seen_at IS 'Fetch time of the first sync that returned the agent.';


--
-- Name: COLUMN scan_agents.last_synced_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.last_synced_at IS 'Fetch time of the latest successful sync that returned the agent.';


--
-- Name: COLUMN scan_agents.deleted_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_agents.deleted_at IS 'When a complete sync first no longer returned the agent; empty while active, cleared if it returns.';


--
-- Name: definition_coverage; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.definition_coverage (
    tenant_id text NOT NULL,
    definition_id text NOT NULL,
    latest_scanned_at timestamp with time zone NOT NULL,
    latest_status text,
    last_success_at timestamp with time zone,
    last_failure_at timestamp with time zone,
    last_partial_at timestamp with time zone,
    consecutive_failures integer NOT NULL,
    CONSTRAINT definition_coverage_consecutive_failures_check CHECK ((consecutive_failures >= 0)),
    CONSTRAINT definition_coverage_definition_id_check CHECK ((definition_id <> ''::text))
);


--
-- Name: TABLE definition_coverage; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.definition_coverage IS 'Storage behind scan_coverage: per definition with a session that has a time, what its sessions say, kept current by the loader (cover_definitions) in each run that writes sessions. Query defender.scan_coverage instead.';


--
-- Name: COLUMN definition_coverage.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_coverage.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN definition_coverage.definition_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_coverage.definition_id IS 'Defender id of the scan definition.';


--
-- Name: COLUMN definition_coverage.latest_scanned_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_coverage.latest_scanned_at IS 'When its latest session ran.';


--
-- Name: COLUMN definition_coverage.latest_status; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_coverage.latest_status IS 'That session''s status, as sent.';


--
-- Name: COLUMN definition_coverage.last_success_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_coverage.last_success_at IS 'When its latest successful session ran.';


--
-- Name: COLUMN definition_coverage.last_failure_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_coverage.last_failure_at IS 'When its latest failed session ran.';


--
-- Name: COLUMN definition_coverage.last_partial_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_coverage.last_partial_at IS 'When its latest partly successful session ran.';


--
-- Name: COLUMN definition_coverage.consecutive_failures; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_coverage.consecutive_failures IS 'Failed sessions since the later of last_success_at and last_partial_at (all of them if neither).';


--
-- Name: scan_coverage; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_coverage WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.definition_id,
    v.scan_name,
    v.scan_type,
    v.target,
    v.interval_hours,
    v.last_scan_at,
    v.last_status,
    v.last_outcome,
    v.last_success_at,
    v.last_failure_at,
    v.consecutive_failures,
    v.scanner_agent_id,
    v.scanner_host,
    v.scanner_last_seen,
    v.scanner_stale,
    v.scanner_deleted,
    v.as_of_run_id,
    v.as_of_fetched_at,
    v.history_run_id,
    v.history_fetched_at
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            d.scan_name,
            d.scan_type,
            d.target,
            d.interval_hours,
            c.latest_scanned_at AS last_scan_at,
            c.latest_status AS last_status,
            defender.scan_outcome(c.latest_status) AS last_outcome,
            c.last_success_at,
            c.last_failure_at,
            COALESCE(c.consecutive_failures, 0) AS consecutive_failures,
            d.scanner_agent_id,
            a.computer_dns_name AS scanner_host,
            hb.last_seen AS scanner_last_seen,
                CASE
                    WHEN (a.agent_key IS NOT NULL) THEN ((hb.last_seen IS NULL) OR (hb.last_seen < (t.last_fetched_at - '7 days'::interval)))
                    ELSE NULL::boolean
                END AS scanner_stale,
                CASE
                    WHEN (a.agent_key IS NOT NULL) THEN (a.deleted_at IS NOT NULL)
                    ELSE NULL::boolean
                END AS scanner_deleted,
            dr.run_id AS as_of_run_id,
            dr.fetched_at AS as_of_fetched_at,
            hr.run_id AS history_run_id,
            hr.fetched_at AS history_fetched_at
           FROM ((((( SELECT d_1.definition_key,
                    d_1.tenant_id,
                    d_1.definition_id,
                    d_1.scan_name,
                    d_1.scan_type,
                    d_1.is_active,
                    d_1.interval_hours,
                    d_1.target,
                    d_1.target_type,
                    d_1.scanner_agent_id,
                    d_1.auth_variant,
                    d_1.auth_type,
                    d_1.created_by,
                    d_1.extra,
                    d_1.first_seen_at,
                    d_1.first_seen_run_id,
                    d_1.deleted_at,
                    d_1.deleted_by_run_id
                   FROM defender_storage.definition_state d_1
                  WHERE (( SELECT visible.tenants
                           FROM visible) IS NULL)
                UNION ALL
                 SELECT d_1.definition_key,
                    d_1.tenant_id,
                    d_1.definition_id,
                    d_1.scan_name,
                    d_1.scan_type,
                    d_1.is_active,
                    d_1.interval_hours,
                    d_1.target,
                    d_1.target_type,
                    d_1.scanner_agent_id,
                    d_1.auth_variant,
                    d_1.auth_type,
                    d_1.created_by,
                    d_1.extra,
                    d_1.first_seen_at,
                    d_1.first_seen_run_id,
                    d_1.deleted_at,
                    d_1.deleted_by_run_id
                   FROM defender_storage.definition_state d_1
                  WHERE ((( SELECT visible.tenants
                           FROM visible) IS NOT NULL) AND (d_1.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
                           FROM visible))))) d
             LEFT JOIN ((defender_storage.tenants t
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.fetched_at
                   FROM defender_storage.sync_run r
                  WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'd'::"char") AND (r.status = 's'::"char"))
                  ORDER BY r.fetched_at DESC
                 LIMIT 1) dr ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.fetched_at
                   FROM defender_storage.sync_run r
                  WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'h'::"char") AND (r.status = 's'::"char"))
                  ORDER BY r.fetched_at DESC
                 LIMIT 1) hr ON (true)) ON ((t.tenant_id = d.tenant_id)))
             LEFT JOIN defender_storage.agent_state a ON (((a.tenant_id = d.tenant_id) AND (a.agent_id = d.scanner_agent_id))))
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN defender_storage.definition_coverage c ON (((c.tenant_id = d.tenant_id) AND (c.definition_id = d.definition_id))))
          WHERE ((d.deleted_at IS NULL) AND d.is_active)) v;


--
-- Name: VIEW scan_coverage; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_coverage IS 'One row per active scan definition (listed and switched on): when it last ran, last succeeded and last failed, how many runs in a row failed, and its scanner agent with whether that agent is stale or deleted. An auditor''s first question: which scans are not doing their job.';


--
-- Name: COLUMN scan_coverage.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN scan_coverage.definition_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.definition_id IS 'Defender id of the scan definition.';


--
-- Name: COLUMN scan_coverage.scan_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.scan_name IS 'Display name of the scan.';


--
-- Name: COLUMN scan_coverage.scan_type; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.scan_type IS 'Kind of scan.';


--
-- Name: COLUMN scan_coverage.target; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.target IS 'What the scan covers, as sent.';


--
-- Name: COLUMN scan_coverage.interval_hours; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.interval_hours IS 'Hours between runs.';


--
-- Name: COLUMN scan_coverage.last_scan_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.last_scan_at IS 'When its latest recorded session ran; empty if none is recorded.';


--
-- Name: COLUMN scan_coverage.last_status; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.last_status IS 'That session''s status, as sent.';


--
-- Name: COLUMN scan_coverage.last_outcome; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.last_outcome IS 'last_status read by defender.scan_outcome: success, partial or failure.';


--
-- Name: COLUMN scan_coverage.last_success_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.last_success_at IS 'When its latest fully successful session ran; empty if none.';


--
-- Name: COLUMN scan_coverage.last_failure_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.last_failure_at IS 'When its latest failed session ran; empty if none.';


--
-- Name: COLUMN scan_coverage.consecutive_failures; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.consecutive_failures IS 'Failed sessions since its latest successful or partly successful one (all of them if none): 0 when the latest run did not fail.';


--
-- Name: COLUMN scan_coverage.scanner_agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.scanner_agent_id IS 'The scan agent that runs it (scan_agents.agent_id).';


--
-- Name: COLUMN scan_coverage.scanner_host; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.scanner_host IS 'Host name of that agent''s machine; empty when the agent is unknown.';


--
-- Name: COLUMN scan_coverage.scanner_last_seen; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.scanner_last_seen IS 'When that agent last checked in.';


--
-- Name: COLUMN scan_coverage.scanner_stale; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.scanner_stale IS 'True when that agent has not checked in for 7 days before the tenant''s latest agents sync (or never); empty when the agent is not in scan_agents.';


--
-- Name: COLUMN scan_coverage.scanner_deleted; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.scanner_deleted IS 'True when that agent is marked deleted in scan_agents; empty when it is not there at all.';


--
-- Name: COLUMN scan_coverage.as_of_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.as_of_run_id IS 'The latest successful definitions sync of the tenant, which the definition''s values come from.';


--
-- Name: COLUMN scan_coverage.as_of_fetched_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.as_of_fetched_at IS 'Fetch time of that sync.';


--
-- Name: COLUMN scan_coverage.history_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.history_run_id IS 'The latest successful history sync of the tenant: sessions recorded up to it are counted.';


--
-- Name: COLUMN scan_coverage.history_fetched_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_coverage.history_fetched_at IS 'Fetch time of that sync.';


--
-- Name: definition_version; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.definition_version (
    version_id bigint NOT NULL,
    definition_key bigint NOT NULL,
    scan_name text,
    scan_type text,
    is_active boolean,
    interval_hours integer,
    target text,
    target_type text,
    scanner_agent_id text,
    auth_variant text,
    auth_type text,
    created_by text,
    extra jsonb DEFAULT '{}'::jsonb NOT NULL,
    valid_from timestamp with time zone NOT NULL,
    valid_to timestamp with time zone,
    opened_by_run_id bigint NOT NULL,
    closed_by_run_id bigint,
    CONSTRAINT definition_version_closed_by_run CHECK (((valid_to IS NULL) = (closed_by_run_id IS NULL))),
    CONSTRAINT definition_version_range_order CHECK ((valid_to > valid_from))
);


--
-- Name: TABLE definition_version; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.definition_version IS 'Storage behind scan_definition_history and scan_definition_changes: one row per version of a definition, valid from valid_from until valid_to. Query the views instead.';


--
-- Name: COLUMN definition_version.version_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.version_id IS 'Number of this version row.';


--
-- Name: COLUMN definition_version.definition_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.definition_key IS 'Internal number of the definition (see definition_state).';


--
-- Name: COLUMN definition_version.scan_name; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.scan_name IS 'Display name during this version.';


--
-- Name: COLUMN definition_version.scan_type; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.scan_type IS 'Kind of scan during this version.';


--
-- Name: COLUMN definition_version.is_active; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.is_active IS 'Whether the scan was switched on during this version.';


--
-- Name: COLUMN definition_version.interval_hours; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.interval_hours IS 'Hours between runs during this version.';


--
-- Name: COLUMN definition_version.target; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.target IS 'What the scan covered during this version.';


--
-- Name: COLUMN definition_version.target_type; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.target_type IS 'How to read target during this version.';


--
-- Name: COLUMN definition_version.scanner_agent_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.scanner_agent_id IS 'The scan agent that ran the scan during this version.';


--
-- Name: COLUMN definition_version.auth_variant; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.auth_variant IS 'Kind of credentials during this version.';


--
-- Name: COLUMN definition_version.auth_type; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.auth_type IS 'Authentication type during this version.';


--
-- Name: COLUMN definition_version.created_by; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.created_by IS 'Identity that created the definition, as this version reported it.';


--
-- Name: COLUMN definition_version.extra; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.extra IS 'Fields without a column, names as sent, during this version.';


--
-- Name: COLUMN definition_version.valid_from; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.valid_from IS 'Fetch time of the sync that first saw these values (inclusive).';


--
-- Name: COLUMN definition_version.valid_to; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.valid_to IS 'Fetch time of the sync that saw them change or the definition vanish (exclusive); empty while current.';


--
-- Name: COLUMN definition_version.opened_by_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.opened_by_run_id IS 'The sync run that started this version.';


--
-- Name: COLUMN definition_version.closed_by_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_version.closed_by_run_id IS 'The sync run that ended it; empty while current.';


--
-- Name: scan_definition_changes; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_definition_changes WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.definition_id,
    v.changed_at,
    v.attribute,
    v.old_value,
    v.new_value,
    v.run_id,
    v.previous_sync_at
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            c.attribute,
            c.old_value,
            c.new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN LATERAL ( SELECT p_1.version_id,
                    p_1.definition_key,
                    p_1.scan_name,
                    p_1.scan_type,
                    p_1.is_active,
                    p_1.interval_hours,
                    p_1.target,
                    p_1.target_type,
                    p_1.scanner_agent_id,
                    p_1.auth_variant,
                    p_1.auth_type,
                    p_1.created_by,
                    p_1.extra,
                    p_1.valid_from,
                    p_1.valid_to,
                    p_1.opened_by_run_id,
                    p_1.closed_by_run_id
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             CROSS JOIN LATERAL ( VALUES ('scan_name'::text,p.scan_name,v_1.scan_name), ('scan_type'::text,p.scan_type,v_1.scan_type), ('is_active'::text,(p.is_active)::text,(v_1.is_active)::text), ('interval_hours'::text,(p.interval_hours)::text,(v_1.interval_hours)::text), ('target'::text,p.target,v_1.target), ('target_type'::text,p.target_type,v_1.target_type), ('scanner_agent_id'::text,p.scanner_agent_id,v_1.scanner_agent_id), ('auth_variant'::text,p.auth_variant,v_1.auth_variant), ('auth_type'::text,p.auth_type,v_1.auth_type), ('created_by'::text,p.created_by,v_1.created_by)) c(attribute, old_value, new_value))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE (c.old_value IS DISTINCT FROM c.new_value)
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            ('extra.'::text || k.key) AS attribute,
            ((p.extra -> k.key) #>> '{}'::text[]) AS old_value,
            ((v_1.extra -> k.key) #>> '{}'::text[]) AS new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN LATERAL ( SELECT p_1.extra
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             CROSS JOIN LATERAL ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
                UNION
                 SELECT jsonb_object_keys(v_1.extra) AS jsonb_object_keys) k(key))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE ((p.extra IS DISTINCT FROM v_1.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v_1.extra -> k.key)))
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            'definition'::text AS attribute,
                CASE
                    WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                    ELSE NULL::text
                END AS old_value,
                CASE
                    WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                    ELSE 'first seen'::text
                END AS new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM (((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             LEFT JOIN LATERAL ( SELECT p_1.valid_to
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE ((p.valid_to IS NULL) OR (p.valid_to < v_1.valid_from))
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_to AS changed_at,
            'definition'::text AS attribute,
            'listed'::text AS old_value,
            'deleted'::text AS new_value,
            v_1.closed_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.closed_by_run_id)))
          WHERE ((v_1.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
                   FROM defender_storage.definition_version n
                  WHERE ((n.definition_key = v_1.definition_key) AND (n.valid_from = v_1.valid_to))))))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_definition_changes; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_definition_changes IS 'One row per changed attribute of a scan definition, from its history: edits of its name, interval, target, scanner agent (a scan moved to another agent), activation, authentication kind, fields without a column (attribute extra.<name>), and the definition itself being first seen, deleted or returning (attribute definition).';


--
-- Name: COLUMN scan_definition_changes.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_changes.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';


--
-- Name: COLUMN scan_definition_changes.definition_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_changes.definition_id IS 'Defender id of the scan definition.';


--
-- Name: COLUMN scan_definition_changes.changed_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_changes.changed_at IS 'Fetch time of the sync that saw the change.';


--
-- Name: COLUMN scan_definition_changes.attribute; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_changes.attribute IS 'What changed: a column name of scan_definitions, extra.<field name as sent>, or definition (first seen, deleted, returned).';


--
-- Name: COLUMN scan_definition_changes.old_value; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_changes.old_value IS 'Value before the change, as text; empty if there was none.';


--
-- Name: COLUMN scan_definition_changes.new_value; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_changes.new_value IS 'Value after the change, as text; empty if there is none.';


--
-- Name: COLUMN scan_definition_changes.run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_changes.run_id IS 'The sync run that saw the change.';


--
-- Name: COLUMN scan_definition_changes.previous_sync_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_changes.previous_sync_at IS 'Fetch time of the previous successful definitions sync of the tenant: the change happened in (previous_sync_at, changed_at]. Empty for changes seen by the first.';


--
-- Name: scan_definition_history; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_definition_history WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.definition_id,
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
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            v_1.scan_name,
            v_1.scan_type,
            v_1.is_active,
            v_1.interval_hours,
            v_1.target,
            v_1.target_type,
            v_1.scanner_agent_id,
            v_1.auth_variant,
            v_1.auth_type,
            v_1.created_by,
            v_1.extra,
            v_1.valid_from,
            v_1.valid_to,
            v_1.opened_by_run_id,
            v_1.closed_by_run_id
           FROM (defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_definition_history; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_definition_history IS 'One row per version of a scan definition: valid from valid_from until valid_to (empty while current). An edit, a deletion or a return starts a new version; the versions of one definition never overlap.';


--
-- Name: COLUMN scan_definition_history.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';


--
-- Name: COLUMN scan_definition_history.definition_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.definition_id IS 'Defender id of the scan definition.';


--
-- Name: COLUMN scan_definition_history.scan_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.scan_name IS 'Display name during this version.';


--
-- Name: COLUMN scan_definition_history.scan_type; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.scan_type IS 'Kind of scan during this version.';


--
-- Name: COLUMN scan_definition_history.is_active; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.is_active IS 'Whether the scan was switched on during this version.';


--
-- Name: COLUMN scan_definition_history.interval_hours; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.interval_hours IS 'Hours between runs during this version.';


--
-- Name: COLUMN scan_definition_history.target; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.target IS 'What the scan covered during this version.';


--
-- Name: COLUMN scan_definition_history.target_type; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.target_type IS 'How to read target during this version.';


--
-- Name: COLUMN scan_definition_history.scanner_agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.scanner_agent_id IS 'The scan agent that ran the scan during this version (scan_agents.agent_id).';


--
-- Name: COLUMN scan_definition_history.auth_variant; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.auth_variant IS 'Kind of credentials during this version.';


--
-- Name: COLUMN scan_definition_history.auth_type; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.auth_type IS 'Authentication type during this version.';


--
-- Name: COLUMN scan_definition_history.created_by; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.created_by IS 'Identity that created the definition.';


--
-- Name: COLUMN scan_definition_history.extra; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.extra IS 'Fields without a column, names as sent, during this version.';


--
-- Name: COLUMN scan_definition_history.valid_from; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.valid_from IS 'Fetch time of the sync that first saw these values (inclusive).';


--
-- Name: COLUMN scan_definition_history.valid_to; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.valid_to IS 'Fetch time of the sync that saw them change or the definition vanish (exclusive); empty while current.';


--
-- Name: COLUMN scan_definition_history.opened_by_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.opened_by_run_id IS 'The sync run that started this version.';


--
-- Name: COLUMN scan_definition_history.closed_by_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definition_history.closed_by_run_id IS 'The sync run that ended it; empty while current.';


--
-- Name: definition_withheld; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.definition_withheld (
    definition_key bigint NOT NULL,
    run_id bigint NOT NULL
);


--
-- Name: TABLE definition_withheld; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.definition_withheld IS 'Definitions a successful sync no longer returned but did not mark deleted, because it withheld its deletions (see sync_runs.deletions_withheld).';


--
-- Name: COLUMN definition_withheld.definition_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_withheld.definition_key IS 'Internal number of the definition (see definition_state).';


--
-- Name: COLUMN definition_withheld.run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.definition_withheld.run_id IS 'The sync run whose listing did not return it.';


--
-- Name: scan_definitions; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_definitions WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.definition_id,
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
    v.first_seen_at,
    v.last_synced_at,
    v.as_of_run_id,
    v.deleted_at
   FROM ( SELECT d.tenant_id,
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
           FROM (defender_storage.definition_state d
             LEFT JOIN LATERAL ( SELECT r_1.run_id,
                    r_1.fetched_at
                   FROM defender_storage.sync_run r_1
                  WHERE ((r_1.tenant_no = ( SELECT tn.tenant_no
                           FROM defender_storage.tenants tn
                          WHERE (tn.tenant_id = d.tenant_id))) AND (r_1.resource = 'd'::"char") AND (r_1.status = 's'::"char") AND (r_1.fetched_at < COALESCE(d.deleted_at, 'infinity'::timestamp with time zone)) AND (NOT (EXISTS ( SELECT
                           FROM defender_storage.definition_withheld w
                          WHERE ((w.definition_key = d.definition_key) AND (w.run_id = r_1.run_id))))))
                  ORDER BY r_1.fetched_at DESC
                 LIMIT 1) r ON (true))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_definitions; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_definitions IS 'One row per scan definition ever seen, with its current values: which scans each agent runs. Listed definitions have an empty deleted_at. No credential is stored: of the authentication only auth_variant and auth_type.';


--
-- Name: COLUMN scan_definitions.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';


--
-- Name: COLUMN scan_definitions.definition_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.definition_id IS 'Defender id of the scan definition.';


--
-- Name: COLUMN scan_definitions.scan_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.scan_name IS 'Display name of the scan.';


--
-- Name: COLUMN scan_definitions.scan_type; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.scan_type IS 'Kind of scan: Network, Windows (retired), Linux, AdvancedActive, as sent.';


--
-- Name: COLUMN scan_definitions.is_active; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.is_active IS 'Whether the scan is switched on; empty when not sent.';


--
-- Name: COLUMN scan_definitions.interval_hours; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.interval_hours IS 'Hours between runs; empty when not sent.';


--
-- Name: COLUMN scan_definitions.target; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.target IS 'What the scan covers: IP addresses, ranges or host names, comma-separated, as sent.';


--
-- Name: COLUMN scan_definitions.target_type; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.target_type IS 'How to read target: Ip, Hostname or Combined.';


--
-- Name: COLUMN scan_definitions.scanner_agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.scanner_agent_id IS 'The scan agent that runs the scan: joins scan_agents.agent_id.';


--
-- Name: COLUMN scan_definitions.auth_variant; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.auth_variant IS 'Kind of credentials the scan uses (SnmpAuthParams, WindowsAuthParams, LinuxAuthParams).';


--
-- Name: COLUMN scan_definitions.auth_type; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.auth_type IS 'Authentication type within the variant (CommunityString, AuthPriv, Kerberos, PrivateKey...).';


--
-- Name: COLUMN scan_definitions.created_by; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.created_by IS 'Identity that created the definition.';


--
-- Name: COLUMN scan_definitions.extra; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (JSON object).';


--
-- Name: COLUMN scan_definitions.first_seen_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.first_seen_at IS 'Fetch time of the first definitions sync that returned it.';


--
-- Name: COLUMN scan_definitions.last_synced_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.last_synced_at IS 'Fetch time of the latest successful definitions sync that returned it: the sync these values come from.';


--
-- Name: COLUMN scan_definitions.as_of_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.as_of_run_id IS 'That sync run.';


--
-- Name: COLUMN scan_definitions.deleted_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_definitions.deleted_at IS 'When a complete sync first no longer returned it; empty while listed, cleared if it returns.';


--
-- Name: scan_sessions; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_sessions WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.definition_id,
    v.scan_name,
    v.scanner_agent_id,
    v.scanner_id,
    v.session_id,
    v.status,
    v.outcome,
    v.scanned_at,
    v.targets,
    v.succeeded_targets,
    v.general_error,
    v.extra,
    v.source,
    v.targets_recorded,
    v.recorded_at,
    v.run_id,
    v.updated_at,
    v.updated_by_run_id
   FROM ( SELECT s.tenant_id,
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
            (s.targets_run_id IS NOT NULL) AS targets_recorded,
            s.recorded_at,
            s.recorded_by_run_id AS run_id,
            s.updated_at,
            s.updated_by_run_id
           FROM (defender_storage.session_result s
             LEFT JOIN defender_storage.definition_state d ON (((d.tenant_id = s.tenant_id) AND (d.definition_id = s.definition_id))))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_sessions; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_sessions IS 'One row per scan session: which definition ran, on which agent, when, with what result and how many targets. A fact, recorded once: fetching the same history again writes nothing. A definition''s latestScan is a session here (source latest_scan) when the history has not named it.';


--
-- Name: COLUMN scan_sessions.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN scan_sessions.definition_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.definition_id IS 'The scan definition that ran (scan_definitions.definition_id).';


--
-- Name: COLUMN scan_sessions.scan_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.scan_name IS 'The definition''s current name.';


--
-- Name: COLUMN scan_sessions.scanner_agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.scanner_agent_id IS 'The scan agent that ran it (scan_agents.agent_id): the agent whose machine id is the scanner the history named, else the definition''s scanner agent when the session was recorded.';


--
-- Name: COLUMN scan_sessions.scanner_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.scanner_id IS 'The scanner the history named (ScannerId), as sent.';


--
-- Name: COLUMN scan_sessions.session_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.session_id IS 'Defender id of the session; empty when the API named none.';


--
-- Name: COLUMN scan_sessions.status; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.status IS 'Outcome as sent (Success, Fail, Partial Success...).';


--
-- Name: COLUMN scan_sessions.outcome; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.outcome IS 'status read by defender.scan_outcome: success, partial or failure.';


--
-- Name: COLUMN scan_sessions.scanned_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.scanned_at IS 'When the session ran (UTC).';


--
-- Name: COLUMN scan_sessions.targets; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.targets IS 'Number of targets of the session.';


--
-- Name: COLUMN scan_sessions.succeeded_targets; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.succeeded_targets IS 'Number of them scanned successfully.';


--
-- Name: COLUMN scan_sessions.general_error; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.general_error IS 'The session''s error message, when it has one.';


--
-- Name: COLUMN scan_sessions.extra; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.extra IS 'Fields the API sent that have no column, names as sent.';


--
-- Name: COLUMN scan_sessions.source; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.source IS 'history (the scan history) or latest_scan (a definition''s latestScan).';


--
-- Name: COLUMN scan_sessions.targets_recorded; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.targets_recorded IS 'Whether the session''s targets are in scan_targets.';


--
-- Name: COLUMN scan_sessions.recorded_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.recorded_at IS 'Fetch time of the sync that recorded the session.';


--
-- Name: COLUMN scan_sessions.run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.run_id IS 'The sync run that recorded it.';


--
-- Name: COLUMN scan_sessions.updated_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.updated_at IS 'Fetch time of the sync that last completed or corrected its values (the history naming a latestScan session, counts arriving later); empty if never.';


--
-- Name: COLUMN scan_sessions.updated_by_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_sessions.updated_by_run_id IS 'That sync run.';


--
-- Name: target_status; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.target_status (
    tenant_id text NOT NULL,
    target text NOT NULL,
    latest_session_key bigint NOT NULL,
    latest_ordinal integer NOT NULL,
    ip text,
    hostname text,
    description text,
    latest_status text,
    latest_error_message text,
    latest_scanned_at timestamp with time zone,
    latest_definition_id text NOT NULL,
    latest_session_id text,
    last_success_at timestamp with time zone,
    covering_definitions text[] NOT NULL,
    as_of_run_id bigint,
    CONSTRAINT target_status_target_check CHECK ((target <> ''::text))
);


--
-- Name: TABLE target_status; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.target_status IS 'Storage behind scan_target_status: one row per scanned target of a tenant, its latest scan as stored (copied from target_result and session_result, which latest_session_key and latest_ordinal name) and the active definitions that cover it, kept by the loader (refresh_target_status) from target_coverage. Query defender.scan_target_status instead.';


--
-- Name: COLUMN target_status.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN target_status.target; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.target IS 'The target: its IP address, else its host name in lower case.';


--
-- Name: COLUMN target_status.latest_session_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.latest_session_key IS 'The session of its latest scan (session_result.session_key).';


--
-- Name: COLUMN target_status.latest_ordinal; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.latest_ordinal IS 'The target''s place in that session (target_result.ordinal).';


--
-- Name: COLUMN target_status.ip; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.ip IS 'IP address, as its latest scan reported it.';


--
-- Name: COLUMN target_status.hostname; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.hostname IS 'Host name, as its latest scan reported it.';


--
-- Name: COLUMN target_status.description; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.description IS 'Device description, as its latest scan reported it.';


--
-- Name: COLUMN target_status.latest_status; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.latest_status IS 'Outcome of its latest scan, as sent.';


--
-- Name: COLUMN target_status.latest_error_message; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.latest_error_message IS 'Why its latest scan failed; empty on success.';


--
-- Name: COLUMN target_status.latest_scanned_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.latest_scanned_at IS 'When its latest scan ran.';


--
-- Name: COLUMN target_status.latest_definition_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.latest_definition_id IS 'The definition of its latest scan.';


--
-- Name: COLUMN target_status.latest_session_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.latest_session_id IS 'The session of its latest scan, as Defender names it.';


--
-- Name: COLUMN target_status.last_success_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.last_success_at IS 'When it was last scanned successfully; empty if never.';


--
-- Name: COLUMN target_status.covering_definitions; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.covering_definitions IS 'Ids of the active definitions (listed and switched on) that have scanned it, in order.';


--
-- Name: COLUMN target_status.as_of_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.target_status.as_of_run_id IS 'The history sync run that stored its latest scan''s targets.';


--
-- Name: scan_target_status; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_target_status WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT s.tenant_id,
    s.target,
    s.ip,
    s.hostname,
    s.description,
    s.latest_status,
    defender.scan_outcome(s.latest_status) AS latest_outcome,
    s.latest_error_message,
    s.latest_scanned_at,
    s.latest_definition_id,
    s.latest_session_id,
    s.last_success_at,
    s.covering_definitions,
    s.as_of_run_id
   FROM ( SELECT s_1.tenant_id,
            s_1.target,
            s_1.latest_session_key,
            s_1.latest_ordinal,
            s_1.ip,
            s_1.hostname,
            s_1.description,
            s_1.latest_status,
            s_1.latest_error_message,
            s_1.latest_scanned_at,
            s_1.latest_definition_id,
            s_1.latest_session_id,
            s_1.last_success_at,
            s_1.covering_definitions,
            s_1.as_of_run_id
           FROM defender_storage.target_status s_1
          WHERE (( SELECT visible.tenants
                   FROM visible) IS NULL)
        UNION ALL
         SELECT s_1.tenant_id,
            s_1.target,
            s_1.latest_session_key,
            s_1.latest_ordinal,
            s_1.ip,
            s_1.hostname,
            s_1.description,
            s_1.latest_status,
            s_1.latest_error_message,
            s_1.latest_scanned_at,
            s_1.latest_definition_id,
            s_1.latest_session_id,
            s_1.last_success_at,
            s_1.covering_definitions,
            s_1.as_of_run_id
           FROM defender_storage.target_status s_1
          WHERE ((( SELECT visible.tenants
                   FROM visible) IS NOT NULL) AND (s_1.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
                   FROM visible))))) s;


--
-- Name: VIEW scan_target_status; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_target_status IS 'One row per scanned target (an IP address, else a host name): its latest outcome, its last successful scan and the active definitions that scan it. Answers "was target X actually scanned, when, with what result". Built from the targets stored; filter on tenant_id and target.';


--
-- Name: COLUMN scan_target_status.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN scan_target_status.target; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.target IS 'The target: its IP address, else its host name in lower case.';


--
-- Name: COLUMN scan_target_status.ip; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.ip IS 'IP address, as its latest scan reported it.';


--
-- Name: COLUMN scan_target_status.hostname; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.hostname IS 'Host name, as its latest scan reported it.';


--
-- Name: COLUMN scan_target_status.description; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.description IS 'Device description, as its latest scan reported it.';


--
-- Name: COLUMN scan_target_status.latest_status; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.latest_status IS 'Outcome of its latest scan, as sent.';


--
-- Name: COLUMN scan_target_status.latest_outcome; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.latest_outcome IS 'latest_status read by defender.scan_outcome: success, partial or failure.';


--
-- Name: COLUMN scan_target_status.latest_error_message; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.latest_error_message IS 'Why its latest scan failed; empty on success.';


--
-- Name: COLUMN scan_target_status.latest_scanned_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.latest_scanned_at IS 'When its latest scan ran.';


--
-- Name: COLUMN scan_target_status.latest_definition_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.latest_definition_id IS 'The definition of its latest scan.';


--
-- Name: COLUMN scan_target_status.latest_session_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.latest_session_id IS 'The session of its latest scan.';


--
-- Name: COLUMN scan_target_status.last_success_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.last_success_at IS 'When it was last scanned successfully; empty if never.';


--
-- Name: COLUMN scan_target_status.covering_definitions; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.covering_definitions IS 'Ids of the active definitions (listed and switched on) that have scanned it, in order.';


--
-- Name: COLUMN scan_target_status.as_of_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_target_status.as_of_run_id IS 'The history sync run that recorded its latest scan.';


--
-- Name: scan_targets; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.scan_targets WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.definition_id,
    v.session_id,
    v.scanned_at,
    v.ordinal,
    v.ip,
    v.hostname,
    v.description,
    v.status,
    v.outcome,
    v.error_message,
    v.duration,
    v.extra,
    v.run_id
   FROM ( SELECT s.tenant_id,
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
           FROM (defender_storage.target_result t
             JOIN defender_storage.session_result s ON ((s.session_key = t.session_key)))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW scan_targets; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.scan_targets IS 'One row per target of a scan session: was target X scanned, when, with what result. Facts, recorded once.';


--
-- Name: COLUMN scan_targets.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN scan_targets.definition_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.definition_id IS 'The scan definition that ran.';


--
-- Name: COLUMN scan_targets.session_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.session_id IS 'Defender id of the session.';


--
-- Name: COLUMN scan_targets.scanned_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.scanned_at IS 'When the session ran (UTC).';


--
-- Name: COLUMN scan_targets.ordinal; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.ordinal IS 'Position of the target in the session''s list, from 0.';


--
-- Name: COLUMN scan_targets.ip; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.ip IS 'IP address of the target.';


--
-- Name: COLUMN scan_targets.hostname; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.hostname IS 'Host name of the target.';


--
-- Name: COLUMN scan_targets.description; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.description IS 'Description of the scanned device.';


--
-- Name: COLUMN scan_targets.status; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.status IS 'Outcome for the target as sent (Success, Failure, PartialSuccess).';


--
-- Name: COLUMN scan_targets.outcome; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.outcome IS 'status read by defender.scan_outcome: success, partial or failure.';


--
-- Name: COLUMN scan_targets.error_message; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.error_message IS 'Why the target failed; empty on success.';


--
-- Name: COLUMN scan_targets.duration; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.duration IS 'How long the target''s scan took.';


--
-- Name: COLUMN scan_targets.extra; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.extra IS 'Fields the API sent that have no column, names as sent.';


--
-- Name: COLUMN scan_targets.run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.scan_targets.run_id IS 'The history sync run that recorded the targets.';


--
-- Name: tenant_sync_status; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.tenant_sync_status WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.tenant_name,
    v.latest_status,
    v.latest_run_id,
    v.latest_finished_at,
    v.last_success_run_id,
    v.last_success_at,
    v.last_failure_run_id,
    v.last_failure_at,
    v.last_failure_error,
    v.active_agents,
    v.stale_7d_agents,
    v.deletions_withheld,
    v.running_since
   FROM ( SELECT t.tenant_id,
            t.display_name AS tenant_name,
            latest.status AS latest_status,
            latest.run_id AS latest_run_id,
            latest.finished_at AS latest_finished_at,
            t.last_run_id AS last_success_run_id,
            t.last_fetched_at AS last_success_at,
            failure.run_id AS last_failure_run_id,
            failure.finished_at AS last_failure_at,
            failure.error AS last_failure_error,
            COALESCE(fleet.active_agents, 0) AS active_agents,
            COALESCE(fleet.stale_7d_agents, 0) AS stale_7d_agents,
            COALESCE(success.deletions_withheld, 0) AS deletions_withheld,
            running.started_at AS running_since
           FROM (((((defender_storage.tenants t
             LEFT JOIN LATERAL ( SELECT f.run_id,
                        CASE f.status
                            WHEN 's'::"char" THEN 'succeeded'::text
                            WHEN 'f'::"char" THEN 'failed'::text
                            ELSE NULL::text
                        END AS status,
                    f.finished_at
                   FROM (( SELECT r.run_id,
                            r.status,
                            r.finished_at
                           FROM defender_storage.sync_run r
                          WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char"))
                          ORDER BY r.fetched_at DESC
                         LIMIT 1)
                        UNION ALL
                        ( SELECT r.run_id,
                            r.status,
                            r.finished_at
                           FROM defender_storage.sync_run r
                          WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 'f'::"char"))
                          ORDER BY r.run_id DESC
                         LIMIT 1)) f
                  ORDER BY f.run_id DESC
                 LIMIT 1) latest ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.finished_at,
                    NULLIF(r.error, ''::text) AS error
                   FROM defender_storage.sync_run r
                  WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 'f'::"char"))
                  ORDER BY r.run_id DESC
                 LIMIT 1) failure ON (true))
             LEFT JOIN defender_storage.sync_run success ON ((success.run_id = t.last_run_id)))
             LEFT JOIN defender_storage.sync_run running ON (((running.tenant_no = t.tenant_no) AND (running.resource = 'a'::"char") AND (running.status = 'r'::"char"))))
             LEFT JOIN defender_storage.tenant_daily fleet ON (((fleet.tenant_id = t.tenant_id) AND (fleet.day = defender.utc_day(t.last_fetched_at)))))) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW tenant_sync_status; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.tenant_sync_status IS 'One row per tenant ever synced: how its latest sync of scan agents ended, its latest success and failure, and its fleet as the latest success saw it.';


--
-- Name: COLUMN tenant_sync_status.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN tenant_sync_status.tenant_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.tenant_name IS 'Display name of the tenant from the configuration; empty when none.';


--
-- Name: COLUMN tenant_sync_status.latest_status; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.latest_status IS 'How the tenant''s latest finished sync ended: succeeded or failed; empty before the first.';


--
-- Name: COLUMN tenant_sync_status.latest_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.latest_run_id IS 'That sync.';


--
-- Name: COLUMN tenant_sync_status.latest_finished_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.latest_finished_at IS 'When it ended.';


--
-- Name: COLUMN tenant_sync_status.last_success_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.last_success_run_id IS 'The tenant''s latest successful sync; empty before the first.';


--
-- Name: COLUMN tenant_sync_status.last_success_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.last_success_at IS 'Fetch time of that sync.';


--
-- Name: COLUMN tenant_sync_status.last_failure_run_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_run_id IS 'The tenant''s latest failed sync; empty when none failed.';


--
-- Name: COLUMN tenant_sync_status.last_failure_at; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_at IS 'When it ended.';


--
-- Name: COLUMN tenant_sync_status.last_failure_error; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_error IS 'Why it failed.';


--
-- Name: COLUMN tenant_sync_status.active_agents; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.active_agents IS 'Agents active at the latest successful sync.';


--
-- Name: COLUMN tenant_sync_status.stale_7d_agents; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.stale_7d_agents IS 'Of those, agents whose last_seen was 7 days or more before that sync.';


--
-- Name: COLUMN tenant_sync_status.deletions_withheld; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.deletions_withheld IS 'Deletions the latest successful sync withheld (0 when none).';


--
-- Name: COLUMN tenant_sync_status.running_since; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.tenant_sync_status.running_since IS 'Start of the sync of the tenant running now, if any: past the sync timeout, it is stuck.';


--
-- Name: version_drift; Type: VIEW; Schema: defender; Owner: -
--

CREATE VIEW defender.version_drift WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants
           FROM defender_storage.caller_tenants c
        )
 SELECT v.tenant_id,
    v.agent_id,
    v.computer_dns_name,
    v.mde_client_version,
    v.newest_mde_client_version,
    v.versions_behind,
    v.scanner_software_version,
    v.newest_scanner_software_version,
    v.scanner_versions_behind
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            a.computer_dns_name,
            a.mde_client_version,
            max(m.newest) OVER (PARTITION BY a.tenant_id) AS newest_mde_client_version,
            m.behind AS versions_behind,
            a.scanner_software_version,
            max(s.newest) OVER (PARTITION BY a.tenant_id) AS newest_scanner_software_version,
            s.behind AS scanner_versions_behind
           FROM ((defender_storage.agent_state a
             LEFT JOIN ( SELECT d.tenant_id,
                    d.version,
                        CASE
                            WHEN (d.key IS NOT NULL) THEN (dense_rank() OVER (PARTITION BY d.tenant_id ORDER BY d.key DESC NULLS LAST) - 1)
                            ELSE NULL::bigint
                        END AS behind,
                        CASE
                            WHEN (first_value(d.key) OVER w IS NOT NULL) THEN first_value(d.version) OVER w
                            ELSE NULL::text
                        END AS newest
                   FROM ( SELECT e.tenant_id,
                            e.version,
                            defender.version_key(e.version) AS key
                           FROM ( SELECT DISTINCT x.tenant_id,
                                    x.mde_client_version AS version
                                   FROM defender_storage.agent_state x
                                  WHERE (x.deleted_at IS NULL)) e) d
                  WINDOW w AS (PARTITION BY d.tenant_id ORDER BY d.key DESC NULLS LAST, (length(d.version)) DESC, d.version)) m ON (((m.tenant_id = a.tenant_id) AND (m.version = a.mde_client_version))))
             LEFT JOIN ( SELECT d.tenant_id,
                    d.version,
                        CASE
                            WHEN (d.key IS NOT NULL) THEN (dense_rank() OVER (PARTITION BY d.tenant_id ORDER BY d.key DESC NULLS LAST) - 1)
                            ELSE NULL::bigint
                        END AS behind,
                        CASE
                            WHEN (first_value(d.key) OVER w IS NOT NULL) THEN first_value(d.version) OVER w
                            ELSE NULL::text
                        END AS newest
                   FROM ( SELECT e.tenant_id,
                            e.version,
                            defender.version_key(e.version) AS key
                           FROM ( SELECT DISTINCT x.tenant_id,
                                    x.scanner_software_version AS version
                                   FROM defender_storage.agent_state x
                                  WHERE (x.deleted_at IS NULL)) e) d
                  WINDOW w AS (PARTITION BY d.tenant_id ORDER BY d.key DESC NULLS LAST, (length(d.version)) DESC, d.version)) s ON (((s.tenant_id = a.tenant_id) AND (s.version = a.scanner_software_version))))
          WHERE (a.deleted_at IS NULL)) v
  WHERE ((( SELECT visible.tenants
           FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT unnest(visible.tenants) AS unnest
           FROM visible))));


--
-- Name: VIEW version_drift; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON VIEW defender.version_drift IS 'Per active agent: its Defender client and scanner versions, the newest of each among the active agents of its tenant, and how many distinct newer versions exist (0 = up to date). Versions order numerically (10.8295.22621.1010 < 10.8295.22621.1195 < 10.10000.0.0).';


--
-- Name: COLUMN version_drift.tenant_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';


--
-- Name: COLUMN version_drift.agent_id; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.agent_id IS 'Defender id of the scan agent.';


--
-- Name: COLUMN version_drift.computer_dns_name; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.computer_dns_name IS 'Host name of the machine running the scanner.';


--
-- Name: COLUMN version_drift.mde_client_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.mde_client_version IS 'Defender for Endpoint client version on the agent''s machine.';


--
-- Name: COLUMN version_drift.newest_mde_client_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.newest_mde_client_version IS 'Newest Defender client version among the active agents of the tenant.';


--
-- Name: COLUMN version_drift.versions_behind; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.versions_behind IS 'How many distinct newer Defender client versions the tenant''s active agents run (0 = newest); empty when the version is unknown or not numeric.';


--
-- Name: COLUMN version_drift.scanner_software_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.scanner_software_version IS 'Scanner software version of the agent.';


--
-- Name: COLUMN version_drift.newest_scanner_software_version; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.newest_scanner_software_version IS 'Newest scanner version among the active agents of the tenant.';


--
-- Name: COLUMN version_drift.scanner_versions_behind; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON COLUMN defender.version_drift.scanner_versions_behind IS 'How many distinct newer scanner versions the tenant''s active agents run (0 = newest); empty when unknown or not numeric.';


--
-- Name: agent_state_agent_key_seq; Type: SEQUENCE; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.agent_state ALTER COLUMN agent_key ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender_storage.agent_state_agent_key_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: definition_state_definition_key_seq; Type: SEQUENCE; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.definition_state ALTER COLUMN definition_key ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender_storage.definition_state_definition_key_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: definition_version_version_id_seq; Type: SEQUENCE; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.definition_version ALTER COLUMN version_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender_storage.definition_version_version_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: maintenance_leases; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.maintenance_leases (
    task text NOT NULL,
    holder text NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT maintenance_leases_holder_check CHECK ((holder <> ''::text)),
    CONSTRAINT maintenance_leases_task_check CHECK ((task <> ''::text))
);


--
-- Name: TABLE maintenance_leases; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.maintenance_leases IS 'Storage: the process doing each maintenance task (observation retention), until when; others leave the task to it while the lease lasts.';


--
-- Name: COLUMN maintenance_leases.task; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.maintenance_leases.task IS 'The maintenance task, for example observation retention.';


--
-- Name: COLUMN maintenance_leases.holder; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.maintenance_leases.holder IS 'The process holding the task: host:pid and a token of its own.';


--
-- Name: COLUMN maintenance_leases.expires_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.maintenance_leases.expires_at IS 'When the lease ends unless its holder renews it.';


--
-- Name: observation_2026_12; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.observation_2026_12 (
    observed_at timestamp with time zone NOT NULL,
    run_id bigint NOT NULL,
    agent_nos integer[] NOT NULL,
    last_seen timestamp with time zone[] NOT NULL,
    last_command_execution_at timestamp with time zone[] NOT NULL,
    CONSTRAINT observation_agent_nos_valid CHECK (defender_storage.agent_numbers_valid(agent_nos)),
    CONSTRAINT observation_arrays_match CHECK (((cardinality(last_seen) = cardinality(agent_nos)) AND (cardinality(last_command_execution_at) = cardinality(agent_nos))))
);


--
-- Name: TABLE observation_2026_12; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.observation_2026_12 IS 'Observations of 2026-12 (UTC): a partition of defender_storage.observation.';


--
-- Name: observation_2027_01; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.observation_2027_01 (
    observed_at timestamp with time zone NOT NULL,
    run_id bigint NOT NULL,
    agent_nos integer[] NOT NULL,
    last_seen timestamp with time zone[] NOT NULL,
    last_command_execution_at timestamp with time zone[] NOT NULL,
    CONSTRAINT observation_agent_nos_valid CHECK (defender_storage.agent_numbers_valid(agent_nos)),
    CONSTRAINT observation_arrays_match CHECK (((cardinality(last_seen) = cardinality(agent_nos)) AND (cardinality(last_command_execution_at) = cardinality(agent_nos))))
);


--
-- Name: TABLE observation_2027_01; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.observation_2027_01 IS 'Observations of 2027-01 (UTC): a partition of defender_storage.observation.';


--
-- Name: run_retention_progress; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.run_retention_progress (
    tenant_no integer NOT NULL,
    through_run_id bigint NOT NULL,
    looked_at timestamp with time zone NOT NULL,
    CONSTRAINT run_retention_progress_through_run_id_check CHECK ((through_run_id > 0))
);


--
-- Name: TABLE run_retention_progress; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.run_retention_progress IS 'How far RUN_RETENTION has looked at each tenant''s runs: the next pass looks at the runs after through_run_id.';


--
-- Name: COLUMN run_retention_progress.tenant_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_retention_progress.tenant_no IS 'The tenant (tenants.tenant_no).';


--
-- Name: COLUMN run_retention_progress.through_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_retention_progress.through_run_id IS 'The last run retention looked at: every run of the tenant up to it was dropped, or kept because something refers to it.';


--
-- Name: COLUMN run_retention_progress.looked_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.run_retention_progress.looked_at IS 'When it looked at it.';


--
-- Name: runs_dropped; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.runs_dropped (
    tenant_no integer NOT NULL,
    resource "char" NOT NULL,
    previous_run_id bigint,
    previous_dropped_run_id bigint,
    first_run_id bigint NOT NULL,
    last_run_id bigint NOT NULL,
    runs integer NOT NULL,
    runs_computed_at_upgrade integer DEFAULT 0 NOT NULL,
    first_fetched_at timestamp with time zone NOT NULL,
    last_fetched_at timestamp with time zone NOT NULL,
    dropped_before timestamp with time zone NOT NULL,
    dropped_at timestamp with time zone NOT NULL,
    digest bytea NOT NULL,
    links bytea NOT NULL,
    CONSTRAINT runs_dropped_chains_one CHECK (((previous_run_id IS NULL) OR (previous_dropped_run_id IS NULL))),
    CONSTRAINT runs_dropped_computed_at_upgrade CHECK (((runs_computed_at_upgrade >= 0) AND (runs_computed_at_upgrade <= runs))),
    CONSTRAINT runs_dropped_digest CHECK ((octet_length(digest) = 32)),
    CONSTRAINT runs_dropped_in_order CHECK (((previous_run_id < first_run_id) AND (first_run_id <= last_run_id) AND (first_fetched_at <= last_fetched_at) AND (last_fetched_at < dropped_before))),
    CONSTRAINT runs_dropped_links CHECK (((octet_length(links) >= (41 * runs)) AND (octet_length(links) <= (137 * runs)))),
    CONSTRAINT runs_dropped_previous_before CHECK ((previous_dropped_run_id < first_run_id)),
    CONSTRAINT runs_dropped_resource CHECK ((resource = ANY (ARRAY['a'::"char", 'd'::"char", 'h'::"char"]))),
    CONSTRAINT runs_dropped_runs CHECK (((runs > 0) AND ((runs = 1) = (first_run_id = last_run_id))))
);
ALTER TABLE ONLY defender_storage.runs_dropped ALTER COLUMN links SET STORAGE MAIN;


--
-- Name: TABLE runs_dropped; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.runs_dropped IS 'What RUN_RETENTION dropped of a tenant''s digest chain (docs/audit.md): a stretch of consecutive successful runs of one tenant and resource, with what agentsync verify needs to recompute the chain through them.';


--
-- Name: COLUMN runs_dropped.tenant_no; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.tenant_no IS 'The tenant (tenants.tenant_no).';


--
-- Name: COLUMN runs_dropped.resource; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.resource IS 'a (agents), d (definitions) or h (history): the chain.';


--
-- Name: COLUMN runs_dropped.previous_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.previous_run_id IS 'The run the stretch''s first run chains, when it is kept (run_digest); empty when it was dropped too (previous_dropped_run_id) or the stretch begins the chain.';


--
-- Name: COLUMN runs_dropped.previous_dropped_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.previous_dropped_run_id IS 'The run the stretch''s first run chains, when retention dropped it: the last run of an earlier stretch.';


--
-- Name: COLUMN runs_dropped.first_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.first_run_id IS 'The stretch''s first run.';


--
-- Name: COLUMN runs_dropped.last_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.last_run_id IS 'The stretch''s last run: the run the next one of the chain chains.';


--
-- Name: COLUMN runs_dropped.runs; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.runs IS 'How many runs the stretch holds.';


--
-- Name: COLUMN runs_dropped.runs_computed_at_upgrade; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.runs_computed_at_upgrade IS 'How many of them had a digest the upgrade to digests computed (run_digest.computed_at_upgrade): they prove nothing of before the upgrade.';


--
-- Name: COLUMN runs_dropped.first_fetched_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.first_fetched_at IS 'The fetch time of its first run.';


--
-- Name: COLUMN runs_dropped.last_fetched_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.last_fetched_at IS 'The fetch time of its last run.';


--
-- Name: COLUMN runs_dropped.dropped_before; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.dropped_before IS 'The retention''s cutoff when it dropped them: every run of the stretch fetched before it.';


--
-- Name: COLUMN runs_dropped.dropped_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.dropped_at IS 'When retention dropped them.';


--
-- Name: COLUMN runs_dropped.digest; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.digest IS 'The digest of the stretch''s last run, which the next run of the chain chains.';


--
-- Name: COLUMN runs_dropped.links; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.runs_dropped.links IS 'Per run, in order: its run_id (8 bytes, big-endian), the SHA-256 of its part 1 (the run, 32 bytes), a byte whose bits 0, 1 and 2 tell which of its parts 6, 7 and 8 (observations, sessions, targets) follow, then those (32 bytes each); the others were the digest of nothing (e3b0c442…), as its parts 2 to 5 were: a run something refers to is never dropped. 41 to 137 bytes a run.';


--
-- Name: scan_history_dropped; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.scan_history_dropped (
    tenant_id text NOT NULL,
    dropped_before timestamp with time zone NOT NULL,
    through_run_id bigint NOT NULL,
    sessions bigint NOT NULL,
    dropped_at timestamp with time zone NOT NULL,
    CONSTRAINT scan_history_dropped_sessions_check CHECK ((sessions >= 0)),
    CONSTRAINT scan_history_dropped_through_run_id_check CHECK ((through_run_id > 0))
);


--
-- Name: TABLE scan_history_dropped; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.scan_history_dropped IS 'What SCAN_HISTORY_RETENTION dropped of each tenant''s scan sessions, latest pass: agentsync verify takes the session and target parts of the digests of the tenant''s runs up to through_run_id as stored. Internal.';


--
-- Name: COLUMN scan_history_dropped.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_history_dropped.tenant_id IS 'Microsoft Entra tenant.';


--
-- Name: COLUMN scan_history_dropped.dropped_before; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_history_dropped.dropped_before IS 'Sessions that ran before this time may have been dropped (those an answer still needs are kept).';


--
-- Name: COLUMN scan_history_dropped.through_run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_history_dropped.through_run_id IS 'The latest run that had written a dropped session or its targets: runs of the tenant up to it may miss rows their digest covered.';


--
-- Name: COLUMN scan_history_dropped.sessions; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_history_dropped.sessions IS 'Sessions dropped in all, over every pass.';


--
-- Name: COLUMN scan_history_dropped.dropped_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.scan_history_dropped.dropped_at IS 'When the latest pass that dropped sessions of the tenant ran.';


--
-- Name: scan_target_target_no_seq; Type: SEQUENCE; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.scan_target ALTER COLUMN target_no ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender_storage.scan_target_target_no_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: session_result_session_key_seq; Type: SEQUENCE; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.session_result ALTER COLUMN session_key ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender_storage.session_result_session_key_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: session_write; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.session_write (
    run_id bigint NOT NULL,
    session_key bigint NOT NULL,
    values_digest bytea NOT NULL,
    CONSTRAINT session_write_values_digest_check CHECK ((octet_length(values_digest) = 32))
);


--
-- Name: TABLE session_write; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.session_write IS 'Each write of a session by a successful run (recorded, completed or corrected), with the digest of the values it wrote: what the run digest of an earlier writer covers once a later run has rewritten the session in place.';


--
-- Name: COLUMN session_write.run_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_write.run_id IS 'The run that wrote the session.';


--
-- Name: COLUMN session_write.session_key; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_write.session_key IS 'The session (session_result.session_key).';


--
-- Name: COLUMN session_write.values_digest; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.session_write.values_digest IS 'session_digest of the session as the run left it.';


--
-- Name: sync_run_run_id_seq; Type: SEQUENCE; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.sync_run ALTER COLUMN run_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender_storage.sync_run_run_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: sync_worker_worker_no_seq; Type: SEQUENCE; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.sync_worker ALTER COLUMN worker_no ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender_storage.sync_worker_worker_no_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: tenant_leases; Type: TABLE; Schema: defender_storage; Owner: -
--

CREATE TABLE defender_storage.tenant_leases (
    tenant_id text NOT NULL,
    holder text NOT NULL,
    taken_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT tenant_leases_holder_check CHECK ((holder <> ''::text))
);


--
-- Name: TABLE tenant_leases; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON TABLE defender_storage.tenant_leases IS 'Storage: the sync holding each tenant, until when. Syncs of the tenant by other processes skip it while the lease lasts; a live sync renews it, a stopped one lets it expire.';


--
-- Name: COLUMN tenant_leases.tenant_id; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_leases.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case).';


--
-- Name: COLUMN tenant_leases.holder; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_leases.holder IS 'The sync holding the tenant: its worker (host:pid) and a token of its own.';


--
-- Name: COLUMN tenant_leases.taken_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_leases.taken_at IS 'When the holder took the lease (a sync takes it for each resource; renewing keeps this time).';


--
-- Name: COLUMN tenant_leases.expires_at; Type: COMMENT; Schema: defender_storage; Owner: -
--

COMMENT ON COLUMN defender_storage.tenant_leases.expires_at IS 'When the lease ends unless its holder renews it (a live sync renews it well before).';


--
-- Name: tenants_tenant_no_seq; Type: SEQUENCE; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.tenants ALTER COLUMN tenant_no ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender_storage.tenants_tenant_no_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: observation_2026_12; Type: TABLE ATTACH; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.observation ATTACH PARTITION defender_storage.observation_2026_12 FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00');


--
-- Name: observation_2027_01; Type: TABLE ATTACH; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.observation ATTACH PARTITION defender_storage.observation_2027_01 FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-02-01 00:00:00+00');


--
-- Name: goose_db_version goose_db_version_pkey; Type: CONSTRAINT; Schema: agentsync; Owner: -
--

ALTER TABLE ONLY agentsync.goose_db_version
    ADD CONSTRAINT goose_db_version_pkey PRIMARY KEY (id);


--
-- Name: goose_lock goose_lock_pkey; Type: CONSTRAINT; Schema: agentsync; Owner: -
--

ALTER TABLE ONLY agentsync.goose_lock
    ADD CONSTRAINT goose_lock_pkey PRIMARY KEY (lock_id);


--
-- Name: scan_agent_history scan_agent_history_no_overlap; Type: CONSTRAINT; Schema: defender; Owner: -
--

ALTER TABLE ONLY defender.scan_agent_history
    ADD CONSTRAINT scan_agent_history_no_overlap EXCLUDE USING gist (agent_key WITH =, tstzrange(valid_from, valid_to) WITH &&);


--
-- Name: scan_agent_history scan_agent_history_pkey; Type: CONSTRAINT; Schema: defender; Owner: -
--

ALTER TABLE ONLY defender.scan_agent_history
    ADD CONSTRAINT scan_agent_history_pkey PRIMARY KEY (history_id);


--
-- Name: agent_daily agent_daily_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_daily
    ADD CONSTRAINT agent_daily_pkey PRIMARY KEY (agent_key, day);


--
-- Name: agent_heartbeat agent_heartbeat_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_heartbeat
    ADD CONSTRAINT agent_heartbeat_pkey PRIMARY KEY (agent_key);


--
-- Name: agent_state agent_state_agent_no_key; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_state
    ADD CONSTRAINT agent_state_agent_no_key UNIQUE (tenant_id, agent_no);


--
-- Name: agent_state agent_state_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_state
    ADD CONSTRAINT agent_state_pkey PRIMARY KEY (agent_key);


--
-- Name: agent_state agent_state_tenant_agent; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_state
    ADD CONSTRAINT agent_state_tenant_agent UNIQUE (tenant_id, agent_id);


--
-- Name: definition_coverage definition_coverage_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_coverage
    ADD CONSTRAINT definition_coverage_pkey PRIMARY KEY (tenant_id, definition_id);


--
-- Name: definition_state definition_state_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_state
    ADD CONSTRAINT definition_state_pkey PRIMARY KEY (definition_key);


--
-- Name: definition_state definition_state_tenant_definition; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_state
    ADD CONSTRAINT definition_state_tenant_definition UNIQUE (tenant_id, definition_id);


--
-- Name: definition_version definition_version_no_overlap; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_version
    ADD CONSTRAINT definition_version_no_overlap EXCLUDE USING gist (definition_key WITH =, tstzrange(valid_from, valid_to, '[)'::text) WITH &&);


--
-- Name: definition_version definition_version_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_version
    ADD CONSTRAINT definition_version_pkey PRIMARY KEY (version_id);


--
-- Name: definition_withheld definition_withheld_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_withheld
    ADD CONSTRAINT definition_withheld_pkey PRIMARY KEY (definition_key, run_id);


--
-- Name: maintenance_leases maintenance_leases_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.maintenance_leases
    ADD CONSTRAINT maintenance_leases_pkey PRIMARY KEY (task);


--
-- Name: observation observation_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.observation
    ADD CONSTRAINT observation_pkey PRIMARY KEY (run_id, observed_at);


--
-- Name: observation_2026_12 observation_2026_12_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.observation_2026_12
    ADD CONSTRAINT observation_2026_12_pkey PRIMARY KEY (run_id, observed_at);


--
-- Name: observation_2027_01 observation_2027_01_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.observation_2027_01
    ADD CONSTRAINT observation_2027_01_pkey PRIMARY KEY (run_id, observed_at);


--
-- Name: run_digest run_digest_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.run_digest
    ADD CONSTRAINT run_digest_pkey PRIMARY KEY (run_id);


--
-- Name: run_digest run_digest_previous_run_id_key; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.run_digest
    ADD CONSTRAINT run_digest_previous_run_id_key UNIQUE (previous_run_id);


--
-- Name: run_retention_progress run_retention_progress_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.run_retention_progress
    ADD CONSTRAINT run_retention_progress_pkey PRIMARY KEY (tenant_no);


--
-- Name: runs_dropped runs_dropped_no_overlap; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.runs_dropped
    ADD CONSTRAINT runs_dropped_no_overlap EXCLUDE USING gist (tenant_no WITH =, ((resource)::text) WITH =, int8range(first_run_id, last_run_id, '[]'::text) WITH &&);


--
-- Name: runs_dropped runs_dropped_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.runs_dropped
    ADD CONSTRAINT runs_dropped_pkey PRIMARY KEY (last_run_id);


--
-- Name: scan_history_dropped scan_history_dropped_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.scan_history_dropped
    ADD CONSTRAINT scan_history_dropped_pkey PRIMARY KEY (tenant_id);


--
-- Name: scan_target scan_target_once; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.scan_target
    ADD CONSTRAINT scan_target_once UNIQUE (tenant_no, fingerprint);


--
-- Name: scan_target scan_target_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.scan_target
    ADD CONSTRAINT scan_target_pkey PRIMARY KEY (target_no);


--
-- Name: session_result session_result_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_result
    ADD CONSTRAINT session_result_pkey PRIMARY KEY (session_key);


--
-- Name: session_target session_target_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_target
    ADD CONSTRAINT session_target_pkey PRIMARY KEY (session_key, ordinal);


--
-- Name: session_write session_write_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_write
    ADD CONSTRAINT session_write_pkey PRIMARY KEY (run_id, session_key);


--
-- Name: sync_run sync_run_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.sync_run
    ADD CONSTRAINT sync_run_pkey PRIMARY KEY (run_id);


--
-- Name: sync_worker sync_worker_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.sync_worker
    ADD CONSTRAINT sync_worker_pkey PRIMARY KEY (worker_no);


--
-- Name: sync_worker sync_worker_worker_key; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.sync_worker
    ADD CONSTRAINT sync_worker_worker_key UNIQUE (worker);


--
-- Name: target_coverage target_coverage_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.target_coverage
    ADD CONSTRAINT target_coverage_pkey PRIMARY KEY (tenant_id, target, definition_id);


--
-- Name: target_status target_status_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.target_status
    ADD CONSTRAINT target_status_pkey PRIMARY KEY (tenant_id, target);


--
-- Name: tenant_access tenant_access_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_access
    ADD CONSTRAINT tenant_access_pkey PRIMARY KEY (role_oid, tenant_id);


--
-- Name: tenant_daily tenant_daily_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_daily
    ADD CONSTRAINT tenant_daily_pkey PRIMARY KEY (tenant_id, day);


--
-- Name: tenant_daily_version tenant_daily_version_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_daily_version
    ADD CONSTRAINT tenant_daily_version_pkey PRIMARY KEY (tenant_id, day, mde_client_version);


--
-- Name: tenant_leases tenant_leases_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_leases
    ADD CONSTRAINT tenant_leases_pkey PRIMARY KEY (tenant_id);


--
-- Name: tenants tenants_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenants
    ADD CONSTRAINT tenants_pkey PRIMARY KEY (tenant_id);


--
-- Name: tenants tenants_tenant_no_key; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenants
    ADD CONSTRAINT tenants_tenant_no_key UNIQUE (tenant_no);


--
-- Name: withheld_deletions withheld_deletions_pkey; Type: CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.withheld_deletions
    ADD CONSTRAINT withheld_deletions_pkey PRIMARY KEY (agent_key, run_id);


--
-- Name: scan_agent_history_agent_versions; Type: INDEX; Schema: defender; Owner: -
--

CREATE UNIQUE INDEX scan_agent_history_agent_versions ON defender.scan_agent_history USING btree (agent_key, valid_from);


--
-- Name: scan_agent_history_by_closing_run; Type: INDEX; Schema: defender; Owner: -
--

CREATE INDEX scan_agent_history_by_closing_run ON defender.scan_agent_history USING btree (closed_by_run_id) WHERE (closed_by_run_id IS NOT NULL);


--
-- Name: scan_agent_history_by_end; Type: INDEX; Schema: defender; Owner: -
--

CREATE INDEX scan_agent_history_by_end ON defender.scan_agent_history USING btree (valid_to) WHERE (valid_to IS NOT NULL);


--
-- Name: scan_agent_history_by_opening_run; Type: INDEX; Schema: defender; Owner: -
--

CREATE INDEX scan_agent_history_by_opening_run ON defender.scan_agent_history USING btree (opened_by_run_id);


--
-- Name: scan_agent_history_by_start; Type: INDEX; Schema: defender; Owner: -
--

CREATE INDEX scan_agent_history_by_start ON defender.scan_agent_history USING brin (valid_from);


--
-- Name: scan_agent_history_by_tenant; Type: INDEX; Schema: defender; Owner: -
--

CREATE INDEX scan_agent_history_by_tenant ON defender.scan_agent_history USING btree (tenant_id, valid_from);


--
-- Name: scan_agent_history_by_tenant_span; Type: INDEX; Schema: defender; Owner: -
--

CREATE INDEX scan_agent_history_by_tenant_span ON defender.scan_agent_history USING gist (tenant_id, tstzrange(valid_from, valid_to, '[)'::text));


--
-- Name: agent_daily_by_day; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX agent_daily_by_day ON defender_storage.agent_daily USING brin (day);


--
-- Name: agent_daily_by_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX agent_daily_by_run ON defender_storage.agent_daily USING btree (run_id);


--
-- Name: agent_state_alive_by_tenant; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX agent_state_alive_by_tenant ON defender_storage.agent_state USING btree (tenant_id) WHERE (deleted_at IS NULL);


--
-- Name: agent_state_by_deleting_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX agent_state_by_deleting_run ON defender_storage.agent_state USING btree (deleted_by_run_id) WHERE (deleted_by_run_id IS NOT NULL);


--
-- Name: agent_state_by_first_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX agent_state_by_first_run ON defender_storage.agent_state USING btree (first_seen_run_id);


--
-- Name: agent_state_by_tenant_span; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX agent_state_by_tenant_span ON defender_storage.agent_state USING btree (tenant_id) INCLUDE (agent_key, agent_no, first_seen_at, deleted_at);


--
-- Name: definition_state_by_agent; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX definition_state_by_agent ON defender_storage.definition_state USING btree (tenant_id, scanner_agent_id);


--
-- Name: definition_state_by_deleting_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX definition_state_by_deleting_run ON defender_storage.definition_state USING btree (deleted_by_run_id) WHERE (deleted_by_run_id IS NOT NULL);


--
-- Name: definition_state_by_first_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX definition_state_by_first_run ON defender_storage.definition_state USING btree (first_seen_run_id);


--
-- Name: definition_version_by_closing_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX definition_version_by_closing_run ON defender_storage.definition_version USING btree (closed_by_run_id) WHERE (closed_by_run_id IS NOT NULL);


--
-- Name: definition_version_by_definition; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE UNIQUE INDEX definition_version_by_definition ON defender_storage.definition_version USING btree (definition_key, valid_from);


--
-- Name: definition_version_by_opening_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX definition_version_by_opening_run ON defender_storage.definition_version USING btree (opened_by_run_id);


--
-- Name: definition_version_by_start; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX definition_version_by_start ON defender_storage.definition_version USING btree (valid_from);


--
-- Name: definition_version_one_open; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE UNIQUE INDEX definition_version_one_open ON defender_storage.definition_version USING btree (definition_key) WHERE (valid_to IS NULL);


--
-- Name: definition_withheld_by_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX definition_withheld_by_run ON defender_storage.definition_withheld USING btree (run_id);


--
-- Name: run_digest_chains_dropped_once; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE UNIQUE INDEX run_digest_chains_dropped_once ON defender_storage.run_digest USING btree (previous_dropped_run_id) WHERE (previous_dropped_run_id IS NOT NULL);


--
-- Name: runs_dropped_chains_dropped_once; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE UNIQUE INDEX runs_dropped_chains_dropped_once ON defender_storage.runs_dropped USING btree (previous_dropped_run_id) WHERE (previous_dropped_run_id IS NOT NULL);


--
-- Name: runs_dropped_chains_once; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE UNIQUE INDEX runs_dropped_chains_once ON defender_storage.runs_dropped USING btree (previous_run_id) WHERE (previous_run_id IS NOT NULL);


--
-- Name: session_result_by_definition; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX session_result_by_definition ON defender_storage.session_result USING btree (tenant_id, definition_id, scanned_at);


--
-- Name: session_result_by_outcome; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX session_result_by_outcome ON defender_storage.session_result USING btree (tenant_id, definition_id, defender.scan_outcome(status), scanned_at) WHERE (scanned_at IS NOT NULL);


--
-- Name: session_result_by_recording_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX session_result_by_recording_run ON defender_storage.session_result USING btree (recorded_by_run_id);


--
-- Name: session_result_by_session_id; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE UNIQUE INDEX session_result_by_session_id ON defender_storage.session_result USING btree (tenant_id, session_id) WHERE (session_id IS NOT NULL);


--
-- Name: session_result_by_targets_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX session_result_by_targets_run ON defender_storage.session_result USING btree (targets_run_id) WHERE (targets_run_id IS NOT NULL);


--
-- Name: session_result_by_updating_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX session_result_by_updating_run ON defender_storage.session_result USING btree (updated_by_run_id) WHERE (updated_by_run_id IS NOT NULL);


--
-- Name: session_result_targets_pending; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX session_result_targets_pending ON defender_storage.session_result USING btree (tenant_id, scanned_at) WHERE ((targets_run_id IS NULL) AND (session_id IS NOT NULL));


--
-- Name: session_result_without_id; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE UNIQUE INDEX session_result_without_id ON defender_storage.session_result USING btree (tenant_id, definition_id, scanned_at) WHERE (session_id IS NULL);


--
-- Name: session_write_by_session; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX session_write_by_session ON defender_storage.session_write USING btree (session_key);


--
-- Name: sync_run_by_start; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX sync_run_by_start ON defender_storage.sync_run USING brin (started_at) WITH (pages_per_range='32');


--
-- Name: sync_run_by_tenant; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX sync_run_by_tenant ON defender_storage.sync_run USING btree (tenant_no, resource, status, fetched_at);


--
-- Name: sync_run_one_running_per_tenant; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE UNIQUE INDEX sync_run_one_running_per_tenant ON defender_storage.sync_run USING btree (tenant_no, resource) WHERE (status = 'r'::"char");


--
-- Name: target_coverage_by_last_success; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX target_coverage_by_last_success ON defender_storage.target_coverage USING btree (last_success_session_key) WHERE (last_success_session_key IS NOT NULL);


--
-- Name: target_coverage_by_latest_session; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX target_coverage_by_latest_session ON defender_storage.target_coverage USING btree (latest_session_key);


--
-- Name: target_status_by_latest_target; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX target_status_by_latest_target ON defender_storage.target_status USING btree (latest_session_key, latest_ordinal);


--
-- Name: target_status_by_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX target_status_by_run ON defender_storage.target_status USING btree (as_of_run_id);


--
-- Name: tenant_daily_by_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX tenant_daily_by_run ON defender_storage.tenant_daily USING btree (run_id);


--
-- Name: withheld_deletions_by_run; Type: INDEX; Schema: defender_storage; Owner: -
--

CREATE INDEX withheld_deletions_by_run ON defender_storage.withheld_deletions USING btree (run_id);


--
-- Name: observation_2026_12_pkey; Type: INDEX ATTACH; Schema: defender_storage; Owner: -
--

ALTER INDEX defender_storage.observation_pkey ATTACH PARTITION defender_storage.observation_2026_12_pkey;


--
-- Name: observation_2027_01_pkey; Type: INDEX ATTACH; Schema: defender_storage; Owner: -
--

ALTER INDEX defender_storage.observation_pkey ATTACH PARTITION defender_storage.observation_2027_01_pkey;


--
-- Name: agent_state observation_agents_exist; Type: TRIGGER; Schema: defender_storage; Owner: -
--

CREATE CONSTRAINT TRIGGER observation_agents_exist AFTER DELETE OR UPDATE OF tenant_id, agent_no ON defender_storage.agent_state NOT DEFERRABLE INITIALLY IMMEDIATE FOR EACH ROW EXECUTE FUNCTION defender_storage.check_observed_agents();


--
-- Name: observation observation_agents_exist; Type: TRIGGER; Schema: defender_storage; Owner: -
--

CREATE CONSTRAINT TRIGGER observation_agents_exist AFTER INSERT OR UPDATE OF run_id, agent_nos ON defender_storage.observation NOT DEFERRABLE INITIALLY IMMEDIATE FOR EACH ROW EXECUTE FUNCTION defender_storage.check_observed_agents();


--
-- Name: scan_agent_history scan_agent_history_agent_key_fkey; Type: FK CONSTRAINT; Schema: defender; Owner: -
--

ALTER TABLE ONLY defender.scan_agent_history
    ADD CONSTRAINT scan_agent_history_agent_key_fkey FOREIGN KEY (agent_key) REFERENCES defender_storage.agent_state(agent_key);


--
-- Name: scan_agent_history scan_agent_history_closed_by_run_id_fkey; Type: FK CONSTRAINT; Schema: defender; Owner: -
--

ALTER TABLE ONLY defender.scan_agent_history
    ADD CONSTRAINT scan_agent_history_closed_by_run_id_fkey FOREIGN KEY (closed_by_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: scan_agent_history scan_agent_history_opened_by_run_id_fkey; Type: FK CONSTRAINT; Schema: defender; Owner: -
--

ALTER TABLE ONLY defender.scan_agent_history
    ADD CONSTRAINT scan_agent_history_opened_by_run_id_fkey FOREIGN KEY (opened_by_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: agent_daily agent_daily_agent_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_daily
    ADD CONSTRAINT agent_daily_agent_key_fkey FOREIGN KEY (agent_key) REFERENCES defender_storage.agent_state(agent_key);


--
-- Name: agent_daily agent_daily_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_daily
    ADD CONSTRAINT agent_daily_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: agent_heartbeat agent_heartbeat_agent_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_heartbeat
    ADD CONSTRAINT agent_heartbeat_agent_key_fkey FOREIGN KEY (agent_key) REFERENCES defender_storage.agent_state(agent_key);


--
-- Name: agent_state agent_state_deleted_by_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_state
    ADD CONSTRAINT agent_state_deleted_by_run_id_fkey FOREIGN KEY (deleted_by_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: agent_state agent_state_first_seen_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_state
    ADD CONSTRAINT agent_state_first_seen_run_id_fkey FOREIGN KEY (first_seen_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: agent_state agent_state_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.agent_state
    ADD CONSTRAINT agent_state_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: definition_coverage definition_coverage_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_coverage
    ADD CONSTRAINT definition_coverage_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: definition_state definition_state_deleted_by_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_state
    ADD CONSTRAINT definition_state_deleted_by_run_id_fkey FOREIGN KEY (deleted_by_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: definition_state definition_state_first_seen_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_state
    ADD CONSTRAINT definition_state_first_seen_run_id_fkey FOREIGN KEY (first_seen_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: definition_state definition_state_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_state
    ADD CONSTRAINT definition_state_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: definition_version definition_version_closed_by_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_version
    ADD CONSTRAINT definition_version_closed_by_run_id_fkey FOREIGN KEY (closed_by_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: definition_version definition_version_definition_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_version
    ADD CONSTRAINT definition_version_definition_key_fkey FOREIGN KEY (definition_key) REFERENCES defender_storage.definition_state(definition_key);


--
-- Name: definition_version definition_version_opened_by_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_version
    ADD CONSTRAINT definition_version_opened_by_run_id_fkey FOREIGN KEY (opened_by_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: definition_withheld definition_withheld_definition_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_withheld
    ADD CONSTRAINT definition_withheld_definition_key_fkey FOREIGN KEY (definition_key) REFERENCES defender_storage.definition_state(definition_key);


--
-- Name: definition_withheld definition_withheld_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.definition_withheld
    ADD CONSTRAINT definition_withheld_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: observation observation_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE defender_storage.observation
    ADD CONSTRAINT observation_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: run_digest run_digest_previous_dropped_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.run_digest
    ADD CONSTRAINT run_digest_previous_dropped_run_id_fkey FOREIGN KEY (previous_dropped_run_id) REFERENCES defender_storage.runs_dropped(last_run_id);


--
-- Name: run_digest run_digest_previous_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.run_digest
    ADD CONSTRAINT run_digest_previous_run_id_fkey FOREIGN KEY (previous_run_id) REFERENCES defender_storage.run_digest(run_id);


--
-- Name: run_digest run_digest_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.run_digest
    ADD CONSTRAINT run_digest_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: run_retention_progress run_retention_progress_tenant_no_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.run_retention_progress
    ADD CONSTRAINT run_retention_progress_tenant_no_fkey FOREIGN KEY (tenant_no) REFERENCES defender_storage.tenants(tenant_no);


--
-- Name: runs_dropped runs_dropped_previous_dropped_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.runs_dropped
    ADD CONSTRAINT runs_dropped_previous_dropped_run_id_fkey FOREIGN KEY (previous_dropped_run_id) REFERENCES defender_storage.runs_dropped(last_run_id);


--
-- Name: runs_dropped runs_dropped_previous_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.runs_dropped
    ADD CONSTRAINT runs_dropped_previous_run_id_fkey FOREIGN KEY (previous_run_id) REFERENCES defender_storage.run_digest(run_id);


--
-- Name: runs_dropped runs_dropped_tenant_no_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.runs_dropped
    ADD CONSTRAINT runs_dropped_tenant_no_fkey FOREIGN KEY (tenant_no) REFERENCES defender_storage.tenants(tenant_no);


--
-- Name: scan_history_dropped scan_history_dropped_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.scan_history_dropped
    ADD CONSTRAINT scan_history_dropped_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: scan_target scan_target_tenant_no_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.scan_target
    ADD CONSTRAINT scan_target_tenant_no_fkey FOREIGN KEY (tenant_no) REFERENCES defender_storage.tenants(tenant_no);


--
-- Name: session_result session_result_recorded_by_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_result
    ADD CONSTRAINT session_result_recorded_by_run_id_fkey FOREIGN KEY (recorded_by_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: session_result session_result_targets_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_result
    ADD CONSTRAINT session_result_targets_run_id_fkey FOREIGN KEY (targets_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: session_result session_result_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_result
    ADD CONSTRAINT session_result_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: session_result session_result_updated_by_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_result
    ADD CONSTRAINT session_result_updated_by_run_id_fkey FOREIGN KEY (updated_by_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: session_target session_target_session_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_target
    ADD CONSTRAINT session_target_session_key_fkey FOREIGN KEY (session_key) REFERENCES defender_storage.session_result(session_key);


--
-- Name: session_target session_target_target_no_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_target
    ADD CONSTRAINT session_target_target_no_fkey FOREIGN KEY (target_no) REFERENCES defender_storage.scan_target(target_no);


--
-- Name: session_write session_write_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_write
    ADD CONSTRAINT session_write_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: session_write session_write_session_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.session_write
    ADD CONSTRAINT session_write_session_key_fkey FOREIGN KEY (session_key) REFERENCES defender_storage.session_result(session_key);


--
-- Name: sync_run sync_run_tenant; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.sync_run
    ADD CONSTRAINT sync_run_tenant FOREIGN KEY (tenant_no) REFERENCES defender_storage.tenants(tenant_no);


--
-- Name: sync_run sync_run_worker; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.sync_run
    ADD CONSTRAINT sync_run_worker FOREIGN KEY (worker_no) REFERENCES defender_storage.sync_worker(worker_no);


--
-- Name: target_coverage target_coverage_last_success_session_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.target_coverage
    ADD CONSTRAINT target_coverage_last_success_session_key_fkey FOREIGN KEY (last_success_session_key) REFERENCES defender_storage.session_result(session_key);


--
-- Name: target_coverage target_coverage_latest_session_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.target_coverage
    ADD CONSTRAINT target_coverage_latest_session_key_fkey FOREIGN KEY (latest_session_key) REFERENCES defender_storage.session_result(session_key);


--
-- Name: target_coverage target_coverage_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.target_coverage
    ADD CONSTRAINT target_coverage_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: target_status target_status_as_of_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.target_status
    ADD CONSTRAINT target_status_as_of_run_id_fkey FOREIGN KEY (as_of_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: target_status target_status_latest_target; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.target_status
    ADD CONSTRAINT target_status_latest_target FOREIGN KEY (latest_session_key, latest_ordinal) REFERENCES defender_storage.session_target(session_key, ordinal);


--
-- Name: target_status target_status_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.target_status
    ADD CONSTRAINT target_status_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: tenant_access tenant_access_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_access
    ADD CONSTRAINT tenant_access_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: tenant_daily tenant_daily_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_daily
    ADD CONSTRAINT tenant_daily_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: tenant_daily tenant_daily_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_daily
    ADD CONSTRAINT tenant_daily_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: tenant_daily_version tenant_daily_version_day_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_daily_version
    ADD CONSTRAINT tenant_daily_version_day_fkey FOREIGN KEY (tenant_id, day) REFERENCES defender_storage.tenant_daily(tenant_id, day) ON UPDATE CASCADE ON DELETE CASCADE;


--
-- Name: tenant_leases tenant_leases_tenant_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenant_leases
    ADD CONSTRAINT tenant_leases_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);


--
-- Name: tenants tenants_last_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.tenants
    ADD CONSTRAINT tenants_last_run_id_fkey FOREIGN KEY (last_run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: withheld_deletions withheld_deletions_agent_key_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.withheld_deletions
    ADD CONSTRAINT withheld_deletions_agent_key_fkey FOREIGN KEY (agent_key) REFERENCES defender_storage.agent_state(agent_key);


--
-- Name: withheld_deletions withheld_deletions_run_id_fkey; Type: FK CONSTRAINT; Schema: defender_storage; Owner: -
--

ALTER TABLE ONLY defender_storage.withheld_deletions
    ADD CONSTRAINT withheld_deletions_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run(run_id);


--
-- Name: scan_agent_history; Type: ROW SECURITY; Schema: defender; Owner: -
--

ALTER TABLE defender.scan_agent_history ENABLE ROW LEVEL SECURITY;

--
-- Name: scan_agent_history visible_tenants; Type: POLICY; Schema: defender; Owner: -
--

CREATE POLICY visible_tenants ON defender.scan_agent_history FOR SELECT USING (((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (tenant_id = ANY (ARRAY( SELECT unnest(defender_storage.visible_tenants(CURRENT_USER)) AS unnest)))));


--
-- Name: POLICY visible_tenants ON scan_agent_history; Type: COMMENT; Schema: defender; Owner: -
--

COMMENT ON POLICY visible_tenants ON defender.scan_agent_history IS 'A reader sees the versions of the agents of the tenants it may see (defender_storage.visible_tenants); the owner bypasses row-level security.';


--
-- Name: SCHEMA defender; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA defender TO defender_reader;
GRANT USAGE ON SCHEMA defender TO defender_tenant_reader;


--
-- Name: FUNCTION grant_reader_access(); Type: ACL; Schema: defender; Owner: -
--

REVOKE ALL ON FUNCTION defender.grant_reader_access() FROM PUBLIC;


--
-- Name: FUNCTION grant_tenant_access(role text, tenant text); Type: ACL; Schema: defender; Owner: -
--

REVOKE ALL ON FUNCTION defender.grant_tenant_access(role text, tenant text) FROM PUBLIC;


--
-- Name: FUNCTION revoke_tenant_access(role text, tenant text); Type: ACL; Schema: defender; Owner: -
--

REVOKE ALL ON FUNCTION defender.revoke_tenant_access(role text, tenant text) FROM PUBLIC;


--
-- Name: FUNCTION scan_agents_as_of(at timestamp with time zone, viewer name, tenant text); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) FROM PUBLIC;
GRANT ALL ON FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) TO defender_reader;
GRANT ALL ON FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) TO defender_tenant_reader;


--
-- Name: FUNCTION scan_agents_as_of(at timestamp with time zone, tenant text); Type: ACL; Schema: defender; Owner: -
--

REVOKE ALL ON FUNCTION defender.scan_agents_as_of(at timestamp with time zone, tenant text) FROM PUBLIC;
GRANT ALL ON FUNCTION defender.scan_agents_as_of(at timestamp with time zone, tenant text) TO defender_reader;
GRANT ALL ON FUNCTION defender.scan_agents_as_of(at timestamp with time zone, tenant text) TO defender_tenant_reader;


--
-- Name: FUNCTION scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) FROM PUBLIC;
GRANT ALL ON FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) TO defender_reader;
GRANT ALL ON FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) TO defender_tenant_reader;


--
-- Name: FUNCTION scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text); Type: ACL; Schema: defender; Owner: -
--

REVOKE ALL ON FUNCTION defender.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text) FROM PUBLIC;
GRANT ALL ON FUNCTION defender.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text) TO defender_reader;
GRANT ALL ON FUNCTION defender.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text) TO defender_tenant_reader;


--
-- Name: FUNCTION scan_outcome(status text); Type: ACL; Schema: defender; Owner: -
--

REVOKE ALL ON FUNCTION defender.scan_outcome(status text) FROM PUBLIC;
GRANT ALL ON FUNCTION defender.scan_outcome(status text) TO defender_reader;
GRANT ALL ON FUNCTION defender.scan_outcome(status text) TO defender_tenant_reader;


--
-- Name: FUNCTION utc_day(at timestamp with time zone); Type: ACL; Schema: defender; Owner: -
--

REVOKE ALL ON FUNCTION defender.utc_day(at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION defender.utc_day(at timestamp with time zone) TO defender_reader;
GRANT ALL ON FUNCTION defender.utc_day(at timestamp with time zone) TO defender_tenant_reader;


--
-- Name: FUNCTION version_key(version text); Type: ACL; Schema: defender; Owner: -
--

REVOKE ALL ON FUNCTION defender.version_key(version text) FROM PUBLIC;
GRANT ALL ON FUNCTION defender.version_key(version text) TO defender_reader;
GRANT ALL ON FUNCTION defender.version_key(version text) TO defender_tenant_reader;


--
-- Name: FUNCTION agent_numbers_valid(agent_nos integer[]); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.agent_numbers_valid(agent_nos integer[]) FROM PUBLIC;


--
-- Name: FUNCTION chain_digest(previous bytea, parts bytea); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.chain_digest(previous bytea, parts bytea) FROM PUBLIC;


--
-- Name: FUNCTION check_observed_agents(); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.check_observed_agents() FROM PUBLIC;


--
-- Name: FUNCTION compact_digest_parts(parts bytea); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.compact_digest_parts(parts bytea) FROM PUBLIC;


--
-- Name: FUNCTION cover_definitions(tenant text, definitions text[]); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.cover_definitions(tenant text, definitions text[]) FROM PUBLIC;


--
-- Name: FUNCTION digest_field(value text); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.digest_field(value text) FROM PUBLIC;


--
-- Name: FUNCTION digest_time(at timestamp with time zone); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.digest_time(at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION ensure_observation_partition(at timestamp with time zone); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.ensure_observation_partition(at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION fleet_as_of(at timestamp with time zone, viewer name, tenant text); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.fleet_as_of(at timestamp with time zone, viewer name, tenant text) FROM PUBLIC;


--
-- Name: FUNCTION record_run_digest(run bigint, at_upgrade boolean); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean) FROM PUBLIC;


--
-- Name: FUNCTION record_session_writes(run bigint, every_writer boolean); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.record_session_writes(run bigint, every_writer boolean) FROM PUBLIC;


--
-- Name: FUNCTION refresh_fleet_daily(tenant text, day date); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) FROM PUBLIC;


--
-- Name: FUNCTION refresh_run_target_status(tenant text, run bigint); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.refresh_run_target_status(tenant text, run bigint) FROM PUBLIC;


--
-- Name: FUNCTION refresh_target_status(tenant text); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.refresh_target_status(tenant text) FROM PUBLIC;


--
-- Name: FUNCTION refresh_target_status(tenant text, targets text[]); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.refresh_target_status(tenant text, targets text[]) FROM PUBLIC;


--
-- Name: FUNCTION run_digest_parts(runs bigint[]); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.run_digest_parts(runs bigint[]) FROM PUBLIC;


--
-- Name: FUNCTION run_resource_code(resource text); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.run_resource_code(resource text) FROM PUBLIC;


--
-- Name: FUNCTION run_resource_name(code "char"); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.run_resource_name(code "char") FROM PUBLIC;


--
-- Name: FUNCTION run_status_name(code "char"); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.run_status_name(code "char") FROM PUBLIC;


--
-- Name: FUNCTION sees_every_tenant(viewer name); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.sees_every_tenant(viewer name) FROM PUBLIC;
GRANT ALL ON FUNCTION defender_storage.sees_every_tenant(viewer name) TO defender_reader;
GRANT ALL ON FUNCTION defender_storage.sees_every_tenant(viewer name) TO defender_tenant_reader;


--
-- Name: FUNCTION session_digest(s defender_storage.session_result); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.session_digest(s defender_storage.session_result) FROM PUBLIC;


--
-- Name: FUNCTION start_run(tenant text, resource text, started timestamp with time zone, worker text, display_name text, holder text, lease_seconds double precision, abandoned_error text, temp_buffers text, OUT new_run_id bigint, OUT abandoned_runs integer); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.start_run(tenant text, resource text, started timestamp with time zone, worker text, display_name text, holder text, lease_seconds double precision, abandoned_error text, temp_buffers text, OUT new_run_id bigint, OUT abandoned_runs integer) FROM PUBLIC;


--
-- Name: FUNCTION take_tenant_lease(tenant text, holder text, lease_seconds double precision, display_name text, grace_seconds double precision, busy_seconds double precision, OUT taken boolean, OUT lease_holder text, OUT lease_expires_at timestamp with time zone, OUT busy boolean); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.take_tenant_lease(tenant text, holder text, lease_seconds double precision, display_name text, grace_seconds double precision, busy_seconds double precision, OUT taken boolean, OUT lease_holder text, OUT lease_expires_at timestamp with time zone, OUT busy boolean) FROM PUBLIC;


--
-- Name: FUNCTION target_fingerprint(ip text, hostname text, description text); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.target_fingerprint(ip text, hostname text, description text) FROM PUBLIC;


--
-- Name: FUNCTION target_status_of(tenant text, targets text[]); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.target_status_of(tenant text, targets text[]) FROM PUBLIC;


--
-- Name: FUNCTION target_status_of(tenant text); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.target_status_of(tenant text) FROM PUBLIC;


--
-- Name: FUNCTION visible_tenants(viewer name); Type: ACL; Schema: defender_storage; Owner: -
--

REVOKE ALL ON FUNCTION defender_storage.visible_tenants(viewer name) FROM PUBLIC;
GRANT ALL ON FUNCTION defender_storage.visible_tenants(viewer name) TO defender_reader;
GRANT ALL ON FUNCTION defender_storage.visible_tenants(viewer name) TO defender_tenant_reader;


--
-- Name: TABLE agent_daily_open; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.agent_daily_open TO defender_reader;
GRANT SELECT ON TABLE defender.agent_daily_open TO defender_tenant_reader;


--
-- Name: TABLE fleet_daily; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.fleet_daily TO defender_reader;
GRANT SELECT ON TABLE defender.fleet_daily TO defender_tenant_reader;


--
-- Name: TABLE fleet_daily_versions; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.fleet_daily_versions TO defender_reader;
GRANT SELECT ON TABLE defender.fleet_daily_versions TO defender_tenant_reader;


--
-- Name: TABLE sync_runs; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.sync_runs TO defender_reader;
GRANT SELECT ON TABLE defender.sync_runs TO defender_tenant_reader;


--
-- Name: TABLE run_digests; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.run_digests TO defender_reader;
GRANT SELECT ON TABLE defender.run_digests TO defender_tenant_reader;


--
-- Name: TABLE scan_agent_history; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_agent_history TO defender_reader;
GRANT SELECT ON TABLE defender.scan_agent_history TO defender_tenant_reader;


--
-- Name: TABLE scan_agent_changes; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_agent_changes TO defender_reader;
GRANT SELECT ON TABLE defender.scan_agent_changes TO defender_tenant_reader;


--
-- Name: TABLE scan_agent_daily; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_agent_daily TO defender_reader;
GRANT SELECT ON TABLE defender.scan_agent_daily TO defender_tenant_reader;


--
-- Name: TABLE scan_agent_observations; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_agent_observations TO defender_reader;
GRANT SELECT ON TABLE defender.scan_agent_observations TO defender_tenant_reader;


--
-- Name: TABLE scan_agents; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_agents TO defender_reader;
GRANT SELECT ON TABLE defender.scan_agents TO defender_tenant_reader;


--
-- Name: TABLE scan_coverage; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_coverage TO defender_reader;
GRANT SELECT ON TABLE defender.scan_coverage TO defender_tenant_reader;


--
-- Name: TABLE scan_definition_changes; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_definition_changes TO defender_reader;
GRANT SELECT ON TABLE defender.scan_definition_changes TO defender_tenant_reader;


--
-- Name: TABLE scan_definition_history; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_definition_history TO defender_reader;
GRANT SELECT ON TABLE defender.scan_definition_history TO defender_tenant_reader;


--
-- Name: TABLE scan_definitions; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_definitions TO defender_reader;
GRANT SELECT ON TABLE defender.scan_definitions TO defender_tenant_reader;


--
-- Name: TABLE scan_sessions; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_sessions TO defender_reader;
GRANT SELECT ON TABLE defender.scan_sessions TO defender_tenant_reader;


--
-- Name: TABLE scan_target_status; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_target_status TO defender_reader;
GRANT SELECT ON TABLE defender.scan_target_status TO defender_tenant_reader;


--
-- Name: TABLE scan_targets; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.scan_targets TO defender_reader;
GRANT SELECT ON TABLE defender.scan_targets TO defender_tenant_reader;


--
-- Name: TABLE tenant_sync_status; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.tenant_sync_status TO defender_reader;
GRANT SELECT ON TABLE defender.tenant_sync_status TO defender_tenant_reader;


--
-- Name: TABLE version_drift; Type: ACL; Schema: defender; Owner: -
--

GRANT SELECT ON TABLE defender.version_drift TO defender_reader;
GRANT SELECT ON TABLE defender.version_drift TO defender_tenant_reader;


--
-- PostgreSQL database dump complete
--


