-- A run's counts (records seen, inserted, changed, deleted, rejected,
-- heartbeat-only agents, withheld deletions, targets inserted, fields
-- repaired, API requests) took 44 bytes of its row, and most of them are
-- 0 in most runs: an hourly run that changed nothing has two or three
-- counts that are not. A count of 0 is now stored as null, which takes
-- no bytes (the row's null bitmap is there already). defender.sync_runs
-- and the run digests read null as 0: every answer, and every digest, is
-- unchanged.
--
-- The runs stored before keep their zeros: rewriting them would take the
-- upgrade about 28 s and 350 MB of old row versions per 100 tenant-years
-- (2.6 million runs), and bloat the runs' indexes for good, to save 22
-- bytes a run. The upgrade changes the catalog alone. Rolling it back
-- writes 0 into the counts stored as null.

-- +goose Up
ALTER TABLE defender_storage.sync_run
    ALTER COLUMN records_seen DROP DEFAULT,
    ALTER COLUMN records_seen DROP NOT NULL,
    ALTER COLUMN records_inserted DROP DEFAULT,
    ALTER COLUMN records_inserted DROP NOT NULL,
    ALTER COLUMN records_changed DROP DEFAULT,
    ALTER COLUMN records_changed DROP NOT NULL,
    ALTER COLUMN records_unchanged DROP DEFAULT,
    ALTER COLUMN records_unchanged DROP NOT NULL,
    ALTER COLUMN records_deleted DROP DEFAULT,
    ALTER COLUMN records_deleted DROP NOT NULL,
    ALTER COLUMN records_rejected DROP DEFAULT,
    ALTER COLUMN records_rejected DROP NOT NULL,
    ALTER COLUMN heartbeat_only DROP DEFAULT,
    ALTER COLUMN heartbeat_only DROP NOT NULL,
    ALTER COLUMN deletions_withheld DROP DEFAULT,
    ALTER COLUMN deletions_withheld DROP NOT NULL,
    ALTER COLUMN targets_inserted DROP DEFAULT,
    ALTER COLUMN targets_inserted DROP NOT NULL,
    ALTER COLUMN fields_repaired DROP DEFAULT,
    ALTER COLUMN fields_repaired DROP NOT NULL,
    ALTER COLUMN api_requests DROP DEFAULT,
    ALTER COLUMN api_requests DROP NOT NULL,
    DROP CONSTRAINT sync_run_heartbeat_only_of_agents,
    ADD CONSTRAINT sync_run_heartbeat_only_of_agents CHECK (resource = 'a' OR heartbeat_only IS NULL OR heartbeat_only = 0);

COMMENT ON COLUMN defender_storage.sync_run.records_seen IS 'sync_runs.records_seen (and agents_seen of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.records_inserted IS 'sync_runs.records_inserted (and agents_inserted of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.records_changed IS 'sync_runs.records_changed (and agents_changed of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.records_unchanged IS 'sync_runs.records_unchanged (and agents_unchanged of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.records_deleted IS 'sync_runs.records_deleted (and agents_deleted of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.records_rejected IS 'sync_runs.records_rejected (and agents_rejected of agent runs), null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.heartbeat_only IS 'sync_runs.agents_heartbeat_only, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0), as on every run of another resource.';
COMMENT ON COLUMN defender_storage.sync_run.deletions_withheld IS 'sync_runs.deletions_withheld, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.targets_inserted IS 'sync_runs.targets_inserted, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.fields_repaired IS 'sync_runs.fields_repaired, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON COLUMN defender_storage.sync_run.api_requests IS 'sync_runs.api_requests, null when 0 (0 in the runs stored before schema 41; sync_runs shows 0).';
COMMENT ON TABLE defender_storage.sync_run IS 'One row per sync of a resource of a tenant, in compact form: what defender.sync_runs shows (query it instead). The agents_* counts of sync_runs are the records_* of agent runs. A count of 0 is stored as null, in no bytes (as 0 in the runs stored before schema 41).';

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
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (t.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));

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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.run_digest_parts(runs bigint[]) RETURNS TABLE(digested_run_id bigint, digest_parts bytea)
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
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.run_digest_parts(runs bigint[]) RETURNS TABLE(digested_run_id bigint, digest_parts bytea)
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
         WHERE rs.run_id = ANY (runs)) r;
END;
$$;
-- +goose StatementEnd

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

UPDATE defender_storage.sync_run
   SET records_seen = coalesce(records_seen, 0),
       records_inserted = coalesce(records_inserted, 0),
       records_changed = coalesce(records_changed, 0),
       records_unchanged = coalesce(records_unchanged, 0),
       records_deleted = coalesce(records_deleted, 0),
       records_rejected = coalesce(records_rejected, 0),
       heartbeat_only = coalesce(heartbeat_only, 0),
       deletions_withheld = coalesce(deletions_withheld, 0),
       targets_inserted = coalesce(targets_inserted, 0),
       fields_repaired = coalesce(fields_repaired, 0),
       api_requests = coalesce(api_requests, 0)
 WHERE num_nulls(records_seen, records_inserted, records_changed, records_unchanged, records_deleted, records_rejected, heartbeat_only, deletions_withheld, targets_inserted, fields_repaired, api_requests) > 0;

ALTER TABLE defender_storage.sync_run
    DROP CONSTRAINT sync_run_heartbeat_only_of_agents;

ALTER TABLE defender_storage.sync_run
    ALTER COLUMN records_seen SET DEFAULT 0,
    ALTER COLUMN records_seen SET NOT NULL,
    ALTER COLUMN records_inserted SET DEFAULT 0,
    ALTER COLUMN records_inserted SET NOT NULL,
    ALTER COLUMN records_changed SET DEFAULT 0,
    ALTER COLUMN records_changed SET NOT NULL,
    ALTER COLUMN records_unchanged SET DEFAULT 0,
    ALTER COLUMN records_unchanged SET NOT NULL,
    ALTER COLUMN records_deleted SET DEFAULT 0,
    ALTER COLUMN records_deleted SET NOT NULL,
    ALTER COLUMN records_rejected SET DEFAULT 0,
    ALTER COLUMN records_rejected SET NOT NULL,
    ALTER COLUMN heartbeat_only SET DEFAULT 0,
    ALTER COLUMN heartbeat_only SET NOT NULL,
    ALTER COLUMN deletions_withheld SET DEFAULT 0,
    ALTER COLUMN deletions_withheld SET NOT NULL,
    ALTER COLUMN targets_inserted SET DEFAULT 0,
    ALTER COLUMN targets_inserted SET NOT NULL,
    ALTER COLUMN fields_repaired SET DEFAULT 0,
    ALTER COLUMN fields_repaired SET NOT NULL,
    ALTER COLUMN api_requests SET DEFAULT 0,
    ALTER COLUMN api_requests SET NOT NULL,
    ADD CONSTRAINT sync_run_heartbeat_only_of_agents CHECK (resource = 'a' OR heartbeat_only = 0);

COMMENT ON COLUMN defender_storage.sync_run.records_seen IS 'sync_runs.records_seen (and agents_seen of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_inserted IS 'sync_runs.records_inserted (and agents_inserted of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_changed IS 'sync_runs.records_changed (and agents_changed of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_unchanged IS 'sync_runs.records_unchanged (and agents_unchanged of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_deleted IS 'sync_runs.records_deleted (and agents_deleted of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_rejected IS 'sync_runs.records_rejected (and agents_rejected of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.heartbeat_only IS 'sync_runs.agents_heartbeat_only: 0 on runs of other resources.';
COMMENT ON COLUMN defender_storage.sync_run.deletions_withheld IS 'sync_runs.deletions_withheld.';
COMMENT ON COLUMN defender_storage.sync_run.targets_inserted IS 'sync_runs.targets_inserted.';
COMMENT ON COLUMN defender_storage.sync_run.fields_repaired IS 'sync_runs.fields_repaired.';
COMMENT ON COLUMN defender_storage.sync_run.api_requests IS 'sync_runs.api_requests.';
COMMENT ON TABLE defender_storage.sync_run IS 'One row per sync of a resource of a tenant, in compact form: what defender.sync_runs shows (query it instead). The agents_* counts of sync_runs are the records_* of agent runs.';
