-- Looks at $4 of a tenant's oldest runs that fetched (a failed run:
-- started) before the cutoff, and drops those that nothing refers to: no
-- version, no deletion or withheld deletion, no observation, no session
-- or target, no rollup, no target status names them, and none is the
-- latest run of its tenant or of its chain, nor the latest failure of its
-- tenant and resource. Every foreign key to sync_run is one of the NOT
-- EXISTS below (TestRunRetentionKnowsEveryReference).
--
-- A successful run's digest stays in its chain: the runs dropped are kept
-- as stretches of runs_dropped, each a run of consecutive runs of one
-- chain, with per run its number and the part digests the chain needs
-- (41 to 137 bytes), and the digest of its last run. A run is dropped
-- only when that is exactly what it chains: nothing refers to it, so its
-- parts 2 to 8 are the digest of nothing, but those retention dropped the
-- rows of, which are taken as stored as agentsync verify takes them (the
-- observations part when OBSERVATION_RETENTION dropped its month, the
-- sessions and targets parts when SCAN_HISTORY_RETENTION dropped what it
-- wrote); with its run part, recomputed from its row, they must give its
-- digest chained with the previous run's. A run that would not verify
-- stays, for verify to name. A failed run has no digest and leaves
-- nothing.
--
-- Records the last run it looked at in run_retention_progress. Returns
-- the successful and the failed runs dropped, how many runs it looked at
-- and the last of them (null when none): the next batch begins after it.
-- $1 tenant id, $2 the cutoff (timestamptz), $3 now (timestamptz), $4 the
-- most runs to look at, $5 the run after which to look
-- (retention_run_tenants, then the last run of the batch before).
WITH looked AS (
    -- The batch: the tenant's next runs past the retention.
    SELECT r.run_id, r.tenant_no, r.resource, r.status, r.fetched_at
      FROM defender_storage.sync_run r
     WHERE r.tenant_no = (SELECT t.tenant_no FROM defender_storage.tenants t WHERE t.tenant_id = $1)
       AND r.status IN ('s', 'f')
       AND r.run_id > $5::bigint
       AND coalesce(r.fetched_at, r.started_at) < $2::timestamptz
     ORDER BY r.run_id
     LIMIT $4
), candidate AS (
    SELECT r.run_id, r.tenant_no, r.resource, r.status, r.fetched_at
      FROM looked r
     WHERE CASE WHEN r.status = 's'
                -- not the chain's head: a run, or a stretch of runs
                -- dropped, chains it
                THEN EXISTS (SELECT FROM defender_storage.run_digest n WHERE n.previous_run_id = r.run_id)
                     OR EXISTS (SELECT FROM defender_storage.runs_dropped n WHERE n.previous_run_id = r.run_id)
                -- not the latest failure of its tenant and resource
                -- (tenant_sync_status, the metrics), nor one with a digest
                ELSE r.run_id < (SELECT max(f.run_id) FROM defender_storage.sync_run f
                                  WHERE f.tenant_no = r.tenant_no AND f.resource = r.resource AND f.status = 'f')
                     AND NOT EXISTS (SELECT FROM defender_storage.run_digest d WHERE d.run_id = r.run_id) END
       AND NOT EXISTS (SELECT FROM defender_storage.tenants x WHERE x.last_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender.scan_agent_history x WHERE x.opened_by_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender.scan_agent_history x WHERE x.closed_by_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.agent_state x WHERE x.first_seen_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.agent_state x WHERE x.deleted_by_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.withheld_deletions x WHERE x.run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.observation x WHERE x.run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.agent_daily x WHERE x.run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.tenant_daily x WHERE x.run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.definition_state x WHERE x.first_seen_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.definition_state x WHERE x.deleted_by_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.definition_version x WHERE x.opened_by_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.definition_version x WHERE x.closed_by_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.definition_withheld x WHERE x.run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.session_result x WHERE x.recorded_by_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.session_result x WHERE x.updated_by_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.session_result x WHERE x.targets_run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.session_write x WHERE x.run_id = r.run_id)
       AND NOT EXISTS (SELECT FROM defender_storage.target_status x WHERE x.as_of_run_id = r.run_id)
), parts AS (
    -- The run part of each successful run looked at: run_digest_parts'
    -- part 1, the encoding of its row of sync_runs. Its parts 2 to 8 are
    -- the digest of nothing, nothing referring to it, but those whose rows
    -- retention dropped (taken as stored below). A run whose digest these
    -- do not give is kept: a run edited, or rows removed by hand.
    SELECT r.run_id,
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
               || defender_storage.digest_field(r.api_requests::text)) AS run_part
      -- The runs as defender.sync_runs shows them, read from their storage
      -- (as run_digest_parts reads them).
      FROM (SELECT rs.run_id, rt.tenant_id, rs.fetched_at, rs.previous_sync_at,
                   defender_storage.run_resource_name(rs.resource) AS resource,
                   'succeeded' AS status,
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
              FROM candidate c
              JOIN defender_storage.sync_run rs ON rs.run_id = c.run_id
              JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
             WHERE c.status = 's') r
), linked AS (
    SELECT c.run_id, c.tenant_no, c.resource, c.fetched_at, d.previous_run_id, d.previous_dropped_run_id, d.computed_at_upgrade,
           coalesce(d.previous_run_id, d.previous_dropped_run_id) AS chained,
           d.digest,
           -- its number, its run part, which of parts 6 to 8 are not the
           -- digest of nothing, and those
           pg_catalog.int8send(c.run_id) || x.run_part
               || pg_catalog.set_byte('\x00'::bytea, 0,
                      (y.observations <> e.nothing)::int
                      | ((y.sessions <> e.nothing)::int << 1)
                      | ((y.targets <> e.nothing)::int << 2))
               || CASE WHEN y.observations <> e.nothing THEN y.observations ELSE '' END
               || CASE WHEN y.sessions <> e.nothing THEN y.sessions ELSE '' END
               || CASE WHEN y.targets <> e.nothing THEN y.targets ELSE '' END AS link
      FROM candidate c
      JOIN defender_storage.run_digest d ON d.run_id = c.run_id
      JOIN parts x ON x.run_id = c.run_id
     CROSS JOIN (SELECT pg_catalog.sha256(''::bytea) AS nothing) e
     CROSS JOIN LATERAL (
           SELECT c.resource = 'a'
                  AND pg_catalog.to_regclass('defender_storage.observation_'
                          || pg_catalog.to_char(c.fetched_at AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL AS observations,
                  c.resource IN ('d', 'h')
                  AND EXISTS (SELECT FROM defender_storage.scan_history_dropped h
                               WHERE h.tenant_id = $1 AND c.run_id <= h.through_run_id) AS sessions) dropped
     CROSS JOIN LATERAL (
           -- parts 6, 7 and 8 (run_digest.parts keeps them at 21, 53 and 85)
           SELECT CASE WHEN dropped.observations THEN pg_catalog.substr(d.parts, 21, 32) ELSE e.nothing END AS observations,
                  CASE WHEN dropped.sessions THEN pg_catalog.substr(d.parts, 53, 32) ELSE e.nothing END AS sessions,
                  CASE WHEN dropped.sessions THEN pg_catalog.substr(d.parts, 85, 32) ELSE e.nothing END AS targets) y
     CROSS JOIN LATERAL (
           SELECT coalesce((SELECT p.digest FROM defender_storage.run_digest p WHERE p.run_id = d.previous_run_id),
                           (SELECT s.digest FROM defender_storage.runs_dropped s
                             WHERE s.last_run_id = d.previous_dropped_run_id)) AS digest) previous
     WHERE (previous.digest IS NOT NULL OR (d.previous_run_id IS NULL AND d.previous_dropped_run_id IS NULL))
       AND defender_storage.chain_digest(previous.digest,
               x.run_part || e.nothing || e.nothing || e.nothing || e.nothing || y.observations || y.sessions || y.targets) = d.digest
), stretch AS (
    -- A stretch begins where a run does not chain the one before it here.
    SELECT l.*, pg_catalog.count(*) FILTER (WHERE l.starts) OVER (PARTITION BY l.resource ORDER BY l.run_id) AS stretch
      FROM (SELECT l.*, l.chained IS DISTINCT FROM pg_catalog.lag(l.run_id) OVER (PARTITION BY l.resource ORDER BY l.run_id) AS starts
              FROM linked l) l
), kept AS (
    INSERT INTO defender_storage.runs_dropped (tenant_no, resource, previous_run_id, previous_dropped_run_id, first_run_id,
                                               last_run_id, runs, runs_computed_at_upgrade, first_fetched_at,
                                               last_fetched_at, dropped_before, dropped_at, digest, links)
    SELECT min(s.tenant_no), s.resource, (pg_catalog.array_agg(s.previous_run_id ORDER BY s.run_id))[1],
           (pg_catalog.array_agg(s.previous_dropped_run_id ORDER BY s.run_id))[1], min(s.run_id), max(s.run_id), count(*),
           count(*) FILTER (WHERE s.computed_at_upgrade), min(s.fetched_at), max(s.fetched_at), $2::timestamptz, $3::timestamptz,
           (pg_catalog.array_agg(s.digest ORDER BY s.run_id DESC))[1], pg_catalog.string_agg(s.link, ''::bytea ORDER BY s.run_id)
      FROM stretch s
     GROUP BY s.resource, s.stretch
    RETURNING runs
), chained_kept AS (
    -- A run kept that chains one dropped now chains the last of its
    -- stretch: that run.
    UPDATE defender_storage.run_digest d
       SET previous_run_id = NULL, previous_dropped_run_id = d.previous_run_id
     WHERE d.previous_run_id IN (SELECT l.run_id FROM linked l)
       AND d.run_id NOT IN (SELECT l.run_id FROM linked l)
    RETURNING d.run_id
), chained_dropped AS (
    -- So does an earlier stretch that chains a run dropped now.
    UPDATE defender_storage.runs_dropped s
       SET previous_run_id = NULL, previous_dropped_run_id = s.previous_run_id
     WHERE s.previous_run_id IN (SELECT l.run_id FROM linked l)
    RETURNING s.last_run_id
), digests AS (
    DELETE FROM defender_storage.run_digest d
     WHERE d.run_id IN (SELECT l.run_id FROM linked l)
    RETURNING d.run_id
), progress AS (
    -- How far the tenant's runs were looked at.
    INSERT INTO defender_storage.run_retention_progress AS p (tenant_no, through_run_id, looked_at)
    SELECT l.tenant_no, max(l.run_id), $3::timestamptz FROM looked l GROUP BY l.tenant_no
    ON CONFLICT (tenant_no) DO UPDATE
       SET through_run_id = greatest(p.through_run_id, excluded.through_run_id), looked_at = excluded.looked_at
    RETURNING p.tenant_no
), dropped AS (
    DELETE FROM defender_storage.sync_run r
     WHERE r.run_id IN (SELECT l.run_id FROM linked l)
        OR r.run_id IN (SELECT c.run_id FROM candidate c WHERE c.status = 'f')
    RETURNING r.status
)
SELECT count(*) FILTER (WHERE d.status = 's'), count(*) FILTER (WHERE d.status = 'f'),
       (SELECT count(*) FROM looked), (SELECT max(l.run_id) FROM looked l)
  FROM dropped d
