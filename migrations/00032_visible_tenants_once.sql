-- A role given tenants paid more than defender_reader for every query,
-- and for every row a view returned, for the way the views learned and
-- compared the tenants it may see:
--
-- - visible_tenants runs a query (the grants) inside each query of the
--   role; the memory that query's execution takes and gives back leaves
--   the C library returning the session's freed memory to the system at
--   the end of each query, and the next query faults it in again (165
--   minor page faults a query for scan_coverage, against none for
--   defender_reader, whose test answers without a query);
-- - each view called visible_tenants twice, once to learn whether its
--   caller sees every tenant and once for the list;
-- - the list came from a subquery's result, which PostgreSQL keeps as a
--   stored tuple; an array that short is stored with a one-byte header,
--   and the comparison copied it to a full header for every row (one
--   tenant's daily versions over a year: 868 copies).
--
-- Each view now reads, once per query (a common table expression that
-- both its tests read), defender_storage.caller_tenants: a view whose
-- plan becomes part of the query's own plan, reading the grants without
-- a query of its own, and compares with an array built for the query.
-- The policy of the table scan_agent_history, which cannot hold a common
-- table expression, compares with a built array too.
--
-- Who sees what does not change: the same tests as visible_tenants
-- (every tenant, else the tenants granted to the roles whose privileges
-- the caller uses), which stays for the functions that take a viewer and
-- now asks the same two pieces: sees_every_tenant and the grants that
-- count (live_tenant_access).

-- +goose Up
-- +goose StatementBegin
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
-- +goose StatementEnd

REVOKE ALL ON FUNCTION defender_storage.sees_every_tenant(name) FROM PUBLIC;
COMMENT ON FUNCTION defender_storage.sees_every_tenant(name) IS 'Runs for readers: whether the role viewer sees every tenant (the owner of schema defender and the roles that use its privileges, superusers, members of defender_reader). visible_tenants asks it first; defender_storage.caller_tenants asks it with CURRENT_USER.';

CREATE VIEW defender_storage.live_tenant_access AS
 SELECT a.role_oid, a.tenant_id
   FROM defender_storage.tenant_access a
  WHERE pg_catalog.pg_get_userbyid(a.role_oid) = a.role_name;

REVOKE ALL ON defender_storage.live_tenant_access FROM PUBLIC;
COMMENT ON VIEW defender_storage.live_tenant_access IS 'The grants of tenant_access that count: a row counts while its role has the name it was granted to, so that a role dropped, and another later given its oid, gains nothing. visible_tenants and caller_tenants read it.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.visible_tenants(viewer name) RETURNS text[]
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
-- +goose StatementEnd

CREATE VIEW defender_storage.caller_tenants AS
 SELECT CASE
            WHEN defender_storage.sees_every_tenant(CURRENT_USER) THEN NULL::text[]
            ELSE ARRAY( SELECT a.tenant_id
                          FROM defender_storage.live_tenant_access a
                         WHERE pg_catalog.pg_has_role(CURRENT_USER, a.role_oid, 'USAGE'))
        END AS tenants;

REVOKE ALL ON defender_storage.caller_tenants FROM PUBLIC;
COMMENT ON VIEW defender_storage.caller_tenants IS 'One row: the tenants the current user may see in the reporting surface, as defender_storage.visible_tenants(CURRENT_USER) answers (NULL for every tenant), read by the plan of the query that asks. Each view of schema defender reads it once (its common table expression visible); only they read it, as their owner.';

CREATE OR REPLACE VIEW defender.agent_daily_open WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.fleet_daily WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.fleet_daily_versions WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.sync_runs WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
            WHEN (r.resource = 'a'::"char") THEN r.records_seen
            ELSE 0
        END AS agents_seen,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_inserted
            ELSE 0
        END AS agents_inserted,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_changed
            ELSE 0
        END AS agents_changed,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_unchanged
            ELSE 0
        END AS agents_unchanged,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_deleted
            ELSE 0
        END AS agents_deleted,
    r.deletions_withheld,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_rejected
            ELSE 0
        END AS agents_rejected,
    r.api_requests,
    NULLIF(r.error, ''::text) AS error,
    w.worker,
    r.previous_sync_at,
        CASE r.resource
            WHEN 'a'::"char" THEN 'agents'::text
            WHEN 'd'::"char" THEN 'definitions'::text
            WHEN 'h'::"char" THEN 'history'::text
            ELSE NULL::text
        END AS resource,
    r.records_seen,
    r.records_inserted,
    r.records_changed,
    r.records_unchanged,
    r.records_deleted,
    r.records_rejected,
    r.targets_inserted,
    r.heartbeat_only AS agents_heartbeat_only,
    r.fields_repaired
   FROM ((defender_storage.sync_run r
     JOIN defender_storage.tenants t ON ((t.tenant_no = r.tenant_no)))
     LEFT JOIN defender_storage.sync_worker w ON ((w.worker_no = r.worker_no)))
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (t.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.run_digests WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
        )
 SELECT r.run_id,
    r.tenant_id,
    r.resource,
    r.fetched_at,
    d.previous_run_id,
    encode(d.digest, 'hex'::text) AS digest,
    d.computed_at_upgrade
   FROM (defender_storage.run_digest d
     JOIN defender.sync_runs r ON ((r.run_id = d.run_id)))
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (r.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_agent_changes WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_agent_daily WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_agent_observations WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_agents WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_coverage WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
                  WHERE (( SELECT visible.tenants FROM visible) IS NULL)
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
                  WHERE ((( SELECT visible.tenants FROM visible) IS NOT NULL) AND (d_1.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))))) d
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

CREATE OR REPLACE VIEW defender.scan_definition_changes WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_definition_history WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_definitions WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_sessions WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.scan_target_status WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
          WHERE (( SELECT visible.tenants FROM visible) IS NULL)
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
          WHERE ((( SELECT visible.tenants FROM visible) IS NOT NULL) AND (s_1.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))))) s;

CREATE OR REPLACE VIEW defender.scan_targets WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.tenant_sync_status WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

CREATE OR REPLACE VIEW defender.version_drift WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (v.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

ALTER POLICY visible_tenants ON defender.scan_agent_history USING (((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(defender_storage.visible_tenants(CURRENT_USER)))))));

SELECT defender.grant_reader_access();

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.visible_tenants(viewer name) RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
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

CREATE OR REPLACE VIEW defender.agent_daily_open WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.fleet_daily WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.fleet_daily_versions WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.day,
    v.mde_client_version,
    v.agents
   FROM ( SELECT tv.tenant_id,
            tv.day,
            tv.mde_client_version,
            tv.agents
           FROM defender_storage.tenant_daily_version tv) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.sync_runs WITH (security_barrier='true') AS
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
            WHEN (r.resource = 'a'::"char") THEN r.records_seen
            ELSE 0
        END AS agents_seen,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_inserted
            ELSE 0
        END AS agents_inserted,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_changed
            ELSE 0
        END AS agents_changed,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_unchanged
            ELSE 0
        END AS agents_unchanged,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_deleted
            ELSE 0
        END AS agents_deleted,
    r.deletions_withheld,
        CASE
            WHEN (r.resource = 'a'::"char") THEN r.records_rejected
            ELSE 0
        END AS agents_rejected,
    r.api_requests,
    NULLIF(r.error, ''::text) AS error,
    w.worker,
    r.previous_sync_at,
        CASE r.resource
            WHEN 'a'::"char" THEN 'agents'::text
            WHEN 'd'::"char" THEN 'definitions'::text
            WHEN 'h'::"char" THEN 'history'::text
            ELSE NULL::text
        END AS resource,
    r.records_seen,
    r.records_inserted,
    r.records_changed,
    r.records_unchanged,
    r.records_deleted,
    r.records_rejected,
    r.targets_inserted,
    r.heartbeat_only AS agents_heartbeat_only,
    r.fields_repaired
   FROM ((defender_storage.sync_run r
     JOIN defender_storage.tenants t ON ((t.tenant_no = r.tenant_no)))
     LEFT JOIN defender_storage.sync_worker w ON ((w.worker_no = r.worker_no)))
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (t.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.run_digests WITH (security_barrier='true') AS
 SELECT r.run_id,
    r.tenant_id,
    r.resource,
    r.fetched_at,
    d.previous_run_id,
    encode(d.digest, 'hex'::text) AS digest,
    d.computed_at_upgrade
   FROM (defender_storage.run_digest d
     JOIN defender.sync_runs r ON ((r.run_id = d.run_id)))
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (r.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_agent_changes WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_agent_daily WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_agent_observations WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_agents WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_coverage WITH (security_barrier='true') AS
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
                  WHERE (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL)
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
                  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NOT NULL) AND (d_1.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])))) d
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

CREATE OR REPLACE VIEW defender.scan_definition_changes WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_definition_history WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_definitions WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_sessions WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.scan_target_status WITH (security_barrier='true') AS
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
          WHERE (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL)
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
          WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NOT NULL) AND (s_1.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])))) s;

CREATE OR REPLACE VIEW defender.scan_targets WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.tenant_sync_status WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

CREATE OR REPLACE VIEW defender.version_drift WITH (security_barrier='true') AS
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
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

ALTER POLICY visible_tenants ON defender.scan_agent_history USING (((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[]))));

DROP VIEW defender_storage.caller_tenants;
DROP VIEW defender_storage.live_tenant_access;
DROP FUNCTION defender_storage.sees_every_tenant(name);
