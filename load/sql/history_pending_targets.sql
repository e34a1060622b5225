-- Lists the ids of the tenant's sessions that have no targets stored yet,
-- newest first.
-- $1 tenant id, $2 the most to list.
SELECT coalesce(pg_catalog.array_agg(session_id), '{}') FROM (
	SELECT session_id FROM defender_storage.session_result
	 WHERE tenant_id = $1 AND session_id IS NOT NULL AND targets_run_id IS NULL
	 ORDER BY scanned_at DESC NULLS LAST, session_key DESC
	 LIMIT $2) p
