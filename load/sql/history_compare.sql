-- Compares the staged sessions with the stored ones and keeps the result
-- in agentsync_work_sessions_diff: each staged session
-- completed by the stored one (what the history sent wins, what it did
-- not send is kept), whether that changes the stored row, and its stored
-- key (null when new). The scanner agent is the agent whose machine id (or
-- id) is the scanner the history named, else the one already stored, else
-- the definition's.
-- $1 tenant id.
INSERT INTO pg_temp.agentsync_work_sessions_diff (seq, targets_reported, fingerprint, session_key, definition_id, session_id,
       scanner_id, scanner_agent_id, status, scanned_at, targets, succeeded_targets, general_error, extra, changed, inserted)
WITH staged AS (
	SELECT s.*, sc.agent_id AS resolved_agent_id
	  FROM pg_temp.agentsync_work_sessions s
	  LEFT JOIN (SELECT DISTINCT ON (x.scanner_id) x.scanner_id, a.agent_id
	               FROM (SELECT DISTINCT scanner_id FROM pg_temp.agentsync_work_sessions WHERE ordinal = -1 AND scanner_id IS NOT NULL) x
	               JOIN defender_storage.agent_state a
	                 ON a.tenant_id = $1 AND (a.machine_id = x.scanner_id OR a.agent_id = x.scanner_id)
	              ORDER BY x.scanner_id, a.deleted_at IS NULL DESC, a.agent_key DESC) sc
	    ON sc.scanner_id = s.scanner_id
	 WHERE s.ordinal = -1
), merged AS (
	SELECT st.seq, st.targets_reported, st.fingerprint, m.session_key, m.source AS stored_source,
	       coalesce(m.definition_id, st.definition_id) AS definition_id,
	       coalesce(st.session_id, m.session_id) AS session_id,
	       coalesce(st.scanner_id, m.scanner_id) AS scanner_id,
	       coalesce(st.resolved_agent_id, m.scanner_agent_id, d.scanner_agent_id) AS scanner_agent_id,
	       coalesce(st.status, m.status) AS status,
	       coalesce(st.scanned_at, m.scanned_at) AS scanned_at,
	       coalesce(st.targets, m.targets) AS targets,
	       coalesce(st.succeeded_targets, m.succeeded_targets) AS succeeded_targets,
	       coalesce(st.general_error, m.general_error) AS general_error,
	       coalesce(m.extra, '{}') || st.extra AS extra,
	       m.session_id AS stored_session_id, m.scanner_id AS stored_scanner_id,
	       m.scanner_agent_id AS stored_scanner_agent_id, m.status AS stored_status,
	       m.scanned_at AS stored_scanned_at, m.targets AS stored_targets,
	       m.succeeded_targets AS stored_succeeded_targets, m.general_error AS stored_general_error,
	       m.extra AS stored_extra
	  FROM staged st
	  -- The stored session: by its id, else by definition and time when
	  -- one of the two has no id (a latestScan, or a history without
	  -- ids).
	  LEFT JOIN LATERAL (SELECT r.* FROM defender_storage.session_result r
	                      WHERE r.tenant_id = $1
	                        AND ((st.session_id IS NOT NULL AND r.session_id = st.session_id)
	                          OR (r.definition_id = st.definition_id AND r.scanned_at = st.scanned_at
	                              AND (r.session_id IS NULL OR st.session_id IS NULL)))
	                      ORDER BY r.session_id IS NOT DISTINCT FROM st.session_id DESC, r.session_key
	                      LIMIT 1) m ON true
	  LEFT JOIN defender_storage.definition_state d ON d.tenant_id = $1 AND d.definition_id = st.definition_id
)
SELECT m.seq, m.targets_reported, m.fingerprint, m.session_key, m.definition_id, m.session_id, m.scanner_id, m.scanner_agent_id,
       m.status, m.scanned_at, m.targets, m.succeeded_targets, m.general_error, m.extra,
       m.session_key IS NOT NULL
       AND (m.session_id, m.scanner_id, m.scanner_agent_id, m.status, m.scanned_at, m.targets,
            m.succeeded_targets, m.general_error, m.extra, 'history'::text)
           IS DISTINCT FROM
           (m.stored_session_id, m.stored_scanner_id, m.stored_scanner_agent_id, m.stored_status, m.stored_scanned_at,
            m.stored_targets, m.stored_succeeded_targets, m.stored_general_error, m.stored_extra, m.stored_source) AS changed,
       false AS inserted
  FROM merged m
