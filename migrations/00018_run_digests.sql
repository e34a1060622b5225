-- A digest of what each successful run wrote, chained per tenant and
-- resource, so that an edit of the stored history afterwards shows.
--
-- - run_digest: one row per successful run, the SHA-256 of the run's
--   eight parts (its sync_runs row, the versions it opened and closed, its
--   deletions, withheld deletions, observations, session writes and
--   targets) chained with the digest of the previous successful run of
--   the same tenant and resource. The parts' own digests are kept beside
--   it, so that `agentsync verify` names the part that no longer matches;
--   computed_at_upgrade marks the digests this migration computed for the
--   runs before it.
-- - session_write: one row per write of a session by a run (recorded,
--   completed or corrected), with the digest of the values it wrote. A
--   session is rewritten in place by later runs; the digest of an earlier
--   writer is then recomputed from the digest kept here.
-- - run_digest_parts(run): the canonical computation, the one the loader
--   stores in the run's transaction and verify recomputes
--   (docs/audit.md defines its bytes).
-- - defender.run_digests: the digests, for readers (the report and the
--   export show each chain's head).
--
-- Indexes by run on the rows a run writes, so that computing a run's parts
-- reads only them.

-- +goose Up
CREATE INDEX scan_agent_history_by_opening_run ON defender.scan_agent_history (opened_by_run_id);
CREATE INDEX scan_agent_history_by_closing_run ON defender.scan_agent_history (closed_by_run_id) WHERE closed_by_run_id IS NOT NULL;
CREATE INDEX agent_state_by_deleting_run ON defender_storage.agent_state (deleted_by_run_id) WHERE deleted_by_run_id IS NOT NULL;
CREATE INDEX definition_version_by_opening_run ON defender_storage.definition_version (opened_by_run_id);
CREATE INDEX definition_version_by_closing_run ON defender_storage.definition_version (closed_by_run_id) WHERE closed_by_run_id IS NOT NULL;
CREATE INDEX definition_state_by_deleting_run ON defender_storage.definition_state (deleted_by_run_id) WHERE deleted_by_run_id IS NOT NULL;
CREATE INDEX definition_withheld_by_run ON defender_storage.definition_withheld (run_id);
CREATE INDEX session_result_by_recording_run ON defender_storage.session_result (recorded_by_run_id);
CREATE INDEX session_result_by_updating_run ON defender_storage.session_result (updated_by_run_id) WHERE updated_by_run_id IS NOT NULL;
CREATE INDEX session_result_by_targets_run ON defender_storage.session_result (targets_run_id) WHERE targets_run_id IS NOT NULL;

-- STABLE, as convert_to and to_char are: so that it is inlined where it is
-- called, not called once per field.
CREATE FUNCTION defender_storage.digest_field(value text) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '\xffffffff'::bytea
            ELSE pg_catalog.int4send(pg_catalog.octet_length(pg_catalog.convert_to(value, 'UTF8'))) || pg_catalog.convert_to(value, 'UTF8') END;
COMMENT ON FUNCTION defender_storage.digest_field(text) IS
    'Internal: one field of the canonical encoding of run digests: its UTF-8 bytes after their length (4 bytes, big-endian); NULL is the length -1 alone (docs/audit.md).';
REVOKE ALL ON FUNCTION defender_storage.digest_field(text) FROM PUBLIC;

CREATE FUNCTION defender_storage.digest_time(at timestamptz) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN at IS NULL THEN '\xffffffff'::bytea ELSE '\x00000008'::bytea || pg_catalog.timestamptz_send(at) END;
COMMENT ON FUNCTION defender_storage.digest_time(timestamptz) IS
    'Internal: a time field of the canonical encoding of run digests: its length (8) and the microseconds since 2000-01-01 00:00:00 UTC, 8 bytes big-endian; NULL is the length -1 alone (docs/audit.md).';
REVOKE ALL ON FUNCTION defender_storage.digest_time(timestamptz) FROM PUBLIC;

-- Every column a run sets, less the bookkeeping later runs rewrite
-- (targets_run_id, listed_fingerprint).
CREATE FUNCTION defender_storage.session_digest(s defender_storage.session_result) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN pg_catalog.sha256(
    defender_storage.digest_field(s.session_key::text) || defender_storage.digest_field(s.tenant_id)
    || defender_storage.digest_field(s.definition_id) || defender_storage.digest_field(s.session_id)
    || defender_storage.digest_field(s.scanner_id) || defender_storage.digest_field(s.scanner_agent_id)
    || defender_storage.digest_field(s.status) || defender_storage.digest_time(s.scanned_at)
    || defender_storage.digest_field(s.targets::text) || defender_storage.digest_field(s.succeeded_targets::text)
    || defender_storage.digest_field(s.general_error) || defender_storage.digest_field(s.extra::text)
    || defender_storage.digest_field(s.source) || defender_storage.digest_time(s.recorded_at)
    || defender_storage.digest_field(s.recorded_by_run_id::text) || defender_storage.digest_time(s.updated_at)
    || defender_storage.digest_field(s.updated_by_run_id::text));
COMMENT ON FUNCTION defender_storage.session_digest(defender_storage.session_result) IS
    'Internal: SHA-256 of the values of a stored session as a run wrote them (docs/audit.md).';
REVOKE ALL ON FUNCTION defender_storage.session_digest(defender_storage.session_result) FROM PUBLIC;

CREATE TABLE defender_storage.session_write (
    run_id        bigint NOT NULL,
    session_key   bigint NOT NULL,
    values_digest bytea  NOT NULL,
    CONSTRAINT session_write_pkey PRIMARY KEY (run_id, session_key),
    CONSTRAINT session_write_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id),
    CONSTRAINT session_write_session_key_fkey FOREIGN KEY (session_key) REFERENCES defender_storage.session_result (session_key),
    CONSTRAINT session_write_values_digest_check CHECK (pg_catalog.octet_length(values_digest) = 32)
);
CREATE INDEX session_write_by_session ON defender_storage.session_write (session_key);
COMMENT ON TABLE defender_storage.session_write IS
    'Each write of a session by a successful run (recorded, completed or corrected), with the digest of the values it wrote: what the run digest of an earlier writer covers once a later run has rewritten the session in place.';
COMMENT ON COLUMN defender_storage.session_write.run_id IS 'The run that wrote the session.';
COMMENT ON COLUMN defender_storage.session_write.session_key IS 'The session (session_result.session_key).';
COMMENT ON COLUMN defender_storage.session_write.values_digest IS 'session_digest of the session as the run left it.';

-- +goose StatementBegin
-- For many runs at once: starting the plan costs more than running it
-- for one run, so verify asks for thousands in one call. PL/pgSQL for its
-- cached plan, and a generic one: planning the statement (a SQL
-- function's body is planned at every call, and a custom plan at every
-- call too) took five times as long as running it for the loader's one run.
CREATE FUNCTION defender_storage.run_digest_parts(runs bigint[])
RETURNS TABLE (digested_run_id bigint, digest_parts bytea)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
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
  FROM defender.sync_runs r
 WHERE r.run_id = ANY (runs);
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.run_digest_parts(bigint[]) IS
    'Internal: per run of runs, the SHA-256 of each of its eight parts, concatenated (256 bytes), computed from the rows as stored: the canonical computation of run digests (docs/audit.md).';
REVOKE ALL ON FUNCTION defender_storage.run_digest_parts(bigint[]) FROM PUBLIC;

CREATE FUNCTION defender_storage.chain_digest(previous bytea, parts bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.sha256(coalesce(previous, ''::bytea) || parts);
COMMENT ON FUNCTION defender_storage.chain_digest(bytea, bytea) IS
    'Internal: a run digest: SHA-256 of the previous run''s digest (nothing for the first) and the run''s parts.';
REVOKE ALL ON FUNCTION defender_storage.chain_digest(bytea, bytea) FROM PUBLIC;

CREATE TABLE defender_storage.run_digest (
    run_id              bigint  NOT NULL,
    previous_run_id     bigint,
    digest              bytea   NOT NULL,
    parts               bytea   NOT NULL,
    computed_at_upgrade boolean NOT NULL DEFAULT false,
    CONSTRAINT run_digest_pkey PRIMARY KEY (run_id),
    CONSTRAINT run_digest_previous_run_id_key UNIQUE (previous_run_id),
    CONSTRAINT run_digest_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id),
    CONSTRAINT run_digest_previous_run_id_fkey FOREIGN KEY (previous_run_id) REFERENCES defender_storage.run_digest (run_id),
    CONSTRAINT run_digest_previous_before CHECK (previous_run_id < run_id),
    CONSTRAINT run_digest_digest_check CHECK (pg_catalog.octet_length(digest) = 32),
    CONSTRAINT run_digest_parts_check CHECK (pg_catalog.octet_length(parts) = 256)
);
COMMENT ON TABLE defender_storage.run_digest IS
    'The digest of what each successful run wrote, chained with the previous successful run of its tenant and resource (docs/audit.md). Query defender.run_digests instead.';
COMMENT ON COLUMN defender_storage.run_digest.run_id IS 'The run (a succeeded one).';
COMMENT ON COLUMN defender_storage.run_digest.previous_run_id IS 'The previous successful run of the tenant and resource, whose digest this one chains; empty for the first.';
COMMENT ON COLUMN defender_storage.run_digest.digest IS 'SHA-256 of the previous run''s digest and parts.';
COMMENT ON COLUMN defender_storage.run_digest.parts IS 'The SHA-256 of each of the run''s eight parts, concatenated: what verify compares to name the part that changed.';
COMMENT ON COLUMN defender_storage.run_digest.computed_at_upgrade IS 'True for runs older than the digests, whose digest migration 00018 computed from the rows as they were then: it proves nothing of before the upgrade.';

-- +goose StatementBegin
CREATE FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean DEFAULT false) RETURNS bytea
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stored bytea;
BEGIN
    -- The sessions the run wrote, as it left them. At the upgrade every
    -- earlier writer is known, not the values it wrote: they are taken
    -- as they are now.
    INSERT INTO defender_storage.session_write (run_id, session_key, values_digest)
    SELECT run, s.session_key, defender_storage.session_digest(s)
      FROM defender_storage.session_result s
     WHERE (s.recorded_by_run_id = run AND (at_upgrade OR s.updated_by_run_id IS NULL))
        OR s.updated_by_run_id = run;
    INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
    SELECT r.run_id, p.run_id, defender_storage.chain_digest(p.digest, x.parts), x.parts, at_upgrade
      FROM defender.sync_runs r
     CROSS JOIN LATERAL (SELECT q.digest_parts AS parts FROM defender_storage.run_digest_parts(ARRAY[r.run_id]) q) x
      LEFT JOIN LATERAL (
           SELECT d.run_id, d.digest
             FROM defender.sync_runs q
             JOIN defender_storage.run_digest d ON d.run_id = q.run_id
            WHERE q.tenant_id = r.tenant_id AND q.resource = r.resource AND q.status = 'succeeded' AND q.run_id < r.run_id
            ORDER BY q.run_id DESC
            LIMIT 1) p ON true
     WHERE r.run_id = run AND r.status = 'succeeded'
    RETURNING digest INTO stored;
    IF stored IS NULL THEN
        RAISE EXCEPTION 'run % is not a succeeded run: only successful runs have a digest', run;
    END IF;
    RETURN stored;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.record_run_digest(bigint, boolean) IS
    'Internal: stores the digest of a succeeded run (and the sessions it wrote), chained with the previous successful run of its tenant and resource; the loader calls it in the run''s transaction, after recording its success.';
REVOKE ALL ON FUNCTION defender_storage.record_run_digest(bigint, boolean) FROM PUBLIC;

-- The runs before the digests, in order within each tenant and resource.
-- +goose StatementBegin
DO $$
DECLARE
    run bigint;
BEGIN
    FOR run IN SELECT run_id FROM defender.sync_runs WHERE status = 'succeeded' ORDER BY run_id LOOP
        PERFORM defender_storage.record_run_digest(run, true);
    END LOOP;
END;
$$;
-- +goose StatementEnd

-- Filtered like every view of schema defender (00017): a role given
-- tenants sees theirs alone.
CREATE VIEW defender.run_digests WITH (security_barrier) AS
SELECT r.run_id, r.tenant_id, r.resource, r.fetched_at, d.previous_run_id,
       pg_catalog.encode(d.digest, 'hex') AS digest, d.computed_at_upgrade
  FROM defender_storage.run_digest d
  JOIN defender.sync_runs r ON r.run_id = d.run_id
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL
    OR r.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);
COMMENT ON VIEW defender.run_digests IS
    'The digest of each successful run, chained with the previous successful run of its tenant and resource: the latest of a tenant and resource is its chain head. agentsync verify recomputes them (docs/audit.md).';
COMMENT ON COLUMN defender.run_digests.run_id IS 'The run.';
COMMENT ON COLUMN defender.run_digests.tenant_id IS 'Its tenant.';
COMMENT ON COLUMN defender.run_digests.resource IS 'What it synced: agents, definitions or history; each tenant and resource is a chain of its own.';
COMMENT ON COLUMN defender.run_digests.fetched_at IS 'Its fetch time.';
COMMENT ON COLUMN defender.run_digests.previous_run_id IS 'The run whose digest it chains; empty for the first of the chain.';
COMMENT ON COLUMN defender.run_digests.digest IS 'SHA-256, hex: of the previous digest and of what the run wrote.';
COMMENT ON COLUMN defender.run_digests.computed_at_upgrade IS 'True when the upgrade to digests computed it, from the rows as they were then: it proves nothing of before the upgrade.';

SELECT defender.grant_reader_access();

-- +goose Down
DROP VIEW defender.run_digests;
DROP FUNCTION defender_storage.record_run_digest(bigint, boolean);
DROP TABLE defender_storage.run_digest;
DROP FUNCTION defender_storage.chain_digest(bytea, bytea);
DROP FUNCTION defender_storage.run_digest_parts(bigint[]);
DROP TABLE defender_storage.session_write;
DROP FUNCTION defender_storage.session_digest(defender_storage.session_result);
DROP FUNCTION defender_storage.digest_time(timestamptz);
DROP FUNCTION defender_storage.digest_field(text);
DROP INDEX defender.scan_agent_history_by_opening_run;
DROP INDEX defender.scan_agent_history_by_closing_run;
DROP INDEX defender_storage.agent_state_by_deleting_run;
DROP INDEX defender_storage.definition_version_by_opening_run;
DROP INDEX defender_storage.definition_version_by_closing_run;
DROP INDEX defender_storage.definition_state_by_deleting_run;
DROP INDEX defender_storage.definition_withheld_by_run;
DROP INDEX defender_storage.session_result_by_recording_run;
DROP INDEX defender_storage.session_result_by_updating_run;
DROP INDEX defender_storage.session_result_by_targets_run;
