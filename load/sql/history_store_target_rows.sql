-- Stores the targets of the sessions of agentsync_work_sessions_diff_ready in
-- a database before schema 39, whose target_result holds them whole.
-- No parameters.
INSERT INTO defender_storage.target_result (session_key, ordinal, ip, hostname, description, status, error_message, duration, extra)
SELECT r.session_key, t.ordinal, t.ip, t.hostname, t.description, t.target_status, t.error_message, t.duration,
       coalesce(t.target_extra, '{}')
  FROM pg_temp.agentsync_work_sessions_diff_ready r
  JOIN pg_temp.agentsync_work_sessions t ON t.seq = r.seq AND t.ordinal >= 0
