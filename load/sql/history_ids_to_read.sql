-- Lists the ids of the sessions whose targets a history sync reads by
-- session, newest first: the tenant's stored sessions without targets,
-- and the sessions of the reading by definition
-- (agentsync_work_sessions) not stored yet, so that a new session is
-- written once, with its targets; less the sessions whose last staged
-- record carries its targets (they are stored from it). Sessions that ran
-- at the same time go by id, so that a history is asked in one order.
-- $1 tenant id, $2 the most to list.
WITH listed AS (
	SELECT DISTINCT ON (s.session_id) s.session_id, s.scanned_at, s.targets_reported
	  FROM pg_temp.agentsync_work_sessions s
	 WHERE s.ordinal = -1 AND s.session_id IS NOT NULL
	 ORDER BY s.session_id, s.seq DESC
)
SELECT coalesce(pg_catalog.array_agg(p.session_id ORDER BY p.scanned_at DESC NULLS LAST, p.session_key DESC NULLS FIRST, p.session_id DESC), '{}') FROM (
	SELECT u.session_id, u.scanned_at, u.session_key FROM (
		SELECT r.session_id, r.scanned_at, r.session_key FROM defender_storage.session_result r
		 WHERE r.tenant_id = $1 AND r.session_id IS NOT NULL AND r.targets_run_id IS NULL
		   AND NOT EXISTS (SELECT FROM listed l WHERE l.session_id = r.session_id AND l.targets_reported)
		UNION ALL
		SELECT l.session_id, l.scanned_at, NULL FROM listed l
		 WHERE NOT l.targets_reported
		   AND NOT EXISTS (SELECT FROM defender_storage.session_result r WHERE r.tenant_id = $1 AND r.session_id = l.session_id)
	) u
	 ORDER BY u.scanned_at DESC NULLS LAST, u.session_key DESC NULLS FIRST, u.session_id DESC
	 LIMIT $2) p
