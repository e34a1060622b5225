-- A run's digest took 10 to 11 % of a sync's database time (the goal is at
-- most 10 %). Besides computing the parts, each run paid for work around
-- them: the statement recording the sessions a run wrote, planned and
-- started for every run (an agents run writes none), a second function
-- (written_run_digest_parts) with its own settings and its own statement,
-- and the run's row read three times (for the digest, for its parts and
-- for whether it records sessions).
--
-- record_run_digest now reads the run, its tenant, the chain's previous
-- link and the run's own part (1) in one statement, records the sessions
-- only for the runs that write them (scan definitions and history), and
-- stores the digest in one statement per resource (and per run that wrote
-- versions or not) that computes the resource's parts in place. The parts
-- and the digests are the same as before: run_digest_parts remains the
-- canonical computation, which verify uses.
--
-- Each statement keeps one generic plan per session, made at its first
-- call. Made while a table was nearly empty (the first syncs of many
-- tenants into a new database), such a plan joined the sessions, the
-- agents or the definitions by reading them whole, at every call after,
-- as they grew: each part now finds them by key, and the sessions a run
-- wrote are found by two probes instead of one condition with OR.

-- +goose Up
-- +goose StatementBegin
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
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.record_session_writes(bigint, boolean) IS
    'Internal: records the sessions a run wrote (session_write) with the digest of their values as it left them; record_run_digest calls it for the runs that write sessions.';
REVOKE ALL ON FUNCTION defender_storage.record_session_writes(bigint, boolean) FROM PUBLIC;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean DEFAULT false) RETURNS bytea
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
                   rs.records_inserted + rs.records_changed + rs.records_deleted + rs.deletions_withheld > 0 AS wrote,
                   CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
                   CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
                   CASE WHEN rs.resource = 'a' THEN rs.records_seen ELSE 0 END AS agents_seen,
                   CASE WHEN rs.resource = 'a' THEN rs.records_inserted ELSE 0 END AS agents_inserted,
                   CASE WHEN rs.resource = 'a' THEN rs.records_changed ELSE 0 END AS agents_changed,
                   rs.heartbeat_only AS agents_heartbeat_only,
                   CASE WHEN rs.resource = 'a' THEN rs.records_unchanged ELSE 0 END AS agents_unchanged,
                   CASE WHEN rs.resource = 'a' THEN rs.records_deleted ELSE 0 END AS agents_deleted,
                   CASE WHEN rs.resource = 'a' THEN rs.records_rejected ELSE 0 END AS agents_rejected,
                   rs.deletions_withheld, rs.records_seen, rs.records_inserted, rs.records_changed, rs.records_unchanged,
                   rs.records_deleted, rs.records_rejected, rs.targets_inserted, rs.fields_repaired, rs.api_requests
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
                -- 7. Its writes of sessions: the values it wrote, from the session
                -- while it is the latest writer, else as kept when it wrote them.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(
                               defender_storage.digest_field(w.session_key::text)
                               || defender_storage.digest_field(CASE WHEN (l.s).recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                               || defender_storage.digest_field(pg_catalog.encode(
                                      CASE WHEN coalesce((l.s).updated_by_run_id, (l.s).recorded_by_run_id) = w.run_id
                                           THEN defender_storage.session_digest(l.s) ELSE w.values_digest END, 'hex')),
                               ''::bytea ORDER BY w.session_key)
                      FROM defender_storage.session_write w
                      -- Each session by its key (the fence keeps a plan made while the
                      -- sessions were few from reading them all).
                     CROSS JOIN LATERAL (SELECT s1 FROM defender_storage.session_result s1
                                          WHERE s1.session_key = w.session_key OFFSET 0) l(s)
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
                -- 7. Its writes of sessions: the values it wrote, from the session
                -- while it is the latest writer, else as kept when it wrote them.
                || pg_catalog.sha256(coalesce((
                    SELECT pg_catalog.string_agg(
                               defender_storage.digest_field(w.session_key::text)
                               || defender_storage.digest_field(CASE WHEN (l.s).recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                               || defender_storage.digest_field(pg_catalog.encode(
                                      CASE WHEN coalesce((l.s).updated_by_run_id, (l.s).recorded_by_run_id) = w.run_id
                                           THEN defender_storage.session_digest(l.s) ELSE w.values_digest END, 'hex')),
                               ''::bytea ORDER BY w.session_key)
                      FROM defender_storage.session_write w
                      -- Each session by its key (the fence keeps a plan made while the
                      -- sessions were few from reading them all).
                     CROSS JOIN LATERAL (SELECT s1 FROM defender_storage.session_result s1
                                          WHERE s1.session_key = w.session_key OFFSET 0) l(s)
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
            -- 7. Its writes of sessions: the values it wrote, from the session
            -- while it is the latest writer, else as kept when it wrote them.
            || pg_catalog.sha256(coalesce((
                SELECT pg_catalog.string_agg(
                           defender_storage.digest_field(w.session_key::text)
                           || defender_storage.digest_field(CASE WHEN (l.s).recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                           || defender_storage.digest_field(pg_catalog.encode(
                                  CASE WHEN coalesce((l.s).updated_by_run_id, (l.s).recorded_by_run_id) = w.run_id
                                       THEN defender_storage.session_digest(l.s) ELSE w.values_digest END, 'hex')),
                           ''::bytea ORDER BY w.session_key)
                  FROM defender_storage.session_write w
                  -- Each session by its key (the fence keeps a plan made while the
                  -- sessions were few from reading them all).
                 CROSS JOIN LATERAL (SELECT s1 FROM defender_storage.session_result s1
                                      WHERE s1.session_key = w.session_key OFFSET 0) l(s)
                 WHERE w.run_id = run), ''::bytea))
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
-- +goose StatementEnd

DROP FUNCTION defender_storage.written_run_digest_parts(bigint, "char", text, timestamptz, boolean);

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION defender_storage.written_run_digest_parts(run bigint, resource "char", tenant text, fetched timestamptz, wrote boolean) RETURNS bytea
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    parts bytea;
BEGIN
    -- Each statement is run_digest_parts for one run of the resource,
    -- without the parts the resource cannot write. Each restates the
    -- run's own part (1) and row, so that a run starts one plan: a
    -- statement of its own for them would start a second plan per run.
    IF resource = 'a' THEN
        IF NOT wrote THEN -- no version opened or closed, nothing deleted or withheld
            SELECT
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
                      LEFT JOIN defender_storage.agent_state a ON a.tenant_id = tenant AND a.agent_no = x.agent_no
                     WHERE o.run_id = run AND o.observed_at = fetched), ''::bytea))
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
              INTO parts
              FROM (SELECT rs.run_id, rt.tenant_id, rs.fetched_at, rs.previous_sync_at,
                           CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
                           CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
                           CASE WHEN rs.resource = 'a' THEN rs.records_seen ELSE 0 END AS agents_seen,
                           CASE WHEN rs.resource = 'a' THEN rs.records_inserted ELSE 0 END AS agents_inserted,
                           CASE WHEN rs.resource = 'a' THEN rs.records_changed ELSE 0 END AS agents_changed,
                           rs.heartbeat_only AS agents_heartbeat_only,
                           CASE WHEN rs.resource = 'a' THEN rs.records_unchanged ELSE 0 END AS agents_unchanged,
                           CASE WHEN rs.resource = 'a' THEN rs.records_deleted ELSE 0 END AS agents_deleted,
                           CASE WHEN rs.resource = 'a' THEN rs.records_rejected ELSE 0 END AS agents_rejected,
                           rs.deletions_withheld, rs.records_seen, rs.records_inserted, rs.records_changed, rs.records_unchanged,
                           rs.records_deleted, rs.records_rejected, rs.targets_inserted, rs.fields_repaired, rs.api_requests
                      FROM defender_storage.sync_run rs
                      JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
                     WHERE rs.run_id = run) r;
        ELSE
            SELECT
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
                                      WHEN a.deleted_by_run_id = run AND a.deleted_at = fetched THEN 'deleted'
                                      WHEN a.deleted_by_run_id IS DISTINCT FROM run
                                       AND EXISTS (SELECT FROM defender.scan_agent_history l
                                                    WHERE l.agent_key = a.agent_key AND l.valid_from > fetched) THEN 'deleted'
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
                          JOIN defender_storage.agent_state a ON a.agent_key = x.agent_key
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
                      LEFT JOIN defender_storage.agent_state a ON a.tenant_id = tenant AND a.agent_no = x.agent_no
                     WHERE o.run_id = run AND o.observed_at = fetched), ''::bytea))
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
              INTO parts
              FROM (SELECT rs.run_id, rt.tenant_id, rs.fetched_at, rs.previous_sync_at,
                           CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
                           CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
                           CASE WHEN rs.resource = 'a' THEN rs.records_seen ELSE 0 END AS agents_seen,
                           CASE WHEN rs.resource = 'a' THEN rs.records_inserted ELSE 0 END AS agents_inserted,
                           CASE WHEN rs.resource = 'a' THEN rs.records_changed ELSE 0 END AS agents_changed,
                           rs.heartbeat_only AS agents_heartbeat_only,
                           CASE WHEN rs.resource = 'a' THEN rs.records_unchanged ELSE 0 END AS agents_unchanged,
                           CASE WHEN rs.resource = 'a' THEN rs.records_deleted ELSE 0 END AS agents_deleted,
                           CASE WHEN rs.resource = 'a' THEN rs.records_rejected ELSE 0 END AS agents_rejected,
                           rs.deletions_withheld, rs.records_seen, rs.records_inserted, rs.records_changed, rs.records_unchanged,
                           rs.records_deleted, rs.records_rejected, rs.targets_inserted, rs.fields_repaired, rs.api_requests
                      FROM defender_storage.sync_run rs
                      JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
                     WHERE rs.run_id = run) r;
        END IF;
    ELSIF resource = 'd' THEN
        IF NOT wrote THEN -- no version opened or closed, nothing deleted or withheld
            SELECT
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
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
                || pg_catalog.sha256(''::bytea)
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
                     WHERE w.run_id = run), ''::bytea))
                || pg_catalog.sha256(''::bytea)
              INTO parts
              FROM (SELECT rs.run_id, rt.tenant_id, rs.fetched_at, rs.previous_sync_at,
                           CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
                           CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
                           CASE WHEN rs.resource = 'a' THEN rs.records_seen ELSE 0 END AS agents_seen,
                           CASE WHEN rs.resource = 'a' THEN rs.records_inserted ELSE 0 END AS agents_inserted,
                           CASE WHEN rs.resource = 'a' THEN rs.records_changed ELSE 0 END AS agents_changed,
                           rs.heartbeat_only AS agents_heartbeat_only,
                           CASE WHEN rs.resource = 'a' THEN rs.records_unchanged ELSE 0 END AS agents_unchanged,
                           CASE WHEN rs.resource = 'a' THEN rs.records_deleted ELSE 0 END AS agents_deleted,
                           CASE WHEN rs.resource = 'a' THEN rs.records_rejected ELSE 0 END AS agents_rejected,
                           rs.deletions_withheld, rs.records_seen, rs.records_inserted, rs.records_changed, rs.records_unchanged,
                           rs.records_deleted, rs.records_rejected, rs.targets_inserted, rs.fields_repaired, rs.api_requests
                      FROM defender_storage.sync_run rs
                      JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
                     WHERE rs.run_id = run) r;
        ELSE
            SELECT
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
                                      WHEN s.deleted_by_run_id = run AND s.deleted_at = fetched THEN 'deleted'
                                      WHEN s.deleted_by_run_id IS DISTINCT FROM run
                                       AND EXISTS (SELECT FROM defender_storage.definition_version l
                                                    WHERE l.definition_key = s.definition_key AND l.valid_from > fetched) THEN 'deleted'
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
                          JOIN defender_storage.definition_state s ON s.definition_key = x.definition_key
                         WHERE x.run_id = run) w), ''::bytea))
                || pg_catalog.sha256(''::bytea)
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
                     WHERE w.run_id = run), ''::bytea))
                || pg_catalog.sha256(''::bytea)
              INTO parts
              FROM (SELECT rs.run_id, rt.tenant_id, rs.fetched_at, rs.previous_sync_at,
                           CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
                           CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
                           CASE WHEN rs.resource = 'a' THEN rs.records_seen ELSE 0 END AS agents_seen,
                           CASE WHEN rs.resource = 'a' THEN rs.records_inserted ELSE 0 END AS agents_inserted,
                           CASE WHEN rs.resource = 'a' THEN rs.records_changed ELSE 0 END AS agents_changed,
                           rs.heartbeat_only AS agents_heartbeat_only,
                           CASE WHEN rs.resource = 'a' THEN rs.records_unchanged ELSE 0 END AS agents_unchanged,
                           CASE WHEN rs.resource = 'a' THEN rs.records_deleted ELSE 0 END AS agents_deleted,
                           CASE WHEN rs.resource = 'a' THEN rs.records_rejected ELSE 0 END AS agents_rejected,
                           rs.deletions_withheld, rs.records_seen, rs.records_inserted, rs.records_changed, rs.records_unchanged,
                           rs.records_deleted, rs.records_rejected, rs.targets_inserted, rs.fields_repaired, rs.api_requests
                      FROM defender_storage.sync_run rs
                      JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
                     WHERE rs.run_id = run) r;
        END IF;
    ELSIF resource = 'h' THEN
        SELECT
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
            || pg_catalog.sha256(''::bytea)
            || pg_catalog.sha256(''::bytea)
            || pg_catalog.sha256(''::bytea)
            || pg_catalog.sha256(''::bytea)
            || pg_catalog.sha256(''::bytea)
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
                 WHERE w.run_id = run), ''::bytea))
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
                 WHERE s.targets_run_id = run), ''::bytea))
          INTO parts
          FROM (SELECT rs.run_id, rt.tenant_id, rs.fetched_at, rs.previous_sync_at,
                       CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
                       CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
                       CASE WHEN rs.resource = 'a' THEN rs.records_seen ELSE 0 END AS agents_seen,
                       CASE WHEN rs.resource = 'a' THEN rs.records_inserted ELSE 0 END AS agents_inserted,
                       CASE WHEN rs.resource = 'a' THEN rs.records_changed ELSE 0 END AS agents_changed,
                       rs.heartbeat_only AS agents_heartbeat_only,
                       CASE WHEN rs.resource = 'a' THEN rs.records_unchanged ELSE 0 END AS agents_unchanged,
                       CASE WHEN rs.resource = 'a' THEN rs.records_deleted ELSE 0 END AS agents_deleted,
                       CASE WHEN rs.resource = 'a' THEN rs.records_rejected ELSE 0 END AS agents_rejected,
                       rs.deletions_withheld, rs.records_seen, rs.records_inserted, rs.records_changed, rs.records_unchanged,
                       rs.records_deleted, rs.records_rejected, rs.targets_inserted, rs.fields_repaired, rs.api_requests
                  FROM defender_storage.sync_run rs
                  JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
                 WHERE rs.run_id = run) r;
    ELSE
        RAISE EXCEPTION 'run % is of no known resource (%)', run, resource;
    END IF;
    RETURN parts;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.written_run_digest_parts(bigint, "char", text, timestamptz, boolean) IS
    'Internal: the parts of the digest of the loader''s run, of resource, tenant and fetch time: run_digest_parts for that run, read only where a run of its resource writes. verify recomputes every part with run_digest_parts.';
REVOKE ALL ON FUNCTION defender_storage.written_run_digest_parts(bigint, "char", text, timestamptz, boolean) FROM PUBLIC;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean DEFAULT false) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    stored bytea;
BEGIN
    -- The sessions the run wrote, as it left them (runs of scan
    -- definitions, their latest scans, and of history write sessions). At
    -- the upgrade every earlier writer is known, not the values it wrote:
    -- they are taken as they are now.
    INSERT INTO defender_storage.session_write (run_id, session_key, values_digest)
    SELECT run, s.session_key, defender_storage.session_digest(s)
      FROM defender_storage.session_result s
     WHERE ((s.recorded_by_run_id = run AND (at_upgrade OR s.updated_by_run_id IS NULL))
            OR s.updated_by_run_id = run)
       AND (at_upgrade OR EXISTS (SELECT FROM defender_storage.sync_run q WHERE q.run_id = run AND q.resource IN ('d', 'h')));
    -- One statement: the run, the chain's previous link, the parts.
    INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
    SELECT r.run_id, previous.run_id, defender_storage.chain_digest(previous.digest, p.parts),
           defender_storage.compact_digest_parts(p.parts), at_upgrade
      FROM (SELECT q.run_id, q.tenant_no, t.tenant_id, q.resource, q.fetched_at,
                   q.records_inserted + q.records_changed + q.records_deleted + q.deletions_withheld > 0 AS wrote
              FROM defender_storage.sync_run q
              JOIN defender_storage.tenants t ON t.tenant_no = q.tenant_no
             WHERE q.run_id = run AND q.status = 's') r
      -- The chain's previous link: the latest earlier successful run of
      -- the tenant and resource that has a digest, read backwards through
      -- the runs by tenant until the first (a probe, however long the
      -- history). The digest's test is per row, so that no plan joins
      -- every earlier run; the run id's bound is a filter (+ 0), so that
      -- no plan reads every earlier run by its key and sorts them.
      LEFT JOIN LATERAL (
            SELECT q.run_id, (SELECT d.digest FROM defender_storage.run_digest d WHERE d.run_id = q.run_id) AS digest
              FROM defender_storage.sync_run q
             WHERE q.tenant_no = r.tenant_no AND q.resource = r.resource AND q.status = 's'
               AND q.fetched_at < r.fetched_at AND q.run_id + 0 < r.run_id
               AND (SELECT true FROM defender_storage.run_digest d WHERE d.run_id = q.run_id)
             ORDER BY q.fetched_at DESC
             LIMIT 1) previous ON true
      -- At the upgrade, the canonical computation of every part (runs
      -- written by earlier releases); a sync's run, its resource's parts
      -- (computed once: the fence keeps the call from being copied into
      -- each use).
      CROSS JOIN LATERAL (
            SELECT CASE WHEN at_upgrade THEN (SELECT c.digest_parts FROM defender_storage.run_digest_parts(ARRAY[run]) c)
                        ELSE defender_storage.written_run_digest_parts(r.run_id, r.resource, r.tenant_id, r.fetched_at, r.wrote)
                   END AS parts
            OFFSET 0) p
    RETURNING digest INTO stored;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % is not a succeeded run: only successful runs have a digest', run;
    END IF;
    RETURN stored;
END;
$$;
-- +goose StatementEnd

DROP FUNCTION defender_storage.record_session_writes(bigint, boolean);
