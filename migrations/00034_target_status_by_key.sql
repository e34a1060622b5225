-- refresh_target_status keeps one generic plan per session, made at its
-- first call. In a new database's first syncs of many tenants, that call
-- finds the sessions nearly empty, and the plan joined each target's
-- latest session by reading every session of every tenant, at every call
-- after, as they grew: the largest part of a history sync's last batch
-- in the first sync of 300 tenants. target_status_of now finds each
-- target's latest session and target by their keys; its answers do not
-- change.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.target_status_of(tenant text)
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
      -- Each target's latest session and target by their keys (the
      -- fences keep a plan made while the sessions were few from reading
      -- them all).
     CROSS JOIN LATERAL (SELECT s1.scanned_at, s1.definition_id, s1.session_id, s1.targets_run_id
                           FROM defender_storage.session_result s1
                          WHERE s1.session_key = p.latest[1][1] OFFSET 0) s
     CROSS JOIN LATERAL (SELECT t1.session_key, t1.ordinal, t1.ip, t1.hostname, t1.description, t1.status, t1.error_message
                           FROM defender_storage.target_result t1
                          WHERE t1.session_key = p.latest[1][1] AND t1.ordinal = p.latest[1][2] OFFSET 0) t;
END;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.target_status_of(tenant text)
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
