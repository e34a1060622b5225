-- Drops a tenant's scan sessions that ran before the cutoff, with their
-- targets and their writes, keeping every session an answer still reads:
-- per definition, every session from its streak on (the later of its
-- latest success and its latest partial success; all of them when it has
-- neither), which holds its latest session and the failures
-- scan_coverage counts since the streak; the sessions of its latest
-- success, failure and partial success; and every session
-- target_coverage names (scan_target_status's latest scan and last
-- success of each target). Sessions without a time are never dropped.
-- A dropped target's address, host name and description stay in
-- scan_target (once per tenant, whatever the sessions that named it).
-- Records what it dropped in scan_history_dropped, for agentsync verify:
-- the runs up to the latest that had written a dropped session or its
-- targets. Returns the sessions dropped.
-- $1 tenant id, $2 the cutoff (timestamptz), $3 now (timestamptz).
WITH marks AS (
	SELECT s.definition_id,
	       max(s.scanned_at) FILTER (WHERE defender.scan_outcome(s.status) = 'success') AS ok,
	       max(s.scanned_at) FILTER (WHERE defender.scan_outcome(s.status) = 'failure') AS bad,
	       max(s.scanned_at) FILTER (WHERE defender.scan_outcome(s.status) = 'partial') AS partial
	  FROM defender_storage.session_result s
	 WHERE s.tenant_id = $1 AND s.scanned_at IS NOT NULL
	 GROUP BY s.definition_id
), doomed AS (
	SELECT s.session_key, s.recorded_by_run_id, s.updated_by_run_id, s.targets_run_id
	  FROM defender_storage.session_result s
	  JOIN marks m ON m.definition_id = s.definition_id
	 WHERE s.tenant_id = $1 AND s.scanned_at < $2::timestamptz
	   AND s.scanned_at < coalesce(greatest(m.ok, m.partial), '-infinity')
	   AND s.scanned_at IS DISTINCT FROM m.ok AND s.scanned_at IS DISTINCT FROM m.bad
	   AND NOT EXISTS (SELECT FROM defender_storage.target_coverage c
	                    WHERE c.tenant_id = $1
	                      AND (c.latest_session_key = s.session_key OR c.last_success_session_key = s.session_key))
), writes AS (
	DELETE FROM defender_storage.session_write w USING doomed d
	 WHERE w.session_key = d.session_key
	RETURNING w.run_id
), targets AS (
	DELETE FROM defender_storage.session_target t USING doomed d
	 WHERE t.session_key = d.session_key
	RETURNING t.session_key
), sessions AS (
	DELETE FROM defender_storage.session_result s USING doomed d
	 WHERE s.session_key = d.session_key
	RETURNING s.session_key, greatest(d.recorded_by_run_id, d.updated_by_run_id, d.targets_run_id) AS last_run_id
), dropped AS (
	SELECT count(*) AS sessions,
	       greatest((SELECT max(last_run_id) FROM sessions), (SELECT max(run_id) FROM writes)) AS through_run_id,
	       (SELECT count(*) FROM targets) AS targets
	  FROM sessions
), recorded AS (
	INSERT INTO defender_storage.scan_history_dropped AS h (tenant_id, dropped_before, through_run_id, sessions, dropped_at)
	SELECT $1, $2, d.through_run_id, d.sessions, $3 FROM dropped d WHERE d.sessions > 0
	ON CONFLICT (tenant_id) DO UPDATE
	   SET dropped_before = greatest(h.dropped_before, excluded.dropped_before),
	       through_run_id = greatest(h.through_run_id, excluded.through_run_id),
	       sessions = h.sessions + excluded.sessions,
	       dropped_at = excluded.dropped_at
)
SELECT d.sessions, d.targets FROM dropped d
