-- Per-customer access: a role given tenants with
-- defender.grant_tenant_access(role, tenant) reads, everywhere
-- defender_reader may, only the rows of its tenants; defender_reader, the
-- owner of schema defender and superusers keep seeing every tenant.
--
-- The database enforces it, without giving readers any sight of the
-- storage (no USAGE on defender_storage):
--
-- - defender_storage.tenant_access records which role may see which
--   tenant; defender_storage.visible_tenants(viewer) answers, for a role,
--   NULL (every tenant) or the array of its tenants. It runs as its owner,
--   so that it may read tenant_access for whoever asks.
-- - Every view of schema defender filters its rows by
--   visible_tenants(CURRENT_USER) (inside a view, CURRENT_USER is the user
--   who queries, not the view's owner) and is a security_barrier: a
--   function or operator of the user's WHERE that is not leakproof runs
--   only on the rows that passed the filter.
-- - The tables sync_runs and scan_agent_history get row-level security
--   with the same test (their owner bypasses it: the loader writes them).
-- - scan_agents_as_of and scan_agents_diff run as their owner to read the
--   storage; inside such a function CURRENT_USER is the owner. They become
--   SECURITY INVOKER wrappers that pass their caller (CURRENT_USER, before
--   any switch) to functions of the same names in defender_storage, which
--   run as the owner and keep the tenants that caller may see. Readers
--   may execute those internal functions (the wrappers run as the
--   caller) but cannot name them: without USAGE on defender_storage no
--   query can reach them except through the wrappers.
-- - Granting also makes the role a member of defender_tenant_reader, a
--   NOLOGIN role holding the same SELECT and EXECUTE privileges as
--   defender_reader, created like it (or by an administrator when the
--   migrating user may not create roles).
--
-- Every view keeps its columns and comments; the down migration restores
-- the definitions before this one.

-- +goose Up
CREATE TABLE defender_storage.tenant_access (
    role_oid   oid         NOT NULL,
    role_name  text        NOT NULL,
    tenant_id  text        NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    granted_by text        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT tenant_access_pkey PRIMARY KEY (role_oid, tenant_id),
    CONSTRAINT tenant_access_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants (tenant_id)
);
COMMENT ON TABLE defender_storage.tenant_access IS
    'Which role sees which tenant in the reporting surface (defender.grant_tenant_access and revoke_tenant_access write it). A role with rows here and no other way to see everything reads only the rows of its tenants.';
COMMENT ON COLUMN defender_storage.tenant_access.role_oid IS 'The role (pg_roles.oid). A row counts only while a role of this oid has the name role_name: a role dropped and another created later with the same oid gains nothing.';
COMMENT ON COLUMN defender_storage.tenant_access.role_name IS 'The role''s name when access was granted; renaming a role takes its access away (grant it again).';
COMMENT ON COLUMN defender_storage.tenant_access.tenant_id IS 'The tenant the role may see.';
COMMENT ON COLUMN defender_storage.tenant_access.granted_at IS 'When access was granted.';
COMMENT ON COLUMN defender_storage.tenant_access.granted_by IS 'Who granted it.';

-- +goose StatementBegin
CREATE FUNCTION defender_storage.visible_tenants(viewer name) RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Every view calls it once or twice a query: PL/pgSQL keeps its plans
    -- for the session, and the first test is a simple expression, so that
    -- a call costs microseconds. Running as its owner, CURRENT_USER is the
    -- owner of schema defender (the migrating user, who made both).
    IF pg_catalog.pg_has_role(viewer, CURRENT_USER, 'USAGE')
       OR coalesce(pg_catalog.pg_has_role(viewer, pg_catalog.to_regrole('defender_reader'), 'USAGE'), false) THEN
        RETURN NULL;
    END IF;
    -- A row counts while its role has the name it was granted to: a role
    -- dropped, and another later given its oid, gains nothing.
    RETURN ARRAY(SELECT a.tenant_id
                   FROM defender_storage.tenant_access a
                  WHERE pg_catalog.pg_get_userbyid(a.role_oid) = a.role_name
                    AND pg_catalog.pg_has_role(viewer, a.role_oid, 'USAGE'));
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.visible_tenants(name) IS
    'Runs for readers: the tenants the role viewer may see in the reporting surface: NULL for every tenant (the owner of schema defender and the roles that use its privileges, superusers, members of defender_reader), else the tenants granted to the roles whose privileges viewer uses (tenant_access), maybe none. The views and row-level security policies call it with CURRENT_USER.';

CREATE OR REPLACE VIEW defender.agent_daily_open WITH (security_barrier) AS
SELECT v.*
  FROM (
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
        ((
            CASE
                WHEN (a.active_since <= td.first_synced_at) THEN td.syncs
                ELSE ( SELECT (count(*))::integer AS count
                   FROM defender.sync_runs r
                  WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= a.active_since) AND (r.fetched_at <= t.last_fetched_at)))
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
                 JOIN defender.sync_runs r ON (((r.tenant_id = wt.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= ((defender.utc_day(wt.last_fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text)))))
                 JOIN defender_storage.withheld_deletions w ON ((w.run_id = r.run_id)))
              GROUP BY w.agent_key) wh ON ((wh.agent_key = a.agent_key)))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.fleet_daily WITH (security_barrier) AS
SELECT v.*
  FROM (
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
       FROM (defender_storage.tenant_daily td
         JOIN defender_storage.tenants t ON ((t.tenant_id = td.tenant_id)))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_agent_changes WITH (security_barrier) AS
SELECT v.*
  FROM (
     SELECT v.tenant_id,
        v.agent_id,
        v.valid_from AS changed_at,
        c.attribute,
        c.old_value,
        c.new_value,
        v.opened_by_run_id AS run_id,
        r.previous_sync_at
       FROM (((defender.scan_agent_history v
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
              WHERE ((p_1.agent_key = v.agent_key) AND (p_1.valid_from < v.valid_from))
              ORDER BY p_1.valid_from DESC
             LIMIT 1) p ON (true))
         JOIN defender.sync_runs r ON ((r.run_id = v.opened_by_run_id)))
         CROSS JOIN LATERAL ( SELECT 'agent'::text AS "?column?",
                    CASE
                        WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                        ELSE NULL::text
                    END AS "case",
                    CASE
                        WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                        ELSE 'first seen'::text
                    END AS "case"
              WHERE ((p.valid_to IS NULL) OR (p.valid_to < v.valid_from))
            UNION ALL
             SELECT a.attribute,
                a.old_value,
                a.new_value
               FROM ( VALUES ('machine_id'::text,p.machine_id,v.machine_id), ('computer_dns_name'::text,p.computer_dns_name,v.computer_dns_name), ('assigned_application_id'::text,p.assigned_application_id,v.assigned_application_id), ('scanner_software_version'::text,p.scanner_software_version,v.scanner_software_version), ('mde_client_version'::text,p.mde_client_version,v.mde_client_version)) a(attribute, old_value, new_value)
              WHERE ((p.history_id IS NOT NULL) AND (a.old_value IS DISTINCT FROM a.new_value))
            UNION ALL
             SELECT ('extra.'::text || k.key),
                ((p.extra -> k.key) #>> '{}'::text[]),
                ((v.extra -> k.key) #>> '{}'::text[])
               FROM ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
                    UNION
                     SELECT jsonb_object_keys(v.extra) AS jsonb_object_keys) k(key)
              WHERE ((p.history_id IS NOT NULL) AND (p.extra IS DISTINCT FROM v.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v.extra -> k.key)))) c(attribute, old_value, new_value))
    UNION ALL
     SELECT v.tenant_id,
        v.agent_id,
        v.valid_to AS changed_at,
        'agent'::text AS attribute,
        'active'::text AS old_value,
        'deleted'::text AS new_value,
        v.closed_by_run_id AS run_id,
        r.previous_sync_at
       FROM (defender.scan_agent_history v
         JOIN defender.sync_runs r ON ((r.run_id = v.closed_by_run_id)))
      WHERE ((v.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
               FROM defender.scan_agent_history n
              WHERE ((n.agent_key = v.agent_key) AND (n.valid_from = v.valid_to))))))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_agent_daily WITH (security_barrier) AS
SELECT v.*
  FROM (
     SELECT a.tenant_id,
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
         JOIN defender_storage.agent_state a ON ((a.agent_key = o.agent_key)))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_agent_observations WITH (security_barrier) AS
SELECT v.*
  FROM (
     SELECT a.tenant_id,
        a.agent_id,
        r.run_id,
        r.fetched_at AS observed_at,
        x.last_seen,
        x.last_command_execution_at
       FROM (((defender.sync_runs r
         CROSS JOIN LATERAL ( SELECT o_1.agent_nos,
                o_1.last_seen,
                o_1.last_command_execution_at
               FROM defender_storage.observation o_1
              WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
             LIMIT 1) o)
         CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
         JOIN defender_storage.agent_state a ON (((a.tenant_id = r.tenant_id) AND (a.agent_no = x.agent_no))))
      WHERE ((r.resource = 'agents'::text) AND (r.status = 'succeeded'::text))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_agents WITH (security_barrier) AS
SELECT v.*
  FROM (
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
            CASE
                WHEN ((a.deleted_at IS NULL) AND (NOT (t.last_run_withheld AND (EXISTS ( SELECT
                   FROM defender_storage.withheld_deletions w
                  WHERE ((w.agent_key = a.agent_key) AND (w.run_id = t.last_run_id))))))) THEN t.last_fetched_at
                ELSE ( SELECT r.fetched_at
                   FROM defender.sync_runs r
                  WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.run_id < COALESCE(a.deleted_by_run_id, '9223372036854775807'::bigint)) AND (NOT (EXISTS ( SELECT
                           FROM defender_storage.withheld_deletions w
                          WHERE ((w.agent_key = a.agent_key) AND (w.run_id = r.run_id))))))
                  ORDER BY r.run_id DESC
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
               FROM defender_storage.tenants t_1) t ON ((t.tenant_id = a.tenant_id)))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_coverage WITH (security_barrier) AS
SELECT v.*
  FROM (
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
        ( SELECT (count(*))::integer AS count
               FROM defender_storage.session_result s
              WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at > COALESCE(streak.scanned_at, '-infinity'::timestamp with time zone)) AND (defender.scan_outcome(s.status) = 'failure'::text))) AS consecutive_failures,
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
       FROM (((((((((defender_storage.definition_state d
         LEFT JOIN defender_storage.tenants t ON ((t.tenant_id = d.tenant_id)))
         LEFT JOIN defender_storage.agent_state a ON (((a.tenant_id = d.tenant_id) AND (a.agent_id = d.scanner_agent_id))))
         LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
         LEFT JOIN LATERAL ( SELECT s.scanned_at,
                s.status
               FROM defender_storage.session_result s
              WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL))
              ORDER BY s.scanned_at DESC
             LIMIT 1) latest ON (true))
         LEFT JOIN LATERAL ( SELECT s.scanned_at
               FROM defender_storage.session_result s
              WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'success'::text))
              ORDER BY s.scanned_at DESC
             LIMIT 1) ok ON (true))
         LEFT JOIN LATERAL ( SELECT s.scanned_at
               FROM defender_storage.session_result s
              WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'failure'::text))
              ORDER BY s.scanned_at DESC
             LIMIT 1) bad ON (true))
         LEFT JOIN LATERAL ( SELECT s.scanned_at
               FROM defender_storage.session_result s
              WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = ANY (ARRAY['success'::text, 'partial'::text])))
              ORDER BY s.scanned_at DESC
             LIMIT 1) streak ON (true))
         LEFT JOIN LATERAL ( SELECT r.run_id,
                r.fetched_at
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'definitions'::text) AND (r.status = 'succeeded'::text))
              ORDER BY r.fetched_at DESC
             LIMIT 1) dr ON (true))
         LEFT JOIN LATERAL ( SELECT r.run_id,
                r.fetched_at
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'history'::text) AND (r.status = 'succeeded'::text))
              ORDER BY r.fetched_at DESC
             LIMIT 1) hr ON (true))
      WHERE ((d.deleted_at IS NULL) AND d.is_active)
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_definition_changes WITH (security_barrier) AS
SELECT v.*
  FROM (
     SELECT d.tenant_id,
        d.definition_id,
        v.valid_from AS changed_at,
        c.attribute,
        c.old_value,
        c.new_value,
        v.opened_by_run_id AS run_id,
        r.previous_sync_at
       FROM ((((defender_storage.definition_version v
         JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
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
              WHERE ((p_1.definition_key = v.definition_key) AND (p_1.valid_from < v.valid_from))
              ORDER BY p_1.valid_from DESC
             LIMIT 1) p ON (true))
         CROSS JOIN LATERAL ( VALUES ('scan_name'::text,p.scan_name,v.scan_name), ('scan_type'::text,p.scan_type,v.scan_type), ('is_active'::text,(p.is_active)::text,(v.is_active)::text), ('interval_hours'::text,(p.interval_hours)::text,(v.interval_hours)::text), ('target'::text,p.target,v.target), ('target_type'::text,p.target_type,v.target_type), ('scanner_agent_id'::text,p.scanner_agent_id,v.scanner_agent_id), ('auth_variant'::text,p.auth_variant,v.auth_variant), ('auth_type'::text,p.auth_type,v.auth_type), ('created_by'::text,p.created_by,v.created_by)) c(attribute, old_value, new_value))
         JOIN defender.sync_runs r ON ((r.run_id = v.opened_by_run_id)))
      WHERE (c.old_value IS DISTINCT FROM c.new_value)
    UNION ALL
     SELECT d.tenant_id,
        d.definition_id,
        v.valid_from AS changed_at,
        ('extra.'::text || k.key) AS attribute,
        ((p.extra -> k.key) #>> '{}'::text[]) AS old_value,
        ((v.extra -> k.key) #>> '{}'::text[]) AS new_value,
        v.opened_by_run_id AS run_id,
        r.previous_sync_at
       FROM ((((defender_storage.definition_version v
         JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
         JOIN LATERAL ( SELECT p_1.extra
               FROM defender_storage.definition_version p_1
              WHERE ((p_1.definition_key = v.definition_key) AND (p_1.valid_from < v.valid_from))
              ORDER BY p_1.valid_from DESC
             LIMIT 1) p ON (true))
         CROSS JOIN LATERAL ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
            UNION
             SELECT jsonb_object_keys(v.extra) AS jsonb_object_keys) k(key))
         JOIN defender.sync_runs r ON ((r.run_id = v.opened_by_run_id)))
      WHERE ((p.extra IS DISTINCT FROM v.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v.extra -> k.key)))
    UNION ALL
     SELECT d.tenant_id,
        d.definition_id,
        v.valid_from AS changed_at,
        'definition'::text AS attribute,
            CASE
                WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                ELSE NULL::text
            END AS old_value,
            CASE
                WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                ELSE 'first seen'::text
            END AS new_value,
        v.opened_by_run_id AS run_id,
        r.previous_sync_at
       FROM (((defender_storage.definition_version v
         JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
         LEFT JOIN LATERAL ( SELECT p_1.valid_to
               FROM defender_storage.definition_version p_1
              WHERE ((p_1.definition_key = v.definition_key) AND (p_1.valid_from < v.valid_from))
              ORDER BY p_1.valid_from DESC
             LIMIT 1) p ON (true))
         JOIN defender.sync_runs r ON ((r.run_id = v.opened_by_run_id)))
      WHERE ((p.valid_to IS NULL) OR (p.valid_to < v.valid_from))
    UNION ALL
     SELECT d.tenant_id,
        d.definition_id,
        v.valid_to AS changed_at,
        'definition'::text AS attribute,
        'listed'::text AS old_value,
        'deleted'::text AS new_value,
        v.closed_by_run_id AS run_id,
        r.previous_sync_at
       FROM ((defender_storage.definition_version v
         JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
         JOIN defender.sync_runs r ON ((r.run_id = v.closed_by_run_id)))
      WHERE ((v.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
               FROM defender_storage.definition_version n
              WHERE ((n.definition_key = v.definition_key) AND (n.valid_from = v.valid_to))))))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_definition_history WITH (security_barrier) AS
SELECT v.*
  FROM (
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
       FROM (defender_storage.definition_version v
         JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_definitions WITH (security_barrier) AS
SELECT v.*
  FROM (
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
       FROM (defender_storage.definition_state d
         LEFT JOIN LATERAL ( SELECT r_1.run_id,
                r_1.fetched_at
               FROM defender.sync_runs r_1
              WHERE ((r_1.tenant_id = d.tenant_id) AND (r_1.resource = 'definitions'::text) AND (r_1.status = 'succeeded'::text) AND (r_1.fetched_at < COALESCE(d.deleted_at, 'infinity'::timestamp with time zone)) AND (NOT (EXISTS ( SELECT
                       FROM defender_storage.definition_withheld w
                      WHERE ((w.definition_key = d.definition_key) AND (w.run_id = r_1.run_id))))))
              ORDER BY r_1.fetched_at DESC
             LIMIT 1) r ON (true))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_sessions WITH (security_barrier) AS
SELECT v.*
  FROM (
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
        (s.targets_run_id IS NOT NULL) AS targets_recorded,
        s.recorded_at,
        s.recorded_by_run_id AS run_id,
        s.updated_at,
        s.updated_by_run_id
       FROM (defender_storage.session_result s
         LEFT JOIN defender_storage.definition_state d ON (((d.tenant_id = s.tenant_id) AND (d.definition_id = s.definition_id))))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_target_status WITH (security_barrier) AS
SELECT v.*
  FROM (
     WITH per_target AS (
             SELECT c.tenant_id,
                c.target,
                max(c.last_success_at) AS last_success_at,
                array_agg(c.definition_id ORDER BY c.definition_id) FILTER (WHERE ((d.deleted_at IS NULL) AND d.is_active)) AS covering_definitions,
                (array_agg(ARRAY[c.latest_session_key, (c.latest_ordinal)::bigint] ORDER BY c.latest_scanned_at DESC NULLS LAST, c.latest_session_key DESC))[1:1] AS latest
               FROM (defender_storage.target_coverage c
                 LEFT JOIN defender_storage.definition_state d ON (((d.tenant_id = c.tenant_id) AND (d.definition_id = c.definition_id))))
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
        COALESCE(p.covering_definitions, '{}'::text[]) AS covering_definitions,
        s.targets_run_id AS as_of_run_id
       FROM ((per_target p
         JOIN defender_storage.session_result s ON ((s.session_key = p.latest[1][1])))
         JOIN defender_storage.target_result t ON (((t.session_key = p.latest[1][1]) AND (t.ordinal = p.latest[1][2]))))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.scan_targets WITH (security_barrier) AS
SELECT v.*
  FROM (
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
       FROM (defender_storage.target_result t
         JOIN defender_storage.session_result s ON ((s.session_key = t.session_key)))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.tenant_sync_status WITH (security_barrier) AS
SELECT v.*
  FROM (
     SELECT t.tenant_id,
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
         LEFT JOIN LATERAL ( SELECT r.run_id,
                r.status,
                r.finished_at
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = t.tenant_id) AND (r.resource = 'agents'::text) AND (r.status <> 'running'::text))
              ORDER BY r.run_id DESC
             LIMIT 1) latest ON (true))
         LEFT JOIN LATERAL ( SELECT r.run_id,
                r.finished_at,
                r.error
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = t.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'failed'::text))
              ORDER BY r.run_id DESC
             LIMIT 1) failure ON (true))
         LEFT JOIN defender.sync_runs success ON ((success.run_id = t.last_run_id)))
         LEFT JOIN defender.sync_runs running ON (((running.tenant_id = t.tenant_id) AND (running.resource = 'agents'::text) AND (running.status = 'running'::text))))
         LEFT JOIN defender_storage.tenant_daily fleet ON (((fleet.tenant_id = t.tenant_id) AND (fleet.day = defender.utc_day(t.last_fetched_at)))))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

CREATE OR REPLACE VIEW defender.version_drift WITH (security_barrier) AS
SELECT v.*
  FROM (
     WITH active AS (
             SELECT a_1.tenant_id,
                a_1.agent_id,
                a_1.computer_dns_name,
                a_1.mde_client_version,
                a_1.scanner_software_version
               FROM defender_storage.agent_state a_1
              WHERE (a_1.deleted_at IS NULL)
            ), spellings AS MATERIALIZED (
             SELECT DISTINCT active.tenant_id,
                'mde'::text AS kind,
                active.mde_client_version AS version
               FROM active
            UNION
             SELECT DISTINCT active.tenant_id,
                'scanner'::text,
                active.scanner_software_version
               FROM active
            ), keyed AS (
             SELECT s_1.tenant_id,
                s_1.kind,
                s_1.version,
                defender.version_key(s_1.version) AS key
               FROM spellings s_1
            ), mde AS (
             SELECT v.tenant_id,
                v.version,
                (dense_rank() OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC) - 1) AS behind,
                first_value(v.version) OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC, (length(v.version)) DESC, v.version) AS newest
               FROM keyed v
              WHERE ((v.kind = 'mde'::text) AND (v.key IS NOT NULL))
            ), scanner AS (
             SELECT v.tenant_id,
                v.version,
                (dense_rank() OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC) - 1) AS behind,
                first_value(v.version) OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC, (length(v.version)) DESC, v.version) AS newest
               FROM keyed v
              WHERE ((v.kind = 'scanner'::text) AND (v.key IS NOT NULL))
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
       FROM ((((active a
         LEFT JOIN mde m ON (((m.tenant_id = a.tenant_id) AND (m.version = a.mde_client_version))))
         LEFT JOIN ( SELECT DISTINCT mde.tenant_id,
                mde.newest
               FROM mde) mn ON ((mn.tenant_id = a.tenant_id)))
         LEFT JOIN scanner s ON (((s.tenant_id = a.tenant_id) AND (s.version = a.scanner_software_version))))
         LEFT JOIN ( SELECT DISTINCT scanner.tenant_id,
                scanner.newest
               FROM scanner) sn ON ((sn.tenant_id = a.tenant_id)))
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

ALTER TABLE defender.sync_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible_tenants ON defender.sync_runs FOR SELECT
    USING ((SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL
           OR tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]));
COMMENT ON POLICY visible_tenants ON defender.sync_runs IS
    'A reader sees the runs of the tenants it may see (defender_storage.visible_tenants); the owner bypasses row-level security.';
ALTER TABLE defender.scan_agent_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible_tenants ON defender.scan_agent_history FOR SELECT
    USING ((SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL
           OR tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]));
COMMENT ON POLICY visible_tenants ON defender.scan_agent_history IS
    'A reader sees the versions of the agents of the tenants it may see (defender_storage.visible_tenants); the owner bypasses row-level security.';

-- +goose StatementBegin
CREATE FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    BEGIN ATOMIC
 WITH s AS (
          SELECT t.tenant_id,
             r.run_id,
             r.fetched_at,
             (r.run_id = t.last_run_id) AS latest,
             defender.utc_day(r.fetched_at) AS day,
             ((defender.utc_day(r.fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text) AS day_start,
             (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE (w.run_id = r.run_id))) AS withheld
            FROM (defender_storage.tenants t
              CROSS JOIN LATERAL ( SELECT r_1.run_id,
                     r_1.fetched_at
                    FROM defender.sync_runs r_1
                   WHERE ((r_1.tenant_id = t.tenant_id) AND (r_1.resource = 'agents'::text) AND (r_1.status = 'succeeded'::text) AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
           WHERE ((SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer)) IS NULL OR t.tenant_id = ANY ((SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer))::text[]))
             AND (scan_agents_as_of.tenant IS NULL OR t.tenant_id = lower(scan_agents_as_of.tenant))
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
          SELECT s.run_id,
             s.fetched_at,
             s.day,
             s.day_start,
             a.tenant_id,
             h.agent_key,
             a.agent_no,
             h.agent_id,
             h.machine_id,
             h.computer_dns_name,
             h.assigned_application_id,
             h.scanner_software_version,
             h.mde_client_version,
             h.extra,
             h.valid_to
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.first_seen_at <= s.fetched_at) AND ((a.deleted_at IS NULL) OR (a.deleted_at > s.fetched_at)))))
              CROSS JOIN LATERAL ( SELECT h_1.agent_key,
                     h_1.agent_id,
                     h_1.machine_id,
                     h_1.computer_dns_name,
                     h_1.assigned_application_id,
                     h_1.scanner_software_version,
                     h_1.mde_client_version,
                     h_1.extra,
                     h_1.valid_to
                    FROM defender.scan_agent_history h_1
                   WHERE ((h_1.agent_key = a.agent_key) AND (h_1.valid_from <= s.fetched_at))
                   ORDER BY h_1.valid_from DESC
                  LIMIT 1) h)
           WHERE ((NOT s.latest) AND ((h.valid_to IS NULL) OR (h.valid_to > s.fetched_at)) AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = h.agent_key) AND (w.run_id = s.run_id)))))))
         ), day_obs AS MATERIALIZED (
          SELECT DISTINCT ON (r.tenant_id, x.agent_no) r.tenant_id,
             x.agent_no,
             x.last_seen,
             x.last_command_execution_at
            FROM (((s
              JOIN defender.sync_runs r ON (((r.tenant_id = s.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= s.day_start) AND (r.fetched_at <= s.fetched_at))))
              CROSS JOIN LATERAL ( SELECT o_1.observed_at,
                     o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o)
              CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
           WHERE (NOT s.latest)
           ORDER BY r.tenant_id, x.agent_no, o.observed_at DESC
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
             WHEN (d.agent_no IS NOT NULL) THEN d.last_seen
             ELSE p.last_seen
         END AS last_seen,
         CASE
             WHEN (d.agent_no IS NOT NULL) THEN d.last_command_execution_at
             ELSE p.last_command_execution_at
         END AS last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM ((versions v
      LEFT JOIN day_obs d ON (((d.tenant_id = v.tenant_id) AND (d.agent_no = v.agent_no))))
      LEFT JOIN LATERAL ( SELECT ad.last_seen,
             ad.last_command_execution_at
            FROM defender_storage.agent_daily ad
           WHERE ((d.agent_no IS NULL) AND (ad.agent_key = v.agent_key) AND (ad.day < v.day))
           ORDER BY ad.day DESC
          LIMIT 1) p ON (true));
END;
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.scan_agents_as_of(timestamp with time zone, name, text) IS
    'Runs for readers: defender.scan_agents_as_of for the tenants the role viewer may see (of them, tenant alone when given, any case); runs as its owner to read the storage. Only the wrapper calls it (readers cannot name it), with its caller as viewer.';

-- +goose StatementBegin
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
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.from_at
                              ORDER BY r.fetched_at DESC LIMIT 1) f ON true
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
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
COMMENT ON FUNCTION defender_storage.scan_agents_diff(timestamp with time zone, timestamp with time zone, text, name) IS
    'Runs for readers: defender.scan_agents_diff for the tenants the role viewer may see; runs as its owner to read the storage. Only the wrapper calls it (readers cannot name it), with its caller as viewer.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_as_of(at timestamp with time zone) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- SECURITY INVOKER: CURRENT_USER is the caller.
    SELECT a.tenant_id, a.agent_id, a.machine_id, a.computer_dns_name, a.assigned_application_id,
           a.scanner_software_version, a.mde_client_version, a.last_seen, a.last_command_execution_at,
           a.extra, a.as_of_run_id, a.as_of_fetched_at
      FROM defender_storage.scan_agents_as_of(scan_agents_as_of.at, CURRENT_USER, NULL) a;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text DEFAULT NULL::text) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- SECURITY INVOKER: CURRENT_USER is the caller.
    SELECT d.tenant_id, d.agent_id, d.change, d.changed_columns, d.old_machine_id, d.new_machine_id,
           d.old_computer_dns_name, d.new_computer_dns_name, d.old_assigned_application_id,
           d.new_assigned_application_id, d.old_scanner_software_version, d.new_scanner_software_version,
           d.old_mde_client_version, d.new_mde_client_version, d.old_extra, d.new_extra,
           d.from_run_id, d.from_fetched_at, d.to_run_id, d.to_fetched_at
      FROM defender_storage.scan_agents_diff(scan_agents_diff.from_at, scan_agents_diff.to_at, scan_agents_diff.tenant, CURRENT_USER) d;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.grant_reader_access() RETURNS void
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
-- +goose StatementEnd
COMMENT ON FUNCTION defender.grant_reader_access() IS
    'Internal: grants defender_reader and defender_tenant_reader what they may read (USAGE on schema defender, SELECT on its views and tables, EXECUTE on its documented functions and on the functions of defender_storage they run through, which they cannot name), creating the roles when allowed. Migrations call it after creating objects; an administrator may call it after creating the roles by hand.';

-- +goose StatementBegin
CREATE FUNCTION defender.grant_tenant_access(role text, tenant text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
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
-- +goose StatementEnd
COMMENT ON FUNCTION defender.grant_tenant_access(text, text) IS
    'Owner only: lets the role (its name as stored) see the tenant (any case) in every view, table and function of the reporting surface, and no tenant it was not given; makes it a member of defender_tenant_reader for the privileges to query. Example: SELECT defender.grant_tenant_access(''contoso_analysts'', ''contoso.onmicrosoft.com'').';
REVOKE ALL ON FUNCTION defender.grant_tenant_access(text, text) FROM PUBLIC;

-- +goose StatementBegin
CREATE FUNCTION defender.revoke_tenant_access(role text, tenant text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
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
-- +goose StatementEnd
COMMENT ON FUNCTION defender.revoke_tenant_access(text, text) IS
    'Owner only: takes back what grant_tenant_access gave: the role no longer sees the tenant (it keeps its membership of defender_tenant_reader, through which it sees only the tenants still given to it). Example: SELECT defender.revoke_tenant_access(''contoso_analysts'', ''contoso.onmicrosoft.com'').';
REVOKE ALL ON FUNCTION defender.revoke_tenant_access(text, text) FROM PUBLIC;

SELECT defender.grant_reader_access();

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_as_of(at timestamp with time zone) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    BEGIN ATOMIC
 WITH s AS (
          SELECT t.tenant_id,
             r.run_id,
             r.fetched_at,
             (r.run_id = t.last_run_id) AS latest,
             defender.utc_day(r.fetched_at) AS day,
             ((defender.utc_day(r.fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text) AS day_start,
             (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE (w.run_id = r.run_id))) AS withheld
            FROM (defender_storage.tenants t
              CROSS JOIN LATERAL ( SELECT r_1.run_id,
                     r_1.fetched_at
                    FROM defender.sync_runs r_1
                   WHERE ((r_1.tenant_id = t.tenant_id) AND (r_1.resource = 'agents'::text) AND (r_1.status = 'succeeded'::text) AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
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
          SELECT s.run_id,
             s.fetched_at,
             s.day,
             s.day_start,
             a.tenant_id,
             h.agent_key,
             a.agent_no,
             h.agent_id,
             h.machine_id,
             h.computer_dns_name,
             h.assigned_application_id,
             h.scanner_software_version,
             h.mde_client_version,
             h.extra,
             h.valid_to
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.first_seen_at <= s.fetched_at) AND ((a.deleted_at IS NULL) OR (a.deleted_at > s.fetched_at)))))
              CROSS JOIN LATERAL ( SELECT h_1.agent_key,
                     h_1.agent_id,
                     h_1.machine_id,
                     h_1.computer_dns_name,
                     h_1.assigned_application_id,
                     h_1.scanner_software_version,
                     h_1.mde_client_version,
                     h_1.extra,
                     h_1.valid_to
                    FROM defender.scan_agent_history h_1
                   WHERE ((h_1.agent_key = a.agent_key) AND (h_1.valid_from <= s.fetched_at))
                   ORDER BY h_1.valid_from DESC
                  LIMIT 1) h)
           WHERE ((NOT s.latest) AND ((h.valid_to IS NULL) OR (h.valid_to > s.fetched_at)) AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = h.agent_key) AND (w.run_id = s.run_id)))))))
         ), day_obs AS MATERIALIZED (
          SELECT DISTINCT ON (r.tenant_id, x.agent_no) r.tenant_id,
             x.agent_no,
             x.last_seen,
             x.last_command_execution_at
            FROM (((s
              JOIN defender.sync_runs r ON (((r.tenant_id = s.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= s.day_start) AND (r.fetched_at <= s.fetched_at))))
              CROSS JOIN LATERAL ( SELECT o_1.observed_at,
                     o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o)
              CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
           WHERE (NOT s.latest)
           ORDER BY r.tenant_id, x.agent_no, o.observed_at DESC
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
             WHEN (d.agent_no IS NOT NULL) THEN d.last_seen
             ELSE p.last_seen
         END AS last_seen,
         CASE
             WHEN (d.agent_no IS NOT NULL) THEN d.last_command_execution_at
             ELSE p.last_command_execution_at
         END AS last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM ((versions v
      LEFT JOIN day_obs d ON (((d.tenant_id = v.tenant_id) AND (d.agent_no = v.agent_no))))
      LEFT JOIN LATERAL ( SELECT ad.last_seen,
             ad.last_command_execution_at
            FROM defender_storage.agent_daily ad
           WHERE ((d.agent_no IS NULL) AND (ad.agent_key = v.agent_key) AND (ad.day < v.day))
           ORDER BY ad.day DESC
          LIMIT 1) p ON (true));
END;
-- +goose StatementEnd
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
DROP FUNCTION defender_storage.scan_agents_diff(timestamp with time zone, timestamp with time zone, text, name);
DROP FUNCTION defender_storage.scan_agents_as_of(timestamp with time zone, name, text);

DROP POLICY visible_tenants ON defender.scan_agent_history;
ALTER TABLE defender.scan_agent_history DISABLE ROW LEVEL SECURITY;
DROP POLICY visible_tenants ON defender.sync_runs;
ALTER TABLE defender.sync_runs DISABLE ROW LEVEL SECURITY;

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
    ((
        CASE
            WHEN (a.active_since <= td.first_synced_at) THEN td.syncs
            ELSE ( SELECT (count(*))::integer AS count
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= a.active_since) AND (r.fetched_at <= t.last_fetched_at)))
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
             JOIN defender.sync_runs r ON (((r.tenant_id = wt.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= ((defender.utc_day(wt.last_fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text)))))
             JOIN defender_storage.withheld_deletions w ON ((w.run_id = r.run_id)))
          GROUP BY w.agent_key) wh ON ((wh.agent_key = a.agent_key)));

CREATE OR REPLACE VIEW defender.fleet_daily AS
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
   FROM (defender_storage.tenant_daily td
     JOIN defender_storage.tenants t ON ((t.tenant_id = td.tenant_id)));

CREATE OR REPLACE VIEW defender.scan_agent_changes AS
 SELECT v.tenant_id,
    v.agent_id,
    v.valid_from AS changed_at,
    c.attribute,
    c.old_value,
    c.new_value,
    v.opened_by_run_id AS run_id,
    r.previous_sync_at
   FROM (((defender.scan_agent_history v
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
          WHERE ((p_1.agent_key = v.agent_key) AND (p_1.valid_from < v.valid_from))
          ORDER BY p_1.valid_from DESC
         LIMIT 1) p ON (true))
     JOIN defender.sync_runs r ON ((r.run_id = v.opened_by_run_id)))
     CROSS JOIN LATERAL ( SELECT 'agent'::text AS "?column?",
                CASE
                    WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                    ELSE NULL::text
                END AS "case",
                CASE
                    WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                    ELSE 'first seen'::text
                END AS "case"
          WHERE ((p.valid_to IS NULL) OR (p.valid_to < v.valid_from))
        UNION ALL
         SELECT a.attribute,
            a.old_value,
            a.new_value
           FROM ( VALUES ('machine_id'::text,p.machine_id,v.machine_id), ('computer_dns_name'::text,p.computer_dns_name,v.computer_dns_name), ('assigned_application_id'::text,p.assigned_application_id,v.assigned_application_id), ('scanner_software_version'::text,p.scanner_software_version,v.scanner_software_version), ('mde_client_version'::text,p.mde_client_version,v.mde_client_version)) a(attribute, old_value, new_value)
          WHERE ((p.history_id IS NOT NULL) AND (a.old_value IS DISTINCT FROM a.new_value))
        UNION ALL
         SELECT ('extra.'::text || k.key),
            ((p.extra -> k.key) #>> '{}'::text[]),
            ((v.extra -> k.key) #>> '{}'::text[])
           FROM ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
                UNION
                 SELECT jsonb_object_keys(v.extra) AS jsonb_object_keys) k(key)
          WHERE ((p.history_id IS NOT NULL) AND (p.extra IS DISTINCT FROM v.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v.extra -> k.key)))) c(attribute, old_value, new_value))
UNION ALL
 SELECT v.tenant_id,
    v.agent_id,
    v.valid_to AS changed_at,
    'agent'::text AS attribute,
    'active'::text AS old_value,
    'deleted'::text AS new_value,
    v.closed_by_run_id AS run_id,
    r.previous_sync_at
   FROM (defender.scan_agent_history v
     JOIN defender.sync_runs r ON ((r.run_id = v.closed_by_run_id)))
  WHERE ((v.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
           FROM defender.scan_agent_history n
          WHERE ((n.agent_key = v.agent_key) AND (n.valid_from = v.valid_to))))));

CREATE OR REPLACE VIEW defender.scan_agent_daily AS
 SELECT a.tenant_id,
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
     JOIN defender_storage.agent_state a ON ((a.agent_key = o.agent_key)));

CREATE OR REPLACE VIEW defender.scan_agent_observations AS
 SELECT a.tenant_id,
    a.agent_id,
    r.run_id,
    r.fetched_at AS observed_at,
    x.last_seen,
    x.last_command_execution_at
   FROM (((defender.sync_runs r
     CROSS JOIN LATERAL ( SELECT o_1.agent_nos,
            o_1.last_seen,
            o_1.last_command_execution_at
           FROM defender_storage.observation o_1
          WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
         LIMIT 1) o)
     CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
     JOIN defender_storage.agent_state a ON (((a.tenant_id = r.tenant_id) AND (a.agent_no = x.agent_no))))
  WHERE ((r.resource = 'agents'::text) AND (r.status = 'succeeded'::text));

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
        CASE
            WHEN ((a.deleted_at IS NULL) AND (NOT (t.last_run_withheld AND (EXISTS ( SELECT
               FROM defender_storage.withheld_deletions w
              WHERE ((w.agent_key = a.agent_key) AND (w.run_id = t.last_run_id))))))) THEN t.last_fetched_at
            ELSE ( SELECT r.fetched_at
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.run_id < COALESCE(a.deleted_by_run_id, '9223372036854775807'::bigint)) AND (NOT (EXISTS ( SELECT
                       FROM defender_storage.withheld_deletions w
                      WHERE ((w.agent_key = a.agent_key) AND (w.run_id = r.run_id))))))
              ORDER BY r.run_id DESC
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
           FROM defender_storage.tenants t_1) t ON ((t.tenant_id = a.tenant_id)));

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
    ( SELECT (count(*))::integer AS count
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at > COALESCE(streak.scanned_at, '-infinity'::timestamp with time zone)) AND (defender.scan_outcome(s.status) = 'failure'::text))) AS consecutive_failures,
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
   FROM (((((((((defender_storage.definition_state d
     LEFT JOIN defender_storage.tenants t ON ((t.tenant_id = d.tenant_id)))
     LEFT JOIN defender_storage.agent_state a ON (((a.tenant_id = d.tenant_id) AND (a.agent_id = d.scanner_agent_id))))
     LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
     LEFT JOIN LATERAL ( SELECT s.scanned_at,
            s.status
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL))
          ORDER BY s.scanned_at DESC
         LIMIT 1) latest ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'success'::text))
          ORDER BY s.scanned_at DESC
         LIMIT 1) ok ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'failure'::text))
          ORDER BY s.scanned_at DESC
         LIMIT 1) bad ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = ANY (ARRAY['success'::text, 'partial'::text])))
          ORDER BY s.scanned_at DESC
         LIMIT 1) streak ON (true))
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.fetched_at
           FROM defender.sync_runs r
          WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'definitions'::text) AND (r.status = 'succeeded'::text))
          ORDER BY r.fetched_at DESC
         LIMIT 1) dr ON (true))
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.fetched_at
           FROM defender.sync_runs r
          WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'history'::text) AND (r.status = 'succeeded'::text))
          ORDER BY r.fetched_at DESC
         LIMIT 1) hr ON (true))
  WHERE ((d.deleted_at IS NULL) AND d.is_active);

CREATE OR REPLACE VIEW defender.scan_definition_changes AS
 SELECT d.tenant_id,
    d.definition_id,
    v.valid_from AS changed_at,
    c.attribute,
    c.old_value,
    c.new_value,
    v.opened_by_run_id AS run_id,
    r.previous_sync_at
   FROM ((((defender_storage.definition_version v
     JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
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
          WHERE ((p_1.definition_key = v.definition_key) AND (p_1.valid_from < v.valid_from))
          ORDER BY p_1.valid_from DESC
         LIMIT 1) p ON (true))
     CROSS JOIN LATERAL ( VALUES ('scan_name'::text,p.scan_name,v.scan_name), ('scan_type'::text,p.scan_type,v.scan_type), ('is_active'::text,(p.is_active)::text,(v.is_active)::text), ('interval_hours'::text,(p.interval_hours)::text,(v.interval_hours)::text), ('target'::text,p.target,v.target), ('target_type'::text,p.target_type,v.target_type), ('scanner_agent_id'::text,p.scanner_agent_id,v.scanner_agent_id), ('auth_variant'::text,p.auth_variant,v.auth_variant), ('auth_type'::text,p.auth_type,v.auth_type), ('created_by'::text,p.created_by,v.created_by)) c(attribute, old_value, new_value))
     JOIN defender.sync_runs r ON ((r.run_id = v.opened_by_run_id)))
  WHERE (c.old_value IS DISTINCT FROM c.new_value)
UNION ALL
 SELECT d.tenant_id,
    d.definition_id,
    v.valid_from AS changed_at,
    ('extra.'::text || k.key) AS attribute,
    ((p.extra -> k.key) #>> '{}'::text[]) AS old_value,
    ((v.extra -> k.key) #>> '{}'::text[]) AS new_value,
    v.opened_by_run_id AS run_id,
    r.previous_sync_at
   FROM ((((defender_storage.definition_version v
     JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
     JOIN LATERAL ( SELECT p_1.extra
           FROM defender_storage.definition_version p_1
          WHERE ((p_1.definition_key = v.definition_key) AND (p_1.valid_from < v.valid_from))
          ORDER BY p_1.valid_from DESC
         LIMIT 1) p ON (true))
     CROSS JOIN LATERAL ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
        UNION
         SELECT jsonb_object_keys(v.extra) AS jsonb_object_keys) k(key))
     JOIN defender.sync_runs r ON ((r.run_id = v.opened_by_run_id)))
  WHERE ((p.extra IS DISTINCT FROM v.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v.extra -> k.key)))
UNION ALL
 SELECT d.tenant_id,
    d.definition_id,
    v.valid_from AS changed_at,
    'definition'::text AS attribute,
        CASE
            WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
            ELSE NULL::text
        END AS old_value,
        CASE
            WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
            ELSE 'first seen'::text
        END AS new_value,
    v.opened_by_run_id AS run_id,
    r.previous_sync_at
   FROM (((defender_storage.definition_version v
     JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
     LEFT JOIN LATERAL ( SELECT p_1.valid_to
           FROM defender_storage.definition_version p_1
          WHERE ((p_1.definition_key = v.definition_key) AND (p_1.valid_from < v.valid_from))
          ORDER BY p_1.valid_from DESC
         LIMIT 1) p ON (true))
     JOIN defender.sync_runs r ON ((r.run_id = v.opened_by_run_id)))
  WHERE ((p.valid_to IS NULL) OR (p.valid_to < v.valid_from))
UNION ALL
 SELECT d.tenant_id,
    d.definition_id,
    v.valid_to AS changed_at,
    'definition'::text AS attribute,
    'listed'::text AS old_value,
    'deleted'::text AS new_value,
    v.closed_by_run_id AS run_id,
    r.previous_sync_at
   FROM ((defender_storage.definition_version v
     JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)))
     JOIN defender.sync_runs r ON ((r.run_id = v.closed_by_run_id)))
  WHERE ((v.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
           FROM defender_storage.definition_version n
          WHERE ((n.definition_key = v.definition_key) AND (n.valid_from = v.valid_to))))));

CREATE OR REPLACE VIEW defender.scan_definition_history AS
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
   FROM (defender_storage.definition_version v
     JOIN defender_storage.definition_state d ON ((d.definition_key = v.definition_key)));

CREATE OR REPLACE VIEW defender.scan_definitions AS
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
   FROM (defender_storage.definition_state d
     LEFT JOIN LATERAL ( SELECT r_1.run_id,
            r_1.fetched_at
           FROM defender.sync_runs r_1
          WHERE ((r_1.tenant_id = d.tenant_id) AND (r_1.resource = 'definitions'::text) AND (r_1.status = 'succeeded'::text) AND (r_1.fetched_at < COALESCE(d.deleted_at, 'infinity'::timestamp with time zone)) AND (NOT (EXISTS ( SELECT
                   FROM defender_storage.definition_withheld w
                  WHERE ((w.definition_key = d.definition_key) AND (w.run_id = r_1.run_id))))))
          ORDER BY r_1.fetched_at DESC
         LIMIT 1) r ON (true));

CREATE OR REPLACE VIEW defender.scan_sessions AS
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
    (s.targets_run_id IS NOT NULL) AS targets_recorded,
    s.recorded_at,
    s.recorded_by_run_id AS run_id,
    s.updated_at,
    s.updated_by_run_id
   FROM (defender_storage.session_result s
     LEFT JOIN defender_storage.definition_state d ON (((d.tenant_id = s.tenant_id) AND (d.definition_id = s.definition_id))));

CREATE OR REPLACE VIEW defender.scan_target_status AS
 WITH per_target AS (
         SELECT c.tenant_id,
            c.target,
            max(c.last_success_at) AS last_success_at,
            array_agg(c.definition_id ORDER BY c.definition_id) FILTER (WHERE ((d.deleted_at IS NULL) AND d.is_active)) AS covering_definitions,
            (array_agg(ARRAY[c.latest_session_key, (c.latest_ordinal)::bigint] ORDER BY c.latest_scanned_at DESC NULLS LAST, c.latest_session_key DESC))[1:1] AS latest
           FROM (defender_storage.target_coverage c
             LEFT JOIN defender_storage.definition_state d ON (((d.tenant_id = c.tenant_id) AND (d.definition_id = c.definition_id))))
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
    COALESCE(p.covering_definitions, '{}'::text[]) AS covering_definitions,
    s.targets_run_id AS as_of_run_id
   FROM ((per_target p
     JOIN defender_storage.session_result s ON ((s.session_key = p.latest[1][1])))
     JOIN defender_storage.target_result t ON (((t.session_key = p.latest[1][1]) AND (t.ordinal = p.latest[1][2]))));

CREATE OR REPLACE VIEW defender.scan_targets AS
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
   FROM (defender_storage.target_result t
     JOIN defender_storage.session_result s ON ((s.session_key = t.session_key)));

CREATE OR REPLACE VIEW defender.tenant_sync_status AS
 SELECT t.tenant_id,
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
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.status,
            r.finished_at
           FROM defender.sync_runs r
          WHERE ((r.tenant_id = t.tenant_id) AND (r.resource = 'agents'::text) AND (r.status <> 'running'::text))
          ORDER BY r.run_id DESC
         LIMIT 1) latest ON (true))
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.finished_at,
            r.error
           FROM defender.sync_runs r
          WHERE ((r.tenant_id = t.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'failed'::text))
          ORDER BY r.run_id DESC
         LIMIT 1) failure ON (true))
     LEFT JOIN defender.sync_runs success ON ((success.run_id = t.last_run_id)))
     LEFT JOIN defender.sync_runs running ON (((running.tenant_id = t.tenant_id) AND (running.resource = 'agents'::text) AND (running.status = 'running'::text))))
     LEFT JOIN defender_storage.tenant_daily fleet ON (((fleet.tenant_id = t.tenant_id) AND (fleet.day = defender.utc_day(t.last_fetched_at)))));

CREATE OR REPLACE VIEW defender.version_drift AS
 WITH active AS (
         SELECT a_1.tenant_id,
            a_1.agent_id,
            a_1.computer_dns_name,
            a_1.mde_client_version,
            a_1.scanner_software_version
           FROM defender_storage.agent_state a_1
          WHERE (a_1.deleted_at IS NULL)
        ), spellings AS MATERIALIZED (
         SELECT DISTINCT active.tenant_id,
            'mde'::text AS kind,
            active.mde_client_version AS version
           FROM active
        UNION
         SELECT DISTINCT active.tenant_id,
            'scanner',
            active.scanner_software_version
           FROM active
        ), keyed AS (
         SELECT s_1.tenant_id,
            s_1.kind,
            s_1.version,
            defender.version_key(s_1.version) AS key
           FROM spellings s_1
        ), mde AS (
         SELECT v.tenant_id,
            v.version,
            (dense_rank() OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC) - 1) AS behind,
            first_value(v.version) OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC, (length(v.version)) DESC, v.version) AS newest
           FROM keyed v
          WHERE ((v.kind = 'mde'::text) AND (v.key IS NOT NULL))
        ), scanner AS (
         SELECT v.tenant_id,
            v.version,
            (dense_rank() OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC) - 1) AS behind,
            first_value(v.version) OVER (PARTITION BY v.tenant_id ORDER BY v.key DESC, (length(v.version)) DESC, v.version) AS newest
           FROM keyed v
          WHERE ((v.kind = 'scanner'::text) AND (v.key IS NOT NULL))
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
   FROM ((((active a
     LEFT JOIN mde m ON (((m.tenant_id = a.tenant_id) AND (m.version = a.mde_client_version))))
     LEFT JOIN ( SELECT DISTINCT mde.tenant_id,
            mde.newest
           FROM mde) mn ON ((mn.tenant_id = a.tenant_id)))
     LEFT JOIN scanner s ON (((s.tenant_id = a.tenant_id) AND (s.version = a.scanner_software_version))))
     LEFT JOIN ( SELECT DISTINCT scanner.tenant_id,
            scanner.newest
           FROM scanner) sn ON ((sn.tenant_id = a.tenant_id)));

DROP FUNCTION defender.revoke_tenant_access(text, text);
DROP FUNCTION defender.grant_tenant_access(text, text);
DROP FUNCTION defender_storage.visible_tenants(name);
DROP TABLE defender_storage.tenant_access;

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
COMMENT ON FUNCTION defender.grant_reader_access() IS 'Internal: grants defender_reader what it may read (USAGE on schema defender, SELECT on its views and tables, EXECUTE on its documented functions; nothing in defender_storage), creating the role when allowed. Migrations call it after creating objects; an administrator may call it after creating the role by hand.';

-- The role defender_tenant_reader belongs to the cluster and stays; it
-- loses what it was granted in this database.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_tenant_reader') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA defender FROM defender_tenant_reader;
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA defender FROM defender_tenant_reader;
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA defender_storage FROM defender_tenant_reader;
        REVOKE ALL ON SCHEMA defender FROM defender_tenant_reader;
    END IF;
END;
$$;
-- +goose StatementEnd
SELECT defender.grant_reader_access();
