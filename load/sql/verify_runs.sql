-- Recomputes the digest of every successful run (and of any run that has
-- one) from the rows as stored, for agentsync verify: per run, in order
-- within each tenant and resource, the stored digest and parts (as
-- run_digest keeps them: compact_digest_parts), the parts recomputed by
-- run_digest_parts (the loader's own computation) in the same form, and
-- the digest the whole parts give chained with the stored digest of the
-- run before (and those whole parts, for verify to chain them with a run
-- RUN_RETENTION dropped, whose digest runs_dropped keeps). A run whose
-- observations OBSERVATION_RETENTION dropped (its month's partition is
-- gone) has its observations part taken as stored;
-- so are the session and target parts of a definitions or history run up
-- to the latest whose sessions SCAN_HISTORY_RETENTION dropped
-- (scan_history_dropped). The runs
-- are shared among workers, each in a transaction of the same snapshot:
-- this one reads those whose run_id is $3 modulo $2.
-- $1 tenant (null: every tenant), $2 workers, $3 this worker (0 … $2-1).
WITH r AS (
    SELECT s.run_id, s.tenant_id, s.resource, s.status, s.fetched_at, s.expected_previous
      FROM (SELECT s.run_id, s.tenant_id, s.resource, s.status, s.fetched_at,
                   CASE WHEN s.status = 'succeeded'
                        THEN pg_catalog.lag(s.run_id) OVER (PARTITION BY s.tenant_id, s.resource, s.status = 'succeeded' ORDER BY s.run_id)
                   END AS expected_previous
              FROM defender.sync_runs s
             WHERE ($1::text IS NULL OR s.tenant_id = pg_catalog.lower($1::text))
               AND (s.status = 'succeeded' OR EXISTS (SELECT FROM defender_storage.run_digest e WHERE e.run_id = s.run_id))) s
     WHERE s.run_id % $2::bigint = $3::bigint
), x AS (
    SELECT q.digested_run_id, q.digest_parts
      FROM defender_storage.run_digest_parts(ARRAY(SELECT r.run_id FROM r)) q
)
SELECT r.run_id, r.tenant_id, r.resource, r.status, r.fetched_at,
       d.run_id IS NOT NULL AS has_digest, d.previous_run_id, r.expected_previous,
       d.digest, d.parts, defender_storage.compact_digest_parts(x.digest_parts) AS recomputed, o.dropped AS observations_dropped,
       sd.dropped AS sessions_dropped, defender_storage.chain_digest(p.digest, y.parts) AS expected_digest,
       coalesce(d.computed_at_upgrade, false) AS computed_at_upgrade, y.parts AS whole_parts
  FROM r
  JOIN x ON x.digested_run_id = r.run_id
  LEFT JOIN defender_storage.run_digest d ON d.run_id = r.run_id
  LEFT JOIN defender_storage.run_digest p ON p.run_id = d.previous_run_id
 CROSS JOIN LATERAL (
       SELECT r.resource = 'agents' AND r.fetched_at IS NOT NULL
              AND pg_catalog.to_regclass('defender_storage.observation_'
                      || pg_catalog.to_char(r.fetched_at AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL AS dropped) o
 CROSS JOIN LATERAL (
       SELECT r.resource IN ('definitions', 'history')
              AND EXISTS (SELECT FROM defender_storage.scan_history_dropped h
                           WHERE h.tenant_id = r.tenant_id AND r.run_id <= h.through_run_id) AS dropped) sd
 CROSS JOIN LATERAL (
       -- The whole parts, those retention dropped the rows of as stored
       -- (compact_digest_parts keeps them at 21, 53 and 85).
       SELECT CASE WHEN o.dropped AND d.parts IS NOT NULL
                   THEN overlay(x.digest_parts PLACING pg_catalog.substr(d.parts, 21, 32) FROM 161 FOR 32)
                   WHEN sd.dropped AND d.parts IS NOT NULL
                   THEN overlay(x.digest_parts PLACING pg_catalog.substr(d.parts, 53, 64) FROM 193 FOR 64)
                   ELSE x.digest_parts END AS parts) y
 ORDER BY r.tenant_id, r.resource, r.run_id
