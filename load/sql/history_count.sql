-- Counts the sessions of a reading: those the history by definition
-- listed (they carry its fingerprint), the new ones and the known ones
-- changed among them, and those the reading by session returned (the
-- records after $1).
-- $1 the last seq of the reading by definition.
SELECT count(*) FILTER (WHERE fingerprint IS NOT NULL),
       count(*) FILTER (WHERE fingerprint IS NOT NULL AND session_key IS NULL),
       count(*) FILTER (WHERE fingerprint IS NOT NULL AND changed),
       count(*) FILTER (WHERE seq > $1)
  FROM pg_temp.agentsync_work_sessions_diff
