-- The scan views at many tenants (a provider's 1,000 customers):
--
-- - scan_target_status reads one stored row per target,
--   defender_storage.target_status, which the loader keeps from the
--   targets' coverage (refresh_target_status) in each history sync and in
--   each definitions sync that changed a definition. Computing it at every
--   query grouped every target of every tenant by text and looked up two
--   rows per target: 234 ms for 54,000 targets.
-- - Both views apply the per-customer filter to the rows they start from,
--   as two branches of which the database runs one: every tenant for the
--   roles that see all, the granted tenants for the others. As one
--   condition on the result, the planner took it to keep about 1 % of the
--   rows for every role, and chose plans that probe once per row.
--
-- The answers do not change (the upgrade tests compare them).

-- +goose Up
CREATE TABLE defender_storage.target_status (
    tenant_id            text NOT NULL REFERENCES defender_storage.tenants (tenant_id),
    target               text NOT NULL CHECK (target <> ''),
    latest_session_key   bigint NOT NULL,
    latest_ordinal       integer NOT NULL,
    ip                   text,
    hostname             text,
    description          text,
    latest_status        text,
    latest_error_message text,
    latest_scanned_at    timestamptz,
    latest_definition_id text NOT NULL,
    latest_session_id    text,
    last_success_at      timestamptz,
    covering_definitions text[] NOT NULL,
    as_of_run_id         bigint REFERENCES defender_storage.sync_run (run_id),
    PRIMARY KEY (tenant_id, target),
    CONSTRAINT target_status_latest_target FOREIGN KEY (latest_session_key, latest_ordinal)
        REFERENCES defender_storage.target_result (session_key, ordinal)
);
-- The foreign key's check when scan history retention drops targets.
CREATE INDEX target_status_by_latest_target ON defender_storage.target_status (latest_session_key, latest_ordinal);
COMMENT ON TABLE defender_storage.target_status IS 'Storage behind scan_target_status: one row per scanned target of a tenant, its latest scan as stored (copied from target_result and session_result, which latest_session_key and latest_ordinal name) and the active definitions that cover it, kept by the loader (refresh_target_status) from target_coverage. Query defender.scan_target_status instead.';
COMMENT ON COLUMN defender_storage.target_status.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender_storage.target_status.target IS 'The target: its IP address, else its host name in lower case.';
COMMENT ON COLUMN defender_storage.target_status.latest_session_key IS 'The session of its latest scan (session_result.session_key).';
COMMENT ON COLUMN defender_storage.target_status.latest_ordinal IS 'The target''s place in that session (target_result.ordinal).';
COMMENT ON COLUMN defender_storage.target_status.ip IS 'IP address, as its latest scan reported it.';
COMMENT ON COLUMN defender_storage.target_status.hostname IS 'Host name, as its latest scan reported it.';
COMMENT ON COLUMN defender_storage.target_status.description IS 'Device description, as its latest scan reported it.';
COMMENT ON COLUMN defender_storage.target_status.latest_status IS 'Outcome of its latest scan, as sent.';
COMMENT ON COLUMN defender_storage.target_status.latest_error_message IS 'Why its latest scan failed; empty on success.';
COMMENT ON COLUMN defender_storage.target_status.latest_scanned_at IS 'When its latest scan ran.';
COMMENT ON COLUMN defender_storage.target_status.latest_definition_id IS 'The definition of its latest scan.';
COMMENT ON COLUMN defender_storage.target_status.latest_session_id IS 'The session of its latest scan, as Defender names it.';
COMMENT ON COLUMN defender_storage.target_status.last_success_at IS 'When it was last scanned successfully; empty if never.';
COMMENT ON COLUMN defender_storage.target_status.covering_definitions IS 'Ids of the active definitions (listed and switched on) that have scanned it, in order.';
COMMENT ON COLUMN defender_storage.target_status.as_of_run_id IS 'The history sync run that stored its latest scan''s targets.';

-- +goose StatementBegin
CREATE FUNCTION defender_storage.target_status_of(tenant text)
    RETURNS TABLE (tenant_id text, target text, latest_session_key bigint, latest_ordinal integer,
                   ip text, hostname text, description text, latest_status text, latest_error_message text,
                   latest_scanned_at timestamptz, latest_definition_id text, latest_session_id text,
                   last_success_at timestamptz, covering_definitions text[], as_of_run_id bigint)
    LANGUAGE sql STABLE
-- No SET clause: the body is bound when created, and the function is
-- inlined into the query that calls it.
BEGIN ATOMIC
    WITH per_target AS (
        SELECT c.tenant_id, c.target, max(c.last_success_at) AS last_success_at,
               array_agg(c.definition_id ORDER BY c.definition_id)
                   FILTER (WHERE d.deleted_at IS NULL AND d.is_active) AS covering_definitions,
               (array_agg(ARRAY[c.latest_session_key, c.latest_ordinal::bigint]
                          ORDER BY c.latest_scanned_at DESC NULLS LAST, c.latest_session_key DESC))[1:1] AS latest
          FROM defender_storage.target_coverage c
          LEFT JOIN defender_storage.definition_state d ON d.tenant_id = c.tenant_id AND d.definition_id = c.definition_id
         WHERE c.tenant_id = target_status_of.tenant
         GROUP BY c.tenant_id, c.target
    )
    SELECT p.tenant_id, p.target, t.session_key, t.ordinal, t.ip, t.hostname, t.description, t.status, t.error_message,
           s.scanned_at, s.definition_id, s.session_id, p.last_success_at,
           coalesce(p.covering_definitions, '{}'::text[]), s.targets_run_id
      FROM per_target p
      JOIN defender_storage.session_result s ON s.session_key = p.latest[1][1]
      JOIN defender_storage.target_result t ON t.session_key = p.latest[1][1] AND t.ordinal = p.latest[1][2];
END;
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.target_status_of(text) IS 'Internal: what scan_target_status shows of a tenant, computed from target_coverage, the definitions and the latest targets: the definition of target_status, which refresh_target_status stores.';

-- +goose StatementBegin
CREATE FUNCTION defender_storage.refresh_target_status(tenant text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    INSERT INTO defender_storage.target_status AS ts
           (tenant_id, target, latest_session_key, latest_ordinal, ip, hostname, description, latest_status,
            latest_error_message, latest_scanned_at, latest_definition_id, latest_session_id, last_success_at,
            covering_definitions, as_of_run_id)
    SELECT n.tenant_id, n.target, n.latest_session_key, n.latest_ordinal, n.ip, n.hostname, n.description,
           n.latest_status, n.latest_error_message, n.latest_scanned_at, n.latest_definition_id, n.latest_session_id,
           n.last_success_at, n.covering_definitions, n.as_of_run_id
      FROM defender_storage.target_status_of(refresh_target_status.tenant) n
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
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.refresh_target_status(text) IS 'Internal: brings target_status up to date for a tenant (target_status_of), writing only the rows that differ. The loader calls it in each history sync, and in each definitions sync that changed a definition.';

SELECT defender_storage.refresh_target_status(t.tenant_id) FROM defender_storage.tenants t;

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
           FROM ((((( SELECT d_1.* FROM defender_storage.definition_state d_1
                    WHERE (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL)
                  UNION ALL
                   SELECT d_1.* FROM defender_storage.definition_state d_1
                    WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NOT NULL)
                      AND (d_1.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])))) d
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
   FROM ( SELECT s_1.* FROM defender_storage.target_status s_1
           WHERE (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL)
         UNION ALL
          SELECT s_1.* FROM defender_storage.target_status s_1
           WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NOT NULL)
             AND (s_1.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])))) s;

SELECT defender.grant_reader_access();

-- +goose Down
CREATE OR REPLACE VIEW defender.scan_target_status WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.target,
    v.ip,
    v.hostname,
    v.description,
    v.latest_status,
    v.latest_outcome,
    v.latest_error_message,
    v.latest_scanned_at,
    v.latest_definition_id,
    v.latest_session_id,
    v.last_success_at,
    v.covering_definitions,
    v.as_of_run_id
   FROM ( WITH per_target AS (
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
             JOIN defender_storage.target_result t ON (((t.session_key = p.latest[1][1]) AND (t.ordinal = p.latest[1][2]))))) v
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
           FROM ((((defender_storage.definition_state d
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
          WHERE ((d.deleted_at IS NULL) AND d.is_active)) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

DROP FUNCTION defender_storage.refresh_target_status(text);
DROP FUNCTION defender_storage.target_status_of(text);
DROP TABLE defender_storage.target_status;
