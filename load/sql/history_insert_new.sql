-- Inserts the new sessions of agentsync_work_sessions_diff, their keys
-- given in the order of the readings, and records their keys there. A
-- session whose reading carries its targets is recorded as having them
-- stored by the run (history_store_targets stores them in the same
-- transaction).
-- $1 tenant id, $2 fetch time, $3 run id.
WITH inserted AS (
	INSERT INTO defender_storage.session_result (tenant_id, definition_id, session_id, scanner_id, scanner_agent_id, status, scanned_at, targets, succeeded_targets, general_error, extra, source, recorded_at, recorded_by_run_id, listed_fingerprint, targets_run_id)
	SELECT $1, definition_id, session_id, scanner_id, scanner_agent_id, status, scanned_at, targets, succeeded_targets, general_error, extra, 'history', $2, $3, fingerprint,
	       CASE WHEN targets_reported THEN $3::bigint END
	  FROM pg_temp.agentsync_work_sessions_diff WHERE session_key IS NULL
	 -- In the order of the readings, whatever the order of the work
	 -- table's rows: the same history gets the same keys.
	 ORDER BY seq
	RETURNING session_key, definition_id, session_id, scanned_at
)
-- A staged session is known by its id, else by its definition
-- and time: one key, so that the match is a hash join.
UPDATE pg_temp.agentsync_work_sessions_diff d
   SET session_key = i.session_key, inserted = true
  FROM inserted i
 WHERE d.session_key IS NULL
   AND coalesce(d.session_id, d.definition_id || ' ' || d.scanned_at::text)
     = coalesce(i.session_id, i.definition_id || ' ' || i.scanned_at::text)
