-- Stores the targets of the sessions of agentsync_work_sessions_diff_ready,
-- each naming its target in scan_target (history_add_targets added those
-- the tenant had not had), found by its fingerprint (the fence keeps the
-- planner from reading every tenant's targets to find a session's). A
-- target without one stores a null, which the table refuses: a target is
-- never left out.
-- $1 tenant id.
INSERT INTO defender_storage.session_target (session_key, ordinal, target_no, status, error_message, duration, extra)
SELECT r.session_key, t.ordinal, g.target_no, t.target_status, t.error_message, t.duration,
       coalesce(t.target_extra, '{}')
  FROM pg_temp.agentsync_work_sessions_diff_ready r
  JOIN pg_temp.agentsync_work_sessions t ON t.seq = r.seq AND t.ordinal >= 0
  JOIN defender_storage.tenants n ON n.tenant_id = $1
  LEFT JOIN LATERAL (SELECT g1.target_no FROM defender_storage.scan_target g1
                      WHERE g1.tenant_no = n.tenant_no
                        AND g1.fingerprint = defender_storage.target_fingerprint(t.ip, t.hostname, t.description)
                     OFFSET 0) g ON true
