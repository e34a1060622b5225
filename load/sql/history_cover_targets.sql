-- Brings target_coverage up to date with the targets a sync stored (those
-- of the sessions in agentsync_work_targets_stored): per target and
-- definition, the latest scan and the last successful one. A row moves
-- only when the new latest scan is later than the stored one (a session
-- without time is the oldest) or the new last success is later than the
-- stored one; rows the new targets do not move are not written.
-- $1 tenant id.
WITH new AS (
	SELECT coalesce(nullif(t.ip, ''), pg_catalog.lower(nullif(t.hostname, ''))) AS target,
	       s.definition_id, s.session_key, t.ordinal, s.scanned_at,
	       defender.scan_outcome(t.status) = 'success' AS ok
	  FROM defender_storage.session_result s
	 -- Each session's targets by its key (the fence keeps the planner
	 -- from reading every target to join them); the same array on the
	 -- targets instead would search their index once per key for every
	 -- session.
	 CROSS JOIN LATERAL (SELECT t1.ordinal, t1.ip, t1.hostname, t1.status FROM defender_storage.target_result t1
	                      WHERE t1.session_key = s.session_key OFFSET 0) t
	 -- The keys as an array: the sessions are read by their index,
	 -- whatever the planner guesses of the size of the work table.
	 WHERE s.session_key = ANY (ARRAY(SELECT n.session_key FROM pg_temp.agentsync_work_targets_stored n))
), per_target AS (
	-- Per target and definition, its latest scan and its last success,
	-- in one grouping (a join of the two, estimated at a row each, was a
	-- nested loop over thousands in a first sync).
	SELECT target, definition_id,
	       (pg_catalog.array_agg(session_key ORDER BY scanned_at DESC NULLS LAST, session_key DESC, ordinal))[1] AS session_key,
	       (pg_catalog.array_agg(ordinal ORDER BY scanned_at DESC NULLS LAST, session_key DESC, ordinal))[1] AS ordinal,
	       (pg_catalog.array_agg(scanned_at ORDER BY scanned_at DESC NULLS LAST, session_key DESC, ordinal))[1] AS scanned_at,
	       (pg_catalog.array_agg(scanned_at ORDER BY scanned_at DESC NULLS LAST, session_key DESC) FILTER (WHERE ok))[1] AS success_at,
	       (pg_catalog.array_agg(session_key ORDER BY scanned_at DESC NULLS LAST, session_key DESC) FILTER (WHERE ok))[1] AS success_key
	  FROM new WHERE target IS NOT NULL
	 GROUP BY target, definition_id
)
INSERT INTO defender_storage.target_coverage AS c
       (tenant_id, target, definition_id, latest_session_key, latest_ordinal, latest_scanned_at,
        last_success_at, last_success_session_key)
SELECT $1, p.target, p.definition_id, p.session_key, p.ordinal, p.scanned_at, p.success_at, p.success_key
  FROM per_target p
ON CONFLICT (tenant_id, target, definition_id) DO UPDATE
   SET latest_session_key = CASE WHEN ((coalesce(excluded.latest_scanned_at, '-infinity'), excluded.latest_session_key)
                                       > (coalesce(c.latest_scanned_at, '-infinity'), c.latest_session_key))
                                 THEN excluded.latest_session_key ELSE c.latest_session_key END,
       latest_ordinal = CASE WHEN ((coalesce(excluded.latest_scanned_at, '-infinity'), excluded.latest_session_key)
                                   > (coalesce(c.latest_scanned_at, '-infinity'), c.latest_session_key))
                             THEN excluded.latest_ordinal ELSE c.latest_ordinal END,
       latest_scanned_at = CASE WHEN ((coalesce(excluded.latest_scanned_at, '-infinity'), excluded.latest_session_key)
                                      > (coalesce(c.latest_scanned_at, '-infinity'), c.latest_session_key))
                                THEN excluded.latest_scanned_at ELSE c.latest_scanned_at END,
       last_success_at = CASE WHEN (excluded.last_success_session_key IS NOT NULL
                                    AND coalesce(excluded.last_success_at, '-infinity') > coalesce(c.last_success_at, '-infinity'))
                              THEN excluded.last_success_at ELSE c.last_success_at END,
       last_success_session_key = CASE WHEN (excluded.last_success_session_key IS NOT NULL
                                             AND coalesce(excluded.last_success_at, '-infinity') > coalesce(c.last_success_at, '-infinity'))
                                       THEN excluded.last_success_session_key ELSE c.last_success_session_key END
 WHERE ((coalesce(excluded.latest_scanned_at, '-infinity'), excluded.latest_session_key)
        > (coalesce(c.latest_scanned_at, '-infinity'), c.latest_session_key))
    OR (excluded.last_success_session_key IS NOT NULL
        AND coalesce(excluded.last_success_at, '-infinity') > coalesce(c.last_success_at, '-infinity'))
