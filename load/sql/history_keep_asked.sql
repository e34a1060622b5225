-- Keeps, of a reading by id (the records after $2), only the sessions
-- asked for: an answer never adds a session.
-- $1 the session ids asked for (text[]), $2 the last seq of the reading
-- by definition.
DELETE FROM pg_temp.agentsync_work_sessions
 WHERE seq IN (SELECT seq FROM pg_temp.agentsync_work_sessions
                WHERE seq > $2 AND ordinal = -1 AND (session_id IS NULL OR NOT session_id = ANY ($1)))
