-- Scan history that stays fast and can be kept for a chosen time.
--
-- - session_result_by_outcome: a definition's sessions by outcome and
--   time, so that scan_coverage finds a definition's latest success,
--   failure and partial success, and counts its failures since, in a
--   few index probes whatever the length of its history (before, a
--   definition whose sessions never failed, or that always partly
--   succeeded, had every session read to find the kind it never had).
-- - definition_coverage: per definition, what scan_coverage shows of its
--   sessions (the latest, the latest success, failure and partial
--   success, the failures since the later of those two), kept current by
--   the loader in each run that writes sessions
--   (cover_definitions, through that index), so that scan_coverage of
--   every tenant reads one row per definition instead of probing its
--   sessions five times.
-- - scan_coverage: the same columns and answers, from definition_coverage.
--   The streak (the latest session that did not fail) is the later of the
--   latest success and the latest partial success.
-- - scan_history_dropped: what SCAN_HISTORY_RETENTION dropped of a
--   tenant's sessions: before which time, and through which run the runs
--   that had written them go. agentsync verify takes the session and
--   target parts of those runs' digests as stored (the rows they covered
--   are gone on purpose), as it does for observations OBSERVATION_RETENTION
--   dropped. It names no run by a foreign key: through_run_id is a bound,
--   every run of the tenant up to it.
--
-- Down restores schema 18's view and drops what this adds: the coverage
-- rows are derived from the sessions; the record of what retention dropped
-- goes with them, so that verify on schema 18 names the first run whose
-- sessions retention dropped (the sessions themselves are gone either way).

-- +goose Up
CREATE INDEX session_result_by_outcome ON defender_storage.session_result
       (tenant_id, definition_id, defender.scan_outcome(status), scanned_at) WHERE scanned_at IS NOT NULL;

CREATE TABLE defender_storage.definition_coverage (
    tenant_id text NOT NULL REFERENCES defender_storage.tenants (tenant_id),
    definition_id text NOT NULL CHECK (definition_id <> ''),
    latest_scanned_at timestamptz NOT NULL,
    latest_status text,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    last_partial_at timestamptz,
    consecutive_failures integer NOT NULL CHECK (consecutive_failures >= 0),
    PRIMARY KEY (tenant_id, definition_id)
);
COMMENT ON TABLE defender_storage.definition_coverage IS 'Storage behind scan_coverage: per definition with a session that has a time, what its sessions say, kept current by the loader (cover_definitions) in each run that writes sessions. Query defender.scan_coverage instead.';
COMMENT ON COLUMN defender_storage.definition_coverage.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender_storage.definition_coverage.definition_id IS 'Defender id of the scan definition.';
COMMENT ON COLUMN defender_storage.definition_coverage.latest_scanned_at IS 'When its latest session ran.';
COMMENT ON COLUMN defender_storage.definition_coverage.latest_status IS 'That session''s status, as sent.';
COMMENT ON COLUMN defender_storage.definition_coverage.last_success_at IS 'When its latest successful session ran.';
COMMENT ON COLUMN defender_storage.definition_coverage.last_failure_at IS 'When its latest failed session ran.';
COMMENT ON COLUMN defender_storage.definition_coverage.last_partial_at IS 'When its latest partly successful session ran.';
COMMENT ON COLUMN defender_storage.definition_coverage.consecutive_failures IS 'Failed sessions since the later of last_success_at and last_partial_at (all of them if neither).';

-- +goose StatementBegin
CREATE FUNCTION defender_storage.cover_definitions(tenant text, definitions text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
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
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.cover_definitions(text, text[]) IS 'Internal: brings definition_coverage up to date for the given definitions of a tenant, from their sessions. The loader calls it in each run that writes sessions.';

SELECT defender_storage.cover_definitions(s.tenant_id, pg_catalog.array_agg(DISTINCT s.definition_id))
  FROM defender_storage.session_result s
 WHERE s.scanned_at IS NOT NULL
 GROUP BY s.tenant_id;

CREATE TABLE defender_storage.scan_history_dropped (
    tenant_id text PRIMARY KEY REFERENCES defender_storage.tenants (tenant_id),
    dropped_before timestamptz NOT NULL,
    through_run_id bigint NOT NULL CHECK (through_run_id > 0),
    sessions bigint NOT NULL CHECK (sessions >= 0),
    dropped_at timestamptz NOT NULL
);
COMMENT ON TABLE defender_storage.scan_history_dropped IS 'What SCAN_HISTORY_RETENTION dropped of each tenant''s scan sessions, latest pass: agentsync verify takes the session and target parts of the digests of the tenant''s runs up to through_run_id as stored. Internal.';
COMMENT ON COLUMN defender_storage.scan_history_dropped.tenant_id IS 'Microsoft Entra tenant.';
COMMENT ON COLUMN defender_storage.scan_history_dropped.dropped_before IS 'Sessions that ran before this time may have been dropped (those an answer still needs are kept).';
COMMENT ON COLUMN defender_storage.scan_history_dropped.through_run_id IS 'The latest run that had written a dropped session or its targets: runs of the tenant up to it may miss rows their digest covered.';
COMMENT ON COLUMN defender_storage.scan_history_dropped.sessions IS 'Sessions dropped in all, over every pass.';
COMMENT ON COLUMN defender_storage.scan_history_dropped.dropped_at IS 'When the latest pass that dropped sessions of the tenant ran.';

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
           FROM defender_storage.definition_state d
             -- The tenant's latest runs, looked up once per tenant.
             LEFT JOIN (defender_storage.tenants t
                 LEFT JOIN LATERAL ( SELECT r.run_id,
                        r.fetched_at
                       FROM defender_storage.sync_run r
                      WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'd'::"char") AND (r.status = 's'::"char"))
                      ORDER BY r.fetched_at DESC
                     LIMIT 1) dr ON (true)
                 LEFT JOIN LATERAL ( SELECT r.run_id,
                        r.fetched_at
                       FROM defender_storage.sync_run r
                      WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'h'::"char") AND (r.status = 's'::"char"))
                      ORDER BY r.fetched_at DESC
                     LIMIT 1) hr ON (true)) ON t.tenant_id = d.tenant_id
             LEFT JOIN defender_storage.agent_state a ON a.tenant_id = d.tenant_id AND a.agent_id = d.scanner_agent_id
             LEFT JOIN defender_storage.agent_heartbeat hb ON hb.agent_key = a.agent_key
             LEFT JOIN defender_storage.definition_coverage c ON c.tenant_id = d.tenant_id AND c.definition_id = d.definition_id
          WHERE ((d.deleted_at IS NULL) AND d.is_active)) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

-- +goose Down
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
                   FROM defender_storage.sync_run r
                  WHERE ((r.tenant_no = (SELECT tn.tenant_no FROM defender_storage.tenants tn WHERE tn.tenant_id = d.tenant_id)) AND (r.resource = 'd'::"char") AND (r.status = 's'::"char"))
                  ORDER BY r.fetched_at DESC
                 LIMIT 1) dr ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.fetched_at
                   FROM defender_storage.sync_run r
                  WHERE ((r.tenant_no = (SELECT tn.tenant_no FROM defender_storage.tenants tn WHERE tn.tenant_id = d.tenant_id)) AND (r.resource = 'h'::"char") AND (r.status = 's'::"char"))
                  ORDER BY r.fetched_at DESC
                 LIMIT 1) hr ON (true))
          WHERE ((d.deleted_at IS NULL) AND d.is_active)) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

DROP TABLE defender_storage.scan_history_dropped;
DROP FUNCTION defender_storage.cover_definitions(text, text[]);
DROP TABLE defender_storage.definition_coverage;
DROP INDEX defender_storage.session_result_by_outcome;
