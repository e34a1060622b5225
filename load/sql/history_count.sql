-- Counts the sessions of a reading: staged, new, and known ones changed.
-- No parameters.
SELECT count(*), count(*) FILTER (WHERE session_key IS NULL), count(*) FILTER (WHERE changed)
  FROM pg_temp.agentsync_work_sessions_diff
