-- A history sync that wrote sessions or stored targets brought target_status
-- up to date for every target of its tenant: at each call, every
-- target's coverage was grouped and each target's latest session and
-- target read by key, however few of them the sync touched. An hourly
-- sync stores a session or two of a handful of targets, and a tenant
-- whose scanners cover subnets has thousands. A history sync now
-- refreshes the targets whose coverage names a session it rewrote or
-- stored the targets of as their latest scan or last success: nothing
-- else target_status reads changes in such a sync. target_status_of takes the targets to compute (all when null);
-- what it computes for a target does not change, nor does any answer.
-- A definitions sync that changed a definition still refreshes every
-- target of its tenant (a definition covers targets).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION defender_storage.target_status_of(tenant text, targets text[])
    RETURNS TABLE (tenant_id text, target text, latest_session_key bigint, latest_ordinal integer,
                   ip text, hostname text, description text, latest_status text, latest_error_message text,
                   latest_scanned_at timestamptz, latest_definition_id text, latest_session_id text,
                   last_success_at timestamptz, covering_definitions text[], as_of_run_id bigint)
    LANGUAGE sql STABLE
-- No SET clause: the body is bound when created, and the function is
-- inlined into the query that calls it.
BEGIN ATOMIC
    WITH coverage AS (
        -- Every target of the tenant (targets null), or each target named,
        -- by its key: one branch runs.
        SELECT c.tenant_id, c.target, c.definition_id, c.latest_session_key, c.latest_ordinal,
               c.latest_scanned_at, c.last_success_at
          FROM defender_storage.target_coverage c
         WHERE c.tenant_id = target_status_of.tenant AND target_status_of.targets IS NULL
        UNION ALL
        SELECT c.tenant_id, c.target, c.definition_id, c.latest_session_key, c.latest_ordinal,
               c.latest_scanned_at, c.last_success_at
          FROM (SELECT DISTINCT u.name FROM pg_catalog.unnest(target_status_of.targets) u(name)) u
         CROSS JOIN LATERAL (SELECT c1.tenant_id, c1.target, c1.definition_id, c1.latest_session_key,
                                    c1.latest_ordinal, c1.latest_scanned_at, c1.last_success_at
                               FROM defender_storage.target_coverage c1
                              WHERE c1.tenant_id = target_status_of.tenant AND c1.target = u.name OFFSET 0) c
    ), per_target AS (
        SELECT c.tenant_id, c.target, max(c.last_success_at) AS last_success_at,
               array_agg(c.definition_id ORDER BY c.definition_id)
                   FILTER (WHERE d.deleted_at IS NULL AND d.is_active) AS covering_definitions,
               (array_agg(ARRAY[c.latest_session_key, c.latest_ordinal::bigint]
                          ORDER BY c.latest_scanned_at DESC NULLS LAST, c.latest_session_key DESC))[1:1] AS latest
          FROM coverage c
          -- Each row's definition by its key (not a join that a plan made
          -- while the definitions were few would make by reading them all).
          LEFT JOIN LATERAL (SELECT d1.deleted_at, d1.is_active FROM defender_storage.definition_state d1
                              WHERE d1.tenant_id = c.tenant_id AND d1.definition_id = c.definition_id OFFSET 0) d ON true
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

COMMENT ON FUNCTION defender_storage.target_status_of(text, text[]) IS
    'Internal: what scan_target_status shows of the named targets of a tenant (every target when targets is null), computed from target_coverage, the definitions and the latest targets: the definition of target_status, which refresh_target_status stores.';
REVOKE ALL ON FUNCTION defender_storage.target_status_of(text, text[]) FROM PUBLIC;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.target_status_of(tenant text)
    RETURNS TABLE (tenant_id text, target text, latest_session_key bigint, latest_ordinal integer,
                   ip text, hostname text, description text, latest_status text, latest_error_message text,
                   latest_scanned_at timestamptz, latest_definition_id text, latest_session_id text,
                   last_success_at timestamptz, covering_definitions text[], as_of_run_id bigint)
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT n.tenant_id, n.target, n.latest_session_key, n.latest_ordinal, n.ip, n.hostname, n.description,
           n.latest_status, n.latest_error_message, n.latest_scanned_at, n.latest_definition_id, n.latest_session_id,
           n.last_success_at, n.covering_definitions, n.as_of_run_id
      FROM defender_storage.target_status_of(target_status_of.tenant, NULL::text[]) n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION defender_storage.refresh_target_status(tenant text, targets text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    -- One plan for both forms: each branch finds its rows by key, and the
    -- branch that does not apply is skipped when it runs. A plan made for
    -- the values of each call took longer to make than to run.
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
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.refresh_target_status(text, text[]) IS
    'Internal: brings target_status up to date for the named targets of a tenant (every target when targets is null; target_status_of), writing only the rows that differ.';
REVOKE ALL ON FUNCTION defender_storage.refresh_target_status(text, text[]) FROM PUBLIC;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.refresh_target_status(tenant text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM defender_storage.refresh_target_status(tenant, NULL::text[]);
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.refresh_target_status(text) IS
    'Internal: brings target_status up to date for every target of a tenant (target_status_of), writing only the rows that differ. The loader calls it in each definitions sync that changed a definition.';

-- +goose StatementBegin
CREATE FUNCTION defender_storage.refresh_run_target_status(tenant text, run bigint) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    -- Planned for each call's values: a plan kept from the first calls,
    -- while the coverage was nearly empty, would read all of it.
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
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.refresh_run_target_status(text, bigint) IS
    'Internal: brings target_status up to date for the targets whose coverage names a session the run rewrote or stored the targets of (refresh_target_status). The loader calls it in each history sync that wrote sessions or stored targets.';
REVOKE ALL ON FUNCTION defender_storage.refresh_run_target_status(text, bigint) FROM PUBLIC;

-- +goose Down
DROP FUNCTION defender_storage.refresh_run_target_status(text, bigint);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.refresh_target_status(tenant text) RETURNS void
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

DROP FUNCTION defender_storage.refresh_target_status(text, text[]);

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

DROP FUNCTION defender_storage.target_status_of(text, text[]);
